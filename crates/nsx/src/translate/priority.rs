//! ACNP priorities of NSX policies: `priority = 1 + n·2⁻⁵⁰` with `n = 20,000,000·c + k`, where
//! `c` is the category code (Emergency 0, Infrastructure 1, Environment 2, Application 3) and `k`
//! the 1-based position of the policy in its category (reference §2.3; every captured value
//! decodes exactly to such an `n`). Order is preserved: a lower `n` is a lower (earlier) priority.

use crate::model::Category;

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
    let n = decode_priority(priority)?;
    let category = match n / CATEGORY_STRIDE {
        0 => Category::Emergency,
        1 => Category::Infrastructure,
        2 => Category::Environment,
        3 => Category::Application,
        _ => return None,
    };
    Some((category, n % CATEGORY_STRIDE))
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
}
