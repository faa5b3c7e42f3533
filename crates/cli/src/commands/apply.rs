//! `tierwall apply --testbed PREFIX -f PATH...` and `tierwall delete --testbed PREFIX KEY...`:
//! change the desired state of a testbed built by `tierwall testbed up` and program its Nodes.
//!
//! ```text
//!  <prefix>.d/objects.json ──load──> Engine ──apply -f objects / delete keys (admission)──┐
//!     any rejection: print `<file>:<line>: <Kind ns/name>: <field>: <message>`, change nothing
//!  ┌─ok─┘
//!  └─> plan the Pod/Node changes (persisted::plan; refused: a Pod on a Node the cluster lacks,
//!      an address taken twice or IPv6 — nothing stored, nothing changed)
//!      ──> store objects.json ──> testbed follows (Pods/Nodes built, removed, rebuilt; one
//!      `testbed <prefix>: Pod x/a added on n0 (...)` line each on stderr)
//!      ──> every Node: NodeRuleSet ══Node stream══> an agent task per Node ──> nftables
//!          (fresh agent: full transaction adopting the table; counters kept; lab::program_once)
//! ```
//!
//! Pods and Nodes may be added, moved, re-addressed, given other ports and deleted: the testbed
//! follows (`tierwall_testbed::runtime`). Service changes re-render the testbed's Service tables.
//!
//! While `tierwall controller --testbed PREFIX` runs, it owns the Nodes: after the same admission
//! check, the change goes through its API instead ([`super::through_controller`]).

use super::through_controller;
use crate::input::{self, Problem};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use tierwall_engine::Engine;
use tierwall_engine::admission::Operation;
use tierwall_lab::persisted;
use tierwall_model::{Kind, Object, ObjectKey};
use tierwall_testbed::Testbed;

/// `clusternetworkpolicy.crd.antrea.io/name`, `pod/name`: kubectl's resource/name.
fn resource_name(key: &ObjectKey) -> String {
    let kind = key.kind.kind_name().to_ascii_lowercase();
    match key.kind.api_version().split_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind,
    }
}

fn load_testbed(prefix: &str) -> anyhow::Result<(Testbed, Engine)> {
    tierwall_testbed::options::validate_prefix(prefix)?;
    let testbed =
        Testbed::attach(prefix).with_context(|| format!("attaching to testbed {prefix}"))?;
    let engine =
        persisted::load(prefix).with_context(|| format!("loading the objects of {prefix}"))?;
    Ok((testbed, engine))
}

/// Makes the testbed follow the new desired state and programs every Node: plans the Pod and
/// Node changes (refused: nothing stored, nothing changed), stores objects.json, builds and
/// removes the Pods and Nodes that come and go, then syncs every Node. Prints one line per
/// testbed change and per Node to `err`.
fn commit(
    prefix: &str,
    testbed: &mut Testbed,
    engine: &Engine,
    services: bool,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let changes = persisted::plan(testbed, engine)?;
    persisted::save(prefix, engine)?;
    for line in persisted::describe_changes(&changes) {
        writeln!(err, "testbed {prefix}: {line}")?;
    }
    persisted::follow(testbed, engine, &changes)
        .with_context(|| format!("changing the Pods and Nodes of testbed {prefix}"))?;
    // A testbed change re-renders the Services itself.
    let services = services && changes.is_empty();
    let reports = persisted::enforce(testbed, engine, services)
        .with_context(|| format!("programming the Nodes of {prefix}"))?;
    for r in reports {
        let Some(sync) = &r.last_realization else {
            writeln!(err, "{}: realized", r.node)?;
            continue;
        };
        writeln!(
            err,
            "{}: {} sync, {} commands{}",
            r.node,
            sync.mode,
            sync.commands,
            sync.recovered_from
                .as_deref()
                .map_or_else(String::new, |e| format!(" (recovered from: {e})"))
        )?;
        for w in &sync.warnings {
            writeln!(err, "warning: {}: {w}", r.node)?;
        }
    }
    Ok(())
}

