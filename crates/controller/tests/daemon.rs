//! The controller daemon in engine-only mode over a real directory and a real HTTP server on
//! loopback: files written into the directory are picked up, a bad file or a rejected object is
//! reported with file:line and keeps the previous version in force, API writes land as files.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tierwall_controller::cluster_state::ClusterState;
use tierwall_controller::daemon::{Daemon, DaemonOptions};
use tierwall_controller::dataplane::NoDataplane;
use tierwall_controller::manifest_dir::ManifestDirSource;

/// A temporary manifest directory, removed at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("controller-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
    TempDir(p)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    p.display().to_string()
}

fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
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
    (
        code,
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

fn get(addr: SocketAddr, path: &str) -> Value {
    let (code, v) = request(addr, "GET", path, "");
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

/// Polls `f` until it returns `Ok` (at most 5 s); `Err` holds what was seen.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Result<T, Value>) -> T {
    let start = Instant::now();
    loop {
        let seen = match f() {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}; last seen: {seen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const CLUSTER: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n0, labels: {zone: a}}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.3}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: blue}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nspec: {nodeName: n0}\nstatus: {podIP: 10.0.0.1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: b}}\nspec: {nodeName: n1}\nstatus: {podIP: 10.0.0.2}\n";

/// An inventory-only object: stored and reported by `/inventory`, no policy semantics.
const EGRESS: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: eg, labels: {team: blue}}\nspec: {appliedTo: {podSelector: {matchLabels: {app: a}}}, externalIPPool: pool}\nstatus: {egressNode: n0, egressIP: 10.10.0.1}\n";

fn policy(tier: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {{name: p}}\nspec:\n  priority: 1\n  tier: {tier}\n  appliedTo: [{{podSelector: {{matchLabels: {{app: a}}}}}}]\n  ingress: [{{action: Drop, name: drop-all}}]\n"
    )
}

const TIER: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: nsx-category-application}\nspec: {priority: 52}\n";

const MANAGED: &str = r#"{"apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
 "metadata": {"name": "q", "labels": {"managed-by": "nsx"}},
 "spec": {"priority": 2, "appliedTo": [{"podSelector": {}}], "egress": [{"action": "Allow", "name": "out"}]}}"#;

fn status_of(addr: SocketAddr, key: &str) -> Value {
    get(addr, &format!("/status/{key}"))
}

