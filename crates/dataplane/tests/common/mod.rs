//! Shared helpers of the dataplane tests: engines from scenario text, throwaway network
//! namespaces (removed by a Drop guard, even when the test panics), commands that must work.

#![allow(dead_code)]

pub mod net;
pub mod sim;

use std::fmt::Write;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tierwall_dataplane::NetnsTarget;
use tierwall_engine::Engine;
use tierwall_scenario::format::ScenarioFile;
use tierwall_scenario::runner::{FileResult, run_scenario_observed};

/// The engine after each step of a scenario (label, engine).
pub fn scenario_engines(yaml: &str) -> Vec<(String, Engine)> {
    let file: ScenarioFile = serde_saphyr::from_str(yaml).expect("scenario parses");
    scenario_file_engines(&file)
}

pub fn scenario_file_engines(file: &ScenarioFile) -> Vec<(String, Engine)> {
    let mut out = Vec::new();
    let result = run_scenario_observed(file, &mut |label, engine| {
        out.push((label.to_string(), engine.clone()));
    });
    if let FileResult::Failed(f) = &result {
        panic!("scenario {} failed in engine mode: {f:?}", file.name);
    }
    out
}

/// Whether the tests run as root (privileged tests return early otherwise).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skips a privileged test (early return) when not root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: this test creates network namespaces and needs root");
            return;
        }
    };
}

/// Runs a command that must succeed; returns its stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A short name unique to this process and call.
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "{tag}{:x}",
        (std::process::id() ^ nanos.rotate_left(7)).wrapping_add(n) & 0xffffff
    )
}

/// A network namespace that exists for the guard's life (`ip netns add` / `ip netns del`).
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `tw-dp-<tag><random>`.
    pub fn new(tag: &str) -> Netns {
        let name = unique(&format!("tw-dp-{tag}"));
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn target(&self) -> NetnsTarget {
        NetnsTarget::Named(self.name.clone())
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Sets a sysctl inside the namespace (`net.ipv4.ip_forward` …) through /proc/sys, which
    /// shows the namespace of the process that opens it.
    pub fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.exec(&["sh", "-c", &format!("echo {value} > {path}")]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An ACNP with `n` ingress rules to `pod: a`: /32, /30 or /28 ipBlocks in 192.168.0.0/26 and
/// ports 80–83 or ranges, every action; overlaps are frequent, so runs start and end.
pub fn many_rules_scenario(seed: u64, n: usize) -> String {
    let mut rng = Rng(seed);
    let mut rules = String::new();
    for i in 0..n {
        let action = ["Allow", "Drop", "Reject", "Pass"][rng.below(4) as usize];
        let len = [32, 32, 32, 30, 28][rng.below(5) as usize];
        let addr = Ipv4Addr::new(
            192,
            168,
            0,
            (rng.below(64) as u8) & !((1u8 << (32 - len)) - 1),
        );
        let ports = match rng.below(4) {
            0 => "[{protocol: TCP, port: 80, endPort: 82}]".to_string(),
            1 => "[{protocol: TCP}]".to_string(),
            _ => format!("[{{protocol: TCP, port: {}}}]", 80 + rng.below(4)),
        };
        let _ = write!(
            rules,
            "\n    - name: r{i}\n      action: {action}\n      from: [{{ipBlock: {{cidr: {addr}/{len}}}}}]\n      ports: {ports}"
        );
    }
    format!(
        r#"
name: dp-merge
manifests: |
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata: {{name: many}}
  spec:
    priority: 1
    appliedTo:
    - podSelector:
        matchLabels: {{pod: a}}
    ingress:{rules}
steps:
- name: many rules
"#
    )
}
