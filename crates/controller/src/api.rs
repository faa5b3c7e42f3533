//! The controller's local HTTP API (loopback, JSON): what an NSX adapter (or a person with curl)
//! reads from and writes into the cluster. Writes land in the state source (files in the
//! watched directory), so the directory stays the one source of truth.
//!
//! ```text
//!  GET    /healthz                      {"ok", "source", "dataplane", "sourceError"}
//!  GET    /objects[?kind=K&labelSelector=k=v,k2!=v2,k3]   kind: List of the objects in force
//!  GET    /objects/KIND[/NAMESPACE]/NAME                    one object in force (404 if none)
//!  PUT    /objects/KIND[/NAMESPACE]/NAME  body: one object, YAML or JSON
//!         admission dry run ──422 rejected (nothing written)── else file written, applied
//!         ──> 201 created | 200 configured/unchanged  {"result", "file", "status"}
//!         409: the object is defined in a file with other objects (edit that file)
//!  DELETE /objects/KIND[/NAMESPACE]/NAME  ──> 200 {"result": "deleted", "file"} | 404 | 409 | 422
//!  GET    /status[?kind=K]   {"objects": [ObjectStatus], "problems": [...], "nodes": {...}}
//!  GET    /status/KIND[/NAMESPACE]/NAME   one ObjectStatus
//!  GET    /inventory         {"namespaces", "nodes", "pods", "services", "egresses",
//!                             "externalIPPools", "ipPools", "ingresses", "gateways"} with labels
//!  GET    /stats             {"items": [per policy: trafficStats, ruleTrafficStats]}
//! ```
//!
//! KIND is a kubectl name (`acnp`, `annp`, `tr`, `cg`, `grp`, `netpol`, `ns`, `po`, `svc`,
//! `no`, `eg`, `eip`, `ipp`, `ing`, `gtw`). `ObjectStatus` (see `crate::cluster_state`): `appliedGeneration`, `phase`
//! (`Realized`/`Realizing`/`Pending`/`Failed`), `error` (admission error with file:line, or the
//! agents' message), and for policies `observedGeneration`, `desiredNodesRealized`,
//! `currentNodesRealized`, `conditions`. Errors answer `{"error": message}`. Output is
//! deterministic (sorted by key).
//!
//! Why tiny_http: requests are few and short, the state is one mutex; a synchronous server with
//! two worker threads needs no async runtime.

use crate::cluster_state::{ClusterState, WriteError};
use serde_json::{Value, json};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use tierwall_model::{Kind, Object, ObjectKey};

/// The daemon's state, shared by the poll loop and the API workers.
pub type SharedState = Arc<Mutex<ClusterState>>;

/// Largest request body accepted.
pub const MAX_BODY: u64 = 8 << 20;

/// Worker threads answering requests.
const WORKERS: usize = 2;

/// Errors of the API server.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("listening on {listen}: {message}")]
    Listen { listen: SocketAddr, message: String },
}

