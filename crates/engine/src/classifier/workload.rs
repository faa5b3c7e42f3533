//! Synthetic workloads for the classifier's benchmarks and tests: Antrea's
//! `TestInitXLargeScaleWithSmallNamespaces` shape (B1) and a tiered 10k-rule cluster (B5-like
//! `verdict_lookup`). Generators are deterministic (seeded xorshift), build plain `Object`s and
//! never touch the engine, so the time to generate is not part of any measurement.

use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use tierwall_model::load::object_from_value;
use tierwall_model::{Kind, Object};

/// A small deterministic PRNG (xorshift64*), enough for workload shapes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`; returns 0 for `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Lower-case alphanumeric string of length `len`.
    pub fn string(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len())] as char)
            .collect()
    }
}

fn object(kind: Kind, value: Value) -> Object {
    // Generators only build well-formed objects; a malformed one is a bug in this file.
    match object_from_value(kind, value) {
        Ok(o) => o,
        Err((field, message)) => {
            panic!("workload generator built an invalid {kind:?}: {field}: {message}")
        }
    }
}

/// A Namespace with labels.
pub fn namespace(name: &str, labels: Value) -> Object {
    object(
        Kind::Namespace,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
    )
}

/// A Pod with labels, a Node, an address and (optionally) named container ports.
pub fn pod(
    namespace: &str,
    name: &str,
    labels: Value,
    node: &str,
    ip: IpAddr,
    ports: Value,
) -> Object {
    object(
        Kind::Pod,
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports}]},
            "status": {"podIP": ip.to_string()}}),
    )
}

/// A Kubernetes NetworkPolicy from a JSON `spec`.
pub fn k8s_policy(namespace: &str, name: &str, spec: Value) -> Object {
    object(
        Kind::NetworkPolicy,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}),
    )
}

/// An Antrea ClusterNetworkPolicy from a JSON `spec`.
pub fn acnp(name: &str, spec: Value) -> Object {
    object(
        Kind::ClusterNetworkPolicy,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": name}, "spec": spec}),
    )
}

/// An Antrea NetworkPolicy from a JSON `spec`.
pub fn annp(namespace: &str, name: &str, spec: Value) -> Object {
    object(
        Kind::AntreaNetworkPolicy,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}),
    )
}

/// A Tier.
pub fn tier(name: &str, priority: i32) -> Object {
    object(
        Kind::Tier,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier", "metadata": {"name": name}, "spec": {"priority": priority}}),
    )
}

/// A ClusterGroup from a JSON `spec`.
pub fn cluster_group(name: &str, spec: Value) -> Object {
    object(
        Kind::ClusterGroup,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterGroup", "metadata": {"name": name}, "spec": spec}),
    )
}

/// The `n`-th address of `10.0.0.0/8` (skipping nothing: generators keep `n < 2^24`).
pub fn pod_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000u32 | (n as u32 & 0x00FF_FFFF)))
}

/// Objects of one scale scenario, in the order they are ingested.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub namespaces: Vec<Object>,
    pub pods: Vec<Object>,
    pub others: Vec<Object>,
    pub policies: Vec<Object>,
}

impl Workload {
    /// Every object, namespaces first, then pods, other objects, policies.
    pub fn all(&self) -> impl Iterator<Item = &Object> {
        self.namespaces
            .iter()
            .chain(&self.pods)
            .chain(&self.others)
            .chain(&self.policies)
    }

