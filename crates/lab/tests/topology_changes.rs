//! Privileged: a live cluster follows Pods and Nodes that come, go, move and are relabelled
//! while it runs. Policies select them by label; every probe is a real packet and must match
//! both the expected outcome and the engine's verdict. A Node added at runtime gets its own
//! agent (its Pods' ingress rules are enforced there); a Node removed loses its agent.
//! Without root, `ip`/`nft` or the `tierwall-probe-helper` helper the test says why and returns.

mod common;

use common::{LiveGuard, skip_reason};

use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::evaluate::DEFAULT_SOURCE_PORT;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_lab::{LiveCluster, LiveOptions};
use tierwall_model::ObjectKey;
use tierwall_scenario::cluster::ClusterModel;
use tierwall_testbed::{ProbeHelperCommand, TestbedOptions};

fn apply(live: &mut LiveCluster, yaml: &str) {
    for o in tierwall_model::load_str("test", yaml).expect("test manifest parses") {
        let key = o.object.key();
        let report = live
            .apply(o.object)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(report.failed.is_empty(), "{key}: {:?}", report.failed);
    }
}

fn delete(live: &mut LiveCluster, key: &str) {
    let key = ObjectKey::parse(key).expect("key");
    let report = live.delete(&key).unwrap_or_else(|e| panic!("{key}: {e}"));
    assert!(report.failed.is_empty(), "{key}: {:?}", report.failed);
}

fn node_yaml(name: &str, ip: &str, zone: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}, zone: {zone}}}}}\n\
         status: {{addresses: [{{type: InternalIP, address: \"{ip}\"}}]}}\n"
    )
}

fn pod_yaml(ns: &str, name: &str, node: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}}}\n\
         spec:\n  nodeName: {node}\n  containers:\n  - name: server\n    ports:\n    - {{containerPort: 80, protocol: TCP}}\n\
         status: {{podIP: \"{ip}\"}}\n"
    )
}

const POLICIES: &str = r#"
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: no-kubelet-in-blocked-zone}
spec:
  priority: 1
  appliedTo: [{namespaceSelector: {}}]
  egress:
  - action: Drop
    to: [{nodeSelector: {matchLabels: {zone: blocked}}}]
    ports: [{protocol: TCP, port: 10250}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: guard-k-and-n}
spec:
  priority: 2
  appliedTo: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [k, n]}]}}]
  ingress:
  - action: Reject
    from: [{namespaceSelector: {matchLabels: {ns: y}}}]
"#;

struct Case {
    src: &'static str,
    dst: &'static str,
    port: Option<u16>,
    want: Outcome,
}

fn case(src: &'static str, dst: &'static str, port: Option<u16>, want: Outcome) -> Case {
    Case {
        src,
        dst,
        port,
        want,
    }
}

fn source(text: &str) -> Source {
    match text.split_once('/') {
        Some((ns, name)) => Source::Pod {
            namespace: ns.into(),
            name: name.into(),
        },
        None => Source::Node(text.into()),
    }
}

fn target(text: &str) -> Target {
    match text.split_once('/') {
        Some((ns, name)) => Target::Pod {
            namespace: ns.into(),
            name: name.into(),
        },
        None => Target::Node(text.into()),
    }
}

