//! `ClusterState`: the controller daemon's state, level-triggered. It folds the state source's
//! events into the desired objects, reconciles the engine towards them through admission, pushes
//! the changed rule sets to the agents, and answers what the HTTP API asks (objects, status,
//! inventory, statistics, writes).
//!
//! ```text
//!  desired(key) = source object (file:line)  or else  base object (a testbed's inventory)
//!  in force     = what the engine holds (the last desired version admission accepted)
//!
//!  step(): source.poll ──events──> desired ──reconcile──┐
//!    reconcile: deletes (reverse apply rank), then applies (apply rank: Nodes, Namespaces,
//!      ServiceAccounts, Pods, Services, Tiers, groups, policies); a rejected change is
//!      recorded as the object's failure and the previous version stays in force; failures are
//!      retried in further passes while some change succeeds (a policy whose Tier arrives later)
//!    └──> Dataplane::follow_topology (Pods/Nodes changed) ──> Controller::sync (changed rule
//!         sets to agents) ──> Dataplane::changed
//! ```
//!
//! Every change is logged once (`applied`, `rejected`, `deleted`, `delete refused`, Node sync
//! failures); `take_log` hands the lines to the daemon.

use crate::Controller;
use crate::dataplane::{Change, Dataplane};
use crate::reported_dns::ReportedDns;
use crate::source::{Origin, SourceError, SourceEvent, StateSource};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use tierwall_engine::Engine;
use tierwall_engine::status::{Condition, policy_status};
use tierwall_model::{Kind, LoadError, Object, ObjectKey};

/// Why a desired change is not in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// `true` for a refused deletion.
    pub delete: bool,
    /// Where the desired version is defined.
    pub origin: Option<Origin>,
    /// `Kind ns/name`.
    pub object: String,
    /// Field path, when the problem is about one field.
    pub field: Option<String>,
    pub message: String,
    /// The desired object that was refused (for logging a failure once).
    attempted: Option<Box<Object>>,
}

impl fmt::Display for Failure {
    /// `<file>:<line>: <Kind ns/name>: <field>: <message>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.origin {
            write!(f, "{o}: ")?;
        }
        write!(f, "{}: ", self.object)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What the controller knows about one key.
#[derive(Debug, Clone, Default)]
struct Record {
    /// The desired object in force (as the source gave it, before admission).
    applied: Option<Object>,
    applied_origin: Option<Origin>,
    /// Why the current desired version (or its deletion) is not in force.
    failure: Option<Failure>,
}

/// Realization of a policy (Antrea's `status` fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Realization {
    pub observed_generation: i64,
    pub desired_nodes_realized: usize,
    pub current_nodes_realized: usize,
    pub conditions: Vec<Condition>,
}

/// Status of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// `acnp/name`, `annp/ns/name` (the path under `/objects/`).
    pub key: String,
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// Where the desired version is defined (`file:line`, `testbed:<prefix>`, `system`).
    pub source: String,
    /// `metadata.generation` of the version in force (`None`: nothing in force).
    pub applied_generation: Option<i64>,
    /// `Realized`, `Realizing`, `Pending` (not yet applied, or a policy that cannot be
    /// realized) or `Failed` (rejected by admission, or an agent failed).
    pub phase: String,
    /// The admission error, the refusal, or the agents' failure message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Policies only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub realization: Option<Realization>,
}

/// A load problem of the source, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// The whole problem as one line (`file:line:column: object: field: message`).
    pub text: String,
}

impl From<&LoadError> for Problem {
    fn from(e: &LoadError) -> Self {
        Problem {
            file: e.source_name.clone(),
            line: e.line,
            column: e.column,
            object: e.object.clone(),
            field: e.field.clone().filter(|f| !f.is_empty() && f != "."),
            message: e.message.clone(),
            text: e.to_string(),
        }
    }
}

