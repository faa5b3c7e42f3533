//! `tierwall get stats --testbed PREFIX [-o table|json|yaml]`: per policy and rule, SESSIONS
//! PACKETS BYTES summed over the testbed's Nodes, read from the named nftables counters (as
//! Antrea's `kubectl get acnpstats` / `antctl get stats`).
//!
//! ```text
//!  KIND                         NAMESPACE   NAME   RULE      SESSIONS   PACKETS   BYTES
//!  AntreaClusterNetworkPolicy               cnp1   (total)   10         10        600
//!  AntreaClusterNetworkPolicy               cnp1   allow80   5          5         300
//! ```
//!
//! Order: ACNPs, ANNPs, Kubernetes NetworkPolicies by namespace and name, then the
//! `K8sIsolation default-deny` pseudo-policy (drops of Pods isolated by Kubernetes
//! NetworkPolicies); each policy's total row, then its rules in spec order (ingress first).
//! PACKETS and BYTES are those of each session's FIRST packet (the only one a rule counter
//! sees; see `tierwall_lab::stats`). `-o json|yaml` prints a `kind: List` of Antrea-style
//! `*NetworkPolicyStats` objects.

use crate::output::{GetFormat, kubectl_table, list_document, to_json, to_yaml};
use anyhow::Context;
use serde_json::{Value, json};
use std::io::Write;
use tierwall_lab::stats::{PolicyTraffic, collect, policy_traffic};

/// The RULE cell of a policy's total row.
pub const TOTAL_ROW: &str = "(total)";

/// The table of `get stats`.
pub fn table(policies: &[PolicyTraffic]) -> String {
    let mut rows = Vec::new();
    for p in policies {
        let ns = p.namespace.clone().unwrap_or_default();
        let row = |rule: &str, t: &tierwall_lab::stats::TrafficStats| {
            vec![
                p.kind.clone(),
                ns.clone(),
                p.name.clone(),
                rule.to_string(),
                t.sessions.to_string(),
                t.packets.to_string(),
                t.bytes.to_string(),
            ]
        };
        rows.push(row(TOTAL_ROW, &p.traffic_stats));
        for r in &p.rule_traffic_stats {
            rows.push(row(&r.name, &r.traffic_stats));
        }
    }
    kubectl_table(
        &[
            "KIND",
            "NAMESPACE",
            "NAME",
            "RULE",
            "SESSIONS",
            "PACKETS",
            "BYTES",
        ],
        &rows,
    )
}

fn stats_kind(kind: &str) -> String {
    match kind {
        "K8sNetworkPolicy" => "NetworkPolicyStats".to_string(),
        k => format!("{k}Stats"),
    }
}

/// One Antrea-style stats object.
pub fn document(p: &PolicyTraffic) -> anyhow::Result<Value> {
    let mut metadata = json!({ "name": p.name });
    if let Some(ns) = &p.namespace {
        metadata["namespace"] = json!(ns);
    }
    Ok(json!({
        "apiVersion": "stats.antrea.io/v1alpha1",
        "kind": stats_kind(&p.kind),
        "metadata": metadata,
        "trafficStats": serde_json::to_value(p.traffic_stats)?,
        "ruleTrafficStats": serde_json::to_value(&p.rule_traffic_stats)?,
    }))
}

/// Prints the statistics of testbed `prefix`.
pub fn run(prefix: &str, format: GetFormat, out: &mut dyn Write) -> anyhow::Result<u8> {
    tierwall_testbed::options::validate_prefix(prefix)?;
    let (engine, samples) =
        collect(prefix).with_context(|| format!("reading the counters of testbed {prefix}"))?;
    let policies = policy_traffic(&engine, &samples);
    match format {
        GetFormat::Table | GetFormat::Wide => out.write_all(table(&policies).as_bytes())?,
        GetFormat::Json | GetFormat::Yaml => {
            let items = policies
                .iter()
                .map(document)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let doc = list_document(items);
            let text = if format == GetFormat::Json {
                to_json(&doc)?
            } else {
                to_yaml(&doc)?
            };
            out.write_all(text.as_bytes())?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_engine::compile::{Action, Direction};
    use tierwall_lab::stats::{RuleTraffic, TrafficStats};

    #[test]
    fn table_has_a_total_row_then_one_row_per_rule() {
        let t = |sessions: u64| TrafficStats {
            packets: sessions,
            bytes: 60 * sessions,
            sessions,
        };
        let p = PolicyTraffic {
            kind: "AntreaNetworkPolicy".into(),
            namespace: Some("x".into()),
            name: "np1".into(),
            traffic_stats: t(3),
            rule_traffic_stats: vec![RuleTraffic {
                name: "allow-web".into(),
                direction: Direction::Ingress,
                action: Action::Allow,
                id: "annp/x/np1/ingress/0".into(),
                traffic_stats: t(3),
            }],
        };
        assert_eq!(
            table(&[p]),
            "KIND                  NAMESPACE   NAME   RULE        SESSIONS   PACKETS   BYTES\n\
             AntreaNetworkPolicy   x           np1    (total)     3          3         180\n\
             AntreaNetworkPolicy   x           np1    allow-web   3          3         180\n"
        );
    }
}
