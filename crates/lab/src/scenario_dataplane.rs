//! The dataplane scenario runner: every scenario step runs on a live cluster of network
//! namespaces, every asserted pair is a real probe (TCP connect, UDP request/response, SCTP where
//! the kernel has it, ping), and `traffic`, `expectStatus`, `expectStats` and `expectLogs` are
//! checked against the agents. Each observed outcome is also compared with the engine's verdict
//! (the differential check). Pods and Nodes that steps add, delete, move or relabel change the
//! live testbed ([`LiveCluster::apply`]). An `fqdn:` destination is resolved from the probe's
//! source through the testbed's cluster DNS, the answer snooped and enforced, then dialled
//! ([`crate::fqdn`]). A file is skipped only when the testbed cannot model it, with the reason;
//! engine mode covers those files.

use crate::live::{LiveCluster, LiveOptions};
use std::net::IpAddr;
use std::path::Path;
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_model::{Kind, Object, ObjectKey};
use tierwall_scenario::backend::{Backend, ProbeRequest};
use tierwall_scenario::format::{ScenarioFile, Step};
use tierwall_scenario::probe_line::{
    Destination, DestinationKind, Endpoint as LineEndpoint, split_line,
};
use tierwall_scenario::runner::run_steps;
use tierwall_scenario::{FileReport, FileResult};
use tierwall_testbed::Probe;
use tierwall_testbed::options::ServedPort;

/// Capabilities the testbed cannot model (engine mode covers them).
const UNSUPPORTED: &[(&str, &str)] = &[(
    "adminNetworkPolicy",
    "AdminNetworkPolicy is not implemented",
)];

struct LiveBackend {
    live: Option<LiveCluster>,
    externals: Vec<(String, IpAddr)>,
}

impl LiveBackend {
    fn live(&self) -> Result<&LiveCluster, String> {
        self.live
            .as_ref()
            .ok_or_else(|| "live cluster already torn down".to_string())
    }

    fn probe(&self, request: &ProbeRequest) -> Result<Probe, String> {
        self.live()?.probe_for(
            &request.source,
            &request.target,
            request.transport,
            &self.externals,
        )
    }

    /// The probe of a request; an `fqdn:` target is first resolved from the probe's source
    /// through cluster DNS (a real query), the answer snooped and enforced, then the probe
    /// dials the first address answered ([`crate::fqdn`]).
    fn resolved_probe(&mut self, request: &ProbeRequest) -> Result<Probe, String> {
        let Target::Fqdn(name) = &request.target else {
            return self.probe(request);
        };
        let from_source = ProbeRequest {
            source: request.source.clone(),
            target: Target::Ip(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            transport: request.transport,
        };
        let src = self.probe(&from_source)?.src;
        let live = self.live.as_mut().ok_or("live cluster torn down")?;
        let r = live
            .resolve_fqdn(&src, name, tierwall_testbed::dns::DnsTransport::Udp)
            .map_err(|e| e.to_string())?;
        let Some(first) = r.addrs().first().copied() else {
            return Err(format!(
                "{name} does not resolve from {src}: {}",
                r.resolution
                    .error
                    .clone()
                    .or(r.resolution.rcode.clone())
                    .unwrap_or_default()
            ));
        };
        self.probe(&ProbeRequest {
            source: request.source.clone(),
            target: Target::Ip(first),
            transport: request.transport,
        })
    }
}

impl Backend for LiveBackend {
    fn engine(&self) -> &Engine {
        match &self.live {
            Some(l) => l.engine(),
            None => unreachable_engine(),
        }
    }

    fn apply(&mut self, object: Object) -> Result<(), String> {
        let live = self.live.as_mut().ok_or("live cluster torn down")?;
        let report = live.apply(object).map_err(|e| e.to_string())?;
        report
            .failed
            .iter()
            .next()
            .map_or(Ok(()), |(n, m)| Err(format!("programming {n}: {m}")))
    }

    fn delete(&mut self, key: &ObjectKey) -> Result<(), String> {
        let live = self.live.as_mut().ok_or("live cluster torn down")?;
        let report = live.delete(key).map_err(|e| e.to_string())?;
        report
            .failed
            .iter()
            .next()
            .map_or(Ok(()), |(n, m)| Err(format!("programming {n}: {m}")))
    }

