//! Rule statistics per NSX rule for one cluster, from the controller's dataplane counters.
//!
//! The controller counts per ACNP rule (`/stats`: sessions, packets, bytes); an NSX rule is one
//! ACNP rule, or two (`<id>-in`, `<id>-out`) for IN_OUT, and its counters are their sum. As NSX
//! does, a rule that changes starts again from zero: the book keeps, per NSX rule path, the
//! fingerprint of its translation and a baseline; when the fingerprint changes the baseline is
//! taken from the counters right after the change was written, and reports subtract it.
//! Counters that go backwards (the dataplane recreated them) reset the baseline to zero.
//! `hit_count` is the session count (Antrea counts sessions, packets and bytes only).

use serde_json::{Value, json};
use std::collections::BTreeMap;
use tierwall_model::antrea::AntreaPolicy;
use tierwall_nsx::translate::DesiredObjects;

/// Counters of one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub sessions: u64,
    pub packets: u64,
    pub bytes: u64,
}

impl Counters {
    fn add(&mut self, other: Counters) {
        self.sessions += other.sessions;
        self.packets += other.packets;
        self.bytes += other.bytes;
    }

    fn covers(&self, other: &Counters) -> bool {
        self.sessions >= other.sessions
            && self.packets >= other.packets
            && self.bytes >= other.bytes
    }

    fn minus(&self, other: &Counters) -> Counters {
        Counters {
            sessions: self.sessions - other.sessions,
            packets: self.packets - other.packets,
            bytes: self.bytes - other.bytes,
        }
    }
}

/// How one NSX rule is realized: its ACNP rules, and a fingerprint of their translation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleRealization {
    /// (ACNP name, ACNP rule name).
    pub acnp_rules: Vec<(String, String)>,
    pub fingerprint: String,
}

/// The NSX rules of a translation, by rule path.
pub fn rule_realizations(desired: &DesiredObjects) -> BTreeMap<String, RuleRealization> {
    let policies: BTreeMap<&str, &AntreaPolicy> = desired
        .policies
        .iter()
        .map(|p| (p.metadata.name.as_str(), p))
        .collect();
    let mut out: BTreeMap<String, RuleRealization> = BTreeMap::new();
    for (acnp, origin) in &desired.origins {
        let Some(policy) = policies.get(acnp.as_str()) else {
            continue;
        };
        for rule in &origin.rules {
            let translated = policy
                .spec
                .ingress
                .iter()
                .map(|r| ("ingress", r))
                .chain(policy.spec.egress.iter().map(|r| ("egress", r)))
                .find(|(_, r)| r.name == rule.name)
                .map(|(direction, r)| json!([acnp, direction, r]).to_string())
                .unwrap_or_default();
            let entry = out.entry(rule.rule_path.clone()).or_default();
            entry.acnp_rules.push((acnp.clone(), rule.name.clone()));
            entry.fingerprint.push_str(&translated);
        }
    }
    out
}

/// Counters per (ACNP name, rule name) from the controller's `/stats` items.
pub fn acnp_rule_counters(items: &[Value]) -> BTreeMap<(String, String), Counters> {
    let mut out = BTreeMap::new();
    for item in items {
        if item.get("kind").and_then(Value::as_str) != Some("AntreaClusterNetworkPolicy") {
            continue;
        }
        let Some(policy) = item.get("name").and_then(Value::as_str) else {
            continue;
        };
        for rule in item
            .get("ruleTrafficStats")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = rule.get("name").and_then(Value::as_str) else {
                continue;
            };
            let t = &rule["trafficStats"];
            let n = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
            out.insert(
                (policy.to_string(), name.to_string()),
                Counters {
                    sessions: n("sessions"),
                    packets: n("packets"),
                    bytes: n("bytes"),
                },
            );
        }
    }
    out
}

#[derive(Debug, Clone, Default)]
struct RuleBook {
    fingerprint: String,
    baseline: Counters,
    /// The rule changed; the baseline is taken on the next sample.
    needs_baseline: bool,
}

/// Baselines per NSX rule.
#[derive(Debug, Clone, Default)]
pub struct StatisticsBook {
    rules: BTreeMap<String, RuleBook>,
    started: bool,
}

