//! Building the classifier and keeping it in step with the engine, one object at a time.
//! Every structure is updated by *events*: an identity or Node joins or leaves a term, a rule is
//! ranked, activated or removed, a term's address set changes. Nothing is recomputed globally
//! except where the data model forces it (listed in `docs/performance.md`).
//!
//! ```text
//!  Pod change ─> identity (interned by ns, labels, SA) ─ new? ─> anchors ─> join terms ─┐
//!  Namespace relabel ─> refresh its identities ─────────────────────────> join / leave ─┤
//!  Group / Service / DNS change ─> recompute dependent terms ───────────> join / leave ─┤
//!  Policy change ─> intern terms, rank rules (remap bit rows), set bits ─────────────────┤
//!        join / leave ─> A / P bits of the term's rules, K8s NP lists, spans, realizable <┘
//! ```

mod identities;
mod nodes;
mod pods;
mod policies;
mod rule_bits;
mod services;
mod term_lifecycle;

use crate::classifier::bits::Rows;
use crate::classifier::fx::FxMap;
use crate::classifier::partition::Partition;
use crate::classifier::terms::{Anchors, Postings};
use crate::classifier::{Classifier, DirIndex, Names, NodeEntry, proto_index};
use crate::cluster::{Cluster, PodInfo};
use crate::compile::{GroupRef, PortEntry, PortMatch, PortSet};
use crate::table::RuleTable;
use std::net::IpAddr;
use tierwall_model::{Kind, ObjectKey};

/// A copy of a Pod's info without its labels (they are kept once, by the identity).
fn without_labels(p: &PodInfo) -> PodInfo {
    PodInfo {
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        labels: Default::default(),
        ip: p.ip,
        node: p.node.clone(),
        service_account: p.service_account.clone(),
        host_network: p.host_network,
        ports: p.ports.clone(),
    }
}

fn alloc<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<u32>, value: T) -> u32 {
    match free.pop() {
        Some(i) => {
            slots[i as usize] = Some(value);
            i
        }
        None => {
            slots.push(Some(value));
            (slots.len() - 1) as u32
        }
    }
}

/// What a port set contributes to the transport rows.
struct PortBits {
    any: bool,
    /// (protocol index, first, last) destination port intervals.
    l4: Vec<(usize, u16, u16)>,
    icmp: bool,
    exact: bool,
}

fn port_bits(ports: &PortSet) -> PortBits {
    let mut b = PortBits {
        any: ports.any,
        l4: Vec::new(),
        icmp: false,
        exact: true,
    };
    if ports.any {
        return b;
    }
    for e in &ports.entries {
        match e {
            PortEntry::L4 {
                protocol,
                port,
                source,
            } => {
                let p = proto_index(*protocol);
                if source.is_some() {
                    b.exact = false;
                }
                match port {
                    PortMatch::Any => b.l4.push((p, 0, u16::MAX)),
                    PortMatch::Range(lo, hi) => {
                        if lo <= hi {
                            b.l4.push((p, *lo, *hi));
                        }
                    }
                    PortMatch::Named(_) => {
                        b.exact = false;
                        b.l4.push((p, 0, u16::MAX));
                    }
                }
            }
            PortEntry::Icmp {
                icmp_type,
                icmp_code,
            } => {
                b.icmp = true;
                if icmp_type.is_some() || icmp_code.is_some() {
                    b.exact = false;
                }
            }
            // IGMP never matches an L4 or ICMP flow.
            PortEntry::Igmp { .. } => {}
        }
    }
    b
}

fn dir_rows_new() -> DirIndex {
    let mut d = DirIndex::default();
    for rows in [&mut d.ip4, &mut d.ip6] {
        *rows = Rows::new(0);
        rows.ensure(1);
    }
    for rows in d.ports.iter_mut() {
        *rows = Rows::new(0);
        rows.ensure(1);
    }
    d
}

impl Classifier {
    fn empty() -> Classifier {
        Classifier {
            namespaces: Vec::new(),
            ns_by_name: FxMap::default(),
            ns_postings: Postings::default(),
            idents: Vec::new(),
            ident_free: Vec::new(),
            ident_k8s: Vec::new(),
            ident_by_key: FxMap::default(),
            ident_postings: Postings::default(),
            pods: Vec::new(),
            pod_fast: Vec::new(),
            pod_free: Vec::new(),
            pod_by_name: FxMap::default(),
            pod_by_ip: FxMap::default(),
            nodes: Vec::new(),
            node_free: Vec::new(),
            node_by_name: FxMap::default(),
            node_by_ip: FxMap::default(),
            node_names: Names::default(),
            services: FxMap::default(),
            cluster_ips: FxMap::default(),
            node_ports: FxMap::default(),
            terms: Vec::new(),
            term_free: Vec::new(),
            term_by_key: FxMap::default(),
            anchors: Anchors::default(),
            policies: Vec::new(),
            policy_free: Vec::new(),
            policy_by_key: FxMap::default(),
            rules: Vec::new(),
            rule_free: Vec::new(),
            k8s_checks: Vec::new(),
            dirs: [dir_rows_new(), dir_rows_new()],
            ip4: Partition::new(u32::MAX as u128),
            ip6: Partition::new(u128::MAX),
            port_parts: [
                Partition::new(65535),
                Partition::new(65535),
                Partition::new(65535),
            ],
        }
    }

