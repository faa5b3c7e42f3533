//! Per-Node rule sets: the seam between the controller (which knows the whole cluster) and the
//! agent of one Node (which programs nftables). A `NodeRuleSet` holds only addresses, ports and
//! actions — every selector, group, Service and named port already resolved — for the Pods on
//! that Node, in the evaluation order of the engine:
//!
//! ```text
//!  NodeRuleSet { node, local pods, ingress: DirectionRules, egress: DirectionRules }
//!  DirectionRules = antrea (tiers < 253, ordered) ─Pass─> k8s allow rules / isolated pods ─> baseline
//!  RuleEntry      = id, action, applied (local IPs | NodePorts), peers (any | IPs | CIDRs), ports
//! ```
//!
//! It is computed with the same `Resolver` the evaluator uses, so the engine and the dataplane
//! cannot disagree about membership. Output is deterministic (sorted sets).

pub use crate::cidr::subtract;
use crate::cluster::{Cluster, PodInfo, parse_cidr};
use crate::compile::{
    Action, AppliedTerm, CompiledPolicy, CompiledRule, Direction, GroupRef, NamespaceScope,
    PeerTerm, PortEntry, PortMatch,
};
use crate::evaluate::PolicyRef;
use crate::matching::{Local, PeerMatch, Remote, Resolver, fqdn_matches};
use crate::table::{BASELINE_TIER_PRIORITY, RuleSlot, RuleTable};
use ipnet::IpNet;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
pub use tierwall_node_api::decide::{NodeDecision, NodePacket};
pub use tierwall_node_api::rule_set::{
    DirectionRules, LocalPod, NodeRuleSet, PeerAddresses, PortRule, RuleEntry,
};

/// The annotation that turns on audit logging of Kubernetes NetworkPolicies in a namespace.
pub const K8S_LOGGING_ANNOTATION: &str = "networkpolicy.antrea.io/enable-logging";

/// Computes the rule set of `node` (for many Nodes of one state, use [`RuleSets`]).
pub fn node_rule_set(cluster: &Cluster, table: &RuleTable, node: &str) -> NodeRuleSet {
    RuleSets::direct(cluster, table).node(node)
}

/// Rule sets of every Node, by Node name.
pub fn all_node_rule_sets(cluster: &Cluster, table: &RuleTable) -> BTreeMap<String, NodeRuleSet> {
    let sets = RuleSets::new(cluster, table);
    cluster
        .nodes
        .keys()
        .map(|n| (n.clone(), sets.node(n)))
        .collect()
}

/// The addresses one peer term selects (for one applied namespace, when it depends on it).
#[derive(Debug, Default)]
struct TermAddresses {
    pods: Arc<BTreeSet<IpAddr>>,
    cidrs: Vec<IpNet>,
}

/// Addresses being collected for one term.
#[derive(Debug, Default)]
struct Collected {
    pods: BTreeSet<IpAddr>,
    cidrs: Vec<IpNet>,
}

/// The Pods one appliedTo list selects.
#[derive(Debug, Default)]
struct AppliedPods<'a> {
    /// By address, to test a local Pod.
    ids: HashSet<usize>,
    pods: Vec<&'a PodInfo>,
}

/// Positions in `RuleTable::ordered(direction)` of the rules that can have an entry on a Node:
/// those applied to one of its Pods, and those applied to Nodes or NodePorts (every Node).
#[derive(Debug, Default)]
struct SlotIndex<'a> {
    by_node: HashMap<&'a str, Vec<usize>>,
    everywhere: Vec<usize>,
}

/// Cache key of a term's addresses: the term (by address: the table is borrowed and does not
/// change), whether there is a local end at all, and the applied namespace when the term
/// depends on it.
type TermKey = (usize, bool, Option<String>);

