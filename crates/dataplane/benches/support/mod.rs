//! Shared setup of the dataplane benchmarks: the 10,000-rule cluster, throwaway network
//! namespaces (removed by a Drop guard, even when a benchmark panics), and a three-namespace
//! topology in which real TCP connections cross a Node's `forward` hook:
//!
//! ```text
//!  client ns  eth0 172.16.0.1/24 ── twcli 172.16.0.254 ┐ node ns (ip_forward=1,   ┌ twsrv 10.10.2.254 ── eth0 10.10.2.11/24  server ns
//!                                                      └ table inet tierwall)    ─┘                       (Pod y/a of node-0)
//! ```
//!
//! The client and server run on dedicated threads that `setns` into their namespace (never
//! the benchmark's own thread), with a TCP echo of one byte per connection.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tierwall_dataplane::InterfaceMap;
use tierwall_engine::Engine;
use tierwall_engine::ruleset::NodeRuleSet;
use tierwall_model::Object;
use tierwall_scenario::cluster::ClusterModel;

/// Number of benchmark ACNPs (`TIERWALL_BENCH_POLICIES`, default 1,000 × 10 rules).
pub fn policies() -> usize {
    std::env::var("TIERWALL_BENCH_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}
pub const RULES_PER_POLICY: usize = 10;

/// The server Pod (y/a on node-0, app=a: every benchmark policy but bench-0 applies to it).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 11);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);
pub const PORT: u16 = 8080;

/// Whether the benchmarks can run (root and nft).
pub fn privileged() -> bool {
    let ok =
        nix::unistd::geteuid().is_root() && Command::new("nft").arg("--version").output().is_ok();
    if !ok {
        eprintln!("dataplane benchmarks need root and nft: skipped");
    }
    ok
}

/// Benchmark policy `i`: 10 ingress rules, each from its own /32 ipBlock to its own port;
/// a third Drop, the rest Allow; applied to `app: a` Pods (bench-0: to `app: bench-target`).
pub fn policy(i: usize) -> Object {
    let rules: Vec<serde_json::Value> = (0..RULES_PER_POLICY)
        .map(|r| {
            let n = i * RULES_PER_POLICY + r;
            serde_json::json!({
                "action": if r.is_multiple_of(3) { "Drop" } else { "Allow" },
                "from": [{"ipBlock": {"cidr": format!("192.168.{}.{}/32", n / 250, n % 250 + 1)}}],
                "ports": [{"protocol": "TCP", "port": 1000 + (n % 5000)}],
            })
        })
        .collect();
    let app = if i == 0 { "bench-target" } else { "a" };
    tierwall_model::load::object_from_value(
        tierwall_model::Kind::ClusterNetworkPolicy,
        serde_json::json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": format!("bench-{i}")},
            "spec": {"priority": 1 + (i % 100), "tier": if i.is_multiple_of(2) {"securityops"} else {"application"},
                     "appliedTo": [{"podSelector": {"matchLabels": {"app": app}}}],
                     "ingress": rules}}),
    )
    .expect("bench policy")
}

/// The standard cluster with `n` benchmark policies.
pub fn engine_with(n: usize) -> Engine {
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).expect("cluster");
    }
    for i in 0..n {
        engine.apply(policy(i)).expect("policy");
    }
    engine
}

/// Interface names of node-0's Pods: the server Pod on `twsrv`, the others made up.
pub fn interfaces(rules: &NodeRuleSet) -> InterfaceMap {
    rules
        .pods
        .iter()
        .map(|p| {
            let name = if p.ip == std::net::IpAddr::V4(SERVER_IP) {
                "twsrv".to_string()
            } else {
                format!("tw{}{}", p.namespace, p.name)
            };
            (p.ip, name)
        })
        .collect()
}

