//! [`ClusterControlPlaneClient`]: the adapter's side of the API, for one cluster. It reads the
//! cluster's desired state (long poll), PUTs its reports, and registers the cluster with an
//! admin's credentials.
//!
//! ```text
//!  GET  {CCP}/{C}/desired-state?known_digest=D&timeout_seconds=T   (long poll)
//!  PUT  {CCP}/{C}/inventory | group-members | realization | statistics | status
//!  PUT  {CCP}/{C}   (registration: certificate, by an enterprise admin)
//! ```

use crate::api_paths;
use crate::client::ManagerClient;
use crate::credentials::{ManagerAuth, TlsTrust};
use crate::error::ClientError;
use crate::json_call::encode_query_value;
use serde_json::{Value, json};
use std::time::Duration;

/// How long a request may take beyond the long poll's own wait.
const REQUEST_SLACK: Duration = Duration::from_secs(15);

/// One report kind the adapter PUTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportKind {
    Inventory,
    GroupMembers,
    Realization,
    Statistics,
    Status,
}

impl ReportKind {
    /// The path segment below the cluster-control-plane.
    pub fn segment(self) -> &'static str {
        match self {
            ReportKind::Inventory => "inventory",
            ReportKind::GroupMembers => "group-members",
            ReportKind::Realization => "realization",
            ReportKind::Statistics => "statistics",
            ReportKind::Status => "status",
        }
    }
}

/// The answer to a desired-state read.
#[derive(Debug, Clone, PartialEq)]
pub enum DesiredStateAnswer {
    /// The state still has the digest the request named (the long poll timed out).
    Unchanged,
    /// The cluster's desired state: the whole document and its digest (when it names one).
    State {
        digest: Option<String>,
        document: Value,
    },
}

/// What [`ClusterControlPlaneClient::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Registered,
    AlreadyRegistered,
}

/// A client of one manager, for one cluster.
#[derive(Debug, Clone)]
pub struct ClusterControlPlaneClient {
    manager: ManagerClient,
    cluster_id: String,
}

impl ClusterControlPlaneClient {
    /// A client of the manager at `base` for cluster `cluster_id`.
    pub fn new(
        base: &str,
        cluster_id: &str,
        auth: &ManagerAuth,
        trust: &TlsTrust,
    ) -> Result<Self, ClientError> {
        Ok(ClusterControlPlaneClient {
            manager: ManagerClient::new(base, auth, trust)?.with_timeout(REQUEST_SLACK),
            cluster_id: cluster_id.to_string(),
        })
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The desired state. With `known = Some(digest)` (the `digest` of the state the adapter
    /// holds) the manager answers once the cluster's desired state differs from it, or after
    /// `wait` (at most 60 s) with [`DesiredStateAnswer::Unchanged`]. Writes that change nothing
    /// for this cluster do not end the wait.
    pub async fn desired_state(
        &self,
        known: Option<&str>,
        wait: Duration,
    ) -> Result<DesiredStateAnswer, ClientError> {
        let mut path = api_paths::cluster_report(&self.cluster_id, "desired-state");
        if let Some(digest) = known {
            path.push_str(&format!(
                "?known_digest={}&timeout_seconds={}",
                encode_query_value(digest),
                wait.as_secs().clamp(1, 60)
            ));
        }
        let document = self
            .manager
            .send_json(reqwest::Method::GET, &path, None, wait + REQUEST_SLACK)
            .await?;
        if !document.is_object() {
            return Err(ClientError::Answer {
                method: "GET".into(),
                url: self.manager.url(&path),
                message: "the desired state is not a JSON object".into(),
            });
        }
        if document.get("unchanged").and_then(Value::as_bool) == Some(true) {
            return Ok(DesiredStateAnswer::Unchanged);
        }
        let digest = document
            .get("digest")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(DesiredStateAnswer::State { digest, document })
    }

    /// PUTs one report (each replaces the previous one of its kind).
    pub async fn put_report(&self, kind: ReportKind, body: &Value) -> Result<(), ClientError> {
        let path = api_paths::cluster_report(&self.cluster_id, kind.segment());
        self.manager.put_json(&path, body).await.map(|_| ())
    }

    /// Registers the cluster with `cert_pem` as its principal identity, using an enterprise
    /// admin's Basic credentials. Already registered with the same certificate: nothing to do;
    /// with another certificate: [`ClientError::CertificateConflict`] (as NSX).
    pub async fn register(
        &self,
        cert_pem: &str,
        admin: (&str, &str),
    ) -> Result<Registration, ClientError> {
        let admin = ManagerClient::new(
            self.manager.base(),
            &ManagerAuth::Basic {
                user: admin.0.to_string(),
                password: admin.1.to_string(),
            },
            self.manager.trust(),
        )?
        .with_timeout(REQUEST_SLACK);
        let path = api_paths::cluster_control_plane(&self.cluster_id);
        if let Some(existing) = admin.get_json_optional(&path).await? {
            let registered = existing
                .get("certificate")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return if registered.trim() == cert_pem.trim() {
                Ok(Registration::AlreadyRegistered)
            } else {
                Err(ClientError::CertificateConflict {
                    cluster_id: self.cluster_id.clone(),
                })
            };
        }
        let body = json!({
            "resource_type": "ClusterControlPlane",
            "display_name": self.cluster_id,
            "node_type": "ANTREA_NODE",
            "certificate": cert_pem,
            "vhc_path": "",
        });
        admin.put_json(&path, &body).await?;
        Ok(Registration::Registered)
    }
}
