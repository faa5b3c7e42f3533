//! The query path: resolve both ends (Pod, Node or plain address, exactly as the oracle's
//! `resolve` does for Pod and address endpoints), then decide egress at the source and ingress
//! at the destination with word-wide ANDs over the ranked Antrea rules, the Kubernetes
//! NetworkPolicy lists of the local identity, and exact checks for *verify* rules.
//!
//! ```text
//!  candidates = summary(A[local]) & summary(T) & (summary(P_pod) | summary(P_ip) | summary(P_node))
//!  first = next_match(0)   lowest rank with A & T & (P_pod | P_ip | P_node) set (verified if needed)
//!    first < stage1, not Pass ─> that rule decides
//!    first < stage1, Pass     ─> K8s NPs, then next_match(stage1) (the baseline)
//!    otherwise                ─> K8s NPs, then `first` is already the baseline's match
//! ```
//!
//! One scan thus serves the tiers and the baseline unless a Pass rule hands the flow on. The
//! scan is specialised on the remote end's peer rows (a Pod: `P_pod`, `P_ip`; a plain address:
//! `P_ip`; anything on a Node address: all three), and both directions of a Pod end are
//! inlined into `decide`. Kubernetes NP rules are checked from compact per-rule records
//! (`K8sCheck`: one peer term by membership or address, or the general check).
//! `flow.rs` holds the resolved ends of a flow, `scan.rs` the bit-row scans, `exact.rs` the exact
//! checks of single rules.

mod exact;
mod flow;
mod scan;

use flow::{End, TKey};
use scan::Scan;

use super::terms::{ip_key, sorted_contains};
use super::{
    Classifier, DirIndex, DirectionDecision, EGRESS, Endpoint, FastDecision, FastPod, FastVerdict,
    INGRESS, K8sPeer, NONE, NotCovered, PodEntry, RuleId, proto_index,
};
use crate::compile::Action;
use crate::evaluate::{Outcome, ProbeTransport};
use crate::matching::{PeerMatch, Transport};
use std::net::IpAddr;

/// The endpoint a direction is enforced for.
#[derive(Debug, Clone, Copy)]
enum LocalRef {
    Pod { pod: u32, ident: u32 },
    Node(u32),
}

impl Classifier {
    fn pod_entry(&self, i: u32) -> Option<&PodEntry> {
        self.pods.get(i as usize).and_then(Option::as_ref)
    }

    fn end(&self, ip: IpAddr, pod: u32, node: u32) -> End {
        let (v6, key) = ip_key(ip);
        let ipc = match ip {
            IpAddr::V4(a) => self.ip4.class_of_v4(u32::from(a)),
            IpAddr::V6(_) => self.ip6.class_of(key),
        } as u32;
        let ident = if pod == NONE {
            NONE
        } else {
            self.pod_fast.get(pod as usize).map_or(NONE, |p| p.ident)
        };
        End {
            key,
            pod,
            ident,
            node,
            v6,
            ipc,
        }
    }

    fn by_ip(&self, ip: IpAddr) -> (u32, u32) {
        (
            self.pod_by_ip.get(&ip).copied().unwrap_or(NONE),
            self.node_by_ip.get(&ip).copied().unwrap_or(NONE),
        )
    }

    /// Why Pod `id` is no flow end (gone, or without an address).
    #[cold]
    fn pod_not_covered(&self, id: u32) -> NotCovered {
        match self.pod_entry(id) {
            Some(p) => NotCovered::NoAddress(format!("{}/{}", p.info.namespace, p.info.name)),
            None => NotCovered::UnknownPod,
        }
    }

    /// A Pod end from the compact per-Pod entry (`None`: gone or without an address).
    /// `as_source`: a non-hostNetwork source also counts as the Node owning its address (the
    /// oracle's `Source::Pod`), a destination not.
    #[inline(always)]
    fn pod_end(&self, id: u32, as_source: bool) -> Option<End> {
        let f: &FastPod = self.pod_fast.get(id as usize)?;
        if !(f.live && f.has_ip) {
            return None;
        }
        let pod_side = !f.host;
        Some(End {
            key: f.key,
            pod: if pod_side { id } else { NONE },
            ident: if pod_side { f.ident } else { NONE },
            node: if !pod_side || as_source { f.node } else { NONE },
            v6: f.v6,
            ipc: f.ipc,
        })
    }