/// The rule sets of many Nodes of one cluster state. What does not depend on the Node is
/// computed once and reused for every Node: the Pods of each Node, each peer term's addresses
/// (per applied namespace for `namespaces: Self` / `sameLabels` terms), whether an ANNP's
/// appliedTo group can be realized. Without it, every Node would resolve every rule's peers
/// over every Pod of the cluster again (Antrea's controller likewise computes an AddressGroup
/// once and sends it to each Node of its span).
pub struct RuleSets<'a> {
    cluster: &'a Cluster,
    table: &'a RuleTable,
    /// Whether rules are indexed by Node (`new`) or scanned by each Node (`direct`).
    indexed: bool,
    /// Pods with an address, not on the host network, by Node.
    pods_by_node: BTreeMap<&'a str, Vec<&'a PodInfo>>,
    /// Pods with an address, not on the host network, by namespace (the candidates of a peer
    /// term scoped to namespaces).
    pods_by_namespace: BTreeMap<&'a str, Vec<&'a PodInfo>>,
    terms: RefCell<HashMap<TermKey, Rc<TermAddresses>>>,
    /// Per appliedTo list (by content: many rules share one): the Pods it selects; and the
    /// same by the list's address, a cheaper key for the lists already seen.
    applied: RefCell<HashMap<Vec<AppliedTerm>, Rc<AppliedPods<'a>>>>,
    applied_at: RefCell<HashMap<usize, Rc<AppliedPods<'a>>>>,
    /// Per direction, the rules that can have an entry on each Node (built on first use).
    slots: RefCell<Option<Rc<[SlotIndex<'a>; 2]>>>,
    /// Per policy (by address): whether its appliedTo group is unsupported.
    unsupported: RefCell<HashMap<usize, bool>>,
}

impl std::fmt::Debug for RuleSets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSets")
            .field("nodes", &self.pods_by_node.len())
            .field("cached_terms", &self.terms.borrow().len())
            .finish_non_exhaustive()
    }
}

impl<'a> RuleSets<'a> {
    /// For many Nodes: rules indexed by Node (see [`SlotIndex`]).
    pub fn new(cluster: &'a Cluster, table: &'a RuleTable) -> Self {
        RuleSets {
            indexed: true,
            ..Self::direct(cluster, table)
        }
    }

    /// For one or a few Nodes: each Node scans every rule (indexing them costs about one scan).
    pub fn direct(cluster: &'a Cluster, table: &'a RuleTable) -> Self {
        let mut pods_by_node: BTreeMap<&'a str, Vec<&'a PodInfo>> = BTreeMap::new();
        let mut pods_by_namespace: BTreeMap<&'a str, Vec<&'a PodInfo>> = BTreeMap::new();
        for p in cluster
            .pods
            .values()
            .filter(|p| !p.host_network && p.ip.is_some())
        {
            pods_by_node.entry(p.node.as_str()).or_default().push(p);
            pods_by_namespace
                .entry(p.namespace.as_str())
                .or_default()
                .push(p);
        }
        RuleSets {
            cluster,
            table,
            indexed: false,
            pods_by_node,
            pods_by_namespace,
            terms: RefCell::new(HashMap::new()),
            applied: RefCell::new(HashMap::new()),
            applied_at: RefCell::new(HashMap::new()),
            slots: RefCell::new(None),
            unsupported: RefCell::new(HashMap::new()),
        }
    }

    fn unsupported(&self, policy: &CompiledPolicy) -> bool {
        let key = std::ptr::from_ref(policy) as usize;
        if let Some(u) = self.unsupported.borrow().get(&key) {
            return *u;
        }
        let u = crate::status::unsupported_applied_group(self.cluster, policy).is_some();
        self.unsupported.borrow_mut().insert(key, u);
        u
    }

