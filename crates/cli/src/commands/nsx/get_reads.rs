//! What `tierwall nsx get` reads from the manager, as the API's own JSON objects (printed as
//! stored with `-o json|yaml`): policies with their container-cluster-spans and consolidated
//! realization, the statistics of each policy per cluster, and clusters with their last
//! heartbeat and realization report.

use super::json_cells::{array, last_segment, text};
use anyhow::{Context, bail};
use serde_json::Value;
use tierwall_manager_client::{ManagerClient, api_paths};

/// A policy (with its rules) and what the tables show beside it.
pub struct PolicyView {
    pub policy: Value,
    pub span_clusters: Vec<String>,
    pub realization: String,
}

/// The ids of the policies to read: `only`, else every policy's.
async fn policy_ids(client: &ManagerClient, only: Option<&str>) -> anyhow::Result<Vec<String>> {
    Ok(match only {
        Some(id) => vec![id.to_string()],
        None => client.security_policy_ids().await?,
    })
}

/// The policies (`only`: that one), each with its spans and realization.
pub async fn read_policies(
    client: &ManagerClient,
    only: Option<&str>,
) -> anyhow::Result<Vec<PolicyView>> {
    let mut out = Vec::new();
    for id in policy_ids(client, only).await? {
        let policy = client
            .get_json_optional(&api_paths::security_policy(&id))
            .await?
            .with_context(|| format!("no security policy {id}"))?;
        let spans = client
            .list_json(&api_paths::container_cluster_span(&id))
            .await?;
        let span_clusters = spans
            .iter()
            .map(|s| last_segment(text(s, "container_cluster_path")).to_string())
            .collect();
        let intent = text(&policy, "path").to_string();
        let realization = match client
            .get_json_optional(&api_paths::realized_state_status(&intent))
            .await?
        {
            Some(status) => status["consolidated_status"]["consolidated_status"]
                .as_str()
                .unwrap_or("UNKNOWN")
                .to_string(),
            None => "UNKNOWN".to_string(),
        };
        out.push(PolicyView {
            policy,
            span_clusters,
            realization,
        });
    }
    Ok(out)
}

/// The `SecurityPolicyStatisticsForEnforcementPoint` entries of the policies (`only_policy`:
/// that one), of every cluster or of `only_cluster`.
pub async fn read_statistics(
    client: &ManagerClient,
    only_policy: Option<&str>,
    only_cluster: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let ids = policy_ids(client, only_policy).await?;
    if let Some(c) = only_cluster
        && client
            .get_json_optional(&api_paths::cluster_control_plane(c))
            .await?
            .is_none()
    {
        bail!("no cluster control plane {c}");
    }
    let mut out = Vec::new();
    for id in ids {
        let path = api_paths::security_policy_statistics(&id, only_cluster);
        let entries = match client.get_json_optional(&path).await? {
            Some(page) => array(&page, "results").to_vec(),
            None if only_policy.is_some() => bail!("no security policy {id}"),
            None => Vec::new(),
        };
        out.extend(entries);
    }
    Ok(out)
}

/// The cluster control planes, each with its last heartbeat (`status`) and realization report
/// (`realization`), `null` when it has none.
pub async fn read_clusters(client: &ManagerClient) -> anyhow::Result<Vec<Value>> {
    let clusters = client.list_json(api_paths::CLUSTER_CONTROL_PLANES).await?;
    let statuses = client
        .list_json(&api_paths::cluster_control_plane_statuses())
        .await?;
    let mut out = Vec::new();
    for mut cluster in clusters {
        let id = text(&cluster, "id").to_string();
        let status = statuses
            .iter()
            .find(|s| text(s, "cluster_control_plane_id") == id)
            .cloned()
            .unwrap_or(Value::Null);
        let realization = client
            .get_json_optional(&api_paths::cluster_report(&id, "realization"))
            .await?
            .unwrap_or(Value::Null);
        if let Value::Object(m) = &mut cluster {
            m.insert("status".into(), status);
            m.insert("realization".into(), realization);
        }
        out.push(cluster);
    }
    Ok(out)
}
