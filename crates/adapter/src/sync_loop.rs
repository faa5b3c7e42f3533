//! The adapter's loop for one cluster.
//!
//! ```text
//!  long-poll task: GET desired-state?known_digest=D ──(this cluster's state changed)──┐
//!  main loop:  select { desired state │ resync tick (≤ 1 s) │ stats tick │ heartbeat tick │ stop }
//!    pass():  GET /inventory ──> PUT inventory (when changed)
//!             translate (tierwall_nsx) ──> desired objects
//!             GET /objects?labelSelector=managedBy ──> diff ──> PUT / DELETE what differs
//!             (a hand edit or delete is overwritten on the next tick; unmanaged objects are
//!              never listed, so never touched)
//!             rules changed ──> GET /stats ──> baselines (a changed rule starts from zero)
//!             GET /status ──> PUT realization, PUT group-members (when changed)
//!    stats tick (--stats-interval, 60 s by default): GET /stats ──> PUT statistics
//!    heartbeat tick: PUT status (HEALTHY, or DEGRADED while the controller cannot be reached)
//! ```
//!
//! Nothing here stops the loop: a failed call is logged once (until its message changes) and
//! retried on the next tick. A write the controller refuses (admission) is logged with its next
//! attempt and retried with exponential backoff (`refusal_backoff`, doubling up to
//! `refusal_backoff_max`; at once when the desired object changes), its realization staying
//! ERROR with the controller's message meanwhile.

use crate::controller_client::ControllerClient;
use crate::desired::{Intent, parse_desired_state};
use crate::error::AdapterError;
use crate::inventory::cluster_inventory;
use crate::reconcile::{
    Attempt, DEFAULT_REFUSAL_BACKOFF, DesiredObject, PutReason, Refusals, WriteMemory, key_of,
    managed_content, plan,
};
use crate::reports::{group_members_report, object_phases, realization_report};
use crate::statistics::{RuleRealization, StatisticsBook, acnp_rule_counters, rule_realizations};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tierwall_manager_client::{ClusterControlPlaneClient, DesiredStateAnswer, ReportKind};
use tierwall_model::ObjectKey;
use tierwall_nsx::translate::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, translate_for_cluster};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// How the adapter runs.
#[derive(Debug, Clone)]
pub struct AdapterOptions {
    /// How often the cluster's managed objects are re-read and drift is overwritten.
    pub resync_interval: Duration,
    /// How often rule statistics are reported (NSX: 60 s).
    pub stats_interval: Duration,
    /// How often the heartbeat (`PUT status`) is sent; also its `report_interval`.
    pub heartbeat_interval: Duration,
    /// How long one desired-state long poll waits for a change.
    pub long_poll: Duration,
    /// The first wait before a write the controller refused is tried again; it doubles on each
    /// refusal of the same object, up to `refusal_backoff_max`.
    pub refusal_backoff: Duration,
    pub refusal_backoff_max: Duration,
}

impl Default for AdapterOptions {
    fn default() -> Self {
        AdapterOptions {
            resync_interval: Duration::from_secs(1),
            stats_interval: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(30),
            long_poll: Duration::from_secs(30),
            refusal_backoff: DEFAULT_REFUSAL_BACKOFF.0,
            refusal_backoff_max: DEFAULT_REFUSAL_BACKOFF.1,
        }
    }
}

/// Where log lines go (the CLI prints them on stderr).
pub type Logger = Arc<dyn Fn(&str) + Send + Sync>;

/// The adapter of one cluster.
pub struct Adapter {
    manager: ClusterControlPlaneClient,
    controller: ControllerClient,
    options: AdapterOptions,
    log: Logger,
    intent: Option<Intent>,
    memory: WriteMemory,
    /// Writes the controller refused, with its message and their backoff.
    refusals: Refusals,
    statistics: StatisticsBook,
    rules: BTreeMap<String, RuleRealization>,
    stats_due: bool,
    last_sent: BTreeMap<ReportKind, Value>,
    /// The last error of each kind of step, logged once until it changes.
    errors: BTreeMap<&'static str, String>,
    controller_reachable: bool,
}

/// The label selector of the managed objects.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

impl Adapter {
    pub fn new(
        manager: ClusterControlPlaneClient,
        controller: ControllerClient,
        options: AdapterOptions,
        log: Logger,
    ) -> Self {
        let refusals = Refusals::new(options.refusal_backoff, options.refusal_backoff_max);
        Adapter {
            manager,
            controller,
            options,
            log,
            intent: None,
            memory: WriteMemory::default(),
            refusals,
            statistics: StatisticsBook::default(),
            rules: BTreeMap::new(),
            stats_due: true,
            last_sent: BTreeMap::new(),
            errors: BTreeMap::new(),
            controller_reachable: false,
        }
    }

    fn note_error(&mut self, step: &'static str, error: &AdapterError) {
        let text = error.to_string();
        if self.errors.get(step) != Some(&text) {
            (self.log)(&format!("{step}: {text}"));
            self.errors.insert(step, text);
        }
    }