    /// The Pods a `Pods` peer term can select seen from `applied_ns`: those of the namespaces
    /// its scope allows (every Pod when the scope needs the namespaces' labels compared).
    fn candidates(
        &self,
        scope: &crate::compile::NamespaceScope,
        applied_ns: Option<&str>,
    ) -> Vec<&'a PodInfo> {
        use crate::compile::NamespaceScope;
        let of = |ns: &str| {
            self.pods_by_namespace
                .get(ns)
                .into_iter()
                .flatten()
                .copied()
        };
        match scope {
            NamespaceScope::Named(ns) => of(ns).collect(),
            NamespaceScope::SameAsApplied => applied_ns.map(of).into_iter().flatten().collect(),
            NamespaceScope::Selector(sel) => self
                .cluster
                .namespaces
                .iter()
                .filter(|(_, labels)| sel.matches(labels))
                .flat_map(|(ns, _)| of(ns))
                .collect(),
            NamespaceScope::All | NamespaceScope::SameLabels(_) => {
                self.pods_by_namespace.values().flatten().copied().collect()
            }
        }
    }

    /// The Pods an appliedTo list selects, computed once per list.
    fn applied_pods(&self, terms: &[AppliedTerm]) -> Rc<AppliedPods<'a>> {
        let at = terms.as_ptr() as usize;
        if let Some(hit) = self.applied_at.borrow().get(&at) {
            return Rc::clone(hit);
        }
        if let Some(hit) = self.applied.borrow().get(terms) {
            self.applied_at.borrow_mut().insert(at, Rc::clone(hit));
            return Rc::clone(hit);
        }
        let resolver = Resolver::new(self.cluster);
        let mut out = AppliedPods::default();
        for term in terms {
            let candidates = match term {
                AppliedTerm::Pods { namespaces, .. } => self.candidates(namespaces, None),
                AppliedTerm::ServiceAccount { namespace, .. } => {
                    self.candidates(&NamespaceScope::Named(namespace.clone()), None)
                }
                AppliedTerm::Group(_) => self.candidates(&NamespaceScope::All, None),
                AppliedTerm::Service { .. } | AppliedTerm::Nodes(_) | AppliedTerm::Nothing => {
                    Vec::new()
                }
            };
            for pod in candidates {
                if resolver.applied_selects(term, Local::Pod(pod))
                    && out.ids.insert(std::ptr::from_ref(pod) as usize)
                {
                    out.pods.push(pod);
                }
            }
        }
        let out = Rc::new(out);
        self.applied
            .borrow_mut()
            .insert(terms.to_vec(), Rc::clone(&out));
        self.applied_at.borrow_mut().insert(at, Rc::clone(&out));
        out
    }

    /// The rule index of both directions (see [`SlotIndex`]).
    fn slots(&self) -> Rc<[SlotIndex<'a>; 2]> {
        if let Some(slots) = self.slots.borrow().as_ref() {
            return Rc::clone(slots);
        }
        let index = |direction: Direction| {
            let mut out = SlotIndex::default();
            for (i, slot) in self.table.ordered(direction).iter().enumerate() {
                let Some((policy, rule)) = self.table.rule(slot) else {
                    continue;
                };
                if self.unsupported(policy)
                    || (slot.tier_priority >= BASELINE_TIER_PRIORITY && rule.action == Action::Pass)
                {
                    continue;
                }
                if rule
                    .applied
                    .iter()
                    .any(|t| matches!(t, AppliedTerm::Service { .. } | AppliedTerm::Nodes(_)))
                {
                    out.everywhere.push(i);
                    continue;
                }
                for pod in &self.applied_pods(&rule.applied).pods {
                    let list = out.by_node.entry(pod.node.as_str()).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
            out
        };
        let slots = Rc::new([index(Direction::Ingress), index(Direction::Egress)]);
        *self.slots.borrow_mut() = Some(Rc::clone(&slots));
        slots
    }

    /// The rule set of `node`.
    pub fn node(&self, node: &str) -> NodeRuleSet {
        let (cluster, table) = (self.cluster, self.table);
        let k8s_logging_namespaces = &cluster.logging_namespaces;
        let builder = Builder {
            cluster,
            resolver: Resolver::new(cluster),
            node,
            sets: self,
        };
        let local_pods: Vec<&PodInfo> = self.pods_by_node.get(node).cloned().unwrap_or_default();
        let node_ips = cluster
            .nodes
            .get(node)
            .map(|n| n.ips.clone())
            .unwrap_or_default();
        let mut set = NodeRuleSet {
            node: node.to_string(),
            node_ips,
            pods: local_pods
                .iter()
                .filter_map(|p| {
                    Some(LocalPod {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                        ip: p.ip?,
                        k8s_logging: k8s_logging_namespaces.contains(&p.namespace),
                    })
                })
                .collect(),
            ingress: DirectionRules::default(),
            egress: DirectionRules::default(),
        };
        for direction in [Direction::Ingress, Direction::Egress] {
            let rules = match direction {
                Direction::Ingress => &mut set.ingress,
                Direction::Egress => &mut set.egress,
            };
            let ordered = table.ordered(direction);
            let positions: Vec<usize> = if self.indexed {
                let slots = self.slots();
                let index = &slots[match direction {
                    Direction::Ingress => 0,
                    Direction::Egress => 1,
                }];
                let mut positions: Vec<usize> = index
                    .by_node
                    .get(node)
                    .into_iter()
                    .flatten()
                    .chain(&index.everywhere)
                    .copied()
                    .collect();
                positions.sort_unstable();
                positions.dedup();
                positions
            } else {
                (0..ordered.len()).collect()
            };
            for slot in positions.into_iter().filter_map(|i| ordered.get(i)) {
                let Some((policy, rule)) = table.rule(slot) else {
                    continue;
                };
                let baseline = slot.tier_priority >= BASELINE_TIER_PRIORITY;
                if !self.indexed
                    && (self.unsupported(policy) || (baseline && rule.action == Action::Pass))
                {
                    continue;
                }
                for pods in split_by_namespace(rule, &local_pods) {
                    if let Some(entry) = builder.entry(policy, rule, Some(slot), &pods) {
                        if baseline {
                            rules.baseline.push(entry)
                        } else {
                            rules.antrea.push(entry)
                        }
                    }
                }
            }
            for policy in table.k8s_policies() {
                let isolates = match direction {
                    Direction::Ingress => policy.isolates_ingress,
                    Direction::Egress => policy.isolates_egress,
                };
                if !isolates {
                    continue;
                }
                let applied = self.applied_pods(&policy.applied);
                let isolated: Vec<&PodInfo> = local_pods
                    .iter()
                    .copied()
                    .filter(|p| applied.ids.contains(&(std::ptr::from_ref(*p) as usize)))
                    .collect();
                rules
                    .k8s_isolated
                    .extend(isolated.iter().filter_map(|p| p.ip));
                for rule in policy.rules(direction) {
                    if let Some(mut entry) = builder.entry(policy, rule, None, &local_pods) {
                        entry.enable_logging = isolated
                            .iter()
                            .any(|p| k8s_logging_namespaces.contains(&p.namespace));
                        rules.k8s_allow.push(entry);
                    }
                }
            }
        }
        set
    }
}

/// Whether a peer term's addresses depend on the local end's namespace.
fn depends_on_namespace(term: &PeerTerm) -> bool {
    matches!(
        term,
        PeerTerm::Pods {
            namespaces: NamespaceScope::SameAsApplied | NamespaceScope::SameLabels(_),
            ..
        }
    )
}

/// Local Pods grouped so that a rule's entry is exact: rules whose peers depend on the local
/// Pod's namespace (`namespaces: Self` / `sameLabels`) get one group per namespace.
fn split_by_namespace<'a>(rule: &CompiledRule, pods: &[&'a PodInfo]) -> Vec<Vec<&'a PodInfo>> {
    if !rule.peers.terms.iter().any(depends_on_namespace) {
        return vec![pods.to_vec()];
    }
    let mut by_ns: BTreeMap<&str, Vec<&'a PodInfo>> = BTreeMap::new();
    for p in pods {
        by_ns.entry(p.namespace.as_str()).or_default().push(p);
    }
    by_ns.into_values().collect()
}

