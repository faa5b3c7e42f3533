//! The checks of a Security Policy that spans Antrea clusters.

use super::error::{ValidationError, Violation, ViolationCode};
use super::{ReferenceLookup, is_container_cluster_path, is_global_path, resolve_service};
use crate::ip::IpLiteral;
use crate::model::{
    ANY, Category, Expression, Group, Rule, RuleAction, SecurityPolicy, Service, ServiceEntry,
};
use std::collections::BTreeSet;

/// Checks `policy` against every constraint for policies on Antrea clusters. Referenced groups
/// and services are read through `lookup` (predefined services need not be in it).
pub fn validate_security_policy(
    policy: &SecurityPolicy,
    lookup: &dyn ReferenceLookup,
) -> Result<(), ValidationError> {
    let mut violations = Vec::new();
    check_policy_fields(policy, &mut violations);
    check_peer_list(
        "scope",
        &policy.scope,
        PeerRole::AppliedTo,
        lookup,
        &mut violations,
    );
    for (index, rule) in policy.rules.iter().enumerate() {
        check_rule(
            &format!("rules[{index}]"),
            rule,
            policy.category,
            lookup,
            &mut violations,
        );
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ValidationError { violations })
    }
}

fn check_policy_fields(policy: &SecurityPolicy, violations: &mut Vec<Violation>) {
    match policy.category {
        Some(Category::Ethernet) => violations.push(Violation::new(
            "category",
            ViolationCode::UnsupportedCategory,
            "Layer 2 (Ethernet) policies are not supported on Antrea clusters; use Emergency, Infrastructure, Environment or Application",
        )),
        None => violations.push(Violation::new(
            "category",
            ViolationCode::UnsupportedCategory,
            "a policy on Antrea clusters needs a category: Emergency, Infrastructure, Environment or Application",
        )),
        Some(_) => {}
    }
    if policy.stateful == Some(false) {
        violations.push(Violation::new(
            "stateful",
            ViolationCode::StatefulNotConfigurable,
            "the Stateful setting is not supported for policies on Antrea clusters (they are always stateful)",
        ));
    }
    if policy.tcp_strict == Some(false) {
        violations.push(Violation::new(
            "tcp_strict",
            ViolationCode::TcpStrictNotConfigurable,
            "the TCP Strict setting is not supported for policies on Antrea clusters",
        ));
    }
    if policy
        .scheduler_path
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        violations.push(Violation::new(
            "scheduler_path",
            ViolationCode::TimeWindowNotSupported,
            "time-based scheduling is not supported for policies on Antrea clusters",
        ));
    }
}

fn check_rule(
    field: &str,
    rule: &Rule,
    category: Option<Category>,
    lookup: &dyn ReferenceLookup,
    violations: &mut Vec<Violation>,
) {
    if rule.action() == RuleAction::JumpToApplication && category != Some(Category::Environment) {
        violations.push(Violation::new(
            format!("{field}.action"),
            ViolationCode::JumpToApplicationOutsideEnvironment,
            "JUMP_TO_APPLICATION is allowed only in the Environment category",
        ));
    }
    if rule.sources_excluded == Some(true) {
        violations.push(Violation::new(
            format!("{field}.sources_excluded"),
            ViolationCode::NegationNotSupported,
            "negating the sources of a rule is not supported on Antrea clusters",
        ));
    }
    if rule.destinations_excluded == Some(true) {
        violations.push(Violation::new(
            format!("{field}.destinations_excluded"),
            ViolationCode::NegationNotSupported,
            "negating the destinations of a rule is not supported on Antrea clusters",
        ));
    }
    if !crate::model::is_any(&rule.profiles) {
        violations.push(Violation::new(
            format!("{field}.profiles"),
            ViolationCode::ContextProfileNotSupported,
            "Layer 7 rules (context profiles) are not supported on Antrea clusters",
        ));
    }
    check_peer_list(
        &format!("{field}.source_groups"),
        &rule.source_groups,
        PeerRole::Peer,
        lookup,
        violations,
    );
    check_peer_list(
        &format!("{field}.destination_groups"),
        &rule.destination_groups,
        PeerRole::Peer,
        lookup,
        violations,
    );
    check_peer_list(
        &format!("{field}.scope"),
        &rule.scope,
        PeerRole::AppliedTo,
        lookup,
        violations,
    );
    check_any_alone(&format!("{field}.services"), &rule.services, violations);
    for (index, path) in rule.services.iter().enumerate() {
        if path.eq_ignore_ascii_case(ANY) {
            continue;
        }
        let entry_field = format!("{field}.services[{index}]");
        match resolve_service(lookup, path) {
            None => violations.push(Violation::new(
                entry_field,
                ViolationCode::UnknownReference,
                format!("service {path} does not exist"),
            )),
            Some(service) => {
                let mut visited = BTreeSet::new();
                if let Some(problem) = service_problem(&service, lookup, &mut visited) {
                    violations.push(Violation::new(
                        entry_field,
                        problem.0,
                        format!("service {path}: {}", problem.1),
                    ));
                }
            }
        }
    }
    for (index, entry) in rule.service_entries.iter().enumerate() {
        let mut visited = BTreeSet::new();
        if let Some((code, message)) = entry_problem(entry, lookup, &mut visited) {
            violations.push(Violation::new(
                format!("{field}.service_entries[{index}]"),
                code,
                message,
            ));
        }
    }
}

/// Where a list of paths is used: as a traffic peer (IPs allowed) or as Applied To.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerRole {
    Peer,
    AppliedTo,
}

