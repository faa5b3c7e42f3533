//! Privileged end-to-end test of the NSX spec's Examples 1, 2 and 3 with real processes: a
//! manager (HTTPS), cluster `c1` on a network-namespace testbed (Namespaces a, b, c with one Pod
//! each, Namespace a labelled `SomeK8sLabel=SomeK8sLabelValue`, externals in and outside
//! 192.168.100.0/24) and cluster `c2` without a dataplane, each with its controller and adapter.
//!
//! * The three examples are created through the REST API, every policy spanning both clusters;
//!   each becomes an ACNP in each cluster and is realized there.
//! * Example 1 ("test-policy", Reject): real probes from a/p to the external in the group's
//!   networks are rejected; to an external outside them, and from c/p, they connect.
//! * The "Comparing Examples 2 and 3" table: the rules' `disabled` is toggled to get each row
//!   (both, only Example 2, only Example 3, neither) and the Pod-to-Pod matrix on TCP 80 plus
//!   b/p to the external is probed on the testbed.
//! * Drift: a hand edit of an ACNP in c1 is overwritten by the adapter.
//! * `kill -9` of the manager and a restart on the same data and port: every acknowledged object
//!   is still there unchanged, and c1's adapter reports its statistics to the new process.
//!   `an_adapter_follows_changes_made_after_a_manager_kill_9` (no root needed) checks that a
//!   change made after the restart reaches a cluster and that heartbeats go on.
//! * Per-cluster statistics: the sessions of Example 1's rule in c1 equal the connections sent,
//!   c2 counts none (also as `tierwall nsx get stats` prints them).
//!
//! The testbed is removed even on failure. Without root the test prints a SKIPPED line.

mod common;

use common::{
    BASE, Backend, CCP, Cluster, Guard, Manager, PASSWORD, eventually, is_root, outcomes, request,
    request_with_body, span_path, temp_dir, wait_healthy,
};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tierwall_engine::Outcome::{self, Connected, Rejected};
use tierwall_testbed::{Endpoint, Probe, ProbeHelperCommand, Testbed, TestbedOptions, Transport};

/// Nodes, Namespaces a, b, c and Pods a/p, b/p, c/p serving TCP 80: the testbed of c1 and the
/// inventory of c2.
const CLUSTER: &str = r#"apiVersion: v1
kind: Node
metadata: {name: node-0}
status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 172.18.0.3}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {kubernetes.io/metadata.name: a, SomeK8sLabel: SomeK8sLabelValue}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {kubernetes.io/metadata.name: b}}
---
apiVersion: v1
kind: Namespace
metadata: {name: c, labels: {kubernetes.io/metadata.name: c}}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a, labels: {app: p}}
spec: {nodeName: node-0, containers: [{name: c, ports: [{containerPort: 80}]}]}
status: {podIP: 10.10.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: b, labels: {app: p}}
spec: {nodeName: node-1, containers: [{name: c, ports: [{containerPort: 80}]}]}
status: {podIP: 10.10.2.12}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: c, labels: {app: p}}
spec: {nodeName: node-0, containers: [{name: c, ports: [{containerPort: 80}]}]}
status: {podIP: 10.10.3.13}
"#;

/// In Example 1's "test-ip-addresses" (192.168.100.0/24) and outside it.
const EXT_IN: &str = "192.168.100.10";
const EXT_OUT: &str = "192.168.150.10";

const GROUPS: &str = "/infra/domains/default/groups";
const POLICIES: &str = "/infra/domains/default/security-policies";
const EXAMPLE_1: &str = "test-policy";
const EXAMPLE_2: &str = "allow-from-b";
const EXAMPLE_3: &str = "allow-to-a";
const CLUSTERS: [&str; 2] = ["c1", "c2"];

