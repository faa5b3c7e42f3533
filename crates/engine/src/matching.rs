//! Resolution of compiled terms against the `Cluster`: does an appliedTo term select this local
//! endpoint, does a peer term select that remote endpoint, does a port entry match the flow.
//! Groups are resolved here (one level of `childGroups`, as Antrea supports).

use crate::cluster::{Cluster, NodeInfo, PodInfo};
use crate::compile::{
    AppliedTerm, GroupRef, NamespaceScope, PeerSet, PeerTerm, PortEntry, PortMatch, PortSet,
};
use std::net::IpAddr;
use tierwall_model::LabelSelector;
use tierwall_model::antrea::GroupSpec;

/// The endpoint a rule is enforced for: a Pod (its own network) or a Node (host network).
#[derive(Debug, Clone, Copy)]
pub enum Local<'a> {
    Pod(&'a PodInfo),
    Node(&'a NodeInfo),
}

/// The other end of a flow, as an address with what the cluster knows of it.
#[derive(Debug, Clone, Copy)]
pub struct Remote<'a> {
    pub ip: IpAddr,
    /// The non-hostNetwork Pod owning the address.
    pub pod: Option<&'a PodInfo>,
    /// The Node owning the address (also for hostNetwork Pods).
    pub node: Option<&'a NodeInfo>,
}

/// How a peer matched: through Pod membership (named ports resolve) or through the address only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMatch {
    PodMember,
    Address,
}

pub use tierwall_node_api::Transport;

pub struct Resolver<'a> {
    pub cluster: &'a Cluster,
}

impl<'a> Resolver<'a> {
    pub fn new(cluster: &'a Cluster) -> Self {
        Resolver { cluster }
    }

    fn ns_matches(&self, scope: &NamespaceScope, ns: &str, applied_ns: Option<&str>) -> bool {
        match scope {
            NamespaceScope::All => true,
            NamespaceScope::Named(n) => n == ns,
            NamespaceScope::Selector(sel) => self
                .cluster
                .namespace_labels(ns)
                .is_some_and(|labels| sel.matches(labels)),
            NamespaceScope::SameAsApplied => applied_ns == Some(ns),
            NamespaceScope::SameLabels(keys) => {
                let (Some(applied), Some(peer)) = (
                    applied_ns.and_then(|a| self.cluster.namespace_labels(a)),
                    self.cluster.namespace_labels(ns),
                ) else {
                    return false;
                };
                keys.iter()
                    .all(|k| applied.get(k).is_some_and(|v| peer.get(k) == Some(v)))
            }
        }
    }

    fn pod_selected(
        &self,
        scope: &NamespaceScope,
        pods: &Option<LabelSelector>,
        pod: &PodInfo,
        applied_ns: Option<&str>,
    ) -> bool {
        pods.as_ref().is_none_or(|s| s.matches(&pod.labels))
            && self.ns_matches(scope, &pod.namespace, applied_ns)
    }

