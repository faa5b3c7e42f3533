//! Unprivileged tests of merged runs (`render::merge`): runs of simple rules become one rule
//! with a verdict map and a counter map, and decide every packet exactly as the plain
//! rendering (one nft rule per entry) and as the engine's `NodeRuleSet::decide` — checked with
//! the nft interpreter (`common::sim`) on rule sets with overlapping and disjoint keys.

mod common;

use common::sim::{Packet, Sim, Verdict};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use tierwall_dataplane::names;
use tierwall_dataplane::ruleset::SetKind;
use tierwall_dataplane::{InterfaceMap, RenderOptions, render_after, render_with};
use tierwall_engine::compile::Direction;
use tierwall_engine::matching::Transport;
use tierwall_engine::ruleset::{NodePacket, NodeRuleSet, node_rule_set};

/// x/a (node-0) as the target of every rule.
const TARGET: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 11);

fn ifaces(rules: &NodeRuleSet) -> InterfaceMap {
    rules
        .pods
        .iter()
        .map(|p| (p.ip, format!("v-{}-{}", p.namespace, p.name)))
        .collect()
}

fn packet(saddr: Ipv4Addr, dport: u16) -> Packet {
    Packet {
        iif: "eth0".into(),
        oif: "v-x-a".into(),
        saddr,
        daddr: TARGET,
        proto: 6,
        sport: 40000,
        dport,
        icmp_type: 0,
        icmp_code: 0,
        orig_daddr: TARGET,
        orig_dport: dport,
        dnat: false,
    }
}

#[test]
fn merged_runs_decide_as_the_plain_rendering_and_the_engine() {
    let mut merged_rules = 0;
    for seed in 1..=12u64 {
        let yaml = common::many_rules_scenario(seed * 7919, 40);
        let engines = common::scenario_engines(&yaml);
        let (_, engine) = engines.last().expect("a step");
        let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
        let plain = render_with(
            &rules,
            &ifaces(&rules),
            &RenderOptions {
                merge_runs: false,
                ..RenderOptions::default()
            },
        );
        let merged = render_with(&rules, &ifaces(&rules), &RenderOptions::default());
        let maps = merged
            .sets
            .values()
            .filter(|s| matches!(s.kind, SetKind::VerdictMap(_)))
            .count();
        merged_rules += maps;
        assert!(
            merged.rule_count() <= plain.rule_count(),
            "seed {seed}: merging added rules"
        );
        let (sp, sm) = (Sim::new(&plain), Sim::new(&merged));
        for last in 0..66u8 {
            for dport in 79..=84u16 {
                let saddr = Ipv4Addr::new(192, 168, 0, last);
                let p = packet(saddr, dport);
                let want = rules
                    .decide(
                        Direction::Ingress,
                        &NodePacket {
                            local: IpAddr::V4(TARGET),
                            remote: IpAddr::V4(saddr),
                            transport: Transport::L4 {
                                protocol: tierwall_engine::cluster::L4Protocol::Tcp,
                                src_port: 40000,
                                dst_port: dport,
                            },
                            service: None,
                            node_port: None,
                        },
                    )
                    .allows();
                let (a, b) = (sp.run("forward", &p), sm.run("forward", &p));
                assert_eq!(
                    a, b,
                    "seed {seed}: {saddr}:{dport} plain {a:?} merged {b:?}"
                );
                assert_eq!(
                    b == Verdict::Accept,
                    want,
                    "seed {seed}: {saddr}:{dport} merged {b:?}, engine allows: {want}"
                );
            }
        }
    }
    assert!(
        merged_rules >= 12,
        "only {merged_rules} merged runs in 12 rule sets"
    );
}

/// Disjoint exact keys make one rule and two hash maps (no interval flag); every entry keeps
/// its named counter, referenced from the counter map.
/// The exact policy, then a second step with a policy in front of it (same Pods, an
/// interval key).
fn exact_scenario(rules: &str) -> String {
    format!(
        "\nname: dp-merge-exact\nmanifests: |\n  apiVersion: crd.antrea.io/v1beta1\n  kind: ClusterNetworkPolicy\n  metadata: {{name: exact}}\n  spec:\n    priority: 5\n    appliedTo:\n    - podSelector:\n        matchLabels: {{pod: a}}\n    ingress:{rules}\nsteps:\n- name: exact\n- name: a policy in front\n  apply: |\n    apiVersion: crd.antrea.io/v1beta1\n    kind: ClusterNetworkPolicy\n    metadata: {{name: front}}\n    spec:\n      priority: 1\n      appliedTo:\n      - podSelector:\n          matchLabels: {{pod: a}}\n      ingress:\n      - action: Reject\n        from: [{{ipBlock: {{cidr: 172.16.0.0/24}}}}]\n        ports: [{{protocol: TCP, port: 8080}}]\n"
    )
}