/// Why a write through the API was not done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Admission (or the dataplane) refuses it; nothing was written.
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}

impl From<SourceError> for WriteError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Conflict(m) => WriteError::Conflict(m),
            SourceError::NotFound(m) => WriteError::NotFound(m),
            SourceError::Unreadable(m) | SourceError::Io(m) => WriteError::Internal(m),
        }
    }
}

/// What an API write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteOutcome {
    /// `created`, `configured`, `unchanged` or `deleted`.
    pub result: String,
    /// The file written or removed.
    pub file: String,
    /// Status after the change (`None` once deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ObjectStatus>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("base object {object} of {label} rejected: {message}")]
    Base {
        label: String,
        object: String,
        message: String,
    },
    #[error("attaching the agents: {0}")]
    Attach(String),
}

/// The daemon's state.
pub struct ClusterState {
    controller: Controller,
    dataplane: Box<dyn Dataplane>,
    source: Box<dyn StateSource>,
    base_label: String,
    base: BTreeMap<ObjectKey, Object>,
    desired: BTreeMap<ObjectKey, (Object, Origin)>,
    records: BTreeMap<ObjectKey, Record>,
    source_error: Option<String>,
    node_failures: BTreeMap<String, String>,
    /// FQDN names learned from the agents' reports (agents in their own processes).
    reported_dns: ReportedDns,
    log: Vec<String>,
}

impl ClusterState {
    /// Applies the dataplane's base objects and the source's initial state, then attaches the
    /// agents (each Node is programmed once, with the whole initial state).
    pub fn start(
        dataplane: Box<dyn Dataplane>,
        source: Box<dyn StateSource>,
    ) -> Result<ClusterState, StartError> {
        let (base_label, base_objects) = dataplane.base_objects();
        let mut engine = Engine::new();
        let mut base = BTreeMap::new();
        let mut records = BTreeMap::new();
        let mut sorted = base_objects;
        sorted.sort_by_key(|o| (o.kind().apply_rank(), o.key()));
        for o in sorted {
            let key = o.key();
            engine.apply(o.clone()).map_err(|e| StartError::Base {
                label: base_label.clone(),
                object: key.describe(),
                message: e.to_string(),
            })?;
            records.insert(
                key.clone(),
                Record {
                    applied: Some(o.clone()),
                    applied_origin: Some(Origin {
                        file: base_label.clone(),
                        line: 0,
                        column: 0,
                    }),
                    failure: None,
                },
            );
            base.insert(key, o);
        }
        let mut state = ClusterState {
            controller: Controller::new(engine),
            dataplane,
            source,
            base_label,
            base,
            desired: BTreeMap::new(),
            records,
            source_error: None,
            node_failures: BTreeMap::new(),
            reported_dns: ReportedDns::default(),
            log: Vec::new(),
        };
        let events = state.source.poll()?;
        state.fold(events);
        state.reconcile();
        state
            .dataplane
            .attach(&mut state.controller)
            .map_err(StartError::Attach)?;
        let all: BTreeSet<Kind> = Kind::ALL.into_iter().collect();
        if let Err(e) = state.dataplane.changed(state.controller.engine(), &all) {
            state.log.push(format!("dataplane: {e}"));
        }
        state.note_node_failures();
        Ok(state)
    }

    pub fn engine(&self) -> &Engine {
        self.controller.engine()
    }

    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    pub fn describe_source(&self) -> String {
        self.source.describe()
    }

    pub fn describe_dataplane(&self) -> String {
        self.dataplane.describe()
    }

