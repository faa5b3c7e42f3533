//! Synthetic NSX workloads for benchmarks and profiling: `policies` policies of `rules_per_policy`
//! rules over `groups` Antrea groups (four shapes: pod tag, namespace AND pod tag, namespace
//! name IN, IP addresses), all spanning one cluster, spread over the four L3 categories.
//! Deterministic: the same sizes give the same objects.

use crate::model::{
    ANY, Category, Expression, Group, GroupType, L4Protocol, ResourceMeta, Rule, RuleAction,
    SecurityPolicy, SecurityPolicyContainerCluster, ServiceEntry,
};
use crate::model::{ConditionKey, ConditionOperator, MemberType};
use crate::span::{SpannedPolicy, cluster_control_plane_path};

/// Sizes of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadSize {
    pub policies: usize,
    pub rules_per_policy: usize,
    pub groups: usize,
}

impl WorkloadSize {
    /// Issue 4 item 9: 10,000 policies, 100,000 rules, 20,000 groups.
    pub const ISSUE_TARGET: WorkloadSize = WorkloadSize {
        policies: 10_000,
        rules_per_policy: 10,
        groups: 20_000,
    };
}

const CATEGORIES: [Category; 4] = [
    Category::Emergency,
    Category::Infrastructure,
    Category::Environment,
    Category::Application,
];
const SERVICES: [&str; 5] = ["HTTP", "HTTPS", "DNS", "SSH", "MySQL"];

fn group_path(index: usize) -> String {
    format!("/infra/domains/default/groups/g{index}")
}

/// The `index`-th group.
pub fn group(index: usize) -> Group {
    let tag = |key: &str, value: String| {
        Expression::condition(
            MemberType::Pod,
            ConditionKey::Tag,
            ConditionOperator::Equals,
            format!("dis:k8s:{key}|{value}"),
        )
    };
    let namespace = |operator, value: String| {
        Expression::condition(MemberType::Namespace, ConditionKey::Name, operator, value)
    };
    let expression = match index % 4 {
        0 => vec![tag("app", format!("app-{index}"))],
        1 => vec![Expression::nested(vec![
            namespace(ConditionOperator::Equals, format!("ns-{}", index % 500)),
            Expression::and(),
            tag("tier", format!("t{}", index % 7)),
        ])],
        2 => vec![namespace(
            ConditionOperator::In,
            format!("ns-{},ns-{}", index % 500, (index + 1) % 500),
        )],
        _ => vec![Expression::ip_addresses([format!(
            "10.{}.{}.0/24",
            index / 256 % 256,
            index % 256
        )])],
    };
    Group {
        meta: ResourceMeta {
            id: format!("g{index}"),
            path: Some(group_path(index)),
            ..ResourceMeta::default()
        },
        expression,
        group_type: vec![GroupType::Antrea],
        ..Group::default()
    }
}

/// A pseudo-random group index; applied-to groups avoid the IP-only shape.
fn pick(seed: usize, groups: usize, pod_group: bool) -> usize {
    let index = seed.wrapping_mul(2_654_435_761) % groups;
    if pod_group && index % 4 == 3 {
        index - 1
    } else {
        index
    }
}

/// The `index`-th policy, spanning `cluster_id`.
pub fn policy(index: usize, size: WorkloadSize, cluster_id: &str) -> SpannedPolicy {
    let rules = (0..size.rules_per_policy)
        .map(|r| {
            let seed = index * size.rules_per_policy + r;
            let applied = group_path(pick(seed * 3 + 1, size.groups, true));
            let peer = group_path(pick(seed * 3 + 2, size.groups, false));
            let mut rule = Rule {
                meta: ResourceMeta {
                    id: format!("r{r}"),
                    ..ResourceMeta::default()
                },
                rule_id: Some(1000 + seed as i64),
                sequence_number: Some(r as i64),
                scope: vec![applied],
                action: Some(if r + 1 == size.rules_per_policy {
                    RuleAction::Drop
                } else {
                    RuleAction::Allow
                }),
                services: vec![format!(
                    "/infra/services/{}",
                    SERVICES[seed % SERVICES.len()]
                )],
                ..Rule::default()
            };
            match r % 3 {
                0 => rule.source_groups = vec![peer],
                1 => rule.destination_groups = vec![peer],
                _ => {
                    rule.source_groups = vec![ANY.to_string()];
                    rule.service_entries = vec![ServiceEntry::l4(
                        "tcp-8000",
                        L4Protocol::Tcp,
                        &["8000-8080"],
                    )];
                }
            }
            rule
        })
        .collect();
    let policy = SecurityPolicy {
        meta: ResourceMeta {
            id: format!("p{index}"),
            display_name: Some(format!("policy {index}")),
            ..ResourceMeta::default()
        },
        category: Some(CATEGORIES[index % CATEGORIES.len()]),
        sequence_number: Some(index as i64),
        rules,
        ..SecurityPolicy::default()
    };
    SpannedPolicy::new(
        policy,
        vec![SecurityPolicyContainerCluster {
            container_cluster_path: cluster_control_plane_path(cluster_id),
            ..SecurityPolicyContainerCluster::default()
        }],
    )
}

/// The whole workload: `(policies, groups)`.
pub fn workload(size: WorkloadSize, cluster_id: &str) -> (Vec<SpannedPolicy>, Vec<Group>) {
    let policies = (0..size.policies)
        .map(|i| policy(i, size, cluster_id))
        .collect();
    let groups = (0..size.groups).map(group).collect();
    (policies, groups)
}
