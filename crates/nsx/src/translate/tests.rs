//! Translation rules of reference §2, checked against the real captures where there is one.

use super::*;
use crate::model::{SecurityPolicyContainerCluster, Service};
use crate::span::{SpannedPolicy, cluster_control_plane_path};
use serde_json::{Value, json};

const CLUSTER: &str = "k8s-cl-test1";

fn group(id: &str, unique_id: &str, expression: Value) -> Group {
    serde_json::from_value(json!({
        "resource_type": "Group", "id": id, "unique_id": unique_id,
        "path": format!("/infra/domains/default/groups/{id}"),
        "group_type": ["ANTREA"], "expression": expression
    }))
    .expect("group json")
}

fn pod_tag(key: &str, value: &str) -> Value {
    json!({"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS",
           "value": format!("dis:k8s:{key}|{value}")})
}

fn spanned(policy: Value, clusters: &[&str]) -> SpannedPolicy {
    let policy = serde_json::from_value(policy).expect("policy json");
    let spans = clusters
        .iter()
        .map(|c| SecurityPolicyContainerCluster {
            container_cluster_type: Some("ANTREA".into()),
            container_cluster_path: cluster_control_plane_path(c),
            ..Default::default()
        })
        .collect();
    SpannedPolicy::new(policy, spans)
}

fn translate(policies: &[SpannedPolicy], groups: &[Group], services: &[Service]) -> DesiredObjects {
    translate_for_cluster(
        CLUSTER,
        policies,
        groups,
        services,
        &ClusterInventory::default(),
    )
    .expect("translates")
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializes")
}

/// The Yelb groups of the capture, by the UUIDs the capture shows.
fn yelb_groups() -> Vec<Group> {
    vec![
        group(
            "yelb-ui",
            "6f39fadf-04e8-4f49-be77-da0d4005ff37",
            json!([pod_tag("app", "yelb-ui")]),
        ),
        group(
            "yelb-appserver",
            "31cf5eab-0000-4000-8000-000000000001",
            json!([pod_tag("app", "yelb-appserver")]),
        ),
        group(
            "yelb-ns",
            "d250b7d7-0000-4000-8000-000000000002",
            json!([
            {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "yelb"}]),
        ),
    ]
}

/// "Yelb-Zero-Trust" (capture 2.2): the 32nd Application policy; 31 others come first.
fn yelb_policies() -> Vec<SpannedPolicy> {
    let mut policies: Vec<SpannedPolicy> = (0..31)
        .map(|i| {
            spanned(
                json!({"id": format!("vm-policy-{i:02}"), "category": "Application", "sequence_number": i, "rules": []}),
                &[],
            )
        })
        .collect();
    policies.push(spanned(
        json!({
            "id": "yelb-zero-trust", "display_name": "Yelb-Zero-Trust",
            "unique_id": "9ae2599a-3bd3-4413-849e-06f53f467559",
            "category": "Application", "sequence_number": 100,
            "scope": [cluster_control_plane_path(CLUSTER)],
            "rules": [
                {"id": "lb-to-ui", "rule_id": 4084, "sequence_number": 1,
                 "source_groups": ["10.13.11.101", "10.13.11.100"], "destination_groups": ["ANY"],
                 "scope": ["/infra/domains/default/groups/yelb-ui"],
                 "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP", "destination_ports": ["80"]}],
                 "action": "ALLOW", "logged": false},
                {"id": "ui-to-app", "rule_id": 4085, "sequence_number": 2,
                 "source_groups": ["/infra/domains/default/groups/yelb-ui"],
                 "scope": ["/infra/domains/default/groups/yelb-appserver"],
                 "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP", "destination_ports": ["4567"]}],
                 "action": "ALLOW"},
                {"id": "disabled", "rule_id": 4086, "sequence_number": 3, "disabled": true,
                 "source_groups": ["/infra/domains/default/groups/yelb-ui"], "action": "ALLOW"},
                {"id": "drop-rest", "rule_id": 4089, "sequence_number": 9,
                 "source_groups": ["/infra/domains/default/groups/yelb-ns"],
                 "scope": ["/infra/domains/default/groups/yelb-ns"], "action": "DROP"}
            ]
        }),
        &[CLUSTER],
    ));
    policies
}

