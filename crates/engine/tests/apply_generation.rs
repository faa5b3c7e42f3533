//! `Engine::apply` / `Engine::ingest` bookkeeping: the generation is bumped only by a change of
//! `spec` (typed comparison; labels and status do not count), allocated Pod IPs and ClusterIPs
//! are kept across updates that omit them, `apply` returns exactly what the store holds, and a
//! deleted object starts over.

use serde_json::{Value, json};
use tierwall_engine::Engine;
use tierwall_engine::admission::Operation;
use tierwall_model::load::object_from_value;
use tierwall_model::{Kind, Object, ObjectKey};

fn object(kind: Kind, value: Value) -> Object {
    object_from_value(kind, value).unwrap_or_else(|(f, m)| panic!("bad test object: {f}: {m}"))
}

fn pod(labels: Value, node: &str) -> Object {
    object(
        Kind::Pod,
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]}}),
    )
}

fn generation(engine: &Engine, key: &ObjectKey) -> Option<i64> {
    engine
        .store()
        .get(key)
        .and_then(|o| o.metadata().generation)
}

fn pod_ip(engine: &Engine, key: &ObjectKey) -> Option<String> {
    match engine.store().get(key) {
        Some(Object::Pod(p)) => p.status.as_ref().and_then(|s| s.pod_ip.clone()),
        _ => None,
    }
}

#[test]
fn generation_follows_spec_changes_only() {
    let mut engine = Engine::new();
    let key = ObjectKey::namespaced(Kind::Pod, "ns", "p");

    let first = engine
        .apply(pod(json!({"app": "a"}), "n1"))
        .expect("valid Pod");
    assert_eq!(first.operation, Operation::Create);
    assert_eq!(Some(&first.object), engine.store().get(&key));
    assert_eq!(generation(&engine, &key), Some(1));
    let ip = pod_ip(&engine, &key).expect("an address is allocated");

    // Labels are metadata: same generation, same address.
    let relabel = engine
        .ingest(pod(json!({"app": "b"}), "n1"))
        .expect("valid Pod");
    assert_eq!(
        (relabel.key.clone(), relabel.operation),
        (key.clone(), Operation::Update)
    );
    assert_eq!(generation(&engine, &key), Some(1));
    assert_eq!(pod_ip(&engine, &key), Some(ip.clone()));
    assert_eq!(
        engine
            .cluster()
            .pods
            .get(&("ns".into(), "p".into()))
            .map(|p| p.labels.get("app").cloned()),
        Some(Some("b".to_string()))
    );

    // A spec change bumps the generation; the address stays.
    engine
        .ingest(pod(json!({"app": "b"}), "n2"))
        .expect("valid Pod");
    assert_eq!(generation(&engine, &key), Some(2));
    assert_eq!(pod_ip(&engine, &key), Some(ip.clone()));
    assert_eq!(
        engine
            .cluster()
            .pod_at(ip.parse().expect("an IP"))
            .map(|p| p.node.clone()),
        Some("n2".to_string())
    );

    // Re-applying the identical object changes nothing.
    let same = engine
        .apply(pod(json!({"app": "b"}), "n2"))
        .expect("valid Pod");
    assert_eq!(same.object.metadata().generation, Some(2));
    assert_eq!(Some(&same.object), engine.store().get(&key));
}

#[test]
fn policy_and_service_updates() {
    let mut engine = Engine::new();
    let np = |port: u16| {
        object(
            Kind::NetworkPolicy,
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "np", "namespace": "ns"},
                "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": port}]}]}}),
        )
    };
    let np_key = ObjectKey::namespaced(Kind::NetworkPolicy, "ns", "np");
    engine.ingest(np(80)).expect("valid NetworkPolicy");
    engine.ingest(np(80)).expect("valid NetworkPolicy");
    assert_eq!(generation(&engine, &np_key), Some(1));
    engine.ingest(np(81)).expect("valid NetworkPolicy");
    assert_eq!(generation(&engine, &np_key), Some(2));
    assert_eq!(
        engine.table().policy(&np_key).map(|p| p.generation),
        Some(2)
    );

    let svc = |port: u16| {
        object(
            Kind::Service,
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s", "namespace": "ns"},
                "spec": {"selector": {"app": "a"}, "ports": [{"port": port}]}}),
        )
    };
    let svc_key = ObjectKey::namespaced(Kind::Service, "ns", "s");
    let cluster_ip = |engine: &Engine| match engine.store().get(&svc_key) {
        Some(Object::Service(s)) => s.spec.cluster_ip.clone(),
        _ => None,
    };
    engine.ingest(svc(80)).expect("valid Service");
    let ip = cluster_ip(&engine).expect("a ClusterIP is allocated");
    // An update that omits the ClusterIP keeps the allocated one.
    engine.ingest(svc(80)).expect("valid Service");
    assert_eq!(cluster_ip(&engine), Some(ip.clone()));
    let before = generation(&engine, &svc_key).expect("stored");
    engine.ingest(svc(443)).expect("valid Service");
    assert_eq!(cluster_ip(&engine), Some(ip));
    assert_eq!(generation(&engine, &svc_key), Some(before + 1));

    // Delete, then create again: a new object starts at generation 1.
    engine.delete(&np_key).expect("exists");
    assert!(engine.store().get(&np_key).is_none());
    assert!(engine.table().policy(&np_key).is_none());
    let again = engine.ingest(np(81)).expect("valid NetworkPolicy");
    assert_eq!(again.operation, Operation::Create);
    assert_eq!(generation(&engine, &np_key), Some(1));
}
