//! A traceflow-style explanation of one flow (source IP → destination IP, TCP/UDP, destination
//! port) through the manager's distributed-firewall rules: which category, policy and rule decide
//! it, and through which group member each of the rule's sources and destinations matched.
//!
//! Evaluation follows the DFW (reference `nsx-api.md` §3): categories in the order Ethernet,
//! Emergency, Infrastructure, Environment, Application (a policy without a category counts as
//! Application); policies by `sequence_number`, rules by `sequence_number` (ties keep array
//! order); the first matching rule wins; nothing matching ends in the default rule (ALLOW).
//! A matching `JUMP_TO_APPLICATION` rule skips the rest of Environment and continues with the
//! Application category.
//!
//! Readings for a trace between two IP addresses:
//! * `direction` IN, OUT and IN_OUT all match: the flow leaves its source and enters its
//!   destination, so a rule of either direction is enforced on one of its ends.
//! * Applied To (policy or rule `scope`) is not evaluated; the trace shows the rule as if both
//!   ends were in its scope.
//! * Disabled rules are skipped; `ANY` (or an empty list) matches everything; a source or
//!   destination entry is an IP literal (address, prefix, range) or a group path, resolved to its
//!   members with [`resolve_group_members`] over the reported inventories.
//! * A destination member with a port (a NodePort Service's node IP + nodePort) matches only the
//!   flow's protocol and destination port. On the source side the member's port is not compared
//!   (the flow has no source port).
//! * `sources_excluded` / `destinations_excluded` negate their list.
//! * Services and service entries: L4 port sets match the protocol and a destination port
//!   (`"80"` or `"8000-8080"`, none means every port; source ports are not compared), IP protocol
//!   entries match protocol number 6 (TCP) or 17 (UDP), nested services are followed; ICMP, IGMP,
//!   ALG and EtherType entries never match a TCP/UDP flow. `ip_protocol` IPV4 / IPV6 narrows to
//!   that address family.

use crate::ip::IpLiteral;
use crate::members::resolve_group_members;
use crate::model::{
    Category, ClusterInventory, Direction, Group, GroupMember, IpProtocol, L4Protocol, Rule,
    RuleAction, SecurityPolicy, Service, ServiceEntry, is_any,
};
use crate::validate::{MapLookup, ReferenceLookup, resolve_service};
use serde::Serialize;
use std::net::IpAddr;

/// The flow to trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TraceFlow {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub protocol: L4Protocol,
    pub destination_port: u16,
}

/// The manager's objects the trace evaluates.
#[derive(Debug, Clone, Copy)]
pub struct DfwObjects<'a> {
    /// Security policies with their rules.
    pub policies: &'a [SecurityPolicy],
    pub groups: &'a [Group],
    pub services: &'a [Service],
    /// The inventory every cluster reported.
    pub inventories: &'a [ClusterInventory],
}

/// The outcome of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceDecision {
    pub flow: TraceFlow,
    /// The action applied to the flow (ALLOW for the default rule).
    pub action: RuleAction,
    /// The rule that decided, `None` when the default rule did.
    pub matched: Option<RuleMatch>,
    /// `JUMP_TO_APPLICATION` rules that matched on the way (in evaluation order).
    pub jumped: Vec<RuleMatch>,
    /// How many enabled rules were evaluated.
    pub rules_evaluated: usize,
}

/// A rule that matched the flow, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    pub category: Category,
    pub policy_id: String,
    pub policy_display_name: String,
    pub policy_sequence_number: i64,
    pub rule_id: String,
    /// The system-assigned `rule_id` number, when the manager set one.
    pub rule_number: Option<i64>,
    pub rule_display_name: String,
    pub rule_sequence_number: i64,
    pub action: RuleAction,
    pub direction: Direction,
    /// How the flow's source matched the rule's sources.
    pub source: EndpointMatch,
    /// How the flow's destination matched the rule's destinations.
    pub destination: EndpointMatch,
    /// How the flow's protocol and port matched the rule's services.
    pub service: String,
}

/// How one end of the flow matched a source or destination list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointMatch {
    /// The list entry that matched: `ANY`, an IP literal or a group path.
    pub entry: String,
    /// The group id, when the entry is a group.
    pub group: Option<String>,
    /// The member that matched (`IP 10.0.0.5`, `node node-0 IP 172.18.0.2 + port 30080/TCP`),
    /// or why an excluded list matched.
    pub member: String,
}

