//! ACNP priorities of NSX policies: `priority = 1 + n·2⁻⁵⁰` with `n = 20,000,000·c + k`, where
//! `c` is the category code (Emergency 0, Infrastructure 1, Environment 2, Application 3) and `k`
//! the 1-based position of the policy in its category (reference §2.3; every captured value
//! decodes exactly to such an `n`). Order is preserved: a lower `n` is a lower (earlier) priority.
//!
//! The manager hands `n` to the adapters as the policy's read-only `internal_sequence_number`
//! ("sequence number of a policy with respect to the policies across categories", reference §1.2,
//! whose observed gateway values also have the "category base + position" form): see
//! [`category_positions`] for how `k` is counted.

use crate::model::{Category, SecurityPolicy};
use std::collections::BTreeMap;

/// The step of the priority grid.
pub const PRIORITY_STEP: f64 = 1.0 / (1u64 << 50) as f64;

/// Positions per category: `k` must stay below this.
pub const CATEGORY_STRIDE: u64 = 20_000_000;

/// `1 + n·2⁻⁵⁰`. Exact for every `n < 2⁵⁰`.
pub fn encode_priority(n: u64) -> f64 {
    1.0 + n as f64 * PRIORITY_STEP
}

/// `n` of a priority on the grid; `None` for values below 1, off the grid, or not finite.
pub fn decode_priority(priority: f64) -> Option<u64> {
    if !priority.is_finite() || priority < 1.0 {
        return None;
    }
    let scaled = ((priority - 1.0) / PRIORITY_STEP).round();
    if scaled > (1u64 << 50) as f64 {
        return None;
    }
    let n = scaled as u64;
    (encode_priority(n) == priority).then_some(n)
}

/// The priority of the `k`-th policy (1-based) of `category`; `None` for Ethernet or when `k` is 0
/// or does not fit the category's stride.
pub fn policy_priority(category: Category, k: u64) -> Option<f64> {
    let code = category.priority_code()?;
    (1..CATEGORY_STRIDE)
        .contains(&k)
        .then(|| encode_priority(CATEGORY_STRIDE * code + k))
}

/// `(category, k)` of a priority produced by [`policy_priority`].
pub fn decode_policy_priority(priority: f64) -> Option<(Category, u64)> {
    split_position(decode_priority(priority)?)
}

/// `n = 20,000,000·c + k` of the `k`-th policy (1-based) of `category`: the policy's
/// `internal_sequence_number`. `None` as for [`policy_priority`].
pub fn internal_sequence_number(category: Category, k: u64) -> Option<i64> {
    let code = category.priority_code()?;
    (1..CATEGORY_STRIDE)
        .contains(&k)
        .then(|| i64::try_from(CATEGORY_STRIDE * code + k).ok())
        .flatten()
}

/// `(category, k)` of an `internal_sequence_number` made by [`internal_sequence_number`];
/// `None` for anything else (negative, `k` = 0, no L3 category).
pub fn decode_internal_sequence_number(n: i64) -> Option<(Category, u64)> {
    split_position(u64::try_from(n).ok()?).filter(|(_, k)| *k >= 1)
}

fn split_position(n: u64) -> Option<(Category, u64)> {
    let category = match n / CATEGORY_STRIDE {
        0 => Category::Emergency,
        1 => Category::Infrastructure,
        2 => Category::Environment,
        3 => Category::Application,
        _ => return None,
    };
    Some((category, n % CATEGORY_STRIDE))
}