/// Builds the testbed of [`CLUSTER`] with the two externals (as `tierwall testbed up` does,
/// plus externals) and leaves it running.
fn testbed_up(prefix: &str, dir: &std::path::Path) -> Testbed {
    let manifest = dir.join("cluster.yaml");
    std::fs::write(&manifest, CLUSTER).unwrap_or_else(|e| panic!("{e}"));
    let args = tierwall_cli::input::InputArgs {
        files: vec![manifest],
        cluster: Some(tierwall_cli::input::ClusterChoice::Inputs),
    };
    let mut notes = Vec::new();
    let engine = tierwall_cli::input::build_engine(&args, &mut notes)
        .unwrap_or_else(|e| panic!("the cluster manifests: {e:#}"));
    let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
    let options = TestbedOptions {
        prefix: Some(prefix.to_string()),
        probe_helper: Some(ProbeHelperCommand {
            program: env!("CARGO_BIN_EXE_tierwall").into(),
            args: vec!["testbed".into(), "probe-helper".into()],
        }),
        ..TestbedOptions::with_externals(vec![
            ("ext-in".to_string(), ip(EXT_IN)),
            ("ext-out".to_string(), ip(EXT_OUT)),
        ])
    };
    let testbed =
        Testbed::up(engine.cluster(), options).unwrap_or_else(|e| panic!("testbed up: {e}"));
    tierwall_lab::persisted::save(testbed.prefix(), &engine).unwrap_or_else(|e| panic!("{e}"));
    tierwall_lab::persisted::enforce(&testbed, &engine, false).unwrap_or_else(|e| panic!("{e}"));
    let prefix = testbed.detach();
    Testbed::attach(&prefix).unwrap_or_else(|e| panic!("{e}"))
}

fn group_path(id: &str) -> String {
    format!("{GROUPS}/{id}")
}

fn policy_path(id: &str) -> String {
    format!("{POLICIES}/{id}")
}

/// Examples 1, 2 and 3 as the spec's steps describe them, over REST; every policy spans
/// `clusters` (the policy-level Applied-to "selects some Antrea Container Clusters").
fn create_examples(manager: &Manager, clusters: &[&str]) {
    let put_group = |id: &str, expression: Value| {
        manager.ok(
            "PUT",
            &format!("/policy/api/v1{}", group_path(id)),
            Some(json!({"display_name": id, "group_type": ["ANTREA"], "expression": expression})),
        );
    };
    // Example 1, steps 1-2.
    put_group(
        "test-namespaces",
        json!([{"resource_type": "Condition", "member_type": "Namespace", "key": "Tag",
            "operator": "EQUALS", "value": "SomeK8sLabel|SomeK8sLabelValue", "scope_operator": "EQUALS"}]),
    );
    put_group(
        "test-ip-addresses",
        json!([{"resource_type": "IPAddressExpression",
            "ip_addresses": ["192.168.100.0/24", "192.168.200.0/24"]}]),
    );
    // Examples 2 and 3, steps 1-2.
    for (id, namespace) in [("namespace-a", "a"), ("namespace-b", "b")] {
        put_group(
            id,
            json!([{"resource_type": "Condition", "member_type": "Namespace", "key": "Name",
                "operator": "EQUALS", "value": namespace}]),
        );
    }
    let policy = |id: &str, sequence: u32, rules: Value| {
        manager.ok(
            "PUT",
            &format!("/policy/api/v1{}", policy_path(id)),
            Some(json!({"display_name": id, "category": "Application",
                "sequence_number": sequence, "rules": rules})),
        );
        for cluster in clusters {
            manager.ok(
                "PUT",
                &format!(
                    "/policy/api/v1{}/container-cluster-span/{cluster}",
                    policy_path(id)
                ),
                Some(json!({"container_cluster_path": span_path(cluster)})),
            );
        }
    };
    // Example 1, steps 3-4: applied to test-namespaces, destinations test-ip-addresses, Reject.
    policy(
        EXAMPLE_1,
        1,
        json!([{"id": "to-test-ips", "sequence_number": 1, "action": "REJECT", "direction": "OUT",
            "scope": [group_path("test-namespaces")],
            "destination_groups": [group_path("test-ip-addresses")]}]),
    );
    // Example 2, steps 3-5: the Allow from namespace-b inserted before the Drop (direction In).
    policy(
        EXAMPLE_2,
        2,
        json!([
            {"id": "allow", "sequence_number": 1, "action": "ALLOW", "direction": "IN",
             "scope": [group_path("namespace-a")], "source_groups": [group_path("namespace-b")]},
            {"id": "drop", "sequence_number": 2, "action": "DROP", "direction": "IN",
             "scope": [group_path("namespace-a")]}]),
    );
    // Example 3, steps 3-5: the Allow to namespace-a before the Drop (direction Out).
    policy(
        EXAMPLE_3,
        3,
        json!([
            {"id": "allow", "sequence_number": 1, "action": "ALLOW", "direction": "OUT",
             "scope": [group_path("namespace-b")], "destination_groups": [group_path("namespace-a")]},
            {"id": "drop", "sequence_number": 2, "action": "DROP", "direction": "OUT",
             "scope": [group_path("namespace-b")]}]),
    );
}

