//! Privileged differential test on real packets with randomly generated policies: ONE live
//! cluster of the standard scenario cluster (plus one external address) is kept for every
//! round; each round applies a random policy set (`common::random_policies`, from a fixed
//! seed), probes every ordered Pod pair, every Node→Pod, external→Pod, Pod→external and
//! Pod→Node flow over TCP (a declared and an undeclared port), UDP, ICMP (and SCTP where the
//! kernel has it), and compares each real outcome with the engine's verdict for the same flow.
//! Then it deletes the round's objects (the delete path) and flushes conntrack. After the last
//! round, with every policy gone, everything must be as the engine says again.
//!
//! The real outcome of a flow the engine allows to a port nobody serves is `Rejected` (TCP
//! RST or ICMP port unreachable from the destination): a test can tell Allow from Drop on such
//! a port, not Allow from Reject.
//!
//! `TIERWALL_DIFF_ROUNDS=n` runs n rounds (default 6; seeds beyond the fixed list are derived);
//! `TIERWALL_DIFF_SEED=0x...` replays the one round of a reported seed.
//! Without root, `ip`/`nft`, or the `tierwall-probe-helper` helper the test says why and returns.

mod common;

use common::{LiveGuard, skip_reason};

use common::random_policies::{self, Generated, UNDECLARED_TCP_PORT};
use std::net::IpAddr;
use std::time::Instant;
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::evaluate::DEFAULT_SOURCE_PORT;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_lab::{LiveCluster, LiveError, LiveOptions};
use tierwall_model::load::object_from_value;
use tierwall_model::{Object, ObjectKey};
use tierwall_scenario::cluster::ClusterModel;
use tierwall_testbed::{Probe, ProbeHelperCommand, TestbedOptions};

const EXTERNAL: &str = "ext-1";
const EXTERNAL_IP: &str = "192.168.100.7";
/// Ports the external serves (the testbed's defaults).
const EXTERNAL_TCP: [u16; 5] = [53, 80, 81, 443, 8080];
/// The TCP port every Node serves (a kubelet).
const NODE_TCP: u16 = 10250;
const SEEDS: [u64; 6] = [
    0x7e57_0001,
    0x7e57_0002,
    0x7e57_0003,
    0x7e57_0004,
    0x7e57_0005,
    0x7e57_0006,
];

/// The seeds of the run: `TIERWALL_DIFF_SEED` alone (a failure's seed, to replay it), else
/// `TIERWALL_DIFF_ROUNDS` of them (default: the fixed list).
fn seeds() -> Vec<u64> {
    if let Ok(text) = std::env::var("TIERWALL_DIFF_SEED") {
        let parsed = match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => text.parse(),
        };
        return vec![parsed.unwrap_or_else(|e| panic!("TIERWALL_DIFF_SEED={text}: {e}"))];
    }
    let rounds = std::env::var("TIERWALL_DIFF_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS.len());
    (0..rounds)
        .map(|round| {
            SEEDS
                .get(round)
                .copied()
                .unwrap_or(0x7e57_0000 + round as u64 * 7919)
        })
        .collect()
}

/// One flow to probe and judge.
struct Flow {
    source: Source,
    target: Target,
    transport: ProbeTransport,
    /// Whether something listens at the destination (else "allowed" shows as `Rejected`).
    served: bool,
}

impl Flow {
    fn describe(&self) -> String {
        let src = match &self.source {
            Source::Pod { namespace, name } => format!("{namespace}/{name}"),
            Source::Node(n) => format!("node:{n}"),
            Source::Ip(ip) => ip.to_string(),
        };
        let dst = match &self.target {
            Target::Pod { namespace, name } => format!("{namespace}/{name}"),
            Target::Node(n) => format!("node:{n}"),
            Target::Ip(ip) => ip.to_string(),
            other => format!("{other:?}"),
        };
        let t = match self.transport {
            ProbeTransport::L4 { protocol, port, .. } => format!("{port}/{}", protocol.as_str()),
            ProbeTransport::Icmp { .. } => "ICMP".into(),
        };
        format!("{src} -> {dst} {t}")
    }
}

fn l4(protocol: L4Protocol, port: u16) -> ProbeTransport {
    ProbeTransport::L4 {
        protocol,
        port,
        src_port: DEFAULT_SOURCE_PORT,
    }
}

const ICMP: ProbeTransport = ProbeTransport::Icmp {
    icmp_type: 8,
    icmp_code: 0,
};

