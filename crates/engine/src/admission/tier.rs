//! Tier admission (reference §1.3): at most 20 Tiers (distinct priorities), reserved priorities
//! 251/252/254/255 (and 220 when the ClusterNetworkPolicy feature gate is on), no two Tiers at
//! one priority, no priority change on update, and no deletion of a system Tier or of a Tier
//! that policies still reference.

use super::feature_gates::FeatureGates;
use super::field::{Check, Violation};
use crate::store::{Store, is_system_tier};
use std::collections::BTreeSet;
use tierwall_model::antrea::Tier;
use tierwall_model::{Kind, Object};

/// Maximum number of Tiers (counted as distinct priorities).
pub const MAX_TIERS: usize = 20;
/// Priorities reserved for AdminNetworkPolicy, BaselineAdminNetworkPolicy and internal use.
pub const RESERVED_PRIORITIES: [i32; 4] = [251, 252, 254, 255];
/// Priority of the upstream ClusterNetworkPolicy admin tier.
pub const CNP_ADMIN_TIER_PRIORITY: i32 = 220;

fn tiers(store: &Store) -> impl Iterator<Item = &Tier> {
    store.of_kind(Kind::Tier).filter_map(|o| match o {
        Object::Tier(t) => Some(t),
        _ => None,
    })
}

/// CREATE of a Tier.
pub fn validate_create(store: &Store, tier: &Tier, gates: &FeatureGates) -> Check {
    let name = &tier.metadata.name;
    let priority = tier.spec.priority;
    let priorities: BTreeSet<i32> = tiers(store).map(|t| t.spec.priority).collect();
    if priorities.len() >= MAX_TIERS {
        return Err(Violation::new(
            "",
            format!("maximum number of Tiers supported: {MAX_TIERS}"),
        ));
    }
    if RESERVED_PRIORITIES.contains(&priority) {
        return Err(Violation::new(
            "spec.priority",
            format!("tier {name} priority {priority} is reserved"),
        ));
    }
    if gates.cluster_network_policy && priority == CNP_ADMIN_TIER_PRIORITY {
        return Err(Violation::new(
            "spec.priority",
            format!(
                "tier {name} priority {CNP_ADMIN_TIER_PRIORITY} is reserved for upstream ClusterNetworkPolicy when the ClusterNetworkPolicy feature gate is enabled; choose a different priority"
            ),
        ));
    }
    if priorities.contains(&priority) {
        return Err(Violation::new(
            "spec.priority",
            format!("tier {name} priority {priority} overlaps with existing Tier"),
        ));
    }
    Ok(())
}

/// UPDATE of a Tier: the priority is immutable (for users; tierwall has no controller identity).
pub fn validate_update(old: &Tier, new: &Tier) -> Check {
    if old.spec.priority != new.spec.priority {
        return Err(Violation::new(
            "spec.priority",
            "update to Tier priority is not allowed",
        ));
    }
    Ok(())
}

/// DELETE of a Tier.
pub fn validate_delete(store: &Store, tier: &Tier) -> Check {
    let name = &tier.metadata.name;
    if is_system_tier(name) {
        return Err(Violation::new(
            "",
            format!("cannot delete reserved tier {name}"),
        ));
    }
    let referencing = |kind: Kind| {
        store
            .of_kind(kind)
            .filter(|o| matches!(o, Object::AntreaPolicy(_, p) if p.spec.tier == *name))
            .count()
    };
    let acnps = referencing(Kind::ClusterNetworkPolicy);
    if acnps > 0 {
        return Err(Violation::new(
            "",
            format!("tier {name} is referenced by {acnps} Antrea ClusterNetworkPolicies"),
        ));
    }
    let annps = referencing(Kind::AntreaNetworkPolicy);
    if annps > 0 {
        return Err(Violation::new(
            "",
            format!("tier {name} is referenced by {annps} Antrea NetworkPolicies"),
        ));
    }
    Ok(())
}
