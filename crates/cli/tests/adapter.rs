//! `tierwall manager`, `tierwall controller` and `tierwall adapter` as real processes: a
//! manager (HTTPS, self-signed), two clusters each with its controller and adapter (client
//! certificates generated and registered by `--generate-cert --register`). A policy spanning
//! both clusters becomes an ACNP in each; a hand delete is undone; removing one cluster from the
//! span removes the ACNP there only; SIGTERM stops the adapters cleanly. The privileged test puts
//! one cluster on a testbed (root): real probes change verdict when the policy arrives, and the
//! per-cluster statistics in the manager match the connections sent (the other cluster counts
//! none); the testbed is removed even on failure.

mod common;

use common::{
    BASE, Backend, CCP, Cluster, Guard, Manager, eventually, is_root, outcomes, request, span_path,
    standard_testbed, temp_dir, wait_healthy,
};
use serde_json::{Value, json};
use std::time::Duration;

const INVENTORY: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: node-0}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {ns: x}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: y, labels: {ns: y}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a, pod: a}}\nspec: {nodeName: node-0}\nstatus: {podIP: 10.10.1.11}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: y, labels: {app: b, pod: b}}\nspec: {nodeName: node-0}\nstatus: {podIP: 10.10.2.12}\n";

const POLICY: &str = "/infra/domains/default/security-policies/shop";

/// Groups `servers` (app=a) and `clients` (app=b); policy `shop`: allow-80 (HTTP) and
/// reject-81 from clients to servers, spanning `clusters`.
fn create_policy(manager: &Manager, clusters: &[&str]) {
    for (id, app) in [("servers", "a"), ("clients", "b")] {
        manager.ok(
            "PUT",
            &format!("{BASE}/domains/default/groups/{id}"),
            Some(json!({"group_type": ["ANTREA"], "expression": [{"resource_type": "Condition",
                "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": format!("dis:k8s:app|{app}")}]})),
        );
    }
    let clients = "/infra/domains/default/groups/clients";
    let servers = "/infra/domains/default/groups/servers";
    manager.ok(
        "PUT",
        &format!("/policy/api/v1{POLICY}"),
        Some(json!({"display_name": "Shop", "category": "Application", "rules": [
            {"id": "allow-80", "action": "ALLOW", "direction": "IN", "sequence_number": 10,
             "source_groups": [clients], "destination_groups": [servers], "services": ["/infra/services/HTTP"]},
            {"id": "reject-81", "action": "REJECT", "direction": "IN", "sequence_number": 20,
             "source_groups": [clients], "destination_groups": [servers],
             "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP", "destination_ports": ["81"]}]}]})),
    );
    for id in clusters {
        manager.ok(
            "PUT",
            &format!("/policy/api/v1{POLICY}/container-cluster-span/{id}"),
            Some(json!({"container_cluster_path": span_path(id)})),
        );
    }
}

fn consolidated(manager: &Manager) -> Value {
    manager.ok(
        "GET",
        &format!("{BASE}/realized-state/status?intent_path={POLICY}"),
        None,
    )
}