    /// Builds the classifier of a cluster and its rule table (as an `Engine` holds them).
    pub fn build(cluster: &Cluster, table: &RuleTable) -> Classifier {
        let mut c = Classifier::empty();
        c.reserve_for(cluster, table);
        for name in cluster.namespaces.keys() {
            let id = c.ns_id(name);
            let labels = cluster.namespace_labels(name).cloned();
            if let Some(l) = &labels {
                c.ns_postings.add(id, l);
            }
            c.namespaces[id as usize].labels = labels;
        }
        for node in cluster.nodes.values() {
            let id = alloc(
                &mut c.nodes,
                &mut c.node_free,
                NodeEntry {
                    info: node.clone(),
                    terms: Vec::new(),
                },
            );
            c.node_by_name.insert(node.name.clone(), id);
            for d in &mut c.dirs {
                d.pnode.ensure(id as usize + 1);
                d.anode.ensure(id as usize + 1);
            }
        }
        for node in cluster.nodes.values() {
            for ip in &node.ips {
                c.sync_node_ip(cluster, *ip);
            }
        }
        for svc in cluster.services.values() {
            c.add_service_summary(svc);
            c.services
                .insert((svc.namespace.clone(), svc.name.clone()), svc.clone());
        }
        // The address index is the cluster's: an address used by one Pod is that Pod's; when
        // several share it, the cluster knows which was applied last.
        let mut uses: FxMap<IpAddr, u32> = FxMap::default();
        for pod in cluster.pods.values().filter(|p| !p.host_network) {
            if let Some(ip) = pod.ip {
                *uses.entry(ip).or_default() += 1;
            }
        }
        for pod in cluster.pods.values() {
            let idx = c.insert_pod(cluster, pod);
            if let (Some(ip), false) = (pod.ip, pod.host_network) {
                let same = || {
                    cluster
                        .pod_at(ip)
                        .is_some_and(|owner| std::ptr::eq(owner, pod))
                };
                // Sole user of the address: it owns it iff the cluster indexes the address at
                // all (a cheap hash probe instead of the Pod map lookup of `pod_at`).
                let owner = if uses.get(&ip) == Some(&1)
                    && cluster.node_at(ip).is_none()
                    && cluster.service_at(ip).is_none()
                {
                    cluster.address_in_use(ip)
                } else {
                    same()
                };
                if owner {
                    c.pod_by_ip.insert(ip, idx);
                }
            }
        }
        c.refresh_pod_node_ips();
        // Every ipBlock edge splits the address partition: its `/16` index is rebuilt once.
        c.ip4.suspend_top16();
        c.add_policies_bulk(cluster, table);
        c.ip4.index_top16();
        c
    }

    /// Sizes the tables for a build (no growth copies while the bulk of the objects goes in).
    /// Identities and terms are bounded by Pods and by policy entries; both are upper bounds.
    fn reserve_for(&mut self, cluster: &Cluster, table: &RuleTable) {
        let pods = cluster.pods.len();
        let (mut policies, mut rules) = (0usize, 0usize);
        for cp in table.policies() {
            policies += 1;
            rules += cp.rules.len();
        }
        self.namespaces.reserve(cluster.namespaces.len());
        self.ns_by_name.reserve(cluster.namespaces.len());
        self.pods.reserve(pods);
        self.pod_fast.reserve(pods);
        self.pod_by_name.reserve(pods);
        self.pod_by_ip.reserve(pods);
        self.policies.reserve(policies);
        self.policy_by_key.reserve(policies);
        self.rules.reserve(rules);
        // Distinct appliedTo/peer entries are at most one per policy and rule peer; most
        // clusters have far fewer, so reserve for the policies only.
        self.terms.reserve(policies);
        self.term_by_key.reserve(policies);
    }

    /// Brings the classifier up to date with one changed object (call after `Engine::apply` or
    /// `Engine::delete` accepted it): reads the object's current state from the engine's
    /// cluster and table, and updates only what depends on it.
    pub fn update(&mut self, cluster: &Cluster, table: &RuleTable, key: &ObjectKey) {
        let ns = key.namespace.as_deref().unwrap_or("default");
        match key.kind {
            Kind::Namespace => self.apply_namespace(cluster, &key.name),
            Kind::Pod => self.apply_pod(cluster, ns, &key.name),
            Kind::Node => self.apply_node(cluster, &key.name),
            Kind::Service => self.apply_service(cluster, ns, &key.name),
            Kind::ServiceAccount
            | Kind::Egress
            | Kind::ExternalIpPool
            | Kind::IpPool
            | Kind::Ingress
            | Kind::Gateway => {}
            Kind::ClusterGroup => self.apply_group(cluster, &GroupRef::Cluster(key.name.clone())),
            Kind::Group => self.apply_group(
                cluster,
                &GroupRef::Namespaced(ns.to_string(), key.name.clone()),
            ),
            Kind::Tier => self.apply_tier(cluster, table),
            Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy | Kind::NetworkPolicy => {
                self.apply_policy(cluster, table, key)
            }
        }
    }
}