    /// The log lines since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    /// Reads the source and reconciles; retries failed Nodes now and then. Returns whether the
    /// source reported changes.
    pub fn step(&mut self) -> bool {
        let events = match self.source.poll() {
            Ok(events) => {
                if self.source_error.take().is_some() {
                    self.log
                        .push(format!("{} is readable again", self.source.describe()));
                }
                events
            }
            Err(e) => {
                let message = e.to_string();
                if self.source_error.as_ref() != Some(&message) {
                    self.log.push(format!(
                        "cannot read {}: {message}; keeping the current state",
                        self.source.describe()
                    ));
                    self.source_error = Some(message);
                }
                Vec::new()
            }
        };
        let changed = self.fold(events);
        self.absorb_reported_dns();
        if changed {
            self.reconcile();
        } else if self.controller.index().is_some() {
            // Agents on the stream report whenever they realize or fail.
            self.note_node_failures();
        }
        changed
    }

    /// Feeds the DNS names the agents reported to the engine and pushes the rule sets whose
    /// FQDN peers changed.
    fn absorb_reported_dns(&mut self) {
        let Some(index) = self.controller.index().cloned() else {
            return;
        };
        let names = self
            .reported_dns
            .absorb(&index, self.controller.engine_mut());
        if names.is_empty() {
            return;
        }
        self.log.push(format!(
            "DNS names reported by the agents changed: {}",
            names.join(", ")
        ));
        let report = self.controller.sync();
        if !report.pushed.is_empty() {
            self.after_sync(&BTreeSet::new());
        }
        self.note_node_failures();
    }

    /// Folds source events into the desired objects; returns whether any object changed.
    fn fold(&mut self, events: Vec<SourceEvent>) -> bool {
        let mut changed = false;
        for event in events {
            match event {
                SourceEvent::Apply { object, origin } => {
                    self.desired.insert(object.key(), (*object, origin));
                    changed = true;
                }
                SourceEvent::Delete { key, .. } => {
                    self.desired.remove(&key);
                    changed = true;
                }
                SourceEvent::Invalid { file, errors } => {
                    for e in errors {
                        self.log.push(format!(
                            "rejected {e} (the objects {file} defined before stay in force)"
                        ));
                    }
                }
            }
        }
        changed
    }

    /// The desired version of `key`: the source's, or else the base's.
    fn target(&self, key: &ObjectKey) -> Option<(&Object, Origin)> {
        if let Some((o, origin)) = self.desired.get(key) {
            return Some((o, origin.clone()));
        }
        self.base.get(key).map(|o| {
            (
                o,
                Origin {
                    file: self.base_label.clone(),
                    line: 0,
                    column: 0,
                },
            )
        })
    }

