//! A simulated Node agent: the real agent's stream client without nftables. It uses the agent's
//! own HTTPS client (`tierwall_node::client_tls::node_client`: HTTP/2, its Node's certificate
//! from the controller's CA, one TLS connection), reads its Node's stream, applies each delta to
//! the rule set it holds (`RuleSetDelta::apply`), counts the set as realized, and posts a
//! `NodeReport` with that generation, as `tierwall agent` does after each sync.
//!
//! ```text
//!  GET /v1/nodes/N/rule-set ──lines──> full | delta (base must be held) | countersRequest
//!    after the last complete line of a chunk: realized = generation (time noted) ──POST report──> (ack time noted)
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tierwall_node_api::stream::{STREAM_CONTENT_TYPE, report_path, rule_set_path};
use tierwall_node_api::{Generation, NodeReport, NodeRuleSet, StreamMessage};
use tokio::sync::{Semaphore, watch};

/// What one agent saw, read by the harness.
#[derive(Debug, Default)]
pub struct Seen {
    /// Rule-set messages received (full and delta).
    pub messages: u64,
    /// `(generation number, when realized)`.
    pub realized: Vec<(u64, Instant)>,
    /// `(generation number, when the controller acknowledged the report)`.
    pub acked: Vec<(u64, Instant)>,
    /// Streams opened.
    pub connects: u64,
    pub last_error: Option<String>,
}

impl Seen {
    pub fn realized_number(&self) -> Option<u64> {
        self.realized.last().map(|(n, _)| *n)
    }

    pub fn acked_number(&self) -> Option<u64> {
        self.acked.last().map(|(n, _)| *n)
    }
}

/// One simulated agent.
pub struct SimAgent {
    pub node: String,
    pub seen: Mutex<Seen>,
}

impl SimAgent {
    pub fn new(node: String) -> Self {
        SimAgent {
            node,
            seen: Mutex::new(Seen::default()),
        }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs the agent until `stop`; `connecting` bounds how many agents open their stream at once
/// (a permit is held until the first rule set is realized and reported).
pub async fn run(
    agent: Arc<SimAgent>,
    client: reqwest::Client,
    controller: String,
    connecting: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let mut held: Option<(Generation, NodeRuleSet)> = None;
    loop {
        let Ok(permit) = connecting.acquire().await else {
            return;
        };
        let mut permit = Some(permit);
        let result = tokio::select! {
            r = stream_once(&agent, &client, &controller, &mut held, &mut permit) => r,
            _ = stop.changed() => return,
        };
        drop(permit);
        if let Err(e) = result {
            agent.seen().last_error = Some(e);
            held = None;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

async fn stream_once(
    agent: &SimAgent,
    client: &reqwest::Client,
    controller: &str,
    held: &mut Option<(Generation, NodeRuleSet)>,
    permit: &mut Option<tokio::sync::SemaphorePermit<'_>>,
) -> Result<(), String> {
    let mut url = format!("{controller}{}", rule_set_path(&agent.node));
    if let Some((g, _)) = held {
        url.push_str(&format!("?generation={}", g.to_query()));
    }
    let mut response = client
        .get(&url)
        .header("accept", STREAM_CONTENT_TYPE)
        .send()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    if !response.status().is_success() {
        return Err(format!("stream refused: {}", response.status()));
    }
    agent.seen().connects += 1;
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| format!("stream cut: {e:?}"))?
            .ok_or("the controller ended the stream")?;
        pending.extend_from_slice(&chunk);
        let mut changed = false;
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let message = StreamMessage::from_line(&line).map_err(|e| e.to_string())?;
            match message {
                StreamMessage::Full {
                    generation,
                    rule_set,
                } => {
                    *held = Some((generation, rule_set));
                    changed = true;
                    agent.seen().messages += 1;
                }
                StreamMessage::Delta {
                    base,
                    generation,
                    delta,
                } => {
                    let Some((have, set)) = held.as_ref() else {
                        return Err("a change before any rule set".into());
                    };
                    if *have != base {
                        return Err(format!("a change from {base}, but {have} is held"));
                    }
                    let next = delta.apply(set).map_err(|e| e.to_string())?;
                    *held = Some((generation, next));
                    changed = true;
                    agent.seen().messages += 1;
                }
                StreamMessage::CountersRequest { id } => {
                    report(agent, client, controller, held, Some(id)).await?;
                }
            }
        }
        if changed && let Some((generation, _)) = held {
            agent
                .seen()
                .realized
                .push((generation.number, Instant::now()));
            report(agent, client, controller, held, None).await?;
            permit.take();
        }
    }
}

async fn report(
    agent: &SimAgent,
    client: &reqwest::Client,
    controller: &str,
    held: &Option<(Generation, NodeRuleSet)>,
    counters_for: Option<u64>,
) -> Result<(), String> {
    let realized = held.as_ref().map(|(g, _)| *g);
    let report = NodeReport {
        node: agent.node.clone(),
        realized,
        counters: counters_for.map(|_| Vec::new()),
        counters_for,
        ..Default::default()
    };
    let response = client
        .post(format!("{controller}{}", report_path(&agent.node)))
        .json(&report)
        .send()
        .await
        .map_err(|e| format!("report: {e:?}"))?;
    if !response.status().is_success() {
        return Err(format!("report refused: {}", response.status()));
    }
    if let Some(g) = realized {
        agent.seen().acked.push((g.number, Instant::now()));
    }
    Ok(())
}
