//! Property: after any sequence of single changes (Pod added, deleted or relabelled; Namespace
//! relabelled; Service changed; policy, Tier or Group created, updated or deleted), the engine
//! that applied them one by one decides every flow exactly as an engine built from scratch from
//! the final state.

use proptest::prelude::*;
use serde_json::{Value, json};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::{Engine, ProbeTransport, Source, Target};
use tierwall_model::load::object_from_value;
use tierwall_model::{Kind, Object, ObjectKey};

const NAMESPACES: [&str; 2] = ["x", "y"];
const PODS: [&str; 3] = ["a", "b", "c"];

fn obj(kind: Kind, v: Value) -> Object {
    object_from_value(kind, v).expect("test object is well-formed")
}

fn namespace(name: &str, env: &str) -> Object {
    obj(
        Kind::Namespace,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"env": env}}}),
    )
}

fn pod(ns: usize, p: usize, app: &str) -> Object {
    obj(
        Kind::Pod,
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": PODS[p], "namespace": NAMESPACES[ns], "labels": {"app": app}},
            "spec": {"nodeName": format!("node-{p}"), "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 80}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
            "status": {"podIP": format!("10.1.{ns}.{}", p + 10)}}),
    )
}

fn node(i: usize) -> Object {
    obj(
        Kind::Node,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i}"), "labels": {"zone": if i == 0 {"a"} else {"b"}}},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", i + 2)}]}}),
    )
}

fn service(app: &str) -> Object {
    obj(
        Kind::Service,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "x"},
            "spec": {"clusterIP": "10.96.0.10", "selector": {"app": app}, "ports": [{"port": 8080, "targetPort": 80}]}}),
    )
}

fn selector(app: &str) -> Value {
    if app == "*" {
        json!({})
    } else {
        json!({"matchLabels": {"app": app}})
    }
}

/// A random peer: pod selector, namespace selector, group, ipBlock with except, or empty.
fn peer(choice: u8, app: &str) -> Value {
    match choice % 5 {
        0 => json!({"podSelector": selector(app)}),
        1 => json!({"namespaceSelector": {"matchLabels": {"env": app}}}),
        2 => json!({"group": "g"}),
        3 => json!({"ipBlock": {"cidr": "10.1.0.0/16", "except": ["10.1.1.0/24"]}}),
        _ => json!({"podSelector": selector(app), "namespaceSelector": {}}),
    }
}

fn ports(choice: u8) -> Value {
    match choice % 4 {
        0 => json!([]),
        1 => json!([{"protocol": "TCP", "port": 80}]),
        2 => json!([{"port": "http"}]),
        _ => json!([{"protocol": "UDP", "port": 50, "endPort": 60}]),
    }
}

