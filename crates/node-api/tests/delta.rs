//! Deltas rebuild exactly the new rule set from the old one, survive the wire (JSON), and a
//! delta that does not fit the rule set held is refused without changing it.

use proptest::prelude::*;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use tierwall_model::Kind;
use tierwall_node_api::delta::{ListDelta, Piece};
use tierwall_node_api::{
    Action, Generation, NodeRuleSet, PeerAddresses, PolicyRef, RuleEntry, RuleSetDelta,
    StreamMessage,
};

fn entry(policy: u8, index: u8, peer: u8) -> RuleEntry {
    RuleEntry {
        id: format!("acnp/p{policy}/ingress/{index}"),
        policy: PolicyRef {
            kind: Kind::ClusterNetworkPolicy,
            namespace: None,
            name: format!("p{policy}"),
        },
        tier: Some("application".into()),
        tier_priority: Some(250),
        rule_name: None,
        rule_index: index as usize,
        action: Action::Drop,
        applied: BTreeSet::from([IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))]),
        node_ports: BTreeSet::new(),
        peers: PeerAddresses {
            any: false,
            pods: BTreeSet::from([IpAddr::V4(Ipv4Addr::new(10, 0, 1, peer))]).into(),
            cidrs: Vec::new(),
        },
        services: BTreeSet::new(),
        ports: Vec::new(),
        enable_logging: false,
        log_label: String::new(),
    }
}

fn rule_set(entries: Vec<RuleEntry>) -> NodeRuleSet {
    let mut set = NodeRuleSet {
        node: "node-0".into(),
        node_ips: vec![IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2))],
        pods: Vec::new(),
        ingress: Default::default(),
        egress: Default::default(),
    };
    set.ingress.antrea = entries;
    set
}

#[test]
fn one_changed_entry_is_one_new_piece_between_kept_runs() {
    let old: Vec<RuleEntry> = (0..100).map(|i| entry(i, 0, 1)).collect();
    let mut new = old.clone();
    new[40] = entry(40, 0, 2);
    let delta = ListDelta::between(&old, &new);
    assert_eq!(
        delta.0,
        vec![
            Piece::Keep { from: 0, count: 40 },
            Piece::New(Box::new(entry(40, 0, 2))),
            Piece::Keep {
                from: 41,
                count: 59
            },
        ]
    );
    assert_eq!(delta.apply(&old).unwrap(), new);
}

#[test]
fn a_delta_that_does_not_fit_is_refused() {
    let old = rule_set((0..10).map(|i| entry(i, 0, 1)).collect());
    let new = rule_set((0..12).map(|i| entry(i, 0, 1)).collect());
    let grown = rule_set((0..20).map(|i| entry(i, 0, 1)).collect());
    let bad = RuleSetDelta::between(&new, &grown);
    assert!(
        bad.apply(&old).is_err(),
        "keeps entries 12..20 the old set lacks"
    );
    assert!(RuleSetDelta::between(&old, &old).is_identity(&old));
    assert!(!RuleSetDelta::between(&old, &new).is_identity(&old));
}

#[test]
fn messages_survive_the_wire_and_a_cut_line_does_not_parse() {
    let old = rule_set((0..5).map(|i| entry(i, 0, 1)).collect());
    let new = rule_set((0..6).map(|i| entry(i, 1, 3)).collect());
    let g = Generation::new(0xabc, 7);
    let message = StreamMessage::Delta {
        base: g,
        generation: g.next(),
        delta: RuleSetDelta::between(&old, &new),
    };
    let line = message.to_line().unwrap();
    assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
    assert_eq!(StreamMessage::from_line(&line).unwrap(), message);
    assert!(StreamMessage::from_line(&line[..line.len() / 2]).is_err());
    let full = StreamMessage::Full {
        generation: g,
        rule_set: new.clone(),
    };
    assert_eq!(
        StreamMessage::from_line(&full.to_line().unwrap()).unwrap(),
        full
    );
    assert_eq!(Generation::parse(&g.to_query()), Some(g));
    assert_eq!(Generation::parse("zz.1"), None);
}

proptest! {
    #[test]
    fn delta_rebuilds_any_new_list(
        old in proptest::collection::vec((0u8..20, 0u8..3, 0u8..4), 0..40),
        new in proptest::collection::vec((0u8..20, 0u8..3, 0u8..4), 0..40),
    ) {
        let old = rule_set(old.into_iter().map(|(p, i, x)| entry(p, i, x)).collect());
        let new = rule_set(new.into_iter().map(|(p, i, x)| entry(p, i, x)).collect());
        let delta = RuleSetDelta::between(&old, &new);
        let wire: RuleSetDelta = serde_json::from_slice(&serde_json::to_vec(&delta).unwrap()).unwrap();
        prop_assert_eq!(wire.apply(&old).unwrap(), new);
    }
}