    fn group_spec(&self, group: &GroupRef) -> Option<&'a GroupSpec> {
        match group {
            GroupRef::Cluster(name) => self.cluster.cluster_groups.get(name),
            GroupRef::Namespaced(ns, name) => self.cluster.groups.get(&(ns.clone(), name.clone())),
        }
    }

    fn child_ref(group: &GroupRef, child: &str) -> GroupRef {
        match group {
            GroupRef::Cluster(_) => GroupRef::Cluster(child.to_string()),
            GroupRef::Namespaced(ns, _) => GroupRef::Namespaced(ns.clone(), child.to_string()),
        }
    }

    /// The groups whose own definition counts for `group`: itself, or its children (one level;
    /// a child that has children of its own makes the parent empty, as Antrea reports).
    fn group_leaves(&self, group: &GroupRef) -> Vec<(GroupRef, &'a GroupSpec)> {
        let Some(spec) = self.group_spec(group) else {
            return vec![];
        };
        if spec.child_groups.is_empty() {
            return vec![(group.clone(), spec)];
        }
        let mut leaves = Vec::new();
        for child in &spec.child_groups {
            let r = Self::child_ref(group, child);
            if let Some(cs) = self.group_spec(&r) {
                if !cs.child_groups.is_empty() {
                    return vec![];
                }
                leaves.push((r, cs));
            }
        }
        leaves
    }

    /// Whether a group definition (without children) selects a Pod.
    fn leaf_selects_pod(&self, group: &GroupRef, spec: &GroupSpec, pod: &PodInfo) -> bool {
        if let Some(svc_ref) = &spec.service_reference {
            let ns = if svc_ref.namespace.is_empty() {
                match group {
                    GroupRef::Namespaced(ns, _) => ns.as_str(),
                    GroupRef::Cluster(_) => "default",
                }
            } else {
                &svc_ref.namespace
            };
            return self.cluster.service(ns, &svc_ref.name).is_some_and(|svc| {
                svc.namespace == pod.namespace
                    && svc
                        .selector
                        .as_ref()
                        .is_some_and(|sel| sel.iter().all(|(k, v)| pod.labels.get(k) == Some(v)))
            });
        }
        if spec.pod_selector.is_none() && spec.namespace_selector.is_none() {
            return false;
        }
        let scope = match (&spec.namespace_selector, group) {
            (Some(sel), _) => NamespaceScope::Selector(sel.clone()),
            (None, GroupRef::Namespaced(ns, _)) => NamespaceScope::Named(ns.clone()),
            (None, GroupRef::Cluster(_)) => NamespaceScope::All,
        };
        self.pod_selected(&scope, &spec.pod_selector, pod, None)
    }

    fn leaf_selects_address(&self, spec: &GroupSpec, remote: &Remote) -> bool {
        let in_blocks = spec.all_ip_blocks().any(|b| {
            crate::cluster::parse_cidr(&b.cidr).is_some_and(|cidr| {
                cidr.contains(&remote.ip)
                    && !b
                        .except
                        .iter()
                        .filter_map(|e| crate::cluster::parse_cidr(e))
                        .any(|e| e.contains(&remote.ip))
            })
        });
        in_blocks
            || spec
                .node_selector
                .as_ref()
                .is_some_and(|sel| remote.node.is_some_and(|n| sel.matches(&n.labels)))
    }

    /// Pod members of a group (appliedTo semantics: ipBlock groups select no Pod).
    pub fn group_selects_pod(&self, group: &GroupRef, pod: &PodInfo) -> bool {
        !pod.host_network
            && self
                .group_leaves(group)
                .iter()
                .any(|(r, spec)| self.leaf_selects_pod(r, spec, pod))
    }

    /// Does the appliedTo term select the local endpoint?
    pub fn applied_selects(&self, term: &AppliedTerm, local: Local) -> bool {
        match (term, local) {
            (AppliedTerm::Pods { namespaces, pods }, Local::Pod(pod)) => {
                !pod.host_network && self.pod_selected(namespaces, pods, pod, None)
            }
            (AppliedTerm::Group(g), Local::Pod(pod)) => self.group_selects_pod(g, pod),
            (AppliedTerm::ServiceAccount { namespace, name }, Local::Pod(pod)) => {
                !pod.host_network && pod.namespace == *namespace && pod.service_account == *name
            }
            (AppliedTerm::Nodes(sel), Local::Node(node)) => sel.matches(&node.labels),
            _ => false,
        }
    }

    /// The namespace of the local endpoint (for `match: Self` / `sameLabels`).
    fn local_namespace<'l>(local: Local<'l>) -> Option<&'l str> {
        match local {
            Local::Pod(p) => Some(&p.namespace),
            Local::Node(_) => None,
        }
    }

    /// Does one peer term select the remote endpoint?
    pub fn peer_term_selects(
        &self,
        term: &PeerTerm,
        local: Local,
        remote: &Remote,
    ) -> Option<PeerMatch> {
        let applied_ns = Self::local_namespace(local);
        let hit = |b: bool, m: PeerMatch| b.then_some(m);
        match term {
            PeerTerm::Pods { namespaces, pods } => hit(
                remote
                    .pod
                    .is_some_and(|p| self.pod_selected(namespaces, pods, p, applied_ns)),
                PeerMatch::PodMember,
            ),
            PeerTerm::IpBlock { cidr, except } => hit(
                cidr.contains(&remote.ip) && !except.iter().any(|e| e.contains(&remote.ip)),
                PeerMatch::Address,
            ),
            PeerTerm::Group(g) => {
                let leaves = self.group_leaves(g);
                if remote.pod.is_some_and(|p| {
                    leaves
                        .iter()
                        .any(|(r, spec)| self.leaf_selects_pod(r, spec, p))
                }) {
                    Some(PeerMatch::PodMember)
                } else {
                    hit(
                        leaves
                            .iter()
                            .any(|(_, spec)| self.leaf_selects_address(spec, remote)),
                        PeerMatch::Address,
                    )
                }
            }
            PeerTerm::ServiceAccount { namespace, name } => hit(
                remote
                    .pod
                    .is_some_and(|p| p.namespace == *namespace && p.service_account == *name),
                PeerMatch::PodMember,
            ),
            PeerTerm::Nodes(sel) => hit(
                remote.node.is_some_and(|n| sel.matches(&n.labels)),
                PeerMatch::Address,
            ),
            PeerTerm::Fqdn(pattern) => hit(
                self.cluster
                    .dns_names()
                    .iter()
                    .any(|(name, ips)| ips.contains(&remote.ip) && fqdn_matches(pattern, name)),
                PeerMatch::Address,
            ),
            PeerTerm::Nothing => None,
        }
    }

    /// Does the peer set select the remote? `Some(PodMember)` is preferred when several match.
    pub fn peers_select(
        &self,
        peers: &PeerSet,
        local: Local,
        remote: &Remote,
    ) -> Option<PeerMatch> {
        if peers.any {
            return Some(if remote.pod.is_some() {
                PeerMatch::PodMember
            } else {
                PeerMatch::Address
            });
        }
        let mut best = None;
        for term in &peers.terms {
            match self.peer_term_selects(term, local, remote) {
                Some(PeerMatch::PodMember) => return Some(PeerMatch::PodMember),
                Some(PeerMatch::Address) => best = Some(PeerMatch::Address),
                None => {}
            }
        }
        best
    }
}

