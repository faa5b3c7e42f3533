//! Translation of the policies and groups that span one cluster into the Antrea objects its
//! adapter writes, following the reference's captures (§2): the five `nsx-category-*` Tiers
//! (priorities 0-4, ahead of Antrea's own 50-253), one ClusterNetworkPolicy per NSX policy (UUID
//! name, display-name annotation, managed-by label, priority `1 + n·2⁻⁵⁰` with the position in
//! `n` counted over every policy of the category in the manager, see [`category_positions`]),
//! and the ClusterGroups of the groups those policies use. Output is deterministic: Tiers by
//! priority, policies by (tier, priority, name), groups by name.
//!
//! A policy that cannot be translated (a group or service that has no Antrea form, a missing
//! reference, no L3 category) is left out and reported in [`DesiredObjects::issues`]; the rest
//! are still produced. Objects of policies that no longer span the cluster are simply absent, and
//! [`stale_managed_objects`] lists what the adapter must delete.

mod groups;
mod naming;
mod priority;
mod rules;

pub use groups::{CLUSTER_GROUP_API_VERSION, NAMESPACE_NAME_LABEL, TranslatedGroup};
pub use naming::{
    CREATED_FROM_ANNOTATION, CREATED_FROM_VALUE, DISPLAY_NAME_ANNOTATION, EGRESS_HALF_SUFFIX,
    INGRESS_HALF_SUFFIX, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PARENT_ANNOTATION, child_group_name,
    name_based_uuid, object_name, rule_id_of_rule_name,
};
pub use priority::{
    CATEGORY_STRIDE, PRIORITY_STEP, category_positions, decode_internal_sequence_number,
    decode_policy_priority, decode_priority, encode_priority, internal_sequence_number,
    policy_priority,
};
pub use rules::{
    AppliedToSource, CLUSTER_NETWORK_POLICY_API_VERSION, RuleOrigin, applied_to_of, emitted_sides,
};

use crate::model::{Category, ClusterInventory, Group, Service};
use crate::span::SpannedPolicy;
use groups::GroupTranslator;
use rules::{ServiceIndex, translate_policy};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tierwall_model::antrea::{AntreaGroup, AntreaPolicy, Tier, TierSpec};
use tierwall_model::meta::ObjectMeta;
use tierwall_model::object::{Kind, Object, ObjectKey};

pub const TIER_API_VERSION: &str = "crd.antrea.io/v1alpha1";

/// Everything the adapter of one cluster should have, and nothing else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredObjects {
    pub tiers: Vec<Tier>,
    pub policies: Vec<AntreaPolicy>,
    pub groups: Vec<AntreaGroup>,
    /// NSX policy path of each ACNP, by ACNP name, with the origin of each of its rules.
    pub origins: BTreeMap<String, PolicyOrigin>,
    /// Policies that span the cluster but were not translated, and why.
    pub issues: Vec<TranslationIssue>,
}

/// The NSX policy (and rules) behind one ACNP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOrigin {
    pub policy_path: String,
    pub rules: Vec<RuleOrigin>,
}

/// A policy left out of the translation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslationIssue {
    pub policy_path: String,
    pub message: String,
}

impl DesiredObjects {
    /// All objects as `Object`s: Tiers, then ClusterGroups, then ClusterNetworkPolicies.
    pub fn to_objects(&self) -> Vec<Object> {
        let tiers = self.tiers.iter().cloned().map(Object::Tier);
        let groups = self
            .groups
            .iter()
            .cloned()
            .map(|g| Object::AntreaGroup(Kind::ClusterGroup, g));
        let policies = self
            .policies
            .iter()
            .cloned()
            .map(|p| Object::AntreaPolicy(Kind::ClusterNetworkPolicy, p));
        tiers.chain(groups).chain(policies).collect()
    }

