//! Helpers shared by the tests that run `tierwall manager`, `controller` and `adapter` as real
//! processes: a child process with its stderr collected ([`Proc`]), a manager (HTTPS with its
//! self-signed certificate, or plain HTTP) with an admin client, a cluster (controller +
//! adapter, on a testbed or on a small manifest inventory), plain HTTP requests to a controller,
//! polling with a time limit, waiting for clusters to be HEALTHY, and the testbed helpers (bring
//! one up, probe it, remove it with [`Guard`]).

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tierwall_engine::Outcome;
use tierwall_testbed::{Probe, Testbed};

pub const PASSWORD: &str = "adapter-test-pw";
pub const BASE: &str = "/policy/api/v1/infra";
pub const CCP: &str =
    "/policy/api/v1/infra/sites/default/enforcement-points/default/cluster-control-planes";
pub const MANAGED: &str = "ccp-adapter.antrea.tanzu.vmware.com%2FmanagedBy%3Dccp-adapter";

/// A `tierwall` process: its first stdout line, stderr collected; killed when dropped.
pub struct Proc {
    pub child: Child,
    pub first_line: String,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    pub fn spawn(args: &[&str], read_first_line: bool) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tierwall"))
            .args(args)
            .env("TIERWALL_ADMIN_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        let mut first_line = String::new();
        if read_first_line && let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut first_line);
        }
        Proc {
            child,
            first_line: first_line.trim().to_string(),
            stderr,
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// SIGTERM; whether it exited with status 0 within 5 s.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL (`kill -9`), and wait for the process to be gone.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A fresh directory below the cargo target's temp dir, named after the test binary.
pub fn temp_dir(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-cli-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
    p
}

/// A plain HTTP/1.1 request to a controller.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, Value) {
    request_with_body(addr, method, path, "")
}

