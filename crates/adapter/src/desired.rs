//! The desired state the manager sends for one cluster, read into the NSX model: the policies
//! that span the cluster, the groups they use and the services their rules name, with the
//! `intent_version` of each policy and group (realization is reported against it).

use crate::error::AdapterError;
use serde_json::Value;
use std::collections::BTreeMap;
use tierwall_nsx::model::{Group, SecurityPolicy, SecurityPolicyContainerCluster, Service};
use tierwall_nsx::span::{SpannedPolicy, cluster_control_plane_path};

/// The intent for one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Intent {
    /// The manager's store revision the intent was read at.
    pub revision: u64,
    pub policies: Vec<SpannedPolicy>,
    pub groups: Vec<Group>,
    pub services: Vec<Service>,
    /// `intent_version` of each policy and group, by path.
    pub versions: BTreeMap<String, String>,
    /// Objects that could not be read into the model: (path or id, message).
    pub unreadable: Vec<(String, String)>,
    /// The intent without its revision (what decides whether anything changed).
    pub content: String,
}

/// Reads the desired-state document of `cluster_id`. Every policy in it spans the cluster (the
/// manager sends nothing else), so each gets the cluster's span even when the document carries
/// the span only as a child object.
pub fn parse_desired_state(cluster_id: &str, document: &Value) -> Result<Intent, AdapterError> {
    let list = |field: &str| -> Vec<Value> {
        document
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let revision = document
        .get("revision")
        .and_then(Value::as_u64)
        .ok_or_else(|| AdapterError::Answer {
            service: "manager",
            url: "desired-state".into(),
            message: "no \"revision\"".into(),
        })?;
    let mut intent = Intent {
        revision,
        content: serde_json::to_string(&[
            list("security_policies"),
            list("groups"),
            list("services"),
        ])
        .unwrap_or_default(),
        ..Intent::default()
    };
    let span = SecurityPolicyContainerCluster {
        container_cluster_type: Some("ANTREA".into()),
        container_cluster_path: cluster_control_plane_path(cluster_id),
        ..SecurityPolicyContainerCluster::default()
    };
    for value in list("security_policies") {
        let version = intent_version_of(&value);
        match serde_json::from_value::<SecurityPolicy>(value.clone()) {
            Ok(policy) => {
                let path = policy.path_or_default();
                if let Some(v) = version {
                    intent.versions.insert(path, v);
                }
                intent
                    .policies
                    .push(SpannedPolicy::new(policy, vec![span.clone()]));
            }
            Err(e) => intent.unreadable.push((name_of(&value), e.to_string())),
        }
    }
    for value in list("groups") {
        let version = intent_version_of(&value);
        match serde_json::from_value::<Group>(value.clone()) {
            Ok(group) => {
                if let Some(v) = version {
                    intent.versions.insert(group.path_or_default(), v);
                }
                intent.groups.push(group);
            }
            Err(e) => intent.unreadable.push((name_of(&value), e.to_string())),
        }
    }
    for value in list("services") {
        match serde_json::from_value::<Service>(value.clone()) {
            Ok(service) => intent.services.push(service),
            Err(e) => intent.unreadable.push((name_of(&value), e.to_string())),
        }
    }
    Ok(intent)
}

fn intent_version_of(value: &Value) -> Option<String> {
    value
        .get("intent_version")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn name_of(value: &Value) -> String {
    value
        .get("path")
        .or_else(|| value.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_policy_spans_the_cluster_and_versions_are_kept() {
        let doc = json!({
            "revision": 7,
            "security_policies": [{"id": "web", "path": "/infra/domains/default/security-policies/web",
                "category": "Application", "intent_version": "v1", "rules": []}],
            "groups": [{"id": "g", "path": "/infra/domains/default/groups/g", "intent_version": "v2"}],
            "services": [],
        });
        let intent = parse_desired_state("c1", &doc).unwrap_or_default();
        assert_eq!(intent.revision, 7);
        assert!(intent.policies[0].spans_cluster("c1"));
        assert_eq!(
            intent
                .versions
                .get("/infra/domains/default/security-policies/web"),
            Some(&"v1".to_string())
        );
        assert_eq!(
            intent.versions.get("/infra/domains/default/groups/g"),
            Some(&"v2".to_string())
        );
        let mut later = doc.clone();
        later["revision"] = json!(9);
        let again = parse_desired_state("c1", &later).unwrap_or_default();
        assert_eq!(
            again.content, intent.content,
            "the revision alone changes nothing"
        );
        assert!(parse_desired_state("c1", &json!({})).is_err());
    }
}
