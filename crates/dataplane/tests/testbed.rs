//! Privileged integration with `tierwall-testbed`: a whole cluster of network namespaces (3
//! Nodes, Pods, externals, Services), every Node's rule set synced by an `TableWriter`, and real
//! probes (Pods, Nodes and externals to Pods, Pods to ClusterIPs) compared with the engine at
//! every step of a handful of scenarios.
//!
//! ```text
//!  scenario file ──engine states──> per step: update Services, TableWriter::sync on each Node,
//!                                             probe_many(matrix) == Engine::probe(matrix)
//! ```

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;
use tierwall_dataplane::{InterfaceMap, NetnsTarget, TableWriter};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::ruleset::node_rule_set;
use tierwall_engine::{Engine, ProbeTransport, Source, Target};
use tierwall_scenario::format::ScenarioFile;
use tierwall_testbed::{Endpoint, Probe, ProbeHelperCommand, Testbed, TestbedOptions, Transport};

/// Scenario files (relative to the repository root's parent or root) run on the testbed.
const FILES: [&str; 9] = [
    "shared/scenarios/antrea/15-acnp-allow-xb-to-ya-named-port.yaml",
    "shared/scenarios/antrea/16-acnp-priority-override-default-deny.yaml",
    "shared/scenarios/antrea/28-acnp-reject-egress.yaml",
    "shared/scenarios/antrea/30-acnp-reject-ingress-udp.yaml",
    "shared/scenarios/antrea/34-acnp-baseline-namespace-isolation.yaml",
    "shared/scenarios/antrea/79-acnp-to-services.yaml",
    "main/tests/scenarios/spec/07-acnp-icmp-reject-ping.yaml",
    "main/tests/scenarios/spec/14-acnp-nodeport-service-appliedto.yaml",
    "main/tests/scenarios/spec/24-order-pass-to-k8s-np-then-baseline.yaml",
];

fn path_of(file: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let p = match file.strip_prefix("main/") {
        Some(rest) => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rest),
        None => root.join(file),
    };
    p.exists().then_some(p)
}

/// The Pods of a cluster state, to tell when a step changed the set the testbed was built with.
fn pod_set(engine: &Engine) -> Vec<(String, String, Option<IpAddr>, String)> {
    engine
        .cluster()
        .pods
        .values()
        .map(|p| (p.namespace.clone(), p.name.clone(), p.ip, p.node.clone()))
        .collect()
}

struct Case {
    src: Endpoint,
    source: Source,
    dst_ip: IpAddr,
    target: Target,
    transport: Transport,
    probe: ProbeTransport,
}

fn engine_transport(t: Transport) -> ProbeTransport {
    let l4 = |protocol, port| ProbeTransport::L4 {
        protocol,
        port,
        src_port: tierwall_engine::evaluate::DEFAULT_SOURCE_PORT,
    };
    match t {
        Transport::Tcp(p) => l4(L4Protocol::Tcp, p),
        Transport::Udp(p) => l4(L4Protocol::Udp, p),
        Transport::Sctp(p) => l4(L4Protocol::Sctp, p),
        Transport::Icmp => ProbeTransport::Icmp {
            icmp_type: 8,
            icmp_code: 0,
        },
    }
}

fn cases(tb: &Testbed, engine: &Engine, externals: &[String]) -> Vec<Case> {
    let c = engine.cluster();
    let pods: Vec<_> = c
        .pods
        .values()
        .filter(|p| !p.host_network && p.ip.is_some())
        .collect();
    let mut sources: Vec<(Endpoint, Source)> = Vec::new();
    for p in &pods {
        sources.push((
            Endpoint::pod(&p.namespace, &p.name),
            Source::Pod {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
            },
        ));
    }
    for n in c.nodes.keys() {
        sources.push((Endpoint::node(n), Source::Node(n.clone())));
    }
    for e in externals {
        if let Ok(ip) = tb.external_ip(e) {
            sources.push((Endpoint::external(e), Source::Ip(IpAddr::V4(ip))));
        }
    }
    let transports = [
        Transport::Tcp(80),
        Transport::Tcp(81),
        Transport::Udp(80),
        Transport::Icmp,
    ];
    let mut out = Vec::new();
    for (src, source) in &sources {
        for p in &pods {
            if matches!(src, Endpoint::Pod { namespace, name } if *namespace == p.namespace && *name == p.name)
            {
                continue;
            }
            for t in transports {
                out.push(Case {
                    src: src.clone(),
                    source: source.clone(),
                    dst_ip: p.ip.unwrap(),
                    target: Target::Pod {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                    },
                    transport: t,
                    probe: engine_transport(t),
                });
            }
        }
        // Services: ClusterIPs from Pods, NodePorts from everywhere.
        for svc in c.services.values() {
            for sp in &svc.ports {
                if let Some(cip) = svc.cluster_ip
                    && matches!(src, Endpoint::Pod { .. })
                {
                    let t = Transport::l4(sp.protocol, sp.port);
                    out.push(Case {
                        src: src.clone(),
                        source: source.clone(),
                        dst_ip: cip,
                        target: Target::Service {
                            namespace: svc.namespace.clone(),
                            name: svc.name.clone(),
                        },
                        transport: t,
                        probe: engine_transport(t),
                    });
                }
                if let Some(np) = sp.node_port {
                    for n in c.nodes.values() {
                        let t = Transport::l4(sp.protocol, np);
                        out.push(Case {
                            src: src.clone(),
                            source: source.clone(),
                            dst_ip: n.ips[0],
                            target: Target::Node(n.name.clone()),
                            transport: t,
                            probe: engine_transport(t),
                        });
                    }
                }
            }
        }
    }
    out
}

