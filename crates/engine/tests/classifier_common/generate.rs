//! Random inputs of the classifier property tests: the proptest strategies for small clusters
//! (`ClusterSpec`), policies (`PolicySpec`) and filler policies (`FillerSpec`), and the JSON
//! objects they become.

use proptest::prelude::*;
use serde_json::{Value, json};
use tierwall_model::load::object_from_value;
use tierwall_model::{Kind, Object};

pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
pub const PODS: [&str; 3] = ["a", "b", "c"];
pub const APPS: [&str; 3] = ["web", "db", "api"];
pub const TIERS: [&str; 5] = [
    "emergency",
    "securityops",
    "application",
    "baseline",
    "custom",
];
pub const ACTIONS: [&str; 4] = ["Allow", "Drop", "Reject", "Pass"];

/// Number of proptest cases: `PROPTEST_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn obj(kind: Kind, v: Value) -> Object {
    object_from_value(kind, v).expect("test object is well-formed")
}

pub fn namespace(name: &str, env: &str, org: &str) -> Object {
    obj(
        Kind::Namespace,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"env": env, "org": org}}}),
    )
}

/// Pod `p` of namespace `ns`: labels `app`, service account, named ports `http` (80 or 81/TCP)
/// and `dns` (53/UDP). Pod `c` of namespace `z` is hostNetwork when `host` is set.
pub fn pod(ns: usize, p: usize, app: &str, sa: &str, alt_port: bool, host: bool) -> Object {
    let http = if alt_port { 81 } else { 80 };
    let mut spec = json!({"nodeName": format!("node-{}", (ns + p) % 2), "serviceAccountName": sa,
        "containers": [{"name": "c", "ports": [
            {"name": "http", "containerPort": http}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]});
    let mut status = json!({"podIP": format!("10.1.{ns}.{}", p + 10)});
    if host {
        spec["hostNetwork"] = json!(true);
        status = json!({});
    }
    obj(
        Kind::Pod,
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": PODS[p], "namespace": NAMESPACES[ns], "labels": {"app": app, "tier": if p == 0 {"front"} else {"back"}}},
            "spec": spec, "status": status}),
    )
}

pub fn node(i: usize, zone: &str) -> Object {
    obj(
        Kind::Node,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i}"), "labels": {"zone": zone}},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", i + 2)}]}}),
    )
}

pub fn service(app: &str, node_port: bool) -> Object {
    let mut spec = json!({"clusterIP": "10.96.0.10", "selector": {"app": app}, "ports": [{"port": 8080, "targetPort": 80}]});
    if node_port {
        spec["type"] = json!("NodePort");
        spec["ports"] = json!([{"port": 8080, "targetPort": 80, "nodePort": 30080}]);
    }
    obj(
        Kind::Service,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "x"}, "spec": spec}),
    )
}

pub fn tier_custom() -> Object {
    obj(
        Kind::Tier,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier", "metadata": {"name": "custom"}, "spec": {"priority": 120}}),
    )
}

/// A label selector over `app` (index 3 = `{}`, 4 = `app In (web, db)`, 5 = `app NotIn (web)`,
/// 6 = `tier Exists`).
pub fn selector(choice: u8) -> Value {
    match choice % 7 {
        c @ 0..=2 => json!({"matchLabels": {"app": APPS[c as usize]}}),
        3 => json!({}),
        4 => {
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]})
        }
        5 => json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
        _ => {
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}], "matchLabels": {"tier": "back"}})
        }
    }
}

pub fn ns_selector(choice: u8) -> Value {
    match choice % 4 {
        0 => json!({"matchLabels": {"env": "prod"}}),
        1 => json!({"matchLabels": {"env": "dev"}}),
        2 => json!({}),
        _ => json!({"matchLabels": {"kubernetes.io/metadata.name": "y"}}),
    }
}

pub fn ip_block(choice: u8) -> Value {
    match choice % 5 {
        0 => json!({"cidr": "10.1.0.0/16", "except": ["10.1.1.0/24"]}),
        1 => json!({"cidr": "10.1.0.0/22", "except": ["10.1.0.10/32", "10.1.2.0/25"]}),
        2 => json!({"cidr": "172.18.0.0/24"}),
        3 => json!({"cidr": "0.0.0.0/0", "except": ["10.1.2.0/24"]}),
        _ => json!({"cidr": "192.0.2.0/24"}),
    }
}

