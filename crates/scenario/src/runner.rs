//! The engine-mode scenario runner: builds the cluster, applies manifests, runs every step's
//! actions and checks its expectations against `tierwall_engine`. A file that needs a capability
//! this runner lacks is skipped with the reason, never passed.

use crate::backend::{Backend, MakeBackend, ProbeRequest};
use crate::cluster::ClusterModel;
use crate::format::{LabelChange, ScenarioFile, Step};
use crate::probe_line::{Destination, DestinationKind, Endpoint, split_line};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::evaluate::{DEFAULT_SOURCE_PORT, Decision, DirectionVerdict};
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target, Verdict};
use tierwall_model::{Kind, Object, ObjectKey};

/// Capabilities of the engine-mode runner (FORMAT.md `requires`).
pub const ENGINE_CAPABILITIES: &[&str] = &[
    "services",
    "nodes",
    "hostNetwork",
    "serviceAccounts",
    "icmp",
    "dns",
    "admission",
    "evaluation",
];

/// Result of one file.
#[derive(Debug, Clone, PartialEq)]
pub enum FileResult {
    Passed,
    /// Mismatches, one per line.
    Failed(Vec<String>),
    Skipped(String),
}

/// Report of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub path: PathBuf,
    pub name: String,
    pub result: FileResult,
}

/// Totals over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Summary {
    pub fn add(&mut self, r: &FileResult) {
        match r {
            FileResult::Passed => self.passed += 1,
            FileResult::Failed(_) => self.failed += 1,
            FileResult::Skipped(_) => self.skipped += 1,
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Collects scenario files under the given paths (files or directories, recursively, sorted).
/// `FORMAT.md` and non-YAML files are ignored.
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            entries.sort_by_key(|a| natural_key(a));
            for e in entries {
                walk(&e, out)?;
            }
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or directory", p.display()),
            ));
        }
        walk(p, &mut out)?;
    }
    Ok(out)
}

/// Sort key that orders `9-x` before `10-x`.
fn natural_key(p: &Path) -> (u64, String) {
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u64::MAX), name)
}

/// Runs one scenario file in engine mode.
pub fn run_file(path: &Path) -> FileReport {
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
    let file: ScenarioFile = match serde_saphyr::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            let msg = e.without_snippet().to_string();
            return FileReport {
                path: path.into(),
                name: String::new(),
                result: FileResult::Failed(vec![format!("{}: {msg}", path.display())]),
            };
        }
    };
    let result = run_scenario(&file);
    FileReport {
        path: path.into(),
        name: file.name.clone(),
        result,
    }
}

/// Runs a parsed scenario in engine mode.
pub fn run_scenario(file: &ScenarioFile) -> FileResult {
    run_scenario_observed(file, &mut |_, _| {})
}

/// `run_scenario` that also hands the engine to `observe` after each step's actions (with the
/// step's label), so other checks (the per-Node rule sets, the dataplane) can be run against the
/// same states.
pub fn run_scenario_observed(
    file: &ScenarioFile,
    observe: &mut dyn FnMut(&str, &Engine),
) -> FileResult {
    if let Some(missing) = file
        .requires
        .iter()
        .find(|r| !ENGINE_CAPABILITIES.contains(&r.as_str()))
    {
        return FileResult::Skipped(format!(
            "requires `{missing}`, which needs the dataplane (engine mode checks policy verdicts only)"
        ));
    }
    for (i, step) in file.steps.iter().enumerate() {
        let needs = [
            (!step.expect_status.is_empty(), "expectStatus"),
            (!step.expect_stats.is_empty(), "expectStats"),
            (step.expect_logs.is_some(), "expectLogs"),
            (!step.traffic.is_empty(), "traffic"),
        ];
        if let Some((_, what)) = needs.iter().find(|(n, _)| *n) {
            return FileResult::Skipped(format!(
                "step {} uses `{what}`, which needs the dataplane",
                i + 1
            ));
        }
    }
    if file.kind.as_deref() == Some("validation") {
        return run_validation(file);
    }
    let mut make: Box<MakeBackend> = Box::new(|engine, _| Ok(Box::new(engine) as Box<dyn Backend>));
    run_steps(file, &mut *make, observe)
}