fn check_any_alone(field: &str, list: &[String], violations: &mut Vec<Violation>) {
    if list.len() > 1 && list.iter().any(|e| e.eq_ignore_ascii_case(ANY)) {
        violations.push(Violation::new(
            field,
            ViolationCode::AnyNotAlone,
            "ANY must be the only element of the list",
        ));
    }
}

fn check_peer_list(
    field: &str,
    list: &[String],
    role: PeerRole,
    lookup: &dyn ReferenceLookup,
    violations: &mut Vec<Violation>,
) {
    check_any_alone(field, list, violations);
    for (index, entry) in list.iter().enumerate() {
        let entry_field = format!("{field}[{index}]");
        if let Some((code, message)) = peer_problem(entry, role, lookup) {
            violations.push(Violation::new(entry_field, code, message));
        }
    }
}

fn peer_problem(
    entry: &str,
    role: PeerRole,
    lookup: &dyn ReferenceLookup,
) -> Option<(ViolationCode, String)> {
    if entry.eq_ignore_ascii_case(ANY) {
        return None;
    }
    if role == PeerRole::AppliedTo && is_container_cluster_path(entry) {
        return None;
    }
    if IpLiteral::parse(entry).is_some() {
        return match role {
            PeerRole::Peer => None,
            PeerRole::AppliedTo => Some((
                ViolationCode::IpAddressesInAppliedTo,
                format!(
                    "IP address {entry} cannot be used in Applied To: NSX cannot compute pod members from IP addresses"
                ),
            )),
        };
    }
    if is_global_path(entry) {
        return Some((
            ViolationCode::GlobalGroupNotSupported,
            format!("global group {entry} cannot be used in policies on Antrea clusters"),
        ));
    }
    if !entry.starts_with('/') {
        return Some((
            ViolationCode::InvalidAddress,
            format!("{entry:?} is neither ANY, an IP address, CIDR or range, nor a group path"),
        ));
    }
    let Some(group) = lookup.group(entry) else {
        return Some((
            ViolationCode::UnknownReference,
            format!("group {entry} does not exist"),
        ));
    };
    if uses_identity_firewall(&group) {
        return Some((
            ViolationCode::IdentityFirewallNotSupported,
            format!(
                "group {entry} is an identity-firewall group; identity firewall is not supported on Antrea clusters"
            ),
        ));
    }
    if !group.is_antrea() {
        return Some((
            ViolationCode::NonAntreaGroup,
            format!(
                "group {entry} is not an Antrea group; only Antrea groups can be used in rules on Antrea clusters"
            ),
        ));
    }
    if role == PeerRole::AppliedTo {
        let mut visited = BTreeSet::new();
        if has_ip_addresses(&group, lookup, &mut visited) {
            return Some((
                ViolationCode::IpAddressesInAppliedTo,
                format!(
                    "Antrea group {entry} has IP addresses and cannot be used in Applied To: NSX cannot compute pod members from IP addresses"
                ),
            ));
        }
    }
    None
}

fn uses_identity_firewall(group: &Group) -> bool {
    !group.extended_expression.is_empty()
        || group
            .expression
            .iter()
            .any(|e| matches!(e, Expression::IdentityGroupExpression(_)))
}

/// IP addresses in the group or in the groups it includes by path.
fn has_ip_addresses(
    group: &Group,
    lookup: &dyn ReferenceLookup,
    visited: &mut BTreeSet<String>,
) -> bool {
    if !visited.insert(group.path_or_default()) {
        return false;
    }
    if group.has_ip_addresses() {
        return true;
    }
    let nested: Vec<String> = group
        .expression
        .iter()
        .filter_map(|e| match e {
            Expression::PathExpression(p) => Some(p.paths.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    nested.iter().any(|path| {
        lookup
            .group(path)
            .is_some_and(|g| has_ip_addresses(&g, lookup, visited))
    })
}

fn service_problem(
    service: &Service,
    lookup: &dyn ReferenceLookup,
    visited: &mut BTreeSet<String>,
) -> Option<(ViolationCode, String)> {
    if !visited.insert(service.path_or_default()) {
        return None;
    }
    service
        .service_entries
        .iter()
        .find_map(|entry| entry_problem(entry, lookup, visited))
}

fn entry_problem(
    entry: &ServiceEntry,
    lookup: &dyn ReferenceLookup,
    visited: &mut BTreeSet<String>,
) -> Option<(ViolationCode, String)> {
    match entry {
        ServiceEntry::L4PortSetServiceEntry(l4) => {
            if !l4.source_ports.is_empty() {
                return Some((
                    ViolationCode::SourcePortsNotSupported,
                    "only destination ports are supported on Antrea clusters; source ports are not"
                        .to_string(),
                ));
            }
            l4.destination_ports.iter().find_map(|port| {
                crate::translate::parse_port_range(port).is_none().then(|| {
                    (
                        ViolationCode::UnsupportedService,
                        format!("{port:?} is not a port (1-65535) or a port range"),
                    )
                })
            })
        }
        ServiceEntry::NestedServiceServiceEntry(nested) => {
            match resolve_service(lookup, &nested.nested_service_path) {
                None => Some((
                    ViolationCode::UnknownReference,
                    format!(
                        "nested service {} does not exist",
                        nested.nested_service_path
                    ),
                )),
                Some(service) => service_problem(&service, lookup, visited),
            }
        }
        other => Some((
            ViolationCode::UnsupportedService,
            format!(
                "{} is not supported on Antrea clusters: only TCP and UDP services are",
                other.resource_type()
            ),
        )),
    }
}