    #[inline(always)]
    fn resolve_src(&self, src: Endpoint) -> Result<End, NotCovered> {
        match src {
            Endpoint::Pod(id) => self
                .pod_end(id.0, true)
                .ok_or_else(|| self.pod_not_covered(id.0)),
            Endpoint::Ip(ip) => Ok(self.ip_end(ip)),
        }
    }

    #[inline(never)]
    fn ip_end(&self, ip: IpAddr) -> End {
        let (pod, node) = self.by_ip(ip);
        self.end(ip, pod, node)
    }

    #[inline(always)]
    fn resolve_dst(&self, dst: Endpoint, transport: &ProbeTransport) -> Result<End, NotCovered> {
        match dst {
            Endpoint::Pod(id) => self
                .pod_end(id.0, false)
                .ok_or_else(|| self.pod_not_covered(id.0)),
            Endpoint::Ip(ip) => self.ip_dst(ip, transport),
        }
    }

    #[inline(never)]
    fn ip_dst(&self, ip: IpAddr, transport: &ProbeTransport) -> Result<End, NotCovered> {
        if self.cluster_ips.contains_key(&ip) {
            return Err(NotCovered::ServiceAddress(ip));
        }
        let (pod, node) = self.by_ip(ip);
        if let (ProbeTransport::L4 { protocol, port, .. }, true) = (transport, node != NONE)
            && self.node_ports.contains_key(&(*protocol, *port))
        {
            return Err(NotCovered::NodePort(ip, *port));
        }
        Ok(self.end(ip, pod, node))
    }

    #[inline(always)]
    fn tkey(&self, transport: ProbeTransport) -> TKey {
        match transport {
            ProbeTransport::L4 {
                protocol,
                port,
                src_port,
            } => {
                let p = proto_index(protocol);
                let class = self.port_parts[p].class_of_small(port);
                TKey {
                    transport: Transport::L4 {
                        protocol,
                        src_port,
                        dst_port: port,
                    },
                    l4: Some((p, class)),
                }
            }
            ProbeTransport::Icmp {
                icmp_type,
                icmp_code,
            } => TKey {
                transport: Transport::Icmp {
                    icmp_type,
                    icmp_code,
                },
                l4: None,
            },
        }
    }

    /// Decides a flow on the fast path. `Err` when the flow needs the oracle (Service DNAT).
    pub fn decide(
        &self,
        src: Endpoint,
        dst: Endpoint,
        transport: ProbeTransport,
    ) -> Result<FastVerdict, NotCovered> {
        let s = self.resolve_src(src)?;
        let d = self.resolve_dst(dst, &transport)?;
        let tk = self.tkey(transport);
        let not_enforced = (
            DirectionDecision {
                decision: FastDecision::NotEnforced,
                passed: None,
            },
            Outcome::Connected,
        );
        let same = s.key == d.key && s.v6 == d.v6;
        let egress = if same {
            not_enforced
        } else if s.pod != NONE {
            self.direction(
                EGRESS,
                LocalRef::Pod {
                    pod: s.pod,
                    ident: s.ident,
                },
                &d,
                &tk,
            )
        } else if s.node != NONE {
            self.node_direction(EGRESS, s.node, &d, &tk)
        } else {
            not_enforced
        };
        let ingress = if same {
            not_enforced
        } else if d.pod != NONE {
            if s.pod == NONE && s.node != NONE && self.node_hosts_pod(s.node, d.pod) {
                not_enforced
            } else {
                self.direction(
                    INGRESS,
                    LocalRef::Pod {
                        pod: d.pod,
                        ident: d.ident,
                    },
                    &s,
                    &tk,
                )
            }
        } else if d.node != NONE {
            self.node_direction(INGRESS, d.node, &s, &tk)
        } else {
            not_enforced
        };
        let outcome = match egress.1 {
            Outcome::Connected => ingress.1,
            denied => denied,
        };
        Ok(FastVerdict {
            outcome,
            egress: egress.0,
            ingress: ingress.0,
        })
    }

