//! The adapter's client of its cluster's controller (plain HTTP on loopback, or HTTPS with an
//! API client identity of the controller's CA when the controller listens beyond loopback; see
//! `tierwall_controller::api` and `api_https`): the managed objects, writes through admission,
//! status, inventory and statistics.
//!
//! ```text
//!  GET    /objects?labelSelector=<managed-by>     the managed objects in force
//!  GET    /objects/KIND/NAME                       one object in force
//!  PUT    /objects/KIND/NAME   (422: admission rejected it, with the message)
//!  DELETE /objects/KIND/NAME
//!  GET    /status  /inventory  /stats
//! ```

use crate::error::AdapterError;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tierwall_manager_client::{call_json, encode_query_value};
use tierwall_model::ObjectKey;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one controller.
#[derive(Debug, Clone)]
pub struct ControllerClient {
    http: reqwest::Client,
    base: String,
}

impl ControllerClient {
    /// A client of the controller at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Result<Self, AdapterError> {
        ControllerClient::with_identity(base, None)
    }

    /// A client of the controller at `base`; with `identity_dir` (`tls.crt`, `tls.key` and the
    /// controller's `ca.crt`, as `<pki>/clients/admin` holds them) it trusts only that CA and
    /// presents the identity (`https://HOST:PORT`).
    pub fn with_identity(base: &str, identity_dir: Option<&Path>) -> Result<Self, AdapterError> {
        let config = |m: String| AdapterError::Config(format!("controller client: {m}"));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(REQUEST_TIMEOUT);
        if let Some(dir) = identity_dir {
            let read = |name: &str| {
                let path = dir.join(name);
                std::fs::read(&path).map_err(|e| config(format!("{}: {e}", path.display())))
            };
            let (mut pem, key, ca) = (read("tls.crt")?, read("tls.key")?, read("ca.crt")?);
            pem.extend_from_slice(&key);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| config(format!("{}: {e}", dir.join("tls.crt").display())))?;
            let ca = reqwest::Certificate::from_pem(&ca)
                .map_err(|e| config(format!("{}: {e}", dir.join("ca.crt").display())))?;
            builder = builder.tls_certs_only([ca]).identity(identity);
        }
        let http = builder.build().map_err(|e| config(e.to_string()))?;
        Ok(ControllerClient {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    async fn get(&self, path: &str) -> Result<Value, AdapterError> {
        let url = format!("{}{path}", self.base);
        call_json("GET", &url, self.http.get(&url))
            .await
            .map_err(AdapterError::Controller)
    }

    /// The objects in force whose labels match `selector` (`k=v`), as JSON.
    pub async fn list_objects(&self, selector: &str) -> Result<Vec<Value>, AdapterError> {
        let path = format!("/objects?labelSelector={}", encode_query_value(selector));
        let body = self.get(&path).await?;
        items(body, &format!("{}{path}", self.base))
    }

    /// One object in force (`None`: there is none).
    pub async fn get_object(&self, key: &ObjectKey) -> Result<Option<Value>, AdapterError> {
        match self.get(&format!("/objects/{key}")).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one object (admission first: a rejection is a 422 with the message); the answer
    /// says `{"result": "created"|"configured"|"unchanged", "file", "status"}`.
    pub async fn put_object(&self, key: &ObjectKey, object: &Value) -> Result<Value, AdapterError> {
        let url = format!("{}/objects/{key}", self.base);
        let request = self.http.put(&url).json(object);
        call_json("PUT", &url, request)
            .await
            .map_err(AdapterError::Controller)
    }

    /// Deletes one object; an object already gone is not an error.
    pub async fn delete_object(&self, key: &ObjectKey) -> Result<(), AdapterError> {
        let url = format!("{}/objects/{key}", self.base);
        match call_json("DELETE", &url, self.http.delete(&url))
            .await
            .map_err(AdapterError::Controller)
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET /status`: `{"objects": [...], ...}`.
    pub async fn status(&self) -> Result<Value, AdapterError> {
        self.get("/status").await
    }

    /// `GET /inventory`.
    pub async fn inventory(&self) -> Result<Value, AdapterError> {
        self.get("/inventory").await
    }

    /// `GET /stats`: the per-policy entries of `items`.
    pub async fn stats(&self) -> Result<Vec<Value>, AdapterError> {
        let body = self.get("/stats").await?;
        items(body, &format!("{}/stats", self.base))
    }
}

fn items(body: Value, url: &str) -> Result<Vec<Value>, AdapterError> {
    match body {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(AdapterError::Answer {
                service: "controller",
                url: url.to_string(),
                message: "no \"items\" list".into(),
            }),
        },
        _ => Err(AdapterError::Answer {
            service: "controller",
            url: url.to_string(),
            message: "not a JSON object".into(),
        }),
    }
}
