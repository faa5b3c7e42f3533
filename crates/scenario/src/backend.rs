//! `Backend`: what a scenario runs against. The engine itself (engine mode: verdicts are the
//! engine's), or a live cluster of network namespaces (dataplane mode: verdicts are real probes,
//! and status, statistics and audit logs can be checked).

use crate::format::Step;
use std::net::IpAddr;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_model::{Object, ObjectKey};

/// One probe of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub source: Source,
    pub target: Target,
    pub transport: ProbeTransport,
}

/// Builds the backend from the engine holding the scenario's cluster and manifests, and the
/// scenario's externals.
pub type MakeBackend = dyn FnMut(Engine, Vec<(String, IpAddr)>) -> Result<Box<dyn Backend>, String>;

/// What a scenario runs against.
pub trait Backend {
    /// The engine holding the desired state (every change goes through `apply`/`delete`).
    fn engine(&self) -> &Engine;
    fn apply(&mut self, object: Object) -> Result<(), String>;
    fn delete(&mut self, key: &ObjectKey) -> Result<(), String>;
    /// The outcome of each probe, in order.
    fn observe(&mut self, probes: &[ProbeRequest]) -> Vec<Result<Outcome, String>>;
    /// Whether outcomes come from real packets.
    fn is_dataplane(&self) -> bool {
        false
    }
    /// Checks `traffic`, `expectStatus`, `expectStats` and `expectLogs` of a step (dataplane mode).
    fn check_dataplane_expectations(
        &mut self,
        _label: &str,
        _step: &Step,
        _failures: &mut Vec<String>,
    ) {
    }
    /// Called once after the last step.
    fn finish(&mut self) {}
}

impl Backend for Engine {
    fn engine(&self) -> &Engine {
        self
    }

    fn apply(&mut self, object: Object) -> Result<(), String> {
        Engine::apply(self, object)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn delete(&mut self, key: &ObjectKey) -> Result<(), String> {
        Engine::delete(self, key)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn observe(&mut self, probes: &[ProbeRequest]) -> Vec<Result<Outcome, String>> {
        probes
            .iter()
            .map(|p| Ok(self.probe(&p.source, &p.target, p.transport).outcome))
            .collect()
    }
}