/// The running API server.
pub struct ApiServer {
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl ApiServer {
    /// Binds `listen` (port 0 picks a free port) and starts the workers.
    pub fn start(listen: SocketAddr, state: SharedState) -> Result<ApiServer, ApiError> {
        let server = Arc::new(
            tiny_http::Server::http(listen).map_err(|e| ApiError::Listen {
                listen,
                message: e.to_string(),
            })?,
        );
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|_| {
                let server = server.clone();
                let state = state.clone();
                let stopping = stopping.clone();
                std::thread::spawn(move || {
                    while !stopping.load(Ordering::SeqCst) {
                        if let Ok(request) = server.recv() {
                            serve_one(&state, request);
                        }
                    }
                })
            })
            .collect();
        Ok(ApiServer {
            server,
            stopping,
            workers,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Stops the workers (requests in progress are answered first).
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// A response: status code and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub code: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { code: 200, body }
    }

    pub fn error(code: u16, message: impl Into<String>) -> Reply {
        Reply {
            code,
            body: json!({ "error": message.into() }),
        }
    }
}

fn serve_one(state: &SharedState, mut request: tiny_http::Request) {
    let method = request.method().as_str().to_ascii_uppercase();
    let url = request.url().to_string();
    let mut body = String::new();
    let reply = match request
        .as_reader()
        .take(MAX_BODY + 1)
        .read_to_string(&mut body)
    {
        Err(e) => Reply::error(400, format!("reading the request body: {e}")),
        Ok(n) if n as u64 > MAX_BODY => Reply::error(413, "request body too large"),
        Ok(_) => handle(state, &method, &url, &body),
    };
    let text = serde_json::to_string_pretty(&reply.body).unwrap_or_else(|_| "{}".into()) + "\n";
    let mut response = tiny_http::Response::from_string(text).with_status_code(reply.code);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        response = response.with_header(h);
    }
    let _ = request.respond(response);
}

fn lock(state: &SharedState) -> MutexGuard<'_, ClusterState> {
    // A worker that panicked while holding the lock leaves consistent data behind (every change
    // is applied through the engine's own all-or-nothing operations).
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Answers one request (`method` upper case, `url` with its query).
pub fn handle(state: &SharedState, method: &str, url: &str, body: &str) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let query = parse_query(query);
    let path = path.trim_end_matches('/');
    let (route, rest) = match path.trim_start_matches('/').split_once('/') {
        Some((r, rest)) => (r, Some(rest)),
        None => (path.trim_start_matches('/'), None),
    };
    let kind = match query
        .get("kind")
        .map(|k| Kind::from_cli_name(k).ok_or_else(|| format!("unknown resource type {k:?}")))
    {
        Some(Err(e)) => return Reply::error(400, e),
        Some(Ok(k)) => Some(k),
        None => None,
    };
    match (method, route, rest) {
        ("GET", "healthz", None) => {
            let s = lock(state);
            Reply::ok(json!({
                "ok": true,
                "source": s.describe_source(),
                "dataplane": s.describe_dataplane(),
                "sourceError": s.source_error(),
            }))
        }
        ("GET", "objects", None) => {
            let selector = match query.get("labelSelector").map(|s| parse_selector(s)) {
                Some(Err(e)) => return Reply::error(400, e),
                Some(Ok(s)) => s,
                None => Vec::new(),
            };
            let s = lock(state);
            let items: Vec<&Object> = s
                .engine()
                .store()
                .iter()
                .filter(|o| kind.is_none_or(|k| o.kind() == k))
                .filter(|o| selector_matches(&selector, &o.metadata().labels))
                .collect();
            let mut items: Vec<(ObjectKey, Value)> = items
                .into_iter()
                .map(|o| (o.key(), serde_json::to_value(o).unwrap_or(Value::Null)))
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            Reply::ok(json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            }))
        }
        (_, "objects", Some(rest)) => {
            let key = match ObjectKey::parse(rest) {
                Ok(k) => k,
                Err(e) => return Reply::error(400, e),
            };
            match method {
                "GET" => {
                    let s = lock(state);
                    match s.engine().store().get(&key) {
                        Some(o) => Reply::ok(serde_json::to_value(o).unwrap_or(Value::Null)),
                        None => Reply::error(404, format!("{} not found", key.describe())),
                    }
                }
                "PUT" => put(state, &key, body),
                "DELETE" => write_reply(lock(state).remove(&key), 200),
                _ => Reply::error(405, format!("{method} is not allowed on /objects/...")),
            }
        }
        ("GET", "status", None) => {
            let s = lock(state);
            let nodes: serde_json::Map<String, Value> = s
                .controller()
                .agent_nodes()
                .into_iter()
                .map(|n| {
                    let failure = s.node_failures().get(&n);
                    (
                        n,
                        json!({ "programmed": failure.is_none(), "error": failure }),
                    )
                })
                .collect();
            Reply::ok(json!({
                "objects": s.statuses(kind),
                "problems": s.problems(),
                "nodes": nodes,
                "sourceError": s.source_error(),
            }))
        }
        ("GET", "status", Some(rest)) => {
            let key = match ObjectKey::parse(rest) {
                Ok(k) => k,
                Err(e) => return Reply::error(400, e),
            };
            match lock(state).status_of(&key) {
                Some(st) => Reply::ok(serde_json::to_value(st).unwrap_or(Value::Null)),
                None => Reply::error(404, format!("{} not found", key.describe())),
            }
        }
        ("GET", "inventory", None) => Reply::ok(inventory(&lock(state))),
        ("GET", "stats", None) => match lock(state).policy_stats() {
            Ok(items) => Reply::ok(json!({ "items": items })),
            Err(e) => Reply::error(500, e),
        },
        (_, "healthz" | "objects" | "status" | "inventory" | "stats", _) => {
            Reply::error(405, format!("{method} {path} is not supported"))
        }
        _ => Reply::error(
            404,
            format!("no such resource {path}: try /objects, /status, /inventory, /stats, /healthz"),
        ),
    }
}

