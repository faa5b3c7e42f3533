//! Random policy sets for the standard scenario cluster (Namespaces x/y/z with labels
//! `ns`/`kubernetes.io/metadata.name`, Pods a/b/c with `pod`/`app`, Nodes node-0..2, one
//! external): Antrea ClusterNetworkPolicies and NetworkPolicies in system, baseline and a
//! custom Tier, Kubernetes NetworkPolicies, ClusterGroups and a Group, built from a seed.
//!
//! Adapted from the classifier property tests' generator (`crates/engine/tests/
//! classifier_common`), which targets its own two-Node cluster and proptest strategies; this
//! one picks from the standard cluster's labels, addresses and declared ports (named ports
//! `serve-<port>-<proto>` and `serve-<port>`), so rules select real Pods of the testbed, and it
//! is driven by a small deterministic generator so a failing seed can be replayed.

use serde_json::{Value, json};
use tierwall_model::Kind;

/// SplitMix64: small, fast, deterministic for a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
pub const CUSTOM_TIER: &str = "tw-random";
/// Tiers of Antrea-native policies (system Tiers, the baseline Tier and a custom one).
const TIERS: [&str; 7] = [
    "emergency",
    "securityops",
    CUSTOM_TIER,
    "networkops",
    "platform",
    "application",
    "baseline",
];
const ACTIONS: [&str; 4] = ["Allow", "Drop", "Reject", "Pass"];
const CLUSTER_GROUPS: [&str; 3] = ["rnd-cg-pods", "rnd-cg-ips", "rnd-cg-nested"];
const GROUP_X: &str = "rnd-grp-x";

/// One generated object: its kind and manifest.
#[derive(Debug, Clone)]
pub struct Generated {
    pub kind: Kind,
    pub manifest: Value,
}

impl Generated {
    fn new(kind: Kind, manifest: Value) -> Self {
        Generated { kind, manifest }
    }
}

fn pod_selector(r: &mut Rng) -> Value {
    match r.below(7) {
        0 => json!({"matchLabels": {"pod": r.pick(&["a", "b", "c"])}}),
        1 => json!({"matchLabels": {"app": r.pick(&["a", "b", "c"])}}),
        2 => json!({"matchExpressions": [{"key": "pod", "operator": "In", "values": ["a", "c"]}]}),
        3 => json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["b"]}]}),
        4 => json!({"matchExpressions": [{"key": "pod", "operator": "Exists"}]}),
        5 => {
            json!({"matchLabels": {"pod": "b"}, "matchExpressions": [{"key": "app", "operator": "In", "values": ["b", "c"]}]})
        }
        _ => json!({}),
    }
}