/// An Antrea peer.
pub fn antrea_peer(kind: u8, a: u8, b: u8) -> Value {
    match kind % 11 {
        0 => json!({"podSelector": selector(a)}),
        1 => json!({"namespaceSelector": ns_selector(b)}),
        2 => json!({"podSelector": selector(a), "namespaceSelector": ns_selector(b)}),
        3 => json!({"ipBlock": ip_block(a)}),
        4 => json!({"group": if b.is_multiple_of(2) {"g1"} else {"g2"}}),
        5 => json!({"podSelector": selector(a), "namespaces": {"match": "Self"}}),
        6 => json!({"namespaces": {"sameLabels": ["env"]}}),
        7 => {
            json!({"nodeSelector": {"matchLabels": {"zone": if a.is_multiple_of(2) {"a"} else {"b"}}}})
        }
        8 => {
            json!({"serviceAccount": {"name": if a.is_multiple_of(2) {"sa1"} else {"default"}, "namespace": NAMESPACES[(b % 3) as usize]}})
        }
        9 => {
            json!({"fqdn": if a.is_multiple_of(2) {"svc.x.svc.cluster.local"} else {"*.example.com"}})
        }
        _ => json!({"podSelector": selector(a), "namespaceSelector": {}}),
    }
}

/// Antrea ports/protocols of a rule.
pub fn antrea_ports(choice: u8) -> (Value, Value) {
    match choice % 9 {
        0 => (json!([]), json!([])),
        1 => (json!([{"protocol": "TCP", "port": 80}]), json!([])),
        2 => (json!([{"protocol": "TCP", "port": "http"}]), json!([])),
        3 => (
            json!([{"protocol": "UDP", "port": 50, "endPort": 60}]),
            json!([]),
        ),
        4 => (
            json!([{"protocol": "TCP", "port": 80, "sourcePort": 1000, "sourceEndPort": 2000}]),
            json!([]),
        ),
        5 => (json!([]), json!([{"icmp": {"icmpType": 8, "icmpCode": 0}}])),
        6 => (json!([]), json!([{"icmp": {}}])),
        7 => (
            json!([{"protocol": "SCTP"}, {"protocol": "UDP", "port": "dns"}]),
            json!([]),
        ),
        _ => (
            json!([{"protocol": "TCP", "port": 79, "endPort": 81}]),
            json!([]),
        ),
    }
}

pub fn k8s_ports(choice: u8) -> Value {
    match choice % 5 {
        0 => json!([]),
        1 => json!([{"protocol": "TCP", "port": 80}]),
        2 => json!([{"port": "http"}]),
        3 => json!([{"protocol": "UDP", "port": 50, "endPort": 60}]),
        _ => json!([{"protocol": "UDP", "port": "dns"}, {"protocol": "SCTP", "port": 80}]),
    }
}

pub fn k8s_peer(kind: u8, a: u8, b: u8) -> Value {
    match kind % 4 {
        0 => json!({"podSelector": selector(a)}),
        1 => json!({"namespaceSelector": ns_selector(b)}),
        2 => json!({"podSelector": selector(a), "namespaceSelector": ns_selector(b)}),
        _ => json!({"ipBlock": ip_block(a)}),
    }
}

/// Parameters of one random rule.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub ingress: bool,
    pub action: u8,
    pub peers: Vec<(u8, u8, u8)>,
    pub ports: u8,
    pub applied: Option<u8>,
}

pub fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        any::<bool>(),
        0..4u8,
        prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..3),
        any::<u8>(),
        prop::option::weighted(0.2, any::<u8>()),
    )
        .prop_map(|(ingress, action, peers, ports, applied)| RuleSpec {
            ingress,
            action,
            peers,
            ports,
            applied,
        })
}

/// One Kubernetes NetworkPolicy rule: ingress?, peers (kind, a, b), ports choice.
pub type K8sRuleSpec = (bool, Vec<(u8, u8, u8)>, u8);

