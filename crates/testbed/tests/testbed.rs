//! Privileged tests: real namespaces, real packets. They need root (CI runs as root) and the
//! `ip` and `nft` commands; without root each test says so and returns early.
//!
//! Every test builds its own testbed; the `Testbed` value is the guard that removes it, also
//! when an assertion panics.

use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;
use tierwall_engine::Engine;
use tierwall_engine::cluster::Cluster;
use tierwall_scenario::cluster::ClusterModel;
use tierwall_scenario::format::{PodSpec, PortSpec, ServicePortSpec, ServiceSpec};
use tierwall_testbed::{
    Endpoint, Outcome, Probe, ProbeHelperCommand, ProbeResult, Testbed, TestbedError,
    TestbedOptions, Transport,
};

const EXT_IP: &str = "192.168.100.7";

fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return false;
    }
    eprintln!("SKIPPED {test}: needs root to create network namespaces (CI runs it as root)");
    true
}

fn cluster_of(model: &ClusterModel) -> Cluster {
    let mut engine = Engine::new();
    for object in model.objects() {
        engine.apply(object).expect("standard objects are admitted");
    }
    engine.cluster().clone()
}

fn options() -> TestbedOptions {
    TestbedOptions {
        externals: vec![("ext-1".into(), EXT_IP.parse().unwrap())],
        probe_helper: Some(ProbeHelperCommand::new(env!(
            "CARGO_BIN_EXE_tierwall-probe-helper"
        ))),
        ..TestbedOptions::default()
    }
}

