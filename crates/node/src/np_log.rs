//! `AuditWriter`: one per Node. A thread reads the Node's NFLOG group, maps each packet's log
//! prefix to its rule (the dataplane agent's `log_rules`), formats an np.log line (de-duplicating
//! Drop/Reject within a second) and appends it to the Node's np.log file.

use crate::audit::{AuditLog, LoggedPacket, LoggedRule, Stage, openflow_priority};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tierwall_dataplane::{LogRef, LogStage, TableWriter};
use tierwall_node_api::{Direction, NodeRuleSet};

/// What the writer needs to know about the cluster: Pod names by IP.
#[derive(Debug, Default)]
struct Context {
    pods: BTreeMap<IpAddr, String>,
}

/// Writes the pending lines of an [`AuditWriter`] out.
#[derive(Clone)]
pub struct NpLogFlusher {
    log: Arc<Mutex<(AuditLog, Option<std::fs::File>)>>,
}

impl NpLogFlusher {
    pub fn flush(&self) {
        if let Ok(mut guard) = self.log.lock() {
            let (audit, file) = &mut *guard;
            let lines = audit.flush(now_micros(), true);
            write_lines(file, &lines);
        }
    }
}

/// Writes one Node's np.log.
pub struct AuditWriter {
    context: Arc<Mutex<Context>>,
    log: Arc<Mutex<(AuditLog, Option<std::fs::File>)>>,
    stop: Arc<AtomicBool>,
    path: PathBuf,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn write_lines(file: &mut Option<std::fs::File>, lines: &[String]) {
    if let Some(f) = file {
        for l in lines {
            let _ = writeln!(f, "{l}");
        }
        let _ = f.flush();
    }
}

fn logged_rule(r: &LogRef) -> LoggedRule {
    let index = r
        .rule_id
        .rsplit('/')
        .next()
        .and_then(|i| i.parse::<usize>().ok())
        .unwrap_or(0);
    LoggedRule {
        policy_ref: r
            .policy
            .as_ref()
            .map_or_else(|| "K8sNetworkPolicy".to_string(), |p| p.to_string()),
        rule_name: r.rule_name.clone(),
        direction: r.direction,
        action: r.action,
        stage: match r.stage {
            LogStage::Antrea => Stage::AntreaPolicy,
            LogStage::K8sAllow => Stage::K8sRule,
            LogStage::K8sIsolation | LogStage::Baseline => Stage::Default,
        },
        // LogRef carries the tier priority; the policy priority is not part of the log mapping,
        // so the OpenFlow-style priority is computed with policy priority 1 (documented).
        priority: r.tier_priority.map(|t| openflow_priority(t, 1.0, index)),
        log_label: (!r.log_label.is_empty()).then(|| r.log_label.clone()),
    }
}

impl AuditWriter {
    /// Starts reading `group` in `netns` (`None`: this process's namespace), writing to `path`.
    pub fn start_in(
        netns: Option<&str>,
        group: u16,
        path: &Path,
        agent: Arc<Mutex<TableWriter>>,
        pods: BTreeMap<IpAddr, String>,
    ) -> Result<AuditWriter, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let rx = crate::nflog::spawn_reader(netns, group).map_err(|e| e.to_string())?;
        let writer = AuditWriter {
            context: Arc::new(Mutex::new(Context::default())),
            log: Arc::new(Mutex::new((AuditLog::default(), Some(file)))),
            stop: Arc::new(AtomicBool::new(false)),
            path: path.to_path_buf(),
        };
        writer.update_pods(pods);
        let (context, log, stop) = (
            writer.context.clone(),
            writer.log.clone(),
            writer.stop.clone(),
        );
        std::thread::Builder::new()
            .name(format!("np-log-{}", netns.unwrap_or("host")))
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let packet = match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(p) => Some(p),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    let Ok(mut guard) = log.lock() else { break };
                    let (audit, file) = &mut *guard;
                    let mut lines = audit.flush(now_micros(), false);
                    if let Some(p) = packet {
                        let rules = agent.lock().map(|a| a.log_rules()).unwrap_or_default();
                        if let Some(r) = rules.get(&p.prefix) {
                            let rule = logged_rule(r);
                            let local = match rule.direction {
                                Direction::Ingress => p.dst_ip,
                                Direction::Egress => p.src_ip,
                            };
                            let applied_to = context
                                .lock()
                                .ok()
                                .and_then(|c| c.pods.get(&local).cloned());
                            let packet = LoggedPacket {
                                applied_to,
                                src_ip: p.src_ip,
                                dst_ip: p.dst_ip,
                                src_port: p.src_port,
                                dst_port: p.dst_port,
                                protocol: p.protocol,
                                length: p.length,
                            };
                            lines.extend(audit.record(&rule, &packet, now_micros()));
                        }
                    }
                    write_lines(file, &lines);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(writer)
    }

    /// Refreshes the Pod names (`namespace/name` by address) used for `appliedToRef`.
    pub fn update_pods(&self, pods: BTreeMap<IpAddr, String>) {
        if let Ok(mut c) = self.context.lock() {
            c.pods = pods;
        }
    }

    /// Refreshes the Pod names from the local Pods of a Node's rule set.
    pub fn update_from_rule_set(&self, rules: &NodeRuleSet) {
        self.update_pods(local_pod_names(rules));
    }

    /// Writes every pending de-duplicated line now.
    pub fn flush(&self) {
        self.flusher().flush();
    }

    /// A handle that writes the pending de-duplicated lines out (for whoever reads np.log
    /// while the agent runs).
    pub fn flusher(&self) -> NpLogFlusher {
        NpLogFlusher {
            log: Arc::clone(&self.log),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        self.flush();
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `namespace/name` of the local Pods of a rule set, by address.
pub fn local_pod_names(rules: &NodeRuleSet) -> BTreeMap<IpAddr, String> {
    rules
        .pods
        .iter()
        .map(|p| (p.ip, format!("{}/{}", p.namespace, p.name)))
        .collect()
}
