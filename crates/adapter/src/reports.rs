//! The realization and group-members reports, built from what the adapter wrote and what the
//! controller says.
//!
//! Realization, per policy and per group of the intent, against its `intent_version`:
//!
//! | situation | state |
//! |---|---|
//! | the policy could not be translated | `ERROR`, the translation's message |
//! | the controller refused its object (admission) | `ERROR`, the controller's message |
//! | the controller's phase is `Failed` | `ERROR`, the controller's message |
//! | the controller's phase is `Realized` | `REALIZED` (the manager shows `SUCCESS`) |
//! | otherwise (written, not yet realized) | `IN_PROGRESS` |
//!
//! Groups no policy rule uses have no Antrea object and are not reported.

use crate::desired::Intent;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use tierwall_model::{Kind, ObjectKey};
use tierwall_nsx::members::resolve_group_members;
use tierwall_nsx::model::ClusterInventory;
use tierwall_nsx::translate::{DesiredObjects, object_name};
use tierwall_nsx::validate::MapLookup;

/// The controller's view of one object: phase and error message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectPhase {
    pub phase: String,
    pub error: Option<String>,
}

/// Phases by key (`acnp/NAME`, `cg/NAME`, …) from the controller's `/status` document.
pub fn object_phases(status: &Value) -> BTreeMap<String, ObjectPhase> {
    status
        .get("objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let key = o.get("key")?.as_str()?.to_string();
            Some((
                key,
                ObjectPhase {
                    phase: o
                        .get("phase")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    error: o.get("error").and_then(Value::as_str).map(str::to_string),
                },
            ))
        })
        .collect()
}

fn entry(intent: &Intent, path: &str, state: &str, message: Option<&str>) -> Value {
    let mut e = json!({
        "intent_path": path,
        "intent_version": intent.versions.get(path).cloned().unwrap_or_default(),
        "state": state,
    });
    if let (Some(m), Value::Object(map)) = (message, &mut e) {
        map.insert("message".into(), json!(m));
    }
    e
}

fn state_of(
    key: &ObjectKey,
    failures: &BTreeMap<ObjectKey, String>,
    phases: &BTreeMap<String, ObjectPhase>,
) -> (&'static str, Option<String>) {
    if let Some(message) = failures.get(key) {
        return ("ERROR", Some(message.clone()));
    }
    match phases.get(&key.to_string()) {
        Some(p) if p.phase == "Failed" => (
            "ERROR",
            Some(p.error.clone().unwrap_or_else(|| "failed".to_string())),
        ),
        Some(p) if p.phase == "Realized" => ("REALIZED", None),
        _ => ("IN_PROGRESS", None),
    }
}

/// The realization report.
pub fn realization_report(
    intent: &Intent,
    desired: &DesiredObjects,
    failures: &BTreeMap<ObjectKey, String>,
    phases: &BTreeMap<String, ObjectPhase>,
) -> Value {
    let acnp_of: BTreeMap<&str, &str> = desired
        .origins
        .iter()
        .map(|(acnp, origin)| (origin.policy_path.as_str(), acnp.as_str()))
        .collect();
    let issues: BTreeMap<&str, &str> = desired
        .issues
        .iter()
        .map(|i| (i.policy_path.as_str(), i.message.as_str()))
        .collect();
    let mut results = Vec::new();
    for spanned in &intent.policies {
        let path = spanned.policy.path_or_default();
        let (state, message) = if let Some(m) = issues.get(path.as_str()) {
            ("ERROR", Some(m.to_string()))
        } else if let Some(acnp) = acnp_of.get(path.as_str()) {
            state_of(
                &ObjectKey::cluster(Kind::ClusterNetworkPolicy, acnp),
                failures,
                phases,
            )
        } else {
            ("ERROR", Some("the policy has no Antrea form".to_string()))
        };
        results.push(entry(intent, &path, state, message.as_deref()));
    }
    let emitted: BTreeSet<&str> = desired
        .groups
        .iter()
        .map(|g| g.metadata.name.as_str())
        .collect();
    for group in &intent.groups {
        let path = group.path_or_default();
        let name = object_name(group.meta.unique_id.as_deref(), &path);
        if !emitted.contains(name.as_str()) {
            continue;
        }
        let (state, message) = state_of(
            &ObjectKey::cluster(Kind::ClusterGroup, &name),
            failures,
            phases,
        );
        results.push(entry(intent, &path, state, message.as_deref()));
    }
    results.sort_by(|a, b| a["intent_path"].as_str().cmp(&b["intent_path"].as_str()));
    json!({ "results": results })
}