    /// Brings the engine to the desired objects (see the module doc).
    fn reconcile(&mut self) {
        let keys: BTreeSet<ObjectKey> = self
            .desired
            .keys()
            .chain(self.base.keys())
            .chain(self.records.keys())
            .cloned()
            .collect();
        let mut deletes = Vec::new();
        let mut applies = Vec::new();
        for key in keys {
            // Compared in place: cloning every desired object on every change costs more than
            // the change itself in a cluster of thousands of objects.
            let (wanted, in_force) = {
                let target = self.target(&key);
                let applied = self.records.get(&key).and_then(|r| r.applied.as_ref());
                let in_force = match (&target, applied) {
                    (Some((object, _)), Some(applied)) => *object == applied,
                    _ => false,
                };
                (target.map(|(_, origin)| origin), in_force)
            };
            let record = self.records.entry(key.clone()).or_default();
            match (wanted, &record.applied) {
                (Some(origin), Some(_)) if in_force => {
                    record.applied_origin = Some(origin);
                    record.failure = None;
                }
                (Some(_), _) => applies.push(key),
                (None, Some(_)) => deletes.push(key),
                (None, None) => {
                    self.records.remove(&key);
                }
            }
        }
        deletes.sort_by(|a, b| (b.kind.apply_rank(), b).cmp(&(a.kind.apply_rank(), a)));
        applies.sort_by(|a, b| (a.kind.apply_rank(), a).cmp(&(b.kind.apply_rank(), b)));
        let mut pending: Vec<(bool, ObjectKey)> = deletes
            .into_iter()
            .map(|k| (true, k))
            .chain(applies.into_iter().map(|k| (false, k)))
            .collect();
        let mut kinds = BTreeSet::new();
        let mut failures: Vec<(ObjectKey, Failure)> = Vec::new();
        loop {
            let mut progress = false;
            failures.clear();
            let mut again = Vec::new();
            for (delete, key) in pending {
                let result = if delete {
                    self.try_delete(&key)
                } else {
                    self.try_apply(&key)
                };
                match result {
                    Ok(()) => {
                        progress = true;
                        kinds.insert(key.kind);
                    }
                    Err(f) => {
                        failures.push((key.clone(), *f));
                        again.push((delete, key));
                    }
                }
            }
            if !progress || again.is_empty() {
                break;
            }
            pending = again;
        }
        for (key, failure) in failures {
            let record = self.records.entry(key).or_default();
            if record.failure.as_ref() != Some(&failure) {
                self.log.push(if failure.delete {
                    format!("delete refused: {failure} (it stays in force)")
                } else if record.applied.is_some() {
                    format!("rejected {failure} (the previous version stays in force)")
                } else {
                    format!("rejected {failure}")
                });
            }
            record.failure = Some(failure);
        }
        if !kinds.is_empty() {
            if kinds.contains(&Kind::Pod) || kinds.contains(&Kind::Node) {
                let lines = self.dataplane.follow_topology(&mut self.controller);
                self.log
                    .extend(lines.into_iter().map(|l| format!("dataplane: {l}")));
            }
            self.controller.sync();
            self.after_sync(&kinds);
            self.note_node_failures();
        }
    }

    fn after_sync(&mut self, kinds: &BTreeSet<Kind>) {
        if let Err(e) = self.dataplane.changed(self.controller.engine(), kinds) {
            self.log.push(format!("dataplane: {e}"));
        }
    }

    /// Logs the Nodes whose agent started or stopped failing. A stream agent's failure stays
    /// until it reports the current rule set realized (a newer set still in flight does not
    /// make it programmed).
    fn note_node_failures(&mut self) {
        let mut now = self.controller.node_failures();
        for (node, message) in &now {
            if self.node_failures.get(node) != Some(message) {
                self.log
                    .push(format!("node {node}: programming failed: {message}"));
            }
        }
        let cleared: Vec<String> = self
            .node_failures
            .keys()
            .filter(|n| !now.contains_key(*n))
            .cloned()
            .collect();
        if !cleared.is_empty() {
            let behind: BTreeSet<String> = match self.controller.index() {
                Some(index) => {
                    let realized: BTreeSet<String> = index.realized_nodes().into_iter().collect();
                    index
                        .nodes()
                        .into_iter()
                        .filter(|n| !realized.contains(n))
                        .collect()
                }
                None => BTreeSet::new(),
            };
            for node in cleared {
                if behind.contains(&node) {
                    if let Some(message) = self.node_failures.get(&node) {
                        now.insert(node, message.clone());
                    }
                } else {
                    self.log.push(format!("node {node}: programmed again"));
                }
            }
        }
        self.node_failures = now;
    }