/// Probes every case in one batch; each outcome must be the wanted one and the engine's.
fn check(live: &LiveCluster, stage: &str, cases: &[Case]) {
    let transport = |port: Option<u16>| match port {
        Some(port) => ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port,
            src_port: DEFAULT_SOURCE_PORT,
        },
        None => ProbeTransport::Icmp {
            icmp_type: 8,
            icmp_code: 0,
        },
    };
    let probes: Vec<_> = cases
        .iter()
        .map(|c| {
            live.probe_for(&source(c.src), &target(c.dst), transport(c.port), &[])
                .unwrap_or_else(|e| panic!("{stage}: {} -> {}: {e}", c.src, c.dst))
        })
        .collect();
    let results = live.testbed().probe_many(&probes).expect("probes run");
    let mut failures = Vec::new();
    for (c, real) in cases.iter().zip(&results) {
        let engine = live
            .engine()
            .probe(&source(c.src), &target(c.dst), transport(c.port))
            .outcome;
        if real.outcome != c.want || engine != c.want {
            failures.push(format!(
                "{stage}: {} -> {} {:?}: want {:?}, real {:?} ({}), engine {engine:?}",
                c.src, c.dst, c.port, c.want, real.outcome, real.detail
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pods_and_nodes_change_under_live_policies() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED pods_and_nodes_change_under_live_policies: {why}");
        return;
    }
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).expect("standard objects are admitted");
    }
    let options = LiveOptions {
        testbed: TestbedOptions {
            probe_timeout: std::time::Duration::from_millis(700),
            probe_helper: ProbeHelperCommand::locate().ok(),
            ..Default::default()
        },
        log_dir: None,
    };
    let mut guard = LiveGuard(Some(LiveCluster::up(engine, options).expect("up")));
    let live = guard.get();
    use Outcome::*;
    apply(live, POLICIES);
    check(
        live,
        "before",
        &[
            case("x/a", "node-1", Some(10250), Connected),
            case("x/a", "node-2", Some(10250), Connected),
        ],
    );

    // A Node relabelled into the blocked zone.
    apply(live, &node_yaml("node-1", "172.18.0.3", "blocked"));
    check(
        live,
        "node relabelled",
        &[
            case("x/a", "node-1", Some(10250), Dropped),
            case("z/c", "node-1", Some(10250), Dropped),
            case("x/a", "node-2", Some(10250), Connected),
            case("x/a", "node-1", None, Connected),
        ],
    );

    // A Pod added on node-1, selected by the ingress rule.
    apply(live, &pod_yaml("x", "k", "node-1", "10.10.1.50"));
    assert!(live.testbed().pod_veth_on_node("x", "k").is_ok());
    check(
        live,
        "pod added",
        &[
            case("y/a", "x/k", Some(80), Rejected),
            case("x/a", "x/k", Some(80), Connected),
            case("x/k", "y/b", Some(80), Connected),
            case("x/k", "node-1", Some(10250), Dropped),
            case("node-0", "x/k", Some(80), Connected),
        ],
    );

    // The Pod moves to node-2 with another address: node-2 enforces its ingress now.
    apply(live, &pod_yaml("x", "k", "node-2", "10.10.1.51"));
    let on = |live: &LiveCluster, node: &str| {
        live.rule_set(node)
            .is_some_and(|r| r.pods.iter().any(|p| p.name == "k"))
    };
    assert!(on(live, "node-2") && !on(live, "node-1"));
    check(
        live,
        "pod moved",
        &[
            case("y/b", "x/k", Some(80), Rejected),
            case("z/a", "x/k", Some(80), Connected),
        ],
    );

    // A new Node in the blocked zone, with a Pod the ingress rule selects.
    apply(live, &node_yaml("node-3", "172.18.0.5", "blocked"));
    apply(live, &pod_yaml("z", "n", "node-3", "10.10.3.60"));
    assert!(live.nodes().iter().any(|n| n == "node-3"));
    check(
        live,
        "node added",
        &[
            case("x/a", "node-3", Some(10250), Dropped),
            case("x/a", "node-3", None, Connected),
            case("y/c", "z/n", Some(80), Rejected),
            case("x/c", "z/n", Some(80), Connected),
            case("z/n", "x/k", Some(80), Connected),
            case("z/n", "node-1", Some(10250), Dropped),
        ],
    );
    assert!(
        live.log_path("node-3").parent().is_some_and(|d| d.exists()),
        "node-3 has an np.log directory"
    );

    // Everything added goes away; node-1 leaves the blocked zone.
    delete(live, "po/z/n");
    delete(live, "no/node-3");
    delete(live, "po/x/k");
    apply(live, &node_yaml("node-1", "172.18.0.3", "open"));
    assert!(!live.nodes().iter().any(|n| n == "node-3"));
    assert!(live.testbed().node_netns("node-3").is_err());
    assert!(live.testbed().pod_netns("x", "k").is_err());
    check(
        live,
        "removed",
        &[
            case("x/a", "node-1", Some(10250), Connected),
            case("y/a", "x/b", Some(80), Connected),
        ],
    );
    let status = live
        .controller()
        .policy_status(&ObjectKey::parse("acnp/guard-k-and-n").unwrap())
        .expect("status");
    assert_eq!(
        status.current_nodes_realized, status.desired_nodes_realized,
        "{status:?}"
    );
}