    /// The keys of all desired objects.
    pub fn keys(&self) -> BTreeSet<ObjectKey> {
        let tiers = self
            .tiers
            .iter()
            .map(|t| ObjectKey::cluster(Kind::Tier, &t.metadata.name));
        let groups = self
            .groups
            .iter()
            .map(|g| ObjectKey::cluster(Kind::ClusterGroup, &g.metadata.name));
        let policies = self
            .policies
            .iter()
            .map(|p| ObjectKey::cluster(Kind::ClusterNetworkPolicy, &p.metadata.name));
        tiers.chain(groups).chain(policies).collect()
    }
}

/// Whether `object` carries the adapter's managed-by label.
pub fn is_managed(object: &Object) -> bool {
    object
        .metadata()
        .labels
        .get(MANAGED_BY_LABEL)
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// Managed objects in `existing` that `desired` no longer has, sorted: what to delete.
pub fn stale_managed_objects(existing: &[Object], desired: &DesiredObjects) -> Vec<ObjectKey> {
    let keep = desired.keys();
    let stale: BTreeSet<ObjectKey> = existing
        .iter()
        .filter(|o| is_managed(o))
        .map(Object::key)
        .filter(|k| !keep.contains(k))
        .collect();
    stale.into_iter().collect()
}

/// Why no translation could be produced at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error("cluster id must not be empty")]
    EmptyClusterId,
    #[error(
        "{count} policies in category {category}: at most {} fit the ACNP priority encoding",
        CATEGORY_STRIDE - 1
    )]
    TooManyPolicies {
        category: &'static str,
        count: usize,
    },
}

/// The five `nsx-category-*` Tiers.
pub fn nsx_tiers() -> Vec<Tier> {
    Category::ALL
        .iter()
        .map(|category| {
            let mut metadata = ObjectMeta {
                name: category.tier_name(),
                ..ObjectMeta::default()
            };
            metadata
                .labels
                .insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
            Tier {
                api_version: TIER_API_VERSION.to_string(),
                kind: "Tier".to_string(),
                metadata,
                spec: TierSpec {
                    priority: category.tier_priority(),
                    description: Some(format!("NSX DFW category {}", category.as_str())),
                },
            }
        })
        .collect()
}

/// The Antrea objects for `cluster_id`. `groups` and `services` are everything the policies may
/// refer to (predefined services need not be included). `inventory` is the cluster's reported
/// inventory; the translation itself needs none of it today (selectors are evaluated by Antrea),
/// it is taken so that criteria that need resolving can use it without an API change.
///
/// The position `k` of a policy in its category (its ACNP priority, see [`category_positions`])
/// counts every DFW policy of the category in the manager, not only those spanning this cluster.
/// The manager sends it as each policy's `internal_sequence_number` (`20,000,000·c + k`); when
/// every policy of a category carries a valid and distinct one, it is used as given. Otherwise
/// (hand-made input) `k` is counted over `policies`, which may then include policies of other
/// clusters: they count for the positions but are not emitted.
pub fn translate_for_cluster(
    cluster_id: &str,
    policies: &[SpannedPolicy],
    groups: &[Group],
    services: &[Service],
    inventory: &ClusterInventory,
) -> Result<DesiredObjects, TranslateError> {
    let _ = inventory;
    if cluster_id.is_empty() {
        return Err(TranslateError::EmptyClusterId);
    }
    let group_paths: Vec<String> = groups.iter().map(Group::path_or_default).collect();
    let group_index: HashMap<&str, &Group> = group_paths
        .iter()
        .map(String::as_str)
        .zip(groups.iter())
        .collect();
    let service_paths: Vec<String> = services.iter().map(Service::path_or_default).collect();
    let service_index: HashMap<&str, &Service> = service_paths
        .iter()
        .map(String::as_str)
        .zip(services.iter())
        .collect();
    let mut group_translator = GroupTranslator::new(group_index);
    let mut service_translator = ServiceIndex::new(service_index);

    let policy_paths: Vec<String> = policies
        .iter()
        .map(|p| p.policy.path_or_default())
        .collect();
    let ordered = ordered_positions(policies)?;

    let mut desired = DesiredObjects {
        tiers: nsx_tiers(),
        ..DesiredObjects::default()
    };
    let mut used_groups: Vec<usize> = Vec::new();
    for (category, k, index) in ordered {
        let spanned = &policies[index];
        if !spanned.spans_cluster(cluster_id) {
            continue;
        }
        let policy_path = policy_paths[index].clone();
        let Some(priority) = priority::policy_priority(category, k) else {
            desired.issues.push(TranslationIssue {
                policy_path,
                message: format!(
                    "category {} has no Antrea tier for L3 rules",
                    category.as_str()
                ),
            });
            continue;
        };
        match translate_policy(
            &spanned.policy,
            category,
            priority,
            &mut group_translator,
            &mut service_translator,
        ) {
            Ok(translated) => {
                used_groups.extend(translated.group_numbers);
                desired.origins.insert(
                    translated.policy.metadata.name.clone(),
                    PolicyOrigin {
                        policy_path,
                        rules: translated.rules,
                    },
                );
                desired.policies.push(translated.policy);
            }
            Err(message) => desired.issues.push(TranslationIssue {
                policy_path,
                message,
            }),
        }
    }
    for (index, spanned) in policies.iter().enumerate() {
        if spanned.policy.category.is_none() && spanned.spans_cluster(cluster_id) {
            desired.issues.push(TranslationIssue {
                policy_path: policy_paths[index].clone(),
                message: "a policy on Antrea clusters needs a category".to_string(),
            });
        }
    }
    desired
        .issues
        .sort_by(|a, b| a.policy_path.cmp(&b.policy_path));
    // Policies were emitted by (category, k): that is (tier, priority) order already, and
    // priorities are unique, so no further sort is needed.
    desired.groups = group_translator.into_objects_of(used_groups);
    Ok(desired)
}

