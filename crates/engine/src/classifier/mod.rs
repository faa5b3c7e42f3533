//! `Classifier`: the fast verdict path. It materialises everything the linear `Evaluator` (the
//! oracle) computes per query — selector membership, the ordered rules that apply to each
//! endpoint, peer membership by Pod and by address, port matching — so that deciding a flow is
//! a handful of word-wide ANDs instead of a scan over every rule.
//!
//! ```text
//!  Pods ──(ns, labels, serviceAccount)──> identities ──inverted label index──> term members
//!  terms (interned appliedTo / peer entries) ──> rules (Antrea: ranked bits; K8s NP: lists)
//!
//!  decide(src, dst, transport), per direction (egress at src, ingress at dst):
//!    A[local identity]  (applied Antrea rules, ranked in (tier, priority, index) order)
//!  & T[port class]      (rules whose ports match)
//!  & (P[remote identity] | P[address class] | P[remote Node])   (rules whose peers match)
//!    ── lowest bit < baseline: Allow/Drop/Reject decide; Pass ─> Kubernetes NetworkPolicies
//!    ── K8s NP lists of the local identity: allow rule, else isolation
//!    ── lowest bit ≥ baseline decides; nothing ⇒ allowed
//! ```
//!
//! Rules whose match cannot be expressed exactly in bits (named ports, source ports, ICMP
//! type/code, `namespaces: {match: Self}` / `sameLabels` peers) are over-approximated in the bits
//! and marked *verify*: a candidate bit of such a rule is confirmed by an exact check.
//!
//! Coverage: flows between Pods, Nodes and plain addresses, L4 or ICMP, exactly as
//! `Evaluator::probe` decides them for `Source::Pod`/`Source::Ip` and `Target::Pod`/`Target::Ip`.
//! A destination that the oracle would DNAT (a Service ClusterIP, a NodePort on a Node address)
//! is `NotCovered`: Services stay on the oracle path, as do FQDN *targets* (FQDN *peers* are
//! covered through the addresses they resolve to).
//!
//! The classifier is kept in step with an `Engine` by calling `update` (or the `apply_*` /
//! `remove_*` methods) after each accepted change; each touches only what the change affects.

mod bits;
mod fx;
mod lookup;
mod partition;
mod state;
mod terms;
pub mod workload;

use crate::cluster::{L4Protocol, NodeInfo, PodInfo, ServiceInfo};
use crate::compile::{Action, Direction, PortSet};
use crate::evaluate::{Outcome, RuleHit};
use bits::Rows;
use fx::FxMap;
use partition::Partition;
use std::net::IpAddr;
pub(crate) use terms::{IpRange, Use};
use tierwall_model::ObjectKey;
use tierwall_model::meta::StringMap;

/// A Pod known to the classifier (stable while the Pod exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodId(u32);

/// A compiled rule known to the classifier; `Classifier::rule_hit` explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(u32);

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Pod(PodId),
    Ip(IpAddr),
}

/// What decided one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastDecision {
    /// Not evaluated (outside the cluster, same address, Node to its own Pod).
    NotEnforced,
    /// An Antrea-native rule (any tier, baseline included).
    Rule(RuleId),
    /// A Kubernetes NetworkPolicy rule allowed the flow.
    K8sAllow(RuleId),
    /// Isolated by Kubernetes NetworkPolicies, no rule allowed it.
    K8sIsolation,
    /// No rule applied.
    Default,
}

/// The decision of one direction plus the Pass rule that handed it on, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectionDecision {
    pub decision: FastDecision,
    pub passed: Option<RuleId>,
}

/// The verdict of the fast path: outcome and the deciding rule of each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastVerdict {
    pub outcome: Outcome,
    pub egress: DirectionDecision,
    pub ingress: DirectionDecision,
}

/// Why a flow is left to the oracle path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCovered {
    #[error("unknown Pod id")]
    UnknownPod,
    #[error("Pod {0} has no address")]
    NoAddress(String),
    #[error("{0} is a Service ClusterIP: Service DNAT is decided by the oracle path")]
    ServiceAddress(IpAddr),
    #[error("{0}:{1} is a NodePort on a Node address: NodePort DNAT is decided by the oracle path")]
    NodePort(IpAddr, u16),
}

/// Index of a direction in per-direction arrays.
pub(crate) const INGRESS: usize = 0;
pub(crate) const EGRESS: usize = 1;

pub(crate) fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Ingress => INGRESS,
        Direction::Egress => EGRESS,
    }
}

pub(crate) fn proto_index(p: L4Protocol) -> usize {
    match p {
        L4Protocol::Tcp => 0,
        L4Protocol::Udp => 1,
        L4Protocol::Sctp => 2,
    }
}

