//! The tables of `tierwall nsx get`: groups (with their criteria in one line), policies (with
//! where they apply and their realization), rules (groups, services, Applied-To as ids), rule
//! statistics per cluster, and clusters (health, realized intents, last heartbeat).

use super::get_reads::PolicyView;
use super::json_cells::{array, display_name, last_segment, number, text, text_or, yes_no};
use crate::output::{human_duration, kubectl_table};
use serde_json::Value;

/// The items joined by `separator`, `empty` when there are none.
fn joined_or<S: AsRef<str>>(items: &[S], separator: &str, empty: &str) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<&str>>()
        .join(separator)
}

/// The columns of a table: `base`, then `wide_only` with `-o wide`.
fn columns<'a>(base: &[&'a str], wide_only: &[&'a str], wide: bool) -> Vec<&'a str> {
    let mut header = base.to_vec();
    if wide {
        header.extend_from_slice(wide_only);
    }
    header
}

/// The ids (last segments) of the paths listed at `key`, without `ANY`.
fn path_ids<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    array(v, key)
        .iter()
        .filter_map(Value::as_str)
        .filter(|p| !p.eq_ignore_ascii_case("ANY"))
        .map(last_segment)
        .collect()
}

// ---- groups ----

pub fn groups_table(groups: &[Value], wide: bool) -> String {
    let header = columns(
        &["ID", "DISPLAY-NAME", "TYPE", "CRITERIA"],
        &["IP-ADDRESSES", "PATH", "REVISION"],
        wide,
    );
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let types: Vec<&str> = array(g, "group_type")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let mut row = vec![
                text(g, "id").to_string(),
                display_name(g),
                joined_or(&types, ",", "Generic"),
                criteria(array(g, "expression")),
            ];
            if wide {
                row.push(ip_addresses(array(g, "expression")));
                row.push(text(g, "path").to_string());
                row.push(number(g, "_revision"));
            }
            row
        })
        .collect();
    kubectl_table(&header, &rows)
}

/// A group's membership criteria in one line: conditions as `Pod Tag EQUALS app|web`, joined by
/// their conjunctions; IP address and path expressions counted.
fn criteria(expressions: &[Value]) -> String {
    let parts: Vec<String> = expressions.iter().map(expression_text).collect();
    joined_or(&parts, " ", "<none>")
}

fn expression_text(e: &Value) -> String {
    match text(e, "resource_type") {
        "Condition" => {
            let mut s = format!(
                "{} {} {} {}",
                text(e, "member_type"),
                text(e, "key"),
                e.get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or("EQUALS"),
                text(e, "value")
            );
            if let Some(op) = e.get("scope_operator").and_then(Value::as_str) {
                s.push_str(&format!(" (scope {op})"));
            }
            s
        }
        "ConjunctionOperator" => text(e, "conjunction_operator").to_string(),
        "NestedExpression" => format!("({})", criteria(array(e, "expressions"))),
        "IPAddressExpression" => format!("IPs[{}]", array(e, "ip_addresses").len()),
        "MACAddressExpression" => format!("MACs[{}]", array(e, "mac_addresses").len()),
        "PathExpression" => {
            let ids: Vec<&str> = array(e, "paths")
                .iter()
                .filter_map(Value::as_str)
                .map(last_segment)
                .collect();
            format!("Groups[{}]", ids.join(","))
        }
        "ExternalIDExpression" => format!("ExternalIDs[{}]", array(e, "external_ids").len()),
        other => other.to_string(),
    }
}

fn ip_addresses(expressions: &[Value]) -> String {
    let mut ips = Vec::new();
    collect_ip_addresses(expressions, &mut ips);
    joined_or(&ips, ",", "<none>")
}

fn collect_ip_addresses<'a>(expressions: &'a [Value], ips: &mut Vec<&'a str>) {
    for e in expressions {
        match text(e, "resource_type") {
            "IPAddressExpression" => {
                ips.extend(array(e, "ip_addresses").iter().filter_map(Value::as_str));
            }
            "NestedExpression" => collect_ip_addresses(array(e, "expressions"), ips),
            _ => {}
        }
    }
}

// ---- policies ----

fn applied_to(policy: &PolicyView) -> String {
    let mut targets: Vec<String> = policy.span_clusters.clone();
    for s in array(&policy.policy, "scope")
        .iter()
        .filter_map(Value::as_str)
    {
        let id = last_segment(s).to_string();
        if s != "ANY" && !targets.contains(&id) {
            targets.push(id);
        }
    }
    joined_or(&targets, ",", "DFW")
}