    pub fn len(&self) -> usize {
        self.namespaces.len() + self.pods.len() + self.others.len() + self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Antrea's `TestInitXLargeScaleWithSmallNamespaces` (networkpolicy_controller_perf_test.go):
/// `namespaces` namespaces with a random 8-letter name and label `app=<name>`, each with 4 Pods
/// (`pod1`,`pod2` labelled `app-1=scale-1`, `pod3`,`pod4` labelled `app-2=scale-2`) on one of
/// `nodes` random Node names with random unique addresses, and 3 NetworkPolicies:
/// `default-deny-all` (all Pods, ingress isolation), `np-1` (`app-1=scale-1`, ingress from the same
/// label) and `np-2` (likewise for `app-2=scale-2`). Antrea's figures are for 25,000 namespaces and
/// 1000 Nodes.
pub fn b1_small_namespaces(namespaces: usize, nodes: usize, seed: u64) -> Workload {
    let mut g = B1Generator::new(namespaces, nodes, seed);
    g.next_chunk(namespaces)
}

/// The B1 shape generated a chunk of namespaces at a time (same Node names, addresses unique
/// across chunks), so that a measurement can feed the engine without holding every object twice.
#[derive(Debug, Clone)]
pub struct B1Generator {
    rng: Rng,
    node_names: Vec<String>,
    ip_order: Vec<usize>,
    seen: std::collections::HashSet<String>,
    done: usize,
}

impl B1Generator {
    pub fn new(namespaces: usize, nodes: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let node_names: Vec<String> = (0..nodes.max(1))
            .map(|_| format!("node-{}", rng.string(6)))
            .collect();
        let mut ip_order: Vec<usize> = (0..namespaces * 4).collect();
        for i in (1..ip_order.len()).rev() {
            let j = rng.below(i + 1);
            ip_order.swap(i, j);
        }
        B1Generator {
            rng,
            node_names,
            ip_order,
            seen: Default::default(),
            done: 0,
        }
    }

    /// Whether every namespace was generated.
    pub fn is_done(&self) -> bool {
        self.done * 4 >= self.ip_order.len()
    }

    /// The objects of the next `n` namespaces (fewer at the end).
    pub fn next_chunk(&mut self, n: usize) -> Workload {
        let mut w = Workload::default();
        let end = (self.done + n).min(self.ip_order.len() / 4);
        for k in self.done..end {
            let ns = loop {
                let s = self.rng.string(8);
                if self.seen.insert(s.clone()) {
                    break s;
                }
            };
            w.namespaces.push(namespace(&ns, json!({"app": ns})));
            for (j, (name, key, value)) in [
                ("pod1", "app-1", "scale-1"),
                ("pod2", "app-1", "scale-1"),
                ("pod3", "app-2", "scale-2"),
                ("pod4", "app-2", "scale-2"),
            ]
            .into_iter()
            .enumerate()
            {
                let node = &self.node_names[self.rng.below(self.node_names.len())];
                let ip = pod_ip(self.ip_order[k * 4 + j] + 256);
                w.pods
                    .push(pod(&ns, name, json!({ key: value }), node, ip, json!([])));
            }
            w.policies.push(k8s_policy(
                &ns,
                "default-deny-all",
                json!({"podSelector": {}}),
            ));
            for (name, key, value) in [("np-1", "app-1", "scale-1"), ("np-2", "app-2", "scale-2")] {
                w.policies.push(k8s_policy(
                    &ns,
                    name,
                    json!({"podSelector": {"matchLabels": { key: value }},
                        "ingress": [{"from": [{"podSelector": {"matchLabels": { key: value }}}]}]}),
                ));
            }
        }
        self.done = end;
        w
    }
}

/// A Node with one InternalIP.
pub fn node(name: &str, ip: IpAddr, labels: Value) -> Object {
    object(
        Kind::Node,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": ip.to_string()}]}}),
    )
}

/// Shape of the tiered workload (`tiered`).
#[derive(Debug, Clone, Copy)]
pub struct TieredShape {
    pub namespaces: usize,
    pub pods_per_namespace: usize,
    pub nodes: usize,
    /// Distinct `app` label values (label sets = apps × 3 roles).
    pub apps: usize,
    pub teams: usize,
    pub cluster_groups: usize,
    pub acnps: usize,
    pub rules_per_acnp: usize,
    /// Fraction (percent) of namespaces with Kubernetes NetworkPolicies (default deny + allow).
    pub k8s_percent: usize,
}

impl Default for TieredShape {
    /// 10,000 Antrea rules (1000 ACNPs × 10) over 5 tiers + baseline, 100 namespaces × 20 Pods,
    /// 20 Nodes, 300 label sets, 100 ClusterGroups, Kubernetes NPs in 30% of namespaces.
    fn default() -> Self {
        TieredShape {
            namespaces: 100,
            pods_per_namespace: 20,
            nodes: 20,
            apps: 100,
            teams: 20,
            cluster_groups: 100,
            acnps: 1000,
            rules_per_acnp: 10,
            k8s_percent: 30,
        }
    }
}

/// Destination ports rules and flows use (weighted towards the first ones).
pub const TIERED_PORTS: [u16; 8] = [80, 443, 8080, 9090, 5432, 6379, 3306, 53];
const ROLES: [&str; 3] = ["front", "back", "worker"];
const ENVS: [&str; 3] = ["prod", "dev", "staging"];

/// The address of Pod `j` of namespace `i` in the tiered workload.
pub fn tiered_pod_ip(i: usize, j: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        10,
        1 + (i / 256) as u8,
        (i % 256) as u8,
        10 + j as u8,
    ))
}

