//! Which policies and groups span a cluster. A policy is enforced in cluster `C` when one of its
//! `container-cluster-span` children, or its policy-level `scope`, names the cluster-control-plane
//! path of `C`. A group spans `C` when a policy spanning `C` uses it (as source, destination or
//! applied-to, or through PathExpressions of such groups).

use crate::model::{Expression, Group, SecurityPolicy, SecurityPolicyContainerCluster};
use std::collections::{BTreeMap, BTreeSet};

/// The path NSX gives a registered cluster (`container_cluster_path`).
pub fn cluster_control_plane_path(cluster_id: &str) -> String {
    format!("/infra/sites/default/enforcement-points/default/cluster-control-planes/{cluster_id}")
}

/// The cluster id at the end of a `…/cluster-control-planes/<id>` path.
pub fn cluster_id_of_path(path: &str) -> Option<&str> {
    path.split_once("/cluster-control-planes/")
        .map(|(_, id)| id.trim_end_matches('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// A policy with its `container-cluster-span` children (stored separately by the manager).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpannedPolicy {
    pub policy: SecurityPolicy,
    pub spans: Vec<SecurityPolicyContainerCluster>,
}

impl SpannedPolicy {
    pub fn new(policy: SecurityPolicy, spans: Vec<SecurityPolicyContainerCluster>) -> Self {
        SpannedPolicy { policy, spans }
    }

    /// The ids of every cluster the policy is enforced in, sorted.
    pub fn cluster_ids(&self) -> BTreeSet<String> {
        self.spans
            .iter()
            .map(|span| span.container_cluster_path.as_str())
            .chain(self.policy.scope.iter().map(String::as_str))
            .filter_map(cluster_id_of_path)
            .map(str::to_string)
            .collect()
    }

    /// True when the policy is enforced in `cluster_id`.
    pub fn spans_cluster(&self, cluster_id: &str) -> bool {
        self.spans
            .iter()
            .map(|span| span.container_cluster_path.as_str())
            .chain(self.policy.scope.iter().map(String::as_str))
            .any(|path| cluster_id_of_path(path) == Some(cluster_id))
    }

    /// True when the policy spans any Antrea cluster, so [`crate::validate`] applies to it.
    pub fn spans_antrea_clusters(&self) -> bool {
        !self.cluster_ids().is_empty()
    }
}

/// The policies enforced in `cluster_id`, in input order.
pub fn policies_for_cluster<'a>(
    cluster_id: &str,
    policies: &'a [SpannedPolicy],
) -> Vec<&'a SpannedPolicy> {
    policies
        .iter()
        .filter(|p| p.spans_cluster(cluster_id))
        .collect()
}

/// The group paths a policy refers to directly (sources, destinations, applied-to), sorted.
pub fn referenced_group_paths(policy: &SecurityPolicy) -> BTreeSet<String> {
    let rule_paths = policy.rules.iter().flat_map(|rule| {
        rule.source_groups
            .iter()
            .chain(&rule.destination_groups)
            .chain(&rule.scope)
    });
    policy
        .scope
        .iter()
        .chain(rule_paths)
        .filter(|path| path.contains("/groups/"))
        .cloned()
        .collect()
}

/// The paths of the groups that span `cluster_id`: those used by its policies, closed over
/// PathExpressions. `groups` is keyed by path; missing groups are left out.
pub fn groups_for_cluster(
    cluster_id: &str,
    policies: &[SpannedPolicy],
    groups: &BTreeMap<String, &Group>,
) -> BTreeSet<String> {
    let mut pending: Vec<String> = policies_for_cluster(cluster_id, policies)
        .into_iter()
        .flat_map(|p| referenced_group_paths(&p.policy))
        .collect();
    let mut spanned = BTreeSet::new();
    while let Some(path) = pending.pop() {
        let Some(group) = groups.get(&path) else {
            continue;
        };
        if !spanned.insert(path) {
            continue;
        }
        for expression in &group.expression {
            if let Expression::PathExpression(p) = expression {
                pending.extend(p.paths.iter().cloned());
            }
        }
    }
    spanned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(path: &str) -> SecurityPolicyContainerCluster {
        SecurityPolicyContainerCluster {
            container_cluster_type: Some("ANTREA".into()),
            container_cluster_path: path.into(),
            ..Default::default()
        }
    }

    #[test]
    fn span_children_and_scope_paths_both_tie_a_policy_to_a_cluster() {
        let by_span = SpannedPolicy::new(
            SecurityPolicy::default(),
            vec![span(&cluster_control_plane_path("prod-1"))],
        );
        let scoped = SecurityPolicy {
            scope: vec![cluster_control_plane_path("prod-2")],
            ..SecurityPolicy::default()
        };
        let by_scope = SpannedPolicy::new(scoped, Vec::new());
        let neither = SpannedPolicy::default();
        assert!(by_span.spans_cluster("prod-1"));
        assert!(!by_span.spans_cluster("prod-2"));
        assert!(by_scope.spans_cluster("prod-2"));
        assert!(!neither.spans_antrea_clusters());
        let all = [by_span, by_scope, neither];
        assert_eq!(policies_for_cluster("prod-1", &all).len(), 1);
        assert_eq!(cluster_id_of_path("/infra/x"), None);
    }

    #[test]
    fn groups_span_through_rules_and_path_expressions() {
        let mut policy = SecurityPolicy::default();
        policy.rules.push(crate::model::Rule {
            source_groups: vec!["/infra/domains/default/groups/a".into()],
            ..Default::default()
        });
        let spanned = SpannedPolicy::new(policy, vec![span(&cluster_control_plane_path("c"))]);
        let group = |id: &str, expression: Vec<Expression>| Group {
            meta: crate::model::ResourceMeta {
                id: id.into(),
                ..Default::default()
            },
            expression,
            ..Default::default()
        };
        let a = group(
            "a",
            vec![Expression::paths(["/infra/domains/default/groups/b"])],
        );
        let b = group("b", Vec::new());
        let unused = group("unused", Vec::new());
        let all = [a, b, unused];
        let by_path: BTreeMap<String, &Group> =
            all.iter().map(|g| (g.path_or_default(), g)).collect();
        let paths = groups_for_cluster("c", std::slice::from_ref(&spanned), &by_path);
        assert_eq!(
            paths.into_iter().collect::<Vec<_>>(),
            vec![
                "/infra/domains/default/groups/a".to_string(),
                "/infra/domains/default/groups/b".to_string()
            ]
        );
        assert!(groups_for_cluster("other", &[spanned], &by_path).is_empty());
    }
}
