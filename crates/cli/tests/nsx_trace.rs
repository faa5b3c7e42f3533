//! `tierwall nsx trace` against a real manager process on loopback: cluster `c1` reports an
//! inventory with two Nodes and a NodePort Service; a generic group selects that Service
//! (node IP + nodePort members), another holds a VM's IP; a DFW policy drops VM → NodePort.
//! The trace of that flow names the category, policy, rule and both members; a flow no rule
//! matches ends in the default rule; `-o json` carries the decision; a bad `--port` fails.

mod common;

use common::{BASE, CCP, Manager, PASSWORD, temp_dir};
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};

fn nsx_trace(manager: &Manager, args: &[&str]) -> Output {
    let mut all = vec!["nsx", "trace"];
    all.extend_from_slice(args);
    all.extend(["--manager", &manager.base, "--insecure-http"]);
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
/// `vm-to-k8s` (Application, sequence 10) whose enabled rule drops vm-web → k8s-nodeport.
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
            "sequence_number": 10, "rules": [
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
         Evaluated 1 enabled rule(s) in category order Ethernet, Emergency, Infrastructure, \
         Environment, Application; first match wins\n\
         Decision: DROP\n\
         \x20 category:    Application\n\
         \x20 policy:      vm-to-k8s \"VM to cluster\" (sequence 10)\n\
         \x20 rule:        drop-nodeport \"VMs to the NodePort\" (rule_id 1001, sequence 2, direction IN_OUT)\n\
         \x20 source:      group vm-web: IP 10.0.0.5\n\
         \x20 destination: group k8s-nodeport: node node-1 (cluster c1) IP 172.18.0.3 + port 30080/TCP\n\
         \x20 service:     ANY\n"
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
        default.ends_with("Decision: ALLOW (default rule: no rule matched)\n"),
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
    assert!(not_a_vm.contains("default rule"), "{not_a_vm}");

    let json_out = trace_ok(
        &manager,
        &[
            "--source",
            "10.0.0.6",
            "--destination",
            "172.18.0.2",
            "--port",
            "30080/TCP",
            "-o",
            "json",
        ],
    );
    let decision: Value = serde_json::from_str(&json_out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decision["action"], "DROP", "{decision}");
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
    let _ = std::fs::remove_dir_all(&dir);
}