/// The group-members report: for every group of the intent, its members in this cluster (the
/// Pods behind the member IPs, and the IPs).
pub fn group_members_report(intent: &Intent, inventory: &ClusterInventory) -> Value {
    let lookup = MapLookup::new(
        intent.groups.iter().cloned(),
        intent.services.iter().cloned(),
    );
    let inventories = std::slice::from_ref(inventory);
    let mut results = Vec::new();
    for group in &intent.groups {
        let members = resolve_group_members(group, &lookup, inventories);
        let ips: BTreeSet<&str> = members.iter().map(|m| m.ip_address.as_str()).collect();
        let pods: Vec<Value> = inventory
            .pods
            .iter()
            .filter(|p| p.ip_addresses.iter().any(|ip| ips.contains(ip.as_str())))
            .map(|p| {
                json!({
                    "namespace": p.namespace,
                    "name": p.display_name,
                    "ip_addresses": p.ip_addresses,
                })
            })
            .collect();
        results.push(json!({
            "group_path": group.path_or_default(),
            "pods": pods,
            "ip_addresses": ips.into_iter().collect::<Vec<_>>(),
        }));
    }
    results.sort_by(|a, b| a["group_path"].as_str().cmp(&b["group_path"].as_str()));
    json!({ "results": results })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_nsx::model::SecurityPolicy;
    use tierwall_nsx::span::SpannedPolicy;
    use tierwall_nsx::translate::{PolicyOrigin, TranslationIssue};

    fn policy(id: &str) -> SpannedPolicy {
        let mut p = SecurityPolicy::default();
        p.meta.id = id.into();
        SpannedPolicy::new(p, Vec::new())
    }

    fn path(id: &str) -> String {
        format!("/infra/domains/default/security-policies/{id}")
    }

    #[test]
    fn each_policy_gets_the_state_of_its_acnp_or_the_reason_it_has_none() {
        let intent = Intent {
            policies: ["broken", "pending", "realized", "refused", "failed"]
                .into_iter()
                .map(policy)
                .collect(),
            versions: [(path("realized"), "v7".to_string())].into_iter().collect(),
            ..Intent::default()
        };
        let mut desired = DesiredObjects::default();
        for id in ["pending", "realized", "refused", "failed"] {
            desired.origins.insert(
                format!("acnp-{id}"),
                PolicyOrigin {
                    policy_path: path(id),
                    rules: Vec::new(),
                },
            );
        }
        desired.issues.push(TranslationIssue {
            policy_path: path("broken"),
            message: "group g has no Antrea form".into(),
        });
        let failures = [(
            ObjectKey::cluster(Kind::ClusterNetworkPolicy, "acnp-refused"),
            "tier nsx-category-application does not exist".to_string(),
        )]
        .into_iter()
        .collect();
        let phase = |p: &str, e: Option<&str>| ObjectPhase {
            phase: p.into(),
            error: e.map(str::to_string),
        };
        let phases = [
            ("acnp/acnp-pending".to_string(), phase("Realizing", None)),
            ("acnp/acnp-realized".to_string(), phase("Realized", None)),
            (
                "acnp/acnp-failed".to_string(),
                phase("Failed", Some("nft: boom")),
            ),
        ]
        .into_iter()
        .collect();
        let report = realization_report(&intent, &desired, &failures, &phases);
        let states: Vec<(String, String, String)> = report["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["intent_path"]
                        .as_str()
                        .unwrap_or_default()
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    e["state"].as_str().unwrap_or_default().to_string(),
                    e["message"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let expect = |id: &str, state: &str, message: &str| {
            (id.to_string(), state.to_string(), message.to_string())
        };
        assert_eq!(
            states,
            vec![
                expect("broken", "ERROR", "group g has no Antrea form"),
                expect("failed", "ERROR", "nft: boom"),
                expect("pending", "IN_PROGRESS", ""),
                expect("realized", "REALIZED", ""),
                expect(
                    "refused",
                    "ERROR",
                    "tier nsx-category-application does not exist"
                ),
            ]
        );
        let realized = report["results"]
            .as_array()
            .and_then(|r| r.iter().find(|e| e["state"] == "REALIZED"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(realized["intent_version"], "v7");
    }
}