#[derive(Debug, Clone)]
enum Change {
    PodLabel(usize, usize, &'static str),
    PodDelete(usize, usize),
    PodAdd(usize, usize, &'static str),
    NamespaceLabel(usize, &'static str),
    ServiceSelector(&'static str),
    Acnp {
        name: u8,
        tier: u8,
        priority: u8,
        action: u8,
        ingress: bool,
        peer: u8,
        app: &'static str,
        ports: u8,
    },
    Annp {
        name: u8,
        action: u8,
        peer: u8,
        app: &'static str,
        ports: u8,
    },
    K8s {
        name: u8,
        ns: usize,
        app: &'static str,
        peer: u8,
        ports: u8,
        egress: bool,
    },
    DeletePolicy(u8),
    Group(&'static str),
    DeleteGroup,
    Tier,
}

fn app() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["web", "db", "*"])
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0..2usize, 0..3usize, app()).prop_map(|(n, p, a)| Change::PodLabel(n, p, a)),
        (0..2usize, 0..3usize).prop_map(|(n, p)| Change::PodDelete(n, p)),
        (0..2usize, 0..3usize, app()).prop_map(|(n, p, a)| Change::PodAdd(n, p, a)),
        (0..2usize, app()).prop_map(|(n, a)| Change::NamespaceLabel(n, a)),
        app().prop_map(Change::ServiceSelector),
        (
            0..3u8,
            0..4u8,
            1..4u8,
            0..4u8,
            any::<bool>(),
            any::<u8>(),
            app(),
            any::<u8>()
        )
            .prop_map(
                |(name, tier, priority, action, ingress, peer, app, ports)| Change::Acnp {
                    name,
                    tier,
                    priority,
                    action,
                    ingress,
                    peer,
                    app,
                    ports
                }
            ),
        (0..2u8, 0..3u8, any::<u8>(), app(), any::<u8>()).prop_map(
            |(name, action, peer, app, ports)| Change::Annp {
                name,
                action,
                peer,
                app,
                ports
            }
        ),
        (
            0..2u8,
            0..2usize,
            app(),
            any::<u8>(),
            any::<u8>(),
            any::<bool>()
        )
            .prop_map(|(name, ns, app, peer, ports, egress)| Change::K8s {
                name,
                ns,
                app,
                peer,
                ports,
                egress
            }),
        (0..3u8).prop_map(Change::DeletePolicy),
        app().prop_map(Change::Group),
        Just(Change::DeleteGroup),
        Just(Change::Tier),
    ]
}

const ACTIONS: [&str; 4] = ["Allow", "Drop", "Reject", "Pass"];
const TIERS: [&str; 4] = ["securityops", "application", "baseline", "custom"];

fn apply_change(engine: &mut Engine, c: &Change) {
    // Admission may reject a change (e.g. Pass in baseline, a custom tier that does not exist):
    // that is part of the property — a rejected change must leave the engine as it was.
    let _ = match c.clone() {
        Change::PodLabel(n, p, a) | Change::PodAdd(n, p, a) => engine.apply(pod(n, p, a)).map(|_| ()),
        Change::PodDelete(n, p) => engine.delete(&ObjectKey::namespaced(Kind::Pod, NAMESPACES[n], PODS[p])).map(|_| ()),
        Change::NamespaceLabel(n, a) => engine.apply(namespace(NAMESPACES[n], a)).map(|_| ()),
        Change::ServiceSelector(a) => engine.apply(service(a)).map(|_| ()),
        Change::Acnp { name, tier, priority, action, ingress, peer: pc, app, ports: pp } => {
            let dir = if ingress { "ingress" } else { "egress" };
            let peers_key = if ingress { "from" } else { "to" };
            let p = if pc % 7 == 6 { json!([]) } else { json!([peer(pc, app)]) };
            engine
                .apply(obj(
                    Kind::ClusterNetworkPolicy,
                    json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
                        "metadata": {"name": format!("p{name}")},
                        "spec": {"tier": TIERS[tier as usize], "priority": priority,
                            "appliedTo": [{"podSelector": selector(app)}],
                            dir: [{"action": ACTIONS[action as usize], peers_key: p, "ports": ports(pp)}]}}),
                ))
                .map(|_| ())
        }
        Change::Annp { name, action, peer: pc, app, ports: pp } => engine
            .apply(obj(
                Kind::AntreaNetworkPolicy,
                json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
                    "metadata": {"name": format!("a{name}"), "namespace": "x"},
                    "spec": {"priority": 5, "appliedTo": [{"podSelector": selector(app)}],
                        "ingress": [{"action": ACTIONS[action as usize], "from": [peer(pc % 4, app)], "ports": ports(pp)}]}}),
            ))
            .map(|_| ()),
        Change::K8s { name, ns, app, peer: pc, ports: pp, egress } => {
            let pc = pc % 5;
            let k8s_peer = match pc {
                2 => json!({"podSelector": {}}),
                p => peer(p, app),
            };
            let rule = if egress { json!({"egress": [{"to": [k8s_peer], "ports": ports(pp % 3)}]}) } else { json!({"ingress": [{"from": [k8s_peer], "ports": ports(pp % 3)}]}) };
            let mut spec = json!({"podSelector": selector(app), "policyTypes": [if egress {"Egress"} else {"Ingress"}]});
            if let (Some(s), Some(r)) = (spec.as_object_mut(), rule.as_object()) {
                s.extend(r.clone());
            }
            engine
                .apply(obj(
                    Kind::NetworkPolicy,
                    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": format!("k{name}"), "namespace": NAMESPACES[ns]}, "spec": spec}),
                ))
                .map(|_| ())
        }
        Change::DeletePolicy(n) => {
            let keys = [
                ObjectKey::cluster(Kind::ClusterNetworkPolicy, &format!("p{n}")),
                ObjectKey::namespaced(Kind::AntreaNetworkPolicy, "x", &format!("a{n}")),
                ObjectKey::namespaced(Kind::NetworkPolicy, "x", &format!("k{n}")),
            ];
            keys.iter().try_for_each(|k| if engine.store().contains(k) { engine.delete(k).map(|_| ()) } else { Ok(()) })
        }
        Change::Group(a) => engine
            .apply(obj(
                Kind::ClusterGroup,
                json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterGroup", "metadata": {"name": "g"},
                    "spec": {"podSelector": selector(a)}}),
            ))
            .map(|_| ()),
        Change::DeleteGroup => {
            let k = ObjectKey::cluster(Kind::ClusterGroup, "g");
            if engine.store().contains(&k) { engine.delete(&k).map(|_| ()) } else { Ok(()) }
        }
        Change::Tier => engine
            .apply(obj(
                Kind::Tier,
                json!({"apiVersion": "crd.antrea.io/v1beta1", "kind": "Tier", "metadata": {"name": "custom"}, "spec": {"priority": 120}}),
            ))
            .map(|_| ()),
    };
}