pub fn policies_table(policies: &[PolicyView], wide: bool) -> String {
    let header = columns(
        &[
            "ID",
            "DISPLAY-NAME",
            "CATEGORY",
            "SEQUENCE",
            "RULES",
            "APPLIED-TO",
            "REALIZATION",
        ],
        &["STATEFUL", "LOCKED", "REVISION", "MODIFIED-BY"],
        wide,
    );
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            let v = &p.policy;
            let mut row = vec![
                text(v, "id").to_string(),
                display_name(v),
                text_or(v, "category", "-"),
                number(v, "sequence_number"),
                array(v, "rules").len().to_string(),
                applied_to(p),
                p.realization.clone(),
            ];
            if wide {
                row.push(yes_no(v, "stateful", true).to_string());
                row.push(yes_no(v, "locked", false).to_string());
                row.push(number(v, "_revision"));
                row.push(text_or(v, "_last_modified_user", "-"));
            }
            row
        })
        .collect();
    kubectl_table(&header, &rows)
}

// ---- rules ----

/// Group paths as ids, `Any` when empty, `NOT (...)` when negated.
fn groups_cell(rule: &Value, key: &str, excluded_key: &str) -> String {
    let ids = path_ids(rule, key);
    if ids.is_empty() {
        return "Any".to_string();
    }
    let list = ids.join(",");
    if rule
        .get(excluded_key)
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        format!("NOT({list})")
    } else {
        list
    }
}

fn services_cell(rule: &Value) -> String {
    let mut parts: Vec<String> = path_ids(rule, "services")
        .into_iter()
        .map(str::to_string)
        .collect();
    parts.extend(
        array(rule, "service_entries")
            .iter()
            .map(service_entry_text),
    );
    joined_or(&parts, ",", "Any")
}

fn service_entry_text(e: &Value) -> String {
    match text(e, "resource_type") {
        "L4PortSetServiceEntry" => {
            let ports: Vec<&str> = array(e, "destination_ports")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let proto = text(e, "l4_protocol");
            if ports.is_empty() {
                proto.to_string()
            } else {
                format!("{proto}/{}", ports.join("+"))
            }
        }
        "ICMPTypeServiceEntry" => {
            let proto = e
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("ICMPv4");
            match e.get("icmp_type") {
                Some(t) if !t.is_null() => format!("{proto}/type-{t}"),
                _ => proto.to_string(),
            }
        }
        "IPProtocolServiceEntry" => format!("IP/{}", number(e, "protocol_number")),
        "IGMPTypeServiceEntry" => "IGMP".to_string(),
        "ALGTypeServiceEntry" => format!("ALG/{}", text(e, "alg")),
        other => other.to_string(),
    }
}

fn rule_applied_to(rule: &Value) -> String {
    let ids = path_ids(rule, "scope");
    joined_or(&ids, ",", "Policy")
}

pub fn rules_table(policies: &[PolicyView], wide: bool) -> String {
    let header = columns(
        &[
            "POLICY",
            "ID",
            "DISPLAY-NAME",
            "SEQUENCE",
            "SOURCES",
            "DESTINATIONS",
            "SERVICES",
            "APPLIED-TO",
            "ACTION",
            "DIRECTION",
            "STATE",
        ],
        &["LOGGED", "RULE-ID", "REVISION"],
        wide,
    );
    let mut rows = Vec::new();
    for p in policies {
        for r in array(&p.policy, "rules") {
            let disabled = r.get("disabled").and_then(Value::as_bool).unwrap_or(false);
            let mut row = vec![
                text(&p.policy, "id").to_string(),
                text(r, "id").to_string(),
                display_name(r),
                number(r, "sequence_number"),
                groups_cell(r, "source_groups", "sources_excluded"),
                groups_cell(r, "destination_groups", "destinations_excluded"),
                services_cell(r),
                rule_applied_to(r),
                text_or(r, "action", "ALLOW"),
                text_or(r, "direction", "IN_OUT"),
                if disabled { "Disabled" } else { "Enabled" }.to_string(),
            ];
            if wide {
                row.push(yes_no(r, "logged", false).to_string());
                row.push(number(r, "rule_id"));
                row.push(number(r, "_revision"));
            }
            rows.push(row);
        }
    }
    kubectl_table(&header, &rows)
}

// ---- statistics ----

/// The policy id of a rule path (`/infra/domains/default/security-policies/P/rules/R`).
fn policy_of_rule(rule_path: &str) -> &str {
    rule_path
        .rsplitn(3, '/')
        .nth(2)
        .map_or("", |policy| last_segment(policy))
}

