//! Policy applied → enforced on every Node, with the Node agents as their own processes (issue
//! 8, item 6). Needs root. A testbed of the standard cluster (`tierwall testbed up`, a unique
//! prefix, removed by a guard even when the harness fails), the 10,000-rule set of the dataplane
//! benches (1,000 ACNPs × 10 ingress rules, `crates/dataplane/benches/support::policy`) in the
//! controller's directory, and `tierwall controller --testbed P --agents processes`: one
//! `tierwall agent` process per Node, fed over the Node stream (HTTP/2, mutual TLS).
//!
//! ```text
//!  sample: PUT /objects/acnp/bench-toggle (Reject ↔ Allow, applied to every Pod: every Node changes)
//!          ──> each Node's agent prints `realized EPOCH.G` after its nftables commit  (enforced)
//!          ──> GET /status/acnp/bench-toggle: currentNodesRealized = desiredNodesRealized (API)
//!  check (not timed): real probes y/a → x/a, x/b, x/c TCP 8080 (one Pod per Node) see the verdict
//! ```
//!
//! "Enforced" is each agent's own line `agent N: realized EPOCH.G (…)`, printed once its
//! nftables transaction for generation G is committed (the agents' stderr reaches this harness
//! through the controller's); a sample ends when every Node's agent has printed a generation
//! newer than the one it held before the change. The API's view is timed too: `/status` counts
//! a Node once its report arrived, but it answers only after the PUT handler has finished
//! (which persists objects.json after pushing the rule sets). Probing every Node after every
//! change is too slow to time (a probe runs helper processes in the netns); real probes check
//! the verdicts instead. `TIERWALL_BENCH_SPREAD=all` applies the 10,000 rules to every
//! Pod (each of the 3 Nodes holds them), default `a`: the `app: a` Pods (node-0), as in the
//! in-process `enforcement` bench. `TIERWALL_BENCH_SAMPLES` (default 200).
//!
//! Run: `cargo bench -p tierwall-cli --bench enforcement_processes`.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIERWALL: &str = env!("CARGO_BIN_EXE_tierwall");

/// Removes the testbed when dropped, whatever happened.
struct TestbedGuard(String);

impl Drop for TestbedGuard {
    fn drop(&mut self) {
        let _ = tierwall_testbed::down_by_prefix(&self.0);
    }
}

/// The controller process, stopped with SIGTERM (it stops its agents) when dropped.
struct Controller {
    child: Child,
    api: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Per Node: the last generation number its agent printed as realized, and when.
    realized: Arc<Mutex<BTreeMap<String, (u64, Instant)>>>,
}

/// `agent NODE: realized EPOCH.N (…)` → (NODE, N).
fn realized_line(line: &str) -> Option<(String, u64)> {
    let rest = line.strip_prefix("agent ")?;
    let (node, rest) = rest.split_once(": realized ")?;
    let generation = rest.split_whitespace().next()?;
    let number = generation.rsplit_once('.')?.1.parse().ok()?;
    Some((node.to_string(), number))
}

impl Drop for Controller {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Benchmark policy `i` (the dataplane benches' `support::policy`), applied to `selector`.
fn bench_policy(i: usize, selector: &Value) -> Value {
    let rules: Vec<Value> = (0..10)
        .map(|r| {
            let n = i * 10 + r;
            json!({
                "action": if r.is_multiple_of(3) { "Drop" } else { "Allow" },
                "from": [{"ipBlock": {"cidr": format!("192.168.{}.{}/32", n / 250, n % 250 + 1)}}],
                "ports": [{"protocol": "TCP", "port": 1000 + (n % 5000)}],
            })
        })
        .collect();
    let applied = if i == 0 {
        json!([{"podSelector": {"matchLabels": {"app": "bench-target"}}}])
    } else {
        selector.clone()
    };
    json!({
        "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": format!("bench-{i}")},
        "spec": {"priority": 1 + (i % 100), "tier": if i.is_multiple_of(2) {"securityops"} else {"application"},
                 "appliedTo": applied, "ingress": rules}
    })
}

/// The policy toggled: every Pod, TCP 8080 from every Pod, Reject or Allow.
fn toggle_policy(reject: bool) -> Value {
    json!({
        "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "bench-toggle"},
        "spec": {"priority": 1, "tier": "emergency",
                 "appliedTo": [{"namespaceSelector": {}}],
                 "ingress": [{"action": if reject {"Reject"} else {"Allow"},
                              "from": [{"namespaceSelector": {}}],
                              "ports": [{"protocol": "TCP", "port": 8080}]}]}
    })
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

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn probe(prefix: &str, dst: &str) -> anyhow::Result<String> {
    let out = Command::new(TIERWALL)
        .args(["testbed", "probe", prefix, "y/a", dst, "8080/TCP"])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "probe y/a → {dst}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() || Command::new("nft").arg("--version").output().is_err() {
        eprintln!("enforcement_processes needs root and nft: skipped");
        return Ok(());
    }
    let samples: usize = std::env::var("TIERWALL_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let spread_all = std::env::var("TIERWALL_BENCH_SPREAD").is_ok_and(|v| v == "all");
    let prefix = format!("tep{}", std::process::id() % 1_000_000);
    let _guard = TestbedGuard(prefix.clone());
    let up = Command::new(TIERWALL)
        .args(["testbed", "up", "--prefix", &prefix])
        .stdin(Stdio::null())
        .output()?;
    if !up.status.success() {
        bail!("testbed up: {}", String::from_utf8_lossy(&up.stderr));
    }
    let dir = tempfile::tempdir()?;
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests)?;
    let selector = if spread_all {
        json!([{"namespaceSelector": {}}])
    } else {
        json!([{"podSelector": {"matchLabels": {"app": "a"}}}])
    };
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str("---\n");
        text.push_str(&bench_policy(i, &selector).to_string());
        text.push('\n');
    }
    std::fs::write(manifests.join("bench.yaml"), text)?;
    std::fs::write(
        manifests.join("acnp_bench-toggle.json"),
        toggle_policy(false).to_string(),
    )?;