/// Every flow of a round: Pod pairs, Node→Pod, external→Pod with the Pod transports;
/// Pod→external and Pod→Node with theirs.
fn flows(engine: &Engine, seed: u64, has_sctp: bool, external: IpAddr) -> Vec<Flow> {
    let cluster = engine.cluster();
    let tcp = random_policies::declared_tcp_port(seed);
    let udp = random_policies::udp_port(seed);
    let mut to_pod = vec![
        (l4(L4Protocol::Tcp, tcp), true),
        (l4(L4Protocol::Tcp, UNDECLARED_TCP_PORT), false),
        (l4(L4Protocol::Udp, udp), true),
        (ICMP, true),
    ];
    if has_sctp {
        to_pod.push((l4(L4Protocol::Sctp, 80), true));
    }
    let pods: Vec<(String, String)> = cluster
        .pods
        .values()
        .filter(|p| !p.host_network)
        .map(|p| (p.namespace.clone(), p.name.clone()))
        .collect();
    let nodes: Vec<String> = cluster.nodes.keys().cloned().collect();
    let pod_source = |(ns, name): &(String, String)| Source::Pod {
        namespace: ns.clone(),
        name: name.clone(),
    };
    let mut sources: Vec<Source> = pods.iter().map(pod_source).collect();
    sources.extend(nodes.iter().map(|n| Source::Node(n.clone())));
    sources.push(Source::Ip(external));
    let mut out = Vec::new();
    for source in &sources {
        for dst in &pods {
            if *source == pod_source(dst) {
                continue;
            }
            for (transport, served) in &to_pod {
                out.push(Flow {
                    source: source.clone(),
                    target: Target::Pod {
                        namespace: dst.0.clone(),
                        name: dst.1.clone(),
                    },
                    transport: *transport,
                    served: *served,
                });
            }
        }
    }
    for src in &pods {
        let external_ports = [
            (l4(L4Protocol::Tcp, 80), true),
            (
                l4(L4Protocol::Tcp, UNDECLARED_TCP_PORT),
                EXTERNAL_TCP.contains(&UNDECLARED_TCP_PORT),
            ),
            (l4(L4Protocol::Udp, 53), true),
            (ICMP, true),
        ];
        for (transport, served) in external_ports {
            out.push(Flow {
                source: pod_source(src),
                target: Target::Ip(external),
                transport,
                served,
            });
        }
        for node in &nodes {
            for (transport, served) in [(l4(L4Protocol::Tcp, NODE_TCP), true), (ICMP, true)] {
                out.push(Flow {
                    source: pod_source(src),
                    target: Target::Node(node.clone()),
                    transport,
                    served,
                });
            }
        }
    }
    out
}

