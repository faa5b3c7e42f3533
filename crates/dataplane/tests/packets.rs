//! Privileged, real packets: one Node namespace and three Pod namespaces joined by veths
//! (Pod IP /32, default route via 169.254.1.1, proxy ARP on the Node side, Node route
//! `<ip>/32 dev <veth>`), echo servers in the Pods, the Node's rule set synced by an `TableWriter`.
//! Every probe is checked against the engine's verdict and against the expected outcome:
//! Allow, Drop (timeout), Reject (TCP RST; UDP → ICMP type 3 code 10), Kubernetes isolation
//! with a named port, egress on the same Node, the Node-to-own-Pod exemption, statefulness
//! (an established connection survives a new Drop rule) and per-rule counters that survive
//! the rebuild of their chain.
//!
//! ```text
//!   x/a 10.10.1.11 ──veth twa──┐
//!   x/b 10.10.1.12 ──veth twb──┼── node-0 (172.18.0.2, 169.254.1.1)
//!   x/c 10.10.1.13 ──veth twc──┘      (both on `lo`)
//! ```

mod common;

use common::net::{Seen, Servers, echo_round_trip, tcp_connect, tcp_probe, udp_probe};
use common::{Netns, scenario_engines};
use std::net::IpAddr;
use tierwall_dataplane::names::isolation_rule_id;
use tierwall_dataplane::{InterfaceMap, SyncMode, TableWriter};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::compile::Direction;
use tierwall_engine::ruleset::node_rule_set;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};

const SCENARIO: &str = r#"
name: dp-packets
cluster:
  standard: false
  nodes:
  - name: node-0
    ip: 172.18.0.2
    labels:
      kubernetes.io/hostname: node-0
  namespaces:
  - name: x
    labels:
      ns: x
  pods:
  - namespace: x
    name: a
    labels: {pod: a}
    ip: 10.10.1.11
    node: node-0
    ports: [{name: http, containerPort: 80, protocol: TCP}]
  - namespace: x
    name: b
    labels: {pod: b}
    ip: 10.10.1.12
    node: node-0
    ports: [{name: http, containerPort: 80, protocol: TCP}]
  - namespace: x
    name: c
    labels: {pod: c}
    ip: 10.10.1.13
    node: node-0
    ports: [{name: http, containerPort: 80, protocol: TCP}]
manifests: |
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata:
    name: to-b
  spec:
    priority: 5
    appliedTo:
    - podSelector:
        matchLabels: {pod: b}
    ingress:
    - name: allow-c-80
      action: Allow
      from:
      - podSelector:
          matchLabels: {pod: c}
      ports: [{protocol: TCP, port: 80}]
    - name: reject-a-81-tcp
      action: Reject
      from:
      - podSelector:
          matchLabels: {pod: a}
      ports: [{protocol: TCP, port: 81}]
    - name: reject-a-81-udp
      action: Reject
      from:
      - podSelector:
          matchLabels: {pod: a}
      ports: [{protocol: UDP, port: 81}]
    - name: drop-a-82
      action: Drop
      from:
      - podSelector:
          matchLabels: {pod: a}
      ports: [{protocol: TCP, port: 82}]
  ---
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata:
    name: from-c
  spec:
    priority: 5
    appliedTo:
    - podSelector:
        matchLabels: {pod: c}
    egress:
    - name: drop-to-a
      action: Drop
      to:
      - podSelector:
          matchLabels: {pod: a}
      ports: [{protocol: TCP, port: 80}]
  ---
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: isolate-c
    namespace: x
  spec:
    podSelector:
      matchLabels: {pod: c}
    policyTypes: [Ingress]
    ingress:
    - from:
      - podSelector:
          matchLabels: {pod: b}
      ports: [{port: http}]
steps:
- name: initial policies
- name: a new Drop from a to b
  apply: |
    apiVersion: crd.antrea.io/v1beta1
    kind: ClusterNetworkPolicy
    metadata:
      name: drop-a-b
    spec:
      priority: 1
      appliedTo:
      - podSelector:
          matchLabels: {pod: b}
      ingress:
      - name: drop-a-80
        action: Drop
        from:
        - podSelector:
            matchLabels: {pod: a}
        ports: [{protocol: TCP, port: 80}]
