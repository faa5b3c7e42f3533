//! Dissemination harness (issue 8, item 6): one `tierwall controller` process over a manifests
//! directory of N Nodes (default 5,000) serving the Node stream, and N simulated agents in this
//! process, each a real stream client with its own TLS connection and its own Node identity from
//! the controller's CA, without nftables (`sim_agent`).
//!
//! ```text
//!  workload ──write──> DIR ──tierwall controller --manifests DIR --pki PKI --node-stream──┐
//!  N × SimAgent (HTTP/2 + mTLS, identity PKI/nodes/<node>) <══full, deltas══ report ══>   │
//!  (a) PUT an ACNP applied to every Pod ──> time to each agent's realization (and report ack)
//!  (b) PUT one Pod with a changed label ──> which agents got a message; vs the engine's own diff
//!  (c) controller VmRSS / VmHWM (/proc/PID/status) with every agent connected
//! ```
//!
//! Run: `cargo bench -p tierwall-cli --bench dissemination` (`TIERWALL_BENCH_NODES`,
//! `TIERWALL_BENCH_ROUNDS` change the size and the number of (a) changes;
//! `TIERWALL_BENCH_WRITE_TO=DIR` only writes the manifests). It raises its own
//! and the controller's open-file limit to the hard limit (one socket per agent on each side).

mod sim_agent;
mod workload;

use anyhow::{Context, bail};
use sim_agent::SimAgent;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::{Workload, node_name};

/// The controller process, stopped (SIGTERM, then SIGKILL) when dropped.
struct ControllerProcess {
    child: Child,
    api: String,
    stream: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ControllerProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .rev()
            .take(20)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_controller(
    manifests: &std::path::Path,
    pki: &std::path::Path,
) -> anyhow::Result<ControllerProcess> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .arg("controller")
        .arg("--manifests")
        .arg(manifests)
        .arg("--pki")
        .arg(pki)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--node-stream",
            "127.0.0.1:0",
            "--poll-ms",
            "50",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tierwall controller")?;
    let stderr = child.stderr.take().context("controller stderr")?;
    let stdout = child.stdout.take().context("controller stdout")?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Node stream on ").nth(1) {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(url);
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() > 2000 {
                    log.drain(..1000);
                }
                log.push(line);
            }
        });
    }
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first)?;
    let mut process = ControllerProcess {
        child,
        api: first.trim().to_string(),
        stream: String::new(),
        log,
    };
    if process.api.is_empty() {
        bail!("the controller printed no API address:\n{}", process.tail());
    }
    process.stream = rx
        .recv_timeout(Duration::from_secs(5))
        .context("the controller printed no Node stream address")?;
    Ok(process)
}