#[test]
fn directory_changes_reach_status_and_objects_through_the_api() {
    let dir = temp_dir("engine");
    write(&dir.0, "cluster.yaml", CLUSTER);
    write(&dir.0, "egress.yaml", EGRESS);
    let policy_file = write(&dir.0, "policy.yaml", &policy("application"));

    let source = ManifestDirSource::new(&dir.0, Duration::from_millis(50));
    let state = ClusterState::start(Box::new(NoDataplane), Box::new(source))
        .unwrap_or_else(|e| panic!("{e}"));
    let daemon = Daemon::start(
        state,
        &DaemonOptions {
            poll_interval: Duration::from_millis(100),
            listen: Some("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"))),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let addr = daemon
        .api_addr()
        .unwrap_or_else(|| panic!("no API address"));
    let stop = daemon.stop_handle();
    let running = std::thread::spawn(move || {
        let mut log = Vec::new();
        let reason = daemon.run(&mut log);
        (reason, String::from_utf8_lossy(&log).into_owned())
    });

    // The initial state: the policy is realized on the one Node hosting x/a.
    let s = status_of(addr, "acnp/p");
    assert_eq!(s["phase"], "Realized", "{s}");
    assert_eq!(s["appliedGeneration"], 1, "{s}");
    assert_eq!(s["desiredNodesRealized"], 1, "{s}");
    assert_eq!(s["currentNodesRealized"], 1, "{s}");
    assert_eq!(s["source"], format!("{policy_file}:1"), "{s}");

    // A typo: the file does not load; reported with its line, the policy stays in force.
    std::fs::write(
        &policy_file,
        policy("application").replace("priority", "priorty"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let problems = eventually("the load problem", || {
        let p = get(addr, "/status")["problems"].clone();
        if p.as_array().is_some_and(|a| !a.is_empty()) {
            Ok(p)
        } else {
            Err(p)
        }
    });
    let text = problems[0]["text"].as_str().unwrap_or_default().to_string();
    assert!(
        text.starts_with(&format!("{policy_file}:5:")) && text.contains("priorty"),
        "{problems}"
    );
    assert_eq!(get(addr, "/objects/acnp/p")["spec"]["tier"], "application");

    // Admission rejects the new version (unknown Tier): Failed with file:line, object and field,
    // and the previous version stays in force.
    std::fs::write(&policy_file, policy("nsx-category-application"))
        .unwrap_or_else(|e| panic!("{e}"));
    let s = eventually("the rejection", || {
        let s = status_of(addr, "acnp/p");
        if s["phase"] == "Failed" {
            Ok(s)
        } else {
            Err(s)
        }
    });
    let error = s["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "{policy_file}:1:1: ClusterNetworkPolicy p: spec.tier: "
        )),
        "{s}"
    );
    assert_eq!(s["appliedGeneration"], 1, "{s}");
    assert!(
        get(addr, "/status")["problems"]
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    assert_eq!(get(addr, "/objects/acnp/p")["spec"]["tier"], "application");

    // The Tier arrives: the rejected policy is retried and applied.
    write(&dir.0, "tier.yaml", TIER);
    let s = eventually("the retried policy", || {
        let s = status_of(addr, "acnp/p");
        if s["phase"] == "Realized" {
            Ok(s)
        } else {
            Err(get(addr, "/status"))
        }
    });
    assert_eq!(s["appliedGeneration"], 2, "{s}");
    assert!(s.get("error").is_none(), "{s}");
    assert_eq!(
        get(addr, "/objects/acnp/p")["spec"]["tier"],
        "nsx-category-application"
    );

    // API writes land as files.
    let (code, v) = request(addr, "PUT", "/objects/acnp/q", MANAGED);
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["result"], "created");
    let q_file = dir.0.join("acnp_q.json");
    assert_eq!(v["file"], q_file.display().to_string());
    assert_eq!(v["status"]["phase"], "Realized", "{v}");
    assert_eq!(v["status"]["desiredNodesRealized"], 2, "{v}");
    let (code, v) = request(addr, "PUT", "/objects/acnp/q", MANAGED);
    assert_eq!(
        (code, v["result"].as_str()),
        (200, Some("unchanged")),
        "{v}"
    );
    let managed = get(addr, "/objects?kind=acnp&labelSelector=managed-by%3Dnsx");
    let names: Vec<&str> = managed["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, vec!["q"], "{managed}");

    // A rejected write writes nothing.
    let bad = MANAGED.replace("\"q\"", "\"r\"").replace("Allow", "Permit");
    let (code, v) = request(addr, "PUT", "/objects/acnp/r", &bad);
    assert_eq!(code, 422, "{v}");
    assert!(!dir.0.join("acnp_r.json").exists());
    // The body must be the object the path names.
    let (code, _) = request(addr, "PUT", "/objects/acnp/other", MANAGED);
    assert_eq!(code, 400);
    // An object defined in a shared file is not the API's to remove.
    let (code, v) = request(addr, "DELETE", "/objects/po/x/a", "");
    assert_eq!(code, 409, "{v}");

    // A Tier in use cannot be deleted: the file is not removed.
    std::fs::rename(
        dir.0.join("tier.yaml"),
        dir.0.join("tr_nsx-category-application.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, v) = request(addr, "DELETE", "/objects/tr/nsx-category-application", "");
    assert_eq!(code, 422, "{v}");
    assert!(dir.0.join("tr_nsx-category-application.yaml").exists());

    let (code, v) = request(addr, "DELETE", "/objects/acnp/q", "");
    assert_eq!((code, v["result"].as_str()), (200, Some("deleted")), "{v}");
    assert!(!q_file.exists());
    assert_eq!(request(addr, "GET", "/status/acnp/q", "").0, 404);

    // Inventory with labels.
    let inv = get(addr, "/inventory");
    assert_eq!(inv["nodes"][0]["labels"]["zone"], "a", "{inv}");
    assert_eq!(inv["namespaces"][0]["labels"]["team"], "blue", "{inv}");
    assert_eq!(inv["pods"][0]["ip"], "10.0.0.1", "{inv}");
    assert_eq!(inv["pods"][1]["node"], "n1", "{inv}");
    assert_eq!(inv["egresses"][0]["name"], "eg", "{inv}");
    assert_eq!(
        inv["egresses"][0]["egressIPs"],
        serde_json::json!(["10.10.0.1"]),
        "{inv}"
    );
    assert_eq!(inv["egresses"][0]["externalIPPool"], "pool", "{inv}");
    assert_eq!(inv["egresses"][0]["labels"]["team"], "blue", "{inv}");
    assert_eq!(inv["gateways"], serde_json::json!([]), "{inv}");
    // No dataplane, no statistics.
    assert_eq!(get(addr, "/stats")["items"], serde_json::json!([]));

    // The policy file goes: the policy is deleted.
    std::fs::remove_file(&policy_file).unwrap_or_else(|e| panic!("{e}"));
    eventually("the deletion", || {
        let (code, v) = request(addr, "GET", "/objects/acnp/p", "");
        if code == 404 { Ok(()) } else { Err(v) }
    });
    assert_eq!(request(addr, "GET", "/nothing", "").0, 404);

    stop.stop("test");
    let (reason, log) = running.join().unwrap_or_else(|_| panic!("daemon panicked"));
    assert_eq!(reason, "test");
    for expected in [
        format!("applied ClusterNetworkPolicy p from {policy_file}:1 (created, generation 1)"),
        format!("rejected {policy_file}:5:"),
        format!("rejected {policy_file}:1:1: ClusterNetworkPolicy p: spec.tier: "),
        "(the previous version stays in force)".to_string(),
        format!("applied ClusterNetworkPolicy p from {policy_file}:1 (configured, generation 2)"),
        format!(
            "deleted ClusterNetworkPolicy q (was {}:1)",
            q_file.display()
        ),
        format!("deleted ClusterNetworkPolicy p (was {policy_file}:1)"),
    ] {
        assert!(log.contains(&expected), "missing {expected:?} in\n{log}");
    }
}