/// Runs the steps of a (non-validation) scenario against the backend `make_backend` builds.
pub fn run_steps(
    file: &ScenarioFile,
    make_backend: &mut MakeBackend,
    observe: &mut dyn FnMut(&str, &Engine),
) -> FileResult {
    let mut run = match Run::start(file, make_backend) {
        Ok(r) => r,
        Err(e) => return FileResult::Failed(vec![e]),
    };
    for (i, step) in file.steps.iter().enumerate() {
        run.step(i, step);
        let label = step_label(i, step);
        let mut extra = Vec::new();
        run.backend
            .check_dataplane_expectations(&label, step, &mut extra);
        run.failures.extend(extra);
        observe(&label, run.engine());
    }
    run.backend.finish();
    if run.failures.is_empty() {
        FileResult::Passed
    } else {
        FileResult::Failed(run.failures)
    }
}

fn run_validation(file: &ScenarioFile) -> FileResult {
    let mut failures = Vec::new();
    for (i, item) in file.validate.iter().enumerate() {
        let mut engine = Engine::new();
        let label = item
            .note
            .clone()
            .unwrap_or_else(|| format!("item {}", i + 1));
        let outcome = apply_text(&mut engine, &item.manifest, &format!("validate[{i}]"));
        let want_accept = item.expect == "Accepted";
        match (&outcome, want_accept) {
            (Ok(()), true) => {}
            (Err(msg), false) => {
                if let Some(want) = &item.message_contains
                    && !msg.contains(want.as_str())
                {
                    failures.push(format!(
                        "{label}: rejected with {msg:?}, expected message containing {want:?}"
                    ));
                }
            }
            (Ok(()), false) => failures.push(format!("{label}: expected Rejected, was Accepted")),
            (Err(msg), true) => {
                failures.push(format!("{label}: expected Accepted, was Rejected: {msg}"))
            }
        }
    }
    if failures.is_empty() {
        FileResult::Passed
    } else {
        FileResult::Failed(failures)
    }
}

/// Applies every object of a manifest text; the first failure is returned (objects before it stay).
fn apply_text(backend: &mut dyn Backend, text: &str, source: &str) -> Result<(), String> {
    let objects = tierwall_model::load_str(source, text).map_err(|e| e.to_string())?;
    for o in objects {
        backend.apply(o.object)?;
    }
    Ok(())
}

fn step_label(index: usize, step: &Step) -> String {
    match &step.name {
        Some(n) => format!("step {} ({n})", index + 1),
        None => format!("step {}", index + 1),
    }
}

struct Run {
    backend: Box<dyn Backend>,
    model: ClusterModel,
    failures: Vec<String>,
}

impl Run {
    /// Builds the cluster and applies the manifests in an engine, then hands the engine to
    /// `make_backend` (the engine itself, or a live cluster built from it).
    fn start(file: &ScenarioFile, make_backend: &mut MakeBackend) -> Result<Self, String> {
        let model = ClusterModel::from_overrides(file.cluster.as_ref());
        let mut engine = Engine::new();
        for o in model.objects() {
            let key = o.key();
            engine
                .apply(o)
                .map_err(|e| format!("cluster setup: {key}: {e}"))?;
        }
        if let Some(m) = &file.manifests {
            apply_text(&mut engine, m, "manifests").map_err(|e| format!("manifests: {e}"))?;
        }
        let externals = model
            .externals
            .iter()
            .filter_map(|(n, ip)| Some((n.clone(), ip.parse().ok()?)))
            .collect();
        let backend = make_backend(engine, externals)?;
        Ok(Run {
            backend,
            model,
            failures: vec![],
        })
    }

    fn engine(&self) -> &Engine {
        self.backend.engine()
    }

    fn step(&mut self, index: usize, step: &Step) {
        let label = step_label(index, step);
        let admission = self.actions(step);
        match (&step.expect_admission, &admission) {
            (None, Err(e)) => self.failures.push(format!("{label}: action failed: {e}")),
            (Some(want), Ok(())) if !want.allowed => {
                self.failures.push(format!(
                    "{label}: expected admission to reject, but it allowed"
                ));
            }
            (Some(want), Err(e)) if want.allowed => {
                self.failures.push(format!(
                    "{label}: expected admission to allow, but it rejected: {e}"
                ));
            }
            (Some(want), Err(e)) => {
                if let Some(m) = &want.message_contains
                    && !e.contains(m.as_str())
                {
                    self.failures.push(format!(
                        "{label}: rejected with {e:?}, expected message containing {m:?}"
                    ));
                }
            }
            _ => {}
        }
        self.check_matrix(&label, step);
        for line in &step.probes {
            self.check_probe_line(&label, line);
        }
        for line in &step.evaluation {
            self.check_evaluation(&label, line);
        }
        if let Some(obj) = &step.expect_object {
            self.check_object(&label, obj);
        }
    }