/// `(category, k, index)` of every policy with a category, in (category, k) order: `k` from the
/// policies' `internal_sequence_number` where a whole category carries valid, distinct ones,
/// else counted over `policies` by [`category_positions`].
fn ordered_positions(
    policies: &[SpannedPolicy],
) -> Result<Vec<(Category, u64, usize)>, TranslateError> {
    let refs: Vec<&crate::model::SecurityPolicy> = policies.iter().map(|p| &p.policy).collect();
    let counted = category_positions(&refs);
    let mut by_category: BTreeMap<Category, Vec<usize>> = BTreeMap::new();
    for (index, spanned) in policies.iter().enumerate() {
        if let Some(category) = spanned.policy.category {
            by_category.entry(category).or_default().push(index);
        }
    }
    let mut ordered = Vec::with_capacity(policies.len());
    for (category, indices) in by_category {
        let given: Vec<Option<u64>> = indices
            .iter()
            .map(|&i| {
                policies[i]
                    .policy
                    .internal_sequence_number
                    .and_then(decode_internal_sequence_number)
                    .filter(|(c, _)| *c == category)
                    .map(|(_, k)| k)
            })
            .collect();
        let distinct: BTreeSet<u64> = given.iter().flatten().copied().collect();
        let mut positions: Vec<(Category, u64, usize)> =
            if given.iter().all(Option::is_some) && distinct.len() == given.len() {
                indices
                    .iter()
                    .zip(given)
                    .map(|(&i, k)| (category, k.unwrap_or_default(), i))
                    .collect()
            } else {
                if indices.len() >= CATEGORY_STRIDE as usize {
                    return Err(TranslateError::TooManyPolicies {
                        category: category.as_str(),
                        count: indices.len(),
                    });
                }
                indices
                    .iter()
                    .filter_map(|&i| counted[i].map(|(_, k)| (category, k, i)))
                    .collect()
            };
        positions.sort_unstable();
        ordered.extend(positions);
    }
    Ok(ordered)
}

/// Parses an NSX port value: `"80"` or `"8000-8080"` → `(low, high)`; ports are 1-65535.
pub fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let text = text.trim();
    let (low, high) = match text.split_once('-') {
        Some((low, high)) => (
            low.trim().parse::<u16>().ok()?,
            high.trim().parse::<u16>().ok()?,
        ),
        None => {
            let port = text.parse::<u16>().ok()?;
            (port, port)
        }
    };
    (low >= 1 && low <= high).then_some((low, high))
}

#[cfg(test)]
mod tests;