    fn observe(&mut self, probes: &[ProbeRequest]) -> Vec<Result<Outcome, String>> {
        // Snooped answers that expired since the last batch leave the rules first.
        if let Some(live) = self.live.as_mut() {
            live.realize_fqdn();
        }
        let built: Vec<Result<Probe, String>> =
            probes.iter().map(|p| self.resolved_probe(p)).collect();
        let ok: Vec<Probe> = built
            .iter()
            .filter_map(|p| p.as_ref().ok().cloned())
            .collect();
        let results = match self.live() {
            Ok(live) => live.testbed().probe_many(&ok).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let mut results = match results {
            Ok(r) => r.into_iter(),
            Err(e) => return probes.iter().map(|_| Err(e.clone())).collect(),
        };
        built
            .into_iter()
            .map(|b| match b {
                Ok(_) => results
                    .next()
                    .map(|r| r.outcome)
                    .ok_or_else(|| "missing probe result".to_string()),
                Err(e) => Err(e),
            })
            .collect()
    }

    fn is_dataplane(&self) -> bool {
        true
    }

    fn check_dataplane_expectations(
        &mut self,
        label: &str,
        step: &Step,
        failures: &mut Vec<String>,
    ) {
        for line in &step.traffic {
            if let Err(e) = self.traffic(line) {
                failures.push(format!("{label}: traffic {line:?}: {e}"));
            }
        }
        let Ok(live) = self.live() else { return };
        for expect in &step.expect_status {
            if let Err(e) = check_status(live, expect) {
                failures.push(format!("{label}: expectStatus {expect}: {e}"));
            }
        }
        for expect in &step.expect_stats {
            if let Err(e) = check_stats(live, expect) {
                failures.push(format!("{label}: expectStats {expect}: {e}"));
            }
        }
        if let Some(expect) = &step.expect_logs
            && let Err(e) = check_logs(live, expect)
        {
            failures.push(format!("{label}: expectLogs: {e}"));
        }
    }

    fn finish(&mut self) {
        if let Some(live) = self.live.take() {
            let _ = live.down();
        }
    }
}

impl Drop for LiveBackend {
    fn drop(&mut self) {
        self.finish();
    }
}

fn unreachable_engine() -> &'static Engine {
    static EMPTY: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Engine::new)
}

