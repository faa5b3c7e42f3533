//! Only the Nodes a change can affect are recomputed (`Controller::affected_by`, for Pods
//! `status::nodes_depending_on_pod`): after every change of a sequence of Pod changes (labels,
//! moves, addresses, new and deleted Pods) under policies of every peer kind, every Node's
//! published rule set equals the one computed from scratch, and a Pod nothing selects as a peer
//! recomputes its own Node only.

use std::sync::Arc;
use tierwall_controller::Controller;
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_engine::Engine;
use tierwall_engine::ruleset::all_node_rule_sets;
use tierwall_model::{Kind, Object, ObjectKey};

fn load(text: &str) -> Vec<Object> {
    tierwall_model::load_str("t.yaml", text)
        .unwrap()
        .into_iter()
        .map(|o| o.object)
        .collect()
}

fn pod(ns: &str, name: &str, labels: &str, node: &str, ip: &str) -> Object {
    load(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}\n\
         spec:\n  nodeName: {node}\n  containers:\n  - name: c\n    ports: [{{name: http, containerPort: 8080}}]\n\
         status: {{podIP: {ip}}}\n"
    ))
    .remove(0)
}

const CLUSTER: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: n0}
status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 172.18.0.3}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 172.18.0.4}]}
---
apiVersion: v1
kind: Node
metadata: {name: n3}
status: {addresses: [{type: InternalIP, address: 172.18.0.5}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: z, labels: {team: b}}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterGroup
metadata: {name: dbs}
spec: {podSelector: {matchLabels: {app: db}}}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: web-from-team-a}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {app: web}}}]
  ingress: [{action: Allow, from: [{podSelector: {matchLabels: {app: api}}, namespaceSelector: {matchLabels: {team: a}}}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: same-ns}
spec:
  priority: 2
  appliedTo: [{podSelector: {matchLabels: {app: api}}}]
  ingress: [{action: Allow, from: [{podSelector: {matchLabels: {role: client}}, namespaces: {match: Self}}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: to-dbs}
spec:
  priority: 3
  appliedTo: [{podSelector: {matchLabels: {app: api}}}]
  egress: [{action: Allow, to: [{group: dbs}]}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: named-port-egress}
spec:
  priority: 4
  appliedTo: [{podSelector: {matchLabels: {app: batch}}}]
  egress: [{action: Allow, ports: [{port: http}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: z}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}]}]
"#;

/// Every Node's rule set in the index equals a fresh computation.
fn check(c: &Controller, index: &RuleSetIndex, step: &str) {
    let fresh = all_node_rule_sets(c.engine().cluster(), c.engine().table());
    for (node, set) in fresh {
        let (_, published) = index.current(&node).unwrap();
        assert_eq!(
            *published, set,
            "{step}: Node {node}'s published rule set is stale"
        );
    }
}

#[test]
fn pod_changes_recompute_every_affected_node() {
    let mut engine = Engine::new();
    for o in load(CLUSTER) {
        engine.apply(o).unwrap();
    }
    let pods = [
        pod("x", "w1", "app: web", "n0", "10.0.0.1"),
        pod("x", "a1", "app: api", "n1", "10.0.0.2"),
        pod("y", "a2", "app: api", "n2", "10.0.0.3"),
        pod("z", "d1", "app: db", "n3", "10.0.0.4"),
        pod("x", "c1", "role: client", "n2", "10.0.0.5"),
        pod("z", "b1", "app: batch", "n0", "10.0.0.6"),
        pod("z", "idle", "app: idle", "n3", "10.0.0.7"),
    ];
    for p in pods {
        engine.apply(p).unwrap();
    }
    let mut c = Controller::new(engine);
    let index = Arc::new(RuleSetIndex::with_epoch(7));
    c.publish_to(Arc::clone(&index));
    check(&c, &index, "start");

    let steps: Vec<(&str, Object)> = vec![
        (
            "api in z leaves team a",
            pod("z", "a3", "app: api", "n1", "10.0.0.8"),
        ),
        (
            "a1 stops being an api",
            pod("x", "a1", "app: other", "n1", "10.0.0.2"),
        ),
        (
            "a1 is an api again",
            pod("x", "a1", "app: api", "n1", "10.0.0.2"),
        ),
        (
            "client moves to y",
            pod("y", "c2", "role: client", "n3", "10.0.0.9"),
        ),
        (
            "c1 is no client",
            pod("x", "c1", "role: none", "n2", "10.0.0.5"),
        ),
        ("db moves Node", pod("z", "d1", "app: db", "n1", "10.0.0.4")),
        (
            "db changes address",
            pod("z", "d1", "app: db", "n1", "10.0.0.14"),
        ),
        (
            "a Pod with a named port appears",
            pod("y", "s1", "app: srv", "n2", "10.0.0.10"),
        ),
        (
            "web becomes db",
            pod("x", "w1", "app: db", "n0", "10.0.0.1"),
        ),
    ];
    for (step, object) in steps {
        c.apply(object).unwrap();
        check(&c, &index, step);
    }
    let (_, report) = c
        .delete(&ObjectKey::new(Kind::Pod, Some("z"), "a3"))
        .unwrap();
    check(&c, &index, "api a3 deleted");
    assert!(!report.pushed.is_empty());

    // A Pod no policy can name: only its own Node is recomputed (and its set does not change).
    let (_, report) = c
        .apply(pod("z", "idle", "app: idle, v: '2'", "n3", "10.0.0.7"))
        .unwrap();
    check(&c, &index, "idle relabelled");
    assert!(report.pushed.is_empty(), "{:?}", report.pushed);
}
