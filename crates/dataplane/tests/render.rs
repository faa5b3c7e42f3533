//! Unprivileged tests of `render` and of the transactions: snapshots of the documents (one nft
//! command per line, `tests/snapshots/`), determinism, the Antrea-specific details (reject
//! codes, logging, isolation), IPv6 and missing interfaces, element-level diffs.

mod common;

use serde_json::Value;
use std::net::IpAddr;
use tierwall_dataplane::names::{self, Stage};
use tierwall_dataplane::ruleset::Element;
use tierwall_dataplane::{InterfaceMap, LogStage, Ruleset, render};
use tierwall_engine::compile::Direction;
use tierwall_engine::ruleset::{NodeRuleSet, node_rule_set};

/// Interfaces named after the Pod (`v-x-a`).
fn ifaces(rules: &NodeRuleSet) -> InterfaceMap {
    rules
        .pods
        .iter()
        .map(|p| (p.ip, format!("v-{}-{}", p.namespace, p.name)))
        .collect()
}

fn rules_of(yaml: &str, node: &str) -> Vec<NodeRuleSet> {
    common::scenario_engines(yaml)
        .iter()
        .map(|(_, e)| node_rule_set(e.cluster(), e.table(), node))
        .collect()
}

const NO_POLICY: &str = "name: dp-no-policy\nsteps:\n- name: nothing\n";

/// Every stage once, on node-0 (x/a, y/a, z/a): Allow/Drop/Reject/Pass in two tiers, a
/// baseline Drop, a Kubernetes NetworkPolicy with a named port in a logged namespace,
/// toServices, a NodePort `service` appliedTo, port ranges and ICMP.
const POLICIES: &str = r#"
name: dp-render
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

fn document_lines(r: &Ruleset) -> String {
    r.full_document().to_lines()
}

#[test]
fn snapshot_without_policies() {
    let rules = &rules_of(NO_POLICY, "node-1")[0];
    let r = render(rules, &ifaces(rules));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    insta::assert_snapshot!("no_policy_node_1", document_lines(&r));
}

#[test]
fn snapshot_with_every_stage() {
    let rules = &rules_of(POLICIES, "node-0")[0];
    let r = render(rules, &ifaces(rules));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    insta::assert_snapshot!("every_stage_node_0", document_lines(&r));
}

#[test]
fn rendering_is_deterministic() {
    let a = &rules_of(POLICIES, "node-0")[0];
    let b = &rules_of(POLICIES, "node-0")[0];
    let ra = render(a, &ifaces(a));
    let rb = render(b, &ifaces(b));
    assert_eq!(ra, rb);
    assert_eq!(
        ra.full_document().to_json_string(),
        rb.full_document().to_json_string()
    );
    // The interface map's order of insertion does not matter either.
    let reversed: InterfaceMap = ifaces(a).into_iter().rev().collect();
    assert_eq!(render(a, &reversed), ra);
}