fn ns_selector(r: &mut Rng) -> Value {
    match r.below(5) {
        0 => json!({"matchLabels": {"ns": r.pick(&NAMESPACES)}}),
        1 => json!({"matchLabels": {"kubernetes.io/metadata.name": r.pick(&NAMESPACES)}}),
        2 => json!({"matchExpressions": [{"key": "ns", "operator": "In", "values": ["y", "z"]}]}),
        3 => json!({"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}),
        _ => json!({}),
    }
}

/// ipBlocks over Pod addresses (10.10.<ns>.<11..13>), Node addresses and the external.
fn ip_block(r: &mut Rng) -> Value {
    match r.below(9) {
        0 => json!({"cidr": "10.10.0.0/16", "except": ["10.10.2.0/24"]}),
        1 => json!({"cidr": "10.10.1.0/24"}),
        2 => json!({"cidr": "10.10.3.13/32"}),
        3 => json!({"cidr": "10.10.1.0/24", "except": ["10.10.1.12/32"]}),
        4 => json!({"cidr": "172.18.0.0/16"}),
        5 => json!({"cidr": "192.168.100.0/24"}),
        6 => json!({"cidr": "0.0.0.0/0", "except": ["10.10.0.0/16"]}),
        7 => json!({"cidr": "10.10.2.0/23", "except": ["10.10.3.0/25", "10.10.2.11/32"]}),
        _ => json!({"cidr": "0.0.0.0/0"}),
    }
}

fn node_selector(r: &mut Rng) -> Value {
    match r.below(3) {
        0 => {
            json!({"matchLabels": {"kubernetes.io/hostname": r.pick(&["node-0", "node-1", "node-2"])}})
        }
        1 => {
            json!({"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]})
        }
        _ => json!({"matchLabels": {"kubernetes.io/os": "linux"}}),
    }
}

/// A peer of an Antrea-native rule; `cluster` = of an ACNP (more peer kinds), else of an ANNP
/// in `namespace`.
fn antrea_peer(r: &mut Rng, cluster: bool, namespace: &str) -> Value {
    let kinds = if cluster { 9 } else { 5 };
    match r.below(kinds) {
        0 => json!({"podSelector": pod_selector(r)}),
        1 => json!({"namespaceSelector": ns_selector(r)}),
        2 => json!({"podSelector": pod_selector(r), "namespaceSelector": ns_selector(r)}),
        3 => json!({"ipBlock": ip_block(r)}),
        4 if cluster => json!({"group": r.pick(&CLUSTER_GROUPS)}),
        // An Antrea NetworkPolicy's `group` is a Group of its own Namespace.
        4 if namespace == "x" => json!({"group": GROUP_X}),
        4 => json!({"podSelector": pod_selector(r)}),
        5 => json!({"podSelector": pod_selector(r), "namespaces": {"match": "Self"}}),
        6 => json!({"nodeSelector": node_selector(r)}),
        7 => json!({"group": r.pick(&CLUSTER_GROUPS)}),
        _ => json!({"podSelector": pod_selector(r), "namespaceSelector": {}}),
    }
}

/// One port entry (`ports` of an Antrea-native or Kubernetes rule).
fn port_entry(r: &mut Rng) -> Value {
    match r.below(12) {
        0 => json!({"protocol": "TCP", "port": 80}),
        1 => {
            json!({"protocol": "TCP", "port": r.pick(&["serve-80-tcp", "serve-8082", "serve-81"])})
        }
        2 => json!({"protocol": "TCP", "port": 8080, "endPort": 8086}),
        3 => json!({"protocol": "TCP", "port": 81, "endPort": 8082}),
        4 => json!({"protocol": "UDP", "port": 80}),
        5 => json!({"protocol": "UDP", "port": "serve-81-udp"}),
        6 => json!({"protocol": "UDP", "port": 80, "endPort": 81}),
        7 => json!({"protocol": "TCP"}),
        8 => json!({"protocol": "TCP", "port": 8086}),
        9 => json!({"protocol": "SCTP", "port": 80}),
        10 => json!({"protocol": "UDP"}),
        _ => json!({"protocol": "TCP", "port": 8085}),
    }
}

/// `ports` (and `protocols`, for ICMP) of an Antrea-native rule.
fn antrea_ports(r: &mut Rng, rule: &mut Value) {
    match r.below(6) {
        0 => {}
        1 => rule["protocols"] = json!([{"icmp": {"icmpType": 8, "icmpCode": 0}}]),
        2 => rule["protocols"] = json!([{"icmp": {}}]),
        3 => rule["ports"] = json!([port_entry(r), port_entry(r)]),
        _ => rule["ports"] = json!([port_entry(r)]),
    }
}

fn acnp_applied_to(r: &mut Rng) -> Value {
    match r.below(5) {
        0 => json!([{"podSelector": pod_selector(r)}]),
        1 => json!([{"namespaceSelector": ns_selector(r)}]),
        2 => json!([{"podSelector": pod_selector(r), "namespaceSelector": ns_selector(r)}]),
        3 => json!([{"group": r.pick(&["rnd-cg-pods", "rnd-cg-nested"])}]),
        _ => json!([{"podSelector": pod_selector(r)}, {"namespaceSelector": ns_selector(r)}]),
    }
}

fn annp_applied_to(r: &mut Rng, namespace: &str) -> Value {
    match r.below(3) {
        0 if namespace == "x" => json!([{"group": GROUP_X}]),
        0 | 1 => json!([{"podSelector": pod_selector(r)}]),
        _ => json!([{"podSelector": {}}]),
    }
}

fn antrea_rule(r: &mut Rng, cluster: bool, namespace: &str, ingress: bool) -> Value {
    let peers: Vec<Value> = (0..r.below(3))
        .map(|_| antrea_peer(r, cluster, namespace))
        .collect();
    let key = if ingress { "from" } else { "to" };
    let mut rule = json!({"action": r.pick(&ACTIONS), key: peers});
    antrea_ports(r, &mut rule);
    if r.chance(15) {
        rule["enableLogging"] = json!(true);
    }
    rule
}

fn priority(r: &mut Rng) -> Value {
    if r.chance(25) {
        json!(1.5 + r.below(4) as f64)
    } else {
        json!(1 + r.below(8))
    }
}

fn acnp(r: &mut Rng, index: usize) -> Generated {
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    let per_rule = r.chance(25);
    for _ in 0..1 + r.below(3) {
        let is_ingress = r.chance(50);
        let mut rule = antrea_rule(r, true, "", is_ingress);
        if per_rule {
            rule["appliedTo"] = acnp_applied_to(r);
        }
        if is_ingress {
            ingress.push(rule);
        } else {
            egress.push(rule);
        }
    }
    let mut spec = json!({"priority": priority(r), "ingress": ingress, "egress": egress});
    if !per_rule {
        spec["appliedTo"] = acnp_applied_to(r);
    }
    let tier = *r.pick(&TIERS);
    if tier != "application" || r.chance(50) {
        spec["tier"] = json!(tier);
    }
    Generated::new(
        Kind::ClusterNetworkPolicy,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": format!("rnd-acnp-{index}")}, "spec": spec}),
    )
}

fn annp(r: &mut Rng, index: usize) -> Generated {
    let namespace = *r.pick(&NAMESPACES);
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    for _ in 0..1 + r.below(2) {
        let is_ingress = r.chance(50);
        let rule = antrea_rule(r, false, namespace, is_ingress);
        if is_ingress {
            ingress.push(rule);
        } else {
            egress.push(rule);
        }
    }
    let mut spec = json!({"priority": priority(r), "appliedTo": annp_applied_to(r, namespace),
        "ingress": ingress, "egress": egress});
    spec["tier"] = json!(r.pick(&TIERS));
    Generated::new(
        Kind::AntreaNetworkPolicy,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("rnd-annp-{index}"), "namespace": namespace}, "spec": spec}),
    )
}

fn k8s_peer(r: &mut Rng) -> Value {
    match r.below(4) {
        0 => json!({"podSelector": pod_selector(r)}),
        1 => json!({"namespaceSelector": ns_selector(r)}),
        2 => json!({"podSelector": pod_selector(r), "namespaceSelector": ns_selector(r)}),
        _ => json!({"ipBlock": ip_block(r)}),
    }
}

fn k8s_netpol(r: &mut Rng, index: usize) -> Generated {
    let namespace = *r.pick(&NAMESPACES);
    let (mut ingress, mut egress) = (Vec::new(), Vec::new());
    for _ in 0..r.below(3) {
        let peers: Vec<Value> = (0..r.below(3)).map(|_| k8s_peer(r)).collect();
        let ports: Vec<Value> = (0..r.below(3)).map(|_| port_entry(r)).collect();
        if r.chance(50) {
            ingress.push(json!({"from": peers, "ports": ports}));
        } else {
            egress.push(json!({"to": peers, "ports": ports}));
        }
    }
    let mut spec = json!({"podSelector": pod_selector(r), "ingress": ingress, "egress": egress});
    match r.below(4) {
        0 => {}
        1 => spec["policyTypes"] = json!(["Ingress"]),
        2 => spec["policyTypes"] = json!(["Egress"]),
        _ => spec["policyTypes"] = json!(["Ingress", "Egress"]),
    }
    Generated::new(
        Kind::NetworkPolicy,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("rnd-netpol-{index}"), "namespace": namespace}, "spec": spec}),
    )
}