    /// Whether Node entry `node` is the Node of Pod `pod` (Node-to-own-Pod traffic is exempt).
    #[cold]
    fn node_hosts_pod(&self, node: u32, pod: u32) -> bool {
        match (
            self.nodes.get(node as usize).and_then(Option::as_ref),
            self.pod_entry(pod),
        ) {
            (Some(n), Some(p)) => n.info.name == p.info.node,
            _ => false,
        }
    }

    /// Decides a batch of flows into `out` (same order), reusing its allocation. (Touching
    /// each flow's rows ahead of the scans, to overlap their cache misses, measured slower than
    /// scanning directly on this workload, so the batch is a plain loop.)
    pub fn decide_batch(
        &self,
        flows: &[(Endpoint, Endpoint, ProbeTransport)],
        out: &mut Vec<Result<FastVerdict, NotCovered>>,
    ) {
        out.clear();
        out.extend(flows.iter().map(|&(s, d, t)| self.decide(s, d, t)));
    }

    /// `direction` for a Node as the local end (rarer: kept out of `decide`'s body).
    #[inline(never)]
    fn node_direction(
        &self,
        dir: usize,
        node: u32,
        remote: &End,
        tk: &TKey,
    ) -> (DirectionDecision, Outcome) {
        self.direction(dir, LocalRef::Node(node), remote, tk)
    }

    /// Decides one direction for its local end: the decision and the outcome it implies. The
    /// remote end's peer rows are its identity's, its address class's and its Node's; the scan
    /// is specialised on how many of them exist (a Pod: identity and address class; a plain
    /// address: its class; anything with a Node: all three).
    #[inline(always)]
    fn direction(
        &self,
        dir: usize,
        local: LocalRef,
        remote: &End,
        tk: &TKey,
    ) -> (DirectionDecision, Outcome) {
        let di = &self.dirs[dir];
        let (a, local_pod) = match local {
            LocalRef::Pod { pod, ident } => (di.arow.head(ident as usize), pod),
            LocalRef::Node(n) => (di.anode.head(n as usize), NONE),
        };
        let t = match tk.l4 {
            Some((p, class)) => di.ports.get(p).map_or((&[][..], 0), |r| r.head(class)),
            None => (di.icmp.as_slice(), !0),
        };
        let ip_rows = if remote.v6 { &di.ip6 } else { &di.ip4 };
        let p_ip = ip_rows.head(remote.ipc as usize);
        if remote.node == NONE {
            if remote.ident == NONE {
                let scan = Scan::new(di, a, t, [p_ip]);
                self.decide_direction(di, dir, local, local_pod, remote, tk, scan.as_ref())
            } else {
                let p_pod = di.prow.head(remote.ident as usize);
                let scan = Scan::new(di, a, t, [p_pod, p_ip]);
                self.decide_direction(di, dir, local, local_pod, remote, tk, scan.as_ref())
            }
        } else {
            let p_pod = if remote.ident == NONE {
                (di.zero.as_slice(), 0)
            } else {
                di.prow.head(remote.ident as usize)
            };
            let p_node = di.pnode.head(remote.node as usize);
            let scan = Scan::new(di, a, t, [p_pod, p_ip, p_node]);
            self.decide_direction(di, dir, local, local_pod, remote, tk, scan.as_ref())
        }
    }

