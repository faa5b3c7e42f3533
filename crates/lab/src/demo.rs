//! `tierwall demo`: the whole system in under a minute. It builds the standard testbed, applies
//! the quickstart policies (a custom Tier, static tiers, ACNPs, an Antrea NetworkPolicy, a
//! Kubernetes NetworkPolicy and a baseline policy), prints the reachability matrix measured with
//! real packets and the rule behind every blocked cell, shows the np.log lines and per-rule
//! statistics the Nodes recorded, and tears the testbed down. The np.log files it prints are
//! kept after the teardown, in `$TMPDIR/tierwall-demo-<pid>/<node>/np.log`.

use crate::live::{LiveCluster, LiveOptions};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::evaluate::{DEFAULT_SOURCE_PORT, Decision};
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_scenario::cluster::ClusterModel;
use tierwall_testbed::{Endpoint, Probe, ProbeHelperCommand, TestbedOptions, Transport};

/// The quickstart policies, embedded so the demo runs from any directory.
pub const QUICKSTART: &[(&str, &str)] = &[
    (
        "01-tiers.yaml",
        include_str!("../../../examples/quickstart/01-tiers.yaml"),
    ),
    (
        "02-acnp.yaml",
        include_str!("../../../examples/quickstart/02-acnp.yaml"),
    ),
    (
        "03-annp.yaml",
        include_str!("../../../examples/quickstart/03-annp.yaml"),
    ),
    (
        "04-netpol.yaml",
        include_str!("../../../examples/quickstart/04-netpol.yaml"),
    ),
    (
        "05-baseline.yaml",
        include_str!("../../../examples/quickstart/05-baseline.yaml"),
    ),
];

/// The demo's result, for tests.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    /// Cells of the measured matrix by (source, destination).
    pub cells: BTreeMap<(String, String), Outcome>,
    /// Cells where the dataplane and the engine disagree.
    pub disagreements: Vec<String>,
    pub log_lines: usize,
    /// The testbed's name prefix (removed when the demo ends).
    pub prefix: String,
    /// Where the np.log files are (`<node>/np.log`); kept when the demo ends.
    pub log_dir: PathBuf,
}

/// The directory the demo keeps its np.log files in: `$TMPDIR/tierwall-demo-<pid>`.
pub fn log_dir() -> PathBuf {
    std::env::temp_dir().join(format!("tierwall-demo-{}", std::process::id()))
}

struct Progress<'a> {
    out: &'a mut dyn Write,
    start: Instant,
}

impl Progress<'_> {
    fn step(&mut self, text: &str) -> std::io::Result<()> {
        writeln!(
            self.out,
            "\n==> [{:>5.1}s] {text}",
            self.start.elapsed().as_secs_f64()
        )
    }
}

