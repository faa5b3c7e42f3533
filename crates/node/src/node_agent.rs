//! `tierwall agent`: the daemon of one Node. It reads its Node's rule set from the controller's
//! stream, programs the Node's nftables table, writes np.log, snoops DNS answers for FQDN rules
//! ([`crate::dns_report`]), and reports back.
//!
//! ```text
//!  connect GET rule-set?generation=held ──(refused, unknown Node, cut)──> log, back off, retry
//!    full{g, set}           ──> desired = (g, set)
//!    delta{base, g, delta}  ──> base = desired.g ? desired = (g, apply) : reconnect for a full set
//!    countersRequest{id}    ──> report counters
//!  desired ──dataplane::TableWriter::sync (one atomic transaction)──> ok: realized = g │ err: failed{g, msg}
//!  failed ──retry after 0.5 s, doubling up to max_backoff (while no newer set arrives)──> sync
//!  DNS answers to the Node's Pods ──snooped every 100 ms──> changed? ──> report (dns snapshot)
//!  report ──POST──> controller (after each realization, each counters request, each connect,
//!                               each change of the Node's DNS names)
//! ```
//!
//! Fail-safe: the table is never flushed. When the controller goes away the table keeps the last
//! rule set; the agent reconnects and resumes from the generation it holds. A restarted agent's
//! first sync adopts the table it finds (the dataplane's full transaction keeps named counters)
//! instead of deleting it. A message counts only when its line is complete.

use crate::dns_report::NodeDnsSnooping;
use crate::dns_snoop::DnsSnooper;
use crate::fqdn_cache::FqdnCacheOptions;
use crate::np_log::{AuditWriter, NpLogFlusher};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tierwall_dataplane::{NetnsTarget, TableWriter};
use tierwall_node_api::stream::{ErrorBody, STREAM_CONTENT_TYPE, report_path, rule_set_path};
use tierwall_node_api::{
    Generation, NodeReport, NodeRuleSet, RealizationFailure, RealizationSummary, RuleCounter,
    StreamMessage,
};
use tokio::sync::{Notify, watch};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub node: String,
    /// The controller's stream address (`https://HOST:PORT`).
    pub controller: String,
    /// `tls.crt`, `tls.key` and `ca.crt` of this Node.
    pub identity_dir: PathBuf,
    /// The Node's network namespace (testbed); `None`: the agent's own (a real Node).
    pub netns: Option<String>,
    /// Where np.log goes (`None`: no np.log).
    pub np_log: Option<PathBuf>,
    /// First wait before reconnecting; doubles up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// The agent's FQDN cache (Antrea's `fqdnCacheMinTTL` and a size bound).
    pub fqdn_cache: FqdnCacheOptions,
    /// No progress lines (connected, realized) on stderr; problems are still printed.
    pub quiet: bool,
}

/// Handles into a running agent, for a process that hosts agents in-process (the lab): flush
/// np.log before reading it, wait for a DNS answer to be snooped, ask for a report now.
#[derive(Clone)]
pub struct AgentHandles {
    pub np_log: Option<NpLogFlusher>,
    pub dns: DnsSnooper,
    pub dns_refresh: Arc<Notify>,
}

/// How often the agent looks for new DNS answers and expired names.
const DNS_TICK: Duration = Duration::from_millis(100);

/// First wait before a rule set the kernel refused is tried again (then doubling up to
/// `AgentOptions::max_backoff`).
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// What the agent holds.
struct Held {
    /// The last rule set received, and its generation.
    desired: Option<(Generation, NodeRuleSet)>,
    /// The generation the table enforces.
    realized: Option<Generation>,
    failed: Option<RealizationFailure>,
    /// How the realization of `realized` went.
    last: Option<RealizationSummary>,
    /// Whether the current stream got as far as connecting (the reconnect wait then restarts
    /// from `AgentOptions::backoff`).
    connected: bool,
    /// The Node's DNS snooping and its names.
    dns: NodeDnsSnooping,
}

/// Why a stream ended.
enum Ended {
    /// Reconnect and resume.
    Resume(String),
    /// Reconnect for a full set.
    Resync(String),
    Stopped,
}