/// A plain HTTP/1.1 request to a controller with a (JSON or YAML) body.
pub fn request_with_body(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    s.read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{e}"));
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Calls `f` every 100 ms until it answers `Ok`; fails the test after `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(seen) => assert!(
                start.elapsed() < limit,
                "timed out ({limit:?}) waiting for {what}; last seen: {seen}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The manager process and an admin client of it.
pub struct Manager {
    pub process: Proc,
    pub base: String,
    /// The CA of its server certificate (`None` over plain HTTP).
    pub ca: Option<PathBuf>,
    pub http: AdminClient,
}

/// The async reqwest client, driven from these synchronous tests by a small runtime, as the
/// user `admin` with Basic. The runtime has a worker thread of its own so that pooled HTTP/2
/// connections keep being served between calls (they answer the manager's shutdown GOAWAY/PING;
/// a runtime driven only inside `block_on` would hold the manager's shutdown for its drain time).
pub struct AdminClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl AdminClient {
    pub fn new(ca_pem: Option<&[u8]>) -> AdminClient {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let ca = reqwest::Certificate::from_pem(pem).unwrap_or_else(|e| panic!("{e}"));
            builder = builder.tls_certs_only([ca]);
        }
        AdminClient {
            http: builder.build().unwrap_or_else(|e| panic!("{e}")),
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        }
    }

    /// One request; a transport error answers status 0 (the body says what happened).
    pub fn try_call(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        self.runtime.block_on(async {
            let method =
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
            let mut req = self
                .http
                .request(method, url)
                .basic_auth("admin", Some(PASSWORD))
                .timeout(Duration::from_secs(10));
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => return (0, Value::String(format!("{url}: {e}"))),
            };
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    pub fn call(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        match self.try_call(method, url, body) {
            (0, e) => panic!("{e}"),
            answer => answer,
        }
    }
}

impl Manager {
    /// HTTPS on a free port, with the certificate it generates in `data/tls`.
    pub fn start(data: &Path) -> Manager {
        Manager::start_on(data, "127.0.0.1:0", false)
    }

    /// `tierwall manager --listen LISTEN --data DATA [--insecure-http]`.
    pub fn start_on(data: &Path, listen: &str, insecure_http: bool) -> Manager {
        let data_arg = data.display().to_string();
        let mut args = vec!["manager", "--listen", listen, "--data", &data_arg];
        if insecure_http {
            args.push("--insecure-http");
        }
        let process = Proc::spawn(&args, true);
        let base = process
            .first_line
            .strip_prefix("manager listening on ")
            .map(str::to_string)
            .unwrap_or_else(|| panic!("manager: {:?}\n{}", process.first_line, process.log()));
        let ca = (!insecure_http).then(|| data.join("tls/server.crt"));
        let pem = ca.as_ref().map(|c| std::fs::read(c).unwrap_or_default());
        let http = AdminClient::new(pem.as_deref());
        Manager {
            process,
            base,
            ca,
            http,
        }
    }

    /// The `HOST:PORT` it listens on.
    pub fn listen_addr(&self) -> String {
        self.base
            .rsplit("://")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.http
            .call(method, &format!("{}{path}", self.base), body)
    }

    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }
}

/// Waits (at most `limit`) until the manager reports exactly `clusters.len()` clusters HEALTHY.
pub fn wait_healthy(manager: &Manager, clusters: &[&Cluster], what: &str, limit: Duration) {
    eventually(what, limit, || {
        let h = manager.ok("GET", &format!("{CCP}/status"), None);
        let healthy = h["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"] == "HEALTHY")
            .count();
        if healthy == clusters.len() {
            Ok(())
        } else {
            let logs: Vec<String> = clusters.iter().map(|c| c.logs()).collect();
            Err(format!("{h}\n{}", logs.join("\n")))
        }
    });
}

/// What a cluster's controller enforces on.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// The in-process nftables agents of the testbed with this prefix (root).
    Testbed(&'a str),
    /// No dataplane: these manifests (Nodes, Namespaces, Pods) are the cluster's inventory.
    Inventory(&'a str),
}

/// One cluster: its controller and its adapter.
pub struct Cluster {
    pub id: String,
    pub controller: Proc,
    pub addr: SocketAddr,
    pub adapter: Proc,
}

impl Cluster {
    /// A controller over `backend` and its adapter (HTTPS to the manager), which generates its
    /// certificate and registers the cluster.
    pub fn start(id: &str, manager: &Manager, dir: &Path, backend: Backend<'_>) -> Cluster {
        let manifests = dir.join(format!("{id}-manifests"));
        std::fs::create_dir_all(&manifests).unwrap_or_else(|e| panic!("{e}"));
        let mut args = vec![
            "controller".to_string(),
            "--manifests".into(),
            manifests.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--poll-ms".into(),
            "100".into(),
        ];
        match backend {
            Backend::Testbed(prefix) => {
                args.extend(["--testbed".to_string(), prefix.to_string()]);
            }
            Backend::Inventory(yaml) => std::fs::write(manifests.join("inventory.yaml"), yaml)
                .unwrap_or_else(|e| panic!("{e}")),
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let controller = Proc::spawn(&refs, true);
        let addr: SocketAddr = controller
            .first_line
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "controller: {:?}\n{}",
                    controller.first_line,
                    controller.log()
                )
            });
        let cert = dir.join(format!("{id}.crt")).display().to_string();
        let key = dir.join(format!("{id}.key")).display().to_string();
        let ca = manager
            .ca
            .as_ref()
            .map(|c| c.display().to_string())
            .unwrap_or_else(|| panic!("the adapters need the manager over HTTPS"));
        let adapter = Proc::spawn(
            &[
                "adapter",
                "--manager",
                &manager.base,
                "--cluster-id",
                id,
                "--controller",
                &format!("http://{addr}"),
                "--cert",
                &cert,
                "--key",
                &key,
                "--ca",
                &ca,
                "--generate-cert",
                "--register",
                "--stats-interval",
                "1",
                "--heartbeat-interval",
                "1",
                "--resync-ms",
                "500",
            ],
            false,
        );
        Cluster {
            id: id.to_string(),
            controller,
            addr,
            adapter,
        }
    }

    pub fn managed_acnps(&self) -> Vec<Value> {
        let (_, list) = request(
            self.addr,
            "GET",
            &format!("/objects?kind=acnp&labelSelector={MANAGED}"),
        );
        list["items"].as_array().cloned().unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        format!(
            "--- adapter {}:\n{}\n--- controller {}:\n{}",
            self.id,
            self.adapter.log(),
            self.id,
            self.controller.log()
        )
    }
}

/// The policy path of cluster-control-plane `id`.
pub fn span_path(id: &str) -> String {
    format!("/infra/sites/default/enforcement-points/default/cluster-control-planes/{id}")
}

/// Runs the built `tierwall` with `args` (stdin empty) to the end.
pub fn tierwall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"))
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Removes the testbed when the test ends, whatever happens.
pub struct Guard(pub String);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = tierwall_testbed::down_by_prefix(&self.0);
    }
}

/// `tierwall testbed up --prefix PREFIX` (the standard testbed), attached.
pub fn standard_testbed(prefix: &str) -> Testbed {
    let up = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["testbed", "up", "--prefix", prefix])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        up.status.success(),
        "testbed up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    Testbed::attach(prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// `tierwall controller --testbed PREFIX` (agents as processes) over the watched directory
/// `manifests`, np.log under `dir/logs`, polling every 50 ms; returns once every Node's agent
/// (`nodes` of them) has realized its first rule set.
pub fn testbed_controller(prefix: &str, manifests: &Path, dir: &Path, nodes: usize) -> Proc {
    let manifests = manifests.display().to_string();
    let log_dir = dir.join("logs").display().to_string();
    let controller = Proc::spawn(
        &[
            "controller",
            "--manifests",
            &manifests,
            "--testbed",
            prefix,
            "--listen",
            "127.0.0.1:0",
            "--log-dir",
            &log_dir,
            "--poll-ms",
            "50",
        ],
        true,
    );
    eventually("every agent realized", Duration::from_secs(20), || {
        let log = controller.log();
        if log.matches(": realized ").count() >= nodes {
            Ok(())
        } else {
            Err(log)
        }
    });
    controller
}

/// The outcome of each of `probes`, run on `testbed`, in order.
pub fn outcomes(testbed: &Testbed, probes: &[Probe]) -> Vec<Outcome> {
    testbed
        .probe_many(probes)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}
