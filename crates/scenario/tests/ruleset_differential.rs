//! Differential test of the controller→agent seam: at every step of every scenario, the per-Node
//! rule sets (`ruleset::node_rule_set`, interpreted by `NodeRuleSet::decide`) decide every
//! Pod-to-Pod flow exactly as the engine's evaluator does.

use std::path::PathBuf;
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::compile::{Action, Direction};
use tierwall_engine::matching::Transport;
use tierwall_engine::ruleset::{NodeDecision, NodePacket, all_node_rule_sets};
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_scenario::collect_files;
use tierwall_scenario::format::ScenarioFile;
use tierwall_scenario::runner::run_scenario_observed;

fn outcome(d: &NodeDecision) -> Outcome {
    match d {
        NodeDecision::Rule {
            action: Action::Drop,
            ..
        }
        | NodeDecision::Isolated => Outcome::Dropped,
        NodeDecision::Rule {
            action: Action::Reject,
            ..
        } => Outcome::Rejected,
        _ => Outcome::Connected,
    }
}

fn compare(label: &str, engine: &Engine, mismatches: &mut Vec<String>) {
    let sets = all_node_rule_sets(engine.cluster(), engine.table());
    let transports = [
        (L4Protocol::Tcp, 80),
        (L4Protocol::Tcp, 81),
        (L4Protocol::Tcp, 8080),
        (L4Protocol::Udp, 80),
        (L4Protocol::Sctp, 81),
    ];
    let pods: Vec<_> = engine
        .cluster()
        .pods
        .values()
        .filter(|p| !p.host_network && p.ip.is_some())
        .collect();
    for src in &pods {
        for dst in &pods {
            if src.ip == dst.ip {
                continue;
            }
            let (Some(sip), Some(dip)) = (src.ip, dst.ip) else {
                continue;
            };
            let mut cases: Vec<(ProbeTransport, Transport)> = transports
                .iter()
                .map(|(p, port)| {
                    (
                        ProbeTransport::L4 {
                            protocol: *p,
                            port: *port,
                            src_port: 40000,
                        },
                        Transport::L4 {
                            protocol: *p,
                            src_port: 40000,
                            dst_port: *port,
                        },
                    )
                })
                .collect();
            cases.push((
                ProbeTransport::Icmp {
                    icmp_type: 8,
                    icmp_code: 0,
                },
                Transport::Icmp {
                    icmp_type: 8,
                    icmp_code: 0,
                },
            ));
            for (probe, transport) in cases {
                let want = engine
                    .probe(
                        &Source::Pod {
                            namespace: src.namespace.clone(),
                            name: src.name.clone(),
                        },
                        &Target::Pod {
                            namespace: dst.namespace.clone(),
                            name: dst.name.clone(),
                        },
                        probe,
                    )
                    .outcome;
                let egress = sets[&src.node].decide(
                    Direction::Egress,
                    &NodePacket {
                        local: sip,
                        remote: dip,
                        transport,
                        service: None,
                        node_port: None,
                    },
                );
                let ingress = sets[&dst.node].decide(
                    Direction::Ingress,
                    &NodePacket {
                        local: dip,
                        remote: sip,
                        transport,
                        service: None,
                        node_port: None,
                    },
                );
                let got = if egress.allows() {
                    outcome(&ingress)
                } else {
                    outcome(&egress)
                };
                if got != want {
                    mismatches.push(format!(
                        "{label}: {}/{} -> {}/{} {probe:?}: engine {want:?}, rule sets {got:?} (egress {egress:?}, ingress {ingress:?})",
                        src.namespace, src.name, dst.namespace, dst.name
                    ));
                }
            }
        }
    }
}

#[test]
fn node_rule_sets_agree_with_the_engine_on_every_scenario() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = vec![root.join("tests/scenarios")];
    let shared = root.join("../shared/scenarios");
    if shared.exists() {
        dirs.push(shared);
    }
    let mut mismatches = Vec::new();
    let mut steps = 0;
    for f in collect_files(&dirs).unwrap() {
        let text = std::fs::read_to_string(&f).unwrap();
        let file: ScenarioFile = serde_saphyr::from_str(&text).unwrap();
        let name = f.display().to_string();
        run_scenario_observed(&file, &mut |label, engine| {
            steps += 1;
            compare(&format!("{name} {label}"), engine, &mut mismatches);
        });
    }
    assert!(steps > 50, "only {steps} steps observed");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(30)].join("\n")
    );
}
