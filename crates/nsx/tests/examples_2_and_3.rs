//! The "Comparing Examples 2 and 3" table of the NSX spec, at the translation level: the
//! translated objects of "allow-from-b" (Example 2) and "allow-to-a" (Example 3) are loaded into
//! the policy engine and real flows between Namespaces A, B and C are decided.

use serde_json::{Value, json};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_model::Kind;
use tierwall_model::load::object_from_value;
use tierwall_nsx::model::{ClusterInventory, Group, SecurityPolicyContainerCluster};
use tierwall_nsx::span::{SpannedPolicy, cluster_control_plane_path};
use tierwall_nsx::translate::translate_for_cluster;

const CLUSTER: &str = "prod-1";

fn namespace_group(id: &str, namespace: &str) -> Group {
    serde_json::from_value(json!({
        "id": id, "path": format!("/infra/domains/default/groups/{id}"), "group_type": ["ANTREA"],
        "expression": [{"resource_type": "Condition", "member_type": "Namespace", "key": "Name",
                        "operator": "EQUALS", "value": namespace}]
    }))
    .expect("group json")
}

/// Example 2 ("allow-from-b", direction In) or 3 ("allow-to-a", direction Out).
fn example_policy(example: u8, enabled: bool) -> SpannedPolicy {
    let (id, applied, peer_field, peer, direction) = match example {
        2 => (
            "allow-from-b",
            "namespace-a",
            "source_groups",
            "namespace-b",
            "IN",
        ),
        _ => (
            "allow-to-a",
            "namespace-b",
            "destination_groups",
            "namespace-a",
            "OUT",
        ),
    };
    let group = |g: &str| format!("/infra/domains/default/groups/{g}");
    let policy = json!({
        "id": id, "category": "Application", "sequence_number": example,
        "scope": [cluster_control_plane_path(CLUSTER)],
        "rules": [
            {"id": "allow", "rule_id": u32::from(example) * 100 + 1, "sequence_number": 1,
             "scope": [group(applied)], peer_field: [group(peer)], "action": "ALLOW",
             "disabled": !enabled},
            {"id": "drop", "rule_id": u32::from(example) * 100 + 2, "sequence_number": 2,
             "scope": [group(applied)], "direction": direction, "action": "DROP",
             "disabled": !enabled}
        ]
    });
    SpannedPolicy::new(
        serde_json::from_value(policy).expect("policy json"),
        vec![SecurityPolicyContainerCluster {
            container_cluster_path: cluster_control_plane_path(CLUSTER),
            ..Default::default()
        }],
    )
}

fn object(kind: Kind, value: Value) -> tierwall_model::Object {
    object_from_value(kind, value).expect("test object")
}

/// A cluster with one pod in each of Namespaces A, B and C, plus the translated objects.
fn engine_with(example_2: bool, example_3: bool) -> Engine {
    let mut engine = Engine::new();
    engine
        .apply(object(
            Kind::Node,
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-0"},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}),
        ))
        .expect("node");
    for (index, ns) in ["a", "b", "c"].iter().enumerate() {
        engine
            .apply(object(
                Kind::Namespace,
                json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}),
            ))
            .expect("namespace");
        engine
            .apply(object(
                Kind::Pod,
                json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": ns},
                "spec": {"nodeName": "node-0", "containers": [{"name": "c"}]},
                "status": {"podIP": format!("10.1.0.{}", index + 10)}}),
            ))
            .expect("pod");
    }
    let policies = [example_policy(2, example_2), example_policy(3, example_3)];
    let groups = [
        namespace_group("namespace-a", "a"),
        namespace_group("namespace-b", "b"),
    ];
    let desired = translate_for_cluster(
        CLUSTER,
        &policies,
        &groups,
        &[],
        &ClusterInventory::default(),
    )
    .expect("translates");
    assert!(desired.issues.is_empty(), "{:?}", desired.issues);
    for o in desired.to_objects() {
        let key = o.key();
        engine
            .apply(o)
            .unwrap_or_else(|e| panic!("the engine rejects {key}: {e}"));
    }
    engine
}

/// `connected` for every (from, to) pair among a, b, c (self excluded), as "ab" strings.
fn connected_pairs(engine: &Engine) -> Vec<String> {
    let mut out = Vec::new();
    for from in ["a", "b", "c"] {
        for to in ["a", "b", "c"] {
            if from == to {
                continue;
            }
            let verdict = engine.probe(
                &Source::Pod {
                    namespace: from.into(),
                    name: "p".into(),
                },
                &Target::Pod {
                    namespace: to.into(),
                    name: "p".into(),
                },
                ProbeTransport::L4 {
                    protocol: L4Protocol::Tcp,
                    port: 80,
                    src_port: 40000,
                },
            );
            if verdict.outcome == Outcome::Connected {
                out.push(format!("{from}{to}"));
            }
        }
    }
    out
}

#[test]
fn example_2_only_a_accepts_only_from_b_and_b_sends_anywhere() {
    // A accepts only from B; B can send anywhere (b→c open), A can still send anywhere.
    assert_eq!(
        connected_pairs(&engine_with(true, false)),
        vec!["ab", "ac", "ba", "bc", "cb"]
    );
}

#[test]
fn example_3_only_b_sends_only_to_a_and_a_accepts_from_anywhere() {
    // B sends only to A (b→c dropped); A accepts from anywhere (c→a open).
    assert_eq!(
        connected_pairs(&engine_with(false, true)),
        vec!["ab", "ac", "ba", "ca", "cb"]
    );
}

#[test]
fn both_examples_filter_b_to_a_twice_and_still_allow_it() {
    // A accepts only from B, B sends only to A: b→a passes both filters; c→a and b→c are dropped.
    assert_eq!(
        connected_pairs(&engine_with(true, true)),
        vec!["ab", "ac", "ba", "cb"]
    );
}

#[test]
fn neither_example_leaves_everything_open() {
    assert_eq!(
        connected_pairs(&engine_with(false, false)),
        vec!["ab", "ac", "ba", "bc", "ca", "cb"]
    );
}
