//! Member resolution per Kubernetes member type, against one reported inventory.

use super::*;
use crate::model::L4Protocol;
use crate::validate::MapLookup;
use serde_json::{Value, json};

fn inventory(cluster_id: &str) -> ClusterInventory {
    serde_json::from_value(json!({
        "cluster_id": cluster_id,
        "namespaces": [
            {"display_name": "shop", "tags": [{"scope": "dis:k8s:env", "tag": "prod"}]},
            {"display_name": "dev", "tags": [{"scope": "dis:k8s:env", "tag": "dev"}]}
        ],
        "pods": [
            {"display_name": "web-0", "namespace": "shop", "ip_addresses": ["10.0.1.5"], "services": ["web"],
             "tags": [{"scope": "dis:k8s:app", "tag": "web"}]},
            {"display_name": "db-0", "namespace": "shop", "ip_addresses": ["10.0.1.6"],
             "tags": [{"scope": "dis:k8s:app", "tag": "db"}]},
            {"display_name": "web-0", "namespace": "dev", "ip_addresses": ["10.0.2.5"], "services": ["web"],
             "tags": [{"scope": "dis:k8s:app", "tag": "web"}]}
        ],
        "services": [
            {"display_name": "web", "namespace": "shop", "service_type": "LoadBalancer",
             "load_balancer_ips": ["172.16.10.1"], "ports": [{"protocol": "TCP", "port": 80, "node_port": 30080}],
             "tags": [{"scope": "dis:k8s:app", "tag": "web"}]},
            {"display_name": "web", "namespace": "dev", "service_type": "NodePort",
             "ports": [{"protocol": "TCP", "port": 80, "node_port": 30081}, {"protocol": "UDP", "port": 53, "node_port": 30053}],
             "tags": [{"scope": "dis:k8s:app", "tag": "web"}]},
            {"display_name": "internal", "namespace": "shop", "service_type": "ClusterIP", "cluster_ips": ["10.96.0.5"]}
        ],
        "nodes": [
            {"display_name": "node-0", "ip_addresses": ["192.168.0.10"], "tags": [{"scope": "dis:k8s:role", "tag": "gateway"}]},
            {"display_name": "node-1", "ip_addresses": ["192.168.0.11"]}
        ],
        "egresses": [{"display_name": "egress-prod", "egress_ips": ["172.16.0.5"]}],
        "ip_pools": [{"display_name": "routable", "ip_ranges": [{"cidr": "10.9.0.0/28"}, {"start": "10.9.1.10", "end": "10.9.1.20"}]}],
        "ingresses": [{"display_name": "shop-ing", "namespace": "shop", "ip_addresses": ["172.16.20.1"]}],
        "gateways": [{"display_name": "shop-gw", "namespace": "shop", "ip_addresses": ["172.16.30.1"]}]
    }))
    .expect("inventory json")
}

fn cond(member_type: &str, key: &str, operator: &str, value: &str) -> Value {
    json!({"resource_type": "Condition", "member_type": member_type, "key": key, "operator": operator, "value": value})
}

fn and(conditions: Vec<Value>) -> Value {
    let mut expressions = Vec::new();
    for (i, c) in conditions.into_iter().enumerate() {
        if i > 0 {
            expressions.push(
                json!({"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"}),
            );
        }
        expressions.push(c);
    }
    json!({"resource_type": "NestedExpression", "expressions": expressions})
}

fn resolve(group: Value) -> Vec<String> {
    resolve_with(group, &[inventory("c1")], &MapLookup::default())
}

fn resolve_with(group: Value, inventories: &[ClusterInventory], lookup: &MapLookup) -> Vec<String> {
    let group: Group = serde_json::from_value(group).expect("group json");
    resolve_group_members(&group, lookup, inventories)
        .iter()
        .map(|m| match (m.protocol, m.port) {
            (Some(p), Some(port)) => format!("{} {}:{port}", m.ip_address, p.as_str()),
            _ => m.ip_address.clone(),
        })
        .collect()
}

