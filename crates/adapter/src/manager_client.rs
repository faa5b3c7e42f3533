//! The adapter's client of the manager: HTTPS with the cluster's client certificate (its
//! principal identity, CN = cluster id) trusting the manager's CA, or plain HTTP with Basic
//! credentials for a local `--insecure-http` manager. It reads the desired state (long poll) and
//! PUTs the reports; [`ManagerClient::register`] joins the cluster with an admin's credentials.
//!
//! ```text
//!  GET  {CCP}/{C}/desired-state?known_digest=D&timeout_seconds=T   (long poll)
//!  PUT  {CCP}/{C}/inventory | group-members | realization | statistics | status
//!  PUT  {CCP}/{C}   (registration: certificate, by an enterprise admin)
//! ```

use crate::error::AdapterError;
use crate::http::call_json;
use serde_json::{Value, json};
use std::time::Duration;

/// The API prefix of every cluster-control-plane.
pub const CLUSTER_CONTROL_PLANES: &str =
    "/policy/api/v1/infra/sites/default/enforcement-points/default/cluster-control-planes";

/// How long a request may take beyond the long poll's own wait.
const REQUEST_SLACK: Duration = Duration::from_secs(15);

/// How the adapter proves who it is.
#[derive(Clone)]
pub enum ManagerAuth {
    /// HTTPS: the client certificate and key (PEM) and the CA (PEM) that signs the manager's
    /// certificate.
    Certificate {
        cert_pem: String,
        key_pem: String,
        ca_pem: String,
    },
    /// Plain HTTP with Basic credentials (local use only).
    Basic { user: String, password: String },
}

impl std::fmt::Debug for ManagerAuth {
    /// Never prints keys or passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManagerAuth::Certificate { .. } => f.write_str("Certificate(<client certificate>)"),
            ManagerAuth::Basic { user, .. } => write!(f, "Basic({user}, <password>)"),
        }
    }
}

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

/// A client of one manager, for one cluster.
#[derive(Debug, Clone)]
pub struct ManagerClient {
    http: reqwest::Client,
    base: String,
    cluster_id: String,
    basic: Option<(String, String)>,
    ca_pem: Option<String>,
}

impl ManagerClient {
    /// A client of the manager at `base` (`https://host:port`) for cluster `cluster_id`.
    pub fn new(base: &str, cluster_id: &str, auth: &ManagerAuth) -> Result<Self, AdapterError> {
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        let (basic, ca_pem) = match auth {
            ManagerAuth::Certificate {
                cert_pem,
                key_pem,
                ca_pem,
            } => {
                let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
                    .map_err(|e| AdapterError::Tls(format!("the manager's CA: {e}")))?;
                let identity =
                    reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes())
                        .map_err(|e| {
                            AdapterError::Tls(format!("the client certificate and key: {e}"))
                        })?;
                builder = builder.tls_certs_only([ca]).identity(identity);
                (None, Some(ca_pem.clone()))
            }
            ManagerAuth::Basic { user, password } => (Some((user.clone(), password.clone())), None),
        };
        let http = builder
            .build()
            .map_err(|e| AdapterError::Tls(e.to_string()))?;
        Ok(ManagerClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            cluster_id: cluster_id.to_string(),
            basic,
            ca_pem,
        })
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// `…/cluster-control-planes/{C}`.
    pub fn cluster_path(&self) -> String {
        format!("{CLUSTER_CONTROL_PLANES}/{}", self.cluster_id)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, url);
        match &self.basic {
            Some((user, password)) => builder.basic_auth(user, Some(password)),
            None => builder,
        }
    }

    /// The desired state. With `known = Some(digest)` (the `digest` of the state the adapter
    /// holds) the manager answers once the cluster's desired state differs from it, or after
    /// `wait` (at most 60 s) with `{"revision", "digest", "unchanged": true}` only (see
    /// [`is_unchanged`]). Writes that change nothing for this cluster do not end the wait.
    pub async fn desired_state(
        &self,
        known: Option<&str>,
        wait: Duration,
    ) -> Result<Value, AdapterError> {
        let mut url = format!("{}{}/desired-state", self.base, self.cluster_path());
        if let Some(digest) = known {
            url.push_str(&format!(
                "?known_digest={}&timeout_seconds={}",
                crate::http::encode_query_value(digest),
                wait.as_secs().clamp(1, 60)
            ));
        }
        let request = self
            .request(reqwest::Method::GET, &url)
            .timeout(wait + REQUEST_SLACK);
        let body = call_json("manager", "GET", &url, request).await?;
        if !body.is_object() {
            return Err(AdapterError::Answer {
                service: "manager",
                url,
                message: "the desired state is not a JSON object".into(),
            });
        }
        Ok(body)
    }

    /// PUTs one report (each replaces the previous one of its kind).
    pub async fn put_report(&self, kind: ReportKind, body: &Value) -> Result<(), AdapterError> {
        let url = format!("{}{}/{}", self.base, self.cluster_path(), kind.segment());
        let request = self
            .request(reqwest::Method::PUT, &url)
            .timeout(REQUEST_SLACK)
            .json(body);
        call_json("manager", "PUT", &url, request).await.map(|_| ())
    }

    /// Registers the cluster with `cert_pem` as its principal identity, using an enterprise
    /// admin's Basic credentials. Already registered with the same certificate: nothing to do;
    /// with another certificate: an error (as NSX: "certificate conflict").
    pub async fn register(
        &self,
        cert_pem: &str,
        admin: (&str, &str),
    ) -> Result<Registration, AdapterError> {
        let http = match &self.ca_pem {
            Some(ca) => {
                let ca = reqwest::Certificate::from_pem(ca.as_bytes())
                    .map_err(|e| AdapterError::Tls(format!("the manager's CA: {e}")))?;
                reqwest::Client::builder()
                    .tls_certs_only([ca])
                    .build()
                    .map_err(|e| AdapterError::Tls(e.to_string()))?
            }
            None => self.http.clone(),
        };
        let url = format!("{}{}", self.base, self.cluster_path());
        let get = http
            .get(&url)
            .basic_auth(admin.0, Some(admin.1))
            .timeout(REQUEST_SLACK);
        match call_json("manager", "GET", &url, get).await {
            Ok(existing) => {
                let registered = existing
                    .get("certificate")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                return if registered.trim() == cert_pem.trim() {
                    Ok(Registration::AlreadyRegistered)
                } else {
                    Err(AdapterError::Config(format!(
                        "cluster {} is registered with another certificate (certificate conflict with clusterControlPlane {})",
                        self.cluster_id, self.cluster_id
                    )))
                };
            }
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(e),
        }
        let body = json!({
            "resource_type": "ClusterControlPlane",
            "display_name": self.cluster_id,
            "node_type": "ANTREA_NODE",
            "certificate": cert_pem,
            "vhc_path": "",
        });
        let put = http
            .put(&url)
            .basic_auth(admin.0, Some(admin.1))
            .timeout(REQUEST_SLACK)
            .json(&body);
        call_json("manager", "PUT", &url, put).await?;
        Ok(Registration::Registered)
    }
}

/// Whether a desired-state answer says "nothing changed since the digest you named" (it then
/// carries no objects).
pub fn is_unchanged(document: &Value) -> bool {
    document.get("unchanged").and_then(Value::as_bool) == Some(true)
}

/// What [`ManagerClient::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Registered,
    AlreadyRegistered,
}
