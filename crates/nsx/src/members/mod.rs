//! Effective members of a group, resolved from the inventory clusters report, as the
//! group-members endpoint lists them: IPs, and IP+port for NodePort Services.
//!
//! Each term of the group's expression (see [`crate::expression`]) selects resources of one
//! member type, narrowed by the term's KubernetesCluster / KubernetesNamespace conditions (the
//! "AND conditions" of the member-type table); terms are ORed. Per member type:
//!
//! | member type | members |
//! |---|---|
//! | Pod, Namespace, Service (Antrea groups) | IPs of the selected Pods (static IPs are not effective members) |
//! | KubernetesNode | Node IPs |
//! | AntreaEgress | Egress IPs |
//! | AntreaIPPool | the pool's ranges (CIDR or `start-end`) |
//! | KubernetesService | LoadBalancer: its ingress IPs; NodePort: every Node IP + each nodePort; ClusterIP: none |
//! | KubernetesIngress, KubernetesGateway | their IPs |
//!
//! IP addresses of generic groups are members as written; PathExpressions add the members of the
//! included groups. Conditions compare case-insensitively, as NSX evaluates them.

use crate::expression::{Literal, to_terms};
use crate::model::{
    ClusterInventory, Condition, ConditionKey, ConditionOperator, Group, GroupMember, MemberType,
    ScopeOperator, Tag,
};
use crate::validate::ReferenceLookup;
use std::collections::{BTreeMap, BTreeSet};

/// The members of `group` over every inventory, sorted and without duplicates.
pub fn resolve_group_members(
    group: &Group,
    lookup: &dyn ReferenceLookup,
    inventories: &[ClusterInventory],
) -> Vec<GroupMember> {
    let mut visited = BTreeSet::new();
    members_of(group, lookup, inventories, &mut visited)
        .into_iter()
        .collect()
}

fn members_of(
    group: &Group,
    lookup: &dyn ReferenceLookup,
    inventories: &[ClusterInventory],
    visited: &mut BTreeSet<String>,
) -> BTreeSet<GroupMember> {
    let mut members = BTreeSet::new();
    if !visited.insert(group.path_or_default()) {
        return members;
    }
    for term in to_terms(&group.expression) {
        let mut sets: Vec<BTreeSet<GroupMember>> = Vec::new();
        let mut conditions = Vec::new();
        let mut unsupported = false;
        for literal in &term {
            match literal {
                Literal::Condition(c) => conditions.push(*c),
                Literal::IpAddresses(ips) if !group.is_antrea() => {
                    sets.push(ips.iter().map(|ip| GroupMember::ip(ip.trim())).collect());
                }
                Literal::IpAddresses(_) => sets.push(BTreeSet::new()),
                Literal::Paths(paths) => {
                    let mut included = BTreeSet::new();
                    for path in paths.iter() {
                        if let Some(nested) = lookup.group(path) {
                            included.extend(members_of(&nested, lookup, inventories, visited));
                        }
                    }
                    sets.push(included);
                }
                Literal::Unsupported(_) => unsupported = true,
            }
        }
        if unsupported {
            continue;
        }
        if !conditions.is_empty() {
            let mut selected = BTreeSet::new();
            for inventory in inventories {
                selected.extend(condition_members(&conditions, inventory));
            }
            sets.push(selected);
        }
        let mut sets = sets.into_iter();
        let Some(first) = sets.next() else {
            continue;
        };
        let term_members = sets.fold(first, |acc, set| acc.intersection(&set).cloned().collect());
        members.extend(term_members);
    }
    members
}