fn chain_json(r: &Ruleset, name: &str) -> String {
    let c = r.chain(name).unwrap_or_else(|| panic!("no chain {name}"));
    c.rules
        .iter()
        .map(|r| Value::Array(r.expr.clone()).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn reject_answers_like_antrea() {
    let rules = &rules_of(POLICIES, "node-0")[0];
    let r = render(rules, &ifaces(rules));
    let reject = chain_json(&r, names::CHAIN_REJECT);
    assert!(
        reject.contains(r#"{"reject":{"type":"tcp reset"}}"#),
        "{reject}"
    );
    // ICMP type 3 code 10 ("host administratively prohibited"), not 13 (`admin-prohibited`).
    assert!(
        reject.contains(r#"{"reject":{"type":"icmp","expr":"host-prohibited"}}"#),
        "{reject}"
    );
    assert!(
        reject.contains(r#"{"reject":{"type":"icmpv6","expr":"admin-prohibited"}}"#),
        "{reject}"
    );
    let ingress = chain_json(&r, &names::chain(Direction::Ingress, Stage::Tiers));
    assert!(ingress.contains(r#"{"jump":{"target":"reject_packet"}}"#));
    assert!(
        ingress.contains(r#"{"goto":{"target":"ingress_k8s"}}"#),
        "Pass"
    );
}

#[test]
fn allow_returns_so_that_the_other_direction_still_runs() {
    let rules = &rules_of(POLICIES, "node-0")[0];
    let r = render(rules, &ifaces(rules));
    for chain in &r.chains {
        if chain.hook.is_none() {
            for rule in &chain.rules {
                assert!(
                    !rule.expr.iter().any(|s| s.get("accept").is_some()),
                    "accept in {}: {:?}",
                    chain.name,
                    rule.expr
                );
            }
        }
    }
}

#[test]
fn logged_rules_have_prefixes_mapped_to_their_rules() {
    let rules = &rules_of(POLICIES, "node-0")[0];
    let r = render(rules, &ifaces(rules));
    let (prefix, log) = r
        .logs
        .iter()
        .find(|(_, l)| l.rule_name.as_deref() == Some("reject-z"))
        .expect("reject-z is logged");
    assert_eq!(log.stage, LogStage::Antrea);
    assert_eq!(log.log_label, "rz");
    assert!(prefix.len() <= 20, "{prefix}");
    let ingress = chain_json(&r, &names::chain(Direction::Ingress, Stage::Tiers));
    assert!(
        ingress.contains(&format!(r#""prefix":"{prefix}""#)),
        "{ingress}"
    );
    // The namespace x logs Kubernetes NetworkPolicies: its allow rule and its isolation drops.
    let k8s = r
        .logs
        .values()
        .find(|l| l.stage == LogStage::K8sAllow)
        .expect("the K8s allow rule of x is logged");
    assert_eq!(k8s.rule_id, "netpol/x/web-only/ingress/0");
    let x_a: IpAddr = "10.10.1.11".parse().unwrap();
    let logged = &r.sets[&names::isolated_logged_set(Direction::Ingress)];
    assert!(logged.elements.contains(&Element::Ipv4(match x_a {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => unreachable!(),
    })));
}

#[test]
fn every_rule_has_a_named_counter_with_its_rule_id() {
    let rules = &rules_of(POLICIES, "node-0")[0];
    let r = render(rules, &ifaces(rules));
    for e in rules.rules() {
        let name = names::counter(&e.id);
        assert_eq!(r.rule_id_of_counter(&name), Some(e.id.as_str()));
    }
    for chain in &r.chains {
        for rule in &chain.rules {
            for s in &rule.expr {
                if let Some(name) = s.get("counter").and_then(Value::as_str) {
                    assert!(r.counters.contains_key(name), "{name}");
                }
            }
        }
    }
}

#[test]
fn ipv6_members_and_pods_without_interface_are_reported() {
    let mut rules = rules_of(POLICIES, "node-0")[0].clone();
    let v6: IpAddr = "fd00::5".parse().unwrap();
    std::sync::Arc::make_mut(&mut rules.ingress.antrea[0].peers.pods).insert(v6);
    rules.ingress.antrea[0]
        .peers
        .cidrs
        .push("fd00::/64".parse().unwrap());
    let mut map = ifaces(&rules);
    let missing = rules.pods[0].ip;
    map.remove(&missing);
    let r = render(&rules, &map);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("2 IPv6 member(s) skipped")),
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("has no interface")),
        "{:?}",
        r.warnings
    );
    let doc = r.full_document().to_json_string();
    assert!(!doc.contains("fd00"), "an IPv6 member was rendered");
}

#[test]
fn a_member_change_is_an_element_change_only() {
    let before = rules_of(POLICIES, "node-0")[0].clone();
    let mut after = before.clone();
    let extra: IpAddr = "10.10.9.9".parse().unwrap();
    std::sync::Arc::make_mut(&mut after.ingress.antrea[0].peers.pods).insert(extra);
    let old = render(&before, &ifaces(&before));
    let new = render(&after, &ifaces(&after));
    let tx = old.diff(&new).unwrap();
    assert_eq!(tx.document.commands(), 1, "{}", tx.document.to_lines());
    assert!(tx.changes.chains_rebuilt.is_empty());
    assert_eq!(tx.changes.elements_added, 1);
    let line = tx.document.to_lines();
    assert!(
        line.contains(r#"{"add":{"element""#) && line.contains("10.10.9.9"),
        "{line}"
    );
    // And back: one delete.
    let back = new.diff(&old).unwrap();
    assert_eq!(back.document.commands(), 1);
    assert_eq!(back.changes.elements_removed, 1);
    assert!(old.diff(&old).unwrap().document.is_empty());
}

#[test]
fn a_new_rule_rebuilds_only_its_chain() {
    let before = rules_of(POLICIES, "node-0")[0].clone();
    let mut after = before.clone();
    let mut extra = after.egress.baseline.first().cloned().unwrap_or_else(|| {
        let mut e = after.ingress.baseline[0].clone();
        e.id = "acnp/extra/egress/0".into();
        e
    });
    extra.id = "acnp/extra/egress/0".into();
    after.egress.baseline.push(extra);
    let old = render(&before, &ifaces(&before));
    let new = render(&after, &ifaces(&after));
    let tx = old.diff(&new).unwrap();
    assert_eq!(tx.changes.chains_rebuilt, vec!["egress_baseline"]);
    assert_eq!(
        tx.changes.counters_added,
        vec![names::counter("acnp/extra/egress/0")]
    );
}

const SELF_NAMESPACE: &str = r#"
name: dp-split
manifests: |
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {name: same-ns}
  spec:
    priority: 1
    appliedTo:
    - namespaceSelector: {}
    ingress:
    - action: Allow
      from:
      - namespaces: {match: Self}
steps:
- name: split
"#;

#[test]
fn an_entry_split_per_namespace_gets_its_own_sets_and_shares_the_counter() {
    let rules = &rules_of(SELF_NAMESPACE, "node-0")[0];
    let ids: Vec<&str> = rules.ingress.antrea.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one entry per namespace: {ids:?}");
    assert!(ids.iter().all(|id| *id == ids[0]));
    let r = render(rules, &ifaces(rules));
    let key = names::sanitized_id(ids[0]);
    for set in [
        format!("{key}_p"),
        format!("{key}_2_p"),
        format!("{key}_3_p"),
    ] {
        assert!(r.sets.contains_key(&set), "{set}");
    }
    assert_eq!(
        r.counters.values().filter(|c| c.rule_id == ids[0]).count(),
        1
    );
}
