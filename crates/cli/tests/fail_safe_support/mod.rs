//! The harness of the fail-safe tests (`tests/fail_safe.rs`): a standard testbed (Nodes node-0..2;
//! Pods a, b, c of Namespaces x, y, z on node-0, node-1, node-2) enforced by a
//! `tierwall controller --agents external` and one `tierwall agent` process per Node started here,
//! so that the controller and each agent can be killed and started again on their own; a matrix
//! of real probes; each Node's nftables table read with `nft`; and a [`TableSampler`] thread
//! that reads the tables continuously while something restarts.
//!
//! ```text
//!  FailSafeBed::up ── tierwall testbed up ──> <p>-node-N netns (table inet tierwall)
//!    start_controller ── controller --manifests M --testbed p --agents external
//!                           --node-stream 127.0.0.1:PORT --pki K ──> K/nodes/N/{tls.crt,…}
//!    start_agent(N)   ── agent --node N --controller https://127.0.0.1:PORT --identity K/nodes/N
//!                           --netns <p>-N
//!  dropped: agents and controller killed, then the testbed removed (Guard)
//! ```

use crate::common::{Guard, Proc, eventually, request, standard_testbed, temp_dir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tierwall_engine::Outcome::{self, Connected, Dropped, Rejected};
use tierwall_testbed::{Endpoint, Probe, Testbed, Transport};

/// How long a change takes at most to reach the Nodes (files polled every 100 ms, agents
/// reconnecting with backoff up to 5 s).
pub const LIMIT: Duration = Duration::from_secs(20);

/// The Nodes of the standard testbed.
pub const NODES: [&str; 3] = ["node-0", "node-1", "node-2"];

/// Namespace x is guarded: 80/TCP from y is rejected, from z dropped; x's own Pods and other
/// ports connect. It applies on every Node (x/a, x/b, x/c are on node-0, 1, 2).
pub const BASE_POLICY: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: fs-base}
spec:
  priority: 5
  appliedTo: [{namespaceSelector: {matchLabels: {ns: x}}}]
  ingress:
  - {action: Reject, name: reject-from-y, ports: [{protocol: TCP, port: 80}],
     from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  - {action: Drop, name: drop-from-z, ports: [{protocol: TCP, port: 80}],
     from: [{namespaceSelector: {matchLabels: {ns: z}}}]}
"#;

/// The change the tests make: x/c (on node-2 only) drops 80/TCP from its own Namespace.
pub const CHANGE_POLICY: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: fs-change}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: c}}, namespaceSelector: {matchLabels: {ns: x}}}]
  ingress:
  - {action: Drop, name: drop-from-x, ports: [{protocol: TCP, port: 80}],
     from: [{namespaceSelector: {matchLabels: {ns: x}}}]}
"#;

/// `(source, destination Pod, transport)`: Allow, Reject and Drop on each Node.
pub const MATRIX: [(&str, &str, Transport); 8] = [
    ("x/b", "x/a", Transport::Tcp(80)),
    ("y/b", "x/a", Transport::Tcp(80)),
    ("z/b", "x/a", Transport::Tcp(80)),
    ("y/a", "x/b", Transport::Tcp(80)),
    ("z/c", "x/b", Transport::Tcp(80)),
    ("x/a", "x/c", Transport::Tcp(80)),
    ("z/a", "x/c", Transport::Tcp(80)),
    ("y/a", "x/c", Transport::Tcp(81)),
];

/// The matrix's outcomes under [`BASE_POLICY`].
pub const BEFORE: [Outcome; 8] = [
    Connected, Rejected, Dropped, Rejected, Dropped, Connected, Dropped, Connected,
];

/// The position in [`MATRIX`] that [`CHANGE_POLICY`] turns from Connected to Dropped.
pub const CHANGED: usize = 5;

/// The matrix's outcomes under [`BASE_POLICY`] and [`CHANGE_POLICY`].
pub fn after() -> Vec<Outcome> {
    let mut v = BEFORE.to_vec();
    v[CHANGED] = Dropped;
    v
}

