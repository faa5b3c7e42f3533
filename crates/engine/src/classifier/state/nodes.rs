//! Nodes: address ownership, Node membership of Node-selector terms, and their events.

use super::alloc;
use super::term_lifecycle::TermMember;
use crate::classifier::terms::{TermDef, remove_sorted};
use crate::classifier::{Classifier, NONE, NodeEntry, Use};
use crate::cluster::{Cluster, PodInfo};
use std::net::IpAddr;

impl Classifier {
    pub(super) fn sync_node_ip(&mut self, cluster: &Cluster, ip: IpAddr) {
        let owner = cluster
            .node_at(ip)
            .and_then(|n| self.node_by_name.get(&n.name).copied());
        match owner {
            Some(i) => self.node_by_ip.insert(ip, i),
            None => self.node_by_ip.remove(&ip),
        };
    }

    pub(super) fn refresh_pod_node_ips(&mut self) {
        let node_by_ip = &self.node_by_ip;
        for p in self.pods.iter_mut().flatten() {
            p.node_at_ip = p
                .info
                .ip
                .and_then(|ip| node_by_ip.get(&ip).copied())
                .unwrap_or(NONE);
        }
        for i in 0..self.pods.len() {
            self.sync_fast(i as u32);
        }
    }

    /// A Node was created, changed or deleted.
    pub fn apply_node(&mut self, cluster: &Cluster, name: &str) {
        let new = cluster.nodes.get(name).cloned();
        let old = self.node_by_name.get(name).copied();
        let mut ips: Vec<IpAddr> = old
            .and_then(|i| self.nodes.get(i as usize).and_then(Option::as_ref))
            .map(|n| n.info.ips.clone())
            .unwrap_or_default();
        let old_ips = ips.clone();
        ips.extend(new.iter().flat_map(|n| n.ips.iter().copied()));
        match (old, new) {
            (Some(i), Some(info)) => {
                if let Some(n) = self.nodes.get_mut(i as usize).and_then(Option::as_mut) {
                    n.info = info;
                }
                self.refresh_node(cluster, i);
            }
            (Some(i), None) => self.destroy_node(i),
            (None, Some(info)) => {
                let id = alloc(
                    &mut self.nodes,
                    &mut self.node_free,
                    NodeEntry {
                        info,
                        terms: Vec::new(),
                    },
                );
                self.node_by_name.insert(name.to_string(), id);
                for d in &mut self.dirs {
                    let any = d.any.clone();
                    d.pnode.set_row(id as usize, &any);
                    let zero = d.zero.clone();
                    d.anode.set_row(id as usize, &zero);
                }
                self.refresh_node(cluster, id);
            }
            (None, None) => return,
        }
        let new_ips: Vec<IpAddr> = cluster
            .nodes
            .get(name)
            .map(|n| n.ips.clone())
            .unwrap_or_default();
        for ip in ips {
            self.sync_node_ip(cluster, ip);
        }
        if new_ips != old_ips {
            self.refresh_pod_node_ips();
        }
        // hostNetwork Pods follow their Node's address.
        let host: Vec<(String, String)> = self
            .pods
            .iter()
            .flatten()
            .filter(|p| p.info.host_network && p.info.node == name)
            .map(|p| (p.info.namespace.clone(), p.info.name.clone()))
            .collect();
        for (ns, pod) in host {
            if let (Some(info), Some(&i)) = (
                cluster.pod(&ns, &pod),
                self.pod_by_name.get(&(ns.clone(), pod.clone())),
            ) {
                if let Some(p) = self.pods.get_mut(i as usize).and_then(Option::as_mut) {
                    p.info = PodInfo {
                        labels: Default::default(),
                        ..info.clone()
                    };
                }
                self.sync_fast(i);
            }
        }
    }

    /// A Node was deleted.
    pub fn remove_node(&mut self, cluster: &Cluster, name: &str) {
        self.apply_node(cluster, name);
    }

    pub(super) fn destroy_node(&mut self, n: u32) {
        let Some(node) = self.nodes.get(n as usize).and_then(Option::as_ref) else {
            return;
        };
        for t in node.terms.clone() {
            if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) {
                remove_sorted(&mut term.nodes, n);
            }
            self.on_node_leave(n, t);
        }
        if let Some(node) = self.nodes.get_mut(n as usize).and_then(Option::take) {
            self.node_by_name.remove(&node.info.name);
        }
        for d in &mut self.dirs {
            let zero = d.zero.clone();
            d.pnode.set_row(n as usize, &zero);
            d.anode.set_row(n as usize, &zero);
        }
        self.node_free.push(n);
    }

    pub(super) fn refresh_node(&mut self, cluster: &Cluster, n: u32) {
        let Some(node) = self.nodes.get(n as usize).and_then(Option::as_ref) else {
            return;
        };
        let new: Vec<u32> = self
            .anchors
            .node_terms
            .iter()
            .copied()
            .filter(|&t| {
                self.term(t)
                    .is_some_and(|term| Self::eval_node(cluster, &term.def, &node.info))
            })
            .collect();
        let old = node.terms.clone();
        self.move_memberships(TermMember::Node(n), &old, &new);
    }

    pub(super) fn is_nodes_term(&self, t: u32) -> bool {
        self.term(t)
            .is_some_and(|x| matches!(x.def, TermDef::Nodes(_)))
    }

    pub(super) fn on_node_join(&mut self, n: u32, t: u32) {
        let Some(uses) = self.term(t).map(|x| x.uses.clone()) else {
            return;
        };
        let nodes_term = self.is_nodes_term(t);
        for u in uses {
            match u {
                Use::Applied(r) if nodes_term && self.rule_active(r) => {
                    if let Some((d, rank)) = self
                        .rules
                        .get(r as usize)
                        .and_then(Option::as_ref)
                        .map(|x| (x.dir, x.rank))
                    {
                        self.dirs[d].anode.set(n as usize, rank as usize);
                    }
                }
                Use::Peer(r) => {
                    if let Some((d, rank)) = self
                        .rules
                        .get(r as usize)
                        .and_then(Option::as_ref)
                        .map(|x| (x.dir, x.rank))
                    {
                        self.dirs[d].pnode.set(n as usize, rank as usize);
                    }
                }
                _ => {}
            }
        }
    }

    pub(super) fn on_node_leave(&mut self, n: u32, t: u32) {
        let Some(uses) = self.term(t).map(|x| x.uses.clone()) else {
            return;
        };
        for u in uses {
            match u {
                Use::Applied(r) => {
                    let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
                        continue;
                    };
                    if !rule
                        .applied
                        .iter()
                        .any(|&t2| self.is_nodes_term(t2) && self.term_has_node(t2, n))
                    {
                        let (d, rank) = (rule.dir, rule.rank as usize);
                        self.dirs[d].anode.clear(n as usize, rank);
                    }
                }
                Use::Peer(r) => {
                    let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
                        continue;
                    };
                    if !rule.peer_any && !rule.peers.iter().any(|&t2| self.term_has_node(t2, n)) {
                        let (d, rank) = (rule.dir, rule.rank as usize);
                        self.dirs[d].pnode.clear(n as usize, rank);
                    }
                }
                Use::Policy(_) => {}
            }
        }
    }
}