/// Session counts per rule id reported for `cluster`.
fn sessions(manager: &Manager, cluster: &str) -> Vec<(String, u64)> {
    let query = span_path(cluster).replace('/', "%2F");
    let stats = manager.ok(
        "GET",
        &format!("/policy/api/v1{POLICY}/statistics?container_cluster_path={query}"),
        None,
    );
    stats["results"][0]["statistics"]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["rule"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                r["session_count"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

#[test]
fn a_policy_spanning_two_clusters_reaches_both_and_stays_as_the_manager_says() {
    let dir = temp_dir("two");
    let mut manager = Manager::start(&dir.join("manager"));
    let mut c1 = Cluster::start("c1", &manager, &dir, Backend::Inventory(INVENTORY));
    let mut c2 = Cluster::start("c2", &manager, &dir, Backend::Inventory(INVENTORY));
    // Both adapters registered themselves with their generated certificates.
    for c in [&c1, &c2] {
        eventually("the cluster registered", Duration::from_secs(10), || {
            let (status, v) = manager.call("GET", &format!("{CCP}/{}", c.id), None);
            if status == 200
                && v["certificate"]
                    .as_str()
                    .is_some_and(|p| p.contains("BEGIN CERTIFICATE"))
            {
                Ok(())
            } else {
                Err(format!("{status} {v}\n{}", c.logs()))
            }
        });
    }
    create_policy(&manager, &["c1", "c2"]);
    for c in [&c1, &c2] {
        let acnp = eventually(
            "the ACNP in the cluster",
            Duration::from_secs(10),
            || match c.managed_acnps().as_slice() {
                [one] => Ok(one.clone()),
                other => Err(format!("{other:?}\n{}", c.logs())),
            },
        );
        let rules: Vec<&str> = acnp["spec"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["action"].as_str())
            .collect();
        assert_eq!(rules, ["Allow", "Reject"], "{acnp}");
    }
    eventually("SUCCESS in both clusters", Duration::from_secs(10), || {
        let st = consolidated(&manager);
        let per: Vec<&str> = st["consolidated_status_per_enforcement_point"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["consolidated_status"]["consolidated_status"].as_str())
            .collect();
        if st["consolidated_status"]["consolidated_status"] == "SUCCESS"
            && per == ["SUCCESS", "SUCCESS"]
        {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });

    // A hand delete in c2 is undone within 5 s.
    let name = c2.managed_acnps()[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (code, _) = request(c2.addr, "DELETE", &format!("/objects/acnp/{name}"));
    assert_eq!(code, 200);
    eventually(
        "the ACNP restored in c2",
        Duration::from_secs(5),
        || match request(c2.addr, "GET", &format!("/objects/acnp/{name}")) {
            (200, _) => Ok(()),
            (code, v) => Err(format!("{code} {v}")),
        },
    );

    // c2 leaves the span: its ACNP goes, c1 keeps its own.
    manager.ok(
        "DELETE",
        &format!("/policy/api/v1{POLICY}/container-cluster-span/c2"),
        None,
    );
    eventually("the ACNP gone from c2", Duration::from_secs(10), || {
        let left = c2.managed_acnps();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    assert_eq!(c1.managed_acnps().len(), 1, "c1 keeps the policy");

    for c in [&mut c1, &mut c2] {
        assert!(
            c.adapter.terminate(),
            "SIGTERM: not a clean exit\n{}",
            c.logs()
        );
        assert!(c.adapter.log().contains("created acnp/"), "{}", c.logs());
    }
    assert!(manager.process.terminate(), "{}", manager.process.log());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_policy_from_the_manager_is_enforced_on_a_testbed_and_counted_per_cluster() {
    if !is_root() {
        eprintln!(
            "SKIPPED a_policy_from_the_manager_is_enforced_on_a_testbed_and_counted_per_cluster: needs root"
        );
        return;
    }
    use tierwall_engine::Outcome::{Connected, Rejected};
    use tierwall_testbed::{Endpoint, Probe, Transport};
    let prefix = format!("twad{}", std::process::id() % 100_000);
    let guard = Guard(prefix.clone());
    let testbed = standard_testbed(&prefix);
    let dst = std::net::IpAddr::V4(testbed.pod_ip("x", "a").unwrap_or_else(|e| panic!("{e}")));
    let probe = |port: u16, n: usize| -> Vec<tierwall_engine::Outcome> {
        let batch: Vec<Probe> = (0..n)
            .map(|_| Probe::new(Endpoint::pod("y", "b"), dst, Transport::Tcp(port)))
            .collect();
        outcomes(&testbed, &batch)
    };
    assert_eq!(probe(81, 2), vec![Connected; 2], "before the policy");

    let dir = temp_dir("testbed");
    let manager = Manager::start(&dir.join("manager"));
    let c1 = Cluster::start("c1", &manager, &dir, Backend::Testbed(&prefix));
    let c2 = Cluster::start("c2", &manager, &dir, Backend::Inventory(INVENTORY));
    wait_healthy(
        &manager,
        &[&c1, &c2],
        "both clusters registered",
        Duration::from_secs(10),
    );
    create_policy(&manager, &["c1", "c2"]);
    eventually("SUCCESS in both clusters", Duration::from_secs(15), || {
        let st = consolidated(&manager);
        if st["consolidated_status"]["consolidated_status"] == "SUCCESS" {
            Ok(())
        } else {
            Err(format!("{st}\n{}", c1.logs()))
        }
    });
    // Real packets: port 81 is now rejected, port 80 still allowed.
    let (allowed, rejected) = (5usize, 3usize);
    assert_eq!(
        probe(81, rejected),
        vec![Rejected; rejected],
        "{}",
        c1.logs()
    );
    assert_eq!(
        probe(80, allowed),
        vec![Connected; allowed],
        "{}",
        c1.logs()
    );

    // Per-cluster statistics in the manager match the connections sent to c1; c2 saw none.
    let expected = vec![
        ("allow-80".to_string(), allowed as u64),
        ("reject-81".to_string(), rejected as u64),
    ];
    eventually("c1's statistics", Duration::from_secs(10), || {
        let seen = sessions(&manager, "c1");
        if seen == expected {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    });
    assert_eq!(
        sessions(&manager, "c2"),
        vec![("allow-80".to_string(), 0), ("reject-81".to_string(), 0)],
        "statistics are per cluster, never aggregated"
    );

    // A changed rule starts again from zero: reject-81 becomes a DROP of 81 (the translation
    // of that rule changes; allow-80 keeps its counters).
    manager.ok(
        "PATCH",
        &format!("/policy/api/v1{POLICY}/rules/reject-81"),
        Some(json!({"action": "DROP"})),
    );
    eventually("reject-81 reset", Duration::from_secs(10), || {
        let seen = sessions(&manager, "c1");
        if seen
            == [
                ("allow-80".to_string(), allowed as u64),
                ("reject-81".to_string(), 0),
            ]
        {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    });
    drop(c1);
    drop(c2);
    drop(manager);
    let _ = std::fs::remove_dir_all(&dir);
    drop(guard);
}
