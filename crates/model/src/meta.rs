//! Shared metadata types: `ObjectMeta`, `LabelSelector` (the Kubernetes wire form) and
//! `IntOrString`. Matching of selectors against labels lives here too, because every layer above
//! needs the same, exact semantics.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Labels or annotations: ordered so that every output is deterministic.
pub type StringMap = BTreeMap<String, String>;

/// Kubernetes object metadata. Fields tierwall does not interpret but that `kubectl get -o yaml`
/// prints are accepted so that exported objects load back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: StringMap,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: StringMap,
    /// Bumped on every spec change; set by the store, not by users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Box<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<Box<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_fields: Option<Box<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
}

/// A Kubernetes label selector as written (`matchLabels` AND `matchExpressions`).
/// `None` fields and empty maps both mean "no constraint"; an empty selector `{}` selects all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "is_none_or_empty_map")]
    pub match_labels: Option<StringMap>,
    #[serde(default, skip_serializing_if = "is_none_or_empty_vec")]
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
}

fn is_none_or_empty_map(m: &Option<StringMap>) -> bool {
    m.as_ref().is_none_or(BTreeMap::is_empty)
}

fn is_none_or_empty_vec<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "is_none_or_empty_vec")]
    pub values: Option<Vec<String>>,
}

impl LabelSelector {
    /// Selector with only `matchLabels`.
    pub fn from_labels<I, K, V>(labels: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        LabelSelector {
            match_labels: Some(
                labels
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            match_expressions: None,
        }
    }

    /// True when the selector has no constraint at all (`{}`): it selects everything.
    pub fn is_empty(&self) -> bool {
        self.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && self.match_expressions.as_ref().is_none_or(Vec::is_empty)
    }

    /// Checks the operators; the error names the offending operator.
    pub fn check(&self) -> Result<(), String> {
        for expr in self.match_expressions.iter().flatten() {
            let values = expr.values.as_deref().unwrap_or(&[]);
            match expr.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(format!(
                        "values: Required value: must be specified when `operator` is 'In' or 'NotIn' (key {})",
                        expr.key
                    ));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(format!(
                        "values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist' (key {})",
                        expr.key
                    ));
                }
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            }
        }
        Ok(())
    }

    /// Kubernetes selector semantics. An invalid operator matches nothing (admission rejects it
    /// before it gets here).
    pub fn matches(&self, labels: &StringMap) -> bool {
        if let Some(ml) = &self.match_labels {
            for (k, v) in ml {
                if labels.get(k) != Some(v) {
                    return false;
                }
            }
        }
        for expr in self.match_expressions.iter().flatten() {
            let values = expr.values.as_deref().unwrap_or(&[]);
            let value = labels.get(&expr.key);
            let ok = match expr.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// The `labels.Selector.String()` form Kubernetes prints (`a=b,c in (d,e),!f`).
    pub fn to_selector_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (k, v) in self.match_labels.iter().flatten() {
            parts.push(format!("{k}={v}"));
        }
        for expr in self.match_expressions.iter().flatten() {
            let mut values = expr.values.clone().unwrap_or_default();
            values.sort();
            parts.push(match expr.operator.as_str() {
                "In" => format!("{} in ({})", expr.key, values.join(",")),
                "NotIn" => format!("{} notin ({})", expr.key, values.join(",")),
                "Exists" => expr.key.clone(),
                "DoesNotExist" => format!("!{}", expr.key),
                op => format!("{} {op} ({})", expr.key, values.join(",")),
            });
        }
        parts.sort();
        parts.join(",")
    }
}

/// A port that is either a number or a name (Kubernetes `IntOrString`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_semantics_table() {
        let req = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        };
        let with_expr = |e| LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![e]),
        };
        let l = labels(&[("ns", "x"), ("tier", "prod")]);
        let cases = [
            (LabelSelector::default(), true, "empty selects all"),
            (
                LabelSelector::from_labels([("ns", "x")]),
                true,
                "matchLabels hit",
            ),
            (
                LabelSelector::from_labels([("ns", "y")]),
                false,
                "matchLabels miss",
            ),
            (with_expr(req("ns", "In", &["x", "y"])), true, "In hit"),
            (with_expr(req("ns", "NotIn", &["x"])), false, "NotIn miss"),
            (
                with_expr(req("absent", "NotIn", &["x"])),
                true,
                "NotIn absent key",
            ),
            (with_expr(req("tier", "Exists", &[])), true, "Exists"),
            (
                with_expr(req("tier", "DoesNotExist", &[])),
                false,
                "DoesNotExist",
            ),
            (with_expr(req("tier", "Bogus", &[])), false, "bad operator"),
        ];
        for (sel, want, msg) in cases {
            assert_eq!(sel.matches(&l), want, "{msg}");
        }
    }

    #[test]
    fn int_or_string_round_trip() {
        let v: Vec<IntOrString> = serde_json::from_str(r#"[80, "http"]"#).unwrap();
        assert_eq!(
            v,
            vec![IntOrString::Int(80), IntOrString::String("http".into())]
        );
    }
}
