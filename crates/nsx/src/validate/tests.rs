//! One test per constraint: each asserts the violation code and the field it names.

use super::*;
use crate::model::*;
use serde_json::json;

const WEB: &str = "/infra/domains/default/groups/web";
const DB: &str = "/infra/domains/default/groups/db";
const IPS: &str = "/infra/domains/default/groups/ips";
const VMS: &str = "/infra/domains/default/groups/vms";
const IDFW: &str = "/infra/domains/default/groups/idfw";

fn group(value: serde_json::Value) -> Group {
    serde_json::from_value(value).expect("group json")
}

fn lookup() -> MapLookup {
    let groups = vec![
        group(
            json!({"id": "web", "path": WEB, "group_type": ["ANTREA"], "expression": [
            {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": "dis:k8s:app|web"}]}),
        ),
        group(
            json!({"id": "db", "path": DB, "group_type": ["ANTREA"], "expression": [
            {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "db"}]}),
        ),
        group(
            json!({"id": "ips", "path": IPS, "group_type": ["ANTREA"], "expression": [
            {"resource_type": "IPAddressExpression", "ip_addresses": ["192.168.100.0/24"]}]}),
        ),
        group(json!({"id": "vms", "path": VMS, "expression": [
            {"resource_type": "Condition", "member_type": "VirtualMachine", "key": "Tag", "operator": "EQUALS", "value": "|web"}]})),
        group(
            json!({"id": "idfw", "path": IDFW, "group_type": ["ANTREA"], "extended_expression": [
            {"resource_type": "IdentityGroupExpression", "identity_groups": []}]}),
        ),
    ];
    let services = vec![
        serde_json::from_value::<Service>(json!({
        "id": "src-port", "path": "/infra/services/src-port",
        "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
            "destination_ports": ["80"], "source_ports": ["1024-65535"]}]}))
        .expect("service json"),
    ];
    MapLookup::new(groups, services)
}

/// A valid policy: Application, two rules (ingress from db to web; any-any drop applied to web).
fn valid_policy() -> serde_json::Value {
    json!({
        "id": "p", "category": "Application", "sequence_number": 10,
        "scope": ["/infra/sites/default/enforcement-points/default/cluster-control-planes/c1"],
        "rules": [
            {"id": "r0", "source_groups": [DB], "destination_groups": ["ANY"], "scope": [WEB],
             "services": ["/infra/services/HTTP"], "action": "ALLOW"},
            {"id": "r1", "source_groups": ["10.0.0.0/8"], "scope": [WEB], "action": "DROP",
             "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "UDP", "destination_ports": ["53", "8000-8080"]}]},
            {"id": "r2", "action": "DROP", "direction": "IN", "scope": [WEB]}
        ]
    })
}

fn check(edit: impl FnOnce(&mut serde_json::Value)) -> Result<(), ValidationError> {
    let mut body = valid_policy();
    edit(&mut body);
    let policy: SecurityPolicy = serde_json::from_value(body).expect("policy json");
    validate_security_policy(&policy, &lookup())
}

fn assert_violation(
    result: Result<(), ValidationError>,
    field: &str,
    code: ViolationCode,
) -> ValidationError {
    let error = result.expect_err("the policy must be rejected");
    assert_eq!(error.fields(), vec![field], "fields of {error}");
    assert_eq!(error.violations[0].code, code);
    let body = error.to_error_body();
    assert_eq!(body.http_status, "BAD_REQUEST");
    assert_eq!(body.error_code, code.error_code());
    assert!(
        body.error_message.starts_with(field),
        "{}",
        body.error_message
    );
    assert_eq!(body.details.as_deref(), Some(field));
    error
}

#[test]
fn valid_policy_passes() {
    check(|_| {}).expect("valid");
}

#[test]
fn ethernet_and_missing_categories_are_rejected() {
    assert_violation(
        check(|p| p["category"] = json!("Ethernet")),
        "category",
        ViolationCode::UnsupportedCategory,
    );
    assert_violation(
        check(|p| {
            p.as_object_mut().map(|o| o.remove("category"));
        }),
        "category",
        ViolationCode::UnsupportedCategory,
    );
    for category in ["Emergency", "Infrastructure", "Environment", "Application"] {
        check(|p| p["category"] = json!(category)).expect("L3 categories are fine");
    }
}

#[test]
fn stateful_and_tcp_strict_cannot_be_changed() {
    assert_violation(
        check(|p| p["stateful"] = json!(false)),
        "stateful",
        ViolationCode::StatefulNotConfigurable,
    );
    assert_violation(
        check(|p| p["tcp_strict"] = json!(false)),
        "tcp_strict",
        ViolationCode::TcpStrictNotConfigurable,
    );
    check(|p| {
        p["stateful"] = json!(true);
        p["tcp_strict"] = json!(true);
    })
    .expect("the defaults are accepted");
}

#[test]
fn time_windows_are_rejected() {
    assert_violation(
        check(|p| p["scheduler_path"] = json!("/infra/domains/default/schedulers/night")),
        "scheduler_path",
        ViolationCode::TimeWindowNotSupported,
    );
}

#[test]
fn jump_to_application_only_in_environment() {
    assert_violation(
        check(|p| p["rules"][1]["action"] = json!("JUMP_TO_APPLICATION")),
        "rules[1].action",
        ViolationCode::JumpToApplicationOutsideEnvironment,
    );
    check(|p| {
        p["category"] = json!("Environment");
        p["rules"][1]["action"] = json!("JUMP_TO_APPLICATION");
    })
    .expect("allowed in Environment");
}

#[test]
fn negation_is_rejected() {
    assert_violation(
        check(|p| p["rules"][0]["sources_excluded"] = json!(true)),
        "rules[0].sources_excluded",
        ViolationCode::NegationNotSupported,
    );
    assert_violation(
        check(|p| p["rules"][2]["destinations_excluded"] = json!(true)),
        "rules[2].destinations_excluded",
        ViolationCode::NegationNotSupported,
    );
}

#[test]
fn context_profiles_are_rejected() {
    assert_violation(
        check(|p| p["rules"][2]["profiles"] = json!(["/infra/context-profiles/HTTP"])),
        "rules[2].profiles",
        ViolationCode::ContextProfileNotSupported,
    );
    check(|p| p["rules"][2]["profiles"] = json!(["ANY"])).expect("ANY profile is no profile");
}

#[test]
fn only_antrea_groups_in_sources_destinations_and_applied_to() {
    assert_violation(
        check(|p| p["rules"][0]["source_groups"] = json!([VMS])),
        "rules[0].source_groups[0]",
        ViolationCode::NonAntreaGroup,
    );
    assert_violation(
        check(|p| p["rules"][2]["destination_groups"] = json!([VMS])),
        "rules[2].destination_groups[0]",
        ViolationCode::NonAntreaGroup,
    );
    assert_violation(
        check(|p| p["rules"][2]["scope"] = json!([WEB, VMS])),
        "rules[2].scope[1]",
        ViolationCode::NonAntreaGroup,
    );
    assert_violation(
        check(|p| p["scope"] = json!([VMS])),
        "scope[0]",
        ViolationCode::NonAntreaGroup,
    );
}

#[test]
fn groups_with_ip_addresses_are_rejected_in_applied_to() {
    assert_violation(
        check(|p| p["rules"][2]["scope"] = json!([IPS])),
        "rules[2].scope[0]",
        ViolationCode::IpAddressesInAppliedTo,
    );
    assert_violation(
        check(|p| p["scope"] = json!(["10.0.0.1"])),
        "scope[0]",
        ViolationCode::IpAddressesInAppliedTo,
    );
    check(|p| p["rules"][2]["destination_groups"] = json!([IPS])).expect("IP groups are peers");
}

#[test]
fn global_groups_are_rejected() {
    assert_violation(
        check(|p| {
            p["rules"][0]["source_groups"] = json!(["/global-infra/domains/default/groups/g"])
        }),
        "rules[0].source_groups[0]",
        ViolationCode::GlobalGroupNotSupported,
    );
}

#[test]
fn identity_firewall_groups_are_rejected() {
    assert_violation(
        check(|p| p["rules"][0]["source_groups"] = json!([IDFW])),
        "rules[0].source_groups[0]",
        ViolationCode::IdentityFirewallNotSupported,
    );
}

#[test]
fn only_tcp_and_udp_services() {
    assert_violation(
        check(|p| {
            p["rules"][0]["services"] = json!(["/infra/services/HTTP", "/infra/services/ICMP-ALL"])
        }),
        "rules[0].services[1]",
        ViolationCode::UnsupportedService,
    );
    assert_violation(
        check(|p| p["rules"][0]["services"] = json!(["/infra/services/FTP"])),
        "rules[0].services[0]",
        ViolationCode::UnsupportedService,
    );
    assert_violation(
        check(|p| {
            p["rules"][1]["service_entries"] = json!([
                {"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP", "destination_ports": ["22"]},
                {"resource_type": "IPProtocolServiceEntry", "protocol_number": 47}])
        }),
        "rules[1].service_entries[1]",
        ViolationCode::UnsupportedService,
    );
    assert_violation(
        check(|p| {
            p["rules"][1]["service_entries"] =
                json!([{"resource_type": "EtherTypeServiceEntry", "ether_type": 2054}])
        }),
        "rules[1].service_entries[0]",
        ViolationCode::UnsupportedService,
    );
    assert_violation(
        check(|p| {
            p["rules"][1]["service_entries"] = json!([{"resource_type": "L4PortSetServiceEntry",
                "l4_protocol": "TCP", "destination_ports": ["0"]}])
        }),
        "rules[1].service_entries[0]",
        ViolationCode::UnsupportedService,
    );
}

#[test]
fn only_destination_ports() {
    assert_violation(
        check(|p| p["rules"][0]["services"] = json!(["/infra/services/src-port"])),
        "rules[0].services[0]",
        ViolationCode::SourcePortsNotSupported,
    );
    assert_violation(
        check(|p| {
            p["rules"][1]["service_entries"] = json!([{"resource_type": "L4PortSetServiceEntry",
                "l4_protocol": "UDP", "destination_ports": ["53"], "source_ports": ["53"]}])
        }),
        "rules[1].service_entries[0]",
        ViolationCode::SourcePortsNotSupported,
    );
}

#[test]
fn missing_references_and_bad_lists_are_named() {
    assert_violation(
        check(|p| p["rules"][0]["source_groups"] = json!(["/infra/domains/default/groups/nope"])),
        "rules[0].source_groups[0]",
        ViolationCode::UnknownReference,
    );
    assert_violation(
        check(|p| p["rules"][0]["services"] = json!(["/infra/services/nope"])),
        "rules[0].services[0]",
        ViolationCode::UnknownReference,
    );
    assert_violation(
        check(|p| p["rules"][0]["source_groups"] = json!(["ANY", DB])),
        "rules[0].source_groups",
        ViolationCode::AnyNotAlone,
    );
    assert_violation(
        check(|p| p["rules"][0]["source_groups"] = json!(["web-pods"])),
        "rules[0].source_groups[0]",
        ViolationCode::InvalidAddress,
    );
}

#[test]
fn several_violations_are_all_listed_in_related_errors() {
    let error = check(|p| {
        p["category"] = json!("Ethernet");
        p["rules"][2]["sources_excluded"] = json!(true);
    })
    .expect_err("rejected");
    assert_eq!(
        error.fields(),
        vec!["category", "rules[2].sources_excluded"]
    );
    let body = serde_json::to_value(error.to_error_body()).expect("serializes");
    assert_eq!(body["httpStatus"], "BAD_REQUEST");
    assert_eq!(body["module_name"], "Policy");
    assert_eq!(body["related_errors"].as_array().map(Vec::len), Some(2));
    assert!(
        body["related_errors"][1]["error_message"]
            .as_str()
            .is_some_and(|m| m.starts_with("rules[2].sources_excluded: "))
    );
}

fn check_group(value: serde_json::Value) -> Result<(), ValidationError> {
    validate_group(&group(value), &lookup())
}

#[test]
fn antrea_group_criteria_are_checked() {
    check_group(json!({"group_type": ["ANTREA"], "expression": [
        {"resource_type": "NestedExpression", "expressions": [
            {"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "shop"},
            {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"},
            {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": "dis:k8s:tier|web"}]},
        {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
        {"resource_type": "IPAddressExpression", "ip_addresses": ["10.10.0.0/24"]},
        {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
        {"resource_type": "PathExpression", "paths": [DB]}]}))
    .expect("the reference's example group is valid");
    assert_violation(
        check_group(json!({"group_type": ["ANTREA"], "expression": [
            {"resource_type": "Condition", "member_type": "VirtualMachine", "key": "Tag", "operator": "EQUALS", "value": "|x"}]})),
        "expression[0]",
        ViolationCode::UnsupportedMemberType,
    );
    assert_violation(
        check_group(json!({"group_type": ["ANTREA"], "expression": [
            {"resource_type": "NestedExpression", "expressions": [
                {"resource_type": "Condition", "member_type": "Service", "key": "Name", "operator": "EQUALS", "value": "web"},
                {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"},
                {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": "dis:k8s:a|b"}]}]})),
        "expression[0].expressions[2]",
        ViolationCode::UnsupportedMemberType,
    );
    assert_violation(
        check_group(json!({"group_type": ["ANTREA"], "expression": [
            {"resource_type": "PathExpression", "paths": [VMS]}]})),
        "expression[0].paths[0]",
        ViolationCode::NonAntreaGroup,
    );
    assert_violation(
        check_group(json!({"group_type": ["ANTREA"], "extended_expression": [
            {"resource_type": "IdentityGroupExpression"}]})),
        "extended_expression",
        ViolationCode::IdentityFirewallNotSupported,
    );
}

#[test]
fn expression_structure_is_checked_for_every_group() {
    let cond = json!({"resource_type": "Condition", "member_type": "VirtualMachine", "key": "Name", "operator": "EQUALS", "value": "x"});
    assert_violation(
        check_group(json!({"expression": [cond.clone(), cond.clone(), cond.clone()]})),
        "expression[1]",
        ViolationCode::InvalidExpression,
    );
    let or = json!({"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"});
    let six: Vec<serde_json::Value> = (0..11)
        .map(|i| if i % 2 == 0 { cond.clone() } else { or.clone() })
        .collect();
    assert_violation(
        check_group(json!({ "expression": six })),
        "expression",
        ViolationCode::InvalidExpression,
    );
    assert_violation(
        check_group(json!({"expression": [
            {"resource_type": "IPAddressExpression", "ip_addresses": ["10.0.0.1", "fd00::1"]}]})),
        "expression[0].ip_addresses[1]",
        ViolationCode::InvalidAddress,
    );
}

#[test]
fn kubernetes_cluster_and_namespace_are_and_conditions() {
    let cluster = json!({"resource_type": "Condition", "member_type": "KubernetesCluster", "key": "Name", "operator": "EQUALS", "value": "c1"});
    let service = json!({"resource_type": "Condition", "member_type": "KubernetesService", "key": "Tag", "operator": "EQUALS", "value": "dis:k8s:app|web"});
    check_group(json!({"expression": [{"resource_type": "NestedExpression", "expressions": [
        cluster.clone(), {"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"}, service.clone()]}]}))
    .expect("cluster AND service");
    assert_violation(
        check_group(
            json!({"expression": [cluster, {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"}, service]}),
        ),
        "expression[0]",
        ViolationCode::UnsupportedMemberType,
    );
}