#[test]
fn tiers_are_the_five_nsx_categories_ahead_of_antrea_tiers() {
    let desired = translate(&[], &[], &[]);
    let tiers: Vec<(String, i32)> = desired
        .tiers
        .iter()
        .map(|t| (t.metadata.name.clone(), t.spec.priority))
        .collect();
    assert_eq!(
        tiers,
        vec![
            ("nsx-category-ethernet".to_string(), 0),
            ("nsx-category-emergency".to_string(), 1),
            ("nsx-category-infrastructure".to_string(), 2),
            ("nsx-category-environment".to_string(), 3),
            ("nsx-category-application".to_string(), 4),
        ]
    );
    assert!(desired.tiers.iter().all(|t| t.spec.priority < 50));
}

#[test]
fn yelb_policy_matches_the_capture() {
    let desired = translate(&yelb_policies(), &yelb_groups(), &[]);
    assert!(desired.issues.is_empty(), "{:?}", desired.issues);
    assert_eq!(
        desired.policies.len(),
        1,
        "only the policy spanning the cluster"
    );
    let acnp = to_json(&desired.policies[0]);
    assert_eq!(acnp["apiVersion"], "crd.antrea.io/v1alpha1");
    assert_eq!(acnp["kind"], "ClusterNetworkPolicy");
    assert_eq!(
        acnp["metadata"],
        json!({
            "name": "9ae2599a-3bd3-4413-849e-06f53f467559",
            "labels": {"ccp-adapter.antrea.tanzu.vmware.com/managedBy": "ccp-adapter"},
            "annotations": {"ccp-adapter.antrea.tanzu.vmware.com/display-name": "Yelb-Zero-Trust"}
        })
    );
    assert_eq!(acnp["spec"]["tier"], "nsx-category-application");
    // The seed value of the capture: application, k = 32.
    assert_eq!(desired.policies[0].spec.priority, 1.0000000532907336);
    assert_eq!(
        acnp["spec"]["ingress"],
        json!([
            {"action": "Allow", "name": "4084", "enableLogging": false,
             "appliedTo": [{"group": "6f39fadf-04e8-4f49-be77-da0d4005ff37"}],
             "from": [{"ipBlock": {"cidr": "10.13.11.101/32"}}, {"ipBlock": {"cidr": "10.13.11.100/32"}}],
             "ports": [{"port": 80, "protocol": "TCP"}]},
            {"action": "Allow", "name": "4085", "enableLogging": false,
             "appliedTo": [{"group": "31cf5eab-0000-4000-8000-000000000001"}],
             "from": [{"group": "6f39fadf-04e8-4f49-be77-da0d4005ff37"}],
             "ports": [{"port": 4567, "protocol": "TCP"}]},
            {"action": "Drop", "name": "4089", "enableLogging": false,
             "appliedTo": [{"group": "d250b7d7-0000-4000-8000-000000000002"}],
             "from": [{"group": "d250b7d7-0000-4000-8000-000000000002"}]}
        ])
    );
    assert!(acnp["spec"].get("egress").is_none());
    let origin = &desired.origins["9ae2599a-3bd3-4413-849e-06f53f467559"];
    assert_eq!(
        origin.policy_path,
        "/infra/domains/default/security-policies/yelb-zero-trust"
    );
    let names: Vec<&str> = origin.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["4084", "4085", "4089"],
        "4086 is disabled: not emitted"
    );
}

