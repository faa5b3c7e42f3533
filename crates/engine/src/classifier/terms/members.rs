//! Exact membership: evaluating a term against an identity or a Node, computing a term's
//! members from the label index, and its address intervals.

use super::index::{sorted_contains, union_sorted};
use super::{Term, TermDef, block_ranges, group_leaves, ip_key, normalize_ranges, ns_matches};
use crate::classifier::{Classifier, IpRange, NONE};
use crate::cluster::{Cluster, NodeInfo, PodInfo, parse_cidr};
use crate::compile::{GroupRef, NamespaceScope};
use crate::matching::{Resolver, fqdn_matches};
use ipnet::IpNet;
use tierwall_model::LabelSelector;

impl Classifier {
    /// Whether the Pods of identity `rep` are members of a term (Pod part only).
    pub(crate) fn eval_ident(cluster: &Cluster, def: &TermDef, rep: &PodInfo) -> bool {
        match def {
            TermDef::Pods { scope, sel, ldep } => {
                sel.as_ref().is_none_or(|s| s.matches(&rep.labels))
                    && (*ldep || ns_matches(cluster, scope, &rep.namespace))
            }
            TermDef::Group(g) => Resolver::new(cluster).group_selects_pod(g, rep),
            TermDef::Sa { ns, name } => rep.namespace == *ns && rep.service_account == *name,
            TermDef::Nodes(_) | TermDef::IpBlock { .. } | TermDef::Fqdn(_) => false,
        }
    }

    /// Whether a Node is a member of a term (Node part: Node selectors, Group nodeSelector).
    pub(crate) fn eval_node(cluster: &Cluster, def: &TermDef, node: &NodeInfo) -> bool {
        match def {
            TermDef::Nodes(sel) => sel.matches(&node.labels),
            TermDef::Group(g) => group_leaves(cluster, g).iter().any(|(_, s)| {
                s.node_selector
                    .as_ref()
                    .is_some_and(|sel| sel.matches(&node.labels))
            }),
            _ => false,
        }
    }