/// `tierwall apply`.
pub fn apply(
    prefix: &str,
    files: &[PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    if files.is_empty() {
        bail!("nothing to apply: give manifest files or directories (-f PATH)");
    }
    let (mut testbed, mut engine) = load_testbed(prefix)?;
    let loaded = input::load(files)?;
    let total = loaded.total();
    let mut texts: BTreeMap<String, Option<String>> = BTreeMap::new();
    if let Some(t) = &loaded.stdin {
        texts.insert("<stdin>".into(), Some(t.clone()));
    }
    let mut problems: Vec<(usize, Problem)> = loaded.problems;
    let mut objects = loaded.objects;
    objects.sort_by_key(|(index, o)| (o.object.kind().apply_rank(), *index));
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut warnings: Vec<(usize, String)> = Vec::new();
    let mut services = false;
    let mut origins: BTreeMap<ObjectKey, (String, usize)> = BTreeMap::new();
    // In apply order, as given (the controller admits them itself).
    let mut to_send: Vec<(String, Object)> = Vec::new();
    for (index, o) in objects {
        let key = o.object.key();
        to_send.push((
            format!("{}/{}", resource_name(&key), key.name),
            o.object.clone(),
        ));
        origins.insert(key.clone(), (o.source.clone(), o.line));
        let before: Option<Object> = engine.store().get(&key).cloned();
        match engine.apply(o.object.clone()) {
            Ok(applied) => {
                services |= matches!(key.kind, Kind::Service | Kind::Pod);
                let verb = match applied.operation {
                    Operation::Create => "created",
                    _ if before.as_ref() == Some(&applied.object) => "unchanged",
                    _ => "configured",
                };
                lines.push((
                    index,
                    format!("{}/{} {verb}", resource_name(&key), key.name),
                ));
                for w in &applied.warnings {
                    warnings.push((index, format!("warning: {}:{}:1: {w}", o.source, o.line)));
                }
            }
            Err(e) => {
                let text = texts
                    .entry(o.source.clone())
                    .or_insert_with(|| std::fs::read_to_string(&o.source).ok());
                problems.push((index, Problem::from_admission(&o, &e, text.as_deref())));
            }
        }
    }
    warnings.sort_by_key(|(i, _)| *i);
    for (_, w) in &warnings {
        writeln!(err, "{w}")?;
    }
    if !problems.is_empty() {
        problems.sort_by_key(|(i, _)| *i);
        for (_, p) in &problems {
            writeln!(err, "{p}")?;
        }
        bail!(
            "{} of {total} input objects invalid (see above): nothing applied to testbed {prefix}",
            problems.len()
        );
    }
    if total == 0 {
        bail!("no objects found in the inputs");
    }
    let topology = persisted::topology_problems(&testbed, &engine);
    if !topology.is_empty() {
        for t in &topology {
            let origin = t.object.as_ref().and_then(|k| origins.get(k));
            match origin {
                Some((source, line)) => {
                    let text = texts
                        .entry(source.clone())
                        .or_insert_with(|| std::fs::read_to_string(source).ok());
                    let (line, column) = text
                        .as_deref()
                        .zip(t.field.as_deref())
                        .and_then(|(text, field)| input::locate_field(text, *line, field))
                        .unwrap_or((*line, 1));
                    writeln!(err, "{source}:{line}:{column}: {t}")?;
                }
                None => writeln!(err, "{t}")?,
            }
        }
        bail!(
            "testbed {prefix} cannot run these Pods and Nodes (see above): nothing applied to \
             testbed {prefix}"
        );
    }
    if let Some(record) = tierwall_lab::controller_record::running(prefix) {
        through_controller::check_reachable(prefix, &record)?;
        through_controller::announce(prefix, &record, err)?;
        for line in through_controller::apply(prefix, &record, &to_send)? {
            writeln!(out, "{line}")?;
        }
        return Ok(0);
    }
    commit(prefix, &mut testbed, &engine, services, err)?;
    lines.sort_by_key(|(i, _)| *i);
    for (_, l) in lines {
        writeln!(out, "{l}")?;
    }
    Ok(0)
}

/// `tierwall delete`.
pub fn delete(
    prefix: &str,
    keys: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<u8> {
    if keys.is_empty() {
        bail!("nothing to delete: give keys such as acnp/NAME, annp/NAMESPACE/NAME");
    }
    let parsed = keys
        .iter()
        .map(|k| ObjectKey::parse(k).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (mut testbed, mut engine) = load_testbed(prefix)?;
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut services = false;
    for key in &parsed {
        match engine.delete(key) {
            Ok(_) => {
                services |= matches!(key.kind, Kind::Service | Kind::Pod);
                lines.push(format!("{} \"{}\" deleted", resource_name(key), key.name));
            }
            Err(e) => failures.push(format!("{key}: {}", e.message)),
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            writeln!(err, "{f}")?;
        }
        bail!(
            "{} of {} deletions refused (see above): nothing deleted from testbed {prefix}",
            failures.len(),
            parsed.len()
        );
    }
    let topology = persisted::topology_problems(&testbed, &engine);
    if !topology.is_empty() {
        for t in &topology {
            writeln!(err, "{t}")?;
        }
        bail!(
            "the deletions leave Pods the testbed cannot run (see above): nothing deleted from \
             testbed {prefix}"
        );
    }
    if let Some(record) = tierwall_lab::controller_record::running(prefix) {
        through_controller::check_reachable(prefix, &record)?;
        through_controller::announce(prefix, &record, err)?;
        let keys: Vec<(String, ObjectKey)> = parsed
            .iter()
            .map(|k| (resource_name(k), k.clone()))
            .collect();
        for line in through_controller::delete(prefix, &record, &keys)? {
            writeln!(out, "{line}")?;
        }
        return Ok(0);
    }
    commit(prefix, &mut testbed, &engine, services, err)?;
    for l in lines {
        writeln!(out, "{l}")?;
    }
    Ok(0)
}
