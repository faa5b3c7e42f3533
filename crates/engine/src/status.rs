//! Policy and group status as Antrea's controller computes it: the Node span of a policy (Nodes
//! hosting Pods it applies to), the phase and realization counts, the `Realizable` condition, and
//! the `GroupMembersComputed` condition of ClusterGroups and Groups.
//!
//! Without agents (engine mode) every Node in the span counts as realized; the dataplane's agents
//! report real realization later through `PolicyStatus::with_reports`.

use crate::cluster::{Cluster, PodInfo};
use crate::compile::{AppliedTerm, CompiledPolicy, GroupRef, PortEntry, PortMatch};
use crate::matching::{Local, Remote, Resolver};
use crate::table::RuleTable;
use serde::Serialize;
use std::collections::BTreeSet;
use tierwall_model::Kind;

/// One status condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `status` of an ACNP or ANNP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    pub phase: String,
    pub observed_generation: i64,
    pub current_nodes_realized: usize,
    pub desired_nodes_realized: usize,
    pub conditions: Vec<Condition>,
}

/// Why an Antrea NetworkPolicy cannot be realized: a Group in its appliedTo has members outside
/// the policy's namespace. Returns the Group's `ns/name`.
pub fn unsupported_applied_group(cluster: &Cluster, policy: &CompiledPolicy) -> Option<String> {
    if policy.key.kind != Kind::AntreaNetworkPolicy {
        return None;
    }
    let ns = policy.key.namespace.as_deref()?;
    let resolver = Resolver::new(cluster);
    for term in &policy.applied {
        if let AppliedTerm::Group(g @ GroupRef::Namespaced(gns, gname)) = term {
            let outside = cluster
                .pods
                .values()
                .any(|p| p.namespace != ns && resolver.group_selects_pod(g, p));
            if outside {
                return Some(format!("{gns}/{gname}"));
            }
        }
    }
    None
}

/// Pods the policy applies to (any rule).
pub fn applied_pods<'a>(
    cluster: &'a Cluster,
    policy: &'a CompiledPolicy,
) -> impl Iterator<Item = &'a PodInfo> + 'a {
    let resolver = Resolver::new(cluster);
    let realizable = unsupported_applied_group(cluster, policy).is_none();
    cluster.pods.values().filter(move |p| {
        realizable
            && policy
                .applied
                .iter()
                .any(|t| resolver.applied_selects(t, Local::Pod(p)))
    })
}

/// Nodes hosting Pods the policy applies to (plus Nodes selected by Node-policy appliedTo).
pub fn policy_span(cluster: &Cluster, policy: &CompiledPolicy) -> BTreeSet<String> {
    let mut span: BTreeSet<String> = applied_pods(cluster, policy)
        .map(|p| p.node.clone())
        .collect();
    let resolver = Resolver::new(cluster);
    for node in cluster.nodes.values() {
        if policy
            .applied
            .iter()
            .any(|t| resolver.applied_selects(t, Local::Node(node)))
        {
            span.insert(node.name.clone());
        }
    }
    span
}

/// The Nodes whose rule set can depend on Pod `pod` as it is now: its own Node, and the span of
/// every policy that can name it in a rule set: a peer term selects it (seen from its own
/// namespace, which also answers `namespaces: Self`/`sameLabels`), a rule resolves named ports
/// (egress endpoints come from the peer Pods, any Pod for an empty peer list), or an appliedTo
/// group (an ANNP's group selecting a Pod of another namespace makes the policy unrealizable).
/// Called before and after a change of the Pod, the union holds every Node whose set changed.
pub fn nodes_depending_on_pod(
    cluster: &Cluster,
    table: &RuleTable,
    pod: &PodInfo,
) -> BTreeSet<String> {
    let mut nodes = BTreeSet::from([pod.node.clone()]);
    let resolver = Resolver::new(cluster);
    let remote = pod.ip.map(|ip| Remote {
        ip,
        pod: Some(pod),
        node: None,
    });
    for policy in table.policies() {
        let depends = policy
            .applied
            .iter()
            .any(|t| matches!(t, AppliedTerm::Group(_)))
            || policy.rules.iter().any(|rule| {
                rule.ports.entries.iter().any(|e| {
                    matches!(
                        e,
                        PortEntry::L4 {
                            port: PortMatch::Named(_),
                            ..
                        }
                    )
                }) || remote.as_ref().is_some_and(|remote| {
                    rule.peers.terms.iter().any(|term| {
                        resolver
                            .peer_term_selects(term, Local::Pod(pod), remote)
                            .is_some()
                    })
                })
            });
        if depends {
            nodes.extend(policy_span(cluster, policy));
        }
    }
    nodes
}

/// Status of a policy. `realized` = Nodes that reported the current generation (engine mode: all).
pub fn policy_status(
    cluster: &Cluster,
    policy: &CompiledPolicy,
    realized: Option<&BTreeSet<String>>,
) -> PolicyStatus {
    if let Some(group) = unsupported_applied_group(cluster, policy) {
        return PolicyStatus {
            phase: "Pending".into(),
            observed_generation: policy.generation,
            current_nodes_realized: 0,
            desired_nodes_realized: 0,
            conditions: vec![Condition {
                type_: "Realizable".into(),
                status: "False".into(),
                reason: Some("NetworkPolicyAppliedToUnsupportedGroup".into()),
                message: Some(format!(
                    "Group {group} with Pods in other Namespaces can not be used as AppliedTo"
                )),
            }],
        };
    }
    let span = policy_span(cluster, policy);
    let current = realized.map_or(span.len(), |r| span.intersection(r).count());
    PolicyStatus {
        phase: if current == span.len() {
            "Realized".into()
        } else {
            "Realizing".into()
        },
        observed_generation: policy.generation,
        current_nodes_realized: current,
        desired_nodes_realized: span.len(),
        conditions: vec![Condition {
            type_: "Realizable".into(),
            status: "True".into(),
            reason: None,
            message: None,
        }],
    }
}

/// `status.conditions` of a ClusterGroup or Group.
pub fn group_conditions(cluster: &Cluster, group: &GroupRef) -> Vec<Condition> {
    let spec = match group {
        GroupRef::Cluster(n) => cluster.cluster_groups.get(n),
        GroupRef::Namespaced(ns, n) => cluster.groups.get(&(ns.clone(), n.clone())),
    };
    let Some(spec) = spec else { return vec![] };
    let kind = match group {
        GroupRef::Cluster(_) => "ClusterGroup",
        GroupRef::Namespaced(..) => "Group",
    };
    let child = |name: &str| match group {
        GroupRef::Cluster(_) => cluster.cluster_groups.get(name),
        GroupRef::Namespaced(ns, _) => cluster.groups.get(&(ns.clone(), name.to_string())),
    };
    if spec
        .child_groups
        .iter()
        .any(|c| child(c).is_some_and(|cs| !cs.child_groups.is_empty()))
    {
        return vec![Condition {
            type_: "GroupMembersComputed".into(),
            status: "False".into(),
            reason: Some("ChildGroupsNestingExceeded".into()),
            message: Some(format!(
                "The childGroups of this {kind} must not have childGroups of their own. Its members cannot be computed and it is not realized: fix its definition, or the definition of one of its childGroups."
            )),
        }];
    }
    if spec.child_groups.iter().any(|c| child(c).is_none()) {
        return vec![];
    }
    vec![Condition {
        type_: "GroupMembersComputed".into(),
        status: "True".into(),
        reason: None,
        message: None,
    }]
}