impl EndpointMatch {
    /// One line: `group vm-web: IP 10.0.0.5`, `10.0.0.0/24`, `ANY`.
    pub fn describe(&self) -> String {
        match &self.group {
            Some(group) => format!("group {group}: {}", self.member),
            None if self.member.is_empty() => self.entry.clone(),
            None => format!("{}: {}", self.entry, self.member),
        }
    }
}

/// Evaluates the DFW for `flow` and explains the decision.
pub fn trace_flow(objects: &DfwObjects<'_>, flow: &TraceFlow) -> TraceDecision {
    let lookup = MapLookup::new(
        objects.groups.iter().cloned(),
        objects.services.iter().cloned(),
    );
    let mut policies: Vec<(Category, i64, usize, &SecurityPolicy)> = objects
        .policies
        .iter()
        .enumerate()
        .map(|(index, p)| {
            (
                p.category.unwrap_or(Category::Application),
                p.sequence_number(),
                index,
                p,
            )
        })
        .collect();
    policies.sort_by_key(|(category, sequence, index, _)| (*category, *sequence, *index));
    let mut jumped = Vec::new();
    let mut rules_evaluated = 0;
    let mut skip_to_application = false;
    for (category, _, _, policy) in policies {
        if skip_to_application && category < Category::Application {
            continue;
        }
        for (_, rule) in policy.ordered_rules() {
            if rule.disabled() {
                continue;
            }
            rules_evaluated += 1;
            let Some(found) =
                match_rule(category, policy, rule, flow, &lookup, objects.inventories)
            else {
                continue;
            };
            if found.action == RuleAction::JumpToApplication {
                jumped.push(found);
                skip_to_application = true;
                break;
            }
            return TraceDecision {
                flow: *flow,
                action: found.action,
                matched: Some(found),
                jumped,
                rules_evaluated,
            };
        }
    }
    TraceDecision {
        flow: *flow,
        action: RuleAction::Allow,
        matched: None,
        jumped,
        rules_evaluated,
    }
}

fn match_rule(
    category: Category,
    policy: &SecurityPolicy,
    rule: &Rule,
    flow: &TraceFlow,
    lookup: &MapLookup,
    inventories: &[ClusterInventory],
) -> Option<RuleMatch> {
    let family_ok = match rule.ip_protocol {
        Some(IpProtocol::Ipv4) => flow.source.is_ipv4() && flow.destination.is_ipv4(),
        Some(IpProtocol::Ipv6) => flow.source.is_ipv6() && flow.destination.is_ipv6(),
        Some(IpProtocol::Ipv4Ipv6) | None => true,
    };
    if !family_ok {
        return None;
    }
    let service = match_services(rule, flow, lookup)?;
    let source = match_endpoint(
        &rule.source_groups,
        rule.sources_excluded.unwrap_or(false),
        flow.source,
        None,
        lookup,
        inventories,
    )?;
    let destination = match_endpoint(
        &rule.destination_groups,
        rule.destinations_excluded.unwrap_or(false),
        flow.destination,
        Some((flow.protocol, flow.destination_port)),
        lookup,
        inventories,
    )?;
    Some(RuleMatch {
        category,
        policy_id: policy.meta.id.clone(),
        policy_display_name: policy
            .meta
            .display_name
            .clone()
            .unwrap_or_else(|| policy.meta.id.clone()),
        policy_sequence_number: policy.sequence_number(),
        rule_id: rule.meta.id.clone(),
        rule_number: rule.rule_id,
        rule_display_name: rule
            .meta
            .display_name
            .clone()
            .unwrap_or_else(|| rule.meta.id.clone()),
        rule_sequence_number: rule.sequence_number(),
        action: rule.action(),
        direction: rule.direction(),
        source,
        destination,
        service,
    })
}

