//! JSON round trips of the reference's example bodies, with unknown fields kept.

use super::*;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

fn round_trip<T: Serialize + DeserializeOwned>(body: &Value) -> T {
    let typed: T = serde_json::from_value(body.clone()).expect("deserializes");
    let back = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(&back, body, "round trip changed the body");
    typed
}

#[test]
fn antrea_group_example_round_trips_with_unknown_fields() {
    let body = json!({
        "resource_type": "Group",
        "id": "shop-web",
        "display_name": "shop-web",
        "path": "/infra/domains/default/groups/shop-web",
        "_revision": 3,
        "_create_user": "admin",
        "_links": [{"rel": "self", "href": "/x"}],
        "future_field": {"nested": true},
        "group_type": ["ANTREA"],
        "expression": [
            {"resource_type": "NestedExpression", "id": "n0", "expressions": [
                {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "shop"},
                {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"},
                {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": "dis:k8s:tier|web", "scope_operator": "EQUALS"}
            ]},
            {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
            {"resource_type": "IPAddressExpression", "ip_addresses": ["10.10.0.0/24"]}
        ],
        "tags": [{"scope": "owner", "tag": "platform"}]
    });
    let group: Group = round_trip(&body);
    assert!(group.is_antrea());
    assert_eq!(group.meta.revision, Some(3));
    assert_eq!(group.extra["future_field"], json!({"nested": true}));
    let Expression::NestedExpression(nested) = &group.expression[0] else {
        panic!("first entry is the nested expression");
    };
    assert_eq!(nested.extra["id"], json!("n0"));
    let Expression::Condition(tag) = &nested.expressions[2] else {
        panic!("third entry is a condition");
    };
    assert_eq!(tag.tag_scope_and_value(), ("dis:k8s:tier", "web"));
}

#[test]
fn security_policy_example_round_trips() {
    let body = json!({
        "resource_type": "SecurityPolicy",
        "id": "shop-web-policy",
        "display_name": "shop-web-policy",
        "category": "Application",
        "sequence_number": 10,
        "stateful": true,
        "tcp_strict": true,
        "locked": false,
        "comments": "",
        "scope": ["/infra/domains/default/groups/shop-all"],
        "rules": [
            {
                "resource_type": "Rule",
                "id": "allow-lb-to-web",
                "display_name": "allow lb -> web:80",
                "sequence_number": 1,
                "source_groups": ["10.13.11.100/31"],
                "destination_groups": ["/infra/domains/default/groups/shop-web"],
                "services": ["ANY"],
                "service_entries": [
                    {"resource_type": "L4PortSetServiceEntry", "id": "tcp-80", "l4_protocol": "TCP", "destination_ports": ["80"]}
                ],
                "scope": ["/infra/domains/default/groups/shop-web"],
                "action": "ALLOW",
                "direction": "IN",
                "ip_protocol": "IPV4_IPV6",
                "logged": true,
                "disabled": false,
                "tag": "shop-lb",
                "notes": "ingress from LB SEs",
                "sources_excluded": false,
                "destinations_excluded": false,
                "rule_id": 4084,
                "_revision": 0
            },
            {
                "resource_type": "Rule",
                "id": "drop-rest",
                "display_name": "drop everything else into shop",
                "sequence_number": 2,
                "source_groups": ["ANY"],
                "destination_groups": ["/infra/domains/default/groups/shop-all"],
                "services": ["ANY"],
                "scope": ["/infra/domains/default/groups/shop-all"],
                "action": "DROP",
                "direction": "IN",
                "ip_protocol": "IPV4_IPV6",
                "logged": false,
                "disabled": false
            }
        ],
        "internal_sequence_number": 60000032,
        "children": []
    });
    let policy: SecurityPolicy = round_trip(&body);
    assert_eq!(policy.category, Some(Category::Application));
    assert_eq!(policy.rules[0].rule_id, Some(4084));
    assert_eq!(policy.rules[1].action(), RuleAction::Drop);
    assert_eq!(policy.extra["children"], json!([]));
}

#[test]
fn span_services_inventory_and_statistics_round_trip() {
    round_trip::<SecurityPolicyContainerCluster>(&json!({
        "resource_type": "SecurityPolicyContainerCluster",
        "container_cluster_type": "ANTREA",
        "container_cluster_path": "/infra/sites/default/enforcement-points/default/cluster-control-planes/prod-cluster-1"
    }));
    round_trip::<Service>(&json!({
        "resource_type": "Service", "id": "web", "display_name": "web",
        "service_entries": [
            {"resource_type": "L4PortSetServiceEntry", "id": "e", "l4_protocol": "UDP", "destination_ports": ["53", "8000-8080"], "source_ports": ["1000"]},
            {"resource_type": "ICMPTypeServiceEntry", "protocol": "ICMPv4", "icmp_type": 8},
            {"resource_type": "NestedServiceServiceEntry", "nested_service_path": "/infra/services/HTTP"},
            {"resource_type": "EtherTypeServiceEntry", "ether_type": 2048}
        ]
    }));
    round_trip::<ClusterControlPlane>(&json!({
        "resource_type": "ClusterControlPlane", "display_name": "prod-cluster-1",
        "node_type": "ANTREA_NODE", "certificate": "-----BEGIN CERTIFICATE-----\n", "vhc_path": ""
    }));
    round_trip::<ClusterInventory>(&json!({
        "cluster_id": "prod-cluster-1",
        "namespaces": [{"display_name": "shop", "tags": [{"scope": "dis:k8s:env", "tag": "prod"}]}],
        "pods": [{"display_name": "web-0", "namespace": "shop", "ip_addresses": ["10.0.1.5"], "services": ["web"]}],
        "services": [{"display_name": "web", "namespace": "shop", "service_type": "NodePort",
                      "ports": [{"protocol": "TCP", "port": 80, "node_port": 30080}]}],
        "nodes": [{"display_name": "node-0", "ip_addresses": ["192.168.0.10"]}],
        "egresses": [{"display_name": "eg", "egress_ips": ["172.16.0.5"]}],
        "ip_pools": [{"display_name": "pool", "ip_ranges": [{"start": "10.9.0.10", "end": "10.9.0.20"}]}],
        "gateways": [{"display_name": "gw", "namespace": "shop", "ip_addresses": ["172.16.1.1"],
                      "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}]
    }));
    round_trip::<RuleStatisticsListResult>(&json!({
        "results": [{
            "enforcement_point": "/infra/sites/default/enforcement-points/default",
            "container_cluster_path": "/infra/sites/default/enforcement-points/default/cluster-control-planes/prod-cluster-1",
            "statistics": {"rule": "/infra/domains/default/security-policies/p/rules/r", "internal_rule_id": "4084",
                "hit_count": 57, "packet_count": 1240, "byte_count": 183020, "session_count": 57,
                "popularity_index": 0, "max_popularity_index": 0, "max_session_count": 0, "total_session_count": 0,
                "l7_accept_count": 0, "l7_reject_count": 0, "l7_reject_with_response_count": 0}
        }],
        "result_count": 1
    }));
}

#[test]
fn unknown_enum_values_are_rejected() {
    let bad = json!({"resource_type": "Rule", "action": "PERMIT"});
    assert!(serde_json::from_value::<Rule>(bad).is_err());
    let bad = json!({"expression": [{"resource_type": "Condition", "member_type": "Pod", "key": "Colour", "value": "x"}]});
    assert!(serde_json::from_value::<Group>(bad).is_err());
}

#[test]
fn predefined_catalogue_has_nsx_ids_and_ports() {
    let dns = predefined_service("/infra/services/DNS").expect("DNS is predefined");
    let ports: Vec<(L4Protocol, Vec<String>)> = dns
        .service_entries
        .iter()
        .filter_map(|e| match e {
            ServiceEntry::L4PortSetServiceEntry(l4) => {
                Some((l4.l4_protocol, l4.destination_ports.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        ports,
        vec![
            (L4Protocol::Tcp, vec!["53".to_string()]),
            (L4Protocol::Udp, vec!["53".to_string()])
        ]
    );
    assert!(predefined_service("HTTPS").is_some());
    assert!(predefined_service("/infra/services/NOPE").is_none());
    let ids: Vec<&str> = predefined_services()
        .iter()
        .map(|s| s.meta.id.as_str())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}