/// Turns both rules of Example 2 or 3 on or off (the rule toggle of the UI).
fn set_enabled(manager: &Manager, policy: &str, enabled: bool) {
    for rule in ["allow", "drop"] {
        manager.ok(
            "PATCH",
            &format!("/policy/api/v1{}/rules/{rule}", policy_path(policy)),
            Some(json!({"disabled": !enabled})),
        );
    }
}

/// Waits until every example policy is realized (the current version) in both clusters.
fn wait_realized(manager: &Manager, c1: &Cluster, what: &str) {
    eventually(what, Duration::from_secs(20), || {
        for policy in [EXAMPLE_1, EXAMPLE_2, EXAMPLE_3] {
            let (_, st) = manager.http.try_call(
                "GET",
                &format!(
                    "{}{BASE}/realized-state/status?intent_path={}",
                    manager.base,
                    policy_path(policy)
                ),
                None,
            );
            let per: Vec<&str> = st["consolidated_status_per_enforcement_point"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["consolidated_status"]["consolidated_status"].as_str())
                .collect();
            if per != ["SUCCESS", "SUCCESS"] {
                return Err(format!("{policy}: {st}\n{}", c1.logs()));
            }
        }
        Ok(())
    });
}

/// The probes of one row of the table: every Pod to every other Pod on TCP 80, and b/p to the
/// external (B "sends anywhere" or "only to A"); `from→to` of those that connected.
fn connected(testbed: &Testbed) -> Vec<String> {
    let pods = ["a", "b", "c"];
    let mut probes = Vec::new();
    let mut names = Vec::new();
    for from in pods {
        for to in pods.iter().filter(|t| **t != from) {
            let dst = IpAddr::V4(testbed.pod_ip(to, "p").unwrap_or_else(|e| panic!("{e}")));
            probes.push(Probe::new(
                Endpoint::pod(from, "p"),
                dst,
                Transport::Tcp(80),
            ));
            names.push(format!("{from}→{to}"));
        }
    }
    let ext = IpAddr::V4(
        testbed
            .external_ip("ext-out")
            .unwrap_or_else(|e| panic!("{e}")),
    );
    probes.push(Probe::new(Endpoint::pod("b", "p"), ext, Transport::Tcp(80)));
    names.push("b→ext".to_string());
    let results = testbed
        .probe_many(&probes)
        .unwrap_or_else(|e| panic!("{e}"));
    names
        .into_iter()
        .zip(results)
        .filter(|(_, r)| r.outcome == Connected)
        .map(|(n, _)| n)
        .collect()
}

