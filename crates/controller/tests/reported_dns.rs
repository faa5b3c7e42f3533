//! The DNS names agents report reach the engine merged over the Nodes: a name two Nodes report
//! maps to the union of their addresses, a Node's next snapshot replaces its previous one, a
//! name no Node reports any more is removed, a Node that leaves takes its names along, and an
//! unchanged index feeds nothing.

use std::net::IpAddr;
use tierwall_controller::reported_dns::ReportedDns;
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_engine::Engine;
use tierwall_node_api::{DnsMapping, NodeReport, NodeRuleSet};

fn rule_set(node: &str) -> NodeRuleSet {
    NodeRuleSet {
        node: node.into(),
        node_ips: Vec::new(),
        pods: Vec::new(),
        ingress: Default::default(),
        egress: Default::default(),
    }
}

fn report(node: &str, dns: &[(&str, &[&str])]) -> NodeReport {
    NodeReport {
        node: node.into(),
        dns: dns
            .iter()
            .map(|(name, addrs)| DnsMapping {
                name: (*name).into(),
                addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            })
            .collect(),
        ..Default::default()
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn reported_names_are_merged_replaced_and_removed() {
    let index = RuleSetIndex::with_epoch(7);
    index.publish(rule_set("node-0"));
    index.publish(rule_set("node-1"));
    let mut engine = Engine::new();
    let mut fed = ReportedDns::default();
    assert!(fed.absorb(&index, &mut engine).is_empty());

    assert!(index.record_report(report("node-0", &[("api.example.test", &["10.0.0.1"])])));
    assert!(index.record_report(report(
        "node-1",
        &[
            ("api.example.test", &["10.0.0.2"]),
            ("db.example.test", &["10.0.0.9"])
        ]
    )));
    assert!(!index.record_report(report("node-9", &[("x.test", &["10.0.0.3"])])));
    assert_eq!(
        fed.absorb(&index, &mut engine),
        ["api.example.test", "db.example.test"]
    );
    assert_eq!(
        engine.cluster().resolve_dns("API.example.test."),
        ips(&["10.0.0.1", "10.0.0.2"])
    );
    assert!(fed.absorb(&index, &mut engine).is_empty(), "nothing new");

    // A report without DNS changes (counters, realization) feeds nothing.
    index.record_report(report(
        "node-1",
        &[
            ("api.example.test", &["10.0.0.2"]),
            ("db.example.test", &["10.0.0.9"]),
        ],
    ));
    assert!(fed.absorb(&index, &mut engine).is_empty());

    // node-1's cache expired db and its api address.
    index.record_report(report("node-1", &[]));
    assert_eq!(
        fed.absorb(&index, &mut engine),
        ["api.example.test", "db.example.test"]
    );
    assert_eq!(
        engine.cluster().resolve_dns("api.example.test"),
        ips(&["10.0.0.1"])
    );
    assert!(engine.cluster().resolve_dns("db.example.test").is_empty());

    // node-0 leaves the cluster: its names go with it.
    index.remove("node-0");
    assert_eq!(fed.absorb(&index, &mut engine), ["api.example.test"]);
    assert!(engine.cluster().resolve_dns("api.example.test").is_empty());
}