/// Parameters of one random policy.
#[derive(Debug, Clone)]
pub enum PolicySpec {
    Acnp {
        name: u8,
        tier: u8,
        priority: u8,
        applied: u8,
        rules: Vec<RuleSpec>,
    },
    Annp {
        name: u8,
        ns: u8,
        priority: u8,
        applied: u8,
        rules: Vec<RuleSpec>,
    },
    K8s {
        name: u8,
        ns: u8,
        selector: u8,
        types: u8,
        rules: Vec<K8sRuleSpec>,
    },
}

pub fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    prop_oneof![
        (
            0..6u8,
            0..5u8,
            1..6u8,
            any::<u8>(),
            prop::collection::vec(rule_spec(), 1..4)
        )
            .prop_map(|(name, tier, priority, applied, rules)| PolicySpec::Acnp {
                name,
                tier,
                priority,
                applied,
                rules
            }),
        (
            0..3u8,
            0..3u8,
            1..6u8,
            any::<u8>(),
            prop::collection::vec(rule_spec(), 1..3)
        )
            .prop_map(|(name, ns, priority, applied, rules)| PolicySpec::Annp {
                name,
                ns,
                priority,
                applied,
                rules
            }),
        (
            0..3u8,
            0..3u8,
            any::<u8>(),
            0..4u8,
            prop::collection::vec(
                (
                    any::<bool>(),
                    prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 0..3),
                    any::<u8>()
                ),
                0..3
            )
        )
            .prop_map(|(name, ns, selector, types, rules)| PolicySpec::K8s {
                name,
                ns,
                selector,
                types,
                rules
            }),
    ]
}

fn applied_to(choice: u8, cluster: bool) -> Value {
    if cluster {
        match choice % 6 {
            0 => json!([{"podSelector": selector(choice / 6)}]),
            1 => json!([{"namespaceSelector": ns_selector(choice / 6)}]),
            2 => {
                json!([{"podSelector": selector(choice / 6), "namespaceSelector": ns_selector(choice / 7)}])
            }
            3 => json!([{"group": "g1"}]),
            4 => json!([{"nodeSelector": {"matchLabels": {"zone": "a"}}}]),
            _ => json!([{"serviceAccount": {"name": "sa1", "namespace": "x"}}]),
        }
    } else {
        match choice % 3 {
            0 => json!([{"podSelector": selector(choice / 3)}]),
            1 => json!([{"group": "gx"}]),
            _ => json!([{"podSelector": {}}]),
        }
    }
}

fn antrea_rule(r: &RuleSpec, cluster: bool, per_rule_applied: Option<u8>) -> (bool, Value) {
    let (ports, protocols) = antrea_ports(r.ports);
    // Antrea NetworkPolicies have no `namespaces`, `serviceAccount`, `nodeSelector` peers.
    const ANNP_PEERS: [u8; 6] = [0, 1, 2, 3, 4, 10];
    let peers: Vec<Value> = r
        .peers
        .iter()
        .map(|&(k, a, b)| {
            antrea_peer(
                if cluster {
                    k
                } else {
                    ANNP_PEERS[k as usize % 6]
                },
                a,
                b,
            )
        })
        .collect();
    let key = if r.ingress { "from" } else { "to" };
    let mut rule = json!({"action": ACTIONS[r.action as usize % 4], key: peers});
    if ports.as_array().is_some_and(|a| !a.is_empty()) {
        rule["ports"] = ports;
    }
    if protocols.as_array().is_some_and(|a| !a.is_empty()) {
        rule["protocols"] = protocols;
    }
    if let (Some(a), true) = (per_rule_applied, cluster) {
        rule["appliedTo"] = applied_to(r.applied.unwrap_or(a), true);
    }
    (r.ingress, rule)
}