/// `n` probes from `pod` (namespace/name `ns`/p) to an external.
fn probe_external(testbed: &Testbed, ns: &str, ext: &str, n: usize) -> Vec<Outcome> {
    let dst = IpAddr::V4(testbed.external_ip(ext).unwrap_or_else(|e| panic!("{e}")));
    let probes: Vec<Probe> = (0..n)
        .map(|_| Probe::new(Endpoint::pod(ns, "p"), dst, Transport::Tcp(80)))
        .collect();
    outcomes(testbed, &probes)
}

/// Session count of Example 1's rule reported for `cluster`.
fn example_1_sessions(manager: &Manager, cluster: &str) -> Option<u64> {
    let query = span_path(cluster).replace('/', "%2F");
    let (status, stats) = manager.http.try_call(
        "GET",
        &format!(
            "{}/policy/api/v1{}/statistics?container_cluster_path={query}",
            manager.base,
            policy_path(EXAMPLE_1)
        ),
        None,
    );
    if status != 200 {
        return None;
    }
    stats["results"][0]["statistics"]["results"][0]["session_count"].as_u64()
}

/// What the manager acknowledged: every group, and every policy with its rules and spans.
fn acknowledged(manager: &Manager) -> Value {
    let groups = manager.ok("GET", &format!("/policy/api/v1{GROUPS}"), None);
    let mut policies = Vec::new();
    for id in [EXAMPLE_1, EXAMPLE_2, EXAMPLE_3] {
        let path = policy_path(id);
        policies.push(json!({
            "policy": manager.ok("GET", &format!("/policy/api/v1{path}"), None),
            "spans": manager.ok("GET", &format!("/policy/api/v1{path}/container-cluster-span"), None),
        }));
    }
    json!({"groups": groups["results"], "policies": policies,
           "clusters": manager.ok("GET", CCP, None)["results"]})
}