    fn try_apply(&mut self, key: &ObjectKey) -> Result<(), Box<Failure>> {
        let Some((object, origin)) = self.target(key).map(|(o, g)| (o.clone(), g)) else {
            return Ok(());
        };
        let source = &self.source;
        let refuse = |field: Option<String>, message: String| {
            let (line, column) = field
                .as_deref()
                .and_then(|f| source.locate(&origin, f))
                .unwrap_or((origin.line, 1));
            Box::new(Failure {
                delete: false,
                origin: Some(Origin {
                    file: origin.file.clone(),
                    line,
                    column: if line > 0 { column } else { 0 },
                }),
                object: key.describe(),
                field,
                message,
                attempted: Some(Box::new(object.clone())),
            })
        };
        self.dataplane
            .check(self.controller.engine(), Change::Apply(&object))
            .map_err(|m| refuse(None, m))?;
        let existed = self.controller.engine().store().get(key).is_some();
        let applied = match self.controller.engine_apply(object.clone()) {
            Ok(a) => a,
            Err(e) => return Err(refuse((!e.field.is_empty()).then_some(e.field), e.message)),
        };
        let generation = applied.object.metadata().generation.unwrap_or(0);
        self.log.push(format!(
            "applied {} from {origin} ({}, generation {generation})",
            key.describe(),
            if existed { "configured" } else { "created" }
        ));
        for w in &applied.warnings {
            self.log
                .push(format!("warning: {origin}: {}: {w}", key.describe()));
        }
        let record = self.records.entry(key.clone()).or_default();
        record.applied = Some(object);
        record.applied_origin = Some(origin);
        record.failure = None;
        Ok(())
    }

    fn try_delete(&mut self, key: &ObjectKey) -> Result<(), Box<Failure>> {
        let was = self.records.get(key).and_then(|r| r.applied_origin.clone());
        let refuse = |field: Option<String>, message: String| Failure {
            delete: true,
            origin: was.clone(),
            object: key.describe(),
            field,
            message,
            attempted: None,
        };
        self.dataplane
            .check(self.controller.engine(), Change::Delete(key))
            .map_err(|m| refuse(None, m))?;
        if self.controller.engine().store().get(key).is_some() {
            self.controller
                .engine_delete(key)
                .map_err(|e| refuse((!e.field.is_empty()).then_some(e.field), e.message))?;
        }
        self.log.push(match &was {
            Some(o) => format!("deleted {} (was {o})", key.describe()),
            None => format!("deleted {}", key.describe()),
        });
        self.records.remove(key);
        Ok(())
    }

    // === reads ===

    /// Status of every object in force or desired, by key (optionally of one kind).
    pub fn statuses(&self, kind: Option<Kind>) -> Vec<ObjectStatus> {
        let keys: BTreeSet<ObjectKey> = self
            .engine()
            .store()
            .iter()
            .map(Object::key)
            .chain(self.desired.keys().cloned())
            .chain(self.records.keys().cloned())
            .filter(|k| kind.is_none_or(|kind| k.kind == kind))
            .collect();
        keys.iter().filter_map(|k| self.status_of(k)).collect()
    }