/// A tiered cluster in the spirit of performance-anchors B2/B5: ACNPs in `emergency`,
/// `securityops`, `networkops`, `platform`, `application` and `baseline` (Pass rules included),
/// peers 40% Pod+Namespace selectors, 20% ClusterGroups, 20% ipBlocks with except, 10%
/// port-only, 10% Namespace selectors; Kubernetes NetworkPolicies (default deny ingress plus a
/// same-namespace allow) in part of the namespaces.
pub fn tiered(shape: TieredShape, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut w = Workload::default();
    for n in 0..shape.nodes {
        w.others.push(node(
            &format!("node-{n}"),
            IpAddr::V4(Ipv4Addr::new(172, 20, 0, 10 + n as u8)),
            json!({"zone": format!("z{}", n % 3)}),
        ));
    }
    for i in 0..shape.namespaces {
        let ns = format!("ns-{i}");
        w.namespaces.push(namespace(
            &ns,
            json!({"team": format!("team-{}", i % shape.teams), "env": ENVS[i % 3]}),
        ));
        for j in 0..shape.pods_per_namespace {
            let app = format!("app-{}", rng.below(shape.apps));
            let role = ROLES[rng.below(3)];
            let node = format!("node-{}", rng.below(shape.nodes));
            w.pods.push(pod(
                &ns,
                &format!("pod-{j}"),
                json!({"app": app, "role": role}),
                &node,
                tiered_pod_ip(i, j),
                json!([{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]),
            ));
        }
    }
    for g in 0..shape.cluster_groups {
        let spec = if g % 5 < 3 {
            json!({"podSelector": {"matchLabels": {"app": format!("app-{}", rng.below(shape.apps))}},
                "namespaceSelector": {"matchLabels": {"team": format!("team-{}", rng.below(shape.teams))}}})
        } else {
            json!({"ipBlocks": [{"cidr": format!("10.200.{}.0/24", g % 256), "except": [format!("10.200.{}.128/26", g % 256)]}]})
        };
        w.others.push(cluster_group(&format!("cg-{g}"), spec));
    }
    // Tier of each ACNP: 5% emergency, 10% securityops, 15% networkops, 20% platform,
    // 40% application, 10% baseline.
    let tier_of = |n: usize| match n % 20 {
        0 => "emergency",
        1 | 2 => "securityops",
        3..=5 => "networkops",
        6..=9 => "platform",
        10..=17 => "application",
        _ => "baseline",
    };
    for n in 0..shape.acnps {
        let tier = tier_of(n);
        let applied = match rng.below(10) {
            0..=4 => {
                json!([{"namespaceSelector": {"matchLabels": {"team": format!("team-{}", rng.below(shape.teams))}}}])
            }
            5..=7 => {
                json!([{"podSelector": {"matchLabels": {"app": format!("app-{}", rng.below(shape.apps))}},
                "namespaceSelector": {"matchLabels": {"env": ENVS[rng.below(3)]}}}])
            }
            _ => json!([{"podSelector": {"matchLabels": {"role": ROLES[rng.below(3)]}}}]),
        };
        let mut ingress = Vec::new();
        let mut egress = Vec::new();
        for _ in 0..shape.rules_per_acnp {
            let is_ingress = rng.below(2) == 0;
            let action = if tier == "baseline" {
                if rng.below(10) < 3 { "Allow" } else { "Drop" }
            } else {
                match rng.below(20) {
                    0..=10 => "Allow",
                    11..=14 => "Drop",
                    15..=17 => "Pass",
                    _ => "Reject",
                }
            };
            let peers = match rng.below(10) {
                0..=3 => {
                    json!([{"podSelector": {"matchLabels": {"app": format!("app-{}", rng.below(shape.apps))}},
                    "namespaceSelector": {"matchLabels": {"team": format!("team-{}", rng.below(shape.teams))}}}])
                }
                4 | 5 => {
                    json!([{"group": format!("cg-{}", rng.below(shape.cluster_groups.max(1)))}])
                }
                6 | 7 => {
                    let k = rng.below(64);
                    json!([{"ipBlock": {"cidr": format!("10.{}.0.0/16", 100 + k), "except": [format!("10.{}.{}.0/24", 100 + k, rng.below(256))]}}])
                }
                8 => json!([]),
                _ => json!([{"namespaceSelector": {"matchLabels": {"env": ENVS[rng.below(3)]}}}]),
            };
            let ports = match rng.below(20) {
                0..=13 => {
                    json!([{"protocol": "TCP", "port": TIERED_PORTS[rng.below(4) + rng.below(5)]}])
                }
                14 | 15 => json!([{"protocol": "TCP", "port": 30000, "endPort": 32767}]),
                16 => json!([{"protocol": "TCP", "port": "http"}]),
                _ => json!([]),
            };
            let key = if is_ingress { "from" } else { "to" };
            let mut rule = json!({"action": action, key: peers});
            if ports.as_array().is_some_and(|a| !a.is_empty()) {
                rule["ports"] = ports;
            }
            if is_ingress {
                ingress.push(rule)
            } else {
                egress.push(rule)
            }
        }
        w.policies.push(acnp(
            &format!("acnp-{n}"),
            json!({"tier": tier, "priority": 1 + (n % 97), "appliedTo": applied, "ingress": ingress, "egress": egress}),
        ));
    }
    for i in 0..shape.namespaces {
        if (i * 37) % 100 >= shape.k8s_percent {
            continue;
        }
        let ns = format!("ns-{i}");
        w.policies.push(k8s_policy(
            &ns,
            "default-deny-ingress",
            json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
        ));
        w.policies.push(k8s_policy(
            &ns,
            "allow-same-namespace",
            json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}]}),
        ));
        w.policies.push(k8s_policy(
            &ns,
            "allow-front",
            json!({"podSelector": {"matchLabels": {"role": "front"}},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}}], "ports": [{"protocol": "TCP", "port": 443}]}]}),
        ));
    }
    w
}
