//! Live traceflow: one real probe through a testbed built for the cluster, reporting what the
//! dataplane did — the outcome the client saw and the rule counters the packet hit — beside the
//! engine's prediction.

use crate::live::{LiveCluster, LiveOptions};
use std::collections::BTreeMap;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target, Verdict};
use tierwall_testbed::{ProbeHelperCommand, TestbedOptions};

/// What a live trace observed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTrace {
    /// The engine's prediction.
    pub predicted: Verdict,
    /// What the client saw.
    pub observed: Outcome,
    /// Detail from the probe (e.g. `connection refused (TCP RST)`).
    pub detail: String,
    /// Rule counters (`RuleEntry::id`) that counted the probe's first packet, with the increase.
    pub rules_hit: BTreeMap<String, u64>,
}

/// Builds a testbed for `engine`'s cluster, programs every Node, sends one probe, tears down.
pub fn trace(
    engine: Engine,
    source: &Source,
    target: &Target,
    transport: ProbeTransport,
    probe_helper: Option<ProbeHelperCommand>,
) -> Result<LiveTrace, String> {
    let predicted = engine.probe(source, target, transport);
    let options = LiveOptions {
        testbed: TestbedOptions {
            probe_helper,
            ..TestbedOptions::default()
        },
        log_dir: None,
    };
    let live = LiveCluster::up(engine, options).map_err(|e| e.to_string())?;
    let result = (|| -> Result<LiveTrace, String> {
        let probe = live.probe_for(source, target, transport, &[])?;
        let before = live.rule_stats().map_err(|e| e.to_string())?;
        let r = live
            .testbed()
            .probe_many(std::slice::from_ref(&probe))
            .map_err(|e| e.to_string())?;
        let after = live.rule_stats().map_err(|e| e.to_string())?;
        let rules_hit = after
            .iter()
            .filter_map(|(id, s)| {
                let old = before.get(id).map_or(0, |b| b.sessions);
                (s.sessions > old).then(|| (id.clone(), s.sessions - old))
            })
            .collect();
        let r = r.into_iter().next().ok_or("no probe result")?;
        Ok(LiveTrace {
            predicted: predicted.clone(),
            observed: r.outcome,
            detail: r.detail,
            rules_hit,
        })
    })();
    let down = live.down().map_err(|e| e.to_string());
    let trace = result?;
    down?;
    Ok(trace)
}