    /// Status of one object (`None`: not desired and not in force).
    pub fn status_of(&self, key: &ObjectKey) -> Option<ObjectStatus> {
        let stored = self.engine().store().get(key);
        let target = self.target(key);
        let record = self.records.get(key);
        if stored.is_none() && target.is_none() && record.is_none_or(|r| r.failure.is_none()) {
            return None;
        }
        let source = target
            .as_ref()
            .map(|(_, o)| o.to_string())
            .or_else(|| record.and_then(|r| r.applied_origin.as_ref().map(Origin::to_string)))
            .unwrap_or_else(|| "system".to_string());
        let mut status = ObjectStatus {
            key: key.to_string(),
            api_version: key.kind.api_version().to_string(),
            kind: key.kind.kind_name().to_string(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            source,
            applied_generation: stored.and_then(|o| o.metadata().generation),
            phase: "Realized".to_string(),
            error: None,
            realization: None,
        };
        let in_sync = match (&target, record.and_then(|r| r.applied.as_ref())) {
            (Some((t, _)), Some(a)) => *t == a,
            // Not applied yet, or a deletion not done yet.
            (Some(_), None) | (None, Some(_)) => false,
            // The engine's own objects (the system Tiers).
            (None, None) => true,
        };
        if !in_sync {
            status.phase = "Pending".to_string();
        }
        if let Some(policy) = self.engine().table().policy(key) {
            let ps = if self.dataplane.has_agents() || self.controller.index().is_some() {
                self.controller.policy_status(key)
            } else {
                Some(policy_status(self.engine().cluster(), policy, None))
            };
            if let Some(ps) = ps {
                if in_sync {
                    status.phase = ps.phase.clone();
                }
                status.error = ps
                    .conditions
                    .iter()
                    .find(|c| {
                        (c.type_ == "RealizationFailure" && c.status == "True")
                            || (c.type_ == "Realizable" && c.status == "False")
                    })
                    .and_then(|c| c.message.clone());
                status.realization = Some(Realization {
                    observed_generation: ps.observed_generation,
                    desired_nodes_realized: ps.desired_nodes_realized,
                    current_nodes_realized: ps.current_nodes_realized,
                    conditions: ps.conditions,
                });
            }
        }
        if let Some(f) = record.and_then(|r| r.failure.as_ref()) {
            status.phase = "Failed".to_string();
            status.error = Some(if f.delete {
                format!("delete refused: {f}")
            } else {
                f.to_string()
            });
        }
        Some(status)
    }

    /// Load problems of the source.
    pub fn problems(&self) -> Vec<Problem> {
        self.source.problems().iter().map(Problem::from).collect()
    }

    /// Nodes whose agent failed, with the message.
    pub fn node_failures(&self) -> &BTreeMap<String, String> {
        &self.node_failures
    }

    /// The source's error, when it cannot be read now.
    pub fn source_error(&self) -> Option<&str> {
        self.source_error.as_deref()
    }

    /// Rule statistics per policy and rule.
    pub fn policy_stats(&mut self) -> Result<serde_json::Value, String> {
        self.dataplane.policy_stats(self.controller.engine())
    }

    // === writes ===

    /// Stores `object` as desired through the source (after a dry run of admission, so a
    /// rejected object is not written), then applies it. Returns the outcome with its status.
    pub fn put(&mut self, object: Object) -> Result<WriteOutcome, WriteError> {
        let mut normalized = object.clone();
        normalized.normalize_type_meta();
        let key = normalized.key();
        self.dataplane
            .check(self.engine(), Change::Apply(&normalized))
            .map_err(|m| WriteError::Rejected(format!("{}: {m}", key.describe())))?;
        tierwall_engine::admission::admit_apply(self.engine().store(), normalized.clone())
            .map_err(|e| WriteError::Rejected(e.to_string()))?;
        let before = self.engine().store().get(&key).cloned();
        let written = self.source.put(&normalized)?;
        self.step();
        let after = self.engine().store().get(&key);
        let result = match (&before, after) {
            (None, _) => "created",
            (Some(b), Some(a)) if b == a => "unchanged",
            _ => "configured",
        };
        Ok(WriteOutcome {
            result: result.to_string(),
            file: written.location,
            status: self.status_of(&key),
        })
    }

    /// Removes `key` from the source (after a dry run of the deletion), then applies that.
    pub fn remove(&mut self, key: &ObjectKey) -> Result<WriteOutcome, WriteError> {
        if !self.desired.contains_key(key) {
            return Err(if self.base.contains_key(key) {
                WriteError::Conflict(format!(
                    "{} comes from {}, not from {}",
                    key.describe(),
                    self.base_label,
                    self.source.describe()
                ))
            } else {
                WriteError::NotFound(format!("{} not found", key.describe()))
            });
        }
        if !self.base.contains_key(key) {
            self.dataplane
                .check(self.engine(), Change::Delete(key))
                .map_err(|m| WriteError::Rejected(format!("{}: {m}", key.describe())))?;
            if self.engine().store().get(key).is_some() {
                tierwall_engine::admission::admit_delete(self.engine().store(), key)
                    .map_err(|e| WriteError::Rejected(e.to_string()))?;
            }
        }
        let written = self.source.remove(key)?;
        self.step();
        Ok(WriteOutcome {
            result: "deleted".to_string(),
            file: written.location,
            status: self.status_of(key),
        })
    }
}