/// A rule added in front of a run joins it (an interval key: the run's interval half) and
/// the hash maps of the other 20 keys keep their names and elements: the change is the new
/// rule's keys, not a rewrite of the run.
#[test]
fn a_rule_in_front_of_a_run_adds_its_keys_only() {
    let mut rules = String::new();
    for i in 0..20 {
        let _ = write!(
            rules,
            "\n    - action: Allow\n      from: [{{ipBlock: {{cidr: 192.168.1.{}/32}}}}]\n      ports: [{{protocol: TCP, port: {}}}]",
            i + 1,
            1000 + i
        );
    }
    let engines = common::scenario_engines(&exact_scenario(&rules));
    let states: Vec<NodeRuleSet> = engines
        .iter()
        .map(|(_, e)| node_rule_set(e.cluster(), e.table(), "node-0"))
        .collect();
    let opts = RenderOptions::default();
    let before = render_with(&states[0], &ifaces(&states[0]), &opts);
    let after = render_after(&states[1], &ifaces(&states[1]), &opts, Some(&before));
    let tx = before.diff(&after).unwrap();
    assert!(tx.changes.sets_removed.is_empty(), "{:?}", tx.changes);
    assert!(tx.changes.sets_changed.is_empty(), "{:?}", tx.changes);
    // The front rule's own interval maps, with one key each.
    assert_eq!(tx.changes.sets_added.len(), 2, "{:?}", tx.changes);
    assert_eq!(tx.changes.elements_added, 2, "{:?}", tx.changes);
    // Without the previous rendering the run would be named after its new first entry.
    let fresh = render_with(&states[1], &ifaces(&states[1]), &opts);
    assert_ne!(
        fresh.sets.keys().collect::<Vec<_>>(),
        after.sets.keys().collect::<Vec<_>>()
    );
    let (sa, sf) = (Sim::new(&after), Sim::new(&fresh));
    for last in 0..=21u8 {
        for dport in [999, 1000, 1005, 8080] {
            for saddr in [
                Ipv4Addr::new(192, 168, 1, last),
                Ipv4Addr::new(172, 16, 0, last),
            ] {
                let p = packet(saddr, dport);
                assert_eq!(
                    sa.run("forward", &p),
                    sf.run("forward", &p),
                    "{saddr}:{dport}"
                );
            }
        }
    }
}

#[test]
fn disjoint_exact_rules_become_one_rule_and_two_hash_maps() {
    let mut rules = String::new();
    for i in 0..20 {
        let _ = write!(
            rules,
            "\n    - action: {}\n      from: [{{ipBlock: {{cidr: 192.168.1.{}/32}}}}]\n      ports: [{{protocol: TCP, port: {}}}]",
            if i % 2 == 0 { "Allow" } else { "Drop" },
            i + 1,
            1000 + i
        );
    }
    let yaml = exact_scenario(&rules);
    let engines = common::scenario_engines(&yaml);
    let rules = node_rule_set(engines[0].1.cluster(), engines[0].1.table(), "node-0");
    let r = render_with(&rules, &ifaces(&rules), &RenderOptions::default());
    let tiers = r
        .chain(&names::chain(Direction::Ingress, names::Stage::Tiers))
        .expect("chain");
    assert_eq!(
        tiers.rules.len(),
        2,
        "one merged rule + the goto: {tiers:?}"
    );
    let kinds: Vec<SetKind> = r.sets.values().map(|s| s.kind).collect();
    assert!(kinds.contains(&SetKind::VerdictMap(false)), "{kinds:?}");
    assert!(kinds.contains(&SetKind::CounterMap(false)), "{kinds:?}");
    assert_eq!(r.counters.len(), 20 + 2, "20 rules + 2 isolation counters");
    let cm = r
        .sets
        .values()
        .find(|s| s.kind == SetKind::CounterMap(false))
        .expect("counter map");
    assert_eq!(cm.elements.len(), 20);
}
