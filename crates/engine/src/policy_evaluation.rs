//! The `antctl query networkpolicyevaluation` view: the single highest-precedence rule that
//! applies between two Pods, considering only Pod/Namespace selector peers (no ports, ipBlocks,
//! groups, Nodes, Services or FQDNs), plus an `Isolate` pseudo-rule for each Kubernetes
//! NetworkPolicy isolating the source (egress) or destination (ingress). This is an analysis view;
//! `Evaluator::probe` gives the rule that really decides a connection.

use crate::cluster::{Cluster, PodInfo};
use crate::compile::{Action, CompiledPolicy, Direction, PeerTerm};
use crate::evaluate::PolicyRef;
use crate::matching::{Local, Remote, Resolver};
use crate::table::{BASELINE_TIER_PRIORITY, K8S_NP_TIER_PRIORITY, RuleTable};
use serde::Serialize;
use std::cmp::Ordering;

/// Rule index Antrea reports for the synthetic Kubernetes isolation rule.
pub const ISOLATION_RULE_INDEX: usize = 2_147_483_647;

/// One row of the evaluation view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationRow {
    pub policy: PolicyRef,
    pub rule_index: usize,
    pub direction: Direction,
    /// `Allow`, `Drop`, `Reject`, `Pass` or `Isolate`.
    pub action: String,
    #[serde(skip)]
    tier_priority: i32,
    #[serde(skip)]
    policy_priority: f64,
}

impl EvaluationRow {
    fn order(&self, other: &Self) -> Ordering {
        self.tier_priority
            .cmp(&other.tier_priority)
            .then(self.policy_priority.total_cmp(&other.policy_priority))
            .then(self.rule_index.cmp(&other.rule_index))
            .then_with(|| self.policy.name.cmp(&other.policy.name))
            .then_with(|| {
                (self.direction == Direction::Ingress).cmp(&(other.direction == Direction::Ingress))
            })
    }
}

fn selector_peers_select(
    resolver: &Resolver,
    terms: &[PeerTerm],
    local: &PodInfo,
    remote: &PodInfo,
) -> bool {
    let remote = Remote {
        ip: remote.ip.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
        pod: Some(remote),
        node: None,
    };
    terms.iter().any(|t| {
        matches!(t, PeerTerm::Pods { .. })
            && resolver
                .peer_term_selects(t, Local::Pod(local), &remote)
                .is_some()
    })
}

fn policy_applies(resolver: &Resolver, policy: &CompiledPolicy, pod: &PodInfo) -> bool {
    policy
        .applied
        .iter()
        .any(|t| resolver.applied_selects(t, Local::Pod(pod)))
}

/// Evaluates the view for `src` → `dst`; `None` when no rule applies.
pub fn evaluate(
    cluster: &Cluster,
    table: &RuleTable,
    src: &PodInfo,
    dst: &PodInfo,
) -> Option<EvaluationRow> {
    let resolver = Resolver::new(cluster);
    let mut rows = Vec::new();
    for policy in table.policies() {
        let tier_priority = match &policy.tier {
            Some(t) => cluster.tiers.get(t).copied().unwrap_or(250),
            None => K8S_NP_TIER_PRIORITY,
        };
        for (direction, local, remote) in [
            (Direction::Egress, src, dst),
            (Direction::Ingress, dst, src),
        ] {
            let mut policy_applies_here = None;
            for rule in policy.rules(direction) {
                let applies = if policy.is_k8s() {
                    *policy_applies_here
                        .get_or_insert_with(|| policy_applies(&resolver, policy, local))
                } else {
                    rule.applied
                        .iter()
                        .any(|t| resolver.applied_selects(t, Local::Pod(local)))
                };
                if applies && selector_peers_select(&resolver, &rule.peers.terms, local, remote) {
                    rows.push(EvaluationRow {
                        policy: PolicyRef::from_key(&policy.key),
                        rule_index: rule.index,
                        direction,
                        action: rule.action.as_str().to_string(),
                        tier_priority,
                        policy_priority: if policy.is_k8s() {
                            0.0
                        } else {
                            policy.priority
                        },
                    });
                }
            }
            let isolates = match direction {
                Direction::Ingress => policy.isolates_ingress,
                Direction::Egress => policy.isolates_egress,
            };
            if policy.is_k8s() && isolates && policy_applies(&resolver, policy, local) {
                rows.push(EvaluationRow {
                    policy: PolicyRef::from_key(&policy.key),
                    rule_index: ISOLATION_RULE_INDEX,
                    direction,
                    action: "Isolate".into(),
                    tier_priority,
                    policy_priority: 0.0,
                });
            }
        }
    }
    rows.sort_by(|a, b| a.order(b));
    let first = rows.first()?;
    if first.action != Action::Pass.as_str() {
        return Some(first.clone());
    }
    rows.iter()
        .find(|r| {
            r.tier_priority == K8S_NP_TIER_PRIORITY
                || (r.tier_priority >= BASELINE_TIER_PRIORITY && r.action != Action::Pass.as_str())
        })
        .cloned()
        .or_else(|| Some(first.clone()))
}
