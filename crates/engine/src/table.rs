//! `RuleTable`: every compiled policy, and the one total order of Antrea-native rules per
//! direction — (tier priority, policy priority, rule index), ties broken by policy key so the
//! order is deterministic. Kept sorted incrementally: adding or removing a policy touches only
//! its own rules.

use crate::compile::{CompiledPolicy, CompiledRule, Direction};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use tierwall_model::ObjectKey;

/// Tier priority at and after which rules are evaluated after Kubernetes NetworkPolicies.
pub use tierwall_node_api::BASELINE_TIER_PRIORITY;
/// The synthetic tier priority Kubernetes NetworkPolicies sort at (antctl's (250+253)/2).
pub const K8S_NP_TIER_PRIORITY: i32 = 251;

/// Position of one rule in the total order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSlot {
    pub tier_priority: i32,
    pub policy_priority: f64,
    pub rule_index: usize,
    pub policy: ObjectKey,
    /// Position of the rule in `CompiledPolicy::rules`.
    pub position: usize,
}

impl RuleSlot {
    fn order(&self, other: &RuleSlot) -> Ordering {
        self.tier_priority
            .cmp(&other.tier_priority)
            .then(self.policy_priority.total_cmp(&other.policy_priority))
            .then(self.rule_index.cmp(&other.rule_index))
            .then_with(|| self.policy.cmp(&other.policy))
            .then(self.position.cmp(&other.position))
    }
}

/// All compiled policies plus the ordered Antrea-native rule lists.
#[derive(Debug, Clone, Default)]
pub struct RuleTable {
    policies: BTreeMap<ObjectKey, CompiledPolicy>,
    ingress: Vec<RuleSlot>,
    egress: Vec<RuleSlot>,
}

impl RuleTable {
    /// Inserts or replaces a policy. `tier_priority` resolves a tier name.
    pub fn upsert(&mut self, policy: CompiledPolicy, tier_priority: impl Fn(&str) -> i32) {
        self.remove(&policy.key);
        if let Some(tier) = &policy.tier {
            let tp = tier_priority(tier);
            for (position, rule) in policy.rules.iter().enumerate() {
                let slot = RuleSlot {
                    tier_priority: tp,
                    policy_priority: policy.priority,
                    rule_index: rule.index,
                    policy: policy.key.clone(),
                    position,
                };
                let list = self.list_mut(rule.direction);
                let at = list.partition_point(|s| s.order(&slot) == Ordering::Less);
                list.insert(at, slot);
            }
        }
        self.policies.insert(policy.key.clone(), policy);
    }

    pub fn remove(&mut self, key: &ObjectKey) -> Option<CompiledPolicy> {
        let old = self.policies.remove(key)?;
        if old.tier.is_some() {
            self.ingress.retain(|s| s.policy != *key);
            self.egress.retain(|s| s.policy != *key);
        }
        Some(old)
    }

    fn list_mut(&mut self, direction: Direction) -> &mut Vec<RuleSlot> {
        match direction {
            Direction::Ingress => &mut self.ingress,
            Direction::Egress => &mut self.egress,
        }
    }

    /// Antrea-native rules of one direction in evaluation order.
    pub fn ordered(&self, direction: Direction) -> &[RuleSlot] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    pub fn policy(&self, key: &ObjectKey) -> Option<&CompiledPolicy> {
        self.policies.get(key)
    }

    pub fn rule(&self, slot: &RuleSlot) -> Option<(&CompiledPolicy, &CompiledRule)> {
        let p = self.policies.get(&slot.policy)?;
        Some((p, p.rules.get(slot.position)?))
    }

    pub fn policies(&self) -> impl Iterator<Item = &CompiledPolicy> {
        self.policies.values()
    }

    /// Kubernetes NetworkPolicies, ordered by key.
    pub fn k8s_policies(&self) -> impl Iterator<Item = &CompiledPolicy> {
        self.policies.values().filter(|p| p.is_k8s())
    }
}