    let mut child = Command::new(TIERWALL)
        .args([
            "controller",
            "--testbed",
            &prefix,
            "--agents",
            "processes",
            "--listen",
            "127.0.0.1:0",
            "--poll-ms",
            "50",
        ])
        .arg("--manifests")
        .arg(&manifests)
        .arg("--pki")
        .arg(dir.path().join("pki"))
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the controller")?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let realized = Arc::new(Mutex::new(BTreeMap::new()));
    let stderr = child.stderr.take().context("stderr")?;
    {
        let (log, realized) = (Arc::clone(&log), Arc::clone(&realized));
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((node, number)) = realized_line(&line) {
                    realized
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(node, (number, Instant::now()));
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() > 5000 {
                    log.drain(..2500);
                }
                log.push(line);
            }
        });
    }
    let mut api = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut api)?;
    let controller = Controller {
        child,
        api: api.trim().to_string(),
        log,
        realized,
    };
    let tail = || {
        controller
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .take(30)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    };
    if controller.api.is_empty() {
        bail!("the controller printed no API address:\n{}", tail());
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = reqwest::Client::new();
    let status = || -> anyhow::Result<(usize, usize, String)> {
        runtime.block_on(async {
            let v: Value = http
                .get(format!("{}/status/acnp/bench-toggle", controller.api))
                .send()
                .await?
                .json()
                .await?;
            let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
            Ok((
                n("currentNodesRealized"),
                n("desiredNodesRealized"),
                v["phase"].as_str().unwrap_or("").to_string(),
            ))
        })
    };
    let wait_realized = |limit: Duration| -> anyhow::Result<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            let (current, desired, _) = status()?;
            if desired > 0 && current == desired {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!(
                    "not realized within {limit:?} ({current}/{desired})\n{}",
                    tail()
                );
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    };
    let t = Instant::now();
    wait_realized(Duration::from_secs(120))?;
    println!(
        "testbed {prefix}: 3 Nodes, agents as processes, 10,000-rule set on {}; every Node realized in {} after start; load {}",
        if spread_all {
            "every Pod"
        } else {
            "the app=a Pods (node-0)"
        },
        ms(t.elapsed()),
        load()
    );

    let held = || {
        controller
            .realized
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    };
    let nodes = held().len();
    if nodes != 3 {
        bail!(
            "{nodes} agents printed a realized generation, 3 expected\n{}",
            tail()
        );
    }
    let (mut enforced, mut totals, mut puts) = (Vec::new(), Vec::new(), Vec::new());
    let dsts = ["x/a", "x/b", "x/c"];
    for k in 0..samples {
        let reject = k % 2 == 0;
        let body = toggle_policy(reject).to_string();
        let before = held();
        let t0 = Instant::now();
        runtime.block_on(async {
            let r = http
                .put(format!("{}/objects/acnp/bench-toggle", controller.api))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("PUT: {} {}", r.status(), r.text().await?);
            }
            Ok(())
        })?;
        puts.push(t0.elapsed());
        let done = wait_realized(Duration::from_secs(30))?;
        totals.push(done - t0);
        let deadline = Instant::now() + Duration::from_secs(30);
        let last = loop {
            let now = held();
            let newer: Vec<Instant> = now
                .iter()
                .filter(|(n, (g, _))| before.get(*n).is_none_or(|(b, _)| g > b))
                .map(|(_, (_, at))| *at)
                .collect();
            if newer.len() == before.len() {
                break newer.into_iter().max().unwrap_or(t0);
            }
            if Instant::now() > deadline {
                bail!(
                    "sample {k}: not every agent printed a new generation\n{}",
                    tail()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        enforced.push(last.saturating_duration_since(t0));
        if k % 10 == 0 || k + 1 == samples {
            let want = if reject { "Rejected" } else { "Connected" };
            for dst in dsts {
                let got = probe(&prefix, dst)?;
                if got != want {
                    bail!("sample {k}: y/a → {dst} TCP 8080 is {got}, the policy says {want}");
                }
            }
        }
    }
    let syncs: Vec<String> = controller
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.contains(": realized "))
        .rev()
        .take(6)
        .cloned()
        .collect();
    totals.sort();
    puts.sort();
    enforced.sort();
    println!(
        "policy applied → every Node's agent committed it (enforced): {} samples; p50 {} p99 {} max {}; load {}",
        enforced.len(),
        ms(percentile(&enforced, 0.5)),
        ms(percentile(&enforced, 0.99)),
        ms(enforced.last().copied().unwrap_or_default()),
        load()
    );
    println!(
        "policy applied → /status shows every Node realized: p50 {} p99 {} max {}; PUT answered p50 {} p99 {}",
        ms(percentile(&totals, 0.5)),
        ms(percentile(&totals, 0.99)),
        ms(totals.last().copied().unwrap_or_default()),
        ms(percentile(&puts, 0.5)),
        ms(percentile(&puts, 0.99))
    );
    println!(
        "verdicts checked by real probes y/a → x/a, x/b, x/c TCP 8080 every 10th sample: all as the policy says"
    );
    println!("last agent syncs:\n  {}", syncs.join("\n  "));
    drop(controller);
    Ok(())
}
