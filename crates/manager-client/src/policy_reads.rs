//! Typed reads of the Policy API: groups, services, security policies with their
//! container-cluster-spans, and the inventory each cluster reported, as `tierwall-nsx` model
//! types. A 404 of one object is `None`; an object that does not parse is a
//! [`ClientError::Answer`] naming it.

use crate::api_paths;
use crate::client::ManagerClient;
use crate::error::ClientError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tierwall_nsx::model::{
    ClusterInventory, Group, SecurityPolicy, SecurityPolicyContainerCluster, Service,
};

/// The `id` of an API object (empty when it has none).
pub fn object_id(value: &Value) -> &str {
    value.get("id").and_then(Value::as_str).unwrap_or_default()
}

impl ManagerClient {
    /// Parses one object read from `path` into its model type.
    fn parse<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
        value: Value,
    ) -> Result<T, ClientError> {
        let id = object_id(&value).to_string();
        serde_json::from_value(value).map_err(|e| ClientError::Answer {
            method: "GET".into(),
            url: self.url(path),
            message: format!("{what} {id}: not a valid object ({e})"),
        })
    }

    /// Every item of the list at `path`, each parsed.
    async fn list_typed<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, ClientError> {
        self.list_json(path)
            .await?
            .into_iter()
            .map(|v| self.parse(path, what, v))
            .collect()
    }

    /// The groups of the default domain.
    pub async fn groups(&self) -> Result<Vec<Group>, ClientError> {
        self.list_typed(&api_paths::groups(), "group").await
    }

    /// The services (the system's and the users').
    pub async fn services(&self) -> Result<Vec<Service>, ClientError> {
        self.list_typed(&api_paths::services(), "service").await
    }

    /// The security policies of the default domain, as listed (with their rules when the list
    /// carries them).
    pub async fn security_policies(&self) -> Result<Vec<SecurityPolicy>, ClientError> {
        self.list_typed(&api_paths::security_policies(), "security policy")
            .await
    }

    /// The ids of the security policies of the default domain.
    pub async fn security_policy_ids(&self) -> Result<Vec<String>, ClientError> {
        Ok(self
            .list_json(&api_paths::security_policies())
            .await?
            .iter()
            .map(|p| object_id(p).to_string())
            .collect())
    }

    /// One security policy with its rules (`None`: there is none).
    pub async fn security_policy(&self, id: &str) -> Result<Option<SecurityPolicy>, ClientError> {
        let path = api_paths::security_policy(id);
        match self.get_json_optional(&path).await? {
            Some(v) => self.parse(&path, "security policy", v).map(Some),
            None => Ok(None),
        }
    }

    /// The container-cluster-spans of one security policy.
    pub async fn container_cluster_spans(
        &self,
        policy_id: &str,
    ) -> Result<Vec<SecurityPolicyContainerCluster>, ClientError> {
        self.list_typed(
            &api_paths::container_cluster_span(policy_id),
            "container-cluster-span",
        )
        .await
    }

    /// The ids of the registered cluster control planes.
    pub async fn cluster_ids(&self) -> Result<Vec<String>, ClientError> {
        Ok(self
            .list_json(api_paths::CLUSTER_CONTROL_PLANES)
            .await?
            .iter()
            .map(|c| object_id(c).to_string())
            .collect())
    }

    /// The inventory cluster `cluster_id` last reported (`None`: none yet); its `cluster_id` is
    /// filled in when the report leaves it empty.
    pub async fn cluster_inventory(
        &self,
        cluster_id: &str,
    ) -> Result<Option<ClusterInventory>, ClientError> {
        let path = api_paths::cluster_report(cluster_id, "inventory");
        let Some(report) = self.get_json_optional(&path).await? else {
            return Ok(None);
        };
        let mut inventory: ClusterInventory =
            serde_json::from_value(report).map_err(|e| ClientError::Answer {
                method: "GET".into(),
                url: self.url(&path),
                message: format!("the inventory of cluster {cluster_id} is not valid ({e})"),
            })?;
        if inventory.cluster_id.is_empty() {
            inventory.cluster_id = cluster_id.to_string();
        }
        Ok(Some(inventory))
    }
}