    /// Address intervals of a term.
    pub(crate) fn eval_ips(cluster: &Cluster, def: &TermDef) -> Vec<IpRange> {
        match def {
            TermDef::IpBlock { cidr, except } => normalize_ranges(block_ranges(cidr, except)),
            TermDef::Group(g) => {
                let mut v = Vec::new();
                for (_, spec) in group_leaves(cluster, g) {
                    for b in spec.all_ip_blocks() {
                        if let Some(cidr) = parse_cidr(&b.cidr) {
                            let except: Vec<IpNet> =
                                b.except.iter().filter_map(|e| parse_cidr(e)).collect();
                            v.extend(block_ranges(&cidr, &except));
                        }
                    }
                }
                normalize_ranges(v)
            }
            TermDef::Fqdn(pattern) => {
                let mut v = Vec::new();
                for (name, ips) in cluster.dns_names() {
                    if fqdn_matches(pattern, &name) {
                        for ip in ips {
                            let (v6, k) = ip_key(ip);
                            v.push(IpRange { v6, lo: k, hi: k });
                        }
                    }
                }
                normalize_ranges(v)
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn ns_idents(&self, ns: &str) -> &[u32] {
        self.ns_by_name
            .get(ns)
            .and_then(|&i| self.namespaces.get(i as usize))
            .map_or(&[], |n| n.idents.as_slice())
    }

    /// Identities of the namespaces `sel` selects.
    pub(super) fn ns_selector_idents(&self, cluster: &Cluster, sel: &LabelSelector) -> Vec<u32> {
        let cands: Vec<u32> = match self.ns_postings.candidates(sel, None) {
            Some(c) => c,
            None => (0..self.namespaces.len() as u32).collect(),
        };
        let lists: Vec<&[u32]> = cands
            .iter()
            .filter_map(|&n| self.namespaces.get(n as usize))
            .filter(|n| {
                cluster
                    .namespace_labels(&n.name)
                    .is_some_and(|l| sel.matches(l))
            })
            .map(|n| n.idents.as_slice())
            .collect();
        union_sorted(&lists)
    }

    /// A superset of the identities a Pods{scope, sel} entry selects (`None` = all).
    pub(super) fn scope_candidates(
        &self,
        cluster: &Cluster,
        scope: &NamespaceScope,
        sel: Option<&LabelSelector>,
        ldep: bool,
    ) -> Option<Vec<u32>> {
        let ns_list: Option<Vec<u32>> = match (ldep, scope) {
            (false, NamespaceScope::Named(n)) => Some(self.ns_idents(n).to_vec()),
            (false, NamespaceScope::Selector(s)) => Some(self.ns_selector_idents(cluster, s)),
            _ => None,
        };
        match sel {
            Some(s) => self.ident_postings.candidates(s, ns_list.as_deref()),
            None => ns_list,
        }
    }

    pub(super) fn live_idents(&self) -> Vec<u32> {
        self.idents
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_some())
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Identities that are members of a term (posting-list intersection, then an exact check).
    pub(crate) fn compute_members(&self, cluster: &Cluster, def: &TermDef) -> Vec<u32> {
        let cands: Option<Vec<u32>> = match def {
            TermDef::Pods { scope, sel, ldep } => {
                self.scope_candidates(cluster, scope, sel.as_ref(), *ldep)
            }
            TermDef::Sa { ns, .. } => Some(self.ns_idents(ns).to_vec()),
            TermDef::Group(g) => {
                let mut parts: Vec<Vec<u32>> = Vec::new();
                let mut all = false;
                for (r, spec) in group_leaves(cluster, g) {
                    if let Some(svc_ref) = &spec.service_reference {
                        let ns = if svc_ref.namespace.is_empty() {
                            match &r {
                                GroupRef::Namespaced(ns, _) => ns.clone(),
                                GroupRef::Cluster(_) => "default".to_string(),
                            }
                        } else {
                            svc_ref.namespace.clone()
                        };
                        let Some(sel) = cluster
                            .service(&ns, &svc_ref.name)
                            .and_then(|s| s.selector.as_ref())
                        else {
                            continue;
                        };
                        let sel = LabelSelector {
                            match_labels: Some(sel.clone()),
                            match_expressions: None,
                        };
                        let ns_list = self.ns_idents(&ns).to_vec();
                        parts.push(
                            self.ident_postings
                                .candidates(&sel, Some(&ns_list))
                                .unwrap_or(ns_list),
                        );
                        continue;
                    }
                    if spec.pod_selector.is_none() && spec.namespace_selector.is_none() {
                        continue;
                    }
                    let scope = match (&spec.namespace_selector, &r) {
                        (Some(sel), _) => NamespaceScope::Selector(sel.clone()),
                        (None, GroupRef::Namespaced(ns, _)) => NamespaceScope::Named(ns.clone()),
                        (None, GroupRef::Cluster(_)) => NamespaceScope::All,
                    };
                    match self.scope_candidates(cluster, &scope, spec.pod_selector.as_ref(), false)
                    {
                        Some(c) => parts.push(c),
                        None => all = true,
                    }
                }
                if all {
                    None
                } else {
                    let lists: Vec<&[u32]> = parts.iter().map(Vec::as_slice).collect();
                    Some(union_sorted(&lists))
                }
            }
            TermDef::Nodes(_) | TermDef::IpBlock { .. } | TermDef::Fqdn(_) => return Vec::new(),
        };
        let cands = cands.unwrap_or_else(|| self.live_idents());
        cands
            .into_iter()
            .filter(|&i| {
                self.idents
                    .get(i as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|id| Self::eval_ident(cluster, def, &id.rep))
            })
            .collect()
    }

    /// Node entries that are members of a term.
    pub(crate) fn compute_nodes(&self, cluster: &Cluster, def: &TermDef) -> Vec<u32> {
        if !matches!(def, TermDef::Nodes(_) | TermDef::Group(_)) {
            return Vec::new();
        }
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i as u32, n)))
            .filter(|(_, n)| Self::eval_node(cluster, def, &n.info))
            .map(|(i, _)| i)
            .collect()
    }

    pub(crate) fn term(&self, t: u32) -> Option<&Term> {
        self.terms.get(t as usize).and_then(Option::as_ref)
    }

    pub(crate) fn term_has_ident(&self, t: u32, ident: u32) -> bool {
        ident != NONE
            && self
                .term(t)
                .is_some_and(|t| sorted_contains(&t.members, ident))
    }

    pub(crate) fn term_has_node(&self, t: u32, node: u32) -> bool {
        node != NONE
            && self
                .term(t)
                .is_some_and(|t| sorted_contains(&t.nodes, node))
    }
}