/// "None" for `u32` ids.
pub(crate) const NONE: u32 = u32::MAX;

/// A Namespace (possibly only referenced by Pods: then `labels` is `None`).
#[derive(Debug, Clone)]
pub(crate) struct NsEntry {
    pub(crate) name: String,
    pub(crate) labels: Option<StringMap>,
    /// Identities in this namespace (sorted).
    pub(crate) idents: Vec<u32>,
}

/// Pods sharing namespace, labels and service account: they are selected by the same terms.
#[derive(Debug, Clone)]
pub(crate) struct Ident {
    pub(crate) ns: u32,
    /// A representative Pod (namespace, labels, service account are the identity's).
    pub(crate) rep: PodInfo,
    pub(crate) pods: Vec<u32>,
    /// Pods per Node name id (sorted by node id).
    pub(crate) node_counts: Vec<(u32, u32)>,
    /// Terms whose Pod members include this identity (sorted).
    pub(crate) terms: Vec<u32>,
    /// Kubernetes NetworkPolicies that apply, sorted by policy key.
    pub(crate) k8s: Vec<u32>,
    /// Per direction: rules of the isolating ones among them, in order; isolated or not.
    pub(crate) k8s_rules: [Vec<u32>; 2],
    pub(crate) isolated: [bool; 2],
}

#[derive(Debug, Clone)]
pub(crate) struct PodEntry {
    pub(crate) info: PodInfo,
    /// Identity (`NONE` for hostNetwork Pods, which act as their Node).
    pub(crate) ident: u32,
    pub(crate) node_name: u32,
    /// The Node object owning the Pod's address (`NONE` normally).
    pub(crate) node_at_ip: u32,
}

/// The per-Pod data the query path reads, kept compact (one cache line holds two).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastPod {
    /// The address as `terms::ip_key` keys it (`v6`, `key`); meaningful with `has_ip`.
    pub(crate) key: u128,
    pub(crate) ident: u32,
    /// Non-hostNetwork Pod: the Node entry owning its address (normally `NONE`);
    /// hostNetwork Pod: its Node's entry.
    pub(crate) node: u32,
    /// Address class of the address.
    pub(crate) ipc: u32,
    pub(crate) live: bool,
    pub(crate) has_ip: bool,
    pub(crate) host: bool,
    pub(crate) v6: bool,
}

impl FastPod {
    pub(crate) const DEAD: FastPod = FastPod {
        key: 0,
        ident: NONE,
        node: NONE,
        ipc: 0,
        live: false,
        has_ip: false,
        host: false,
        v6: false,
    };
}

#[derive(Debug, Clone)]
pub(crate) struct NodeEntry {
    pub(crate) info: NodeInfo,
    pub(crate) terms: Vec<u32>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleEntry {
    pub(crate) policy: u32,
    pub(crate) dir: usize,
    pub(crate) action: Action,
    pub(crate) k8s: bool,
    /// A Pass rule in the baseline tier: never matches.
    pub(crate) inert: bool,
    pub(crate) applied: Vec<u32>,
    pub(crate) peer_any: bool,
    pub(crate) peers: Vec<u32>,
    pub(crate) ports: PortSet,
    /// Needs an exact check after a bit match.
    pub(crate) verify: bool,
    /// A peer depends on the Pod the rule applies to (`match: Self`, `sameLabels`): the peer
    /// bits over-approximate, the exact check re-evaluates the peers (otherwise only the ports).
    pub(crate) ldep: bool,
    /// Rank in its direction (Antrea rules).
    pub(crate) rank: u32,
    pub(crate) hit: RuleHit,
}

/// How a Kubernetes NetworkPolicy rule's peers are checked on the query path, without reading
/// the rule's entry (`Classifier::k8s_checks`, dense by rule id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum K8sPeer {
    /// Several peer terms, or a kind the fast check does not cover: `rule_exact`.
    #[default]
    General,
    /// Any peer.
    Any,
    /// One term matched by identity membership.
    Member(u32),
    /// One term matched by address.
    Address(u32),
}

/// The query path's view of a Kubernetes NetworkPolicy rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct K8sCheck {
    pub(crate) peer: K8sPeer,
    /// The rule matches every port.
    pub(crate) ports_any: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct PolicyEntry {
    pub(crate) key: ObjectKey,
    pub(crate) k8s: bool,
    pub(crate) rules: Vec<u32>,
    /// Distinct terms of the policy's appliedTo union.
    pub(crate) applied_terms: Vec<u32>,
    /// Node-selector appliedTo terms (span).
    pub(crate) node_terms: Vec<u32>,
    /// Antrea NetworkPolicy: namespaced Group appliedTo terms (realizability).
    pub(crate) group_terms: Vec<u32>,
    pub(crate) realizable: bool,
    /// Pods per Node name id of the identities the policy applies to (sorted by node id).
    pub(crate) span: Vec<(u32, u32)>,
    pub(crate) isolates: [bool; 2],
    pub(crate) k8s_rules: [Vec<u32>; 2],
}