struct Builder<'b, 's> {
    cluster: &'b Cluster,
    resolver: Resolver<'b>,
    node: &'b str,
    sets: &'b RuleSets<'s>,
}

impl Builder<'_, '_> {
    fn entry(
        &self,
        policy: &CompiledPolicy,
        rule: &CompiledRule,
        slot: Option<&RuleSlot>,
        local_pods: &[&PodInfo],
    ) -> Option<RuleEntry> {
        let mut applied: BTreeSet<IpAddr> = BTreeSet::new();
        let mut applied_pods: Vec<&PodInfo> = Vec::new();
        let selected = self
            .sets
            .indexed
            .then(|| self.sets.applied_pods(&rule.applied));
        for pod in local_pods {
            let hit = match &selected {
                Some(selected) => selected.ids.contains(&(std::ptr::from_ref(*pod) as usize)),
                None => rule
                    .applied
                    .iter()
                    .any(|t| self.resolver.applied_selects(t, Local::Pod(pod))),
            };
            if hit {
                applied.extend(pod.ip);
                applied_pods.push(pod);
            }
        }
        let node_info = self.cluster.nodes.get(self.node);
        if let Some(n) = node_info
            && rule
                .applied
                .iter()
                .any(|t| self.resolver.applied_selects(t, Local::Node(n)))
        {
            applied.extend(n.ips.iter().copied());
        }
        let mut node_ports = BTreeSet::new();
        for term in &rule.applied {
            if let AppliedTerm::Service { namespace, name } = term
                && rule.direction == Direction::Ingress
                && let Some(svc) = self.cluster.service(namespace, name)
            {
                node_ports.extend(
                    svc.ports
                        .iter()
                        .filter_map(|p| Some((p.protocol, p.node_port?))),
                );
            }
        }
        if applied.is_empty() && node_ports.is_empty() {
            return None;
        }
        let peers = self.peers(rule, &applied_pods);
        let mut services = BTreeSet::new();
        for (ns, name) in &rule.peers.services {
            if let Some(svc) = self.cluster.service(ns, name)
                && let Some(ip) = svc.cluster_ip
            {
                services.extend(svc.ports.iter().map(|p| (ip, p.protocol, p.port)));
            }
        }
        let ports = self.ports(rule, &applied_pods, &peers);
        let dir = match rule.direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        Some(RuleEntry {
            id: format!("{}/{dir}/{}", policy.key, rule.index),
            policy: PolicyRef::from_key(&policy.key),
            tier: policy.tier.clone(),
            tier_priority: slot.map(|s| s.tier_priority),
            rule_name: (!rule.name.is_empty()).then(|| rule.name.clone()),
            rule_index: rule.index,
            action: rule.action,
            applied,
            node_ports,
            peers,
            services,
            ports,
            enable_logging: rule.enable_logging,
            log_label: rule.log_label.clone(),
        })
    }

