//! The shared state of the API ([`Manager`]): the store, the authenticator, how client
//! certificates are trusted, and the revisions that wake long polls; seeded with the predefined
//! services on start.

use super::paths::is_report_path;
use crate::auth::Authenticator;
use crate::error::{ApiError, code};
use crate::store::{Commit, Expect, Put, Store, StoreError, WriteOp};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// How client certificates are trusted (see [`crate::tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertTrust {
    /// The certificate must equal the one registered on the cluster-control-plane.
    Pinned,
    /// rustls verified the chain to the configured CA; the CN must name a registered cluster.
    CertificateAuthority,
}

/// The DER client certificate of the connection a request came on (inserted by the server).
#[derive(Debug, Clone, Default)]
pub struct PeerCertificate(pub Option<Arc<Vec<u8>>>);

/// The shared state of the API.
pub struct Manager {
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub client_cert_trust: ClientCertTrust,
    /// The global store revision after the last write.
    pub revision: tokio::sync::watch::Sender<u64>,
    /// The store revision of the last write that changed intent (anything but the clusters'
    /// reports below `/runtime/`): what the adapters' desired-state long polls wait on.
    pub intent_revision: tokio::sync::watch::Sender<u64>,
    /// Whether the listener is HTTPS (session cookies get `Secure`).
    pub https: bool,
}

pub type AppState = Arc<Manager>;

impl Manager {
    /// A manager over `store` with these users; seeds the predefined services.
    pub fn new(
        store: Arc<dyn Store>,
        auth: Authenticator,
        client_cert_trust: ClientCertTrust,
        https: bool,
    ) -> Result<Manager, crate::store::StoreError> {
        seed_predefined_services(store.as_ref())?;
        let revision = store.revision()?;
        Ok(Manager {
            store,
            auth,
            client_cert_trust,
            revision: tokio::sync::watch::channel(revision).0,
            intent_revision: tokio::sync::watch::channel(revision).0,
            https,
        })
    }

    /// Commits a batch on a blocking thread and publishes the new revision (and the new intent
    /// revision, unless the batch only wrote cluster reports).
    pub async fn commit(&self, ops: Vec<WriteOp>) -> Result<Commit, ApiError> {
        let changes_intent = ops.iter().any(|op| {
            let path = match op {
                WriteOp::Put(put) => put.path.as_str(),
                WriteOp::DeleteTree { path, .. } => path.as_str(),
            };
            !is_report_path(path)
        });
        let store = Arc::clone(&self.store);
        let commit = tokio::task::spawn_blocking(move || store.commit(ops))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code::INTERNAL,
                    e.to_string(),
                )
            })??;
        let advance = |r: &mut u64| {
            let changed = commit.revision > *r;
            *r = (*r).max(commit.revision);
            changed
        };
        self.revision.send_if_modified(advance);
        if changes_intent {
            self.intent_revision.send_if_modified(advance);
        }
        Ok(commit)
    }
}

/// Puts the predefined services (`tierwall_nsx::model::predefined_services`) that are missing.
pub fn seed_predefined_services(store: &dyn Store) -> Result<(), StoreError> {
    let mut ops = Vec::new();
    for service in tierwall_nsx::model::predefined_services() {
        let path = format!("/infra/services/{}", service.meta.id);
        if store.get(&path)?.is_some() {
            continue;
        }
        let Ok(Value::Object(mut body)) = serde_json::to_value(service) else {
            continue;
        };
        body.insert("_system_owned".into(), json!(true));
        body.insert("parent_path".into(), json!("/infra"));
        ops.push(WriteOp::Put(Put {
            path,
            body,
            expect: Expect::Absent,
            user: "system".into(),
            assign_rule_id: false,
        }));
    }
    if !ops.is_empty() {
        store.commit(ops)?;
    }
    Ok(())
}