/// Matches `address` (with the flow's port on the destination side) against a source or
/// destination list.
fn match_endpoint(
    entries: &[String],
    excluded: bool,
    address: IpAddr,
    port: Option<(L4Protocol, u16)>,
    lookup: &MapLookup,
    inventories: &[ClusterInventory],
) -> Option<EndpointMatch> {
    if is_any(entries) {
        return Some(EndpointMatch {
            entry: "ANY".to_string(),
            group: None,
            member: String::new(),
        });
    }
    let found = entries
        .iter()
        .find_map(|entry| match_entry(entry, address, port, lookup, inventories));
    match (found, excluded) {
        (Some(found), false) => Some(found),
        (None, true) => Some(EndpointMatch {
            entry: format!("NOT {}", entries.join(", ")),
            group: None,
            member: format!("{address} is in none of them (excluded list)"),
        }),
        _ => None,
    }
}

fn match_entry(
    entry: &str,
    address: IpAddr,
    port: Option<(L4Protocol, u16)>,
    lookup: &MapLookup,
    inventories: &[ClusterInventory],
) -> Option<EndpointMatch> {
    if let Some(literal) = IpLiteral::parse(entry) {
        return literal_contains(&literal, address).then(|| EndpointMatch {
            entry: entry.to_string(),
            group: None,
            member: String::new(),
        });
    }
    let group = lookup.group(entry)?;
    let member = resolve_group_members(&group, lookup, inventories)
        .into_iter()
        .find(|m| member_matches(m, address, port))?;
    Some(EndpointMatch {
        entry: entry.to_string(),
        group: Some(group.meta.id.clone()),
        member: describe_member(&member, address, inventories),
    })
}

fn member_matches(member: &GroupMember, address: IpAddr, port: Option<(L4Protocol, u16)>) -> bool {
    let Some(literal) = IpLiteral::parse(&member.ip_address) else {
        return false;
    };
    if !literal_contains(&literal, address) {
        return false;
    }
    match (member.port, port) {
        (Some(member_port), Some((protocol, flow_port))) => {
            member_port == flow_port && member.protocol.is_none_or(|p| p == protocol)
        }
        _ => true,
    }
}

fn literal_contains(literal: &IpLiteral, address: IpAddr) -> bool {
    match literal {
        IpLiteral::Net(net) => net.contains(&address),
        IpLiteral::Range(start, end) => *start <= address && address <= *end,
    }
}

/// `IP 10.0.0.5`, `node node-0 IP 172.18.0.2 + port 30080/TCP`, `range 10.9.0.0/28`.
fn describe_member(
    member: &GroupMember,
    address: IpAddr,
    inventories: &[ClusterInventory],
) -> String {
    let exact = member.ip_address.parse::<IpAddr>().ok() == Some(address);
    let mut text = match (exact, inventory_owner(address, inventories)) {
        (true, Some(owner)) => format!("{owner} IP {}", member.ip_address),
        (true, None) => format!("IP {}", member.ip_address),
        (false, _) => format!("range {} (holds {address})", member.ip_address),
    };
    if let Some(port) = member.port {
        let protocol = member.protocol.map_or("", |p| p.as_str());
        text.push_str(&format!(" + port {port}/{protocol}"));
    }
    text
}

/// What the inventory reports at `address`: `node node-0 (cluster c1)`, `pod shop/web-0 …`.
fn inventory_owner(address: IpAddr, inventories: &[ClusterInventory]) -> Option<String> {
    let has = |ips: &[String]| {
        ips.iter()
            .any(|ip| ip.trim().parse::<IpAddr>().ok() == Some(address))
    };
    for inventory in inventories {
        let cluster = &inventory.cluster_id;
        if let Some(n) = inventory.nodes.iter().find(|n| has(&n.ip_addresses)) {
            return Some(format!("node {} (cluster {cluster})", n.display_name));
        }
        if let Some(p) = inventory.pods.iter().find(|p| has(&p.ip_addresses)) {
            return Some(format!(
                "pod {}/{} (cluster {cluster})",
                p.namespace, p.display_name
            ));
        }
        if let Some(s) = inventory
            .services
            .iter()
            .find(|s| has(&s.load_balancer_ips))
        {
            return Some(format!(
                "service {}/{} (cluster {cluster})",
                s.namespace, s.display_name
            ));
        }
        if let Some(e) = inventory.egresses.iter().find(|e| has(&e.egress_ips)) {
            return Some(format!("egress {} (cluster {cluster})", e.display_name));
        }
        if let Some(i) = inventory.ingresses.iter().find(|i| has(&i.ip_addresses)) {
            return Some(format!(
                "ingress {}/{} (cluster {cluster})",
                i.namespace, i.display_name
            ));
        }
        if let Some(g) = inventory.gateways.iter().find(|g| has(&g.ip_addresses)) {
            return Some(format!(
                "gateway {}/{} (cluster {cluster})",
                g.namespace, g.display_name
            ));
        }
    }
    None
}