    /// Runs delete, apply, label and annotate; returns the first admission failure.
    fn actions(&mut self, step: &Step) -> Result<(), String> {
        let mut first_err: Option<String> = None;
        let mut record = |r: Result<(), String>| {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        };
        for d in &step.delete {
            record(self.delete(d));
        }
        if let Some(text) = &step.apply {
            record(apply_text(self.backend.as_mut(), text, "apply"));
        }
        for l in &step.label {
            record(self.relabel(l, false));
        }
        for a in &step.annotate {
            record(self.relabel(a, true));
        }
        first_err.map_or(Ok(()), Err)
    }

    fn delete(&mut self, text: &str) -> Result<(), String> {
        if let Some(kind_text) = text.strip_suffix("/*") {
            let kind = Kind::from_cli_name(kind_text)
                .ok_or_else(|| format!("unknown resource type {kind_text:?}"))?;
            for key in self.engine().keys_of(kind) {
                self.backend.delete(&key)?;
            }
            return Ok(());
        }
        let key = ObjectKey::parse(text)?;
        self.backend.delete(&key)
    }

    fn relabel(&mut self, change: &LabelChange, annotations: bool) -> Result<(), String> {
        let kind = Kind::from_cli_name(&change.kind)
            .ok_or_else(|| format!("unknown kind {:?}", change.kind))?;
        let key = ObjectKey::new(
            kind,
            Some(change.namespace.as_deref().unwrap_or("default")),
            &change.name,
        );
        let mut object: Object = self
            .engine()
            .store()
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("{key} not found"))?;
        let meta = object.metadata_mut();
        let map = if annotations {
            &mut meta.annotations
        } else {
            &mut meta.labels
        };
        if let Some(r) = &change.replace {
            *map = r.clone();
        }
        for (k, v) in change.set.iter().flatten() {
            map.insert(k.clone(), v.clone());
        }
        for k in &change.remove {
            map.remove(k);
        }
        if kind == Kind::Namespace && !annotations {
            map.insert("kubernetes.io/metadata.name".into(), change.name.clone());
        }
        self.backend.apply(object)
    }

    fn transports(&self, step: &Step) -> Result<Vec<ProbeTransport>, String> {
        let Some(p) = &step.probe else {
            return Ok(vec![]);
        };
        let proto = p.protocol.as_deref().unwrap_or("TCP").to_ascii_uppercase();
        if proto == "ICMP" {
            return Ok(vec![ProbeTransport::Icmp {
                icmp_type: 8,
                icmp_code: 0,
            }]);
        }
        let protocol = L4Protocol::parse(Some(&proto))
            .ok_or_else(|| format!("unknown probe protocol {proto:?}"))?;
        let ports: Vec<u16> = if p.ports.is_empty() {
            p.port.into_iter().collect()
        } else {
            p.ports.clone()
        };
        if ports.is_empty() {
            return Err("probe has no port".into());
        }
        Ok(ports
            .into_iter()
            .map(|port| ProbeTransport::L4 {
                protocol,
                port,
                src_port: DEFAULT_SOURCE_PORT,
            })
            .collect())
    }

    fn check_matrix(&mut self, label: &str, step: &Step) {
        let transports = match self.transports(step) {
            Ok(t) => t,
            Err(e) => return self.failures.push(format!("{label}: {e}")),
        };
        if transports.is_empty() {
            if !step.expect.is_empty() {
                self.failures
                    .push(format!("{label}: `expect` without `probe`"));
            }
            return;
        }
        let default = match step.default.as_deref().map(Outcome::parse) {
            None => Outcome::Connected,
            Some(Some(o)) => o,
            Some(None) => {
                return self
                    .failures
                    .push(format!("{label}: bad default {:?}", step.default));
            }
        };
        let pods: Vec<(String, String)> = match &step.pods {
            Some(list) => list
                .iter()
                .filter_map(|p| {
                    p.split_once('/')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect(),
            None => self.engine().cluster().pods.keys().cloned().collect(),
        };
        let mut expected = std::collections::BTreeMap::new();
        for line in &step.expect {
            match split_line(line).and_then(|(s, d, e)| {
                let s = s.split_once('/').ok_or_else(|| format!("bad pod {s:?}"))?;
                let d = d.split_once('/').ok_or_else(|| format!("bad pod {d:?}"))?;
                let o = Outcome::parse(e).ok_or_else(|| format!("bad outcome {e:?}"))?;
                Ok((
                    (
                        (s.0.to_string(), s.1.to_string()),
                        (d.0.to_string(), d.1.to_string()),
                    ),
                    o,
                ))
            }) {
                Ok((k, o)) => {
                    expected.insert(k, o);
                }
                Err(e) => self.failures.push(format!("{label}: {e}")),
            }
        }
        let mut requests = Vec::new();
        let mut wants = Vec::new();
        for src in &pods {
            for dst in &pods {
                if src == dst {
                    continue;
                }
                let want = expected
                    .get(&(src.clone(), dst.clone()))
                    .copied()
                    .unwrap_or(default);
                for t in &transports {
                    requests.push(ProbeRequest {
                        source: Source::Pod {
                            namespace: src.0.clone(),
                            name: src.1.clone(),
                        },
                        target: Target::Pod {
                            namespace: dst.0.clone(),
                            name: dst.1.clone(),
                        },
                        transport: *t,
                    });
                    wants.push((
                        format!(
                            "{}/{} -> {}/{} {}",
                            src.0,
                            src.1,
                            dst.0,
                            dst.1,
                            transport_text(t)
                        ),
                        want,
                    ));
                }
            }
        }
        self.check_requests(label, &requests, &wants);
    }

    /// Observes the probes through the backend and records every mismatch with the expected
    /// outcome, and (in dataplane mode) every disagreement between the dataplane and the engine.
    fn check_requests(
        &mut self,
        label: &str,
        requests: &[ProbeRequest],
        wants: &[(String, Outcome)],
    ) {
        let observed = self.backend.observe(requests);
        for ((req, (what, want)), got) in requests.iter().zip(wants).zip(observed) {
            let verdict = self.engine().probe(&req.source, &req.target, req.transport);
            match got {
                Err(e) => self
                    .failures
                    .push(format!("{label}: {what}: probe failed: {e}")),
                Ok(got) if got != *want => self.failures.push(format!(
                    "{label}: {what}: expected {}, got {} ({}{})",
                    want.as_str(),
                    got.as_str(),
                    if self.backend.is_dataplane() {
                        format!("engine says {}: ", verdict.outcome.as_str())
                    } else {
                        String::new()
                    },
                    explain_short(&verdict)
                )),
                Ok(got) if got != verdict.outcome => self.failures.push(format!(
                    "{label}: {what}: dataplane {} but engine {} ({})",
                    got.as_str(),
                    verdict.outcome.as_str(),
                    explain_short(&verdict)
                )),
                Ok(_) => {}
            }
        }
    }

    fn source(&self, e: &Endpoint) -> Result<Source, String> {
        Ok(match e {
            Endpoint::Pod { namespace, name } => Source::Pod {
                namespace: namespace.clone(),
                name: name.clone(),
            },
            Endpoint::Node(n) => Source::Node(n.clone()),
            Endpoint::External(n) => Source::Ip(self.external_ip(n)?),
            Endpoint::Ip(ip) => Source::Ip(ip.parse().map_err(|_| format!("bad IP {ip:?}"))?),
        })
    }

    fn external_ip(&self, name: &str) -> Result<IpAddr, String> {
        self.model
            .externals
            .get(name)
            .ok_or_else(|| format!("unknown external {name:?}"))?
            .parse()
            .map_err(|_| format!("external {name:?} has a bad IP"))
    }

    fn check_probe_line(&mut self, label: &str, line: &str) {
        let result = (|| -> Result<(Outcome, ProbeRequest), String> {
            let (s, d, e) = split_line(line)?;
            let source = self.source(&Endpoint::parse(s)?)?;
            let dest = Destination::parse(d)?;
            let target = match &dest.kind {
                DestinationKind::Pod { namespace, name } => Target::Pod {
                    namespace: namespace.clone(),
                    name: name.clone(),
                },
                DestinationKind::Service { namespace, name } => Target::Service {
                    namespace: namespace.clone(),
                    name: name.clone(),
                },
                DestinationKind::Node(n) => Target::Node(n.clone()),
                DestinationKind::Ip(ip) => {
                    Target::Ip(ip.parse().map_err(|_| format!("bad IP {ip:?}"))?)
                }
                DestinationKind::External(n) => Target::Ip(self.external_ip(n)?),
                DestinationKind::Fqdn(n) => Target::Fqdn(n.clone()),
            };
            let transport = match &dest.port {
                None => ProbeTransport::Icmp {
                    icmp_type: 8,
                    icmp_code: 0,
                },
                Some((port, proto)) => ProbeTransport::L4 {
                    protocol: L4Protocol::parse(Some(proto))
                        .ok_or_else(|| format!("unknown protocol {proto:?}"))?,
                    port: *port,
                    src_port: DEFAULT_SOURCE_PORT,
                },
            };
            let want = Outcome::parse(e).ok_or_else(|| format!("bad outcome {e:?}"))?;
            Ok((
                want,
                ProbeRequest {
                    source,
                    target,
                    transport,
                },
            ))
        })();
        match result {
            Ok((want, request)) => {
                self.check_requests(label, &[request], &[(line.to_string(), want)])
            }
            Err(e) => self.failures.push(format!("{label}: {line}: {e}")),
        }
    }

    fn check_evaluation(&mut self, label: &str, line: &str) {
        let result = (|| -> Result<String, String> {
            let (s, d, want) = split_line(line)?;
            let pod = |t: &str| -> Result<_, String> {
                let (ns, name) = t.split_once('/').ok_or_else(|| format!("bad pod {t:?}"))?;
                self.engine()
                    .cluster()
                    .pod(ns, name)
                    .ok_or_else(|| format!("no Pod {t}"))
            };
            let row = tierwall_engine::policy_evaluation::evaluate(
                self.engine().cluster(),
                self.engine().table(),
                pod(s)?,
                pod(d)?,
            );
            let got = row.map_or("<NONE> <NONE>".to_string(), |r| {
                format!("{} {}", r.policy.name, r.action)
            });
            if got == want {
                Ok(String::new())
            } else {
                Ok(format!("got {got:?}"))
            }
        })();
        match result {
            Ok(m) if m.is_empty() => {}
            Ok(m) => self
                .failures
                .push(format!("{label}: evaluation {line}: {m}")),
            Err(e) => self
                .failures
                .push(format!("{label}: evaluation {line}: {e}")),
        }
    }

    fn check_object(
        &mut self,
        label: &str,
        expect: &std::collections::BTreeMap<String, serde_json::Value>,
    ) {
        let text = |k: &str| expect.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let Some(kind) = text("kind").and_then(|k| Kind::from_cli_name(&k)) else {
            return self
                .failures
                .push(format!("{label}: expectObject needs a known `kind`"));
        };
        let name = text("name").unwrap_or_default();
        let key = ObjectKey::new(
            kind,
            Some(text("namespace").as_deref().unwrap_or("default")),
            &name,
        );
        let Some(object) = self.engine().store().get(&key) else {
            return self
                .failures
                .push(format!("{label}: expectObject: {key} not found"));
        };
        let json = serde_json::to_value(object).unwrap_or_default();
        for (path, want) in expect {
            if matches!(path.as_str(), "kind" | "name" | "namespace") {
                continue;
            }
            let got = path
                .split('.')
                .try_fold(&json, |v, seg| match seg.parse::<usize>() {
                    Ok(i) => v.get(i),
                    Err(_) => v.get(seg),
                });
            if got != Some(want) {
                self.failures.push(format!(
                    "{label}: expectObject {key} {path}: expected {want}, got {}",
                    got.map_or("nothing".into(), |g| g.to_string())
                ));
            }
        }
    }
}

fn transport_text(t: &ProbeTransport) -> String {
    match t {
        ProbeTransport::L4 { protocol, port, .. } => format!("{port}/{}", protocol.as_str()),
        ProbeTransport::Icmp { .. } => "ICMP".into(),
    }
}

fn direction_text(d: &DirectionVerdict) -> String {
    let dir = d.direction.as_str().to_ascii_lowercase();
    match &d.decision {
        Decision::NotEnforced { reason } => format!("{dir}: not enforced ({reason})"),
        Decision::Rule(h) | Decision::K8sAllow(h) => format!(
            "{dir} {} rule {} {}",
            h.policy,
            h.rule
                .clone()
                .unwrap_or_else(|| format!("#{}", h.rule_index)),
            h.action.as_str()
        ),
        Decision::K8sIsolation { policies } => {
            let mut s = format!("{dir} isolated by");
            for p in policies {
                let _ = write!(s, " {p}");
            }
            s
        }
        Decision::Default => format!("{dir}: no rule, allowed"),
    }
}

/// A one-line explanation of the deciding rule(s).
pub fn explain_short(v: &Verdict) -> String {
    if let Some(u) = &v.unresolved {
        return format!("unresolved: {u}");
    }
    format!(
        "{}; {}",
        direction_text(&v.egress),
        direction_text(&v.ingress)
    )
}
