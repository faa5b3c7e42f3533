//! `tierwall_nsx::dfw_trace::trace_flow` on small DFWs: category, policy and rule order,
//! Applied-To on each side, groups of Pods, IPs and node IP + nodePort, services, jumps and
//! the default rule.

use serde_json::{Value, json};
use tierwall_nsx::dfw_trace::*;
use tierwall_nsx::model::{Category, ClusterInventory, Group, L4Protocol, RuleAction};
use tierwall_nsx::span::SpannedPolicy;

fn inventory() -> ClusterInventory {
    serde_json::from_value(json!({
        "cluster_id": "c1",
        "namespaces": [{"display_name": "shop"}, {"display_name": "dev"}],
        "pods": [
            {"display_name": "web-0", "namespace": "shop", "ip_addresses": ["10.244.1.5"]},
            {"display_name": "web-0", "namespace": "dev", "ip_addresses": ["10.244.2.5"]}
        ],
        "services": [{"display_name": "web", "namespace": "shop", "service_type": "NodePort",
            "ports": [{"protocol": "TCP", "port": 80, "node_port": 30080}]}],
        "nodes": [{"display_name": "node-0", "ip_addresses": ["172.18.0.2"]},
                  {"display_name": "node-1", "ip_addresses": ["172.18.0.3"]}]
    }))
    .expect("inventory json")
}

fn cond(member_type: &str, key: &str, value: &str) -> Value {
    json!({"resource_type": "Condition", "member_type": member_type, "key": key,
           "operator": "EQUALS", "value": value})
}

fn group(id: &str, expression: Vec<Value>) -> Group {
    serde_json::from_value(
        json!({"id": id, "path": format!("/infra/domains/default/groups/{id}"),
        "expression": expression}),
    )
    .expect("group json")
}