"#;

/// (pod, IP, Node-side interface).
const PODS: [(&str, &str, &str); 3] = [
    ("a", "10.10.1.11", "twa"),
    ("b", "10.10.1.12", "twb"),
    ("c", "10.10.1.13", "twc"),
];
const NODE_IP: &str = "172.18.0.2";

/// The Node and Pod namespaces, wired; everything goes with the guards.
struct Topology {
    // Pods first: dropping a Pod namespace removes its veth.
    pods: Vec<(String, Netns)>,
    node: Netns,
    ifaces: InterfaceMap,
}

impl Topology {
    fn new() -> Topology {
        let node = Netns::new("n");
        let n = node.name.clone();
        node.sysctl("net.ipv4.ip_forward", "1");
        // The Node's addresses live on `lo` (no dummy module needed); ARP for 169.254.1.1 is
        // answered on any interface since the address is local.
        common::sh(&[
            "ip",
            "-n",
            &n,
            "addr",
            "add",
            &format!("{NODE_IP}/32"),
            "dev",
            "lo",
        ]);
        common::sh(&["ip", "-n", &n, "addr", "add", "169.254.1.1/32", "dev", "lo"]);
        let mut pods = Vec::new();
        let mut ifaces = InterfaceMap::new();
        for (name, ip, veth) in PODS {
            let pod = Netns::new(name);
            let p = pod.name.clone();
            common::sh(&[
                "ip", "-n", &n, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                "netns", &p,
            ]);
            common::sh(&["ip", "-n", &n, "link", "set", veth, "up"]);
            node.sysctl(&format!("net.ipv4.conf.{veth}.proxy_arp"), "1");
            common::sh(&[
                "ip",
                "-n",
                &n,
                "route",
                "add",
                &format!("{ip}/32"),
                "dev",
                veth,
                "src",
                NODE_IP,
            ]);
            common::sh(&[
                "ip",
                "-n",
                &p,
                "addr",
                "add",
                &format!("{ip}/32"),
                "dev",
                "eth0",
            ]);
            common::sh(&["ip", "-n", &p, "link", "set", "eth0", "up"]);
            common::sh(&[
                "ip",
                "-n",
                &p,
                "route",
                "add",
                "169.254.1.1",
                "dev",
                "eth0",
                "scope",
                "link",
            ]);
            common::sh(&[
                "ip",
                "-n",
                &p,
                "route",
                "add",
                "default",
                "via",
                "169.254.1.1",
            ]);
            ifaces.insert(ip.parse::<IpAddr>().unwrap(), veth.to_string());
            pods.push((name.to_string(), pod));
        }
        Topology { pods, node, ifaces }
    }

    fn ns(&self, pod: &str) -> &str {
        &self.pods.iter().find(|(n, _)| n == pod).unwrap().1.name
    }
}

fn ip_of(pod: &str) -> &'static str {
    PODS.iter().find(|(n, _, _)| *n == pod).unwrap().1
}

fn outcome(seen: Seen) -> Outcome {
    match seen {
        Seen::Connected => Outcome::Connected,
        Seen::Refused | Seen::Icmp(3, 10) => Outcome::Rejected,
        Seen::Timeout => Outcome::Dropped,
        Seen::Icmp(t, c) => panic!("unexpected ICMP type {t} code {c}"),
    }
}

/// One probe: (source pod or None for the Node, destination pod, protocol, port, expected).
type Probe = (Option<&'static str>, &'static str, L4Protocol, u16, Seen);