fn base_engine() -> Engine {
    let mut e = Engine::new();
    for i in 0..3 {
        e.apply(node(i)).expect("node");
    }
    for (i, ns) in NAMESPACES.iter().enumerate() {
        e.apply(namespace(ns, if i == 0 { "web" } else { "db" }))
            .expect("namespace");
        for p in 0..3 {
            e.apply(pod(i, p, if p == 0 { "web" } else { "db" }))
                .expect("pod");
        }
    }
    e
}

/// An engine built in one go from another engine's final objects (dependency order).
fn rebuilt(from: &Engine) -> Engine {
    let order = [
        Kind::Node,
        Kind::Namespace,
        Kind::ServiceAccount,
        Kind::Pod,
        Kind::Service,
        Kind::Tier,
        Kind::ClusterGroup,
        Kind::Group,
        Kind::ClusterNetworkPolicy,
        Kind::AntreaNetworkPolicy,
        Kind::NetworkPolicy,
    ];
    let mut e = Engine::new();
    for kind in order {
        for o in from.store().of_kind(kind) {
            if kind == Kind::Tier && tierwall_engine::store::is_system_tier(&o.key().name) {
                continue;
            }
            e.apply(o.clone())
                .unwrap_or_else(|err| panic!("rebuild rejected {}: {err}", o.key()));
        }
    }
    e
}

fn verdict_matrix(e: &Engine) -> Vec<String> {
    let transports = [
        ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port: 80,
            src_port: 40000,
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Udp,
            port: 53,
            src_port: 40000,
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Udp,
            port: 55,
            src_port: 40000,
        },
    ];
    let pods: Vec<(String, String)> = e.cluster().pods.keys().cloned().collect();
    let mut out = Vec::new();
    for (sn, sp) in &pods {
        for (dn, dp) in &pods {
            for t in &transports {
                let v = e.probe(
                    &Source::Pod {
                        namespace: sn.clone(),
                        name: sp.clone(),
                    },
                    &Target::Pod {
                        namespace: dn.clone(),
                        name: dp.clone(),
                    },
                    *t,
                );
                out.push(format!("{sn}/{sp}->{dn}/{dp} {t:?}: {:?}", v.outcome));
            }
        }
        let v = e.probe(
            &Source::Pod {
                namespace: sn.clone(),
                name: sp.clone(),
            },
            &Target::Service {
                namespace: "x".into(),
                name: "svc".into(),
            },
            ProbeTransport::L4 {
                protocol: L4Protocol::Tcp,
                port: 8080,
                src_port: 40000,
            },
        );
        out.push(format!("{sn}/{sp}->svc: {:?}", v.outcome));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_equals_rebuild(changes in prop::collection::vec(change(), 1..25)) {
        let mut engine = base_engine();
        for c in &changes {
            apply_change(&mut engine, c);
        }
        let scratch = rebuilt(&engine);
        prop_assert_eq!(verdict_matrix(&engine), verdict_matrix(&scratch));
    }
}