/// Raises the soft open-file limit to the hard one; fails when the hard one is below `need`.
fn raise_nofile(need: u64) -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    if hard < need {
        bail!("the hard open-file limit is {hard}, {need} are needed: raise it (prlimit --nofile)");
    }
    Ok(hard)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn summary(label: &str, samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "{label}: n={} p50 {} p99 {} max {}",
        samples.len(),
        ms(percentile(samples, 0.50)),
        ms(percentile(samples, 0.99)),
        ms(samples.last().copied().unwrap_or_default())
    )
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Waits until `done` holds for every agent (or `timeout`); returns how many do not.
fn wait_all(
    agents: &[Arc<SimAgent>],
    timeout: Duration,
    done: impl Fn(&sim_agent::Seen) -> bool,
) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let behind = agents.iter().filter(|a| !done(&a.seen())).count();
        if behind == 0 || Instant::now() >= deadline {
            return behind;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let workload = Workload {
        nodes: env("TIERWALL_BENCH_NODES", 5000),
    };
    let rounds = env("TIERWALL_BENCH_ROUNDS", 5);
    if let Ok(dir) = std::env::var("TIERWALL_BENCH_WRITE_TO") {
        workload.write(std::path::Path::new(&dir))?;
        println!("manifests of {} Nodes written to {dir}", workload.nodes);
        return Ok(());
    }
    let limit = raise_nofile(workload.nodes as u64 + 512)?;
    println!(
        "dissemination: {} Nodes, {} Pods; open-file limit {limit}; load {}",
        workload.nodes,
        workload.pods(),
        uptime()
    );

    let dir = tempfile::tempdir()?;
    let (manifests, pki) = (dir.path().join("manifests"), dir.path().join("pki"));
    workload.write(&manifests)?;

    let started = Instant::now();
    let controller = start_controller(&manifests, &pki)?;
    let startup = started.elapsed();
    let (rss, hwm) = controller.memory();
    println!(
        "controller pid {} up in {} (load, rule sets of every Node, identities); VmRSS {} MB, VmHWM {} MB; stream {}",
        controller.pid(),
        ms(startup),
        rss / 1024,
        hwm / 1024,
        controller.stream
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let connecting = Arc::new(tokio::sync::Semaphore::new(200));
    let t_clients = Instant::now();
    let mut agents = Vec::new();
    for i in 0..workload.nodes {
        let node = node_name(i);
        let client = tierwall_node::client_tls::node_client(&pki.join("nodes").join(&node))
            .map_err(anyhow::Error::msg)?;
        let agent = Arc::new(SimAgent::new(node));
        runtime.spawn(sim_agent::run(
            Arc::clone(&agent),
            client,
            controller.stream.clone(),
            Arc::clone(&connecting),
            stop_rx.clone(),
        ));
        agents.push(agent);
    }
    let behind = wait_all(&agents, Duration::from_secs(600), |s| {
        s.acked_number().is_some()
    });
    let connected = t_clients.elapsed();
    if behind > 0 {
        let errors: BTreeSet<String> = agents
            .iter()
            .filter_map(|a| a.seen().last_error.clone())
            .take(5)
            .collect();
        bail!(
            "{behind} agents never realized their first rule set: {errors:?}\n{}",
            controller.tail()
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let (rss, hwm) = controller.memory();
    println!(
        "(c) {} agents connected, each realized and reported its full rule set, in {}; controller VmRSS {} MB, VmHWM {} MB",
        agents.len(),
        ms(connected),
        rss / 1024,
        hwm / 1024
    );

    let http = reqwest::Client::new();
    let put = |path: String, body: serde_json::Value| {
        runtime.block_on(async {
            let r = http
                .put(format!("{}{path}", controller.api))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await?;
            let status = r.status();
            let text = r.text().await?;
            if !status.is_success() {
                bail!("PUT {path}: {status}: {text}");
            }
            Ok(())
        })
    };

    // (a) a change that affects every Node.
    let (mut all_realized, mut all_acked, mut puts) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let before: Vec<(u64, u64)> = agents
            .iter()
            .map(|a| {
                let s = a.seen();
                (s.realized_number().unwrap_or(0), s.messages)
            })
            .collect();
        let t0 = Instant::now();
        put(
            format!("/objects/acnp/block-{round:03}"),
            Workload::everywhere_policy(round),
        )?;
        let put_done = t0.elapsed();
        let behind = wait_all_indexed(&agents, &before, Duration::from_secs(120));
        if behind > 0 {
            bail!(
                "round {round}: {behind} agents did not realize the change\n{}",
                controller.tail()
            );
        }
        let (mut realized, mut acked, mut extra) = (Vec::new(), Vec::new(), 0);
        for (a, (base, messages)) in agents.iter().zip(&before) {
            let s = a.seen();
            if let Some((_, at)) = s.realized.iter().find(|(n, _)| n > base) {
                realized.push(at.duration_since(t0));
            }
            if let Some((_, at)) = s.acked.iter().find(|(n, _)| n > base) {
                acked.push(at.duration_since(t0));
            }
            extra += (s.messages - messages).saturating_sub(1);
        }
        println!(
            "(a) round {round}: PUT answered in {}; {}; {}; extra messages {extra}; load {}",
            ms(put_done),
            summary("realized", &mut realized.clone()),
            summary("report acknowledged", &mut acked.clone()),
            uptime()
        );
        all_realized.extend(realized);
        all_acked.extend(acked);
        puts.push(put_done);
        std::thread::sleep(Duration::from_millis(1500));
    }
    println!("(a) all rounds: {}", summary("realized", &mut all_realized));
    println!(
        "(a) all rounds: {}",
        summary("report acknowledged", &mut all_acked)
    );
    println!("(a) all rounds: {}", summary("PUT answered", &mut puts));
    let (rss, hwm) = controller.memory();
    println!(
        "(c) after (a): controller VmRSS {} MB, VmHWM {} MB",
        rss / 1024,
        hwm / 1024
    );

    // (b) one Pod's label.
    let j = workload.relabelled_pod();
    let pod = workload.pod(j, "v2");
    let (ns, name) = (
        pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let before: Vec<u64> = agents.iter().map(|a| a.seen().messages).collect();
    let t0 = Instant::now();
    put(format!("/objects/po/{ns}/{name}"), pod)?;
    let put_done = t0.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let got: BTreeSet<String> = agents
        .iter()
        .zip(&before)
        .filter(|(a, m)| a.seen().messages > **m)
        .map(|(a, _)| a.node.clone())
        .collect();
    let messages: u64 = agents
        .iter()
        .zip(&before)
        .map(|(a, m)| a.seen().messages - m)
        .sum();
    println!(
        "(b) Pod {ns}/{name} version v1 → v2: PUT answered in {}; {messages} messages to {} Nodes: {}",
        ms(put_done),
        got.len(),
        got.iter().cloned().collect::<Vec<_>>().join(" ")
    );
    let (rss, hwm) = controller.memory();
    println!(
        "(c) at the end: controller VmRSS {} MB, VmHWM {} MB; load {}",
        rss / 1024,
        hwm / 1024,
        uptime()
    );

    let _ = stop_tx.send(true);
    drop(controller);
    runtime.shutdown_timeout(Duration::from_secs(2));

    let expected = expected_changes(&workload, j)?;
    println!(
        "(b) the engine's own diff of every Node's rule set: {} Nodes change; agents' messages {} them",
        expected.len(),
        if expected == got {
            "match"
        } else {
            "DO NOT match"
        }
    );
    if expected != got {
        bail!("expected {expected:?}");
    }
    Ok(())
}

/// Waits until every agent realized (and reported) a generation above its number in `before`.
fn wait_all_indexed(agents: &[Arc<SimAgent>], before: &[(u64, u64)], timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let behind = agents
            .iter()
            .zip(before)
            .filter(|(a, (base, _))| a.seen().acked_number().is_none_or(|n| n <= *base))
            .count();
        if behind == 0 || Instant::now() >= deadline {
            return behind;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The Nodes whose rule set the label change of Pod `j` changes, by the engine in this process.
fn expected_changes(workload: &Workload, j: usize) -> anyhow::Result<BTreeSet<String>> {
    use tierwall_engine::ruleset::RuleSets;
    let mut text = String::new();
    for o in workload.objects() {
        text.push_str("---\n");
        text.push_str(&o.to_string());
        text.push('\n');
    }
    let mut objects: Vec<_> = tierwall_model::load_str("workload", &text)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .into_iter()
        .map(|o| o.object)
        .collect();
    objects.sort_by_key(|o| (o.kind().apply_rank(), o.key()));
    let mut engine = tierwall_engine::Engine::new();
    for o in objects {
        engine.apply(o).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let nodes: Vec<String> = engine.cluster().nodes.keys().cloned().collect();
    let before: Vec<_> = {
        let sets = RuleSets::new(engine.cluster(), engine.table());
        nodes.iter().map(|n| sets.node(n)).collect()
    };
    let text = format!("---\n{}\n", workload.pod(j, "v2"));
    let pod = tierwall_model::load_str("pod", &text)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .remove(0)
        .object;
    engine.apply(pod).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sets = RuleSets::new(engine.cluster(), engine.table());
    Ok(nodes
        .iter()
        .zip(before)
        .filter(|(n, b)| sets.node(n) != *b)
        .map(|(n, _)| n.clone())
        .collect())
}