/// A network namespace that lives as long as the guard.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("twb{tag}{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        sh(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    pub fn target(&self) -> tierwall_dataplane::NetnsTarget {
        tierwall_dataplane::NetnsTarget::Named(self.0.clone())
    }

    fn exec(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", &self.0];
        all.extend_from_slice(args);
        sh(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

pub fn sh(args: &[&str]) {
    let ok = Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{args:?} failed");
}

/// Client, Node and server namespaces wired as in the module doc, with the server listening.
pub struct Topology {
    pub node: Netns,
    pub client: Netns,
    pub server: Netns,
    stop: Arc<AtomicBool>,
    server_thread: Option<JoinHandle<()>>,
}

impl Topology {
    pub fn new(tag: &str) -> Topology {
        let node = Netns::new(&format!("{tag}n"));
        let client = Netns::new(&format!("{tag}c"));
        let server = Netns::new(&format!("{tag}s"));
        sh(&[
            "ip", "link", "add", "twcli", "netns", &node.0, "type", "veth", "peer", "name", "eth0",
            "netns", &client.0,
        ]);
        sh(&[
            "ip", "link", "add", "twsrv", "netns", &node.0, "type", "veth", "peer", "name", "eth0",
            "netns", &server.0,
        ]);
        node.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        for (ns, dev, addr) in [
            (&node, "twcli", "172.16.0.254/24"),
            (&node, "twsrv", "10.10.2.254/24"),
            (&client, "eth0", "172.16.0.1/24"),
            (&server, "eth0", "10.10.2.11/24"),
        ] {
            ns.exec(&["ip", "addr", "add", addr, "dev", dev]);
            ns.exec(&["ip", "link", "set", dev, "up"]);
        }
        for ns in [&node, &client, &server] {
            ns.exec(&["ip", "link", "set", "lo", "up"]);
        }
        client.exec(&["ip", "route", "add", "default", "via", "172.16.0.254"]);
        server.exec(&["ip", "route", "add", "default", "via", "10.10.2.254"]);
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let server_ns = server.0.clone();
        let stop_flag = stop.clone();
        let server_thread = thread::spawn(move || {
            enter(&server_ns);
            let listener = TcpListener::bind(("0.0.0.0", PORT)).expect("listen");
            let _ = ready_tx.send(());
            for conn in listener.incoming() {
                if stop_flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(mut c) = conn {
                    let mut b = [0u8; 1];
                    if c.read_exact(&mut b).is_ok() {
                        let _ = c.write_all(&b);
                    }
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("server ready");
        Topology {
            node,
            client,
            server,
            stop,
            server_thread: Some(server_thread),
        }
    }

    /// A thread in the client namespace that serves `ClientJob`s.
    pub fn client(&self) -> Client {
        let (tx, rx) = mpsc::channel::<ClientJob>();
        let ns = self.client.0.clone();
        let thread = thread::spawn(move || {
            enter(&ns);
            for job in rx {
                match job {
                    ClientJob::Connections(n, reply) => {
                        let start = Instant::now();
                        let mut failed = 0;
                        for _ in 0..n {
                            if !one_connection(Duration::from_secs(1)) {
                                failed += 1;
                            }
                        }
                        let _ = reply.send((start.elapsed(), failed));
                    }
                    ClientJob::Until(allowed, deadline, reply) => {
                        let start = Instant::now();
                        let mut probes = 0;
                        let seen = loop {
                            probes += 1;
                            if probe(Duration::from_millis(200)) == allowed {
                                break true;
                            }
                            if start.elapsed() > deadline {
                                break false;
                            }
                        };
                        let _ = reply.send((Instant::now(), seen, probes));
                    }
                }
            }
        });
        Client {
            jobs: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop; the namespaces go with the guards.
        let server_ns = self.server.0.clone();
        let waker = thread::spawn(move || {
            enter(&server_ns);
            let _ = TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, PORT)),
                Duration::from_millis(500),
            );
        });
        let _ = waker.join();
        if let Some(t) = self.server_thread.take() {
            let _ = t.join();
        }
    }
}

pub enum ClientJob {
    /// Make n sequential connections; reply (elapsed, failed connections).
    Connections(usize, mpsc::Sender<(Duration, usize)>),
    /// Probe until a connection is allowed (true) / refused (false), or the deadline passes;
    /// reply (when it was seen, whether it was seen, probes made).
    Until(bool, Duration, mpsc::Sender<(Instant, bool, usize)>),
}

pub struct Client {
    jobs: Option<mpsc::Sender<ClientJob>>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    pub fn connections(&self, n: usize) -> (Duration, usize) {
        let (tx, rx) = mpsc::channel();
        self.send(ClientJob::Connections(n, tx));
        rx.recv().expect("client thread")
    }

    pub fn until(&self, allowed: bool, deadline: Duration) -> (Instant, bool, usize) {
        let (tx, rx) = mpsc::channel();
        self.send(ClientJob::Until(allowed, deadline, tx));
        rx.recv().expect("client thread")
    }

    fn send(&self, job: ClientJob) {
        if let Some(j) = &self.jobs {
            j.send(job).expect("client thread");
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves the calling thread into a named network namespace.
fn enter(name: &str) {
    let f = File::open(format!("/run/netns/{name}")).expect("netns file");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// connect + 1 byte each way + close with RST (SO_LINGER 0: no TIME_WAIT, so the client's
/// ports do not run out; conntrack keeps the entry 10 s in CLOSE).
fn one_connection(timeout: Duration) -> bool {
    let addr = SocketAddr::from((SERVER_IP, PORT));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = nix::sys::socket::setsockopt(
        &s,
        nix::sys::socket::sockopt::Linger,
        &nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
    let _ = s.set_read_timeout(Some(timeout));
    let mut b = [7u8; 1];
    s.write_all(&b).is_ok() && s.read_exact(&mut b).is_ok()
}

/// Whether a new connection gets through (a rejected one fails at once with a TCP reset).
pub fn probe(timeout: Duration) -> bool {
    one_connection(timeout)
}

/// Percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