/// Ranked Antrea rules of one direction and every bit row over them.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirIndex {
    /// Rank → rule id.
    pub(crate) order: Vec<u32>,
    /// Rank → the rule's action (read by the query path instead of the rule entry).
    pub(crate) actions: Vec<Action>,
    /// Ranks below this are tiers before Kubernetes NetworkPolicies; the rest is baseline.
    pub(crate) stage1: usize,
    pub(crate) words: usize,
    /// log2 of the `CHUNK`-word chunks per summary block of the rows.
    pub(crate) chunk_shift: u32,
    /// Applied rows by identity and by Node entry.
    pub(crate) arow: Rows,
    pub(crate) anode: Rows,
    /// Peer rows by identity, by Node entry, by address class, by port class.
    pub(crate) prow: Rows,
    pub(crate) pnode: Rows,
    pub(crate) ip4: Rows,
    pub(crate) ip6: Rows,
    pub(crate) ports: [Rows; 3],
    pub(crate) icmp: Vec<u64>,
    pub(crate) verify: Vec<u64>,
    /// Rules whose peers are `any` (initial peer row of new identities and Nodes).
    pub(crate) any: Vec<u64>,
    pub(crate) zero: Vec<u64>,
}

/// Name interner (Node names of Pods, for spans).
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    pub(crate) names: Vec<String>,
    pub(crate) ids: FxMap<String, u32>,
}

impl Names {
    pub(crate) fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

/// The fast verdict classifier of one cluster. See the module documentation.
#[derive(Debug, Clone)]
pub struct Classifier {
    pub(crate) namespaces: Vec<NsEntry>,
    pub(crate) ns_by_name: FxMap<String, u32>,
    pub(crate) ns_postings: terms::Postings,

    pub(crate) idents: Vec<Option<Ident>>,
    pub(crate) ident_free: Vec<u32>,
    /// Per identity, bit `1 << dir`: Kubernetes NetworkPolicies isolate it or have rules for it
    /// in that direction (the query path reads the identity's lists only then).
    pub(crate) ident_k8s: Vec<u8>,
    /// Identities by hash of (namespace, labels, service account).
    pub(crate) ident_by_key: FxMap<u64, Vec<u32>>,
    pub(crate) ident_postings: terms::Postings,

    pub(crate) pods: Vec<Option<PodEntry>>,
    pub(crate) pod_fast: Vec<FastPod>,
    pub(crate) pod_free: Vec<u32>,
    pub(crate) pod_by_name: FxMap<(String, String), u32>,
    pub(crate) pod_by_ip: FxMap<IpAddr, u32>,

    pub(crate) nodes: Vec<Option<NodeEntry>>,
    pub(crate) node_free: Vec<u32>,
    pub(crate) node_by_name: FxMap<String, u32>,
    pub(crate) node_by_ip: FxMap<IpAddr, u32>,
    pub(crate) node_names: Names,

    pub(crate) services: FxMap<(String, String), ServiceInfo>,
    pub(crate) cluster_ips: FxMap<IpAddr, u32>,
    pub(crate) node_ports: FxMap<(L4Protocol, u16), u32>,

    pub(crate) terms: Vec<Option<terms::Term>>,
    pub(crate) term_free: Vec<u32>,
    pub(crate) term_by_key: FxMap<String, u32>,
    pub(crate) anchors: terms::Anchors,

    pub(crate) policies: Vec<Option<PolicyEntry>>,
    pub(crate) policy_free: Vec<u32>,
    pub(crate) policy_by_key: FxMap<ObjectKey, u32>,
    pub(crate) rules: Vec<Option<RuleEntry>>,
    pub(crate) rule_free: Vec<u32>,
    /// Per rule id, the compact check of a Kubernetes NetworkPolicy rule (meaningful for those
    /// only; written when the rule is created, rules never change).
    pub(crate) k8s_checks: Vec<K8sCheck>,

    pub(crate) dirs: [DirIndex; 2],
    pub(crate) ip4: Partition,
    pub(crate) ip6: Partition,
    pub(crate) port_parts: [Partition; 3],
}

/// Size counters, for benchmarks and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub pods: usize,
    pub identities: usize,
    pub namespaces: usize,
    pub nodes: usize,
    pub terms: usize,
    pub policies: usize,
    pub antrea_rules: [usize; 2],
    pub k8s_rules: usize,
    pub address_classes: usize,
    pub port_classes: usize,
    /// Bytes of the dense bit rows (both directions).
    pub row_bytes: usize,
}