fn up(model: &ClusterModel) -> Testbed {
    let started = Instant::now();
    let tb = Testbed::up(&cluster_of(model), options()).expect("testbed up");
    eprintln!(
        "testbed {} up in {:.2?} (SCTP: {})",
        tb.prefix(),
        started.elapsed(),
        tb.has_sctp()
    );
    tb
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn pod_ip(tb: &Testbed, ns: &str, name: &str) -> IpAddr {
    IpAddr::V4(tb.pod_ip(ns, name).unwrap())
}

/// Runs probes `(label, probe, expected)` in one batch and reports every mismatch at once.
fn expect_all(tb: &Testbed, cases: Vec<(String, Probe, Outcome)>) -> Vec<ProbeResult> {
    let probes: Vec<Probe> = cases.iter().map(|(_, p, _)| p.clone()).collect();
    let started = Instant::now();
    let results = tb.probe_many(&probes).expect("probes run");
    eprintln!("{} probes in {:.2?}", probes.len(), started.elapsed());
    let failures: Vec<String> = cases
        .iter()
        .zip(&results)
        .filter(|((_, _, want), got)| got.outcome != *want)
        .map(|((label, _, want), got)| {
            format!(
                "{label}: want {want:?}, got {:?} ({})",
                got.outcome, got.detail
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    results
}

fn case(
    label: &str,
    src: Endpoint,
    dst: IpAddr,
    t: Transport,
    want: Outcome,
) -> (String, Probe, Outcome) {
    (
        format!("{label} [{src} -> {dst} {t}]"),
        Probe::new(src, dst, t),
        want,
    )
}

fn netns_with_prefix(prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let dash = format!("{prefix}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&dash))
        .map(str::to_string)
        .collect()
}

#[test]
fn pods_nodes_and_externals_reach_each_other() {
    if skip_unless_root("pods_nodes_and_externals_reach_each_other") {
        return;
    }
    let tb = up(&ClusterModel::standard());
    use Outcome::*;
    let (xa, ya, yb) = (
        Endpoint::pod("x", "a"),
        pod_ip(&tb, "y", "a"),
        pod_ip(&tb, "y", "b"),
    );
    assert_eq!(yb, ip("10.10.2.12"));
    let mut cases = vec![
        case(
            "cross-node TCP",
            xa.clone(),
            yb,
            Transport::Tcp(80),
            Connected,
        ),
        case(
            "cross-node UDP",
            xa.clone(),
            yb,
            Transport::Udp(80),
            Connected,
        ),
        case(
            "cross-node ICMP",
            xa.clone(),
            yb,
            Transport::Icmp,
            Connected,
        ),
        case(
            "same-node TCP",
            xa.clone(),
            ya,
            Transport::Tcp(81),
            Connected,
        ),
        case(
            "same-node UDP",
            xa.clone(),
            ya,
            Transport::Udp(81),
            Connected,
        ),
        case("same-node ICMP", xa.clone(), ya, Transport::Icmp, Connected),
        case("TCP 8085", xa.clone(), yb, Transport::Tcp(8085), Connected),
        case(
            "port not served",
            xa.clone(),
            yb,
            Transport::Tcp(82),
            Rejected,
        ),
        case(
            "UDP port not served",
            xa.clone(),
            yb,
            Transport::Udp(82),
            Rejected,
        ),
        case(
            "node to pod",
            Endpoint::node("node-2"),
            pod_ip(&tb, "x", "a"),
            Transport::Tcp(80),
            Connected,
        ),
        case(
            "node to node",
            Endpoint::node("node-0"),
            ip("172.18.0.3"),
            Transport::Tcp(10250),
            Connected,
        ),
        case(
            "pod to node",
            xa.clone(),
            ip("172.18.0.3"),
            Transport::Tcp(6443),
            Connected,
        ),
        case(
            "external to pod",
            Endpoint::external("ext-1"),
            pod_ip(&tb, "z", "c"),
            Transport::Tcp(80),
            Connected,
        ),
        case(
            "pod to external",
            xa.clone(),
            ip(EXT_IP),
            Transport::Udp(53),
            Connected,
        ),
        case(
            "pod to external ICMP",
            xa.clone(),
            ip(EXT_IP),
            Transport::Icmp,
            Connected,
        ),
        case(
            "nobody there",
            xa.clone(),
            ip("10.99.0.1"),
            Transport::Tcp(80),
            Dropped,
        ),
    ];
    if tb.has_sctp() {
        cases.push(case(
            "cross-node SCTP",
            xa.clone(),
            yb,
            Transport::Sctp(80),
            Connected,
        ));
        cases.push(case(
            "same-node SCTP",
            xa.clone(),
            ya,
            Transport::Sctp(81),
            Connected,
        ));
    } else {
        eprintln!("SCTP not supported by this kernel: SCTP probes skipped");
        assert!(matches!(
            tb.probe(&xa, yb, Transport::Sctp(80)),
            Err(TestbedError::SctpUnsupported)
        ));
    }
    let results = expect_all(&tb, cases);
    // The server saw the Pod's own address (no NAT between Pods).
    assert_eq!(
        results[0].server_saw.map(|a| a.ip()),
        Some(ip("10.10.1.11"))
    );
    assert_eq!(
        results[9].server_saw.map(|a| a.ip()),
        Some(ip("172.18.0.4"))
    );

    // Accessors the dataplane uses: the Pod's veth exists on its Node.
    let veth = tb.pod_veth_on_node("x", "a").unwrap().to_string();
    assert!(veth.len() <= 15);
    let links = tb
        .run_in_node("node-0", &["ip", "-o", "link", "show", &veth])
        .unwrap();
    assert!(links.contains(&veth), "{links}");
    assert!(
        tb.run_in_node("node-1", &["ip", "-o", "link", "show", &veth])
            .is_err()
    );
    assert_eq!(
        tb.node_netns("node-0").unwrap(),
        format!("{}-node-0", tb.prefix())
    );
    assert_eq!(
        tb.pod_netns("x", "a").unwrap(),
        format!("{}-x-a", tb.prefix())
    );
    assert!(tb.node_netns("node-9").is_err());

    // The whole 9x9 TCP matrix (72 ordered pairs) in one batch.
    let pods: Vec<(String, String)> = ["x", "y", "z"]
        .iter()
        .flat_map(|ns| ["a", "b", "c"].map(|p| (ns.to_string(), p.to_string())))
        .collect();
    let mut matrix = Vec::new();
    for (sns, sp) in &pods {
        for (dns, dp) in &pods {
            if (sns, sp) != (dns, dp) {
                matrix.push(case(
                    "matrix",
                    Endpoint::pod(sns, sp),
                    pod_ip(&tb, dns, dp),
                    Transport::Tcp(80),
                    Connected,
                ));
            }
        }
    }
    expect_all(&tb, matrix);
    tb.down().unwrap();
}

fn service(
    name: &str,
    ty: &str,
    ip: &str,
    selector: &[(&str, &str)],
    ports: Vec<ServicePortSpec>,
) -> ServiceSpec {
    ServiceSpec {
        namespace: "x".into(),
        name: name.into(),
        type_: Some(ty.into()),
        cluster_ip: Some(ip.into()),
        selector: Some(
            selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ports,
    }
}

fn svc_port(
    port: u16,
    target: serde_json::Value,
    protocol: &str,
    node_port: Option<u16>,
) -> ServicePortSpec {
    ServicePortSpec {
        name: None,
        port,
        target_port: Some(target),
        protocol: Some(protocol.into()),
        node_port,
    }
}

#[test]
fn services_dnat_to_backends_and_keep_the_client_address() {
    if skip_unless_root("services_dnat_to_backends_and_keep_the_client_address") {
        return;
    }
    let mut model = ClusterModel::standard();
    model.services = vec![
        // Named targetPort, backend x/b on node-1.
        service(
            "web",
            "ClusterIP",
            "10.96.0.10",
            &[("pod", "b")],
            vec![svc_port(8080, json!("serve-80-tcp"), "TCP", None)],
        ),
        // NodePort, backend x/b on node-1.
        service(
            "np",
            "NodePort",
            "10.96.0.11",
            &[("pod", "b")],
            vec![svc_port(80, json!(80), "TCP", Some(30080))],
        ),
        service(
            "none",
            "ClusterIP",
            "10.96.0.12",
            &[("pod", "nobody")],
            vec![svc_port(80, json!(80), "TCP", None)],
        ),
        // Three backends (x/a, x/b, x/c): x/a sometimes reaches itself (hairpin).
        service(
            "all",
            "ClusterIP",
            "10.96.0.13",
            &[],
            vec![svc_port(80, json!(80), "TCP", None)],
        ),
        service(
            "udp",
            "ClusterIP",
            "10.96.0.14",
            &[("pod", "c")],
            vec![svc_port(53, json!(81), "UDP", None)],
        ),
    ];
    // A hostNetwork Pod on node-1 serving TCP 9000 (in z, so that it is no backend of x/all).
    model.pods.push(PodSpec {
        namespace: "z".into(),
        name: "h".into(),
        labels: Some(BTreeMap::from([("pod".to_string(), "h".to_string())])),
        node: Some("node-1".into()),
        host_network: Some(true),
        ports: Some(vec![PortSpec {
            name: Some("metrics".into()),
            container_port: 9000,
            protocol: Some("TCP".into()),
        }]),
        ..Default::default()
    });
    // A gateway IP on node-1: one more address of the Node.
    model.nodes[1].gateway_ip = Some("10.10.0.1".into());
    let tb = up(&model);
    use Outcome::*;
    let xa = Endpoint::pod("x", "a");
    let ext = Endpoint::external("ext-1");
    let mut cases = vec![
        case(
            "ClusterIP, named targetPort",
            xa.clone(),
            ip("10.96.0.10"),
            Transport::Tcp(8080),
            Connected,
        ),
        case(
            "ClusterIP from another node's pod",
            Endpoint::pod("y", "c"),
            ip("10.96.0.10"),
            Transport::Tcp(8080),
            Connected,
        ),
        case(
            "ClusterIP from a node",
            Endpoint::node("node-2"),
            ip("10.96.0.10"),
            Transport::Tcp(8080),
            Connected,
        ),
        case(
            "NodePort, backend on another node",
            ext.clone(),
            ip("172.18.0.2"),
            Transport::Tcp(30080),
            Connected,
        ),
        case(
            "NodePort, backend on this node",
            ext.clone(),
            ip("172.18.0.3"),
            Transport::Tcp(30080),
            Connected,
        ),
        case(
            "NodePort from a node",
            Endpoint::node("node-2"),
            ip("172.18.0.2"),
            Transport::Tcp(30080),
            Connected,
        ),
        case(
            "NodePort from a pod",
            xa.clone(),
            ip("172.18.0.4"),
            Transport::Tcp(30080),
            Connected,
        ),
        case(
            "Service port only on ClusterIP",
            xa.clone(),
            ip("10.96.0.11"),
            Transport::Tcp(80),
            Connected,
        ),
        case(
            "no backends",
            xa.clone(),
            ip("10.96.0.12"),
            Transport::Tcp(80),
            Rejected,
        ),
        case(
            "UDP Service",
            xa.clone(),
            ip("10.96.0.14"),
            Transport::Udp(53),
            Connected,
        ),
        case(
            "hostNetwork server",
            xa.clone(),
            ip("172.18.0.3"),
            Transport::Tcp(9000),
            Connected,
        ),
        case(
            "hostNetwork source",
            Endpoint::pod("z", "h"),
            pod_ip(&tb, "y", "a"),
            Transport::Tcp(80),
            Connected,
        ),
        case(
            "gateway IP from a pod",
            xa.clone(),
            ip("10.10.0.1"),
            Transport::Tcp(10250),
            Connected,
        ),
        case(
            "gateway IP from a local pod",
            Endpoint::pod("y", "b"),
            ip("10.10.0.1"),
            Transport::Tcp(6443),
            Connected,
        ),
        case(
            "NodePort on the gateway IP",
            ext.clone(),
            ip("10.10.0.1"),
            Transport::Tcp(30080),
            Connected,
        ),
    ];
    for _ in 0..8 {
        cases.push(case(
            "three backends",
            xa.clone(),
            ip("10.96.0.13"),
            Transport::Tcp(80),
            Connected,
        ));
    }
    let r = expect_all(&tb, cases);
    let saw = |i: usize| r[i].server_saw.map(|a| a.ip());
    assert_eq!(
        saw(0),
        Some(ip("10.10.1.11")),
        "ClusterIP: the backend sees the Pod"
    );
    assert_eq!(
        saw(3),
        Some(ip(EXT_IP)),
        "NodePort keeps the client address"
    );
    assert_eq!(saw(4), Some(ip(EXT_IP)));
    assert_eq!(saw(5), Some(ip("172.18.0.4")));
    assert_eq!(
        saw(11),
        Some(ip("172.18.0.3")),
        "a hostNetwork Pod has its Node's address"
    );
    assert_eq!(
        tb.pod_netns("z", "h").unwrap(),
        tb.node_netns("node-1").unwrap()
    );
    assert!(tb.pod_veth_on_node("z", "h").is_err());

    // Services change while the testbed runs: "none" gets a backend, "web" loses its own.
    model.services[2].selector = Some(BTreeMap::from([("pod".to_string(), "c".to_string())]));
    model.services[0].selector = Some(BTreeMap::from([("pod".to_string(), "nobody".to_string())]));
    tb.update_services(&cluster_of(&model)).unwrap();
    expect_all(
        &tb,
        vec![
            case(
                "backend added",
                xa.clone(),
                ip("10.96.0.12"),
                Transport::Tcp(80),
                Connected,
            ),
            case(
                "backend gone",
                xa.clone(),
                ip("10.96.0.10"),
                Transport::Tcp(8080),
                Rejected,
            ),
        ],
    );
    tb.down().unwrap();
}

#[test]
fn nft_rules_in_a_node_drop_and_reject() {
    if skip_unless_root("nft_rules_in_a_node_drop_and_reject") {
        return;
    }
    let tb = up(&ClusterModel::standard());
    let yb = pod_ip(&tb, "y", "b");
    let veth = tb.pod_veth_on_node("y", "b").unwrap().to_string();
    let m = |proto: &str, field: &str, right: serde_json::Value| json!({"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": field}}, "right": right}});
    let out_to_yb =
        json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": veth}});
    let rule = |exprs: Vec<serde_json::Value>| json!({"add": {"rule": {"family": "inet", "table": "tw-test", "chain": "forward", "expr": exprs}}});
    let admin = json!({"reject": {"type": "icmp", "expr": "admin-prohibited"}});
    let doc = json!({"nftables": [
        {"add": {"table": {"family": "inet", "name": "tw-test"}}},
        {"add": {"chain": {"family": "inet", "table": "tw-test", "name": "forward",
            "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}},
        rule(vec![out_to_yb.clone(), m("tcp", "dport", json!(80)), json!({"drop": null})]),
        rule(vec![out_to_yb.clone(), m("tcp", "dport", json!(81)), json!({"reject": {"type": "tcp reset"}})]),
        rule(vec![out_to_yb.clone(), m("udp", "dport", json!(80)), admin.clone()]),
        rule(vec![out_to_yb.clone(), m("icmp", "type", json!("echo-request")), admin]),
    ]});
    tb.apply_nft_json("node-1", &doc.to_string()).unwrap();
    let ruleset = tb.list_ruleset_json("node-1").unwrap().to_string();
    assert!(ruleset.contains("tw-test") && ruleset.contains("tierwall-svc"));

    use Outcome::*;
    let xa = Endpoint::pod("x", "a");
    let r = expect_all(
        &tb,
        vec![
            case("drop rule", xa.clone(), yb, Transport::Tcp(80), Dropped),
            case(
                "tcp reset rule",
                xa.clone(),
                yb,
                Transport::Tcp(81),
                Rejected,
            ),
            case(
                "admin-prohibited UDP",
                xa.clone(),
                yb,
                Transport::Udp(80),
                Rejected,
            ),
            case(
                "admin-prohibited ICMP",
                xa.clone(),
                yb,
                Transport::Icmp,
                Rejected,
            ),
            case(
                "other port untouched",
                xa.clone(),
                yb,
                Transport::Tcp(8080),
                Connected,
            ),
            case(
                "other pod untouched",
                xa.clone(),
                pod_ip(&tb, "z", "b"),
                Transport::Tcp(80),
                Connected,
            ),
            case(
                "node-local rule only",
                xa.clone(),
                pod_ip(&tb, "y", "c"),
                Transport::Tcp(80),
                Connected,
            ),
        ],
    );
    assert!(r[2].detail.contains("code 13"), "{}", r[2].detail);
    assert!(r[3].detail.contains("code 13"), "{}", r[3].detail);
    assert!(r[1].detail.contains("RST"), "{}", r[1].detail);
    tb.down().unwrap();
}

#[test]
fn two_testbeds_coexist_and_leave_nothing_behind() {
    if skip_unless_root("two_testbeds_coexist_and_leave_nothing_behind") {
        return;
    }
    let model = ClusterModel::standard();
    let a = up(&model);
    let b = up(&model);
    assert_ne!(a.prefix(), b.prefix());
    let (pa, pb) = (a.prefix().to_string(), b.prefix().to_string());
    let probe = Probe::new(
        Endpoint::pod("x", "a"),
        ip("10.10.3.13"),
        Transport::Tcp(80),
    );
    for tb in [&a, &b] {
        let r = tb.probe_many(std::slice::from_ref(&probe)).unwrap();
        assert_eq!(r[0].outcome, Outcome::Connected, "{}", r[0].detail);
    }
    let state_a = tierwall_testbed::state::read(&pa).unwrap();
    assert!(!state_a.servers.is_empty());
    a.down().unwrap();
    assert_eq!(netns_with_prefix(&pa), Vec::<String>::new());
    assert!(!tierwall_testbed::state::state_path(&pa).exists());
    for s in &state_a.servers {
        assert!(
            !std::path::Path::new(&format!("/proc/{}", s.pid)).exists(),
            "server {} in {} still running",
            s.pid,
            s.netns
        );
    }
    // b is untouched by a's teardown.
    assert_eq!(
        b.probe_many(&[probe]).unwrap()[0].outcome,
        Outcome::Connected
    );
    assert!(!netns_with_prefix(&pb).is_empty());

    // A panic while the guard is alive still removes the testbed.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _guard = b;
        panic!("a failing test");
    }));
    assert!(panicked.is_err());
    assert_eq!(netns_with_prefix(&pb), Vec::<String>::new());
    assert!(!tierwall_testbed::state::state_path(&pb).exists());
}

#[test]
fn detached_testbed_is_attached_and_brought_down_by_prefix() {
    if skip_unless_root("detached_testbed_is_attached_and_brought_down_by_prefix") {
        return;
    }
    let tb = up(&ClusterModel::standard());
    let prefix = tb.detach();
    assert!(tierwall_testbed::list().unwrap().contains(&prefix));
    let attached = Testbed::attach(&prefix).unwrap();
    let r = attached
        .probe(
            &Endpoint::pod("z", "c"),
            ip("10.10.1.11"),
            Transport::Udp(80),
        )
        .unwrap();
    assert_eq!(r.outcome, Outcome::Connected, "{}", r.detail);
    drop(attached); // not a guard: the testbed stays
    assert!(!netns_with_prefix(&prefix).is_empty());
    // Even without its state file the testbed is found (by its fabric netns) and removed.
    std::fs::remove_file(tierwall_testbed::state::state_path(&prefix)).unwrap();
    assert!(tierwall_testbed::list().unwrap().contains(&prefix));
    tierwall_testbed::down_by_prefix(&prefix).unwrap();
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new());
    assert!(matches!(
        Testbed::attach(&prefix),
        Err(TestbedError::NotFound(_))
    ));
    assert!(matches!(
        tierwall_testbed::down_by_prefix(&prefix),
        Err(TestbedError::NotFound(_))
    ));
}

#[test]
fn a_failed_build_removes_what_it_created() {
    if skip_unless_root("a_failed_build_removes_what_it_created") {
        return;
    }
    let prefix = format!("twfail{:04x}", std::process::id() & 0xffff);
    let options = TestbedOptions {
        prefix: Some(prefix.clone()),
        probe_helper: Some(ProbeHelperCommand::new("/bin/false")),
        ..TestbedOptions::default()
    };
    let err = Testbed::up(&cluster_of(&ClusterModel::standard()), options).unwrap_err();
    eprintln!("expected failure: {err}");
    assert_eq!(netns_with_prefix(&prefix), Vec::<String>::new());
    assert!(!tierwall_testbed::state::state_path(&prefix).exists());
}