/// The object of a policy spec.
pub fn policy_object(p: &PolicySpec) -> Object {
    match p {
        PolicySpec::Acnp {
            name,
            tier,
            priority,
            applied,
            rules,
        } => {
            let (mut ingress, mut egress) = (vec![], vec![]);
            // Either every rule has its own appliedTo or none has (admission).
            let per_rule = rules.first().is_some_and(|r| r.applied.is_some());
            for r in rules {
                let (is_in, rule) = antrea_rule(r, true, per_rule.then_some(*applied));
                if is_in {
                    ingress.push(rule)
                } else {
                    egress.push(rule)
                }
            }
            let mut spec = json!({"tier": TIERS[*tier as usize % 5], "priority": priority, "ingress": ingress, "egress": egress});
            if !per_rule {
                spec["appliedTo"] = applied_to(*applied, true);
            }
            obj(
                Kind::ClusterNetworkPolicy,
                json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": format!("p{name}")}, "spec": spec}),
            )
        }
        PolicySpec::Annp {
            name,
            ns,
            priority,
            applied,
            rules,
        } => {
            let (mut ingress, mut egress) = (vec![], vec![]);
            for r in rules {
                let (is_in, rule) = antrea_rule(r, false, None);
                if is_in {
                    ingress.push(rule)
                } else {
                    egress.push(rule)
                }
            }
            let spec = json!({"priority": priority, "appliedTo": applied_to(*applied, false), "ingress": ingress, "egress": egress});
            obj(
                Kind::AntreaNetworkPolicy,
                json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
                    "metadata": {"name": format!("a{name}"), "namespace": NAMESPACES[*ns as usize % 3]}, "spec": spec}),
            )
        }
        PolicySpec::K8s {
            name,
            ns,
            selector: sel,
            types,
            rules,
        } => {
            let mut spec = json!({"podSelector": selector(*sel)});
            let (mut ingress, mut egress) = (vec![], vec![]);
            for (is_in, peers, ports) in rules {
                let peers: Vec<Value> = peers.iter().map(|&(k, a, b)| k8s_peer(k, a, b)).collect();
                if *is_in {
                    ingress.push(json!({"from": peers, "ports": k8s_ports(*ports)}));
                } else {
                    egress.push(json!({"to": peers, "ports": k8s_ports(*ports)}));
                }
            }
            spec["ingress"] = json!(ingress);
            spec["egress"] = json!(egress);
            match types % 4 {
                0 => {}
                1 => spec["policyTypes"] = json!(["Ingress"]),
                2 => spec["policyTypes"] = json!(["Egress"]),
                _ => spec["policyTypes"] = json!(["Ingress", "Egress"]),
            }
            obj(
                Kind::NetworkPolicy,
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": format!("k{name}"), "namespace": NAMESPACES[*ns as usize % 3]}, "spec": spec}),
            )
        }
    }
}

pub fn group_object(choice: u8) -> Object {
    let spec = match choice % 6 {
        0 => json!({"podSelector": selector(choice / 6)}),
        1 => json!({"namespaceSelector": ns_selector(choice / 6)}),
        2 => json!({"ipBlocks": [ip_block(choice / 6)]}),
        3 => json!({"childGroups": ["g2"]}),
        4 => json!({"serviceReference": {"name": "svc", "namespace": "x"}}),
        _ => json!({"nodeSelector": {"matchLabels": {"zone": "b"}}}),
    };
    obj(
        Kind::ClusterGroup,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterGroup", "metadata": {"name": "g1"}, "spec": spec}),
    )
}

pub fn group2_object(choice: u8) -> Object {
    let spec = match choice % 3 {
        0 => json!({"podSelector": selector(choice / 3)}),
        1 => json!({"ipBlocks": [ip_block(choice / 3)]}),
        _ => {
            json!({"podSelector": selector(choice / 3), "namespaceSelector": ns_selector(choice / 5)})
        }
    };
    obj(
        Kind::ClusterGroup,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterGroup", "metadata": {"name": "g2"}, "spec": spec}),
    )
}

/// Group `gx` in namespace x (appliedTo of ANNPs; a namespace selector makes it reach outside).
pub fn group_x_object(choice: u8) -> Object {
    let spec = match choice % 3 {
        0 => json!({"podSelector": selector(choice / 3)}),
        1 => {
            json!({"podSelector": selector(choice / 3), "namespaceSelector": ns_selector(choice / 5)})
        }
        _ => json!({"ipBlocks": [ip_block(choice / 3)]}),
    };
    obj(
        Kind::Group,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Group", "metadata": {"name": "gx", "namespace": "x"}, "spec": spec}),
    )
}

/// Parameters of the base cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub ns_env: [u8; 3],
    pub apps: Vec<u8>,
    pub sas: Vec<bool>,
    pub alt_ports: Vec<bool>,
    pub host_pod: bool,
    pub node_port: bool,
    pub zones: [bool; 2],
    pub groups: (u8, u8, u8),
}