/// The position `k` (1-based) of every policy in its category, in input order (`None` for a
/// policy without a category). Policies are ordered by (`sequence_number`, path) within each
/// category, and every policy counts, whatever clusters it spans or whether it spans any:
/// reference §2.3 reads `k` as NSX's numbering of **all** DFW policies of the category (VM
/// policies included; a captured ACNP moved from k=1 to k=2 when other NSX policies were added).
/// So one policy gets the same ACNP priority in every cluster it spans.
pub fn category_positions(policies: &[&SecurityPolicy]) -> Vec<Option<(Category, u64)>> {
    let paths: Vec<String> = policies.iter().map(|p| p.path_or_default()).collect();
    let mut by_category: BTreeMap<Category, Vec<usize>> = BTreeMap::new();
    for (index, policy) in policies.iter().enumerate() {
        if let Some(category) = policy.category {
            by_category.entry(category).or_default().push(index);
        }
    }
    let mut positions = vec![None; policies.len()];
    for (category, mut indices) in by_category {
        indices.sort_by(|&a, &b| {
            let key = |i: usize| (policies[i].sequence_number(), &paths[i]);
            key(a).cmp(&key(b))
        });
        for (position, index) in indices.into_iter().enumerate() {
            positions[index] = Some((category, position as u64 + 1));
        }
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every priority of the reference's captures, with the (category, k) it decodes to.
    const CAPTURED: &[(f64, Category, u64)] = &[
        (1.0000000177635693, Category::Infrastructure, 1),
        (1.0000000177635702, Category::Infrastructure, 2),
        (1.000000017763571, Category::Infrastructure, 3),
        (1.0000000177635728, Category::Infrastructure, 5),
        (1.0000000532907096, Category::Application, 5),
        (1.0000000532907336, Category::Application, 32),
        (1.0000000532916369, Category::Application, 1049),
    ];

    #[test]
    fn captured_priorities_decode_and_re_encode_bit_for_bit() {
        for &(priority, category, k) in CAPTURED {
            assert_eq!(
                decode_policy_priority(priority),
                Some((category, k)),
                "{priority}"
            );
            assert_eq!(
                policy_priority(category, k),
                Some(priority),
                "{category:?} {k}"
            );
            assert_eq!(
                format!("{priority}"),
                format!(
                    "{}",
                    encode_priority(decode_priority(priority).unwrap_or(0))
                )
            );
        }
    }

    #[test]
    fn order_is_preserved_and_bounds_are_checked() {
        let mut last = 0.0;
        for category in [
            Category::Emergency,
            Category::Infrastructure,
            Category::Environment,
            Category::Application,
        ] {
            for k in [1, 2, 10_000, CATEGORY_STRIDE - 1] {
                let p = policy_priority(category, k).unwrap_or(0.0);
                assert!(p > last, "{category:?} {k}");
                last = p;
            }
        }
        assert_eq!(policy_priority(Category::Ethernet, 1), None);
        assert_eq!(policy_priority(Category::Application, 0), None);
        assert_eq!(
            policy_priority(Category::Application, CATEGORY_STRIDE),
            None
        );
        assert_eq!(decode_priority(0.5), None);
        assert_eq!(decode_priority(1.0 + PRIORITY_STEP / 3.0), None);
        assert_eq!(decode_priority(5.0), None);
    }

    #[test]
    fn internal_sequence_numbers_are_the_priority_grid_index() {
        // The round-trip fixture's value: Application, k = 32, the capture's seed priority.
        assert_eq!(
            internal_sequence_number(Category::Application, 32),
            Some(60_000_032)
        );
        assert_eq!(
            decode_internal_sequence_number(60_000_032),
            Some((Category::Application, 32))
        );
        assert_eq!(
            policy_priority(Category::Application, 32),
            Some(encode_priority(60_000_032))
        );
        assert_eq!(internal_sequence_number(Category::Ethernet, 1), None);
        assert_eq!(decode_internal_sequence_number(20_000_000), None);
        assert_eq!(decode_internal_sequence_number(-5), None);
        assert_eq!(decode_internal_sequence_number(80_000_001), None);
    }

    #[test]
    fn positions_count_every_policy_of_the_category() {
        let policy = |id: &str, category: Option<Category>, seq: i64| SecurityPolicy {
            meta: crate::model::ResourceMeta {
                id: id.into(),
                ..Default::default()
            },
            category,
            sequence_number: Some(seq),
            ..Default::default()
        };
        let all = [
            policy("b", Some(Category::Application), 20),
            policy("vm-only", Some(Category::Application), 10),
            policy("a", Some(Category::Application), 20),
            policy("none", None, 1),
            policy("infra", Some(Category::Infrastructure), 99),
        ];
        let refs: Vec<&SecurityPolicy> = all.iter().collect();
        assert_eq!(
            category_positions(&refs),
            vec![
                Some((Category::Application, 3)),
                Some((Category::Application, 1)),
                Some((Category::Application, 2)),
                None,
                Some((Category::Infrastructure, 1)),
            ]
        );
    }
}