/// Members selected by a conjunction of conditions in one cluster.
fn condition_members(
    conditions: &[&Condition],
    inventory: &ClusterInventory,
) -> BTreeSet<GroupMember> {
    let of_type = |member_type: MemberType| -> Vec<&Condition> {
        conditions
            .iter()
            .copied()
            .filter(|c| c.member_type == member_type)
            .collect()
    };
    let cluster_conditions = of_type(MemberType::KubernetesCluster);
    let cluster_tags: [Tag; 0] = [];
    if !all_match(&cluster_conditions, &inventory.cluster_id, &cluster_tags) {
        return BTreeSet::new();
    }
    let mut namespace_conditions = of_type(MemberType::KubernetesNamespace);
    namespace_conditions.extend(of_type(MemberType::Namespace));
    let namespaces: BTreeMap<&str, &[Tag]> = inventory
        .namespaces
        .iter()
        .map(|n| (n.display_name.as_str(), n.tags.as_slice()))
        .collect();
    let namespace_ok = |name: &str| {
        namespace_conditions.is_empty()
            || namespaces
                .get(name)
                .is_some_and(|tags| all_match(&namespace_conditions, name, tags))
    };
    let targets: BTreeSet<MemberType> = conditions
        .iter()
        .map(|c| c.member_type)
        .filter(|t| !t.is_kubernetes_scope() && *t != MemberType::Namespace)
        .collect();
    let mut sets: Vec<BTreeSet<GroupMember>> = Vec::new();
    let pod_conditions = of_type(MemberType::Pod);
    let service_conditions = of_type(MemberType::Service);
    let selects_pods = targets.contains(&MemberType::Pod)
        || targets.contains(&MemberType::Service)
        || (targets.is_empty()
            && conditions
                .iter()
                .any(|c| c.member_type == MemberType::Namespace));
    if selects_pods {
        let services_ok = |namespace: &str, pod_services: &[String]| {
            service_conditions.is_empty()
                || inventory.services.iter().any(|s| {
                    s.namespace == namespace
                        && pod_services.contains(&s.display_name)
                        && all_match(&service_conditions, &s.display_name, &s.tags)
                })
        };
        sets.push(
            inventory
                .pods
                .iter()
                .filter(|p| namespace_ok(&p.namespace))
                .filter(|p| all_match(&pod_conditions, &p.display_name, &p.tags))
                .filter(|p| services_ok(&p.namespace, &p.services))
                .flat_map(|p| p.ip_addresses.iter().map(|ip| GroupMember::ip(ip.as_str())))
                .collect(),
        );
    }
    for target in &targets {
        let target_conditions = of_type(*target);
        let selected: BTreeSet<GroupMember> = match target {
            MemberType::Pod | MemberType::Service => continue,
            MemberType::KubernetesNode => inventory
                .nodes
                .iter()
                .filter(|n| all_match(&target_conditions, &n.display_name, &n.tags))
                .flat_map(|n| n.ip_addresses.iter().map(|ip| GroupMember::ip(ip.as_str())))
                .collect(),
            MemberType::AntreaEgress => inventory
                .egresses
                .iter()
                .filter(|e| all_match(&target_conditions, &e.display_name, &e.tags))
                .flat_map(|e| e.egress_ips.iter().map(|ip| GroupMember::ip(ip.as_str())))
                .collect(),
            MemberType::AntreaIpPool => inventory
                .ip_pools
                .iter()
                .filter(|p| all_match(&target_conditions, &p.display_name, &p.tags))
                .flat_map(|p| p.ip_ranges.iter())
                .filter_map(|range| match (&range.cidr, &range.start, &range.end) {
                    (Some(cidr), _, _) => Some(GroupMember::ip(cidr.as_str())),
                    (None, Some(start), Some(end)) => {
                        Some(GroupMember::ip(format!("{start}-{end}")))
                    }
                    _ => None,
                })
                .collect(),
            MemberType::KubernetesIngress => inventory
                .ingresses
                .iter()
                .filter(|i| namespace_ok(&i.namespace))
                .filter(|i| all_match(&target_conditions, &i.display_name, &i.tags))
                .flat_map(|i| i.ip_addresses.iter().map(|ip| GroupMember::ip(ip.as_str())))
                .collect(),
            MemberType::KubernetesGateway => inventory
                .gateways
                .iter()
                .filter(|g| namespace_ok(&g.namespace))
                .filter(|g| all_match(&target_conditions, &g.display_name, &g.tags))
                .flat_map(|g| g.ip_addresses.iter().map(|ip| GroupMember::ip(ip.as_str())))
                .collect(),
            MemberType::KubernetesService => {
                let mut members = BTreeSet::new();
                let node_ips: Vec<&String> = inventory
                    .nodes
                    .iter()
                    .flat_map(|n| &n.ip_addresses)
                    .collect();
                for service in inventory
                    .services
                    .iter()
                    .filter(|s| namespace_ok(&s.namespace))
                    .filter(|s| all_match(&target_conditions, &s.display_name, &s.tags))
                {
                    match service.service_type.as_str() {
                        "LoadBalancer" => members.extend(
                            service
                                .load_balancer_ips
                                .iter()
                                .map(|ip| GroupMember::ip(ip.as_str())),
                        ),
                        "NodePort" => {
                            for port in &service.ports {
                                let Some(node_port) = port.node_port else {
                                    continue;
                                };
                                members.extend(node_ips.iter().map(|ip| {
                                    GroupMember::ip_port(ip.as_str(), port.protocol, node_port)
                                }));
                            }
                        }
                        _ => {}
                    }
                }
                members
            }
            // Member types that are not Kubernetes resources select nothing in an inventory.
            _ => BTreeSet::new(),
        };
        sets.push(selected);
    }
    let mut sets = sets.into_iter();
    let Some(first) = sets.next() else {
        return BTreeSet::new();
    };
    sets.fold(first, |acc, set| acc.intersection(&set).cloned().collect())
}