/// A line printed by the agent (stderr), in one write: agents of several Nodes often share one
/// stderr (the controller's), and `eprintln!` writes a line in pieces that interleave.
fn say(node: &str, text: &str) {
    use std::io::Write as _;
    let line = format!("agent {node}: {text}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A progress line: [`say`] unless the agent is quiet.
fn progress(options: &AgentOptions, text: &str) {
    if !options.quiet {
        say(&options.node, text);
    }
}

/// Runs until `stop` turns true. Never removes the table.
pub async fn run(options: AgentOptions, stop: watch::Receiver<bool>) -> Result<(), String> {
    run_observed(options, stop, |_| {}).await
}

/// [`run`], handing `observe` the agent's handles once its parts are up.
pub async fn run_observed(
    options: AgentOptions,
    mut stop: watch::Receiver<bool>,
    observe: impl FnOnce(AgentHandles),
) -> Result<(), String> {
    let client = crate::client_tls::node_client(&options.identity_dir)?;
    let netns = match &options.netns {
        Some(n) => NetnsTarget::Named(n.clone()),
        None => NetnsTarget::Current,
    };
    let dataplane = Arc::new(Mutex::new(TableWriter::new(
        options.node.clone(),
        netns.clone(),
        BTreeMap::new(),
    )));
    let np_log = match &options.np_log {
        Some(path) => Some(AuditWriter::start_in(
            options.netns.as_deref(),
            tierwall_dataplane::DEFAULT_LOG_GROUP,
            path,
            Arc::clone(&dataplane),
            BTreeMap::new(),
        )?),
        None => None,
    };
    let (dns, dns_error) = NodeDnsSnooping::start(options.netns.as_deref(), options.fqdn_cache);
    if let Some(e) = dns_error {
        say(
            &options.node,
            &format!("DNS snooping off ({e}): FQDN rules learn no names from this Node"),
        );
    }
    observe(AgentHandles {
        np_log: np_log.as_ref().map(AuditWriter::flusher),
        dns: dns.snooper().clone(),
        dns_refresh: dns.refresh_requested(),
    });
    let mut held = Held {
        desired: None,
        realized: None,
        failed: None,
        last: None,
        connected: false,
        dns,
    };
    let mut backoff = options.backoff;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let ended = stream_once(
            &options,
            &client,
            &dataplane,
            &netns,
            np_log.as_ref(),
            &mut held,
            &mut stop,
        )
        .await;
        // A stream that was up starts the waits over: the controller came back once.
        if std::mem::take(&mut held.connected) {
            backoff = options.backoff;
        }
        let why = match ended {
            Ended::Stopped => return Ok(()),
            Ended::Resync(why) => {
                held.desired = None;
                why
            }
            Ended::Resume(why) => why,
        };
        say(
            &options.node,
            &format!("{why}; retrying in {} ms", backoff.as_millis()),
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return Ok(()),
        }
        backoff = (backoff * 2).min(options.max_backoff);
    }
}

async fn stream_once(
    options: &AgentOptions,
    client: &reqwest::Client,
    dataplane: &Arc<Mutex<TableWriter>>,
    netns: &NetnsTarget,
    np_log: Option<&AuditWriter>,
    held: &mut Held,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let node = &options.node;
    let mut url = format!(
        "{}{}",
        options.controller.trim_end_matches('/'),
        rule_set_path(node)
    );
    if let Some((g, _)) = &held.desired {
        url.push_str(&format!("?generation={}", g.to_query()));
    }
    let response = tokio::select! {
        r = client.get(&url).header("accept", STREAM_CONTENT_TYPE).send() => r,
        _ = stop.changed() => return Ended::Stopped,
    };
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            return Ended::Resume(format!(
                "controller {}: {}",
                options.controller,
                error_chain(&e)
            ));
        }
    };
    if !response.status().is_success() {
        let status = response.status();
        let message = match response.json::<ErrorBody>().await {
            Ok(body) => body.message,
            Err(_) => String::new(),
        };
        return Ended::Resume(format!(
            "controller refused the stream ({status}): {message}"
        ));
    }
    progress(options, "connected to the controller");
    held.connected = true;
    held.dns.refresh();
    send_report(options, client, held, None, dataplane).await;
    let mut pending: Vec<u8> = Vec::new();
    let dns_refresh = held.dns.refresh_requested();
    let mut dns_tick = tokio::time::interval(DNS_TICK);
    dns_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry_wait = FIRST_RETRY;
    // A deadline, not a sleep made anew each turn: the DNS tick turns the loop every 100 ms.
    let mut retry_at = tokio::time::Instant::now() + retry_wait;
    loop {
        // `chunk` only takes a frame when it is complete, so a tick in between loses nothing.
        let chunk = tokio::select! {
            c = response.chunk() => c,
            _ = dns_tick.tick(), if held.dns.is_watching() => {
                if held.dns.refresh() {
                    send_report(options, client, held, None, dataplane).await;
                }
                continue;
            }
            _ = dns_refresh.notified() => {
                if held.dns.refresh() {
                    send_report(options, client, held, None, dataplane).await;
                }
                continue;
            }
            // A set the kernel refused is tried again (the cause may go: a table another
            // program held, memory) until it is realized or a newer one arrives.
            _ = tokio::time::sleep_until(retry_at), if held.failed.is_some() => {
                realize(options, dataplane, netns, np_log, held).await;
                send_report(options, client, held, None, dataplane).await;
                retry_wait = (retry_wait * 2).min(options.max_backoff.max(FIRST_RETRY));
                retry_at = tokio::time::Instant::now() + retry_wait;
                continue;
            }
            _ = stop.changed() => return Ended::Stopped,
        };
        let chunk = match chunk {
            Ok(Some(c)) => c,
            Ok(None) => return Ended::Resume("the controller ended the stream".into()),
            Err(e) => return Ended::Resume(format!("stream cut: {}", error_chain(&e))),
        };
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let message = match StreamMessage::from_line(&line) {
                Ok(m) => m,
                Err(e) => return Ended::Resync(format!("unreadable message: {e}")),
            };
            match message {
                StreamMessage::Full {
                    generation,
                    rule_set,
                } => {
                    held.desired = Some((generation, rule_set));
                }
                StreamMessage::Delta {
                    base,
                    generation,
                    delta,
                } => {
                    let Some((have, set)) = &held.desired else {
                        return Ended::Resync("a change before any rule set".into());
                    };
                    if *have != base {
                        return Ended::Resync(format!("a change from {base}, but {have} is held"));
                    }
                    match delta.apply(set) {
                        Ok(next) => held.desired = Some((generation, next)),
                        Err(e) => return Ended::Resync(e.to_string()),
                    }
                }
                StreamMessage::CountersRequest { id } => {
                    send_report(options, client, held, Some(id), dataplane).await;
                    continue;
                }
            }
            // Realize only the newest set of what arrived together.
            if pending.contains(&b'\n') {
                continue;
            }
            retry_wait = FIRST_RETRY;
            realize(options, dataplane, netns, np_log, held).await;
            retry_at = tokio::time::Instant::now() + retry_wait;
            send_report(options, client, held, None, dataplane).await;
        }
    }
}

