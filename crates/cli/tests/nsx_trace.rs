//! `tierwall nsx trace` against a real manager process on loopback.
//!
//! * Cluster `c1` reports an inventory with two Nodes and a NodePort Service; a generic group
//!   selects that Service (node IP + nodePort members), another holds a VM's IP; a DFW policy
//!   applied to the VMs drops VM → NodePort. The trace of that flow names the category, policy,
//!   rule, Applied-To and both members, decided leaving the VM; entering the node the rule is
//!   skipped because of its Applied-To; a flow no rule matches ends in the default rule; `-o
//!   json` carries the decision; a bad `--port` fails.
//! * End to end through an adapter: a real `tierwall manager`, a real `tierwall controller`
//!   (engine mode, no root) and a real `tierwall adapter` realize two policies; for Pod → Pod
//!   flows `tierwall nsx trace` against the manager names the same policy and rule as the
//!   cluster's own `tierwall trace` over the objects the controller holds, and says which rule
//!   did not decide because the destination is not in its Applied-To.

mod common;

use common::{
    BASE, Backend, CCP, Cluster, Manager, PASSWORD, eventually, request, span_path, temp_dir,
    wait_healthy,
};
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn nsx_trace(manager: &Manager, args: &[&str]) -> Output {
    let mut all = vec!["nsx", "trace"];
    all.extend_from_slice(args);
    all.extend(["--manager", &manager.base]);
    let ca = manager.ca.as_ref().map(|c| c.display().to_string());
    match &ca {
        Some(ca) => all.extend(["--ca", ca]),
        None => all.push("--insecure-http"),
    }
    Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(&all)
        .env("TIERWALL_ADMIN_PASSWORD", PASSWORD)
        .env_remove("TIERWALL_MANAGER")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"))
}