    /// Peer addresses, for the given applied Pods (all in one namespace when the rule has
    /// `namespaces: Self`/`sameLabels` peers, see `split_by_namespace`). Each term's addresses
    /// come from the [`RuleSets`] cache: they depend on the local end only through its
    /// namespace, and only for `namespaces: Self`/`sameLabels` terms.
    fn peers(&self, rule: &CompiledRule, applied_pods: &[&PodInfo]) -> PeerAddresses {
        let mut out = PeerAddresses {
            any: rule.peers.any,
            ..Default::default()
        };
        if out.any {
            return out;
        }
        let locals: Vec<Local> = if applied_pods.is_empty() {
            self.cluster
                .nodes
                .get(self.node)
                .map(Local::Node)
                .into_iter()
                .collect()
        } else {
            applied_pods.iter().map(|p| Local::Pod(p)).collect()
        };
        let mut merge = |part: &TermAddresses| {
            if out.pods.is_empty() {
                out.pods = Arc::clone(&part.pods);
            } else if !part.pods.is_empty() {
                Arc::make_mut(&mut out.pods).extend(part.pods.iter().copied());
            }
            out.cidrs.extend(part.cidrs.iter().copied());
        };
        for term in &rule.peers.terms {
            if depends_on_namespace(term) {
                let mut seen: Vec<Option<&str>> = Vec::new();
                for local in &locals {
                    let ns = match local {
                        Local::Pod(p) => Some(p.namespace.as_str()),
                        Local::Node(_) => None,
                    };
                    if !seen.contains(&ns) {
                        seen.push(ns);
                        merge(&self.term_addresses(term, Some(*local), ns));
                    }
                }
                if locals.is_empty() {
                    merge(&self.term_addresses(term, None, None));
                }
            } else {
                merge(&self.term_addresses(term, locals.first().copied(), None));
            }
        }
        out.cidrs.sort();
        out.cidrs.dedup();
        out
    }

