//! Services, Groups, DNS answers and Tiers: changes that recompute the terms that depend on
//! them, and the rule-order self-check.

use crate::classifier::fx::FxMap;
use crate::classifier::{Classifier, dir_index};
use crate::cluster::{Cluster, ServiceInfo};
use crate::compile::GroupRef;
use crate::table::RuleTable;

impl Classifier {
    pub(super) fn add_service_summary(&mut self, svc: &ServiceInfo) {
        if let Some(ip) = svc.cluster_ip {
            *self.cluster_ips.entry(ip).or_default() += 1;
        }
        if matches!(svc.service_type.as_str(), "NodePort" | "LoadBalancer") {
            for p in &svc.ports {
                if let Some(np) = p.node_port {
                    *self.node_ports.entry((p.protocol, np)).or_default() += 1;
                }
            }
        }
    }

    pub(super) fn remove_service_summary(&mut self, svc: &ServiceInfo) {
        fn dec<K: std::hash::Hash + Eq>(m: &mut FxMap<K, u32>, k: K) {
            if let Some(v) = m.get_mut(&k) {
                *v -= 1;
                if *v == 0 {
                    m.remove(&k);
                }
            }
        }
        if let Some(ip) = svc.cluster_ip {
            dec(&mut self.cluster_ips, ip);
        }
        if matches!(svc.service_type.as_str(), "NodePort" | "LoadBalancer") {
            for p in &svc.ports {
                if let Some(np) = p.node_port {
                    dec(&mut self.node_ports, (p.protocol, np));
                }
            }
        }
    }

    /// A Service was created, changed or deleted (ClusterIPs, NodePorts, Group
    /// `serviceReference` members, cluster-DNS names of FQDN peers).
    pub fn apply_service(&mut self, cluster: &Cluster, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        if let Some(old) = self.services.remove(&key) {
            self.remove_service_summary(&old);
        }
        if let Some(svc) = cluster.service(namespace, name) {
            self.add_service_summary(svc);
            self.services.insert(key, svc.clone());
        }
        let mut terms: Vec<u32> = self.anchors.group_terms.clone();
        terms.extend(self.anchors.fqdn_terms.iter().copied());
        for t in terms {
            self.recompute_term(cluster, t);
        }
    }

    /// A Service was deleted.
    pub fn remove_service(&mut self, cluster: &Cluster, namespace: &str, name: &str) {
        self.apply_service(cluster, namespace, name);
    }

    /// A ClusterGroup or Group was created, changed or deleted.
    pub fn apply_group(&mut self, cluster: &Cluster, group: &GroupRef) {
        let terms: Vec<u32> = self
            .anchors
            .group_terms
            .iter()
            .copied()
            .filter(|&t| self.term(t).is_some_and(|x| x.group_deps.contains(group)))
            .collect();
        for t in terms {
            self.recompute_term(cluster, t);
        }
    }

    /// A ClusterGroup or Group was deleted.
    pub fn remove_group(&mut self, cluster: &Cluster, group: &GroupRef) {
        self.apply_group(cluster, group);
    }

    /// The engine's DNS table changed (`Engine::set_dns`): FQDN peers are re-resolved.
    pub fn apply_dns(&mut self, cluster: &Cluster) {
        for t in self.anchors.fqdn_terms.clone() {
            self.recompute_term(cluster, t);
        }
    }

    /// A Tier changed. The rule table keeps the tier priority its rules were ranked with, so
    /// nothing moves; the classifier only checks that its order still is the table's.
    pub fn apply_tier(&mut self, cluster: &Cluster, table: &RuleTable) {
        if !self.order_matches(table) {
            *self = Classifier::build(cluster, table);
        }
    }

    /// Whether the ranked rules are exactly the table's order.
    pub(crate) fn order_matches(&self, table: &RuleTable) -> bool {
        [
            crate::compile::Direction::Ingress,
            crate::compile::Direction::Egress,
        ]
        .iter()
        .all(|&d| {
            let slots = table.ordered(d);
            let order = &self.dirs[dir_index(d)].order;
            slots.len() == order.len()
                && slots.iter().zip(order).all(|(s, &r)| {
                    self.rules
                        .get(r as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|rule| {
                            self.policies
                                .get(rule.policy as usize)
                                .and_then(Option::as_ref)
                                .is_some_and(|p| {
                                    p.key == s.policy && p.rules.get(s.position) == Some(&r)
                                })
                        })
                })
        })
    }
}