pub fn stats_table(entries: &[Value]) -> String {
    let mut rows = Vec::new();
    for entry in entries {
        let cluster = last_segment(text(entry, "container_cluster_path")).to_string();
        for r in array(&entry["statistics"], "results") {
            let rule = text(r, "rule");
            rows.push(vec![
                policy_of_rule(rule).to_string(),
                last_segment(rule).to_string(),
                cluster.clone(),
                number(r, "hit_count"),
                number(r, "packet_count"),
                number(r, "byte_count"),
                number(r, "session_count"),
            ]);
        }
    }
    kubectl_table(
        &[
            "POLICY", "RULE", "CLUSTER", "HITS", "PACKETS", "BYTES", "SESSIONS",
        ],
        &rows,
    )
}

// ---- clusters ----

pub fn clusters_table(clusters: &[Value], now_ms: i64, wide: bool) -> String {
    let header = columns(
        &[
            "ID",
            "DISPLAY-NAME",
            "HEALTH",
            "CONTROLLER",
            "REALIZED",
            "ERRORS",
            "LAST-SEEN",
        ],
        &["ADAPTER", "REPORT-INTERVAL", "NODE-TYPE"],
        wide,
    );
    let rows: Vec<Vec<String>> = clusters
        .iter()
        .map(|c| {
            let status = &c["status"];
            let reported = array(&c["realization"], "results");
            let realized = reported
                .iter()
                .filter(|r| text(r, "state") == "REALIZED")
                .count();
            let errors = reported
                .iter()
                .filter(|r| text(r, "state") == "ERROR")
                .count();
            let last_seen = match status.get("_last_modified_time").and_then(Value::as_i64) {
                Some(t) => human_duration(now_ms.saturating_sub(t) / 1000),
                None => "<never>".to_string(),
            };
            let mut row = vec![
                text(c, "id").to_string(),
                display_name(c),
                text_or(status, "status", "UNKNOWN"),
                text_or(&status["controller_status"], "status", "-"),
                format!("{realized}/{}", reported.len()),
                errors.to_string(),
                last_seen,
            ];
            if wide {
                row.push(text_or(&status["ccp_adapter_status"], "status", "-"));
                row.push(match status.get("report_interval") {
                    Some(Value::Number(n)) => format!("{n}s"),
                    _ => "-".to_string(),
                });
                row.push(text_or(c, "node_type", "-"));
            }
            row
        })
        .collect();
    kubectl_table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn criteria_read_as_an_admin_writes_them() {
        let expr = json!([
            {"resource_type": "Condition", "member_type": "Namespace", "key": "Tag",
             "operator": "EQUALS", "value": "SomeK8sLabel|SomeK8sLabelValue",
             "scope_operator": "EQUALS"},
            {"resource_type": "ConjunctionOperator", "conjunction_operator": "OR"},
            {"resource_type": "IPAddressExpression", "ip_addresses": ["192.168.100.0/24", "192.168.200.0/24"]}
        ]);
        let list = expr.as_array().cloned().unwrap_or_default();
        assert_eq!(
            criteria(&list),
            "Namespace Tag EQUALS SomeK8sLabel|SomeK8sLabelValue (scope EQUALS) OR IPs[2]"
        );
        assert_eq!(ip_addresses(&list), "192.168.100.0/24,192.168.200.0/24");
        assert_eq!(criteria(&[]), "<none>");
    }

    #[test]
    fn rule_cells_name_groups_services_and_negation() {
        let rule = json!({
            "source_groups": ["/infra/domains/default/groups/clients"], "sources_excluded": true,
            "destination_groups": ["ANY"], "services": ["/infra/services/HTTP"],
            "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                                 "destination_ports": ["81", "90-91"]}],
        });
        assert_eq!(
            groups_cell(&rule, "source_groups", "sources_excluded"),
            "NOT(clients)"
        );
        assert_eq!(
            groups_cell(&rule, "destination_groups", "destinations_excluded"),
            "Any"
        );
        assert_eq!(services_cell(&rule), "HTTP,TCP/81+90-91");
        assert_eq!(rule_applied_to(&rule), "Policy");
        assert_eq!(
            policy_of_rule("/infra/domains/default/security-policies/shop/rules/allow-80"),
            "shop"
        );
    }

    #[test]
    fn a_cluster_without_a_heartbeat_was_never_seen() {
        let clusters = [json!({"id": "c1", "display_name": "c1", "status": null,
                               "realization": null})];
        assert_eq!(
            clusters_table(&clusters, 0, false),
            "ID    DISPLAY-NAME   HEALTH    CONTROLLER   REALIZED   ERRORS   LAST-SEEN\n\
             c1    c1             UNKNOWN   -            0/0        0        <never>\n"
        );
    }
}
