//! `tierwall controller` as a real process: files dropped into the watched directory are
//! admitted and applied, the HTTP API on loopback reports them, a bad file is reported with
//! file:line and keeps the previous version, SIGTERM stops it cleanly. The privileged test runs
//! it over a testbed (root): a policy file changes what real probes see, removing the file
//! restores traffic (the testbed is removed even on failure).

mod common;

use common::{
    Guard, Proc, eventually, is_root, outcomes, request, request_with_body, standard_testbed,
    temp_dir,
};
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// The controller process (killed when dropped; stderr collected) and its API address.
struct Controller {
    process: Proc,
    addr: SocketAddr,
}

impl Controller {
    fn start(args: &[&str]) -> Controller {
        let mut all = vec!["controller"];
        all.extend_from_slice(args);
        all.extend(["--listen", "127.0.0.1:0", "--poll-ms", "100"]);
        let mut process = Proc::spawn(&all, true);
        let addr = process
            .first_line
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            process.kill_9();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "no API address on stdout ({:?}); stderr:\n{}",
                process.first_line,
                process.log()
            );
        };
        Controller { process, addr }
    }
}

/// How long a file takes at most to be applied (or its removal to be seen).
const LIMIT: Duration = Duration::from_secs(10);

fn phase_of(addr: SocketAddr, key: &str) -> (String, Value) {
    let (_, s) = request(addr, "GET", &format!("/status/{key}"));
    (s["phase"].as_str().unwrap_or_default().to_string(), s)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    p.display().to_string()
}

const CLUSTER: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n0}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nspec: {nodeName: n0}\nstatus: {podIP: 10.0.0.1}\n";

const POLICY: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec:\n  priority: 1\n  appliedTo: [{podSelector: {matchLabels: {app: a}}}]\n  ingress: [{action: Drop, name: drop-81, ports: [{protocol: TCP, port: 81}]}]\n";

