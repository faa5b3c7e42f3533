//! `RuleSetIndex`: every Node's current rule set with its generation, the recent changes (so a
//! reconnecting agent gets only what it missed), and what each agent last reported. The
//! controller publishes into it (synchronously, after each change, only the Nodes whose set
//! changed); the stream server reads from it (asynchronously, one task per connected agent).
//!
//! ```text
//!  Controller::sync ──publish(node, set)──> entry { generation+1, set, history ← delta } ──notify──> streams
//!  stream(node, have) ──> changes_since(have): deltas in history | full set
//!  agent report ──record_report──> entry.report ──> realized / failed Nodes, counters,
//!                                                  DNS names merged over the Nodes
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tierwall_node_api::{Generation, NodeReport, NodeRuleSet, RuleCounter, RuleSetDelta};
use tokio::sync::watch;

/// How many changes per Node are kept for agents that resume.
pub const HISTORY: usize = 16;

/// What an agent that holds some generation must be sent to be current.
#[derive(Debug, Clone)]
pub enum CatchUp {
    /// Nothing: it is current.
    Current,
    /// These changes, in order: `(base, generation, delta)`.
    Deltas(Vec<(Generation, Generation, Arc<RuleSetDelta>)>),
    /// The whole set.
    Full(Generation, Arc<NodeRuleSet>),
}

struct NodeEntry {
    generation: Generation,
    rule_set: Arc<NodeRuleSet>,
    /// `(base, delta from base to base.next())`, oldest first.
    history: VecDeque<(Generation, Arc<RuleSetDelta>)>,
    changed: watch::Sender<Generation>,
    report: Option<NodeReport>,
    /// Streams open for the Node now.
    connected: usize,
}

#[derive(Default)]
struct IndexState {
    nodes: BTreeMap<String, NodeEntry>,
    /// The last counters request sent to the agents.
    counters_request: u64,
    /// Changes whenever a Node reports other DNS names than before, or a Node with names goes.
    dns_version: u64,
}

/// Every Node's rule set, shared by the controller and the stream server.
pub struct RuleSetIndex {
    epoch: u64,
    state: Mutex<IndexState>,
    /// Signalled on every report.
    reported: Condvar,
    counters_requested: watch::Sender<u64>,
}

impl std::fmt::Debug for RuleSetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSetIndex")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl Default for RuleSetIndex {
    fn default() -> Self {
        let mut bytes = [0u8; 8];
        let epoch = match getrandom::fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        };
        RuleSetIndex::with_epoch(epoch)
    }
}