    fn clear_error(&mut self, step: &'static str) {
        if self.errors.remove(step).is_some() {
            (self.log)(&format!("{step}: ok again"));
        }
    }

    /// Runs until `stop` completes.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        let (tx, mut rx) = watch::channel::<Option<Value>>(None);
        let poller = tokio::spawn(poll_desired_state(
            self.manager.clone(),
            tx,
            self.options.long_poll,
            self.log.clone(),
        ));
        let tick = |d: Duration| {
            let mut i = tokio::time::interval(d.max(Duration::from_millis(50)));
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        };
        let mut resync = tick(self.options.resync_interval);
        let mut stats = tick(self.options.stats_interval);
        let mut heartbeat = tick(self.options.heartbeat_interval);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let document = rx.borrow_and_update().clone();
                    if let Some(document) = document
                        && self.take_desired_state(&document)
                    {
                        self.pass().await;
                    }
                }
                _ = resync.tick() => self.pass().await,
                _ = stats.tick() => {
                    self.stats_due = true;
                    if self.intent.is_some() {
                        self.report_statistics().await;
                    }
                }
                _ = heartbeat.tick() => self.heartbeat().await,
            }
        }
        poller.abort();
    }

    /// Takes a desired-state document; true when its content changed.
    fn take_desired_state(&mut self, document: &Value) -> bool {
        match parse_desired_state(self.manager.cluster_id(), document) {
            Ok(intent) => {
                self.clear_error("desired state");
                for (path, message) in &intent.unreadable {
                    (self.log)(&format!("desired state: {path}: {message}"));
                }
                let changed = self
                    .intent
                    .as_ref()
                    .is_none_or(|old| old.content != intent.content);
                if changed {
                    (self.log)(&format!(
                        "desired state at revision {}: {} policies, {} groups",
                        intent.revision,
                        intent.policies.len(),
                        intent.groups.len()
                    ));
                }
                self.intent = Some(intent);
                changed
            }
            Err(e) => {
                self.note_error("desired state", &e);
                false
            }
        }
    }

    async fn send_if_changed(&mut self, kind: ReportKind, body: Value) {
        if self.last_sent.get(&kind) == Some(&body) {
            return;
        }
        let step = kind.segment();
        match self.manager.put_report(kind, &body).await {
            Ok(()) => {
                self.clear_error(step);
                self.last_sent.insert(kind, body);
            }
            Err(e) => self.note_error(step, &AdapterError::Manager(e)),
        }
    }

    /// One reconciliation pass (see the module doc).
    pub async fn pass(&mut self) {
        let inventory = match self.controller.inventory().await {
            Ok(doc) => {
                self.controller_reachable = true;
                self.clear_error("controller");
                cluster_inventory(self.manager.cluster_id(), &doc)
            }
            Err(e) => {
                self.controller_reachable = false;
                self.note_error("controller", &e);
                return;
            }
        };
        let inventory_report = serde_json::to_value(&inventory).unwrap_or(Value::Null);
        self.send_if_changed(ReportKind::Inventory, inventory_report)
            .await;
        let Some(intent) = self.intent.clone() else {
            return;
        };
        let desired = match translate_for_cluster(
            self.manager.cluster_id(),
            &intent.policies,
            &intent.groups,
            &intent.services,
            &inventory,
        ) {
            Ok(d) => {
                self.clear_error("translation");
                d
            }
            Err(e) => {
                self.note_error("translation", &AdapterError::from(e));
                return;
            }
        };
        let objects: Vec<DesiredObject> = desired
            .to_objects()
            .into_iter()
            .map(|o| DesiredObject::new(o.key(), serde_json::to_value(&o).unwrap_or(Value::Null)))
            .collect();
        match self.write_differences(&objects).await {
            Ok(()) => {}
            Err(e) => {
                self.note_error("controller", &e);
                return;
            }
        };
        let rules = rule_realizations(&desired);
        if self.statistics.update(&rules) {
            match self.controller.stats().await {
                Ok(items) => self
                    .statistics
                    .take_baselines(&rules, &acnp_rule_counters(&items)),
                Err(e) => self.note_error("statistics", &e),
            }
        }
        self.rules = rules;
        match self.controller.status().await {
            Ok(status) => {
                let phases = object_phases(&status);
                let failures = self.refusals.put_messages();
                let report = realization_report(&intent, &desired, &failures, &phases);
                self.send_if_changed(ReportKind::Realization, report).await;
            }
            Err(e) => self.note_error("controller", &e),
        }
        let members = group_members_report(&intent, &inventory);
        self.send_if_changed(ReportKind::GroupMembers, members)
            .await;
        if self.stats_due {
            self.report_statistics().await;
        }
    }

    /// Lists the managed objects and writes what differs; a write the controller refused waits
    /// out its backoff (see [`Refusals`]).
    async fn write_differences(&mut self, objects: &[DesiredObject]) -> Result<(), AdapterError> {
        let listed = self.controller.list_objects(&managed_selector()).await?;
        let existing: BTreeMap<ObjectKey, Value> = listed
            .iter()
            .filter_map(|o| Some((key_of(o)?, managed_content(o))))
            .collect();
        let plan = plan(objects, &existing, &self.memory);
        let by_key: BTreeMap<&ObjectKey, &DesiredObject> =
            objects.iter().map(|o| (&o.key, o)).collect();
        self.refusals
            .retain(|k| by_key.contains_key(k), |k| plan.deletes.contains(k));
        let now = Instant::now();
        for (key, reason) in &plan.puts {
            let Some(object) = by_key.get(key) else {
                continue;
            };
            let attempt = Attempt::Put(object.content.clone());
            if self.refusals.holds_back(key, &attempt, now) {
                continue;
            }
            match self.controller.put_object(key, &object.body).await {
                Ok(_) => {
                    let in_force = self
                        .controller
                        .get_object(key)
                        .await?
                        .map(|v| managed_content(&v));
                    self.memory.record(key, &object.content, in_force);
                    let what = match reason {
                        PutReason::Missing => "created",
                        PutReason::Differs => "updated",
                    };
                    if self.refusals.accepted(key) {
                        (self.log)(&format!("{key}: accepted now"));
                    }
                    (self.log)(&format!("{what} {key}"));
                }
                Err(e) if matches!(e.status(), Some(400 | 409 | 422)) => {
                    let message = e.server_message();
                    let delay = self.refusals.refused(key, attempt, message.clone(), now);
                    (self.log)(&format!(
                        "{key}: refused by the controller: {message} (next attempt in {})",
                        seconds(delay)
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        for key in &plan.deletes {
            if self.refusals.holds_back(key, &Attempt::Delete, now) {
                continue;
            }
            match self.controller.delete_object(key).await {
                Ok(()) => {
                    self.memory.forget(key);
                    self.refusals.accepted(key);
                    (self.log)(&format!("deleted {key}"));
                }
                Err(e) if matches!(e.status(), Some(400 | 409 | 422)) => {
                    let message = e.server_message();
                    let delay = self
                        .refusals
                        .refused(key, Attempt::Delete, message.clone(), now);
                    (self.log)(&format!(
                        "{key}: delete refused by the controller: {message} (next attempt in {})",
                        seconds(delay)
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Samples the counters and PUTs the statistics report.
    pub async fn report_statistics(&mut self) {
        match self.controller.stats().await {
            Ok(items) => {
                let report = self
                    .statistics
                    .report(&self.rules, &acnp_rule_counters(&items));
                match self
                    .manager
                    .put_report(ReportKind::Statistics, &report)
                    .await
                {
                    Ok(()) => {
                        self.clear_error("statistics");
                        self.stats_due = false;
                    }
                    Err(e) => self.note_error("statistics", &AdapterError::Manager(e)),
                }
            }
            Err(e) => self.note_error("statistics", &e),
        }
    }

    /// PUTs the heartbeat.
    pub async fn heartbeat(&mut self) {
        let (status, controller) = if self.controller_reachable {
            ("HEALTHY", "UP")
        } else {
            ("DEGRADED", "DOWN")
        };
        let body = json!({
            "status": status,
            "report_interval": self.options.heartbeat_interval.as_secs().max(1),
            "controller_status": {"status": controller},
            "ccp_adapter_status": {"status": "UP"},
            "mp_adapter_status": {"status": "UP"},
        });
        match self.manager.put_report(ReportKind::Status, &body).await {
            Ok(()) => self.clear_error("heartbeat"),
            Err(e) => self.note_error("heartbeat", &AdapterError::Manager(e)),
        }
    }
}

/// `1s`, `0.5s`, `60s`.
fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Keeps the latest desired-state document in `tx`: a long poll naming the digest of the state
/// last received (the manager answers when this cluster's state differs from it, or "unchanged"
/// at the timeout); on an error, a retry after a second.
async fn poll_desired_state(
    manager: ClusterControlPlaneClient,
    tx: watch::Sender<Option<Value>>,
    wait: Duration,
    log: Logger,
) {
    let mut known: Option<String> = None;
    let mut last_error: Option<String> = None;
    loop {
        match manager.desired_state(known.as_deref(), wait).await {
            Ok(answer) => {
                if last_error.take().is_some() {
                    log("desired state: manager reachable again");
                }
                let DesiredStateAnswer::State { digest, document } = answer else {
                    continue;
                };
                known = digest;
                if tx.send(Some(document)).is_err() {
                    return;
                }
                if known.is_none() {
                    // A manager that names no digest cannot be long-polled: poll every second.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Err(e) => {
                let text = AdapterError::Manager(e).to_string();
                if last_error.as_ref() != Some(&text) {
                    log(&format!("desired state: {text}"));
                    last_error = Some(text);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
