//! Privileged: statistics of a detached testbed through the built `tierwall` binary.
//! `testbed up -f` stores and enforces an ACNP (Allow 80, Drop 81 to x/a); real connections are
//! counted by `get stats` per rule; `apply` of a changed policy keeps the counters of unchanged
//! rules; a rejected apply changes nothing; `metrics --once` and the HTTP endpoint expose the
//! counters; `delete` and `testbed down` clean up (the testbed is removed even on failure).

mod common;

use common::{Guard, is_root, outcomes};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use tierwall_testbed::{Endpoint, Probe, Testbed, Transport};

fn tierwall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"))
}

fn ok(args: &[&str]) -> String {
    let o = tierwall(args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "tierwall {args:?} failed: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn manifest(name: &str, contents: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stats-tests");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{e}"));
    path
}

const BASE: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cnp1}
spec:
  priority: 1
  appliedTo:
  - podSelector: {matchLabels: {pod: a}}
    namespaceSelector: {matchLabels: {ns: x}}
  ingress:
  - action: Allow
    name: allow-80
    ports: [{protocol: TCP, port: 80}]
  - action: Drop
    name: drop-81
    ports: [{protocol: TCP, port: 81}]
"#;

const EXTRA_RULE: &str = r#"  - action: Reject
    name: reject-8080
    ports: [{protocol: TCP, port: 8080}]
"#;

const INVALID: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: other}
spec:
  priority: 2
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Drop}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: bad}
spec:
  tier: no-such-tier
  priority: 1
  appliedTo: [{podSelector: {}}]
  ingress: [{action: Drop}]
"#;

/// (SESSIONS, PACKETS, BYTES) of a row of the `get stats` table.
fn row(table: &str, name: &str, rule: &str) -> Option<(u64, u64, u64)> {
    table.lines().skip(1).find_map(|l| {
        let cells: Vec<&str> = l.split_whitespace().collect();
        // Cluster-scoped policies have an empty NAMESPACE cell: KIND NAME RULE S P B.
        let (n, r, nums) = match cells.len() {
            6 => (cells[1], cells[2], &cells[3..]),
            7 => (cells[2], cells[3], &cells[4..]),
            _ => return None,
        };
        if n != name || r != rule {
            return None;
        }
        let num = |i: usize| nums[i].parse::<u64>().ok();
        Some((num(0)?, num(1)?, num(2)?))
    })
}

fn probes(testbed: &Testbed, port: u16, n: usize) -> Vec<tierwall_engine::Outcome> {
    let dst = IpAddr::V4(testbed.pod_ip("x", "a").unwrap_or_else(|e| panic!("{e}")));
    let batch: Vec<Probe> = (0..n)
        .map(|i| {
            // From two Pods (the standard cluster spreads them over the Nodes).
            let src = if i % 2 == 0 {
                Endpoint::pod("y", "b")
            } else {
                Endpoint::pod("z", "c")
            };
            Probe::new(src, dst, Transport::Tcp(port))
        })
        .collect();
    outcomes(testbed, &batch)
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    s.read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{e}"));
    text
}