impl LiveBackend {
    /// `"<n> x <src> -> <dst>"`: n connections, one after the other.
    fn traffic(&mut self, line: &str) -> Result<(), String> {
        let (count, rest) = line
            .split_once(" x ")
            .ok_or("expected '<n> x <src> -> <dst>'")?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| format!("bad count {count:?}"))?;
        let (src, dst) = rest.split_once(" -> ").ok_or("expected '<src> -> <dst>'")?;
        let source = match LineEndpoint::parse(src)? {
            LineEndpoint::Pod { namespace, name } => Source::Pod { namespace, name },
            LineEndpoint::Node(n) => Source::Node(n),
            LineEndpoint::External(n) => Source::Ip(
                self.externals
                    .iter()
                    .find(|(e, _)| *e == n)
                    .map(|(_, ip)| *ip)
                    .ok_or(format!("no external {n}"))?,
            ),
            LineEndpoint::Ip(ip) => Source::Ip(ip.parse().map_err(|_| format!("bad IP {ip}"))?),
        };
        let dest = Destination::parse(dst)?;
        let target = match dest.kind {
            DestinationKind::Pod { namespace, name } => Target::Pod { namespace, name },
            DestinationKind::Service { namespace, name } => Target::Service { namespace, name },
            DestinationKind::Node(n) => Target::Node(n),
            DestinationKind::Ip(ip) => Target::Ip(ip.parse().map_err(|_| format!("bad IP {ip}"))?),
            DestinationKind::External(n) => Target::Ip(
                self.externals
                    .iter()
                    .find(|(e, _)| *e == n)
                    .map(|(_, ip)| *ip)
                    .ok_or(format!("no external {n}"))?,
            ),
            DestinationKind::Fqdn(n) => Target::Fqdn(n),
        };
        let transport = match dest.port {
            Some((port, proto)) => ProbeTransport::L4 {
                protocol: tierwall_engine::cluster::L4Protocol::parse(Some(&proto))
                    .ok_or(format!("bad protocol {proto}"))?,
                port,
                src_port: 0,
            },
            None => ProbeTransport::Icmp {
                icmp_type: 8,
                icmp_code: 0,
            },
        };
        let probe = self.resolved_probe(&ProbeRequest {
            source,
            target,
            transport,
        })?;
        let live = self.live()?;
        for _ in 0..count {
            live.testbed()
                .probe_many(std::slice::from_ref(&probe))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn object_key(text: &str) -> Result<ObjectKey, String> {
    ObjectKey::parse(text)
}

fn check_status(live: &LiveCluster, expect: &serde_json::Value) -> Result<(), String> {
    let key = object_key(
        expect
            .get("object")
            .and_then(|v| v.as_str())
            .ok_or("missing `object`")?,
    )?;
    let got: serde_json::Value = if matches!(key.kind, Kind::ClusterGroup | Kind::Group) {
        let g = match &key.namespace {
            Some(ns) => {
                tierwall_engine::compile::GroupRef::Namespaced(ns.clone(), key.name.clone())
            }
            None => tierwall_engine::compile::GroupRef::Cluster(key.name.clone()),
        };
        serde_json::json!({"conditions": tierwall_engine::status::group_conditions(live.engine().cluster(), &g)})
    } else {
        let s = live
            .controller()
            .policy_status(&key)
            .ok_or_else(|| format!("{key} not found"))?;
        serde_json::to_value(s).map_err(|e| e.to_string())?
    };
    for (field, want) in expect.as_object().into_iter().flatten() {
        match field.as_str() {
            "object" => {}
            "conditions" => {
                for c in want.as_array().into_iter().flatten() {
                    let found = got["conditions"].as_array().into_iter().flatten().any(|g| {
                        c.as_object()
                            .into_iter()
                            .flatten()
                            .all(|(k, v)| g.get(k) == Some(v))
                    });
                    if !found {
                        return Err(format!("no condition {c} in {}", got["conditions"]));
                    }
                }
            }
            "notConditions" => {
                for c in want.as_array().into_iter().flatten() {
                    let found = got["conditions"].as_array().into_iter().flatten().any(|g| {
                        c.as_object()
                            .into_iter()
                            .flatten()
                            .all(|(k, v)| g.get(k) == Some(v))
                    });
                    if found {
                        return Err(format!("condition {c} present"));
                    }
                }
            }
            f => {
                if got.get(f) != Some(want) {
                    return Err(format!(
                        "{f}: expected {want}, got {}",
                        got.get(f).unwrap_or(&serde_json::Value::Null)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_stats(live: &LiveCluster, expect: &serde_json::Value) -> Result<(), String> {
    let key = object_key(
        expect
            .get("object")
            .and_then(|v| v.as_str())
            .ok_or("missing `object`")?,
    )?;
    let policy = live
        .engine()
        .table()
        .policy(&key)
        .ok_or_else(|| format!("{key} not found"))?;
    let stats = live.rule_stats().map_err(|e| e.to_string())?;
    let rule = expect.get("rule").and_then(|v| v.as_str());
    let mut total = crate::RuleStats::default();
    for r in &policy.rules {
        if rule.is_some_and(|n| n != r.name) {
            continue;
        }
        let dir = match r.direction {
            tierwall_engine::compile::Direction::Ingress => "ingress",
            tierwall_engine::compile::Direction::Egress => "egress",
        };
        if let Some(s) = stats.get(&format!("{key}/{dir}/{}", r.index)) {
            total.sessions += s.sessions;
            total.packets += s.packets;
            total.bytes += s.bytes;
        }
    }
    for (field, got) in [
        ("sessions", total.sessions),
        ("packets", total.packets),
        ("bytes", total.bytes),
    ] {
        if let Some(want) = expect.get(field).and_then(|v| v.as_u64())
            && got != want
        {
            return Err(format!("{field}: expected {want}, got {got}"));
        }
    }
    Ok(())
}

/// `<int>` matches any decimal integer.
fn log_pattern_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("<int>").collect();
    let Some(first) = parts.first() else {
        return true;
    };
    let Some(start) = line.find(first) else {
        return false;
    };
    let mut rest = &line[start + first.len()..];
    for part in &parts[1..] {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        if !rest.starts_with(part) {
            return false;
        }
        rest = &rest[part.len()..];
    }
    true
}

fn check_logs(live: &LiveCluster, expect: &serde_json::Value) -> Result<(), String> {
    let nodes: Vec<String> = match expect.get("node").and_then(|v| v.as_str()) {
        Some(n) => vec![n.to_string()],
        None => live.engine().cluster().nodes.keys().cloned().collect(),
    };
    // Give NFLOG and the de-duplication window time to deliver.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let lines: Vec<String> = nodes.iter().flat_map(|n| live.log_lines(n)).collect();
    for pattern in expect
        .get("contains")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let p = pattern.as_str().unwrap_or_default();
        if !lines.iter().any(|l| log_pattern_matches(p, l)) {
            return Err(format!(
                "no line matches {p:?} (got {} lines: {:?})",
                lines.len(),
                lines.iter().take(5).collect::<Vec<_>>()
            ));
        }
    }
    Ok(())
}

/// Ports probed on externals and Nodes anywhere in the file: the testbed serves them there.
fn probed_ports(file: &ScenarioFile) -> (Vec<ServedPort>, Vec<ServedPort>) {
    let (mut external, mut node) = (Vec::new(), Vec::new());
    for step in &file.steps {
        let lines = step
            .probes
            .iter()
            .map(|l| split_line(l).map(|(_, d, _)| d.to_string()))
            .chain(step.traffic.iter().map(|l| {
                Ok(l.split_once(" -> ")
                    .map(|(_, d)| d.to_string())
                    .unwrap_or_default())
            }));
        for d in lines.flatten() {
            let Ok(dest) = Destination::parse(&d) else {
                continue;
            };
            let Some((port, proto)) = dest.port else {
                continue;
            };
            let Some(protocol) = L4Protocol::parse(Some(&proto)) else {
                continue;
            };
            match dest.kind {
                DestinationKind::External(_) => external.push((protocol, port)),
                DestinationKind::Node(_) => node.push((protocol, port)),
                _ => {}
            }
        }
    }
    (external, node)
}

/// Why a file cannot run on the testbed (engine mode covers it), if it cannot.
fn unsupported_reason(file: &ScenarioFile, has_sctp: bool) -> Option<String> {
    if let Some((cap, why)) = UNSUPPORTED
        .iter()
        .find(|(c, _)| file.requires.iter().any(|r| r == c))
    {
        return Some(format!("requires `{cap}`: {why}"));
    }
    for (i, step) in file.steps.iter().enumerate() {
        let sctp = step
            .probe
            .as_ref()
            .and_then(|p| p.protocol.as_deref())
            .is_some_and(|p| p.eq_ignore_ascii_case("SCTP"))
            || step
                .probes
                .iter()
                .chain(&step.traffic)
                .any(|l| l.contains("/SCTP"));
        if sctp && !has_sctp {
            return Some(format!(
                "step {} probes SCTP and this kernel has no SCTP",
                i + 1
            ));
        }
    }
    None
}

/// Runs one scenario file on the testbed.
/// `probe_helper` runs in the testbed's namespaces (`None`: locate `tierwall-probe-helper`).
pub fn run_file_dataplane(
    path: &Path,
    has_sctp: bool,
    probe_helper: Option<tierwall_testbed::ProbeHelperCommand>,
) -> FileReport {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return FileReport {
                path: path.into(),
                name: String::new(),
                result: FileResult::Failed(vec![format!("cannot read: {e}")]),
            };
        }
    };
    let file: ScenarioFile = match tierwall_scenario::format::parse(&text) {
        Ok(f) => f,
        Err(e) => {
            return FileReport {
                path: path.into(),
                name: String::new(),
                result: FileResult::Failed(vec![e]),
            };
        }
    };
    let result = if file.kind.as_deref() == Some("validation") {
        // Admission only: the same in both modes.
        tierwall_scenario::runner::run_scenario(&file)
    } else if let Some(why) = unsupported_reason(&file, has_sctp) {
        FileResult::Skipped(why)
    } else {
        let (external_probed, node_probed) = probed_ports(&file);
        let mut make = move |engine: Engine,
                             externals: Vec<(String, IpAddr)>|
              -> Result<Box<dyn Backend>, String> {
            let defaults = tierwall_testbed::TestbedOptions::default();
            let mut external_ports = defaults.external_ports.clone();
            external_ports.extend(external_probed.iter().copied());
            external_ports.sort();
            external_ports.dedup();
            let mut node_ports = defaults.node_ports.clone();
            node_ports.extend(node_probed.iter().copied());
            node_ports.sort();
            node_ports.dedup();
            let options = LiveOptions {
                testbed: tierwall_testbed::TestbedOptions {
                    externals: externals.clone(),
                    external_ports,
                    node_ports,
                    backend_choice: tierwall_testbed::BackendChoice::First,
                    probe_timeout: std::time::Duration::from_millis(700),
                    probe_helper: probe_helper.clone(),
                    ..Default::default()
                },
                log_dir: None,
            };
            let live = LiveCluster::up(engine, options).map_err(|e| e.to_string())?;
            Ok(Box::new(LiveBackend {
                live: Some(live),
                externals,
            }))
        };
        run_steps(&file, &mut make, &mut |_, _| {})
    };
    FileReport {
        path: path.into(),
        name: file.name.clone(),
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_placeholders_match_digits_only() {
        let p = "Drop <int> x/a 10.10.1.11 <int> 10.10.3.11 80 TCP <int> testLogLabel";
        assert!(log_pattern_matches(
            p,
            "2023/07/04 12:45:21.8 AntreaPolicyEgressRule X DropToZ Egress Drop 14900 x/a 10.10.1.11 53646 10.10.3.11 80 TCP 60 testLogLabel"
        ));
        assert!(!log_pattern_matches(
            p,
            "Drop abc x/a 10.10.1.11 1 10.10.3.11 80 TCP 60 testLogLabel"
        ));
    }
}