fn put(state: &SharedState, key: &ObjectKey, body: &str) -> Reply {
    let objects = match tierwall_model::load_str("<request body>", body) {
        Ok(o) => o,
        Err(e) => return Reply::error(400, e.to_string()),
    };
    let count = objects.len();
    let (Some(loaded), 1) = (objects.into_iter().next(), count) else {
        return Reply::error(
            400,
            format!("the body must hold exactly one object, it holds {count}"),
        );
    };
    let mut object = loaded.object;
    object.normalize_type_meta();
    if &object.key() != key {
        return Reply::error(
            400,
            format!(
                "the body holds {}, the path names {}",
                object.key().describe(),
                key.describe()
            ),
        );
    }
    let result = lock(state).put(object);
    let created = matches!(&result, Ok(o) if o.result == "created");
    write_reply(result, if created { 201 } else { 200 })
}

fn write_reply(
    result: Result<crate::cluster_state::WriteOutcome, WriteError>,
    success: u16,
) -> Reply {
    match result {
        Ok(outcome) => Reply {
            code: success,
            body: serde_json::to_value(outcome).unwrap_or(Value::Null),
        },
        Err(e) => {
            let code = match &e {
                WriteError::Rejected(_) => 422,
                WriteError::Conflict(_) => 409,
                WriteError::NotFound(_) => 404,
                WriteError::Internal(_) => 500,
            };
            Reply::error(code, e.to_string())
        }
    }
}