    /// The addresses `term` selects seen from `local` (`None`: no local end), cached per term
    /// and `namespace` (the namespace of `local` for terms that depend on it, else `None`).
    fn term_addresses(
        &self,
        term: &PeerTerm,
        local: Option<Local>,
        namespace: Option<&str>,
    ) -> Rc<TermAddresses> {
        if let PeerTerm::IpBlock { cidr, except } = term {
            // Cheaper to compute than to cache (a rule set of 10,000 ipBlock rules).
            return Rc::new(TermAddresses {
                pods: Arc::default(),
                cidrs: subtract(*cidr, except),
            });
        }
        let key: TermKey = (
            std::ptr::from_ref(term) as usize,
            local.is_some(),
            namespace.map(str::to_string),
        );
        if let Some(hit) = self.sets.terms.borrow().get(&key) {
            return Rc::clone(hit);
        }
        let locals: Vec<Local> = local.into_iter().collect();
        let mut out = Collected::default();
        match term {
            PeerTerm::IpBlock { cidr, except } => out.cidrs.extend(subtract(*cidr, except)),
            PeerTerm::Nodes(sel) => {
                for n in self
                    .cluster
                    .nodes
                    .values()
                    .filter(|n| sel.matches(&n.labels))
                {
                    out.cidrs.extend(n.ips.iter().map(|ip| IpNet::from(*ip)));
                }
            }
            PeerTerm::Fqdn(pattern) => {
                for (name, ips) in self.cluster.dns_names() {
                    if fqdn_matches(pattern, &name) {
                        out.cidrs.extend(ips.iter().map(|ip| IpNet::from(*ip)));
                    }
                }
            }
            PeerTerm::Group(g) => self.group_addresses(g, &locals, &mut out),
            PeerTerm::Pods { .. } | PeerTerm::ServiceAccount { .. } => {
                let candidates = match term {
                    PeerTerm::Pods { namespaces, .. } => {
                        self.sets.candidates(namespaces, namespace)
                    }
                    PeerTerm::ServiceAccount { namespace, .. } => self
                        .sets
                        .candidates(&NamespaceScope::Named(namespace.clone()), None),
                    _ => Vec::new(),
                };
                for pod in candidates {
                    let Some(ip) = pod.ip else { continue };
                    let remote = Remote {
                        ip,
                        pod: Some(pod),
                        node: None,
                    };
                    if locals
                        .iter()
                        .any(|l| self.resolver.peer_term_selects(term, *l, &remote).is_some())
                    {
                        out.pods.insert(ip);
                    }
                }
            }
            PeerTerm::Nothing => {}
        }
        let addresses = Rc::new(TermAddresses {
            pods: Arc::new(out.pods),
            cidrs: out.cidrs,
        });
        self.sets
            .terms
            .borrow_mut()
            .insert(key, Rc::clone(&addresses));
        addresses
    }