    /// The decision of one direction given its scan (`None`: no rank can match).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn decide_direction<const N: usize>(
        &self,
        di: &DirIndex,
        dir: usize,
        local: LocalRef,
        local_pod: u32,
        remote: &End,
        tk: &TKey,
        scan: Option<&Scan<'_, N>>,
    ) -> (DirectionDecision, Outcome) {
        // The lowest matching rank `>= from`.
        let next = |from: usize| {
            scan?.next_match(from, |rank| {
                self.verify_rank(di, dir, rank, local_pod, remote, tk)
            })
        };
        let first = next(0);
        let mut passed = None;
        if let Some(rank) = first
            && rank < di.stage1
        {
            let rule = RuleId(di.order.get(rank).copied().unwrap_or(NONE));
            match di.actions.get(rank).copied().unwrap_or(Action::Allow) {
                Action::Pass => passed = Some(rule),
                action => {
                    return (
                        DirectionDecision {
                            decision: FastDecision::Rule(rule),
                            passed: None,
                        },
                        outcome_of(action),
                    );
                }
            }
        }
        if let LocalRef::Pod { pod, ident } = local
            && self
                .ident_k8s
                .get(ident as usize)
                .is_some_and(|f| f >> dir & 1 == 1)
            && let Some(decision) = self.k8s_decision(dir, pod, ident, remote, tk)
        {
            return (
                DirectionDecision { decision, passed },
                if decision == FastDecision::K8sIsolation {
                    Outcome::Dropped
                } else {
                    Outcome::Connected
                },
            );
        }
        // The first match from the baseline on: `first` unless a Pass rule came before it.
        let baseline = if passed.is_some() {
            next(di.stage1)
        } else {
            first
        };
        match baseline {
            Some(rank) => (
                DirectionDecision {
                    decision: FastDecision::Rule(RuleId(
                        di.order.get(rank).copied().unwrap_or(NONE),
                    )),
                    passed,
                },
                outcome_of(di.actions.get(rank).copied().unwrap_or(Action::Allow)),
            ),
            None => (
                DirectionDecision {
                    decision: FastDecision::Default,
                    passed,
                },
                Outcome::Connected,
            ),
        }
    }

    /// The Kubernetes NetworkPolicy decision for a local identity they isolate or have rules
    /// for: the first allowing rule, else isolation if isolated (`None`: not isolated).
    #[inline(never)]
    fn k8s_decision(
        &self,
        dir: usize,
        pod: u32,
        ident: u32,
        remote: &End,
        tk: &TKey,
    ) -> Option<FastDecision> {
        let id = self.idents.get(ident as usize).and_then(Option::as_ref)?;
        for &r in &id.k8s_rules[dir] {
            let check = self.k8s_checks.get(r as usize).copied().unwrap_or_default();
            let how = match check.peer {
                K8sPeer::Any => Some(if remote.pod != NONE {
                    PeerMatch::PodMember
                } else {
                    PeerMatch::Address
                }),
                K8sPeer::Member(t) => (remote.ident != NONE
                    && self
                        .term(t)
                        .is_some_and(|x| sorted_contains(&x.members, remote.ident)))
                .then_some(PeerMatch::PodMember),
                K8sPeer::Address(t) => self
                    .term(t)
                    .is_some_and(|x| x.contains_key(remote.v6, remote.key))
                    .then_some(PeerMatch::Address),
                K8sPeer::General => {
                    if self
                        .rules
                        .get(r as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|rule| self.rule_exact(rule, dir, pod, remote, tk))
                    {
                        return Some(FastDecision::K8sAllow(RuleId(r)));
                    }
                    continue;
                }
            };
            let Some(how) = how else { continue };
            if check.ports_any
                || self
                    .rules
                    .get(r as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|rule| self.ports_exact(rule, dir, how, pod, remote, tk))
            {
                return Some(FastDecision::K8sAllow(RuleId(r)));
            }
        }
        id.isolated[dir].then_some(FastDecision::K8sIsolation)
    }
}

/// The outcome a deciding rule's action implies.
#[inline]
fn outcome_of(action: Action) -> Outcome {
    match action {
        Action::Drop => Outcome::Dropped,
        Action::Reject => Outcome::Rejected,
        Action::Allow | Action::Pass => Outcome::Connected,
    }
}
