//! The NSX Policy REST API (axum): routes, authentication middleware, list envelopes, and the
//! dispatch of `/policy/api/v1/infra/...` to the handlers of [`objects`], [`hierarchy`] and
//! [`runtime`].
//!
//! ```text
//!  POST /api/session/create            form j_username, j_password → JSESSIONID + X-XSRF-TOKEN
//!  POST /api/session/destroy           ends the session
//!  GET  /api/v1/reverse-proxy/node/health            {"healthy": true} (no credentials)
//!  GET  /api/v1/node/version                         {"node_version", "product_version"}
//!  PATCH /policy/api/v1/infra          hierarchical API (Child* wrappers, marked_for_delete)
//!  GET|PUT|PATCH|DELETE|POST /policy/api/v1/infra/... objects, lists, statistics, status
//! ```
//!
//! Lists answer `{"results", "result_count", "cursor"?, "sort_by"?, "sort_ascending"}` and take
//! `page_size` (default and maximum 1000) and `cursor` (absent on the last page). Every error is
//! an NSX JSON body ([`crate::error::ApiError`]). `DELETE` answers 200 with an empty body.
//!
//! Modules depend one way: [`hierarchy`] and [`runtime`] → [`objects`] → [`revise`] →
//! [`call`], [`state`], [`view`] → [`paths`] (this file only dispatches to them).

pub mod call;
pub mod hierarchy;
pub mod objects;
pub mod paths;
pub mod revise;
pub mod runtime;
pub mod state;
pub mod view;

pub use call::{Call, Change, MAX_PAGE_SIZE, Reply, list_envelope};
pub use state::{AppState, ClientCertTrust, Manager, PeerCertificate};

use crate::auth::{AuthOutcome, CLUSTER_CONTROL_PLANES, Principal};
use crate::error::{ApiError, code};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The URL prefix of the policy API.
pub const POLICY_PREFIX: &str = "/policy/api/v1";
/// Largest request body (hierarchical PATCH bodies can be big).
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// The router of the whole API.
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/api/session/destroy", post(session_destroy))
        .route("/api/v1/node/version", get(node_version))
        .route("/policy/api/v1/infra", any(infra_root))
        .route("/policy/api/v1/infra/{*rest}", any(infra_path))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ));
    Router::new()
        .route("/api/session/create", post(session_create))
        .route("/api/v1/reverse-proxy/node/health", get(health))
        .merge(authenticated)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs method, path, status and time of every request; never headers, bodies or queries.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(req.uri().path())
}

async fn health() -> axum::Json<Value> {
    axum::Json(json!({"healthy": true}))
}

async fn node_version() -> axum::Json<Value> {
    let v = env!("CARGO_PKG_VERSION");
    axum::Json(json!({"node_version": v, "product_version": v}))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    j_username: String,
    #[serde(default)]
    j_password: String,
}

async fn session_create(
    State(state): State<AppState>,
    form: Result<axum::Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return ApiError::invalid("expected a form body with j_username and j_password")
            .into_response();
    };
    match state.auth.login(&form.j_username, &form.j_password) {
        Some(session) => {
            let secure = if state.https { "; Secure" } else { "" };
            let cookie = format!("JSESSIONID={}; Path=/; HttpOnly{secure}", session.id);
            let mut headers = HeaderMap::new();
            if let (Ok(c), Ok(x)) = (
                HeaderValue::from_str(&cookie),
                HeaderValue::from_str(&session.xsrf),
            ) {
                headers.insert(header::SET_COOKIE, c);
                headers.insert("x-xsrf-token", x);
            }
            (StatusCode::OK, headers).into_response()
        }
        None => ApiError::new(
            StatusCode::FORBIDDEN,
            code::NOT_AUTHENTICATED,
            "The credentials were incorrect or the account specified has been locked.",
        )
        .into_response(),
    }
}

async fn session_destroy(headers: HeaderMap, State(state): State<AppState>) -> StatusCode {
    if let Some(id) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == "JSESSIONID")
        .map(|(_, v)| v.to_string())
    {
        state.auth.logout(&id);
    }
    StatusCode::OK
}

/// Authenticates the caller, checks the role against method and path, and stores the
/// [`Principal`] in the request's extensions.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match principal_of(&state, &req) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let policy_path = req
        .uri()
        .path()
        .strip_prefix(POLICY_PREFIX)
        .unwrap_or(req.uri().path())
        .to_string();
    if !principal.may(req.method(), &policy_path) {
        return ApiError::forbidden(format!(
            "{} {} is not permitted for {}",
            req.method(),
            req.uri().path(),
            principal.name()
        ))
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

fn principal_of(state: &Manager, req: &Request) -> Result<Principal, ApiError> {
    let write = !matches!(req.method().as_str(), "GET" | "HEAD");
    if let Some(PeerCertificate(Some(der))) = req.extensions().get::<PeerCertificate>()
        && let Some(p) = adapter_principal(state, der)?
    {
        return Ok(p);
    }
    match state.auth.authenticate(req.headers(), write) {
        AuthOutcome::Authenticated(p) => Ok(p),
        AuthOutcome::Missing => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            code::NOT_AUTHENTICATED,
            "Authentication required: log in with /api/session/create, HTTP Basic or a client certificate.",
        )),
        AuthOutcome::Rejected(why) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            code::NOT_AUTHENTICATED,
            why,
        )),
    }
}

