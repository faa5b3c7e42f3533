//! Privileged: a running testbed follows its cluster. Pods are added (also a hostNetwork one),
//! moved to another Node with another address, and removed; a Node is added with a Pod and
//! removed again; real packets show each state, and nothing of a removed Pod or Node is left
//! (namespaces, routes, state file entries). Without root the test says so and returns.

use std::net::IpAddr;
use tierwall_engine::Engine;
use tierwall_scenario::cluster::ClusterModel;
use tierwall_testbed::{
    Endpoint, Outcome, Probe, ProbeHelperCommand, Testbed, TestbedOptions, Transport,
};

const EXT_IP: &str = "192.168.100.7";

fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return false;
    }
    eprintln!("SKIPPED {test}: needs root to create network namespaces (CI runs it as root)");
    true
}

fn apply_yaml(engine: &mut Engine, text: &str) {
    for o in tierwall_model::load_str("test", text).expect("test manifest parses") {
        engine.apply(o.object).expect("test object is admitted");
    }
}

fn delete(engine: &mut Engine, key: &str) {
    engine
        .delete(&tierwall_model::ObjectKey::parse(key).expect("key"))
        .expect("deleted");
}

fn pod_yaml(ns: &str, name: &str, node: &str, ip: &str, port: u16, host: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}}}\n\
         spec:\n  nodeName: {node}\n  hostNetwork: {host}\n  containers:\n  - name: server\n    ports:\n    \
         - {{containerPort: {port}, protocol: TCP}}\n    - {{containerPort: {port}, protocol: UDP}}\n\
         status: {{podIP: \"{ip}\"}}\n"
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn netns_list() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Runs `(probe, expected)` in one batch; every mismatch is reported at once.
fn expect_all(tb: &Testbed, stage: &str, cases: &[(Probe, Outcome)]) {
    let probes: Vec<Probe> = cases.iter().map(|(p, _)| p.clone()).collect();
    let results = tb.probe_many(&probes).expect("probes run");
    let failures: Vec<String> = cases
        .iter()
        .zip(&results)
        .filter(|((_, want), got)| got.outcome != *want)
        .map(|((p, want), got)| {
            format!(
                "{stage}: {} -> {} {}: want {want:?}, got {:?} ({})",
                p.src, p.dst, p.transport, got.outcome, got.detail
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pods_and_nodes_come_and_go_in_a_running_testbed() {
    if skip_unless_root("pods_and_nodes_come_and_go_in_a_running_testbed") {
        return;
    }
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).expect("standard objects are admitted");
    }
    let options = TestbedOptions {
        externals: vec![("ext-1".into(), EXT_IP.parse().unwrap())],
        probe_helper: Some(ProbeHelperCommand::new(env!(
            "CARGO_BIN_EXE_tierwall-probe-helper"
        ))),
        ..TestbedOptions::default()
    };
    let mut tb = Testbed::up(engine.cluster(), options).expect("testbed up");
    let prefix = tb.prefix().to_string();
    use Outcome::*;

    // 1. New Pods: x/k on node-1, the hostNetwork Pod y/h on node-2 (port 9000), and a new
    //    Node node-3 with Pod z/n.
    apply_yaml(
        &mut engine,
        &pod_yaml("x", "k", "node-1", "10.10.1.50", 80, false),
    );
    apply_yaml(
        &mut engine,
        &pod_yaml("y", "h", "node-2", "172.18.0.4", 9000, true),
    );
    apply_yaml(
        &mut engine,
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-3, labels: {zone: new}}\n\
         status: {addresses: [{type: InternalIP, address: 172.18.0.5}]}\n",
    );
    apply_yaml(
        &mut engine,
        &pod_yaml("z", "n", "node-3", "10.10.3.60", 8080, false),
    );
    let changes = tb.reconcile(engine.cluster()).expect("reconcile adds");
    assert_eq!(changes.nodes_added.len(), 1, "{changes:?}");
    assert_eq!(changes.pods_added.len(), 3, "{changes:?}");
    assert!(changes.pods_removed.is_empty() && changes.nodes_removed.is_empty());
    assert_eq!(tb.pod_ip("x", "k").unwrap().to_string(), "10.10.1.50");
    let k_veth = tb.pod_veth_on_node("x", "k").unwrap().to_string();
    let links = tb.run_in_node("node-1", &["ip", "-o", "link"]).unwrap();
    assert!(links.contains(&k_veth), "{links}");
    let xa = Endpoint::pod("x", "a");
    let zn = Endpoint::pod("z", "n");
    expect_all(
        &tb,
        "added",
        &[
            (
                Probe::new(xa.clone(), ip("10.10.1.50"), Transport::Tcp(80)),
                Connected,
            ),
            (
                Probe::new(xa.clone(), ip("10.10.1.50"), Transport::Udp(80)),
                Connected,
            ),
            (
                Probe::new(xa.clone(), ip("10.10.1.50"), Transport::Tcp(81)),
                Rejected,
            ),
            (
                Probe::new(
                    Endpoint::pod("x", "k"),
                    ip("10.10.2.12"),
                    Transport::Tcp(80),
                ),
                Connected,
            ),
            (
                Probe::new(
                    Endpoint::external("ext-1"),
                    ip("10.10.1.50"),
                    Transport::Tcp(80),
                ),
                Connected,
            ),
            (
                Probe::new(Endpoint::node("node-0"), ip("10.10.1.50"), Transport::Icmp),
                Connected,
            ),
            (
                Probe::new(xa.clone(), ip("172.18.0.4"), Transport::Tcp(9000)),
                Connected,
            ),
            (
                Probe::new(xa.clone(), ip("10.10.3.60"), Transport::Tcp(8080)),
                Connected,
            ),
            (
                Probe::new(zn.clone(), ip("10.10.1.50"), Transport::Tcp(80)),
                Connected,
            ),
            (
                Probe::new(zn.clone(), ip("172.18.0.2"), Transport::Tcp(6443)),
                Connected,
            ),
            (
                Probe::new(
                    Endpoint::node("node-3"),
                    ip("10.10.3.13"),
                    Transport::Tcp(80),
                ),
                Connected,
            ),
            (
                Probe::new(
                    Endpoint::external("ext-1"),
                    ip("10.10.3.60"),
                    Transport::Tcp(8080),
                ),
                Connected,
            ),
        ],
    );
    // The state file knows the new objects (a later `attach` or `down` finds them).
    let attached = Testbed::attach(&prefix).expect("attach");
    assert!(attached.layout().pods.contains_key("x/k"));
    assert!(attached.layout().nodes.contains_key("node-3"));
    assert_eq!(attached.layout().nodes["node-3"].index, 3);

    // 2. x/k moves to node-2 with another address; a label change alone changes nothing.
    apply_yaml(
        &mut engine,
        &pod_yaml("x", "k", "node-2", "10.10.1.51", 80, false),
    );
    apply_yaml(
        &mut engine,
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-3, labels: {zone: other}}\n\
         status: {addresses: [{type: InternalIP, address: 172.18.0.5}]}\n",
    );
    let changes = tb.reconcile(engine.cluster()).expect("reconcile moves");
    assert_eq!(changes.pods_removed, vec!["x/k".to_string()], "{changes:?}");
    assert_eq!(changes.pods_added.len(), 1);
    assert!(changes.nodes_added.is_empty() && changes.nodes_removed.is_empty());
    let links = tb.run_in_node("node-1", &["ip", "-o", "link"]).unwrap();
    assert!(!links.contains(&k_veth), "old veth left on node-1: {links}");
    expect_all(
        &tb,
        "moved",
        &[
            (
                Probe::new(xa.clone(), ip("10.10.1.51"), Transport::Tcp(80)),
                Connected,
            ),
            (
                Probe::new(xa.clone(), ip("10.10.1.50"), Transport::Tcp(80)),
                Dropped,
            ),
            (
                Probe::new(
                    Endpoint::external("ext-1"),
                    ip("10.10.1.51"),
                    Transport::Udp(80),
                ),
                Connected,
            ),
        ],
    );

    // 3. Everything added goes away again.
    for key in ["po/x/k", "po/y/h", "po/z/n", "no/node-3"] {
        delete(&mut engine, key);
    }
    let changes = tb.reconcile(engine.cluster()).expect("reconcile removes");
    assert_eq!(changes.pods_removed.len(), 3, "{changes:?}");
    assert_eq!(changes.nodes_removed, vec!["node-3".to_string()]);
    expect_all(
        &tb,
        "removed",
        &[
            (
                Probe::new(xa.clone(), ip("10.10.1.51"), Transport::Tcp(80)),
                Dropped,
            ),
            (
                Probe::new(xa.clone(), ip("172.18.0.4"), Transport::Tcp(9000)),
                Rejected,
            ),
            (
                Probe::new(xa.clone(), ip("10.10.3.60"), Transport::Tcp(8080)),
                Dropped,
            ),
            (
                Probe::new(xa.clone(), ip("10.10.2.12"), Transport::Tcp(80)),
                Connected,
            ),
        ],
    );
    let left: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    let mut expected = tb.layout().namespaces();
    expected.sort();
    let mut got = left.clone();
    got.sort();
    assert_eq!(got, expected, "namespaces after removal");
    assert!(
        !left
            .iter()
            .any(|n| n.contains("node-3") || n.ends_with("-x-k"))
    );
    for node in ["node-0", "node-1", "node-2"] {
        let routes = tb.run_in_node(node, &["ip", "route"]).unwrap();
        assert!(
            !routes.contains("10.10.1.51") && !routes.contains("10.10.3.60"),
            "{node}: {routes}"
        );
        let rules = tb.run_in_node(node, &["ip", "rule"]).unwrap();
        assert!(!rules.contains("lookup 1003"), "{node}: {rules}");
    }
    assert!(tb.reconcile(engine.cluster()).unwrap().is_empty());
    tb.flush_conntrack().expect("conntrack flush");
    tb.down().expect("down");
    assert!(
        !netns_list()
            .iter()
            .any(|n| n.starts_with(&format!("{prefix}-")))
    );
}
