//! The cluster of the dissemination harness, written as a manifests directory: N Nodes, 250
//! Namespaces, 4 Pods per Node (one of each app, in four different Namespaces), 8 ACNPs (DNS,
//! monitoring, same-namespace, web ingress, api-from-web across 25 Namespaces, db-from-api,
//! quarantine, baseline deny) and one ANNP per Namespace (cache from web v1).
//!
//! ```text
//!  Node i: IP 172.16.0.0 + i + 1;  Pod j: Node j/4, app [web, api, db, cache][j % 4],
//!          Namespace (j/4 + 61·(j%4)) mod 250, IP 10.0.0.0 + j + 256, role=monitoring every 200th
//!  files: nodes.yaml, namespaces.yaml, pods-K.yaml (2,000 per file), policies.yaml,
//!         pod_<ns>_<name>.json (the Pod the label change rewrites, alone in its file)
//! ```

use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::path::Path;

pub const NAMESPACES: usize = 250;
pub const APPS: [&str; 4] = ["web", "api", "db", "cache"];

/// The shape of the cluster.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub nodes: usize,
}

pub fn node_name(i: usize) -> String {
    format!("n{i:05}")
}

fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + i as u32 + 1)
}

fn pod_ip(j: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + j as u32 + 256)
}

fn namespace_of(j: usize) -> String {
    format!("ns-{:03}", (j / 4 + 61 * (j % 4)) % NAMESPACES)
}

impl Workload {
    pub fn pods(&self) -> usize {
        self.nodes * 4
    }