fn yaml_of(objects: &[Generated]) -> String {
    objects
        .iter()
        .map(|g| serde_saphyr::to_string(&g.manifest).unwrap_or_else(|e| format!("<{e}>")))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// What a round measured: flows by real outcome (Connected, Dropped, Rejected), mismatches.
#[derive(Default)]
struct Comparison {
    outcomes: [usize; 3],
    mismatches: Vec<String>,
}

/// Probes every flow and compares each outcome with the engine's verdict.
fn compare(live: &LiveCluster, flows: &[Flow], externals: &[(String, IpAddr)]) -> Comparison {
    let probes: Vec<Probe> = flows
        .iter()
        .map(|f| {
            live.probe_for(&f.source, &f.target, f.transport, externals)
                .unwrap_or_else(|e| panic!("{}: no probe: {e}", f.describe()))
        })
        .collect();
    let results = live
        .testbed()
        .probe_many(&probes)
        .unwrap_or_else(|e| panic!("probes: {e}"));
    let mut out = Comparison::default();
    for (flow, real) in flows.iter().zip(&results) {
        out.outcomes[match real.outcome {
            Outcome::Connected => 0,
            Outcome::Dropped => 1,
            Outcome::Rejected => 2,
        }] += 1;
        let verdict = live
            .engine()
            .probe(&flow.source, &flow.target, flow.transport);
        let expected = match verdict.outcome {
            Outcome::Connected if !flow.served => Outcome::Rejected,
            o => o,
        };
        if real.outcome != expected {
            out.mismatches.push(format!(
                "flow {}: real {:?} ({}), engine {:?}{}\nengine explanation: {}",
                flow.describe(),
                real.outcome,
                real.detail,
                verdict.outcome,
                if flow.served {
                    String::new()
                } else {
                    " (port not served: allowed shows as Rejected)".into()
                },
                serde_json::to_string_pretty(&verdict).unwrap_or_default()
            ));
        }
    }
    out
}

fn object(g: &Generated) -> Object {
    object_from_value(g.kind, g.manifest.clone())
        .unwrap_or_else(|(path, e)| panic!("generated object is malformed at {path}: {e}"))
}

#[test]
fn engine_and_dataplane_agree_on_random_policies() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED engine_and_dataplane_agree_on_random_policies: {why}");
        return;
    }
    let started = Instant::now();
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).expect("standard objects are admitted");
    }
    let external: IpAddr = EXTERNAL_IP.parse().expect("address");
    let externals = vec![(EXTERNAL.to_string(), external)];
    let options = LiveOptions {
        testbed: TestbedOptions {
            externals: externals.clone(),
            probe_timeout: std::time::Duration::from_millis(700),
            probe_helper: ProbeHelperCommand::locate().ok(),
            ..Default::default()
        },
        log_dir: None,
    };
    let mut guard = LiveGuard(Some(
        LiveCluster::up(engine, options).expect("live cluster up"),
    ));
    let has_sctp = guard.get().testbed().has_sctp();
    eprintln!(
        "live cluster {} up in {:.1?} (SCTP: {has_sctp})",
        guard.get().testbed().prefix(),
        started.elapsed()
    );
    let (mut admitted, mut refused, mut probed) = (0, 0, 0);
    let seeds = seeds();
    for (round, &seed) in seeds.iter().enumerate() {
        let round_start = Instant::now();
        let live = guard.get();
        live.testbed().flush_conntrack().expect("conntrack flush");
        let generated = random_policies::round(seed);
        let mut applied: Vec<(ObjectKey, Generated)> = Vec::new();
        for g in &generated {
            let o = object(g);
            let key = o.key();
            match live.apply(o) {
                Ok(report) => {
                    applied.push((key.clone(), g.clone()));
                    if !report.failed.is_empty() {
                        let kept: Vec<Generated> = applied.iter().map(|(_, g)| g.clone()).collect();
                        panic!(
                            "seed {seed:#x} (round {round}): programming the Nodes after {key} \
                             failed: {:?}\n--- objects applied, in order (YAML) ---\n{}",
                            report.failed,
                            yaml_of(&kept)
                        );
                    }
                    admitted += 1;
                }
                Err(LiveError::Admission(e)) => {
                    refused += 1;
                    eprintln!("seed {seed:#x}: {key} not admitted, skipped: {e}");
                }
                Err(e) => panic!("seed {seed:#x}: applying {key}: {e}"),
            }
        }
        let flows = flows(live.engine(), seed, has_sctp, external);
        probed += flows.len();
        let Comparison {
            outcomes,
            mismatches,
        } = compare(live, &flows, &externals);
        if !mismatches.is_empty() {
            let kept: Vec<Generated> = applied.iter().map(|(_, g)| g.clone()).collect();
            panic!(
                "seed {seed:#x} (round {round}): {} of {} flows disagree\n--- policies (YAML) ---\n{}\n--- mismatches ---\n{}",
                mismatches.len(),
                flows.len(),
                yaml_of(&kept),
                mismatches
                    .iter()
                    .take(12)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n\n")
            );
        }
        for (key, _) in applied.iter().rev() {
            let report = live
                .delete(key)
                .unwrap_or_else(|e| panic!("seed {seed:#x}: deleting {key}: {e}"));
            assert!(
                report.failed.is_empty(),
                "seed {seed:#x}: programming after deleting {key}: {:?}",
                report.failed
            );
        }
        eprintln!(
            "round {round} seed {seed:#x}: {} objects applied, {} flows agree \
             ({} Connected, {} Dropped, {} Rejected) in {:.1?}",
            applied.len(),
            flows.len(),
            outcomes[0],
            outcomes[1],
            outcomes[2],
            round_start.elapsed()
        );
    }
    // Every round's objects are gone: the Nodes enforce nothing again.
    let live = guard.get();
    assert_eq!(live.engine().table().policies().count(), 0);
    live.testbed().flush_conntrack().expect("conntrack flush");
    let flows = flows(live.engine(), 0, has_sctp, external);
    let mismatches = compare(live, &flows, &externals).mismatches;
    assert!(
        mismatches.is_empty(),
        "after deleting every policy:\n{}",
        mismatches.join("\n\n")
    );
    eprintln!(
        "{} rounds: {admitted} objects admitted, {refused} refused by admission, {probed} flows \
         probed, all agree; {:.1?} in total",
        seeds.len(),
        started.elapsed()
    );
}
