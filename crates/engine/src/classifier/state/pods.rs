//! Pods: inserting, moving between identities and Nodes, removing, and the per-Pod fast
//! lookup record.

use super::{alloc, without_labels};
use crate::classifier::{Classifier, FastPod, NONE, PodEntry};
use crate::cluster::{Cluster, PodInfo};
use std::collections::HashSet;
use std::net::IpAddr;

impl Classifier {
    pub(super) fn insert_pod(&mut self, cluster: &Cluster, full: &PodInfo) -> u32 {
        let node_name = self.node_names.id(&full.node);
        let ident = if full.host_network {
            NONE
        } else {
            self.ident_for(cluster, full)
        };
        // Labels live in the identity; the Pod keeps what the query path reads.
        let info = without_labels(full);
        let node_at_ip = info
            .ip
            .and_then(|ip| self.node_by_ip.get(&ip).copied())
            .unwrap_or(NONE);
        let key = (info.namespace.clone(), info.name.clone());
        let idx = alloc(
            &mut self.pods,
            &mut self.pod_free,
            PodEntry {
                info,
                ident,
                node_name,
                node_at_ip,
            },
        );
        self.pod_by_name.insert(key, idx);
        self.sync_fast(idx);
        if ident != NONE {
            if let Some(id) = self.idents.get_mut(ident as usize).and_then(Option::as_mut) {
                id.pods.push(idx);
            }
            self.attach_pod(ident, node_name, 1);
        }
        idx
    }

    pub(super) fn detach_pod(&mut self, idx: u32) {
        let Some((ident, node)) = self
            .pods
            .get(idx as usize)
            .and_then(Option::as_ref)
            .map(|p| (p.ident, p.node_name))
        else {
            return;
        };
        if ident == NONE {
            return;
        }
        self.attach_pod(ident, node, -1);
        let empty = match self.idents.get_mut(ident as usize).and_then(Option::as_mut) {
            Some(id) => {
                id.pods.retain(|&p| p != idx);
                id.pods.is_empty()
            }
            None => false,
        };
        if empty {
            self.destroy_ident(ident);
        }
    }

    pub(super) fn remove_pod_entry(&mut self, idx: u32) {
        self.detach_pod(idx);
        if let Some(p) = self.pods.get_mut(idx as usize).and_then(Option::take) {
            self.pod_by_name.remove(&(p.info.namespace, p.info.name));
            self.pod_free.push(idx);
        }
        self.sync_fast(idx);
    }

    /// Recomputes the compact query-path entry of Pod `idx`.
    pub(super) fn sync_fast(&mut self, idx: u32) {
        let f = match self.pods.get(idx as usize).and_then(Option::as_ref) {
            None => FastPod::DEAD,
            Some(p) => {
                let (v6, key, ipc) = match p.info.ip {
                    Some(ip) => {
                        let (v6, k) = crate::classifier::terms::ip_key(ip);
                        let ipc = if v6 {
                            self.ip6.class_of(k)
                        } else {
                            self.ip4.class_of(k)
                        };
                        (v6, k, ipc as u32)
                    }
                    None => (false, 0, 0),
                };
                let node = if p.info.host_network {
                    self.node_by_name.get(&p.info.node).copied().unwrap_or(NONE)
                } else {
                    p.node_at_ip
                };
                FastPod {
                    key,
                    ident: p.ident,
                    node,
                    ipc,
                    live: true,
                    has_ip: p.info.ip.is_some(),
                    host: p.info.host_network,
                    v6,
                }
            }
        };
        let i = idx as usize;
        if self.pod_fast.len() <= i {
            self.pod_fast.resize(i + 1, FastPod::DEAD);
        }
        self.pod_fast[i] = f;
    }

    pub(super) fn sync_pod_ip(&mut self, cluster: &Cluster, ip: IpAddr) {
        let owner = cluster.pod_at(ip).and_then(|p| {
            self.pod_by_name
                .get(&(p.namespace.clone(), p.name.clone()))
                .copied()
        });
        match owner {
            Some(i) => self.pod_by_ip.insert(ip, i),
            None => self.pod_by_ip.remove(&ip),
        };
    }