/// One testbed with its controller and agents.
pub struct FailSafeBed {
    pub prefix: String,
    pub manifests: PathBuf,
    pub pki: PathBuf,
    /// `127.0.0.1:PORT` of the Node stream, the same across controller restarts.
    pub stream: SocketAddr,
    pub controller: Option<Proc>,
    /// The controller's HTTP API.
    pub api: SocketAddr,
    pub agents: BTreeMap<String, Proc>,
    /// Manifests, CA and identities; removed when the bed is dropped.
    dir: PathBuf,
    /// Removes the testbed last (fields drop in order: processes first).
    _guard: Guard,
}

impl Drop for FailSafeBed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port (the stream must keep its address across controller restarts).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
}

impl FailSafeBed {
    /// A standard testbed `tag<pid>` with [`BASE_POLICY`] in the controller's manifests.
    pub fn up(tag: &str) -> FailSafeBed {
        let prefix = format!("{tag}{}", std::process::id() % 100_000);
        let guard = Guard(prefix.clone());
        drop(standard_testbed(&prefix));
        let dir = temp_dir(&prefix);
        let manifests = dir.join("manifests");
        std::fs::create_dir_all(&manifests).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(manifests.join("base.yaml"), BASE_POLICY).unwrap_or_else(|e| panic!("{e}"));
        FailSafeBed {
            prefix,
            manifests,
            pki: dir.join("pki"),
            stream: free_port(),
            controller: None,
            api: free_port(),
            agents: BTreeMap::new(),
            dir,
            _guard: guard,
        }
    }

    /// Starts the controller (agents external) and waits for the identities of `nodes`.
    pub fn start_controller(&mut self, nodes: &[&str]) {
        let (manifests, pki) = (
            self.manifests.display().to_string(),
            self.pki.display().to_string(),
        );
        let (stream, api) = (self.stream.to_string(), self.api.to_string());
        let args = [
            "controller",
            "--manifests",
            &manifests,
            "--testbed",
            &self.prefix,
            "--agents",
            "external",
            "--node-stream",
            &stream,
            "--pki",
            &pki,
            "--listen",
            &api,
            "--poll-ms",
            "100",
        ];
        let process = Proc::spawn(&args, true);
        assert_eq!(
            process.first_line,
            format!("http://{api}"),
            "controller:\n{}",
            process.log()
        );
        for node in nodes {
            let cert = self.identity(node).join("tls.crt");
            eventually(&format!("the identity of {node}"), LIMIT, || {
                if cert.exists() {
                    Ok(())
                } else {
                    Err(process.log())
                }
            });
        }
        self.controller = Some(process);
    }

    /// The bed's own directory (manifests, CA), for files of the tests.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Where the controller writes Node `node`'s identity.
    pub fn identity(&self, node: &str) -> PathBuf {
        self.pki.join("nodes").join(node)
    }

    pub fn node_netns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// `tierwall agent` for `node` in its netns, with its identity (replacing a previous one).
    pub fn start_agent(&mut self, node: &str) {
        let (url, identity, netns) = (
            format!("https://{}", self.stream),
            self.identity(node).display().to_string(),
            self.node_netns(node),
        );
        let args = [
            "agent",
            "--node",
            node,
            "--controller",
            &url,
            "--identity",
            &identity,
            "--netns",
            &netns,
            "--backoff-ms",
            "50",
        ];
        self.agents
            .insert(node.to_string(), Proc::spawn(&args, false));
    }

    /// Controller and agents started, [`BASE_POLICY`] realized on every Node, the matrix as
    /// [`BEFORE`].
    pub fn started(tag: &str) -> FailSafeBed {
        let mut bed = FailSafeBed::up(tag);
        bed.start_controller(&NODES);
        for node in NODES {
            bed.start_agent(node);
        }
        bed.wait_phase("fs-base", "Realized", 3);
        assert_eq!(bed.matrix(), BEFORE, "{}", bed.logs());
        bed
    }

    pub fn agent_log(&self, node: &str) -> String {
        self.agents.get(node).map(Proc::log).unwrap_or_default()
    }