#[test]
fn controller_process_applies_files_and_stops_on_sigterm() {
    let dir = temp_dir("engine");
    write(&dir, "cluster.yaml", CLUSTER);
    let mut c = Controller::start(&["--manifests", &dir.display().to_string()]);
    let (code, health) = request(c.addr, "GET", "/healthz");
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["dataplane"], "no dataplane (engine only)");

    let file = write(&dir, "policy.yaml", POLICY);
    let s = eventually("the policy", LIMIT, || match phase_of(c.addr, "acnp/p") {
        (p, s) if p == "Realized" => Ok(s),
        (_, s) => Err(s.to_string()),
    });
    assert_eq!(s["appliedGeneration"], 1, "{s}");
    assert_eq!(s["desiredNodesRealized"], 1, "{s}");

    // An invalid value: rejected by admission, reported with file:line, field; generation 1 stays.
    std::fs::write(&file, POLICY.replace("action: Drop", "action: Deny"))
        .unwrap_or_else(|e| panic!("{e}"));
    let s = eventually("the rejection", LIMIT, || {
        match phase_of(c.addr, "acnp/p") {
            (p, s) if p == "Failed" => Ok(s),
            (_, s) => Err(s.to_string()),
        }
    });
    let error = s["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "{file}:7:3: ClusterNetworkPolicy p: spec.ingress[0].action: "
        )),
        "{s}"
    );
    assert_eq!(s["appliedGeneration"], 1, "{s}");
    let (_, o) = request(c.addr, "GET", "/objects/acnp/p");
    assert_eq!(o["spec"]["ingress"][0]["action"], "Drop", "{o}");

    assert!(
        c.process.terminate(),
        "SIGTERM: not a clean exit\n{}",
        c.process.log()
    );
    let log = c.process.log();
    assert!(
        log.contains(&format!(
            "applied ClusterNetworkPolicy p from {file}:1 (created, generation 1)"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "rejected {file}:7:3: ClusterNetworkPolicy p: spec.ingress[0].action: "
        )),
        "{log}"
    );
    assert!(
        log.contains("tierwall controller: stopped (SIGTERM)"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const TESTBED_POLICY: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cnp1}
spec:
  priority: 1
  appliedTo:
  - podSelector: {matchLabels: {pod: a}}
    namespaceSelector: {matchLabels: {ns: x}}
  ingress:
  - action: Drop
    name: drop-80
    ports: [{protocol: TCP, port: 80}]
"#;

#[test]
fn controller_over_a_testbed_enforces_dropped_files() {
    if !is_root() {
        eprintln!("SKIPPED controller_over_a_testbed_enforces_dropped_files: needs root");
        return;
    }
    use tierwall_engine::Outcome::{Connected, Dropped};
    use tierwall_testbed::{Endpoint, Probe, Transport};
    let prefix = format!("twct{}", std::process::id() % 100_000);
    let guard = Guard(prefix.clone());
    let testbed = standard_testbed(&prefix);
    let dst = IpAddr::V4(testbed.pod_ip("x", "a").unwrap_or_else(|e| panic!("{e}")));
    let probe = |n: usize| -> Vec<tierwall_engine::Outcome> {
        let batch: Vec<Probe> = (0..n)
            .map(|_| Probe::new(Endpoint::pod("y", "b"), dst, Transport::Tcp(80)))
            .collect();
        outcomes(&testbed, &batch)
    };
    assert_eq!(probe(2), vec![Connected; 2], "before the controller");

    let dir = temp_dir("testbed");
    let mut c = Controller::start(&[
        "--manifests",
        &dir.display().to_string(),
        "--testbed",
        &prefix,
    ]);
    let (_, inv) = request(c.addr, "GET", "/inventory");
    assert!(
        inv["pods"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["namespace"] == "x" && p["name"] == "a")),
        "the testbed's Pods are the inventory: {inv}"
    );

    let file = write(&dir, "cnp1.yaml", TESTBED_POLICY);
    let s = eventually("the policy on the Nodes", LIMIT, || {
        match phase_of(c.addr, "acnp/cnp1") {
            (p, s) if p == "Realized" => Ok(s),
            (_, s) => Err(s.to_string()),
        }
    });
    assert_eq!(s["source"], format!("{file}:1"), "{s}");
    assert_eq!(s["desiredNodesRealized"], 1, "{s}");
    assert_eq!(s["currentNodesRealized"], 1, "{s}");
    assert_eq!(probe(3), vec![Dropped; 3], "with the policy file");

    // Statistics from the named counters: every dropped SYN is a session.
    let (code, stats) = request(c.addr, "GET", "/stats");
    assert_eq!(code, 200, "{stats}");
    let rule = &stats["items"][0]["ruleTrafficStats"][0];
    assert_eq!(rule["name"], "drop-80", "{stats}");
    assert!(
        rule["trafficStats"]["sessions"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{stats}"
    );
    // The testbed's stored objects follow the controller (for `get stats --testbed`).
    let stored =
        std::fs::read_to_string(tierwall_lab::persisted::objects_path(&prefix)).unwrap_or_default();
    assert!(stored.contains("\"cnp1\""), "objects.json: {stored}");

    // Moving a Pod to a Node the cluster does not have is refused (the testbed cannot run it).
    let (code, v) = request_with_body(
        c.addr,
        "PUT",
        "/objects/po/x/a",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {nodeName: elsewhere}\n",
    );
    assert_eq!(code, 422, "{v}");

    std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{e}"));
    eventually("the deletion", LIMIT, || {
        match phase_of(c.addr, "acnp/cnp1") {
            (p, _) if p.is_empty() => Ok(()),
            (_, s) => Err(s.to_string()),
        }
    });
    assert_eq!(probe(2), vec![Connected; 2], "the file is gone");

    assert!(
        c.process.terminate(),
        "SIGTERM: not a clean exit\n{}",
        c.process.log()
    );
    let log = c.process.log();
    assert!(log.contains("applied ClusterNetworkPolicy cnp1"), "{log}");
    assert!(log.contains("deleted ClusterNetworkPolicy cnp1"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
    drop(guard);
}
