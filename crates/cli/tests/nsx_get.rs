//! `tierwall nsx get` against a real manager process on loopback: the spec's Example 1 (two
//! groups, a policy spanning a cluster, one rule) and a second cluster are created over REST,
//! reports are PUT as the adapters would, and every table (`groups`, `policies`, `rules`,
//! `stats`, `clusters`, plain and wide) is compared with the exact text; `-o json|yaml` carry
//! the API's objects; HTTPS with `--ca`, a wrong password and a missing `--insecure-http` fail
//! with a message.

mod common;

use common::{BASE, CCP, Manager, PASSWORD, span_path, temp_dir};
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};

fn nsx(manager: &Manager, args: &[&str], password: &str) -> Output {
    let mut all = vec!["nsx", "get"];
    all.extend_from_slice(args);
    all.extend(["--manager", &manager.base]);
    if manager.ca.is_none() {
        all.push("--insecure-http");
    }
    Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(&all)
        .env("TIERWALL_ADMIN_PASSWORD", password)
        .env_remove("TIERWALL_MANAGER")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"))
}

/// Runs `tierwall nsx get ARGS` and returns its stdout; fails on a non-zero exit.
fn get(manager: &Manager, args: &[&str]) -> String {
    let o = nsx(manager, args, PASSWORD);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "nsx get {args:?}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

const POLICY: &str = "/infra/domains/default/security-policies/test-policy";

/// Example 1 of the spec: "test-namespaces" (Namespace tag), "test-ip-addresses" (two
/// networks), policy "test-policy" spanning cluster `c1`, one rule from the namespaces to the
/// addresses; plus cluster `c2` that nothing spans, and a DFW policy with no Antrea span.
fn create_example_1(manager: &Manager) {
    let groups = format!("{BASE}/domains/default/groups");
    manager.ok(
        "PUT",
        &format!("{groups}/test-namespaces"),
        Some(
            json!({"display_name": "test namespaces", "group_type": ["ANTREA"],
            "expression": [{"resource_type": "Condition", "member_type": "Namespace", "key": "Tag",
                "operator": "EQUALS", "value": "SomeK8sLabel|SomeK8sLabelValue",
                "scope_operator": "EQUALS"}]}),
        ),
    );
    manager.ok(
        "PUT",
        &format!("{groups}/test-ip-addresses"),
        Some(
            json!({"group_type": ["ANTREA"], "expression": [{"resource_type": "IPAddressExpression",
            "ip_addresses": ["192.168.100.0/24", "192.168.200.0/24"]}]}),
        ),
    );
    for id in ["c1", "c2"] {
        manager.ok(
            "PUT",
            &format!("{CCP}/{id}"),
            Some(json!({"display_name": format!("cluster {id}"), "node_type": "ANTREA_NODE"})),
        );
    }
    manager.ok(
        "PUT",
        &format!("/policy/api/v1{POLICY}"),
        Some(
            json!({"display_name": "test-policy", "category": "Application", "sequence_number": 10,
            "rules": [{"id": "to-ips", "display_name": "namespaces to IPs", "sequence_number": 1,
                "scope": ["/infra/domains/default/groups/test-namespaces"],
                "destination_groups": ["/infra/domains/default/groups/test-ip-addresses"],
                "services": ["/infra/services/HTTP"],
                "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                    "destination_ports": ["8080"]}],
                "action": "DROP", "direction": "OUT"},
                {"id": "off", "sequence_number": 2, "action": "REJECT", "disabled": true,
                 "scope": ["/infra/domains/default/groups/test-namespaces"], "direction": "IN"}]}),
        ),
    );
    manager.ok(
        "PUT",
        &format!("/policy/api/v1{POLICY}/container-cluster-span/c1"),
        Some(json!({"container_cluster_path": span_path("c1")})),
    );
    manager.ok(
        "PUT",
        &format!("{BASE}/domains/default/security-policies/vm-policy"),
        Some(json!({"category": "Environment", "sequence_number": 3})),
    );
    // c1's adapter reports: heartbeat, realization of the policy's current version, counters.
    let intent = manager.ok(
        "GET",
        &format!("{BASE}/realized-state/status?intent_path={POLICY}"),
        None,
    );
    manager.ok(
        "PUT",
        &format!("{CCP}/c1/status"),
        Some(json!({"status": "HEALTHY", "report_interval": 60,
            "controller_status": {"status": "UP"}, "ccp_adapter_status": {"status": "UP"}})),
    );
    manager.ok(
        "PUT",
        &format!("{CCP}/c1/realization"),
        Some(json!({"results": [
            {"intent_path": POLICY, "intent_version": intent["intent_version"], "state": "REALIZED"},
            {"intent_path": "/infra/domains/default/groups/test-namespaces", "intent_version": "x",
             "state": "ERROR", "message": "no such label"}]})),
    );
    manager.ok(
        "PUT",
        &format!("{CCP}/c1/statistics"),
        Some(
            json!({"results": [{"rule": format!("{POLICY}/rules/to-ips"), "hit_count": 7,
            "packet_count": 7, "byte_count": 420, "session_count": 7}]}),
        ),
    );
}

/// A `nsx get clusters` table with its last column (LAST-SEEN, the age of a heartbeat)
/// replaced by `AGE` below the header.
fn without_age(table: &str) -> String {
    let at = table
        .lines()
        .next()
        .and_then(|h| h.find("LAST-SEEN"))
        .unwrap_or_else(|| panic!("no LAST-SEEN column: {table}"));
    let mut out = String::new();
    for (i, line) in table.lines().enumerate() {
        out.push_str(line.get(..at).unwrap_or(line));
        out.push_str(if i == 0 { "LAST-SEEN" } else { "AGE" });
        out.push('\n');
    }
    out
}

#[test]
fn nsx_get_prints_what_the_manager_holds_as_kubectl_tables() {
    let dir = temp_dir("nsx-get");
    let manager = Manager::start_on(&dir.join("manager"), "127.0.0.1:0", true);
    create_example_1(&manager);

    // Every table as a snapshot (crates/cli/tests/snapshots/nsx_get__*.snap).
    for (name, args) in [
        ("groups", &["groups"][..]),
        ("groups_wide", &["groups", "-o", "wide"][..]),
        ("policies", &["policies"][..]),
        ("policies_wide", &["sp", "-o", "wide"][..]),
        ("rules", &["rules", "--policy", "test-policy"][..]),
        ("rules_wide", &["rules", "-o", "wide"][..]),
        ("stats", &["stats"][..]),
        (
            "stats_of_c2",
            &["stats", "--policy", "test-policy", "--cluster", "c2"][..],
        ),
    ] {
        insta::assert_snapshot!(name, get(&manager, args));
    }
    insta::assert_snapshot!("clusters", without_age(&get(&manager, &["clusters"])));
    let clusters = get(&manager, &["clusters", "-o", "wide"]);
    assert!(
        clusters.lines().nth(2).is_some_and(|l| l.starts_with("c2")
            && l.contains("<never>")
            && l.ends_with("-         -                 ANTREA_NODE")),
        "{clusters}"
    );

    // -o json: the API's objects in an NSX list envelope.
    let json: Value = serde_json::from_str(&get(&manager, &["policies", "-o", "json"]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["result_count"], 2);
    assert_eq!(
        json["results"][0]["rules"][0]["path"],
        format!("{POLICY}/rules/to-ips")
    );
    let yaml = get(&manager, &["stats", "--cluster", "c1", "-o", "yaml"]);
    assert!(yaml.contains("container_cluster_path: /infra/sites/default/enforcement-points/default/cluster-control-planes/c1"), "{yaml}");
    assert!(yaml.contains("session_count: 7"), "{yaml}");
    let json: Value = serde_json::from_str(&get(&manager, &["clusters", "-o", "json"]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["results"][0]["status"]["status"], "HEALTHY");
    assert_eq!(
        json["results"][0]["realization"]["results"][1]["state"],
        "ERROR"
    );

    // Errors: an unknown policy or cluster, a wrong password, flags that do not apply.
    for (args, message) in [
        (
            &["rules", "--policy", "nope"][..],
            "error: no security policy nope",
        ),
        (
            &["stats", "--cluster", "c9"][..],
            "error: no cluster control plane c9",
        ),
        (
            &["groups", "--cluster", "c1"][..],
            "error: --cluster applies to `nsx get stats` only",
        ),
    ] {
        let o = nsx(&manager, args, PASSWORD);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&o.stderr).trim_end(), message);
    }
    let o = nsx(&manager, &["groups"], "wrong");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.starts_with("error: GET http://") && err.contains(": 403: "),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nsx_get_speaks_https_with_the_managers_ca_and_refuses_plain_http_unasked() {
    let dir = temp_dir("nsx-get-tls");
    let manager = Manager::start(&dir.join("manager"));
    let ca = manager
        .ca
        .as_ref()
        .map(|c| c.display().to_string())
        .unwrap_or_default();
    let o = nsx(&manager, &["clusters", "--ca", &ca], PASSWORD);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "No resources found\n");
    // Without the CA the self-signed certificate is not trusted.
    let o = nsx(&manager, &["groups"], PASSWORD);
    assert_eq!(o.status.code(), Some(1));
    let plain = manager.base.replace("https://", "http://");
    let o = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["nsx", "get", "groups", "--manager", &plain])
        .env("TIERWALL_ADMIN_PASSWORD", PASSWORD)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("add --insecure-http"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