#[test]
fn antrea_groups_resolve_to_pod_ips() {
    let web_in_shop = json!({"group_type": ["ANTREA"], "expression": [and(vec![
        cond("Namespace", "Name", "EQUALS", "shop"), cond("Pod", "Tag", "EQUALS", "dis:k8s:app|web")])]});
    assert_eq!(resolve(web_in_shop), vec!["10.0.1.5"]);
    let prod_namespaces = json!({"group_type": ["ANTREA"], "expression": [
        cond("Namespace", "Tag", "EQUALS", "dis:k8s:env|prod"),
        {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
        {"resource_type": "IPAddressExpression", "ip_addresses": ["10.10.0.0/24"]}]});
    assert_eq!(
        resolve(prod_namespaces),
        vec!["10.0.1.5", "10.0.1.6"],
        "static IPs are not effective members"
    );
    let service_pods =
        json!({"group_type": ["ANTREA"], "expression": [cond("Service", "Name", "EQUALS", "web")]});
    assert_eq!(resolve(service_pods), vec!["10.0.1.5", "10.0.2.5"]);
    let not_web = json!({"group_type": ["ANTREA"], "expression": [cond("Pod", "Tag", "NOTEQUALS", "dis:k8s:app|WEB")]});
    assert_eq!(resolve(not_web), vec!["10.0.1.6"], "case-insensitive");
}

#[test]
fn nodes_egresses_and_ip_pools() {
    assert_eq!(
        resolve(
            json!({"expression": [cond("KubernetesNode", "Tag", "EQUALS", "dis:k8s:role|gateway")]})
        ),
        vec!["192.168.0.10"]
    );
    assert_eq!(
        resolve(json!({"expression": [cond("KubernetesNode", "Name", "STARTSWITH", "node-")]})),
        vec!["192.168.0.10", "192.168.0.11"]
    );
    assert_eq!(
        resolve(json!({"expression": [cond("AntreaEgress", "Name", "EQUALS", "egress-prod")]})),
        vec!["172.16.0.5"]
    );
    assert_eq!(
        resolve(json!({"expression": [cond("AntreaIPPool", "Name", "EQUALS", "routable")]})),
        vec!["10.9.0.0/28", "10.9.1.10-10.9.1.20"]
    );
}

#[test]
fn services_resolve_by_type() {
    let web_services =
        json!({"expression": [cond("KubernetesService", "Tag", "EQUALS", "dis:k8s:app|web")]});
    assert_eq!(
        resolve(web_services),
        vec![
            "172.16.10.1",
            "192.168.0.10 TCP:30081",
            "192.168.0.10 UDP:30053",
            "192.168.0.11 TCP:30081",
            "192.168.0.11 UDP:30053",
        ],
        "LoadBalancer: its IP; NodePort: node IP + nodePort"
    );
    assert!(
        resolve(json!({"expression": [cond("KubernetesService", "Name", "EQUALS", "internal")]}))
            .is_empty(),
        "ClusterIP Services have no members"
    );
    let first = resolve_group_members(
        &serde_json::from_value(
            json!({"expression": [cond("KubernetesService", "Name", "EQUALS", "web")]}),
        )
        .expect("group"),
        &MapLookup::default(),
        &[inventory("c1")],
    );
    assert!(first.contains(&GroupMember::ip_port(
        "192.168.0.11",
        L4Protocol::Udp,
        30053
    )));
}

#[test]
fn ingress_and_gateway_resolve_to_their_ips() {
    assert_eq!(
        resolve(json!({"expression": [cond("KubernetesIngress", "Name", "EQUALS", "shop-ing")]})),
        vec!["172.16.20.1"]
    );
    assert_eq!(
        resolve(json!({"expression": [cond("KubernetesGateway", "Name", "CONTAINS", "gw")]})),
        vec!["172.16.30.1"]
    );
}

#[test]
fn cluster_and_namespace_conditions_narrow_with_and() {
    let in_shop = json!({"expression": [and(vec![
        cond("KubernetesNamespace", "Name", "EQUALS", "shop"),
        cond("KubernetesService", "Name", "EQUALS", "web")])]});
    assert_eq!(resolve(in_shop), vec!["172.16.10.1"]);
    let in_c1 = json!({"expression": [and(vec![
        cond("KubernetesCluster", "Name", "EQUALS", "c1"),
        cond("KubernetesNode", "Name", "EQUALS", "node-1")])]});
    let two = [inventory("c1"), inventory("c2")];
    assert_eq!(
        resolve_with(in_c1.clone(), &two, &MapLookup::default()),
        vec!["192.168.0.11"]
    );
    assert!(resolve_with(in_c1, &[inventory("c2")], &MapLookup::default()).is_empty());
    let scope_only = json!({"expression": [cond("KubernetesNamespace", "Name", "EQUALS", "shop")]});
    assert!(
        resolve(scope_only).is_empty(),
        "a scope condition alone selects nothing"
    );
}

#[test]
fn ip_addresses_and_nested_groups() {
    let nodes: Group = serde_json::from_value(
        json!({"id": "nodes", "path": "/infra/domains/default/groups/nodes",
        "expression": [cond("KubernetesNode", "Name", "EQUALS", "node-0")]}),
    )
    .expect("group");
    let lookup = MapLookup::new([nodes], []);
    let group = json!({"id": "outer", "expression": [
        {"resource_type": "IPAddressExpression", "ip_addresses": ["10.1.1.1", "10.2.0.0/16"]},
        {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
        {"resource_type": "PathExpression", "paths": ["/infra/domains/default/groups/nodes", "/infra/domains/default/groups/outer"]}]});
    assert_eq!(
        resolve_with(group, &[inventory("c1")], &lookup),
        vec!["10.1.1.1", "10.2.0.0/16", "192.168.0.10"]
    );
}
