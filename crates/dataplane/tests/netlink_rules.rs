//! Privileged: rules and sets written through `tierwall_dataplane::netlink` are the ones nft
//! writes. Each rule shape the renderer produces (every scenario file on every Node and step,
//! plus a scenario with every construct) is written by nft (the full document), read back
//! with a netlink `NFT_MSG_GETRULE` dump, then the chain is flushed and rewritten by the
//! netlink encoder and read back again: the kernel's dump of each rule (its expressions and
//! its comment) must be the same bytes, and `nft -j list chain` must print the same.

mod common;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tierwall_dataplane::names::{self, TABLE};
use tierwall_dataplane::netlink::dump::{list_rules, list_sets};
use tierwall_dataplane::netlink::{Batch, Session};
use tierwall_dataplane::ruleset::{Element, MapData, MapKey, MapVerdict, SetKind};
use tierwall_dataplane::{Document, InterfaceMap, Ruleset, apply, render};
use tierwall_engine::ruleset::{NodeRuleSet, node_rule_set};
use tierwall_scenario::collect_files;
use tierwall_scenario::format::ScenarioFile;

/// Every construct of the renderer on node-0 (x/a, y/a, z/a): the render snapshot's policies
/// (Allow/Drop/Reject/Pass in two tiers, logging, toServices, a NodePort `service` appliedTo,
/// a port range, ICMP, a named port, a baseline Drop) and more: ICMP type and code, IGMP,
/// source ports (a single one and a range), a merged run of CIDR rules (exact and interval
/// keys), a peer that is one CIDR literal.
const SHAPES: &str = r#"
name: dp-netlink-shapes
cluster:
  namespaces:
  - name: x
    labels: {ns: x}
    annotations: {networkpolicy.antrea.io/enable-logging: "true"}
  services:
  - namespace: y
    name: web
    type: NodePort
    clusterIP: 10.96.0.10
    selector: {pod: b}
    ports: [{name: http, port: 8000, targetPort: 80, protocol: TCP, nodePort: 30080}]
manifests: |
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {name: sec}
  spec:
    tier: securityops
    priority: 1
    appliedTo:
    - podSelector:
        matchLabels: {pod: a}
    ingress:
    - name: reject-z
      action: Reject
      enableLogging: true
      logLabel: rz
      from:
      - namespaceSelector:
          matchLabels: {ns: z}
      ports: [{protocol: TCP, port: 8080, endPort: 8085}]
    - name: pass-y
      action: Pass
      from:
      - namespaceSelector:
          matchLabels: {ns: y}
    egress:
    - name: to-web
      action: Allow
      toServices: [{name: web, namespace: y}]
    - name: no-ping-out
      action: Drop
      protocols: [{icmp: {icmpType: 8}}]
    - name: no-unreachable
      action: Drop
      protocols: [{icmp: {icmpType: 3, icmpCode: 1}}]
    - name: any-icmp
      action: Reject
      protocols: [{icmp: {}}]
    - name: dns-from-port
      action: Allow
      to: [{ipBlock: {cidr: 10.53.0.0/16}}]
      ports: [{protocol: UDP, port: 53, sourcePort: 5353}]
    - name: dns-from-ports
      action: Allow
      to: [{ipBlock: {cidr: 10.54.16.0/20}}]
      ports: [{protocol: UDP, port: 53, sourcePort: 1000, sourceEndPort: 2000}]
    - name: run-1
      action: Allow
      to: [{ipBlock: {cidr: 10.1.0.0/16}}]
      ports: [{protocol: TCP, port: 80}]
    - name: run-2
      action: Drop
      to: [{ipBlock: {cidr: 10.2.0.1/32}}]
      ports: [{protocol: TCP, port: 443}]
    - name: run-3
      action: Reject
      to: [{ipBlock: {cidr: 10.3.0.0/24}}]
      ports: [{protocol: TCP, port: 8000, endPort: 8100}]
    - name: any-port-udp
      action: Drop
      to: [{ipBlock: {cidr: 0.0.0.0/0}}]
      ports: [{protocol: UDP}]
  ---
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {name: igmp}
  spec:
    priority: 3
    appliedTo:
    - podSelector: {}
    ingress:
    - name: igmp-query
      action: Drop
      protocols: [{igmp: {igmpType: 17}}]
    egress:
    - name: igmp-report
      action: Allow
      protocols: [{igmp: {igmpType: 22}}]
  ---
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {name: nodeport}
  spec:
    priority: 2
    appliedTo:
    - service: {name: web, namespace: y}
    ingress:
    - action: Drop
      from:
      - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
  ---
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {name: base}
  spec:
    tier: baseline
    priority: 1
    appliedTo:
    - namespaceSelector: {}
    ingress:
    - name: drop-rest
      action: Drop
  ---
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: web-only, namespace: x}
  spec:
    podSelector: {}
    policyTypes: [Ingress]
    ingress:
    - from:
      - podSelector: {}
      ports: [{port: serve-80-tcp}]