/// A NodePort of another Node DNATing back to a Pod on the source's own Node: the testbed does
/// not model it (the packet comes back with the source's own address, or from the Node to its
/// own Pod through the fabric).
fn reaches_home_through_another_node(
    engine: &Engine,
    c: &Case,
    v: &tierwall_engine::Verdict,
) -> bool {
    let Target::Node(dialed) = &c.target else {
        return false;
    };
    let cluster = engine.cluster();
    let backend_node = v
        .dst_ip
        .and_then(|ip| cluster.pod_at(ip))
        .map(|p| p.node.as_str());
    let source_node = match &c.source {
        Source::Pod { namespace, name } => cluster.pod(namespace, name).map(|p| p.node.as_str()),
        Source::Node(n) => Some(n.as_str()),
        Source::Ip(_) => None,
    };
    v.service.is_some()
        && source_node.is_some()
        && source_node == backend_node
        && backend_node != Some(dialed.as_str())
}

#[test]
fn testbed_probes_agree_with_the_engine() {
    require_root!();
    let probe_helper = match ProbeHelperCommand::locate() {
        Ok(a) => a,
        Err(e) => {
            // Built with the workspace (`cargo test --workspace`, nextest); not by
            // `cargo test -p tierwall-dataplane` alone.
            eprintln!("skipped: {e} (cargo build -p tierwall-testbed builds it)");
            return;
        }
    };
    let started = Instant::now();
    let (mut files, mut probes, mut steps) = (0, 0, 0);
    let mut failures = Vec::new();
    for file in FILES {
        let Some(path) = path_of(file) else {
            eprintln!("{file}: not found, skipped");
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario: ScenarioFile = serde_saphyr::from_str(&text).unwrap();
        let states = common::scenario_file_engines(&scenario);
        let Some((_, first)) = states.first() else {
            continue;
        };
        files += 1;
        let externals: Vec<(String, IpAddr)> = scenario
            .cluster
            .iter()
            .flat_map(|c| &c.externals)
            .filter_map(|e| Some((e.name.clone(), e.ip.parse().ok()?)))
            .collect();
        let names: Vec<String> = externals.iter().map(|(n, _)| n.clone()).collect();
        let options = TestbedOptions {
            externals,
            probe_helper: Some(probe_helper.clone()),
            ..TestbedOptions::default()
        };
        let tb = Testbed::up(first.cluster(), options).expect("testbed up");
        let mut agents: Vec<TableWriter> = first
            .cluster()
            .nodes
            .keys()
            .map(|n| {
                let netns = NetnsTarget::Named(tb.node_netns(n).unwrap().to_string());
                TableWriter::new(n, netns, InterfaceMap::new())
            })
            .collect();
        for (label, engine) in &states {
            if pod_set(engine) != pod_set(first) {
                eprintln!("{file} {label}: the Pods changed, not on this testbed: skipped");
                continue;
            }
            steps += 1;
            tb.update_services(engine.cluster()).unwrap();
            for agent in &mut agents {
                let rules = node_rule_set(engine.cluster(), engine.table(), agent.node());
                let ifaces: InterfaceMap = rules
                    .pods
                    .iter()
                    .filter_map(|p| {
                        let veth = tb.pod_veth_on_node(&p.namespace, &p.name).ok()?;
                        Some((p.ip, veth.to_string()))
                    })
                    .collect();
                agent.set_interfaces(ifaces);
                agent.sync(&rules).unwrap();
            }
            let cases = cases(&tb, engine, &names);
            let batch: Vec<Probe> = cases
                .iter()
                .map(|c| Probe::new(c.src.clone(), c.dst_ip, c.transport))
                .collect();
            let results = tb.probe_many(&batch).unwrap();
            probes += results.len();
            for (c, r) in cases.iter().zip(&results) {
                let v = engine.probe(&c.source, &c.target, c.probe);
                if v.unresolved.is_some() || reaches_home_through_another_node(engine, c, &v) {
                    continue;
                }
                let want = v.outcome;
                if r.outcome != want {
                    failures.push(format!(
                        "{file} {label}: {} -> {} {:?}: testbed {:?} ({}), engine {want:?} ({})",
                        c.src,
                        c.dst_ip,
                        c.transport,
                        r.outcome,
                        r.detail,
                        tierwall_scenario::runner::explain_short(&v)
                    ));
                }
            }
        }
        for agent in &mut agents {
            agent.remove().unwrap();
        }
        tb.down().unwrap();
    }
    eprintln!(
        "{files} files, {steps} steps, {probes} probes in {:?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} probes disagree with the engine:\n{}",
        failures.len(),
        failures[..failures.len().min(30)].join("\n")
    );
}
