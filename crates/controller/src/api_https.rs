//! The controller's HTTP API beyond loopback: the same requests and answers as [`crate::api`],
//! over HTTPS with a client certificate required (issued by the controller's CA, verified at the
//! TLS layer). API clients are `CN=tierwall:client:NAME` (a person, an adapter); a Node's identity
//! (`CN=system:node:NAME`) is for the Node stream only and gets 403 here.
//!
//! ```text
//!  TLS (client cert from the CA) ──CN──> tierwall:client:NAME ──> api::handle (blocking pool)
//!                                    └─> system:node:N, other ──> 403 {"error": ...}
//! ```

use crate::api::{ApiError, MAX_BODY, Reply, SharedState, handle};
use crate::mtls_serve::MtlsServer;
use crate::pki::client_of_common_name;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// Who the connection's certificate says the client is.
#[derive(Debug, Clone)]
struct Peer(Option<String>);

/// The running HTTPS API.
#[derive(Debug)]
pub struct HttpsApiServer(MtlsServer);

impl HttpsApiServer {
    /// Binds `listen` and serves the API with `tls` (client certificates required) on a runtime
    /// thread of its own.
    pub fn start(
        listen: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        state: SharedState,
    ) -> Result<HttpsApiServer, ApiError> {
        let app = Router::new()
            .fallback(serve)
            .layer(DefaultBodyLimit::max(MAX_BODY as usize + 1))
            .with_state(state);
        MtlsServer::start("api-https", 1, listen, tls, app, Peer)
            .map(HttpsApiServer)
            .map_err(|e| ApiError::Listen {
                listen,
                message: e.to_string(),
            })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    /// Stops serving (connections end).
    pub fn stop(self) {
        self.0.stop();
    }
}

async fn serve(
    State(state): State<SharedState>,
    Extension(peer): Extension<Peer>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let reply = match peer.0.as_deref() {
        Some(cn) if client_of_common_name(cn).is_some() => {
            if body.len() as u64 > MAX_BODY {
                Reply::error(413, "request body too large")
            } else {
                match String::from_utf8(body.to_vec()) {
                    Err(_) => Reply::error(400, "the request body is not UTF-8"),
                    Ok(text) => {
                        let url = uri
                            .path_and_query()
                            .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
                        let method = method.as_str().to_ascii_uppercase();
                        tokio::task::spawn_blocking(move || handle(&state, &method, &url, &text))
                            .await
                            .unwrap_or_else(|e| Reply::error(500, format!("request task: {e}")))
                    }
                }
            }
        }
        Some(cn) => Reply::error(
            403,
            format!(
                "certificate {cn:?} may not use the API: it needs an API client identity \
                 (CN=tierwall:client:NAME); Node identities are for the Node stream"
            ),
        ),
        None => Reply::error(403, "no client certificate name"),
    };
    json_response(&reply)
}

fn json_response(reply: &Reply) -> Response {
    let text = serde_json::to_string_pretty(&reply.body).unwrap_or_else(|_| "{}".into()) + "\n";
    let status = StatusCode::from_u16(reply.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