impl RuleSetIndex {
    /// An empty index for a controller run named `epoch`.
    pub fn with_epoch(epoch: u64) -> Self {
        RuleSetIndex {
            epoch,
            state: Mutex::new(IndexState::default()),
            reported: Condvar::new(),
            counters_requested: watch::channel(0).0,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn lock(&self) -> MutexGuard<'_, IndexState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes a Node's rule set; returns whether it changed (a new generation was made).
    pub fn publish(&self, rule_set: NodeRuleSet) -> bool {
        let mut state = self.lock();
        let node = rule_set.node.clone();
        match state.nodes.get_mut(&node) {
            Some(entry) => {
                if *entry.rule_set == rule_set {
                    return false;
                }
                let delta = RuleSetDelta::between(&entry.rule_set, &rule_set);
                entry.history.push_back((entry.generation, Arc::new(delta)));
                if entry.history.len() > HISTORY {
                    entry.history.pop_front();
                }
                entry.generation = entry.generation.next();
                entry.rule_set = Arc::new(rule_set);
                entry.changed.send_replace(entry.generation);
            }
            None => {
                let generation = Generation::new(self.epoch, 1);
                state.nodes.insert(
                    node,
                    NodeEntry {
                        generation,
                        rule_set: Arc::new(rule_set),
                        history: VecDeque::new(),
                        changed: watch::channel(generation).0,
                        report: None,
                        connected: 0,
                    },
                );
            }
        }
        true
    }

    /// Forgets a Node that left the cluster (its open streams end).
    pub fn remove(&self, node: &str) {
        let mut state = self.lock();
        if let Some(gone) = state.nodes.remove(node)
            && gone.report.is_some_and(|r| !r.dns.is_empty())
        {
            state.dns_version += 1;
        }
        drop(state);
        self.reported.notify_all();
    }

    /// A number that changes whenever [`RuleSetIndex::reported_dns`] may have changed.
    pub fn dns_version(&self) -> u64 {
        self.lock().dns_version
    }

    /// The DNS names the agents reported (each Node's last snapshot), merged over the Nodes:
    /// a name maps to every address any Node still holds for it.
    pub fn reported_dns(&self) -> BTreeMap<String, BTreeSet<IpAddr>> {
        let state = self.lock();
        let mut merged: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
        for mapping in state
            .nodes
            .values()
            .filter_map(|e| e.report.as_ref())
            .flat_map(|r| &r.dns)
        {
            merged
                .entry(mapping.name.clone())
                .or_default()
                .extend(mapping.addresses.iter().copied());
        }
        merged
    }

    /// The Nodes the index has.
    pub fn nodes(&self) -> Vec<String> {
        self.lock().nodes.keys().cloned().collect()
    }

    /// A Node's current generation and rule set.
    pub fn current(&self, node: &str) -> Option<(Generation, Arc<NodeRuleSet>)> {
        let state = self.lock();
        let entry = state.nodes.get(node)?;
        Some((entry.generation, Arc::clone(&entry.rule_set)))
    }

    /// What an agent holding `have` must get; `None` when the Node is unknown.
    pub fn catch_up(&self, node: &str, have: Option<Generation>) -> Option<CatchUp> {
        let state = self.lock();
        let entry = state.nodes.get(node)?;
        let Some(have) = have else {
            return Some(CatchUp::Full(entry.generation, Arc::clone(&entry.rule_set)));
        };
        if have == entry.generation {
            return Some(CatchUp::Current);
        }
        let start = entry.history.iter().position(|(base, _)| *base == have);
        Some(match start {
            Some(i) => CatchUp::Deltas(
                entry
                    .history
                    .iter()
                    .skip(i)
                    .map(|(base, delta)| (*base, base.next(), Arc::clone(delta)))
                    .collect(),
            ),
            None => CatchUp::Full(entry.generation, Arc::clone(&entry.rule_set)),
        })
    }

    /// A receiver that wakes on each new generation of `node`, and one that wakes on each
    /// counters request; counts the stream as connected until [`RuleSetIndex::disconnected`].
    pub fn subscribe(
        &self,
        node: &str,
    ) -> Option<(watch::Receiver<Generation>, watch::Receiver<u64>)> {
        let mut state = self.lock();
        let entry = state.nodes.get_mut(node)?;
        entry.connected += 1;
        Some((
            entry.changed.subscribe(),
            self.counters_requested.subscribe(),
        ))
    }

    /// A stream of `node` ended.
    pub fn disconnected(&self, node: &str) {
        if let Some(entry) = self.lock().nodes.get_mut(node) {
            entry.connected = entry.connected.saturating_sub(1);
        }
    }

    /// Records an agent's report; `false` when the Node is unknown. Counters and DNS answers
    /// are kept from the report that carried them.
    pub fn record_report(&self, report: NodeReport) -> bool {
        let mut state = self.lock();
        let Some(entry) = state.nodes.get_mut(&report.node) else {
            return false;
        };
        let mut report = report;
        if let Some(previous) = &entry.report
            && report.counters.is_none()
        {
            report.counters = previous.counters.clone();
            report.counters_for = report.counters_for.or(previous.counters_for);
        }
        let dns_changed = entry.report.as_ref().map_or(&[][..], |r| &r.dns[..]) != &report.dns[..];
        entry.report = Some(report);
        if dns_changed {
            state.dns_version += 1;
        }
        drop(state);
        self.reported.notify_all();
        true
    }

    /// The last report of `node`.
    pub fn report(&self, node: &str) -> Option<NodeReport> {
        self.lock().nodes.get(node)?.report.clone()
    }

    /// Nodes whose agent holds the current generation.
    pub fn realized_nodes(&self) -> Vec<String> {
        let state = self.lock();
        state
            .nodes
            .iter()
            .filter(|(_, e)| e.report.as_ref().and_then(|r| r.realized) == Some(e.generation))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Nodes whose agent could not realize the current generation, with the message.
    pub fn failed_nodes(&self) -> BTreeMap<String, String> {
        let state = self.lock();
        state
            .nodes
            .iter()
            .filter_map(|(n, e)| {
                let failed = e.report.as_ref()?.failed.as_ref()?;
                (failed.generation == e.generation).then(|| (n.clone(), failed.message.clone()))
            })
            .collect()
    }

    /// Nodes with an open stream.
    pub fn connected_nodes(&self) -> Vec<String> {
        let state = self.lock();
        state
            .nodes
            .iter()
            .filter(|(_, e)| e.connected > 0)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Waits until every Node holds its current generation, or `timeout` passes; returns the
    /// Nodes that do not.
    pub fn wait_realized(&self, timeout: Duration) -> Vec<String> {
        self.wait_until(timeout, |e| {
            e.report.as_ref().and_then(|r| r.realized) != Some(e.generation)
        })
    }

    /// Waits until every Node's agent has realized its current generation or reported that it
    /// cannot, or `timeout` passes; returns the Nodes still behind.
    pub fn wait_settled(&self, timeout: Duration) -> Vec<String> {
        self.wait_until(timeout, |e| {
            let report = e.report.as_ref();
            report.and_then(|r| r.realized) != Some(e.generation)
                && report.and_then(|r| r.failed.as_ref().map(|f| f.generation))
                    != Some(e.generation)
        })
    }

    /// Waits (on reports) until no Node is `behind`, or `timeout` passes; the Nodes behind.
    fn wait_until(&self, timeout: Duration, behind: impl Fn(&NodeEntry) -> bool) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let late: Vec<String> = state
                .nodes
                .iter()
                .filter(|(_, e)| behind(e))
                .map(|(n, _)| n.clone())
                .collect();
            let now = Instant::now();
            if late.is_empty() || now >= deadline {
                return late;
            }
            state = self
                .reported
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Asks every connected agent for its counters and waits for the answers (at most
    /// `timeout`); returns the counters per Node (the last known ones of Nodes that did not
    /// answer in time).
    pub fn collect_counters(&self, timeout: Duration) -> BTreeMap<String, Vec<RuleCounter>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        state.counters_request += 1;
        let id = state.counters_request;
        self.counters_requested.send_replace(id);
        loop {
            let waiting = state.nodes.values().any(|e| {
                e.connected > 0 && e.report.as_ref().and_then(|r| r.counters_for) < Some(id)
            });
            let now = Instant::now();
            if !waiting || now >= deadline {
                break;
            }
            state = self
                .reported
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state
            .nodes
            .iter()
            .filter_map(|(n, e)| Some((n.clone(), e.report.as_ref()?.counters.clone()?)))
            .collect()
    }
}