/// The adapter whose registered cluster the certificate proves, if any.
fn adapter_principal(state: &Manager, der: &[u8]) -> Result<Option<Principal>, ApiError> {
    let Some(cn) = crate::tls::common_name(der) else {
        return Ok(None);
    };
    let Some(ccp) = state.store.get(&format!("{CLUSTER_CONTROL_PLANES}/{cn}"))? else {
        return Ok(None);
    };
    let trusted = match state.client_cert_trust {
        ClientCertTrust::CertificateAuthority => true,
        ClientCertTrust::Pinned => ccp
            .get("certificate")
            .and_then(Value::as_str)
            .and_then(crate::tls::first_certificate_der)
            .is_some_and(|registered| registered == der),
    };
    Ok(trusted.then_some(Principal::Adapter { cluster: cn }))
}

async fn infra_root(
    State(state): State<AppState>,
    method: Method,
    axum::Extension(principal): axum::Extension<Principal>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let call = Call {
        method,
        path: "/infra".into(),
        query,
        body,
        principal,
    };
    respond(hierarchy::handle_infra(&state, &call).await)
}

async fn infra_path(
    State(state): State<AppState>,
    method: Method,
    uri: axum::http::Uri,
    axum::Extension(principal): axum::Extension<Principal>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let raw = uri.path().strip_prefix(POLICY_PREFIX).unwrap_or(uri.path());
    let call = Call {
        method,
        path: percent_decode(raw),
        query,
        body,
        principal,
    };
    let Some(target) = paths::parse(&call.path) else {
        return ApiError::not_found(&call.path).into_response();
    };
    respond(dispatch(&state, &call, target).await)
}

fn respond(r: Result<Reply, ApiError>) -> Response {
    match r {
        Ok(Reply::Json(v)) => (StatusCode::OK, axum::Json(v)).into_response(),
        Ok(Reply::Empty) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn dispatch(state: &Manager, call: &Call, target: paths::Target) -> Result<Reply, ApiError> {
    use paths::Target as T;
    let m = call.method.as_str();
    match (m, target) {
        ("GET", T::Infra) => hierarchy::handle_infra(state, call).await,
        (
            "GET",
            T::Fixed {
                path,
                resource_type,
            },
        ) => Ok(Reply::Json(fixed_object(&path, resource_type))),
        (
            "GET",
            T::FixedList {
                path,
                resource_type,
            },
        ) => {
            let item = fixed_object(&format!("{path}/default"), resource_type);
            Ok(Reply::Json(list_envelope(vec![item], call)?))
        }
        (_, T::Collection { kind, parent }) if m == "GET" => {
            objects::list(state, call, kind, &parent).map(Reply::Json)
        }
        (_, T::Object { kind, parent, id }) => {
            objects::handle(state, call, kind, &parent, &id).await
        }
        ("GET", T::GroupMembers { group, member_kind }) => {
            runtime::group_members(state, call, &group, &member_kind).map(Reply::Json)
        }
        ("GET", T::PolicyStatistics { policy }) => {
            runtime::policy_statistics(state, call, &policy).map(Reply::Json)
        }
        ("GET", T::RuleStatistics { rule }) => {
            runtime::rule_statistics(state, call, &rule).map(Reply::Json)
        }
        ("GET", T::ClusterStatusList) => runtime::cluster_status_list(state, call).map(Reply::Json),
        (_, T::ClusterReport { cluster, report }) => {
            runtime::cluster_report(state, call, &cluster, report).await
        }
        ("GET", T::RealizedStatus) => runtime::realized_status(state, call).map(Reply::Json),
        (_, target) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::INVALID,
            format!("{m} is not supported on {target:?}"),
        )),
    }
}

/// One of the fixed parents (domain, site, enforcement point).
fn fixed_object(path: &str, resource_type: &str) -> Value {
    let (parent, id) = path.rsplit_once('/').unwrap_or(("", path));
    json!({
        "resource_type": resource_type,
        "id": id,
        "display_name": id,
        "path": path,
        "parent_path": parent.rsplit_once('/').map_or(parent, |(p, _)| p),
        "relative_path": id,
        "marked_for_delete": false,
        "_system_owned": true,
        "_revision": 0,
    })
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("/a%20b/c%2Fd"), "/a b/c/d");
        assert_eq!(percent_decode("/a%2"), "/a%2");
        assert_eq!(percent_decode("%41"), "A");
    }
}