    /// Everything the processes printed, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        if let Some(c) = &self.controller {
            text.push_str(&format!("--- controller:\n{}", c.log()));
        }
        for (node, agent) in &self.agents {
            text.push_str(&format!("--- agent {node}:\n{}", agent.log()));
        }
        text
    }

    pub fn write_manifest(&self, name: &str, text: &str) {
        std::fs::write(self.manifests.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }

    /// `GET /status/acnp/NAME`.
    pub fn status(&self, policy: &str) -> Value {
        request(self.api, "GET", &format!("/status/acnp/{policy}")).1
    }

    /// Waits until the policy's phase is `phase` with `nodes` Nodes desired and, for
    /// `Realized`, as many realized; returns the status.
    pub fn wait_phase(&self, policy: &str, phase: &str, nodes: u64) -> Value {
        eventually(&format!("{policy} {phase} on {nodes} Nodes"), LIMIT, || {
            let s = self.status(policy);
            let realized = s["currentNodesRealized"].as_u64();
            if s["phase"] == phase
                && s["desiredNodesRealized"] == nodes
                && (phase != "Realized" || realized == Some(nodes))
            {
                Ok(s)
            } else {
                Err(format!("{s}\n{}", self.logs()))
            }
        })
    }

    /// The outcomes of [`MATRIX`], probed now (in parallel: about one probe timeout).
    pub fn matrix(&self) -> Vec<Outcome> {
        probe_matrix(&self.prefix)
    }

    /// Node `node`'s table as `nft list table` prints it, counter values blanked.
    pub fn table_text(&self, node: &str) -> String {
        table_text(&self.node_netns(node))
    }

    /// Starts reading the tables of `nodes` continuously.
    pub fn sampler(&self, nodes: &[&str]) -> TableSampler {
        TableSampler::start(nodes.iter().map(|n| self.node_netns(n)).collect())
    }
}

/// The outcomes of [`MATRIX`] on testbed `prefix`.
pub fn probe_matrix(prefix: &str) -> Vec<Outcome> {
    let testbed = Testbed::attach(prefix).unwrap_or_else(|e| panic!("{e}"));
    let probes: Vec<Probe> = MATRIX
        .iter()
        .map(|(src, dst, transport)| {
            let (ns, name) = dst.split_once('/').unwrap_or_default();
            let ip = testbed.pod_ip(ns, name).unwrap_or_else(|e| panic!("{e}"));
            let src = Endpoint::parse(src).unwrap_or_else(|| panic!("{src}"));
            Probe::new(src, IpAddr::V4(ip), *transport)
        })
        .collect();
    testbed
        .probe_many(&probes)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

/// `nft ARGS` in netns `netns`: stdout when it succeeds.
pub fn nft_in(netns: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "nft"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The table `inet tierwall` of `netns` as text, each number after `packets` or `bytes`
/// replaced by `_` (probes move counters; nothing else may change).
pub fn table_text(netns: &str) -> String {
    let text = nft_in(netns, &["list", "table", "inet", "tierwall"]).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = Vec::new();
        let mut blank_next = false;
        for word in line.split_whitespace() {
            words.push(if blank_next { "_" } else { word });
            blank_next = word == "packets" || word == "bytes";
        }
        out.push(words.join(" "));
    }
    out.join("\n")
}

/// What one read of a table found: `None` when the table is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableCount {
    pub rules: usize,
    pub elements: usize,
}

/// The rules and set/map elements of table `inet tierwall` in `netns`.
pub fn table_count(netns: &str) -> Option<TableCount> {
    let text = nft_in(netns, &["-j", "list", "table", "inet", "tierwall"])?;
    let doc: Value = serde_json::from_str(&text).ok()?;
    let items = doc["nftables"].as_array()?;
    let rules = items.iter().filter(|i| i.get("rule").is_some()).count();
    let elements = items
        .iter()
        .filter_map(|i| i.get("set").or_else(|| i.get("map")))
        .map(|s| s["elem"].as_array().map_or(0, Vec::len))
        .sum();
    Some(TableCount { rules, elements })
}