fn run_probes(t: &Topology, engine: &Engine, probes: &[Probe]) {
    let mut failures = Vec::new();
    for &(src, dst, protocol, port, want) in probes {
        let addr = format!("{}:{port}", ip_of(dst));
        let ns = match src {
            Some(p) => t.ns(p).to_string(),
            None => t.node.name.clone(),
        };
        let seen = match protocol {
            L4Protocol::Tcp => tcp_probe(&ns, &addr),
            L4Protocol::Udp => udp_probe(&ns, &addr),
            L4Protocol::Sctp => unreachable!(),
        };
        let source = match src {
            Some(p) => Source::Pod {
                namespace: "x".into(),
                name: p.into(),
            },
            None => Source::Node("node-0".into()),
        };
        let target = Target::Pod {
            namespace: "x".into(),
            name: dst.into(),
        };
        let transport = ProbeTransport::L4 {
            protocol,
            port,
            src_port: 40000,
        };
        let engine_says = engine.probe(&source, &target, transport).outcome;
        let label = format!("{src:?} -> {dst}:{port}/{}", protocol.as_str());
        if seen != want || outcome(seen) != engine_says {
            failures.push(format!(
                "{label}: saw {seen:?}, expected {want:?}, engine {engine_says:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn real_packets_follow_the_rule_set() {
    require_root!();
    let states = scenario_engines(SCENARIO);
    let t = Topology::new();
    let mut servers = Servers::new();
    servers.serve(t.ns("a"), ip_of("a"), &[80], &[]);
    servers.serve(t.ns("b"), ip_of("b"), &[80, 81, 82], &[80, 81]);
    servers.serve(t.ns("c"), ip_of("c"), &[80], &[]);

    // Step 1.
    let (_, engine) = &states[0];
    let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
    let mut agent = TableWriter::new("node-0", t.node.target(), t.ifaces.clone());
    let report = agent.sync(&rules).unwrap();
    assert_eq!(report.mode, SyncMode::Full, "{report:?}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    use L4Protocol::{Tcp, Udp};
    run_probes(
        &t,
        engine,
        &[
            (Some("a"), "b", Tcp, 80, Seen::Connected), // no rule: allowed
            (Some("c"), "b", Tcp, 80, Seen::Connected), // allow-c-80
            (Some("a"), "b", Udp, 80, Seen::Connected),
            (Some("a"), "b", Tcp, 81, Seen::Refused), // Reject: TCP RST
            (Some("a"), "b", Udp, 81, Seen::Icmp(3, 10)), // Reject: host admin-prohibited
            (Some("a"), "b", Tcp, 82, Seen::Timeout), // Drop
            (Some("a"), "c", Tcp, 80, Seen::Timeout), // K8s isolation of c
            (Some("b"), "c", Tcp, 80, Seen::Connected), // K8s allow, named port `http`
            (Some("c"), "a", Tcp, 80, Seen::Timeout), // egress Drop of c, same Node
            (None, "c", Tcp, 80, Seen::Connected),    // Node to its own Pod: exempt
        ],
    );
    let counters = agent.counters().unwrap();
    let allow_c = "acnp/to-b/ingress/0";
    assert_eq!(counters[allow_c].packets, 1, "one session: {counters:?}");
    assert_eq!(counters["acnp/to-b/ingress/1"].packets, 1, "{counters:?}");
    assert!(counters["acnp/to-b/ingress/3"].packets >= 1, "{counters:?}");
    assert!(counters[isolation_rule_id(Direction::Ingress)].packets >= 1);

    // An established connection from a to b, then a new Drop rule in the same chain.
    let mut established = tcp_connect(t.ns("a"), &format!("{}:80", ip_of("b"))).unwrap();
    assert!(echo_round_trip(&mut established));
    let (_, engine) = &states[1];
    let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
    let report = agent.sync(&rules).unwrap();
    assert_eq!(report.mode, SyncMode::Incremental, "{report:?}");
    assert_eq!(report.changes.chains_rebuilt, vec!["ingress_tiers"]);
    assert!(
        echo_round_trip(&mut established),
        "established connection cut by a new rule"
    );
    run_probes(
        &t,
        engine,
        &[
            (Some("a"), "b", Tcp, 80, Seen::Timeout), // new connections: dropped
            (Some("c"), "b", Tcp, 80, Seen::Connected),
        ],
    );
    let counters = agent.counters().unwrap();
    assert_eq!(
        counters[allow_c].packets, 2,
        "the counter survived the chain change: {counters:?}"
    );
    assert!(
        counters["acnp/drop-a-b/ingress/0"].packets >= 1,
        "{counters:?}"
    );
    drop(established);
    drop(servers);
    agent.remove().unwrap();
}
