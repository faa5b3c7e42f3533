//! The stream server: agents connect over HTTP/2 with mutual TLS (client certificates signed by
//! the controller's CA, refused at the TLS layer otherwise), read their Node's rule set and its
//! changes, and post reports. It runs on its own tokio runtime thread, beside the synchronous
//! controller, and reads everything from the [`RuleSetIndex`].
//!
//! ```text
//!  TLS accept (client cert required, CA-signed) ──CN system:node:N──> Identity(N)
//!  GET  /v1/nodes/{node}/rule-set?generation=E.N ── node ≠ N: 403 · unknown: 404 ──>
//!        ndjson body: catch-up (full | deltas), then one delta per new generation,
//!        countersRequest on demand; ends when the Node leaves or the client goes
//!  POST /v1/nodes/{node}/report ── NodeReport ──> index.record_report ──> 204
//! ```

use crate::mtls_serve::{MtlsServer, ServeError};
use crate::pki::{CertificateAuthority, PkiError};
use crate::rule_set_index::{CatchUp, RuleSetIndex};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tierwall_node_api::stream::{ErrorBody, STREAM_CONTENT_TYPE, node_of_common_name};
use tierwall_node_api::{Generation, NodeReport, StreamMessage};
use tokio::sync::{mpsc, watch};

/// Errors starting the stream server.
#[derive(Debug, thiserror::Error)]
pub enum StreamServerError {
    #[error("node stream: listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("node stream: {0}")]
    Pki(#[from] PkiError),
    #[error("node stream: TLS configuration: {0}")]
    Tls(String),
    #[error("node stream: {0}")]
    Runtime(String),
}

/// The Node a connection's client certificate names (`None`: none, or not a Node's).
#[derive(Debug, Clone)]
struct Identity(Option<Arc<str>>);

/// The running server.
#[derive(Debug)]
pub struct NodeStreamServer(MtlsServer);

/// The rustls configuration: the CA-issued server identity, client certificates required.
pub fn server_tls(
    ca: &CertificateAuthority,
    server_names: &[String],
) -> Result<Arc<rustls::ServerConfig>, StreamServerError> {
    let tls = |e: &dyn std::fmt::Display| StreamServerError::Tls(e.to_string());
    let provider = crypto_provider();
    let identity = ca.server_identity(server_names)?;
    let certs = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|e| tls(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| tls(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The process-wide crypto provider (aws-lc-rs), installed once.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(p) = rustls::crypto::CryptoProvider::get_default() {
        return Arc::clone(p);
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    rustls::crypto::CryptoProvider::get_default()
        .map(Arc::clone)
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

impl NodeStreamServer {
    /// Starts serving `index` on `listen` with `tls`, on a runtime thread of its own.
    pub fn start(
        index: Arc<RuleSetIndex>,
        tls: Arc<rustls::ServerConfig>,
        listen: SocketAddr,
    ) -> Result<NodeStreamServer, StreamServerError> {
        let tag = |name: Option<String>| {
            Identity(name.as_deref().and_then(node_of_common_name).map(Arc::from))
        };
        MtlsServer::start("node-stream", 2, listen, tls, router(index), tag)
            .map(NodeStreamServer)
            .map_err(|e| match e {
                ServeError::Listen { addr, source } => StreamServerError::Listen { addr, source },
                ServeError::Runtime(e) => StreamServerError::Runtime(e.to_string()),
            })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Stops accepting and ends every stream.
    pub fn stop(self) {
        self.0.stop();
    }
}

fn router(index: Arc<RuleSetIndex>) -> Router {
    Router::new()
        .route("/v1/nodes/{node}/rule-set", get(rule_set_stream))
        .route("/v1/nodes/{node}/report", post(report))
        .with_state(index)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorBody { message })).into_response()
}

/// 403 unless the connection's certificate names `node`.
fn authorize(identity: &Identity, node: &str) -> Result<(), Box<Response>> {
    match identity.0.as_deref() {
        Some(own) if own == node => Ok(()),
        Some(own) => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            format!(
                "Node \"{own}\" may read and report only its own rule set, not Node \"{node}\"'s"
            ),
        ))),
        None => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "the client certificate names no Node (CN=system:node:NAME)".into(),
        ))),
    }
}

fn unknown_node(node: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "\"{node}\" is not a Node of this cluster (the controller knows no Node of that name)"
        ),
    )
}

async fn rule_set_stream(
    State(index): State<Arc<RuleSetIndex>>,
    Extension(identity): Extension<Identity>,
    Path(node): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = authorize(&identity, &node) {
        return *refused;
    }
    let have = match query.get("generation") {
        None => None,
        Some(text) => match Generation::parse(text) {
            Some(g) => Some(g),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "generation {text:?}: expected EPOCH.NUMBER (hex epoch, decimal number)"
                    ),
                );
            }
        },
    };
    let Some((changed, counters)) = index.subscribe(&node) else {
        return unknown_node(&node);
    };
    let (tx, rx) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    tokio::spawn(feed(
        Arc::clone(&index),
        node.clone(),
        have,
        changed,
        counters,
        tx,
    ));
    let mut response = Response::new(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(STREAM_CONTENT_TYPE),
    );
    response
}

/// Writes a Node's messages into its stream until the client goes or the Node leaves.
async fn feed(
    index: Arc<RuleSetIndex>,
    node: String,
    mut have: Option<Generation>,
    mut changed: watch::Receiver<Generation>,
    mut counters: watch::Receiver<u64>,
    tx: mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) {
    counters.borrow_and_update();
    'stream: loop {
        changed.borrow_and_update();
        let Some(catch_up) = index.catch_up(&node, have) else {
            break;
        };
        let messages = match catch_up {
            CatchUp::Current => Vec::new(),
            CatchUp::Full(generation, rule_set) => {
                have = Some(generation);
                vec![StreamMessage::Full {
                    generation,
                    rule_set: (*rule_set).clone(),
                }]
            }
            CatchUp::Deltas(deltas) => deltas
                .into_iter()
                .map(|(base, generation, delta)| {
                    have = Some(generation);
                    StreamMessage::Delta {
                        base,
                        generation,
                        delta: (*delta).clone(),
                    }
                })
                .collect(),
        };
        for message in messages {
            let Ok(line) = message.to_line() else {
                break 'stream;
            };
            if tx.send(Ok(line)).await.is_err() {
                break 'stream;
            }
        }
        tokio::select! {
            c = changed.changed() => if c.is_err() { break },
            c = counters.changed() => {
                if c.is_err() { break }
                let id = *counters.borrow_and_update();
                let Ok(line) = (StreamMessage::CountersRequest { id }).to_line() else { break };
                if tx.send(Ok(line)).await.is_err() { break }
            }
            _ = tx.closed() => break,
        }
    }
    index.disconnected(&node);
}

async fn report(
    State(index): State<Arc<RuleSetIndex>>,
    Extension(identity): Extension<Identity>,
    Path(node): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(refused) = authorize(&identity, &node) {
        return *refused;
    }
    let report: NodeReport = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("report: {e}")),
    };
    if report.node != node {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "report: node {:?} in the body, {node:?} in the path",
                report.node
            ),
        );
    }
    if !index.record_report(report) {
        return unknown_node(&node);
    }
    StatusCode::NO_CONTENT.into_response()
}