/// `_last_modified_time` of cluster `id`'s heartbeat in a status list.
fn heartbeat_of(status: &Value, id: &str) -> i64 {
    status["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["cluster_control_plane_id"] == id)
        .and_then(|r| r["_last_modified_time"].as_i64())
        .unwrap_or(0)
}

fn acnp_named(cluster: &Cluster, display_name: &str) -> Option<Value> {
    cluster.managed_acnps().into_iter().find(|a| {
        a["metadata"]["annotations"]["ccp-adapter.antrea.tanzu.vmware.com/display-name"]
            == display_name
    })
}

#[test]
fn the_specs_examples_1_2_3_are_enforced_from_the_manager_and_survive_its_kill_9() {
    if !is_root() {
        eprintln!(
            "SKIPPED the_specs_examples_1_2_3_are_enforced_from_the_manager_and_survive_its_kill_9: needs root"
        );
        return;
    }
    let started = Instant::now();
    let prefix = format!("twnx{}", std::process::id() % 100_000);
    let guard = Guard(prefix.clone());
    let dir = temp_dir("nsx-examples");
    let testbed = testbed_up(&prefix, &dir);

    let data = dir.join("manager");
    let mut manager = Manager::start(&data);
    let c1 = Cluster::start("c1", &manager, &dir, Backend::Testbed(&prefix));
    let c2 = Cluster::start("c2", &manager, &dir, Backend::Inventory(CLUSTER));
    wait_healthy(
        &manager,
        &[&c1, &c2],
        "both clusters HEALTHY",
        Duration::from_secs(15),
    );

    // Before any policy everything connects.
    assert_eq!(
        connected(&testbed),
        ["a→b", "a→c", "b→a", "b→c", "c→a", "c→b", "b→ext"]
    );
    create_examples(&manager, &CLUSTERS);
    wait_realized(&manager, &c1, "the three examples realized in c1 and c2");
    // A policy spanning both clusters is an ACNP in each, admitted and realized there.
    for c in [&c1, &c2] {
        let mut names: Vec<String> = c
            .managed_acnps()
            .iter()
            .filter_map(|a| {
                a["metadata"]["annotations"]["ccp-adapter.antrea.tanzu.vmware.com/display-name"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        assert_eq!(names, [EXAMPLE_2, EXAMPLE_3, EXAMPLE_1], "{}", c.id);
    }

    // Example 1: a/p (Namespace labelled SomeK8sLabel=SomeK8sLabelValue) cannot reach the
    // networks of test-ip-addresses; other addresses and other Namespaces are not filtered.
    let rejected_before_restart = 3;
    assert_eq!(
        probe_external(&testbed, "a", "ext-in", rejected_before_restart),
        vec![Rejected; rejected_before_restart],
        "{}",
        c1.logs()
    );
    assert_eq!(probe_external(&testbed, "a", "ext-out", 1), [Connected]);
    assert_eq!(probe_external(&testbed, "c", "ext-in", 1), [Connected]);

    // Row 3 of the table: both enabled. A accepts only from B; B sends only to A.
    let both = ["a→b", "a→c", "b→a", "c→b"];
    assert_eq!(connected(&testbed), both, "both examples enabled");

    // Drift: Example 2's Drop edited into an Allow by hand in c1 is overwritten.
    let original = acnp_named(&c1, EXAMPLE_2).unwrap_or_else(|| panic!("{}", c1.logs()));
    let name = original["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut edited = json!({"apiVersion": original["apiVersion"], "kind": original["kind"],
        "metadata": {"name": name, "labels": original["metadata"]["labels"],
                     "annotations": original["metadata"]["annotations"]},
        "spec": original["spec"]});
    let ingress = edited["spec"]["ingress"]
        .as_array_mut()
        .unwrap_or_else(|| panic!("no ingress rules: {original}"));
    assert_eq!(ingress.len(), 2, "{original}");
    ingress[1]["action"] = json!("Allow");
    let (code, answer) = request_with_body(
        c1.addr,
        "PUT",
        &format!("/objects/acnp/{name}"),
        &edited.to_string(),
    );
    assert!(code == 200 || code == 201, "{code} {answer}");
    // The controller applies the written file asynchronously: the adapter's log says when it
    // saw the edit and wrote its own version back.
    eventually(
        "the hand edit overwritten in c1",
        Duration::from_secs(10),
        || {
            let updated = c1.adapter.log().contains(&format!("updated acnp/{name}"));
            match request(c1.addr, "GET", &format!("/objects/acnp/{name}")) {
                (200, now) if updated && now["spec"] == original["spec"] => Ok(()),
                (code, now) => Err(format!("updated: {updated}; {code} {}", now["spec"])),
            }
        },
    );
    wait_realized(&manager, &c1, "realized again after the drift");
    assert_eq!(connected(&testbed), both, "after the drift is overwritten");

    // Row 1: only Example 2. A accepts only from B; B sends anywhere (B→C, B→external).
    set_enabled(&manager, EXAMPLE_3, false);
    wait_realized(&manager, &c1, "Example 3 disabled");
    assert_eq!(
        connected(&testbed),
        ["a→b", "a→c", "b→a", "b→c", "c→b", "b→ext"],
        "only Example 2 enabled"
    );
    // Row 2: only Example 3. A accepts from anywhere (C→A); B sends only to A (B→C and
    // B→external dropped).
    set_enabled(&manager, EXAMPLE_2, false);
    set_enabled(&manager, EXAMPLE_3, true);
    wait_realized(&manager, &c1, "only Example 3 enabled");
    assert_eq!(
        connected(&testbed),
        ["a→b", "a→c", "b→a", "c→a", "c→b"],
        "only Example 3 enabled"
    );
    // Neither: everything connects again.
    set_enabled(&manager, EXAMPLE_3, false);
    wait_realized(&manager, &c1, "both disabled");
    assert_eq!(
        connected(&testbed),
        ["a→b", "a→c", "b→a", "b→c", "c→a", "c→b", "b→ext"],
        "neither enabled"
    );

    // kill -9 the manager, restart it on the same data and port: nothing acknowledged is lost,
    // and c1's adapter reports its statistics to the new process (below).
    let before = acknowledged(&manager);
    let listen = manager.listen_addr();
    manager.process.kill_9();
    drop(manager);
    let manager = Manager::start_on(&data, &listen, false);
    assert_eq!(acknowledged(&manager), before, "the state after kill -9");
    // Per-cluster statistics, reported to the restarted manager: Example 1's rule counted every
    // rejected connection in c1 (before and after the restart), none in c2.
    let rejected_after_restart = 2;
    assert_eq!(
        probe_external(&testbed, "a", "ext-in", rejected_after_restart),
        vec![Rejected; rejected_after_restart]
    );
    let sent = (rejected_before_restart + rejected_after_restart) as u64;
    eventually(
        "c1's statistics",
        Duration::from_secs(10),
        || match example_1_sessions(&manager, "c1") {
            Some(n) if n == sent => Ok(()),
            seen => Err(format!("{seen:?}\n{}", c1.logs())),
        },
    );
    assert_eq!(example_1_sessions(&manager, "c2"), Some(0), "c2 sent none");
    let table = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["nsx", "get", "stats", "--policy", EXAMPLE_1, "--manager"])
        .arg(&manager.base)
        .arg("--ca")
        .arg(manager.ca.as_ref().unwrap_or_else(|| panic!("no CA")))
        .env("TIERWALL_ADMIN_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let table = String::from_utf8_lossy(&table.stdout);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec![EXAMPLE_1, "to-test-ips", "c1", "5", "5", "300", "5"],
            vec![EXAMPLE_1, "to-test-ips", "c2", "0", "0", "0", "0"],
        ],
        "{table}"
    );
    eprintln!(
        "nsx examples end to end: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(c1);
    drop(c2);
    drop(manager);
    drop(testbed);
    let _ = std::fs::remove_dir_all(&dir);
    drop(guard);
}

/// A change made after the manager's `kill -9` and restart reaches the cluster: the adapter's
/// desired-state long poll must recover from the connection the dead manager dropped.
#[test]
fn an_adapter_follows_changes_made_after_a_manager_kill_9() {
    let dir = temp_dir("nsx-restart");
    let data = dir.join("manager");
    let mut manager = Manager::start(&data);
    let c1 = Cluster::start("c1", &manager, &dir, Backend::Inventory(CLUSTER));
    eventually("c1 HEALTHY", Duration::from_secs(10), || {
        let h = manager.ok("GET", &format!("{CCP}/status"), None);
        if h["results"][0]["status"] == "HEALTHY" {
            Ok(())
        } else {
            Err(format!("{h}\n{}", c1.logs()))
        }
    });
    // Let a few heartbeats bump the revision, so that a long poll is in flight at the kill.
    std::thread::sleep(Duration::from_secs(2));
    let listen = manager.listen_addr();
    manager.process.kill_9();
    drop(manager);
    let manager = Manager::start_on(&data, &listen, false);
    let restarted = manager.ok("GET", &format!("{CCP}/status"), None);
    create_examples(&manager, &["c1"]);
    eventually(
        "the examples in c1 after the restart",
        Duration::from_secs(15),
        || match c1.managed_acnps().len() {
            3 => Ok(()),
            n => Err(format!("{n} ACNPs\n{}", c1.logs())),
        },
    );
    eventually(
        "c1 heartbeating to the new manager",
        Duration::from_secs(5),
        || {
            let now = manager.ok("GET", &format!("{CCP}/status"), None);
            if heartbeat_of(&now, "c1") > heartbeat_of(&restarted, "c1") {
                Ok(())
            } else {
                Err(format!("{now}\n{}", c1.logs()))
            }
        },
    );
    drop(c1);
    drop(manager);
    let _ = std::fs::remove_dir_all(&dir);
}