steps:
- name: all
"#;

fn ifaces(rules: &NodeRuleSet) -> InterfaceMap {
    rules
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| (p.ip, format!("twp{i}")))
        .collect()
}

fn scenario_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = vec![root.join("tests/scenarios")];
    let shared = root.join("../shared/scenarios");
    if shared.exists() {
        dirs.push(shared);
    }
    collect_files(&dirs).unwrap()
}

/// The renderings of the shapes scenario, then of every step of every scenario file on
/// every Node (label, rendering).
fn renderings() -> Vec<(String, Ruleset)> {
    let mut out = Vec::new();
    let mut add = |label: String, states: Vec<(String, tierwall_engine::Engine)>| {
        for (step, e) in states {
            for node in e.cluster().nodes.keys() {
                let rules = node_rule_set(e.cluster(), e.table(), node);
                out.push((
                    format!("{label} {step} {node}"),
                    render(&rules, &ifaces(&rules)),
                ));
            }
        }
    };
    add("shapes".into(), common::scenario_engines(SHAPES));
    for path in scenario_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let file: ScenarioFile = serde_saphyr::from_str(&text).unwrap();
        add(
            path.display().to_string(),
            common::scenario_file_engines(&file),
        );
    }
    out
}

/// `nft -j list chain`, rule handles removed (they differ after a rewrite).
fn chain_listing(ns: &common::Netns, chain: &str) -> Value {
    let text = ns.exec(&["nft", "-j", "list", "chain", "inet", TABLE, chain]);
    let mut v: Value = serde_json::from_str(&text).unwrap();
    for item in v["nftables"].as_array_mut().into_iter().flatten() {
        if let Some(r) = item.get_mut("rule").and_then(Value::as_object_mut) {
            r.remove("handle");
        }
    }
    v["nftables"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i.get("metainfo").is_none())
                .cloned()
                .collect()
        })
        .unwrap_or(Value::Null)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_rendered_rule_written_by_netlink_is_the_rule_nft_writes() {
    require_root!();
    let ns = common::Netns::new("nlrule");
    let target = ns.target();
    let mut session = Session::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let (mut tables, mut compared) = (0, 0);
    for (label, r) in renderings() {
        // Chains with a rule shape not compared yet (`reject_packet` has no netlink form).
        let fresh: Vec<_> = r
            .chains
            .iter()
            .filter(|c| c.hook.is_none() && c.name != names::CHAIN_REJECT)
            .filter(|c| {
                c.rules
                    .iter()
                    .any(|rule| !seen.contains(&json!([rule.expr, rule.comment]).to_string()))
            })
            .collect();
        if fresh.is_empty() {
            continue;
        }
        apply(&target, &r.replace_document()).unwrap_or_else(|e| panic!("{label}: {e}"));
        tables += 1;
        for c in fresh {
            let by_nft = list_rules(&target, &c.name).unwrap();
            let listed_by_nft = chain_listing(&ns, &c.name);
            assert_eq!(by_nft.len(), c.rules.len(), "{label}: chain {}", c.name);
            let mut batch = Batch::new();
            batch.flush_chain(&c.name);
            for rule in &c.rules {
                batch
                    .add_rule(&c.name, rule)
                    .unwrap_or_else(|e| panic!("{label}: chain {}: {e}", c.name));
            }
            session
                .commit(&target, &batch)
                .unwrap_or_else(|e| panic!("{label}: chain {}: {e}", c.name));
            let by_netlink = list_rules(&target, &c.name).unwrap();
            assert_eq!(by_netlink.len(), c.rules.len(), "{label}: chain {}", c.name);
            for ((rule, a), b) in c.rules.iter().zip(&by_nft).zip(&by_netlink) {
                assert_eq!(
                    (hex(&a.expressions), &a.userdata),
                    (hex(&b.expressions), &b.userdata),
                    "{label}: chain {}: rule {} {:?} — nft's bytes left, netlink's right",
                    c.name,
                    json!(rule.expr),
                    rule.comment
                );
                seen.insert(json!([rule.expr, rule.comment]).to_string());
                compared += 1;
            }
            assert_eq!(
                chain_listing(&ns, &c.name),
                listed_by_nft,
                "{label}: chain {}",
                c.name
            );
        }
    }
    // Every construct was met at least once.
    let all: String = seen.iter().cloned().collect();
    for construct in [
        "\"log\"",
        "\"vmap\"",
        "\"map\"",
        "proto-dst",
        "\"dnat\"",
        "\"icmp\"",
        "\"code\"",
        "\"igmp\"",
        "\"sport\"",
        "\"range\"",
        "\"prefix\"",
        "\"goto\"",
        "\"jump\"",
        "\"return\"",
        "\"drop\"",
        "\"concat\"",
        "\"l4proto\"}},{\"payload\"",
        "\"len\":0",
        "\"len\":20",
        "\"len\":24",
    ] {
        assert!(all.contains(construct), "no rule with {construct}");
    }
    eprintln!(
        "{compared} rules ({} shapes) in {tables} tables: nft's and netlink's bytes equal",
        seen.len()
    );
    assert!(seen.len() > 100, "only {} rule shapes", seen.len());
}