    fn group_addresses(&self, g: &GroupRef, locals: &[Local], out: &mut Collected) {
        let term = PeerTerm::Group(g.clone());
        for pod in self.cluster.pods.values().filter(|p| !p.host_network) {
            let Some(ip) = pod.ip else { continue };
            let remote = Remote {
                ip,
                pod: Some(pod),
                node: None,
            };
            if locals.iter().any(|l| {
                self.resolver.peer_term_selects(&term, *l, &remote) == Some(PeerMatch::PodMember)
            }) {
                out.pods.insert(ip);
            }
        }
        let spec = match g {
            GroupRef::Cluster(n) => self.cluster.cluster_groups.get(n),
            GroupRef::Namespaced(ns, n) => self.cluster.groups.get(&(ns.clone(), n.clone())),
        };
        let Some(spec) = spec else { return };
        let mut leaves = vec![spec];
        if !spec.child_groups.is_empty() {
            leaves.clear();
            for c in &spec.child_groups {
                let child = match g {
                    GroupRef::Cluster(_) => self.cluster.cluster_groups.get(c),
                    GroupRef::Namespaced(ns, _) => {
                        self.cluster.groups.get(&(ns.clone(), c.clone()))
                    }
                };
                match child {
                    Some(cs) if !cs.child_groups.is_empty() => return,
                    Some(cs) => leaves.push(cs),
                    None => {}
                }
            }
        }
        for leaf in leaves {
            for b in leaf.all_ip_blocks() {
                if let Some(cidr) = parse_cidr(&b.cidr) {
                    let except: Vec<IpNet> =
                        b.except.iter().filter_map(|e| parse_cidr(e)).collect();
                    out.cidrs.extend(subtract(cidr, &except));
                }
            }
            if let Some(sel) = &leaf.node_selector {
                for n in self
                    .cluster
                    .nodes
                    .values()
                    .filter(|n| sel.matches(&n.labels))
                {
                    out.cidrs.extend(n.ips.iter().map(|ip| IpNet::from(*ip)));
                }
            }
        }
    }

    fn ports(
        &self,
        rule: &CompiledRule,
        applied_pods: &[&PodInfo],
        peers: &PeerAddresses,
    ) -> Vec<PortRule> {
        if rule.ports.any {
            return vec![];
        }
        let mut out = Vec::new();
        for entry in &rule.ports.entries {
            out.push(match entry {
                PortEntry::L4 {
                    protocol,
                    port,
                    source,
                } => match port {
                    PortMatch::Any => PortRule::L4 {
                        protocol: *protocol,
                        ports: None,
                        source_ports: *source,
                    },
                    PortMatch::Range(lo, hi) => PortRule::L4 {
                        protocol: *protocol,
                        ports: Some((*lo, *hi)),
                        source_ports: *source,
                    },
                    PortMatch::Named(name) => {
                        let candidates: Vec<&PodInfo> = match rule.direction {
                            Direction::Ingress => applied_pods.to_vec(),
                            Direction::Egress => self
                                .cluster
                                .pods
                                .values()
                                .filter(|p| {
                                    p.ip.is_some_and(|ip| peers.any || peers.pods.contains(&ip))
                                        && !p.host_network
                                })
                                .collect(),
                        };
                        let endpoints = candidates
                            .iter()
                            .filter_map(|p| Some((p.ip?, p.resolve_named_port(name, *protocol)?)))
                            .collect();
                        PortRule::Named {
                            name: name.clone(),
                            protocol: *protocol,
                            endpoints,
                        }
                    }
                },
                PortEntry::Icmp {
                    icmp_type,
                    icmp_code,
                } => PortRule::Icmp {
                    icmp_type: *icmp_type,
                    icmp_code: *icmp_code,
                },
                PortEntry::Igmp { igmp_type, .. } => PortRule::Igmp {
                    igmp_type: *igmp_type,
                },
            });
        }
        out
    }
}