    /// A Pod was created, changed (labels, address, Node, ports) or deleted.
    pub fn apply_pod(&mut self, cluster: &Cluster, namespace: &str, name: &str) {
        let key = (namespace.to_string(), name.to_string());
        let new = cluster.pod(namespace, name).cloned();
        let old_idx = self.pod_by_name.get(&key).copied();
        let old_ip = old_idx
            .and_then(|i| self.pods.get(i as usize).and_then(Option::as_ref))
            .and_then(|p| p.info.ip);
        let new_ip = new.as_ref().and_then(|p| p.ip);
        match (old_idx, new) {
            (Some(i), Some(info)) => self.update_pod(cluster, i, info),
            (Some(i), None) => self.remove_pod_entry(i),
            (None, Some(info)) => {
                self.insert_pod(cluster, &info);
            }
            (None, None) => {}
        }
        for ip in [old_ip, new_ip].into_iter().flatten() {
            self.sync_pod_ip(cluster, ip);
        }
    }

    /// A Pod was deleted.
    pub fn remove_pod(&mut self, cluster: &Cluster, namespace: &str, name: &str) {
        if let Some(i) = self
            .pod_by_name
            .get(&(namespace.to_string(), name.to_string()))
            .copied()
        {
            let ip = self
                .pods
                .get(i as usize)
                .and_then(Option::as_ref)
                .and_then(|p| p.info.ip);
            self.remove_pod_entry(i);
            if let Some(ip) = ip {
                self.sync_pod_ip(cluster, ip);
            }
        }
    }

    pub(super) fn update_pod(&mut self, cluster: &Cluster, idx: u32, mut info: PodInfo) {
        let Some(old) = self.pods.get(idx as usize).and_then(Option::as_ref) else {
            return;
        };
        let same_ident = !info.host_network
            && old.ident != NONE
            && self
                .idents
                .get(old.ident as usize)
                .and_then(Option::as_ref)
                .is_some_and(|id| {
                    id.rep.namespace == info.namespace
                        && id.rep.labels == info.labels
                        && id.rep.service_account == info.service_account
                });
        if same_ident {
            let node_name = self.node_names.id(&info.node);
            let (ident, old_node) = (old.ident, old.node_name);
            if node_name != old_node {
                self.attach_pod(ident, old_node, -1);
                self.attach_pod(ident, node_name, 1);
            }
            let node_at_ip = info
                .ip
                .and_then(|ip| self.node_by_ip.get(&ip).copied())
                .unwrap_or(NONE);
            info.labels = Default::default();
            if let Some(p) = self.pods.get_mut(idx as usize).and_then(Option::as_mut) {
                p.info = info;
                p.node_name = node_name;
                p.node_at_ip = node_at_ip;
            }
            self.sync_fast(idx);
            return;
        }
        // Identity changes: join the new one first, so an identity shared with the old one is
        // not torn down and rebuilt.
        let node_name = self.node_names.id(&info.node);
        let ident = if info.host_network {
            NONE
        } else {
            self.ident_for(cluster, &info)
        };
        if ident != NONE {
            if let Some(id) = self.idents.get_mut(ident as usize).and_then(Option::as_mut) {
                id.pods.push(idx);
            }
            self.attach_pod(ident, node_name, 1);
        }
        self.detach_pod(idx);
        let node_at_ip = info
            .ip
            .and_then(|ip| self.node_by_ip.get(&ip).copied())
            .unwrap_or(NONE);
        info.labels = Default::default();
        if let Some(p) = self.pods.get_mut(idx as usize).and_then(Option::as_mut) {
            p.info = info;
            p.ident = ident;
            p.node_name = node_name;
            p.node_at_ip = node_at_ip;
        }
        self.sync_fast(idx);
    }

    /// Every distinct address of Pods (for tests and benches).
    pub fn pod_ips(&self) -> HashSet<IpAddr> {
        self.pods
            .iter()
            .flatten()
            .filter_map(|p| p.info.ip)
            .collect()
    }
}