fn ips(id: &str, addresses: &[&str]) -> Group {
    group(
        id,
        vec![json!({"resource_type": "IPAddressExpression", "ip_addresses": addresses})],
    )
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

fn policy(value: Value) -> SpannedPolicy {
    SpannedPolicy::new(
        serde_json::from_value(value).expect("policy json"),
        Vec::new(),
    )
}

fn g(id: &str) -> String {
    format!("/infra/domains/default/groups/{id}")
}

fn flow(source: &str, destination: &str, port: u16) -> TraceFlow {
    TraceFlow {
        source: source.parse().expect("source"),
        destination: destination.parse().expect("destination"),
        protocol: L4Protocol::Tcp,
        destination_port: port,
    }
}

fn trace(policies: &[SpannedPolicy], groups: &[Group], f: &TraceFlow) -> TraceDecision {
    let inventories = [inventory()];
    trace_flow(
        &DfwObjects {
            policies,
            groups,
            services: &[],
            inventories: &inventories,
        },
        f,
    )
}

#[test]
fn an_ip_group_rule_names_the_member_that_matched() {
    let groups = [ips("vm-web", &["10.0.0.5", "10.0.9.0/24"])];
    let policies = [policy(json!({"id": "vms", "display_name": "VM rules",
        "category": "Application", "sequence_number": 5,
        "rules": [{"id": "vm-out", "display_name": "VMs out", "rule_id": 1007,
            "source_groups": [g("vm-web")], "destination_groups": ["ANY"],
            "services": ["/infra/services/HTTP"], "action": "DROP", "direction": "OUT"}]}))];
    let decision = trace(&policies, &groups, &flow("10.0.0.5", "192.0.2.1", 80));
    assert_eq!(decision.action, RuleAction::Drop);
    let matched = decision.matched.expect("the rule matches");
    assert_eq!(
        (
            matched.policy_id.as_str(),
            matched.policy_display_name.as_str()
        ),
        ("vms", "VM rules")
    );
    assert_eq!(
        (matched.rule_id.as_str(), matched.rule_number),
        ("vm-out", Some(1007))
    );
    assert_eq!(matched.source.describe(), "group vm-web: IP 10.0.0.5");
    assert_eq!(matched.destination.describe(), "ANY");
    assert_eq!(matched.service, "service HTTP: TCP 80");
    let in_prefix = trace(&policies, &groups, &flow("10.0.9.7", "192.0.2.1", 80));
    assert_eq!(
        in_prefix.matched.expect("prefix member").source.member,
        "range 10.0.9.0/24 (holds 10.0.9.7)"
    );
    let other_port = trace(&policies, &groups, &flow("10.0.0.5", "192.0.2.1", 443));
    assert!(other_port.matched.is_none(), "HTTP is TCP 80 only");
}

#[test]
fn a_nodeport_member_matches_node_ip_and_node_port_only() {
    let groups = [
        ips("vm-web", &["10.0.0.5"]),
        group(
            "k8s-nodeport",
            vec![cond("KubernetesService", "Name", "web")],
        ),
    ];
    let policies = [policy(json!({"id": "vm-to-k8s", "category": "Application",
        "rules": [{"id": "drop-nodeport", "source_groups": [g("vm-web")],
            "destination_groups": [g("k8s-nodeport")], "action": "DROP"}]}))];
    let decision = trace(&policies, &groups, &flow("10.0.0.5", "172.18.0.3", 30080));
    let matched = decision.matched.expect("node IP + nodePort");
    assert_eq!(matched.action, RuleAction::Drop);
    assert_eq!(
        matched.destination.describe(),
        "group k8s-nodeport: node node-1 (cluster c1) IP 172.18.0.3 + port 30080/TCP"
    );
    let wrong_port = trace(&policies, &groups, &flow("10.0.0.5", "172.18.0.3", 80));
    assert!(
        wrong_port.matched.is_none(),
        "port 80 of the node is not a member"
    );
    assert_eq!(wrong_port.action, RuleAction::Allow);
}

#[test]
fn namespace_and_cluster_conditions_narrow_the_members() {
    let groups = [group(
        "shop-pods-c1",
        vec![and(vec![
            cond("KubernetesCluster", "Name", "c1"),
            cond("KubernetesNamespace", "Name", "shop"),
            cond("Pod", "Name", "web-0"),
        ])],
    )];
    let rule = |cluster: &str| {
        policy(
            json!({"id": format!("p-{cluster}"), "category": "Application",
            "rules": [{"id": "r", "source_groups": ["ANY"], "destination_groups": [g("shop-pods-c1")],
                "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                    "destination_ports": ["8000-8100"]}], "action": "REJECT"}]}),
        )
    };
    let policies = [rule("c1")];
    let shop = trace(&policies, &groups, &flow("10.0.0.5", "10.244.1.5", 8080));
    let matched = shop.matched.expect("shop/web-0 in c1");
    assert_eq!(
        matched.destination.describe(),
        "group shop-pods-c1: pod shop/web-0 (cluster c1) IP 10.244.1.5"
    );
    assert_eq!(matched.service, "entry TCP 8000-8100");
    let dev = trace(&policies, &groups, &flow("10.0.0.5", "10.244.2.5", 8080));
    assert!(dev.matched.is_none(), "dev/web-0 is not in namespace shop");
    let other_cluster = [group(
        "shop-pods-c1",
        vec![and(vec![
            cond("KubernetesCluster", "Name", "c2"),
            cond("KubernetesNamespace", "Name", "shop"),
            cond("Pod", "Name", "web-0"),
        ])],
    )];
    let c2 = trace(
        &policies,
        &other_cluster,
        &flow("10.0.0.5", "10.244.1.5", 8080),
    );
    assert!(c2.matched.is_none(), "the pod is in c1, the group wants c2");
}

#[test]
fn categories_then_sequence_numbers_decide_and_disabled_rules_skip() {
    let any_rule = |id: &str, action: &str, disabled: bool| json!({"id": id, "action": action, "disabled": disabled});
    let policies = [
        policy(
            json!({"id": "app-first", "category": "Application", "sequence_number": 1,
            "rules": [any_rule("app", "ALLOW", false)]}),
        ),
        policy(
            json!({"id": "env-late", "category": "Environment", "sequence_number": 20,
            "rules": [any_rule("env-late", "REJECT", false)]}),
        ),
        policy(
            json!({"id": "env-early", "category": "Environment", "sequence_number": 10,
            "rules": [any_rule("second", "DROP", false), any_rule("off", "ALLOW", true)]}),
        ),
        policy(
            json!({"id": "emergency", "category": "Emergency", "sequence_number": 99,
            "rules": [any_rule("disabled", "ALLOW", true)]}),
        ),
    ];
    let mut reordered = policies.clone();
    if let Some(rules) = reordered.get_mut(2).map(|p| &mut p.policy.rules) {
        rules[0].sequence_number = Some(2);
        rules[1].sequence_number = Some(1);
        rules[1].disabled = Some(false);
    }
    let f = flow("10.0.0.5", "10.0.0.6", 22);
    let decision = trace(&policies, &[], &f);
    let matched = decision.matched.expect("env-early wins");
    assert_eq!(
        (
            matched.category,
            matched.policy_id.as_str(),
            matched.rule_id.as_str()
        ),
        (Category::Environment, "env-early", "second")
    );
    assert_eq!(decision.action, RuleAction::Drop);
    assert_eq!(decision.decided_by, Some(Side::Egress));
    assert_eq!(
        decision.egress.rules_evaluated, 1,
        "the disabled Emergency rule is skipped"
    );
    let decision = trace(&reordered, &[], &f);
    assert_eq!(
        decision.matched.map(|m| m.rule_id),
        Some("off".to_string()),
        "rule sequence_number orders rules within a policy"
    );
    let jump = [
        policy(json!({"id": "env", "category": "Environment",
            "rules": [any_rule("jump", "JUMP_TO_APPLICATION", false), any_rule("never", "DROP", false)]})),
        policy(json!({"id": "app", "category": "Application",
            "rules": [any_rule("app-allow", "ALLOW", false)]})),
    ];
    let decision = trace(&jump, &[], &f);
    assert_eq!(decision.egress.jumped.len(), 1);
    assert_eq!(
        decision.matched.map(|m| m.rule_id),
        Some("app-allow".to_string())
    );
}

#[test]
fn nothing_matching_ends_in_the_default_allow() {
    let groups = [ips("vm-web", &["10.0.0.5"])];
    let policies = [policy(json!({"id": "vms", "category": "Application",
        "rules": [{"id": "r", "source_groups": [g("vm-web")], "action": "DROP"},
                  {"id": "udp", "service_entries": [{"resource_type": "L4PortSetServiceEntry",
                    "l4_protocol": "UDP", "destination_ports": ["53"]}], "action": "DROP"}]}))];
    let decision = trace(&policies, &groups, &flow("10.0.0.6", "10.0.0.7", 53));
    assert!(decision.matched.is_none());
    assert_eq!(decision.action, RuleAction::Allow);
    assert_eq!(
        (
            decision.egress.rules_evaluated,
            decision.ingress.rules_evaluated
        ),
        (2, 2)
    );
    assert_eq!(decision.decided_by, None);
    let excluded: Vec<SpannedPolicy> = vec![policy(json!({"id": "not-vms",
        "rules": [{"id": "r", "source_groups": [g("vm-web")], "sources_excluded": true,
            "action": "DROP"}]}))];
    let decision = trace(&excluded, &groups, &flow("10.0.0.6", "10.0.0.7", 53));
    assert_eq!(
        decision.action,
        RuleAction::Drop,
        "10.0.0.6 is not in vm-web"
    );
}

fn spanned(value: Value, clusters: &[&str]) -> SpannedPolicy {
    let spans = clusters
        .iter()
        .map(|c| tierwall_nsx::model::SecurityPolicyContainerCluster {
            container_cluster_type: Some("ANTREA".into()),
            container_cluster_path: tierwall_nsx::span::cluster_control_plane_path(c),
            ..Default::default()
        })
        .collect();
    SpannedPolicy::new(serde_json::from_value(value).expect("policy json"), spans)
}

#[test]
fn a_rule_decides_only_on_the_ends_in_its_applied_to() {
    let groups = [ips("vm-web", &["10.0.0.5"]), ips("vm-db", &["10.0.0.7"])];
    let policies = [policy(json!({"id": "web-only", "category": "Application",
        "scope": [g("vm-web")],
        "rules": [{"id": "drop-all", "rule_id": 1010, "action": "DROP",
                   "scope": [g("vm-db")]}]}))];
    // Neither end is in the policy's Applied-To: the rule decides nothing, and says so.
    let outside = trace(&policies, &groups, &flow("10.0.0.9", "10.0.0.8", 80));
    assert_eq!(outside.action, RuleAction::Allow);
    assert_eq!(outside.decided_by, None);
    assert_eq!(
        (
            outside.egress.rules_evaluated,
            outside.ingress.rules_evaluated
        ),
        (0, 0)
    );
    let egress_skip = &outside.egress.skipped;
    assert_eq!(egress_skip.len(), 1, "{egress_skip:?}");
    assert_eq!(egress_skip[0].rule.rule_id, "drop-all");
    assert_eq!(
        egress_skip[0].rule.applied_to,
        "group vm-web (policy Applied-To)"
    );
    assert_eq!(
        egress_skip[0].reason,
        "10.0.0.9 is not a member of group vm-web"
    );
    assert_eq!(
        outside.ingress.skipped[0].reason,
        "10.0.0.8 is not a member of group vm-web"
    );
    // The policy scope wins over the rule scope: vm-db (the rule's) does not count.
    let db = trace(&policies, &groups, &flow("10.0.0.7", "10.0.0.8", 80));
    assert_eq!(db.action, RuleAction::Allow, "{db:?}");
    // The source in scope: decided when leaving it; the destination: when entering it.
    let from_web = trace(&policies, &groups, &flow("10.0.0.5", "10.0.0.8", 80));
    assert_eq!(
        (from_web.action, from_web.decided_by),
        (RuleAction::Drop, Some(Side::Egress))
    );
    assert!(from_web.ingress.matched.is_none());
    let to_web = trace(&policies, &groups, &flow("10.0.0.8", "10.0.0.5", 80));
    assert_eq!(
        (to_web.action, to_web.decided_by),
        (RuleAction::Drop, Some(Side::Ingress))
    );
    assert_eq!(
        to_web.matched.map(|m| m.applied_to),
        Some("group vm-web (policy Applied-To)".to_string())
    );
    // Without a policy scope the rule scope is the Applied-To.
    let rule_scoped = [policy(json!({"id": "db", "category": "Application",
        "rules": [{"id": "drop-all", "action": "DROP", "scope": [g("vm-db")]}]}))];
    let into_db = trace(&rule_scoped, &groups, &flow("10.0.0.5", "10.0.0.7", 80));
    assert_eq!(
        (into_db.action, into_db.decided_by),
        (RuleAction::Drop, Some(Side::Ingress))
    );
    assert_eq!(
        into_db.egress.skipped[0].rule.applied_to,
        "group vm-db (rule Applied-To)"
    );
}

#[test]
fn a_vm_rule_of_one_direction_is_enforced_on_that_side_only() {
    let groups = [ips("vm-web", &["10.0.0.5"])];
    let policies = [policy(json!({"id": "out", "category": "Application",
        "rules": [{"id": "drop-out", "action": "DROP", "direction": "OUT",
                   "scope": [g("vm-web")]}]}))];
    let leaving = trace(&policies, &groups, &flow("10.0.0.5", "10.0.0.8", 80));
    assert_eq!(leaving.decided_by, Some(Side::Egress));
    let entering = trace(&policies, &groups, &flow("10.0.0.8", "10.0.0.5", 80));
    assert_eq!(entering.action, RuleAction::Allow);
    assert!(
        entering.ingress.skipped.is_empty() && entering.ingress.rules_evaluated == 0,
        "an OUT rule is not on the ingress side at all: {entering:?}"
    );
}

#[test]
fn a_policy_on_antrea_clusters_is_enforced_on_their_pods_as_the_adapter_writes_it() {
    let antrea = |id: &str, condition: Value| -> Group {
        serde_json::from_value(json!({"id": id, "group_type": ["ANTREA"],
            "path": format!("/infra/domains/default/groups/{id}"), "expression": [condition]}))
        .expect("group json")
    };
    let groups = [
        antrea(
            "shop-web",
            and(vec![
                cond("Namespace", "Name", "shop"),
                cond("Pod", "Name", "web-0"),
            ]),
        ),
        antrea("shop-ns", cond("Namespace", "Name", "shop")),
    ];
    let rule = json!({"id": "drop-in", "rule_id": 1020, "action": "DROP", "direction": "IN",
        "source_groups": ["ANY"], "destination_groups": [g("shop-ns")]});
    let on_c1 = [spanned(
        json!({"id": "p", "category": "Application", "scope": [g("shop-web")],
               "rules": [rule.clone()]}),
        &["c1"],
    )];
    // VM -> shop/web-0: enforced entering the Pod (an IN rule is an ingress rule).
    let to_pod = trace(&on_c1, &groups, &flow("10.0.0.5", "10.244.1.5", 80));
    assert_eq!(
        (to_pod.action, to_pod.decided_by),
        (RuleAction::Drop, Some(Side::Ingress))
    );
    assert_eq!(
        to_pod.matched.as_ref().map(|m| m.applied_to.as_str()),
        Some("group shop-web (policy Applied-To), Pods of cluster c1")
    );
    assert_eq!(
        to_pod.ingress.owner.as_deref(),
        Some("pod shop/web-0 (cluster c1)")
    );
    assert_eq!(
        to_pod.egress.rules_evaluated, 0,
        "no egress rule is emitted"
    );
    // dev/web-0 is a Pod of c1 but not in the policy's Applied-To (shop-web: shop/web-0).
    let dev = trace(&on_c1, &groups, &flow("10.0.0.5", "10.244.2.5", 80));
    assert_eq!(dev.action, RuleAction::Allow, "{dev:?}");
    // The same policy spanning c2 only: the Pods of c1 are not where it is enforced.
    let on_c2 = [spanned(
        json!({"id": "p", "category": "Application", "scope": [g("shop-web")],
               "rules": [rule.clone()]}),
        &["c2"],
    )];
    let elsewhere = trace(&on_c2, &groups, &flow("10.0.0.5", "10.244.1.5", 80));
    assert_eq!(elsewhere.action, RuleAction::Allow);
    assert_eq!(
        elsewhere.ingress.skipped[0].reason,
        "10.244.1.5 is not a Pod of cluster c2"
    );
    // Without any Applied-To, the rule's own end (the destination groups) is: shop Pods.
    let own_end = [spanned(
        json!({"id": "p", "category": "Application", "rules": [rule]}),
        &["c1"],
    )];
    let decided = trace(&own_end, &groups, &flow("10.0.0.5", "10.244.1.5", 80));
    assert_eq!(
        decided.matched.map(|m| m.applied_to),
        Some("group shop-ns (no Applied-To: the rule's own end), Pods of cluster c1".to_string())
    );
    // A node IP is never a Pod: an Antrea policy does not decide there.
    let any_any = [spanned(
        json!({"id": "all", "category": "Application",
               "rules": [{"id": "drop", "action": "DROP"}]}),
        &["c1"],
    )];
    let node = trace(&any_any, &groups, &flow("10.0.0.5", "172.18.0.2", 80));
    assert_eq!(node.action, RuleAction::Allow);
    assert_eq!(
        node.ingress.skipped[0].rule.applied_to,
        "every Pod of cluster c1 (no Applied-To: the whole cluster)"
    );
    let pod = trace(&any_any, &groups, &flow("10.244.2.5", "172.18.0.2", 80));
    assert_eq!(pod.decided_by, Some(Side::Egress));
}
