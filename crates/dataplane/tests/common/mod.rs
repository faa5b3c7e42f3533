//! Shared helpers of the dataplane tests: engines from scenario text, throwaway network
//! namespaces (removed by a Drop guard, even when the test panics), commands that must work.

#![allow(dead_code)]

pub mod net;
pub mod sim;

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