/// The packets counted by the named counters of table `inet tierwall` in `netns`: a table
/// deleted and created again starts them from zero, one adopted keeps them.
pub fn counted_packets(netns: &str) -> u64 {
    let text = nft_in(
        netns,
        &["-j", "list", "counters", "table", "inet", "tierwall"],
    )
    .unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["counter"]["packets"].as_u64())
        .sum()
}

/// Reads the tables of some Node namespaces in a loop until stopped.
pub struct TableSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<BTreeMap<String, Vec<Option<TableCount>>>>,
}

impl TableSampler {
    fn start(netns: Vec<String>) -> TableSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut seen: BTreeMap<String, Vec<Option<TableCount>>> = BTreeMap::new();
            while !flag.load(Ordering::Relaxed) {
                for ns in &netns {
                    seen.entry(ns.clone()).or_default().push(table_count(ns));
                }
            }
            seen
        });
        TableSampler { stop, thread }
    }

    /// Stops; every read of every namespace, in order.
    pub fn finish(self) -> BTreeMap<String, Vec<Option<TableCount>>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| panic!("sampler"))
    }
}

/// Asserts that every read found the table with at least `floor` rules and elements, and
/// that there were at least `min_reads` reads per namespace; returns a summary line.
pub fn assert_never_emptied(
    reads: &BTreeMap<String, Vec<Option<TableCount>>>,
    floor: &BTreeMap<String, TableCount>,
    min_reads: usize,
) -> String {
    let mut summary = Vec::new();
    for (ns, counts) in reads {
        let floor = floor[ns];
        assert!(
            counts.len() >= min_reads,
            "{ns}: only {} reads of the table",
            counts.len()
        );
        let missing = counts.iter().filter(|c| c.is_none()).count();
        assert_eq!(missing, 0, "{ns}: the table was missing in {missing} reads");
        let low = counts
            .iter()
            .flatten()
            .filter(|c| c.rules < floor.rules || c.elements < floor.elements)
            .count();
        assert_eq!(low, 0, "{ns}: {low} reads below {floor:?}: {counts:?}");
        let min_rules = counts.iter().flatten().map(|c| c.rules).min().unwrap_or(0);
        summary.push(format!(
            "{ns}: {} reads, min {min_rules} rules (floor {})",
            counts.len(),
            floor.rules
        ));
    }
    summary.join("; ")
}

/// The table counts of `nodes` now, keyed by netns.
pub fn counts_now(bed: &FailSafeBed, nodes: &[&str]) -> BTreeMap<String, TableCount> {
    nodes
        .iter()
        .map(|n| {
            let ns = bed.node_netns(n);
            let c = table_count(&ns).unwrap_or_else(|| panic!("no table in {ns}"));
            (ns, c)
        })
        .collect()
}

/// One round of the matrix: when it started, what it found.
pub type ProbeRound = (Instant, Vec<Outcome>);

/// Probes the matrix in a loop until stopped; each round is recorded with its start.
pub struct MatrixProber {
    stop: Arc<AtomicBool>,
    rounds: Arc<Mutex<Vec<ProbeRound>>>,
    thread: JoinHandle<()>,
}

impl MatrixProber {
    pub fn start(prefix: &str) -> MatrixProber {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(Mutex::new(Vec::new()));
        let (flag, sink, prefix) = (Arc::clone(&stop), Arc::clone(&rounds), prefix.to_string());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let at = Instant::now();
                let outcomes = probe_matrix(&prefix);
                if let Ok(mut r) = sink.lock() {
                    r.push((at, outcomes));
                }
            }
        });
        MatrixProber {
            stop,
            rounds,
            thread,
        }
    }

    /// Stops once a round that started after `since` is done; every round, in order.
    pub fn finish_after(self, since: Instant) -> Vec<ProbeRound> {
        eventually("a probe round after the resync", LIMIT, || {
            let done = self
                .rounds
                .lock()
                .map(|r| r.iter().any(|(at, _)| *at >= since))
                .unwrap_or(false);
            if done { Ok(()) } else { Err("none yet".into()) }
        });
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| panic!("prober"));
        self.rounds.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