    /// Pod `j` as a manifest, with `version` as its version label.
    pub fn pod(&self, j: usize, version: &str) -> Value {
        let mut labels = json!({"app": APPS[j % 4], "version": version});
        if j.is_multiple_of(200) {
            labels["role"] = json!("monitoring");
        }
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("p{j:06}"), "namespace": namespace_of(j), "labels": labels},
            "spec": {"nodeName": node_name(j / 4)},
            "status": {"podIP": pod_ip(j).to_string()}
        })
    }

    /// The Pod whose label the one-Pod change rewrites: a web Pod of `ns-017`.
    pub fn relabelled_pod(&self) -> usize {
        (0..self.pods())
            .find(|j| j.is_multiple_of(4) && namespace_of(*j) == "ns-017")
            .unwrap_or(0)
    }

    fn nodes_doc(&self) -> Vec<Value> {
        (0..self.nodes)
            .map(|i| {
                json!({
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": node_name(i), "labels": {"zone": format!("z{}", i % 3)}},
                    "status": {"addresses": [{"type": "InternalIP", "address": node_ip(i).to_string()}]}
                })
            })
            .collect()
    }

    fn namespaces_doc(&self) -> Vec<Value> {
        (0..NAMESPACES)
            .map(|n| {
                json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": format!("ns-{n:03}"),
                                 "labels": {"team": format!("t{}", n % 10)}}
                })
            })
            .collect()
    }

    fn policies_doc(&self) -> Vec<Value> {
        let acnp = |name: &str, tier: &str, priority: f64, spec: Value| {
            let mut spec = spec;
            spec["tier"] = json!(tier);
            spec["priority"] = json!(priority);
            json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                   "metadata": {"name": name}, "spec": spec})
        };
        let all = json!([{"namespaceSelector": {}}]);
        let mut out = vec![
            acnp(
                "quarantine",
                "securityops",
                1.0,
                json!({"appliedTo": all,
                "ingress": [{"action": "Drop", "from": [{"podSelector": {"matchLabels": {"quarantine": "true"}}, "namespaceSelector": {}}]}],
                "egress": [{"action": "Drop", "to": [{"podSelector": {"matchLabels": {"quarantine": "true"}}, "namespaceSelector": {}}]}]}),
            ),
            acnp(
                "allow-dns",
                "application",
                1.0,
                json!({"appliedTo": all,
                "egress": [{"action": "Allow", "to": [{"ipBlock": {"cidr": "10.96.0.10/32"}}],
                            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}),
            ),
            acnp(
                "monitoring",
                "application",
                2.0,
                json!({"appliedTo": all,
                "ingress": [{"action": "Allow", "from": [{"podSelector": {"matchLabels": {"role": "monitoring"}}, "namespaceSelector": {}}],
                             "ports": [{"protocol": "TCP", "port": 9100}]}]}),
            ),
            acnp(
                "same-namespace",
                "application",
                3.0,
                json!({"appliedTo": all,
                "ingress": [{"action": "Allow", "from": [{"namespaces": {"match": "Self"}}]}]}),
            ),
            acnp(
                "web-ingress",
                "application",
                4.0,
                json!({"appliedTo": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                "ingress": [{"action": "Allow", "from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                             "ports": [{"protocol": "TCP", "port": 443}]}]}),
            ),
            acnp(
                "api-from-web",
                "application",
                5.0,
                json!({"appliedTo": [{"podSelector": {"matchLabels": {"app": "api"}}}],
                "ingress": [{"action": "Allow", "from": [{"podSelector": {"matchLabels": {"app": "web"}},
                                                          "namespaceSelector": {"matchLabels": {"team": "t3"}}}],
                             "ports": [{"protocol": "TCP", "port": 8080}]}]}),
            ),
            acnp(
                "db-from-api",
                "application",
                6.0,
                json!({"appliedTo": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                "ingress": [{"action": "Allow", "from": [{"podSelector": {"matchLabels": {"app": "api"}},
                                                          "namespaces": {"match": "Self"}}],
                             "ports": [{"protocol": "TCP", "port": 5432}]}]}),
            ),
            acnp(
                "default-deny-ingress",
                "baseline",
                1.0,
                json!({"appliedTo": all, "ingress": [{"action": "Drop"}]}),
            ),
        ];
        for n in 0..NAMESPACES {
            out.push(json!({
                "apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
                "metadata": {"name": "cache-from-web", "namespace": format!("ns-{n:03}")},
                "spec": {"tier": "application", "priority": 10,
                         "appliedTo": [{"podSelector": {"matchLabels": {"app": "cache"}}}],
                         "ingress": [{"action": "Allow",
                                      "from": [{"podSelector": {"matchLabels": {"app": "web", "version": "v1"}}}],
                                      "ports": [{"protocol": "TCP", "port": 6379}]}]}
            }));
        }
        out
    }

    /// Writes the manifests into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let write_all = |name: &str, docs: &[Value]| -> anyhow::Result<()> {
            let mut text = String::new();
            for d in docs {
                text.push_str("---\n");
                text.push_str(&serde_json::to_string(d)?);
                text.push('\n');
            }
            std::fs::write(dir.join(name), text)?;
            Ok(())
        };
        write_all("nodes.yaml", &self.nodes_doc())?;
        write_all("namespaces.yaml", &self.namespaces_doc())?;
        write_all("policies.yaml", &self.policies_doc())?;
        let alone = self.relabelled_pod();
        let pods: Vec<Value> = (0..self.pods())
            .filter(|j| *j != alone)
            .map(|j| self.pod(j, "v1"))
            .collect();
        for (k, chunk) in pods.chunks(2000).enumerate() {
            write_all(&format!("pods-{k:03}.yaml"), chunk)?;
        }
        let pod = self.pod(alone, "v1");
        std::fs::write(
            dir.join(format!("pod_{}_p{alone:06}.json", namespace_of(alone))),
            serde_json::to_string_pretty(&pod)?,
        )?;
        Ok(())
    }

    /// Every manifest as objects (for the harness's own engine).
    pub fn objects(&self) -> Vec<Value> {
        let mut all = self.nodes_doc();
        all.extend(self.namespaces_doc());
        all.extend((0..self.pods()).map(|j| self.pod(j, "v1")));
        all.extend(self.policies_doc());
        all
    }

    /// The change that affects every Node: an ACNP applied to every Pod, dropping one address.
    pub fn everywhere_policy(round: usize) -> Value {
        json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": format!("block-{round:03}")},
            "spec": {"tier": "securityops", "priority": 10.0 + round as f64,
                     "appliedTo": [{"namespaceSelector": {}}],
                     "ingress": [{"action": "Drop", "from": [{"ipBlock": {"cidr": format!("192.0.2.{}/32", round % 250 + 1)}}]}]}
        })
    }
}