/// The cluster's inventory: what an NSX adapter reports (with labels).
pub fn inventory(state: &ClusterState) -> Value {
    let store = state.engine().store();
    let of = |kind: Kind| -> Vec<Value> {
        let mut v: Vec<(ObjectKey, Value)> = store
            .iter()
            .filter(|o| o.kind() == kind)
            .map(|o| (o.key(), serde_json::to_value(o).unwrap_or(Value::Null)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(_, v)| v).collect()
    };
    let typed_of = |kind: Kind| -> Vec<&Object> {
        let mut v: Vec<&Object> = store.iter().filter(|o| o.kind() == kind).collect();
        v.sort_by_key(|o| o.key());
        v
    };
    let labels = |v: &Value| v["metadata"]["labels"].clone();
    let or_empty = |v: Value| if v.is_null() { json!({}) } else { v };
    json!({
        "namespaces": of(Kind::Namespace).iter().map(|v| json!({
            "name": v["metadata"]["name"],
            "labels": or_empty(labels(v)),
        })).collect::<Vec<_>>(),
        "nodes": of(Kind::Node).iter().map(|v| json!({
            "name": v["metadata"]["name"],
            "labels": or_empty(labels(v)),
            "addresses": v["status"]["addresses"],
        })).collect::<Vec<_>>(),
        "pods": of(Kind::Pod).iter().map(|v| json!({
            "namespace": v["metadata"]["namespace"],
            "name": v["metadata"]["name"],
            "labels": or_empty(labels(v)),
            "node": v["spec"]["nodeName"],
            "ip": v["status"]["podIP"],
            "hostNetwork": v["spec"]["hostNetwork"].as_bool().unwrap_or(false),
        })).collect::<Vec<_>>(),
        "services": of(Kind::Service).iter().map(|v| json!({
            "namespace": v["metadata"]["namespace"],
            "name": v["metadata"]["name"],
            "labels": or_empty(labels(v)),
            "type": v["spec"]["type"].as_str().unwrap_or("ClusterIP"),
            "clusterIP": v["spec"]["clusterIP"],
            "selector": or_empty(v["spec"]["selector"].clone()),
            "ports": v["spec"]["ports"],
        })).collect::<Vec<_>>(),
        "egresses": typed_of(Kind::Egress).iter().filter_map(|o| match o {
            Object::Egress(e) => Some(json!({
                "name": e.metadata.name,
                "labels": e.metadata.labels,
                "egressIPs": e.ips(),
                "externalIPPool": e.spec.external_ip_pool.as_ref()
                    .or(e.spec.external_ip_pools.first()),
            })),
            _ => None,
        }).collect::<Vec<_>>(),
        "externalIPPools": of(Kind::ExternalIpPool).iter().map(|v| json!({
            "name": v["metadata"]["name"],
            "labels": or_empty(labels(v)),
            "ipRanges": ip_ranges(v),
        })).collect::<Vec<_>>(),
        "ipPools": of(Kind::IpPool).iter().map(|v| json!({
            "name": v["metadata"]["name"],
            "labels": or_empty(labels(v)),
            "ipRanges": ip_ranges(v),
        })).collect::<Vec<_>>(),
        "ingresses": typed_of(Kind::Ingress).iter().filter_map(|o| match o {
            Object::Ingress(i) => Some(json!({
                "namespace": i.metadata.namespace,
                "name": i.metadata.name,
                "labels": i.metadata.labels,
                "ips": i.ips(),
            })),
            _ => None,
        }).collect::<Vec<_>>(),
        "gateways": typed_of(Kind::Gateway).iter().filter_map(|o| match o {
            Object::Gateway(g) => Some(json!({
                "namespace": g.metadata.namespace,
                "name": g.metadata.name,
                "labels": g.metadata.labels,
                "ips": g.ips(),
                "listeners": g.spec.listeners.iter().map(|l| json!({
                    "name": l.name,
                    "protocol": l.protocol,
                    "port": l.port,
                })).collect::<Vec<_>>(),
            })),
            _ => None,
        }).collect::<Vec<_>>(),
    })
}

/// `spec.ipRanges` of an ExternalIPPool / IPPool: each `{"cidr"}` or `{"start", "end"}`.
fn ip_ranges(pool: &Value) -> Vec<Value> {
    pool["spec"]["ipRanges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut range = serde_json::Map::new();
            for field in ["cidr", "start", "end"] {
                if let Some(text) = r[field].as_str() {
                    range.insert(field.to_string(), json!(text));
                }
            }
            Value::Object(range)
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> std::collections::BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// One requirement of an equality-based label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
}

/// `k=v,k2!=v2,k3` (kubectl's equality-based selectors; `==` is `=`).
fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if let Some((k, v)) = p.split_once("!=") {
                Ok(Requirement::NotEquals(k.trim().into(), v.trim().into()))
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Ok(Requirement::Equals(k.trim().into(), v.trim().into()))
            } else if p.contains(' ') {
                Err(format!(
                    "unsupported label selector {text:?}: use k=v, k!=v or k"
                ))
            } else {
                Ok(Requirement::Exists(p.into()))
            }
        })
        .collect()
}

fn selector_matches(
    selector: &[Requirement],
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|r| match r {
        Requirement::Equals(k, v) => labels.get(k) == Some(v),
        Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
        Requirement::Exists(k) => labels.contains_key(k),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_selectors_parse() {
        let q = parse_query("kind=acnp&labelSelector=managed-by%3Dnsx%2Capp");
        assert_eq!(q.get("kind").map(String::as_str), Some("acnp"));
        let sel = parse_selector(&q["labelSelector"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sel,
            vec![
                Requirement::Equals("managed-by".into(), "nsx".into()),
                Requirement::Exists("app".into())
            ]
        );
        let labels = [
            ("managed-by".to_string(), "nsx".to_string()),
            ("app".into(), "a".into()),
        ]
        .into_iter()
        .collect();
        assert!(selector_matches(&sel, &labels));
        assert!(!selector_matches(
            &parse_selector("managed-by!=nsx").unwrap_or_default(),
            &labels
        ));
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