fn cluster_group(name: &str, spec: Value) -> Generated {
    Generated::new(
        Kind::ClusterGroup,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterGroup",
            "metadata": {"name": name}, "spec": spec}),
    )
}

/// The groups policies may reference, then the custom Tier, then 3–7 policies; in apply order.
pub fn round(seed: u64) -> Vec<Generated> {
    let mut r = Rng::new(seed);
    let mut out = Vec::new();
    let pods_spec = match r.below(3) {
        0 => json!({"podSelector": pod_selector(&mut r)}),
        1 => json!({"namespaceSelector": ns_selector(&mut r)}),
        _ => json!({"podSelector": pod_selector(&mut r), "namespaceSelector": ns_selector(&mut r)}),
    };
    out.push(cluster_group(CLUSTER_GROUPS[0], pods_spec));
    let ips = [ip_block(&mut r), ip_block(&mut r)];
    out.push(cluster_group(
        CLUSTER_GROUPS[1],
        json!({"ipBlocks": ips[..1 + r.below(2)]}),
    ));
    out.push(cluster_group(
        CLUSTER_GROUPS[2],
        json!({"childGroups": [CLUSTER_GROUPS[0], CLUSTER_GROUPS[1]]}),
    ));
    let group_x = match r.below(2) {
        0 => json!({"podSelector": pod_selector(&mut r)}),
        _ => json!({"ipBlocks": [ip_block(&mut r)]}),
    };
    out.push(Generated::new(
        Kind::Group,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Group",
            "metadata": {"name": GROUP_X, "namespace": "x"}, "spec": group_x}),
    ));
    out.push(Generated::new(
        Kind::Tier,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier",
            "metadata": {"name": CUSTOM_TIER}, "spec": {"priority": 120}}),
    ));
    for index in 0..3 + r.below(5) {
        let p = match r.below(10) {
            0..=4 => acnp(&mut r, index),
            5..=7 => annp(&mut r, index),
            _ => k8s_netpol(&mut r, index),
        };
        out.push(p);
    }
    out
}

/// The TCP port probed as declared (every standard Pod serves it) in a round.
pub fn declared_tcp_port(seed: u64) -> u16 {
    [80, 81, 8080, 8082, 8085][(seed % 5) as usize]
}

/// The UDP port probed in a round (declared and served).
pub fn udp_port(seed: u64) -> u16 {
    [80, 81][(seed % 2) as usize]
}

/// A TCP port no standard Pod declares (inside some generated port ranges).
pub const UNDECLARED_TCP_PORT: u16 = 8086;