fn trace_ok(manager: &Manager, args: &[&str]) -> String {
    let o = nsx_trace(manager, args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "nsx trace {args:?}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Cluster c1 with its inventory, the groups `vm-web` and `k8s-nodeport`, and the DFW policy
/// `vm-to-k8s` (Application, sequence 10, applied to vm-web) whose enabled rule drops vm-web →
/// k8s-nodeport.
fn create_objects(manager: &Manager) {
    manager.ok(
        "PUT",
        &format!("{CCP}/c1"),
        Some(json!({"display_name": "cluster c1", "node_type": "ANTREA_NODE"})),
    );
    manager.ok(
        "PUT",
        &format!("{CCP}/c1/inventory"),
        Some(json!({
            "namespaces": [{"display_name": "shop"}],
            "pods": [{"display_name": "web-0", "namespace": "shop", "ip_addresses": ["10.244.1.5"],
                      "services": ["web"]}],
            "services": [{"display_name": "web", "namespace": "shop", "service_type": "NodePort",
                          "ports": [{"protocol": "TCP", "port": 80, "node_port": 30080}]}],
            "nodes": [{"display_name": "node-0", "ip_addresses": ["172.18.0.2"]},
                      {"display_name": "node-1", "ip_addresses": ["172.18.0.3"]}]
        })),
    );
    let groups = format!("{BASE}/domains/default/groups");
    manager.ok(
        "PUT",
        &format!("{groups}/vm-web"),
        Some(json!({"display_name": "web VMs", "expression": [
            {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.5", "10.0.0.6"]}]})),
    );
    manager.ok(
        "PUT",
        &format!("{groups}/k8s-nodeport"),
        Some(json!({"display_name": "shop web NodePort", "expression": [
            {"resource_type": "NestedExpression", "expressions": [
                {"resource_type": "Condition", "member_type": "KubernetesService", "key": "Name",
                 "operator": "EQUALS", "value": "web"},
                {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"},
                {"resource_type": "Condition", "member_type": "KubernetesNamespace", "key": "Name",
                 "operator": "EQUALS", "value": "shop"}]}]})),
    );
    manager.ok(
        "PUT",
        &format!("{BASE}/domains/default/security-policies/vm-to-k8s"),
        Some(
            json!({"display_name": "VM to cluster", "category": "Application",
            "sequence_number": 10, "scope": ["/infra/domains/default/groups/vm-web"], "rules": [
                {"id": "off", "sequence_number": 1, "action": "ALLOW", "disabled": true,
                 "source_groups": ["/infra/domains/default/groups/vm-web"]},
                {"id": "drop-nodeport", "display_name": "VMs to the NodePort",
                 "sequence_number": 2,
                 "source_groups": ["/infra/domains/default/groups/vm-web"],
                 "destination_groups": ["/infra/domains/default/groups/k8s-nodeport"],
                 "services": ["ANY"], "action": "DROP", "direction": "IN_OUT"}]}),
        ),
    );
}

#[test]
fn nsx_trace_explains_a_vm_to_nodeport_flow_through_the_dfw() {
    let dir = temp_dir("nsx-trace");
    let manager = Manager::start_on(&dir.join("manager"), "127.0.0.1:0", true);
    create_objects(&manager);

    let dropped = trace_ok(
        &manager,
        &[
            "--source",
            "10.0.0.5",
            "--destination",
            "172.18.0.3",
            "--port",
            "30080/TCP",
        ],
    );
    assert_eq!(
        dropped,
        "Flow 10.0.0.5 -> 172.18.0.3 30080/TCP\n\
         Rules in category order Ethernet, Emergency, Infrastructure, Environment, Application, \
         each on the ends in its Applied-To; first match wins on each side\n\
         \n\
         Egress at the source 10.0.0.5\n\
         \x20 evaluated:   1 enabled rule(s) applied to 10.0.0.5\n\
         \x20 decision:    DROP\n\
         \x20   category:    Application\n\
         \x20   policy:      vm-to-k8s \"VM to cluster\" (sequence 10)\n\
         \x20   rule:        drop-nodeport \"VMs to the NodePort\" (rule_id 1001, sequence 2, direction IN_OUT)\n\
         \x20   applied to:  group vm-web (policy Applied-To)\n\
         \x20   source:      group vm-web: IP 10.0.0.5\n\
         \x20   destination: group k8s-nodeport: node node-1 (cluster c1) IP 172.18.0.3 + port 30080/TCP\n\
         \x20   service:     ANY\n\
         \n\
         Ingress at the destination 172.18.0.3, node node-1 (cluster c1) (not reached: the flow is dropped at egress)\n\
         \x20 evaluated:   0 enabled rule(s) applied to 172.18.0.3\n\
         \x20 skipped:     policy vm-to-k8s rule drop-nodeport (rule_id 1001) (Applied-To group vm-web (policy Applied-To): 172.18.0.3 is not a member of group vm-web)\n\
         \x20 decision:    ALLOW (default rule: no rule matched)\n\
         \n\
         Result: DROP (decided by Egress: policy vm-to-k8s rule drop-nodeport (rule_id 1001))\n"
    );

    // The node's port 80 is not a member (only node IP + nodePort is): the default rule.
    let default = trace_ok(
        &manager,
        &[
            "--source",
            "10.0.0.5",
            "--destination",
            "172.18.0.3",
            "--port",
            "80",
        ],
    );
    assert!(
        default.ends_with("Result: ALLOW (default rule on both sides)\n"),
        "{default}"
    );
    let not_a_vm = trace_ok(
        &manager,
        &[
            "--source",
            "10.0.0.9",
            "--destination",
            "172.18.0.2",
            "--port",
            "30080/tcp",
        ],
    );
    assert!(
        !not_a_vm.contains("skipped:"),
        "a rule whose sources do not match is not listed as skipped: {not_a_vm}"
    );
    assert!(
        not_a_vm.ends_with("(default rule on both sides)\n"),
        "{not_a_vm}"
    );

    // 10.0.0.6 to node-0 on a port, as JSON.
    let flow = |port: &str| {
        let args = [
            "--source",
            "10.0.0.6",
            "--destination",
            "172.18.0.2",
            "--port",
            port,
            "-o",
            "json",
        ];
        (nsx_trace(&manager, &args), args.join(" "))
    };
    let json_out = {
        let (o, args) = flow("30080/TCP");
        assert!(o.status.success(), "nsx trace {args}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let decision: Value = serde_json::from_str(&json_out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decision["action"], "DROP", "{decision}");
    assert_eq!(decision["decided_by"], "Egress");
    assert_eq!(
        decision["ingress"]["skipped"][0]["reason"],
        "172.18.0.2 is not a member of group vm-web"
    );
    assert_eq!(decision["matched"]["policy_id"], "vm-to-k8s");
    assert_eq!(decision["matched"]["rule_id"], "drop-nodeport");
    assert_eq!(decision["matched"]["source"]["member"], "IP 10.0.0.6");
    assert_eq!(decision["matched"]["destination"]["group"], "k8s-nodeport");
    assert_eq!(
        decision["matched"]["destination"]["member"],
        "node node-0 (cluster c1) IP 172.18.0.2 + port 30080/TCP"
    );

    let bad = nsx_trace(
        &manager,
        &[
            "--source",
            "10.0.0.5",
            "--destination",
            "172.18.0.2",
            "--port",
            "80/SCTP",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("SCTP is not TCP or UDP"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // The CLI's one port syntax: the expected form on error, the protocol first accepted.
    let (bad, _) = flow("TCP/eighty");
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("--port \"TCP/eighty\": expected PORT[/PROTOCOL]"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let (protocol_first, _) = flow("TCP/30080");
    assert!(protocol_first.status.success());
    assert_eq!(
        String::from_utf8_lossy(&protocol_first.stdout),
        json_out,
        "TCP/30080 is 30080/TCP"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const INVENTORY: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: node-0}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {ns: x}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: y, labels: {ns: y}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nspec: {nodeName: node-0}\nstatus: {podIP: 10.10.1.11}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: y, labels: {app: b}}\nspec: {nodeName: node-0}\nstatus: {podIP: 10.10.2.12}\n";

/// `tierwall trace -f FILE ... -o json`: the cluster's own verdict over the objects in `file`.
fn cluster_trace(file: &std::path::Path, source: &str, destination: &str, port: &str) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["trace", "-f"])
        .arg(file)
        .args([
            "-S",
            source,
            "-D",
            destination,
            "--port",
            port,
            "-o",
            "json",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"));
    assert!(
        o.status.success(),
        "tierwall trace: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn nsx_trace_names_the_rule_the_cluster_enforces_for_an_adapter_realized_policy() {
    let dir = temp_dir("nsx-trace-e2e");
    let manager = Manager::start(&dir.join("manager"));
    let c1 = Cluster::start("c1", &manager, &dir, Backend::Inventory(INVENTORY));
    wait_healthy(&manager, &[&c1], "c1 registered", Duration::from_secs(15));
    for (id, app) in [("servers", "a"), ("clients", "b")] {
        manager.ok(
            "PUT",
            &format!("{BASE}/domains/default/groups/{id}"),
            Some(
                json!({"group_type": ["ANTREA"], "expression": [{"resource_type": "Condition",
                "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
                "value": format!("dis:k8s:app|{app}")}]}),
            ),
        );
    }
    let clients = "/infra/domains/default/groups/clients";
    let servers = "/infra/domains/default/groups/servers";
    // First in Application: drop everything entering the clients (applied to them only).
    // Then: clients may reach the servers on HTTP, and are rejected on 81.
    let policies = [
        (
            "guard",
            json!({"display_name": "Guard clients", "category": "Application",
            "sequence_number": 5, "scope": [clients], "rules": [
                {"id": "drop-into-clients", "action": "DROP", "direction": "IN",
                 "source_groups": ["ANY"], "destination_groups": ["ANY"], "services": ["ANY"]}]}),
        ),
        (
            "shop",
            json!({"display_name": "Shop", "category": "Application", "sequence_number": 10,
            "rules": [
                {"id": "allow-80", "action": "ALLOW", "direction": "IN", "sequence_number": 10,
                 "source_groups": [clients], "destination_groups": [servers],
                 "services": ["/infra/services/HTTP"]},
                {"id": "reject-81", "action": "REJECT", "direction": "IN", "sequence_number": 20,
                 "source_groups": [clients], "destination_groups": [servers],
                 "service_entries": [{"resource_type": "L4PortSetServiceEntry",
                    "l4_protocol": "TCP", "destination_ports": ["81"]}]}]}),
        ),
    ];
    for (id, body) in policies {
        let path = format!("{BASE}/domains/default/security-policies/{id}");
        manager.ok("PUT", &path, Some(body));
        manager.ok(
            "PUT",
            &format!("{path}/container-cluster-span/c1"),
            Some(json!({"container_cluster_path": span_path("c1")})),
        );
    }
    for id in ["guard", "shop"] {
        eventually(
            &format!("{id} realized in c1"),
            Duration::from_secs(15),
            || {
                let st = manager.ok(
                    "GET",
                    &format!(
                        "{BASE}/realized-state/status?intent_path=/infra/domains/default/security-policies/{id}"
                    ),
                    None,
                );
                if st["consolidated_status"]["consolidated_status"] == "SUCCESS" {
                    Ok(())
                } else {
                    Err(format!("{st}\n{}", c1.logs()))
                }
            },
        );
    }
    // What the controller holds, as the cluster's `tierwall trace` input.
    let (code, objects) = request(c1.addr, "GET", "/objects");
    assert_eq!(code, 200, "{objects}");
    let in_force = dir.join("c1-objects.json");
    std::fs::write(&in_force, objects.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let display_name_of = |acnp: &str| -> String {
        let (code, object) = request(c1.addr, "GET", &format!("/objects/acnp/{acnp}"));
        assert_eq!(code, 200, "{acnp}: {object}");
        object["metadata"]["annotations"]["ccp-adapter.antrea.tanzu.vmware.com/display-name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    for (port, nsx_action, outcome, rule) in [
        ("81", "REJECT", "Rejected", "reject-81"),
        ("80", "ALLOW", "Connected", "allow-80"),
    ] {
        let nsx = trace_ok(
            &manager,
            &[
                "--source",
                "10.10.2.12",
                "--destination",
                "10.10.1.11",
                "--port",
                &format!("{port}/TCP"),
                "-o",
                "json",
            ],
        );
        let nsx: Value = serde_json::from_str(&nsx).unwrap_or_else(|e| panic!("{e}: {nsx}"));
        let cluster = cluster_trace(&in_force, "y/b", "x/a", &format!("{port}/TCP"));
        assert_eq!(nsx["action"], nsx_action, "{nsx}");
        assert_eq!(cluster["outcome"], outcome, "{cluster}");
        // Both decide entering x/a, by the same policy and rule (ACNP rule name = NSX rule_id).
        assert_eq!(nsx["decided_by"], "Ingress", "{nsx}");
        let hit = &cluster["ingress"]["decision"]["Rule"];
        assert_eq!(nsx["matched"]["rule_id"], rule, "{nsx}");
        assert_eq!(
            hit["rule"].as_str(),
            Some(nsx["matched"]["rule_number"].to_string().as_str()),
            "cluster: {cluster}\nnsx: {nsx}"
        );
        let acnp = hit["policy"]["name"].as_str().unwrap_or_default();
        assert_eq!(display_name_of(acnp), "Shop", "{cluster}");
        assert_eq!(nsx["matched"]["policy_display_name"], "Shop");
        assert_eq!(
            nsx["matched"]["applied_to"],
            "group servers (no Applied-To: the rule's own end), Pods of cluster c1"
        );
        // The guard's DROP would match anything, but x/a is not in its Applied-To; the cluster
        // agrees: nothing of the guard is enforced on x/a.
        let skipped = &nsx["ingress"]["skipped"][0];
        assert_eq!(skipped["rule"]["policy_id"], "guard", "{nsx}");
        assert_eq!(
            skipped["reason"],
            "10.10.1.11 is not a member of group clients"
        );
        assert_eq!(cluster["egress"]["decision"], "Default", "{cluster}");
        assert_eq!(nsx["egress"]["matched"], Value::Null, "{nsx}");
    }

    // The reverse flow enters the clients: the guard decides, in both views.
    let nsx = trace_ok(
        &manager,
        &[
            "--source",
            "10.10.1.11",
            "--destination",
            "10.10.2.12",
            "--port",
            "80/TCP",
        ],
    );
    assert!(
        nsx.ends_with("Result: DROP (decided by Ingress: policy guard rule drop-into-clients (rule_id 1000))\n"),
        "{nsx}"
    );
    let cluster = cluster_trace(&in_force, "x/a", "y/b", "80/TCP");
    assert_eq!(cluster["outcome"], "Dropped", "{cluster}");
    assert_eq!(cluster["ingress"]["decision"]["Rule"]["rule"], "1000");
    let acnp = cluster["ingress"]["decision"]["Rule"]["policy"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(display_name_of(&acnp), "Guard clients");
    drop(c1);
    drop(manager);
    let _ = std::fs::remove_dir_all(&dir);
}