pub fn cluster_spec() -> impl Strategy<Value = ClusterSpec> {
    (
        [0..3u8, 0..3u8, 0..3u8],
        prop::collection::vec(0..3u8, 9),
        prop::collection::vec(any::<bool>(), 9),
        prop::collection::vec(prop::bool::weighted(0.2), 9),
        prop::bool::weighted(0.3),
        any::<bool>(),
        [any::<bool>(), any::<bool>()],
        (any::<u8>(), any::<u8>(), any::<u8>()),
    )
        .prop_map(
            |(ns_env, apps, sas, alt_ports, host_pod, node_port, zones, groups)| ClusterSpec {
                ns_env,
                apps,
                sas,
                alt_ports,
                host_pod,
                node_port,
                zones,
                groups,
            },
        )
}

pub fn env_name(e: u8) -> &'static str {
    ["prod", "dev", "test"][e as usize % 3]
}

/// The base cluster of a spec: 2 Nodes, 3 namespaces × 3 Pods, a Service, groups, a custom Tier.
pub fn base_objects(c: &ClusterSpec) -> Vec<Object> {
    let mut out = vec![
        node(0, if c.zones[0] { "a" } else { "b" }),
        node(1, if c.zones[1] { "a" } else { "b" }),
    ];
    for (i, ns) in NAMESPACES.iter().enumerate() {
        out.push(namespace(
            ns,
            env_name(c.ns_env[i]),
            if i < 2 { "o1" } else { "o2" },
        ));
    }
    for ns in 0..3 {
        for p in 0..3 {
            let k = ns * 3 + p;
            let host = c.host_pod && ns == 2 && p == 2;
            out.push(pod(
                ns,
                p,
                APPS[c.apps[k] as usize % 3],
                if c.sas[k] { "sa1" } else { "default" },
                c.alt_ports[k],
                host,
            ));
        }
    }
    out.push(service("web", c.node_port));
    out.push(tier_custom());
    out.push(group2_object(c.groups.1));
    out.push(group_object(c.groups.0));
    out.push(group_x_object(c.groups.2));
    out
}

/// A filler ACNP: rules that apply widely and have wide peers but only match TCP port 9, which
/// no probed transport uses. Fillers never decide a flow; they only move the ranks of the real
/// rules across many words, chunks and summary blocks and make the applied and peer rows dense.
#[derive(Debug, Clone)]
pub struct FillerSpec {
    pub tier: u8,
    pub priority: u32,
    pub rules: usize,
    pub kind: u8,
}

pub fn filler_spec() -> impl Strategy<Value = FillerSpec> {
    (0..5u8, 1..100u32, 1..40usize, 0..4u8).prop_map(|(tier, priority, rules, kind)| FillerSpec {
        tier,
        priority,
        rules,
        kind,
    })
}

pub fn filler_object(i: usize, f: &FillerSpec) -> Object {
    let tier = TIERS[f.tier as usize % 5];
    let applied = match f.kind % 2 {
        0 => json!([{"namespaceSelector": {}}]),
        _ => json!([{"podSelector": {"matchLabels": {"app": APPS[i % 3]}}}]),
    };
    let peers = match (f.kind / 2 + i as u8) % 3 {
        0 => json!([]),
        1 => json!([{"namespaceSelector": {}}]),
        _ => json!([{"ipBlock": {"cidr": "0.0.0.0/0"}}]),
    };
    let (mut ingress, mut egress) = (vec![], vec![]);
    for r in 0..f.rules {
        // Pass is not admitted in the baseline tier.
        let action = match (r + i) % 4 {
            3 if tier == "baseline" => "Drop",
            k => ACTIONS[k],
        };
        let key = if r % 2 == 0 { "from" } else { "to" };
        let rule = json!({"name": format!("fill-{r}"), "action": action, key: peers, "ports": [{"protocol": "TCP", "port": 9}]});
        if r % 2 == 0 {
            ingress.push(rule)
        } else {
            egress.push(rule)
        }
    }
    obj(
        Kind::ClusterNetworkPolicy,
        json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": format!("fill{i}")},
            "spec": {"tier": tier, "priority": f.priority, "appliedTo": applied, "ingress": ingress, "egress": egress}}),
    )
}