fn all_match(conditions: &[&Condition], name: &str, tags: &[Tag]) -> bool {
    conditions.iter().all(|c| condition_matches(c, name, tags))
}

/// One condition against an object's name and tags (case-insensitive).
pub fn condition_matches(condition: &Condition, name: &str, tags: &[Tag]) -> bool {
    match condition.key {
        ConditionKey::Name => value_matches(condition.operator(), name, &condition.value),
        ConditionKey::All => true,
        ConditionKey::Tag => {
            let (scope, wanted) = condition.tag_scope_and_value();
            let scope_equal = |tag: &Tag| scope.is_empty() || tag.scope.eq_ignore_ascii_case(scope);
            let in_scope: Vec<&Tag> = tags
                .iter()
                .filter(|t| match condition.scope_operator {
                    Some(ScopeOperator::NotEquals) => !scope_equal(t),
                    _ => scope_equal(t),
                })
                .collect();
            match condition.operator() {
                ConditionOperator::NotEquals => {
                    !in_scope.iter().any(|t| t.tag.eq_ignore_ascii_case(wanted))
                }
                ConditionOperator::NotIn => in_scope
                    .iter()
                    .all(|t| !value_matches(ConditionOperator::In, &t.tag, wanted)),
                operator => in_scope
                    .iter()
                    .any(|t| value_matches(operator, &t.tag, wanted)),
            }
        }
        _ => false,
    }
}

fn value_matches(operator: ConditionOperator, actual: &str, wanted: &str) -> bool {
    let actual = actual.to_lowercase();
    let wanted = wanted.to_lowercase();
    let list = || wanted.split(',').map(str::trim).any(|w| w == actual);
    match operator {
        ConditionOperator::Equals => actual == wanted,
        ConditionOperator::NotEquals => actual != wanted,
        ConditionOperator::Contains => actual.contains(&wanted),
        ConditionOperator::StartsWith => actual.starts_with(&wanted),
        ConditionOperator::EndsWith => actual.ends_with(&wanted),
        ConditionOperator::In => list(),
        ConditionOperator::NotIn => !list(),
        // Regular expressions are not evaluated here.
        ConditionOperator::Matches => false,
    }
}

#[cfg(test)]
mod tests;