impl Classifier {
    /// The id of a Pod (`None` if unknown).
    pub fn pod_id(&self, namespace: &str, name: &str) -> Option<PodId> {
        self.pod_by_name
            .get(&(namespace.to_string(), name.to_string()))
            .map(|&i| PodId(i))
    }

    /// Ids of all known Pods, ordered by (namespace, name).
    pub fn pod_ids(&self) -> Vec<PodId> {
        let mut v: Vec<(&str, &str, u32)> = self
            .pods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.as_ref()
                    .map(|p| (p.info.namespace.as_str(), p.info.name.as_str(), i as u32))
            })
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, _, i)| PodId(i)).collect()
    }

    /// Namespace and name of a Pod.
    pub fn pod_name(&self, id: PodId) -> Option<(&str, &str)> {
        self.pods
            .get(id.0 as usize)?
            .as_ref()
            .map(|p| (p.info.namespace.as_str(), p.info.name.as_str()))
    }

    /// The rule behind a `RuleId`, as the oracle's verdicts name it (tier, policy, rule, action).
    pub fn rule_hit(&self, id: RuleId) -> Option<&RuleHit> {
        self.rules.get(id.0 as usize)?.as_ref().map(|r| &r.hit)
    }

    /// The Kubernetes NetworkPolicies isolating a Pod in a direction, ordered by key (what an
    /// `K8sIsolation` decision is explained with).
    pub fn isolating_policies(
        &self,
        pod: PodId,
        direction: Direction,
    ) -> Vec<crate::evaluate::PolicyRef> {
        let d = dir_index(direction);
        let Some(ident) = self
            .pods
            .get(pod.0 as usize)
            .and_then(Option::as_ref)
            .map(|p| p.ident)
        else {
            return vec![];
        };
        let Some(ident) = self.idents.get(ident as usize).and_then(Option::as_ref) else {
            return vec![];
        };
        ident
            .k8s
            .iter()
            .filter_map(|&p| self.policies.get(p as usize).and_then(Option::as_ref))
            .filter(|p| p.isolates[d])
            .map(|p| crate::evaluate::PolicyRef::from_key(&p.key))
            .collect()
    }

    /// Nodes hosting Pods the policy applies to, plus Nodes its Node appliedTo selects (as
    /// `status::policy_span` computes them), sorted by name.
    pub fn policy_span(&self, key: &ObjectKey) -> Option<Vec<String>> {
        let p = self
            .policies
            .get(*self.policy_by_key.get(key)? as usize)?
            .as_ref()?;
        let mut out: Vec<String> = if p.realizable {
            p.span
                .iter()
                .filter(|(_, c)| *c > 0)
                .map(|(n, _)| self.node_names.names[*n as usize].clone())
                .collect()
        } else {
            Vec::new()
        };
        for &t in &p.node_terms {
            if let Some(term) = self.terms.get(t as usize).and_then(Option::as_ref) {
                for &n in &term.nodes {
                    if let Some(node) = self.nodes.get(n as usize).and_then(Option::as_ref) {
                        out.push(node.info.name.clone());
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    /// Number of Nodes in the span of every policy, summed (a cheap checksum for benchmarks).
    pub fn total_span(&self) -> usize {
        self.policies
            .iter()
            .flatten()
            .filter(|p| p.realizable)
            .map(|p| p.span.iter().filter(|(_, c)| *c > 0).count())
            .sum()
    }

    /// Size counters.
    pub fn stats(&self) -> Stats {
        let row_bytes = self
            .dirs
            .iter()
            .map(|d| {
                let rows = d.arow.len()
                    + d.anode.len()
                    + d.prow.len()
                    + d.pnode.len()
                    + d.ip4.len()
                    + d.ip6.len()
                    + d.ports.iter().map(Rows::len).sum::<usize>()
                    + 5;
                rows * d.words * 8
            })
            .sum();
        Stats {
            pods: self.pods.iter().flatten().count(),
            identities: self.idents.iter().flatten().count(),
            namespaces: self.namespaces.len(),
            nodes: self.nodes.iter().flatten().count(),
            terms: self.terms.iter().flatten().count(),
            policies: self.policies.iter().flatten().count(),
            antrea_rules: [
                self.dirs[INGRESS].order.len(),
                self.dirs[EGRESS].order.len(),
            ],
            k8s_rules: self.rules.iter().flatten().filter(|r| r.k8s).count(),
            address_classes: self.ip4.len() + self.ip6.len(),
            port_classes: self.port_parts.iter().map(Partition::len).sum(),
            row_bytes,
        }
    }
}