#[test]
fn stats_count_sessions_per_rule_and_survive_apply() {
    if !is_root() {
        eprintln!("SKIPPED stats_count_sessions_per_rule_and_survive_apply: needs root");
        return;
    }
    use tierwall_engine::Outcome::{Connected, Dropped, Rejected};
    const N: usize = 6;
    let prefix = format!("twst{}", std::process::id() % 100_000);
    let guard = Guard(prefix.clone());
    let base = manifest("base.yaml", BASE);
    let changed = manifest("changed.yaml", &format!("{BASE}{EXTRA_RULE}"));
    let invalid = manifest("invalid.yaml", INVALID);

    let out = ok(&[
        "testbed",
        "up",
        "--prefix",
        &prefix,
        "-f",
        &base.display().to_string(),
    ]);
    assert_eq!(out.trim(), prefix);
    let objects = tierwall_lab::persisted::objects_path(&prefix);
    assert!(objects.exists(), "{} missing", objects.display());

    let testbed = Testbed::attach(&prefix).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(probes(&testbed, 80, N), vec![Connected; N]);
    assert_eq!(probes(&testbed, 81, N), vec![Dropped; N]);

    let table = ok(&["get", "stats", "--testbed", &prefix]);
    assert!(
        table.starts_with("KIND ") && table.lines().next().unwrap_or_default().ends_with("BYTES"),
        "{table}"
    );
    let n = N as u64;
    let allow = row(&table, "cnp1", "allow-80").unwrap_or_else(|| panic!("{table}"));
    let dropped = row(&table, "cnp1", "drop-81").unwrap_or_else(|| panic!("{table}"));
    assert_eq!((allow.0, allow.1), (n, n), "{table}");
    // A dropped SYN is never committed to conntrack, so a retransmission (Linux resends after
    // about 1 s, the probe's timeout) is a new packet the rule decides again: every dropped
    // packet counts as a session, and a loaded machine may resend some of them.
    assert_eq!(dropped.0, dropped.1, "{table}");
    assert!((n..=3 * n).contains(&dropped.0), "{table}");
    let dropped_sessions = dropped.0;
    assert!(allow.2 >= 40 * n, "bytes of the first packets: {table}");
    assert_eq!(
        row(&table, "cnp1", "(total)").map(|t| t.0),
        Some(n + dropped_sessions),
        "{table}"
    );

    // JSON: Antrea-style stats objects.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["get", "stats", "--testbed", &prefix, "-o", "json"]))
            .unwrap_or_else(|e| panic!("{e}"));
    let item = &json["items"][0];
    assert_eq!(item["kind"], "AntreaClusterNetworkPolicyStats");
    assert_eq!(item["trafficStats"]["sessions"], n + dropped_sessions);
    assert_eq!(item["ruleTrafficStats"][0]["name"], "allow-80");
    assert_eq!(item["ruleTrafficStats"][0]["trafficStats"]["sessions"], n);

    // A rejected apply changes nothing (and says where).
    let before = std::fs::read(&objects).unwrap_or_else(|e| panic!("{e}"));
    let o = tierwall(&[
        "apply",
        "--testbed",
        &prefix,
        "-f",
        &invalid.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "{}:13:3: ClusterNetworkPolicy bad: spec.tier: ",
            invalid.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing applied"), "{err}");
    assert_eq!(std::fs::read(&objects).unwrap_or_default(), before);

    // A changed policy (one more rule): the counters of the unchanged rules are kept.
    let out = ok(&[
        "apply",
        "--testbed",
        &prefix,
        "-f",
        &changed.display().to_string(),
    ]);
    assert_eq!(out, "clusternetworkpolicy.crd.antrea.io/cnp1 configured\n");
    let table = ok(&["get", "stats", "--testbed", &prefix]);
    assert_eq!(
        row(&table, "cnp1", "allow-80").map(|t| t.0),
        Some(n),
        "{table}"
    );
    assert_eq!(
        row(&table, "cnp1", "drop-81").map(|t| t.0),
        Some(dropped_sessions),
        "{table}"
    );
    assert_eq!(
        row(&table, "cnp1", "reject-8080").map(|t| t.0),
        Some(0),
        "{table}"
    );
    assert_eq!(probes(&testbed, 8080, 3), vec![Rejected; 3]);
    assert_eq!(probes(&testbed, 80, 2), vec![Connected; 2]);
    let table = ok(&["get", "stats", "--testbed", &prefix]);
    assert_eq!(
        row(&table, "cnp1", "reject-8080").map(|t| t.0),
        Some(3),
        "{table}"
    );
    assert_eq!(
        row(&table, "cnp1", "allow-80").map(|t| t.0),
        Some(n + 2),
        "{table}"
    );
    // Applying the same again is "unchanged" and still keeps every counter.
    let out = ok(&[
        "apply",
        "--testbed",
        &prefix,
        "-f",
        &changed.display().to_string(),
    ]);
    assert_eq!(out, "clusternetworkpolicy.crd.antrea.io/cnp1 unchanged\n");
    let table = ok(&["get", "stats", "--testbed", &prefix]);
    assert_eq!(
        row(&table, "cnp1", "allow-80").map(|t| t.0),
        Some(n + 2),
        "{table}"
    );

    // Prometheus: --once, and the HTTP endpoint. The rules count on x/a's Node.
    let node = testbed.layout().pods["x/a"].node.clone();
    let series = |metric: &str, rule: &str, v: u64| {
        format!(
            "tierwall_rule_{metric}_total{{policy_kind=\"AntreaClusterNetworkPolicy\",namespace=\"\",policy=\"cnp1\",rule=\"{rule}\",direction=\"ingress\",node=\"{node}\"}} {v}\n"
        )
    };
    let text = ok(&["metrics", "--testbed", &prefix, "--once"]);
    assert!(
        text.contains(&series("sessions", "allow-80", n + 2)),
        "{text}"
    );
    assert!(
        text.contains(&series("packets", "drop-81", dropped_sessions)),
        "{text}"
    );
    assert!(
        text.contains(&series("sessions", "reject-8080", 3)),
        "{text}"
    );
    assert!(
        text.contains("# TYPE tierwall_rule_bytes counter"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");

    let server = std::sync::Arc::new(
        tierwall_lab::metrics::MetricsServer::bind(
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            &prefix,
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let addr = server.local_addr().unwrap_or_else(|| panic!("no address"));
    let serving = {
        let s = server.clone();
        std::thread::spawn(move || s.serve())
    };
    let response = http_get(addr, "/metrics");
    let missing = http_get(addr, "/other");
    server.unblock();
    let _ = serving.join();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("Content-Type: application/openmetrics-text"),
        "{response}"
    );
    assert!(
        response.contains(&series("sessions", "drop-81", dropped_sessions)),
        "{response}"
    );
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    // delete: the policy is gone from the stats and the traffic is no longer dropped.
    let out = ok(&["delete", "--testbed", &prefix, "acnp/cnp1"]);
    assert_eq!(out, "clusternetworkpolicy.crd.antrea.io \"cnp1\" deleted\n");
    let table = ok(&["get", "stats", "--testbed", &prefix]);
    assert!(!table.contains("cnp1"), "{table}");
    assert_eq!(probes(&testbed, 81, 2), vec![Connected; 2]);

    // down removes the stored objects with the testbed.
    ok(&["testbed", "down", &prefix]);
    assert!(!tierwall_testbed::state::data_dir(&prefix).exists());
    drop(guard);
}