/// Programs the desired rule set; the table keeps the previous one when the kernel refuses.
async fn realize(
    options: &AgentOptions,
    dataplane: &Arc<Mutex<TableWriter>>,
    netns: &NetnsTarget,
    np_log: Option<&AuditWriter>,
    held: &mut Held,
) {
    let Some((generation, rules)) = held.desired.clone() else {
        return;
    };
    if held.realized == Some(generation) {
        return;
    }
    let (dataplane, netns) = (Arc::clone(dataplane), netns.clone());
    let rules_for_log = rules.clone();
    let result = tokio::task::spawn_blocking(move || {
        let ifaces = crate::interfaces::pod_interfaces(&netns)?;
        let mut agent = dataplane
            .lock()
            .map_err(|_| "agent lock poisoned".to_string())?;
        agent.set_interfaces(ifaces);
        agent.sync(&rules).map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(format!("sync task: {e}")));
    match result {
        Ok(report) => {
            held.realized = Some(generation);
            held.failed = None;
            held.last = Some(RealizationSummary {
                mode: format!("{:?}", report.mode),
                commands: report.commands,
                elapsed_ms: u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                warnings: report.warnings.clone(),
                recovered_from: report.recovered_from.clone(),
            });
            if let Some(log) = np_log {
                log.update_from_rule_set(&rules_for_log);
            }
            progress(
                options,
                &format!(
                    "realized {generation} ({:?}, {} commands, {} ms)",
                    report.mode,
                    report.commands,
                    report.elapsed.as_millis()
                ),
            );
        }
        Err(message) => {
            say(
                &options.node,
                &format!(
                    "could not realize {generation}: {message}; the table keeps the previous rule set"
                ),
            );
            held.failed = Some(RealizationFailure {
                generation,
                message,
            });
        }
    }
}

fn counters(dataplane: &Arc<Mutex<TableWriter>>) -> Vec<RuleCounter> {
    let Ok(agent) = dataplane.lock() else {
        return Vec::new();
    };
    let Some(applied) = agent.applied() else {
        return Vec::new();
    };
    let what: BTreeMap<&str, _> = applied
        .counters
        .values()
        .map(|c| (c.rule_id.as_str(), (c.direction, c.action)))
        .collect();
    let Ok(by_rule) = agent.counters() else {
        return Vec::new();
    };
    what.into_iter()
        .map(|(rule_id, (direction, action))| {
            let c = by_rule.get(rule_id).copied().unwrap_or_default();
            RuleCounter {
                rule_id: rule_id.to_string(),
                direction,
                action,
                packets: c.packets,
                bytes: c.bytes,
            }
        })
        .collect()
}

async fn send_report(
    options: &AgentOptions,
    client: &reqwest::Client,
    held: &Held,
    counters_for: Option<u64>,
    dataplane: &Arc<Mutex<TableWriter>>,
) {
    let counters = match counters_for {
        Some(_) => {
            let dataplane = Arc::clone(dataplane);
            tokio::task::spawn_blocking(move || counters(&dataplane))
                .await
                .ok()
        }
        None => None,
    };
    let report = NodeReport {
        node: options.node.clone(),
        realized: held.realized,
        failed: held.failed.clone(),
        counters,
        counters_for,
        dns: held.dns.mappings().to_vec(),
        last_realization: held.last.clone(),
    };
    let url = format!(
        "{}{}",
        options.controller.trim_end_matches('/'),
        report_path(&options.node)
    );
    match client.post(&url).json(&report).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => say(&options.node, &format!("report refused: {}", r.status())),
        Err(e) => say(&options.node, &format!("report: {}", error_chain(&e))),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