impl StatisticsBook {
    /// Takes the current translation. Rules new since the adapter started, or whose translation
    /// changed, wait for a baseline; rules present at start count from the dataplane's zero.
    /// Returns whether some rule waits for a baseline.
    pub fn update(&mut self, rules: &BTreeMap<String, RuleRealization>) -> bool {
        let started = self.started;
        self.rules.retain(|path, _| rules.contains_key(path));
        for (path, realization) in rules {
            let book = self.rules.entry(path.clone()).or_insert_with(|| RuleBook {
                fingerprint: realization.fingerprint.clone(),
                baseline: Counters::default(),
                needs_baseline: started,
            });
            if book.fingerprint != realization.fingerprint {
                book.fingerprint = realization.fingerprint.clone();
                book.needs_baseline = true;
            }
        }
        self.started = true;
        self.rules.values().any(|b| b.needs_baseline)
    }

    /// Takes the baselines of the rules waiting for one from `counters` (sampled after the
    /// changes were written).
    pub fn take_baselines(
        &mut self,
        rules: &BTreeMap<String, RuleRealization>,
        counters: &BTreeMap<(String, String), Counters>,
    ) {
        for (path, book) in &mut self.rules {
            if !book.needs_baseline {
                continue;
            }
            if let Some(r) = rules.get(path) {
                book.baseline = sum(r, counters);
                book.needs_baseline = false;
            }
        }
    }

    /// The statistics report: one entry per NSX rule, sorted by rule path.
    pub fn report(
        &mut self,
        rules: &BTreeMap<String, RuleRealization>,
        counters: &BTreeMap<(String, String), Counters>,
    ) -> Value {
        let mut results = Vec::new();
        for (path, realization) in rules {
            let raw = sum(realization, counters);
            let counted = match self.rules.get_mut(path) {
                Some(book) if book.needs_baseline => Counters::default(),
                Some(book) => {
                    if !raw.covers(&book.baseline) {
                        book.baseline = Counters::default();
                    }
                    raw.minus(&book.baseline)
                }
                None => raw,
            };
            results.push(json!({
                "rule": path,
                "hit_count": counted.sessions,
                "packet_count": counted.packets,
                "byte_count": counted.bytes,
                "session_count": counted.sessions,
            }));
        }
        json!({ "results": results })
    }
}

fn sum(rule: &RuleRealization, counters: &BTreeMap<(String, String), Counters>) -> Counters {
    let mut total = Counters::default();
    for key in &rule.acnp_rules {
        if let Some(c) = counters.get(key) {
            total.add(*c);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(fingerprint: &str) -> BTreeMap<String, RuleRealization> {
        [(
            "/infra/domains/default/security-policies/p/rules/r".to_string(),
            RuleRealization {
                acnp_rules: vec![
                    ("acnp".into(), "7-in".into()),
                    ("acnp".into(), "7-out".into()),
                ],
                fingerprint: fingerprint.into(),
            },
        )]
        .into_iter()
        .collect()
    }

    fn counters(a: u64, b: u64) -> BTreeMap<(String, String), Counters> {
        let c = |n: u64| Counters {
            sessions: n,
            packets: n * 2,
            bytes: n * 100,
        };
        [
            (("acnp".to_string(), "7-in".to_string()), c(a)),
            (("acnp".to_string(), "7-out".to_string()), c(b)),
        ]
        .into_iter()
        .collect()
    }

    fn hits(report: &Value) -> (u64, u64) {
        let r = &report["results"][0];
        (
            r["hit_count"].as_u64().unwrap_or(u64::MAX),
            r["byte_count"].as_u64().unwrap_or(u64::MAX),
        )
    }

    #[test]
    fn both_halves_add_up_and_a_changed_rule_starts_from_zero() {
        let mut book = StatisticsBook::default();
        let v1 = rules("v1");
        assert!(!book.update(&v1), "rules present at start count from zero");
        assert_eq!(hits(&book.report(&v1, &counters(3, 2))), (5, 500));
        assert!(!book.update(&v1), "an unchanged rule keeps its counters");
        assert_eq!(hits(&book.report(&v1, &counters(4, 2))), (6, 600));

        let v2 = rules("v2");
        assert!(book.update(&v2));
        assert_eq!(
            hits(&book.report(&v2, &counters(4, 2))),
            (0, 0),
            "no baseline yet"
        );
        book.take_baselines(&v2, &counters(4, 2));
        assert_eq!(hits(&book.report(&v2, &counters(5, 4))), (3, 300));
        // The dataplane recreated its counters: they went backwards.
        assert_eq!(hits(&book.report(&v2, &counters(1, 0))), (1, 100));
    }
}