#[test]
fn core_dns_policy_matches_the_egress_capture() {
    let policies = [spanned(
        json!({"id": "k8s-core-dns", "display_name": "k8s-core-dns", "category": "Infrastructure",
               "rules": [{"id": "dns", "rule_id": 2025, "source_groups": ["ANY"],
                          "destination_groups": ["/infra/domains/default/groups/core-dns"],
                          "services": ["/infra/services/DNS"], "action": "ALLOW"}]}),
        &[CLUSTER],
    )];
    let groups = [group(
        "core-dns",
        "c7e96b35-1961-4659-8a62-688a0e98fe63",
        json!([pod_tag("k8s-app", "kube-dns")]),
    )];
    let desired = translate(&policies, &groups, &[]);
    let acnp = to_json(&desired.policies[0]);
    assert_eq!(acnp["spec"]["tier"], "nsx-category-infrastructure");
    assert_eq!(desired.policies[0].spec.priority, 1.0000000177635693);
    assert_eq!(
        acnp["spec"]["egress"],
        json!([{"action": "Allow", "name": "2025", "enableLogging": false,
                "appliedTo": [{"podSelector": {}}],
                "to": [{"group": "c7e96b35-1961-4659-8a62-688a0e98fe63"}],
                "ports": [{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}])
    );
    assert!(acnp["spec"].get("ingress").is_none());
}

#[test]
fn cluster_groups_match_the_captured_shapes() {
    let dev_app = group(
        "dev-app",
        "aaaaaaaa-0000-4000-8000-000000000001",
        json!([{"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "dev-app"}]),
    );
    let not_ubuntu = group(
        "not-ubuntu",
        "aaaaaaaa-0000-4000-8000-000000000002",
        json!([{"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "NOTEQUALS", "value": "dis:k8s:app|ubuntu-20-04"}]),
    );
    let rfc1918 = group(
        "rfc1918",
        "aaaaaaaa-0000-4000-8000-000000000003",
        json!([{"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}]),
    );
    let policies = [spanned(
        json!({"id": "p", "category": "Application", "rules": [
            {"id": "r", "rule_id": 1, "source_groups": [
                "/infra/domains/default/groups/not-ubuntu", "/infra/domains/default/groups/rfc1918"],
             "scope": ["/infra/domains/default/groups/dev-app"]}]}),
        &[CLUSTER],
    )];
    let desired = translate(&policies, &[dev_app, not_ubuntu, rfc1918], &[]);
    let by_name: BTreeMap<String, Value> = desired
        .groups
        .iter()
        .map(|g| (g.metadata.name.clone(), to_json(g)))
        .collect();
    let managed = json!({"ccp-adapter.antrea.tanzu.vmware.com/managedBy": "ccp-adapter"});
    let parent = &by_name["aaaaaaaa-0000-4000-8000-000000000001"];
    assert_eq!(parent["apiVersion"], "crd.antrea.io/v1alpha3");
    assert_eq!(parent["kind"], "ClusterGroup");
    assert_eq!(parent["metadata"]["labels"], managed);
    assert_eq!(
        parent["metadata"]["annotations"],
        json!({"ccp-adapter.antrea.tanzu.vmware.com/createdFrom": "nestdbGroupMsg",
               "ccp-adapter.antrea.tanzu.vmware.com/display-name": "aaaaaaaa-0000-4000-8000-000000000001"})
    );
    assert_eq!(
        parent["spec"],
        json!({"childGroups": ["aaaaaaaa-0000-4000-8000-000000000001-0"]})
    );
    let child = &by_name["aaaaaaaa-0000-4000-8000-000000000001-0"];
    assert_eq!(
        child["metadata"]["annotations"]["ccp-adapter.antrea.tanzu.vmware.com/parent"],
        "aaaaaaaa-0000-4000-8000-000000000001"
    );
    assert_eq!(
        child["spec"],
        json!({"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["dev-app"]}]}})
    );
    assert_eq!(
        by_name["aaaaaaaa-0000-4000-8000-000000000002-0"]["spec"],
        json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["ubuntu-20-04"]}]}})
    );
    assert_eq!(
        by_name["aaaaaaaa-0000-4000-8000-000000000003"]["spec"],
        json!({"ipBlocks": [{"cidr": "10.0.0.0/8"}, {"cidr": "172.16.0.0/12"}, {"cidr": "192.168.0.0/16"}]})
    );
    assert!(
        !by_name.contains_key("aaaaaaaa-0000-4000-8000-000000000003-0"),
        "IP-only: no children"
    );
    let names: Vec<&String> = by_name.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(desired.groups.len(), 5);
}

#[test]
fn criteria_become_children_and_nesting_becomes_child_groups() {
    let web = group(
        "web",
        "bbbbbbbb-0000-4000-8000-000000000001",
        json!([
            {"resource_type": "NestedExpression", "expressions": [
                {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "shop"},
                {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"},
                pod_tag("tier", "web")]},
            {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
            {"resource_type": "IPAddressExpression", "ip_addresses": ["10.10.0.1-10.10.0.2"]}
        ]),
    );
    let svc = group(
        "svc",
        "bbbbbbbb-0000-4000-8000-000000000002",
        json!([{"resource_type": "NestedExpression", "expressions": [
            {"resource_type": "Condition", "member_type": "Service", "key": "Name", "operator": "EQUALS", "value": "frontend"},
            {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"},
            {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "shop"}]}]),
    );
    let outer = group(
        "outer",
        "bbbbbbbb-0000-4000-8000-000000000003",
        json!([{"resource_type": "PathExpression", "paths": [
            "/infra/domains/default/groups/web", "/infra/domains/default/groups/svc"]}]),
    );
    let policies = [spanned(
        json!({"id": "p", "category": "Emergency", "rules": [
            {"id": "r", "rule_id": 7, "destination_groups": ["/infra/domains/default/groups/outer"]}]}),
        &[CLUSTER],
    )];
    let desired = translate(&policies, &[web, svc, outer], &[]);
    assert!(desired.issues.is_empty(), "{:?}", desired.issues);
    let by_name: BTreeMap<String, Value> = desired
        .groups
        .iter()
        .map(|g| (g.metadata.name.clone(), to_json(g)["spec"].clone()))
        .collect();
    let web = "bbbbbbbb-0000-4000-8000-000000000001";
    let svc = "bbbbbbbb-0000-4000-8000-000000000002";
    assert_eq!(
        by_name[web],
        json!({"childGroups": [format!("{web}-0"), format!("{web}-1")]})
    );
    assert_eq!(
        by_name[&format!("{web}-0")],
        json!({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]},
               "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["shop"]}]}})
    );
    assert_eq!(
        by_name[&format!("{web}-1")],
        json!({"ipBlocks": [{"cidr": "10.10.0.1/32"}, {"cidr": "10.10.0.2/32"}]})
    );
    assert_eq!(
        by_name[&format!("{svc}-0")],
        json!({"serviceReference": {"name": "frontend", "namespace": "shop"}})
    );
    // One level of nesting: the outer group lists the included groups' children.
    assert_eq!(
        by_name["bbbbbbbb-0000-4000-8000-000000000003"],
        json!({"childGroups": [format!("{web}-0"), format!("{web}-1"), format!("{svc}-0")]})
    );
    let acnp = to_json(&desired.policies[0]);
    assert_eq!(acnp["spec"]["tier"], "nsx-category-emergency");
    assert_eq!(
        acnp["spec"]["egress"][0]["to"],
        json!([{"group": "bbbbbbbb-0000-4000-8000-000000000003"}])
    );
    assert_eq!(
        acnp["spec"]["egress"][0]["appliedTo"],
        json!([{"podSelector": {}}])
    );
}

#[test]
fn directions_and_the_any_any_split() {
    let g = group(
        "a",
        "cccccccc-0000-4000-8000-000000000001",
        json!([pod_tag("app", "a")]),
    );
    let a = "/infra/domains/default/groups/a";
    let policies = [spanned(
        json!({"id": "p", "category": "Application", "rules": [
            {"id": "any-any", "rule_id": 10, "sequence_number": 1, "scope": [a], "action": "DROP"},
            {"id": "any-any-in", "rule_id": 11, "sequence_number": 2, "scope": [a], "direction": "IN", "action": "DROP"},
            {"id": "any-any-out", "rule_id": 12, "sequence_number": 3, "scope": [a], "direction": "OUT", "action": "REJECT"},
            {"id": "src-out", "rule_id": 13, "sequence_number": 4, "source_groups": [a], "direction": "OUT"},
            {"id": "dst-in", "rule_id": 14, "sequence_number": 5, "destination_groups": [a], "direction": "IN"},
            {"id": "src-in-out", "rule_id": 16, "sequence_number": 7, "source_groups": [a]},
            {"id": "dst-in-out", "rule_id": 17, "sequence_number": 8, "destination_groups": [a]},
            {"id": "logged", "rule_id": 15, "sequence_number": 6, "scope": [a], "direction": "IN", "logged": true, "tag": "audit"}
        ]}),
        &[CLUSTER],
    )];
    let desired = translate(&policies, &[g], &[]);
    let spec = to_json(&desired.policies[0].spec);
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        names(&spec["ingress"]),
        vec!["10-in", "11", "14", "15", "16"]
    );
    assert_eq!(names(&spec["egress"]), vec!["10-out", "12", "13", "17"]);
    assert_eq!(spec["egress"][1]["action"], "Reject");
    assert_eq!(spec["ingress"][3]["enableLogging"], true);
    assert_eq!(spec["ingress"][3]["logLabel"], "audit");
    let group_a = json!([{"group": "cccccccc-0000-4000-8000-000000000001"}]);
    // dst-in: an explicit IN protects the destination group's ingress from every source.
    assert_eq!(spec["ingress"][2]["appliedTo"], group_a);
    assert!(spec["ingress"][2].get("from").is_none(), "{spec}");
    // src-out: an explicit OUT is the source group's egress to everywhere.
    assert_eq!(spec["egress"][2]["appliedTo"], group_a);
    assert!(spec["egress"][2].get("to").is_none(), "{spec}");
    // IN_OUT with one side ANY: the side that is set decides (the captured DNS rule).
    assert_eq!(
        spec["ingress"][4]["appliedTo"],
        json!([{"podSelector": {}}])
    );
    assert_eq!(spec["ingress"][4]["from"], group_a);
    assert_eq!(spec["egress"][3]["appliedTo"], json!([{"podSelector": {}}]));
    assert_eq!(spec["egress"][3]["to"], group_a);
}

#[test]
fn policy_applied_to_takes_precedence_over_rule_applied_to() {
    let a = group(
        "a",
        "dddddddd-0000-4000-8000-000000000001",
        json!([pod_tag("app", "a")]),
    );
    let b = group(
        "b",
        "dddddddd-0000-4000-8000-000000000002",
        json!([pod_tag("app", "b")]),
    );
    let policies = [spanned(
        json!({"id": "p", "category": "Application",
               "scope": ["/infra/domains/default/groups/a", cluster_control_plane_path(CLUSTER)],
               "rules": [{"id": "r", "rule_id": 1, "direction": "IN", "scope": ["/infra/domains/default/groups/b"]}]}),
        &[],
    )];
    let desired = translate(&policies, &[a, b], &[]);
    assert_eq!(
        desired.policies.len(),
        1,
        "the scope's cluster path spans the cluster"
    );
    assert_eq!(
        to_json(&desired.policies[0].spec.ingress[0].applied_to),
        json!([{"group": "dddddddd-0000-4000-8000-000000000001"}])
    );
    let names: Vec<&str> = desired
        .groups
        .iter()
        .map(|g| g.metadata.name.as_str())
        .collect();
    assert!(
        !names.contains(&"dddddddd-0000-4000-8000-000000000002"),
        "b is not used: {names:?}"
    );
}

#[test]
fn priorities_follow_sequence_numbers_within_each_category() {
    let policy = |id: &str, category: &str, seq: i64| {
        spanned(
            json!({"id": id, "category": category, "sequence_number": seq, "rules": []}),
            &[CLUSTER],
        )
    };
    let policies = [
        policy("late", "Application", 20),
        policy("early", "Application", 10),
        policy("tie-b", "Application", 30),
        policy("tie-a", "Application", 30),
        policy("emergency", "Emergency", 999),
        policy("env", "Environment", 1),
    ];
    let desired = translate(&policies, &[], &[]);
    let decoded: Vec<(String, Category, u64)> = desired
        .policies
        .iter()
        .map(|p| {
            let (category, k) =
                decode_policy_priority(p.spec.priority).unwrap_or((Category::Ethernet, 0));
            let origin = &desired.origins[&p.metadata.name].policy_path;
            (
                origin.rsplit('/').next().unwrap_or_default().to_string(),
                category,
                k,
            )
        })
        .collect();
    assert_eq!(
        decoded,
        vec![
            ("emergency".to_string(), Category::Emergency, 1),
            ("env".to_string(), Category::Environment, 1),
            ("early".to_string(), Category::Application, 1),
            ("late".to_string(), Category::Application, 2),
            ("tie-a".to_string(), Category::Application, 3),
            ("tie-b".to_string(), Category::Application, 4),
        ]
    );
    // A policy with all rules disabled still exists but selects nothing.
    assert_eq!(
        to_json(&desired.policies[0].spec.applied_to),
        json!([{"podSelector": {}}])
    );
}

#[test]
fn untranslatable_policies_are_reported_and_left_out() {
    let pod_name = group(
        "by-name",
        "eeeeeeee-0000-4000-8000-000000000001",
        json!([{"resource_type": "Condition", "member_type": "Pod", "key": "Name", "operator": "EQUALS", "value": "web-0"}]),
    );
    let policies = [
        spanned(
            json!({"id": "bad-group", "category": "Application", "rules": [
            {"id": "r", "source_groups": ["/infra/domains/default/groups/by-name"]}]}),
            &[CLUSTER],
        ),
        spanned(
            json!({"id": "missing", "category": "Application", "rules": [
            {"id": "r", "source_groups": ["/infra/domains/default/groups/nope"]}]}),
            &[CLUSTER],
        ),
        spanned(
            json!({"id": "icmp", "category": "Application", "rules": [
            {"id": "r", "services": ["/infra/services/ICMP-ALL"]}]}),
            &[CLUSTER],
        ),
        spanned(
            json!({"id": "l2", "category": "Ethernet", "rules": []}),
            &[CLUSTER],
        ),
        spanned(
            json!({"id": "fine", "category": "Application", "rules": []}),
            &[CLUSTER],
        ),
    ];
    let desired = translate(&policies, &[pod_name], &[]);
    let issues: Vec<&str> = desired
        .issues
        .iter()
        .map(|i| i.policy_path.rsplit('/').next().unwrap_or_default())
        .collect();
    assert_eq!(issues, vec!["bad-group", "icmp", "l2", "missing"]);
    assert_eq!(desired.policies.len(), 1);
    assert!(
        desired.groups.is_empty(),
        "groups of left-out policies are not written"
    );
}

#[test]
fn managed_objects_disappear_with_their_policy_or_span() {
    let g = group(
        "a",
        "ffffffff-0000-4000-8000-000000000001",
        json!([pod_tag("app", "a")]),
    );
    let policy = |clusters: &[&str]| {
        spanned(
            json!({"id": "p", "category": "Application", "rules": [
                {"id": "r", "rule_id": 1, "source_groups": ["/infra/domains/default/groups/a"]}]}),
            clusters,
        )
    };
    let before = translate(&[policy(&[CLUSTER])], std::slice::from_ref(&g), &[]);
    assert_eq!(before.policies.len(), 1);
    assert_eq!(before.groups.len(), 2);
    let mut existing = before.to_objects();
    // A user's own object, without the managed-by label, is never deleted.
    let mut own = before.policies[0].clone();
    own.metadata.name = "user-policy".into();
    own.metadata.labels.clear();
    existing.push(Object::AntreaPolicy(Kind::ClusterNetworkPolicy, own));
    let after = translate(&[policy(&["other-cluster"])], &[g], &[]);
    assert!(after.policies.is_empty() && after.groups.is_empty());
    let stale: Vec<String> = stale_managed_objects(&existing, &after)
        .iter()
        .map(ToString::to_string)
        .collect();
    let group_name = "ffffffff-0000-4000-8000-000000000001";
    assert_eq!(
        stale,
        vec![
            format!("acnp/{}", before.policies[0].metadata.name),
            format!("cg/{group_name}"),
            format!("cg/{group_name}-0"),
        ]
    );
}

#[test]
fn output_is_deterministic_and_names_are_stable_without_unique_ids() {
    let mut g: Group = serde_json::from_value(json!({"id": "g", "group_type": ["ANTREA"],
        "expression": [pod_tag("app", "x")]}))
    .expect("group");
    g.meta.unique_id = None;
    let policies = [spanned(
        json!({"id": "p", "category": "Application", "rules": [
            {"id": "r", "rule_id": 5, "source_groups": ["/infra/domains/default/groups/g"],
             "services": ["/infra/services/custom"]}]}),
        &[CLUSTER],
    )];
    let custom: Service = serde_json::from_value(json!({"id": "custom", "service_entries": [
        {"resource_type": "L4PortSetServiceEntry", "l4_protocol": "UDP", "destination_ports": ["8000-8100", "9000"]},
        {"resource_type": "NestedServiceServiceEntry", "nested_service_path": "/infra/services/HTTPS"}]}))
    .expect("service");
    let one = translate(
        &policies,
        std::slice::from_ref(&g),
        std::slice::from_ref(&custom),
    );
    let two = translate(&policies, &[g], &[custom]);
    assert_eq!(one, two);
    assert_eq!(
        one.policies[0].metadata.name,
        name_based_uuid("/infra/domains/default/security-policies/p")
    );
    assert_eq!(
        to_json(&one.policies[0].spec.ingress[0].ports),
        json!([{"port": 8000, "endPort": 8100, "protocol": "UDP"}, {"port": 9000, "protocol": "UDP"}, {"port": 443, "protocol": "TCP"}])
    );
}

#[test]
fn empty_cluster_id_is_an_error() {
    assert_eq!(
        translate_for_cluster("", &[], &[], &[], &ClusterInventory::default()),
        Err(TranslateError::EmptyClusterId)
    );
}

#[test]
fn positions_count_every_policy_of_the_category_not_only_this_clusters() {
    let policy = |id: &str, seq: i64, clusters: &[&str]| {
        spanned(
            json!({"id": id, "category": "Application", "sequence_number": seq, "rules": []}),
            clusters,
        )
    };
    let k_of = |desired: &DesiredObjects| -> Vec<u64> {
        desired
            .policies
            .iter()
            .filter_map(|p| decode_policy_priority(p.spec.priority).map(|(_, k)| k))
            .collect()
    };
    // A VM-only policy and another cluster's policy come first in Application: ours is k = 3.
    let all = [
        policy("mine", 20, &[CLUSTER]),
        policy("vms", 5, &[]),
        policy("other-cluster", 10, &["k8s-cl-other"]),
    ];
    assert_eq!(k_of(&translate(&all, &[], &[])), vec![3]);

    // What the manager sends: only the cluster's own policy, numbered over all of them.
    let mut mine = policy("mine", 20, &[CLUSTER]);
    mine.policy.internal_sequence_number = internal_sequence_number(Category::Application, 3);
    assert_eq!(mine.policy.internal_sequence_number, Some(60_000_003));
    let desired = translate(std::slice::from_ref(&mine), &[], &[]);
    assert_eq!(k_of(&desired), vec![3]);
    assert_eq!(
        desired.policies[0].spec.priority,
        1.0 + 60_000_003.0 * PRIORITY_STEP
    );

    // A number of another category, or a category where some policy has none: counted here.
    let mut wrong = mine.clone();
    wrong.policy.internal_sequence_number = Some(20_000_007);
    assert_eq!(k_of(&translate(&[wrong], &[], &[])), vec![1]);
    let without = policy("later", 30, &[CLUSTER]);
    assert_eq!(k_of(&translate(&[mine, without], &[], &[])), vec![1, 2]);
}