/// FQDN pattern matching as Antrea does it: exact, or `*` as `.*` in an anchored regex
/// (so `*foo.com` also matches `evilfoo.com`).
pub fn fqdn_matches(pattern: &str, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if !pattern.contains('*') {
        return pattern == name;
    }
    wildcard_match(pattern.as_bytes(), name.as_bytes())
}

fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| wildcard_match(rest, &text[i..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, trest)| t == c && wildcard_match(rest, trest)),
    }
}

/// Does the port set match the transport? `named_on` is the Pod named ports resolve against
/// (`None`: named ports match nothing).
pub fn ports_match(ports: &PortSet, transport: &Transport, named_on: Option<&PodInfo>) -> bool {
    if ports.any {
        return true;
    }
    ports.entries.iter().any(|entry| match (entry, transport) {
        (
            PortEntry::L4 {
                protocol,
                port,
                source,
            },
            Transport::L4 {
                protocol: p,
                src_port,
                dst_port,
            },
        ) => {
            if protocol != p {
                return false;
            }
            if let Some((lo, hi)) = source
                && (src_port < lo || src_port > hi)
            {
                return false;
            }
            match port {
                PortMatch::Any => true,
                PortMatch::Range(lo, hi) => dst_port >= lo && dst_port <= hi,
                PortMatch::Named(name) => {
                    named_on.and_then(|pod| pod.resolve_named_port(name, *protocol))
                        == Some(*dst_port)
                }
            }
        }
        (
            PortEntry::Icmp {
                icmp_type,
                icmp_code,
            },
            Transport::Icmp {
                icmp_type: t,
                icmp_code: c,
            },
        ) => icmp_type.is_none_or(|x| x == *t) && icmp_code.is_none_or(|x| x == *c),
        (PortEntry::Igmp { igmp_type, .. }, Transport::Igmp { igmp_type: t }) => {
            igmp_type.is_none_or(|x| x == *t)
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_wildcards_follow_antrea() {
        assert!(fqdn_matches("*foobar.com", "www.foobar.com"));
        assert!(fqdn_matches("*foobar.com", "foobar.com"));
        assert!(fqdn_matches("*foobar.com", "notfoobar.com"));
        assert!(!fqdn_matches("*foobar.com", "foobar.org"));
        assert!(fqdn_matches(
            "svc.x.svc.cluster.local",
            "svc.x.svc.cluster.local."
        ));
    }
}