/// `ANY`, `service HTTP: TCP 80`, `entry TCP 8080`.
fn match_services(rule: &Rule, flow: &TraceFlow, lookup: &MapLookup) -> Option<String> {
    if is_any(&rule.services) && rule.service_entries.is_empty() {
        return Some("ANY".to_string());
    }
    for entry in &rule.service_entries {
        if let Some(why) = match_service_entry(entry, flow, lookup, 0) {
            return Some(format!("entry {why}"));
        }
    }
    if !is_any(&rule.services) {
        for path in &rule.services {
            let Some(service) = resolve_service(lookup, path) else {
                continue;
            };
            if let Some(why) = match_service(&service, flow, lookup, 0) {
                return Some(why);
            }
        }
    }
    None
}

const MAX_SERVICE_NESTING: usize = 8;

fn match_service(
    service: &Service,
    flow: &TraceFlow,
    lookup: &MapLookup,
    depth: usize,
) -> Option<String> {
    let name = service.meta.id.clone();
    service
        .service_entries
        .iter()
        .find_map(|entry| match_service_entry(entry, flow, lookup, depth))
        .map(|why| format!("service {name}: {why}"))
}

fn match_service_entry(
    entry: &ServiceEntry,
    flow: &TraceFlow,
    lookup: &MapLookup,
    depth: usize,
) -> Option<String> {
    match entry {
        ServiceEntry::L4PortSetServiceEntry(l4) => {
            if l4.l4_protocol != flow.protocol {
                return None;
            }
            if l4.destination_ports.is_empty() {
                return Some(format!("{} any port", l4.l4_protocol.as_str()));
            }
            l4.destination_ports
                .iter()
                .find(|ports| port_in(ports, flow.destination_port))
                .map(|ports| format!("{} {}", l4.l4_protocol.as_str(), ports.trim()))
        }
        ServiceEntry::IpProtocolServiceEntry(ip) => {
            let number = match flow.protocol {
                L4Protocol::Tcp => 6,
                L4Protocol::Udp => 17,
            };
            (ip.protocol_number == number).then(|| format!("IP protocol {number}"))
        }
        ServiceEntry::NestedServiceServiceEntry(nested) if depth < MAX_SERVICE_NESTING => {
            let service = resolve_service(lookup, &nested.nested_service_path)?;
            match_service(&service, flow, lookup, depth + 1)
        }
        _ => None,
    }
}

/// True when `port` is `ports` (`"80"`) or in it (`"8000-8080"`).
fn port_in(ports: &str, port: u16) -> bool {
    let ports = ports.trim();
    match ports.split_once('-') {
        Some((low, high)) => match (low.trim().parse::<u16>(), high.trim().parse::<u16>()) {
            (Ok(low), Ok(high)) => low <= port && port <= high,
            _ => false,
        },
        None => ports.parse::<u16>() == Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

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

    fn policy(value: Value) -> SecurityPolicy {
        serde_json::from_value(value).expect("policy json")
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

    fn trace(policies: &[SecurityPolicy], groups: &[Group], f: &TraceFlow) -> TraceDecision {
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
        if let Some(rules) = reordered.get_mut(2).map(|p| &mut p.rules) {
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
        assert_eq!(
            decision.rules_evaluated, 1,
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
        assert_eq!(decision.jumped.len(), 1);
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
        assert_eq!(decision.rules_evaluated, 2);
        let excluded: Vec<SecurityPolicy> = vec![policy(json!({"id": "not-vms",
            "rules": [{"id": "r", "source_groups": [g("vm-web")], "sources_excluded": true,
                "action": "DROP"}]}))];
        let decision = trace(&excluded, &groups, &flow("10.0.0.6", "10.0.0.7", 53));
        assert_eq!(
            decision.action,
            RuleAction::Drop,
            "10.0.0.6 is not in vm-web"
        );
    }
}