fn deciding_rule(engine: &Engine, src: &(String, String), dst: &(String, String)) -> String {
    let v = engine.probe(
        &Source::Pod {
            namespace: src.0.clone(),
            name: src.1.clone(),
        },
        &Target::Pod {
            namespace: dst.0.clone(),
            name: dst.1.clone(),
        },
        ProbeTransport::L4 {
            protocol: L4Protocol::Tcp,
            port: 80,
            src_port: DEFAULT_SOURCE_PORT,
        },
    );
    let d = v.deciding();
    let dir = d.direction.as_str().to_ascii_lowercase();
    match &d.decision {
        Decision::Rule(h) => format!(
            "{dir} {} rule {} ({} tier {})",
            h.policy,
            h.rule
                .clone()
                .unwrap_or_else(|| format!("#{}", h.rule_index)),
            h.action.as_str(),
            h.tier.clone().unwrap_or_default()
        ),
        Decision::K8sIsolation { policies } => format!(
            "{dir} Kubernetes NetworkPolicy isolation ({})",
            policies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{dir} {other:?}"),
    }
}

/// Runs the demo, writing to `out`.
pub fn run(
    out: &mut dyn Write,
    probe_helper: Option<ProbeHelperCommand>,
) -> Result<DemoReport, String> {
    let mut p = Progress {
        out,
        start: Instant::now(),
    };
    let io = |e: std::io::Error| e.to_string();
    p.step("building the standard cluster: Nodes node-0..2, Namespaces x y z, Pods a b c in each")
        .map_err(io)?;
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).map_err(|e| e.to_string())?;
    }
    // The logs outlive the testbed: the demo prints their paths.
    let logs = log_dir();
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let options = LiveOptions {
        testbed: TestbedOptions {
            probe_helper,
            ..TestbedOptions::default()
        },
        log_dir: Some(logs.clone()),
    };
    let mut live = LiveCluster::up(engine, options).map_err(|e| e.to_string())?;
    writeln!(
        p.out,
        "    testbed {}: {} network namespaces, every Pod serving TCP/UDP 80 and 81",
        live.testbed().prefix(),
        live.testbed().layout().pods.len() + 4
    )
    .map_err(io)?;

    p.step("applying the quickstart policies (examples/quickstart)")
        .map_err(io)?;
    for (file, text) in QUICKSTART {
        let objects = tierwall_model::load_str(file, text).map_err(|e| e.to_string())?;
        for o in objects {
            let key = o.object.key();
            let report = live
                .apply(o.object)
                .map_err(|e| format!("{file}: {key}: {e}"))?;
            writeln!(
                p.out,
                "    {key:<45} programmed on {}",
                if report.pushed.is_empty() {
                    "no Node".to_string()
                } else {
                    report.pushed.join(", ")
                }
            )
            .map_err(io)?;
        }
    }

    p.step("probing every Pod pair on TCP/80 with real connections")
        .map_err(io)?;
    let pods: Vec<(String, String)> = live.engine().cluster().pods.keys().cloned().collect();
    let mut probes = Vec::new();
    let mut pairs = Vec::new();
    for s in &pods {
        for d in &pods {
            if s == d {
                continue;
            }
            let ip = live
                .engine()
                .cluster()
                .pod(&d.0, &d.1)
                .and_then(|p| p.ip)
                .ok_or("Pod without IP")?;
            probes.push(Probe::new(
                Endpoint::pod(&s.0, &s.1),
                ip,
                Transport::Tcp(80),
            ));
            pairs.push((s.clone(), d.clone()));
        }
    }
    let results = live
        .testbed()
        .probe_many(&probes)
        .map_err(|e| e.to_string())?;
    let mut report = DemoReport {
        prefix: live.testbed().prefix().to_string(),
        log_dir: logs,
        ..DemoReport::default()
    };
    for (pair, r) in pairs.iter().zip(&results) {
        report.cells.insert(
            (
                format!("{}/{}", pair.0.0, pair.0.1),
                format!("{}/{}", pair.1.0, pair.1.1),
            ),
            r.outcome,
        );
        let want = live
            .engine()
            .probe(
                &Source::Pod {
                    namespace: pair.0.0.clone(),
                    name: pair.0.1.clone(),
                },
                &Target::Pod {
                    namespace: pair.1.0.clone(),
                    name: pair.1.1.clone(),
                },
                ProbeTransport::L4 {
                    protocol: L4Protocol::Tcp,
                    port: 80,
                    src_port: DEFAULT_SOURCE_PORT,
                },
            )
            .outcome;
        if want != r.outcome {
            report.disagreements.push(format!(
                "{}/{} -> {}/{}: dataplane {:?}, engine {want:?}",
                pair.0.0, pair.0.1, pair.1.0, pair.1.1, r.outcome
            ));
        }
    }
    let names: Vec<String> = pods.iter().map(|(n, p)| format!("{n}/{p}")).collect();
    write!(p.out, "\n    {:4}", "").map_err(io)?;
    for n in &names {
        write!(p.out, "{n:4}").map_err(io)?;
    }
    writeln!(p.out).map_err(io)?;
    for s in &names {
        write!(p.out, "    {s:4}").map_err(io)?;
        for d in &names {
            let c = if s == d {
                '-'
            } else {
                report
                    .cells
                    .get(&(s.clone(), d.clone()))
                    .map_or('?', |o| o.cell())
            };
            write!(p.out, "{c:<4}").map_err(io)?;
        }
        writeln!(p.out).map_err(io)?;
    }
    writeln!(
        p.out,
        "\n    . connected   X dropped (no answer)   R rejected (TCP RST)   - same Pod"
    )
    .map_err(io)?;
    writeln!(
        p.out,
        "    blocked cells and the rule that decided each (from the engine's explanation):"
    )
    .map_err(io)?;
    for (pair, r) in pairs.iter().zip(&results) {
        if r.outcome != Outcome::Connected {
            writeln!(
                p.out,
                "    {}/{} -> {}/{}: {:<8} {}",
                pair.0.0,
                pair.0.1,
                pair.1.0,
                pair.1.1,
                r.outcome.as_str(),
                deciding_rule(live.engine(), &pair.0, &pair.1)
            )
            .map_err(io)?;
        }
    }
    if report.disagreements.is_empty() {
        writeln!(
            p.out,
            "    the dataplane agrees with the engine on all {} pairs",
            pairs.len()
        )
        .map_err(io)?;
    } else {
        for d in &report.disagreements {
            writeln!(p.out, "    DISAGREEMENT {d}").map_err(io)?;
        }
    }

    p.step("audit log: np.log lines written by the Nodes for the logged rules")
        .map_err(io)?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let nodes: Vec<String> = live.engine().cluster().nodes.keys().cloned().collect();
    for node in &nodes {
        let lines = live.log_lines(node);
        report.log_lines += lines.len();
        writeln!(
            p.out,
            "    {node} ({} lines, {})",
            lines.len(),
            live.log_path(node).display()
        )
        .map_err(io)?;
        for l in lines.iter().take(4) {
            writeln!(p.out, "      {l}").map_err(io)?;
        }
    }

    p.step("per-rule statistics from the nftables counters (connections decided by each rule)")
        .map_err(io)?;
    let stats = live.rule_stats().map_err(|e| e.to_string())?;
    writeln!(p.out, "    {:<60} {:>8}", "RULE", "SESSIONS").map_err(io)?;
    for (id, s) in &stats {
        if s.sessions > 0 {
            writeln!(p.out, "    {id:<60} {:>8}", s.sessions).map_err(io)?;
        }
    }

    p.step("tearing the testbed down").map_err(io)?;
    live.down().map_err(|e| e.to_string())?;
    writeln!(
        p.out,
        "    the np.log files stay in {} (remove it when done)",
        report.log_dir.display()
    )
    .map_err(io)?;
    writeln!(p.out, "    done in {:.1}s", p.start.elapsed().as_secs_f64()).map_err(io)?;
    Ok(report)
}