/// One set of each kind, with elements: created by nft (JSON) and by netlink, the kernel
/// holds the same definition (flags, key and data types, user data) and nft lists the same.
#[test]
fn sets_created_by_netlink_are_the_sets_nft_creates() {
    require_root!();
    let ns = common::Netns::new("nlset");
    let target = ns.target();
    let a = "10.0.0.1".parse().unwrap();
    let key = |net: &str, lo, hi| MapKey {
        net: net.parse().unwrap(),
        lo,
        hi,
    };
    let kinds: Vec<(SetKind, Vec<Element>)> = vec![
        (SetKind::Ifname, vec![Element::Ifname("veth1".into())]),
        (SetKind::Ipv4, vec![Element::Ipv4(a)]),
        (
            SetKind::Ipv4Intervals,
            vec![Element::Net("10.1.0.0/16".parse().unwrap())],
        ),
        (SetKind::Port, vec![Element::Port(80)]),
        (SetKind::AddrPort, vec![Element::AddrPort(a, 80)]),
        (
            SetKind::AddrProtoPort,
            vec![Element::AddrProtoPort(
                a,
                tierwall_engine::cluster::L4Protocol::Udp,
                53,
            )],
        ),
        (SetKind::AddrPair, vec![Element::AddrPair(a, a)]),
        (
            SetKind::CounterMap(false),
            vec![Element::Mapped(
                key("10.0.0.1/32", 80, 80),
                MapData::Counter("c".into()),
            )],
        ),
        (
            SetKind::CounterMap(true),
            vec![Element::Mapped(
                key("10.0.0.0/24", 80, 90),
                MapData::Counter("c".into()),
            )],
        ),
        (
            SetKind::VerdictMap(false),
            vec![Element::Mapped(
                key("10.0.0.1/32", 80, 80),
                MapData::Verdict(MapVerdict::Drop),
            )],
        ),
        (
            SetKind::VerdictMap(true),
            vec![Element::Mapped(
                key("10.0.0.0/24", 80, 90),
                MapData::Verdict(MapVerdict::Goto("t".into())),
            )],
        ),
    ];
    let mut commands = vec![
        json!({"add": {"table": {"family": "inet", "name": TABLE}}}),
        json!({"add": {"chain": {"family": "inet", "table": TABLE, "name": "t"}}}),
        json!({"add": {"counter": {"family": "inet", "table": TABLE, "name": "c"}}}),
    ];
    let mut batch = Batch::new();
    for (i, (kind, elements)) in kinds.iter().enumerate() {
        let mut spec = kind.spec();
        spec["family"] = json!("inet");
        spec["table"] = json!(TABLE);
        spec["name"] = json!(format!("nft{i}"));
        commands.push(json!({"add": {kind.object(): spec}}));
        let elem: Vec<Value> = elements.iter().map(Element::to_json).collect();
        commands.push(json!({"add": {"element": {
            "family": "inet", "table": TABLE, "name": format!("nft{i}"), "elem": elem
        }}}));
        batch.add_set(&format!("nl{i}"), *kind);
        batch
            .add_elements(&format!("nl{i}"), *kind, elements)
            .unwrap();
    }
    commands.insert(0, json!({"metainfo": {"json_schema_version": 1}}));
    apply(
        &target,
        &Document::from_json(json!({ "nftables": commands })),
    )
    .unwrap();
    batch.commit(&target).unwrap();
    let sets = list_sets(&target).unwrap();
    let without_name = |name: &str| -> Vec<(u16, Vec<u8>)> {
        sets[name]
            .iter()
            .filter(|(k, _)| *k != 2)
            .cloned()
            .collect()
    };
    for (i, (kind, _)) in kinds.iter().enumerate() {
        assert_eq!(
            without_name(&format!("nl{i}")),
            without_name(&format!("nft{i}")),
            "{kind:?}: the kernel's set definitions differ"
        );
        let listed = |name: &str| {
            ns.exec(&["nft", "list", kind.object(), "inet", TABLE, name])
                .replace(name, "S")
        };
        assert_eq!(
            listed(&format!("nl{i}")),
            listed(&format!("nft{i}")),
            "{kind:?}"
        );
    }
    assert_eq!(sets.len(), 2 * kinds.len());
}
