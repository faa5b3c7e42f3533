//! Privileged (root): a stream cut in the middle of a message never reaches the Node's table.
//! A stand-in controller (HTTP/2 over mutual TLS, like the real one, with its own CA) feeds the
//! agent ([`tierwall_node::run`], programming a network namespace made for the test) a complete
//! rule set A, then cuts the stream twice: once in the middle of the line of a rule set B, once
//! after B's whole JSON object but before its newline (a complete-looking message that a reader
//! applying what it has at the end of the stream would apply). The agent must keep A in its
//! table, report nothing but A, and come back asking to resume from A's generation each time;
//! only a third stream that delivers B's line whole changes the table to B.
//!
//! ```text
//!  stream 1: full A\n ─(A realized)─> half of "full B" ─cut─
//!  stream 2: (asks ?generation=A) "full B" without \n ─cut─
//!  stream 3: (asks ?generation=A) ─(table still A)─> full B\n ─> B realized
//! ```

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tierwall_node::AgentOptions;
use tierwall_node_api::{
    Action, Generation, NodeReport, NodeRuleSet, PeerAddresses, PolicyRef, RuleEntry, StreamMessage,
};
use tokio::sync::{Notify, mpsc};

const NODE: &str = "node-0";
const EPOCH: u64 = 0xfa11_5afe;
const LIMIT: Duration = Duration::from_secs(15);

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A network namespace of the test, deleted when dropped.
struct Netns(String);

impl Netns {
    fn add(name: &str) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(std::process::Stdio::null())
            .status();
        let ok = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        Netns(name.to_string())
    }

    /// `nft list table inet tierwall` in it (empty when there is none).
    fn table(&self) -> String {
        Command::new("ip")
            .args([
                "netns", "exec", &self.0, "nft", "list", "table", "inet", "tierwall",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A rule set that drops traffic from `peer` to 10.20.0.5.
fn rule_set(peer: &str) -> NodeRuleSet {
    let policy: PolicyRef = serde_json::from_value(serde_json::json!({
        "kind": "ClusterNetworkPolicy", "namespace": null, "name": "cut"
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let entry = RuleEntry {
        id: "acnp/cut/ingress/0".into(),
        policy,
        tier: Some("application".into()),
        tier_priority: Some(250),
        rule_name: Some("drop-peer".into()),
        rule_index: 0,
        action: Action::Drop,
        applied: BTreeSet::from([IpAddr::V4(Ipv4Addr::new(10, 20, 0, 5))]),
        node_ports: BTreeSet::new(),
        peers: PeerAddresses {
            any: false,
            pods: BTreeSet::new().into(),
            cidrs: vec![peer.parse().unwrap_or_else(|e| panic!("{peer}: {e}"))],
        },
        services: BTreeSet::new(),
        ports: Vec::new(),
        enable_logging: false,
        log_label: String::new(),
    };
    let mut set = NodeRuleSet {
        node: NODE.into(),
        node_ips: vec![IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2))],
        pods: Vec::new(),
        ingress: Default::default(),
        egress: Default::default(),
    };
    set.ingress.antrea = vec![entry];
    set
}

fn full_line(number: u64, peer: &str) -> Vec<u8> {
    StreamMessage::Full {
        generation: Generation::new(EPOCH, number),
        rule_set: rule_set(peer),
    }
    .to_line()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A CA, the server's identity (127.0.0.1) and the Node's identity written to `dir`.
fn identities(dir: &Path) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "stream-cut CA");
    ca.distinguished_name = name;
    let ca_pem = ca
        .self_signed(&ca_key)
        .unwrap_or_else(|e| panic!("{e}"))
        .pem();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let issue = |cn: &str, sans: Vec<String>, usage| {
        let key = KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let mut params = CertificateParams::new(sans).unwrap_or_else(|e| panic!("{e}"));
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, cn);
        params.distinguished_name = name;
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &issuer)
            .unwrap_or_else(|e| panic!("{e}"));
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = issue(
        "stand-in controller",
        vec!["127.0.0.1".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (node_cert, node_key) = issue(
        &format!("system:node:{NODE}"),
        vec![format!("{NODE}.node.tierwall")],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    for (file, text) in [
        ("tls.crt", &node_cert),
        ("tls.key", &node_key),
        ("ca.crt", &ca_pem),
    ] {
        std::fs::write(dir.join(file), text).unwrap_or_else(|e| panic!("{e}"));
    }
    (ca_pem, server_cert, server_key)
}

fn server_tls(ca: &str, cert: &str, key: &str) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots
            .add(c.unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap_or_else(|e| panic!("{e}"));
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| panic!("{e}"));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// What the stand-in controller saw, and the go-ahead for the third stream.
#[derive(Default)]
struct Seen {
    /// The `generation` query of each stream request, in order.
    asked: Mutex<Vec<Option<String>>>,
    reports: Mutex<Vec<NodeReport>>,
    serve_b: Notify,
}

impl Seen {
    fn realized(&self, number: u64) -> bool {
        self.reports.lock().is_ok_and(|r| {
            r.iter()
                .any(|r| r.realized == Some(Generation::new(EPOCH, number)))
        })
    }
}

type Chunks = mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

fn cut() -> Result<Vec<u8>, std::io::Error> {
    Err(std::io::Error::other("cut"))
}

/// Streams 1, 2 and 3 as the module's doc shows.
async fn script(n: usize, seen: Arc<Seen>, tx: Chunks) {
    let b = full_line(2, "10.99.0.0/16");
    match n {
        0 => {
            let _ = tx.send(Ok(full_line(1, "10.98.0.0/16"))).await;
            let start = Instant::now();
            while !seen.realized(1) && start.elapsed() < LIMIT {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = tx.send(Ok(b[..b.len() / 2].to_vec())).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tx.send(cut()).await;
        }
        1 => {
            let _ = tx.send(Ok(b[..b.len() - 1].to_vec())).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tx.send(cut()).await;
        }
        _ => {
            seen.serve_b.notified().await;
            let _ = tx.send(Ok(b)).await;
            tx.closed().await;
        }
    }
}

async fn rule_set_stream(
    State(seen): State<Arc<Seen>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let n = {
        let mut asked = seen.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.push(query.get("generation").cloned());
        asked.len() - 1
    };
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(script(n, Arc::clone(&seen), tx));
    Response::new(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ))
}

async fn report(State(seen): State<Arc<Seen>>, Json(report): Json<NodeReport>) -> Response {
    if let Ok(mut r) = seen.reports.lock() {
        r.push(report);
    }
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn serve(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service =
                hyper::service::service_fn(move |req| tower::ServiceExt::oneshot(app.clone(), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_message_leaves_the_table_as_it_was() {
    if !is_root() {
        eprintln!("SKIPPED a_stream_cut_mid_message_leaves_the_table_as_it_was: needs root");
        return;
    }
    let netns = Netns::add(&format!("twcut{}", std::process::id() % 100_000));
    let dir: PathBuf = std::env::temp_dir().join(format!("{}-identity", netns.0));
    let (ca, cert, key) = identities(&dir);
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route("/v1/nodes/{node}/rule-set", get(rule_set_stream))
        .route("/v1/nodes/{node}/report", post(report))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let server = tokio::spawn(serve(listener, server_tls(&ca, &cert, &key), app));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(tierwall_node::run(
        AgentOptions {
            node: NODE.into(),
            controller: format!("https://{addr}"),
            identity_dir: dir.clone(),
            netns: Some(netns.0.clone()),
            np_log: None,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            fqdn_cache: Default::default(),
            quiet: false,
        },
        stopped,
    ));

    wait_for("A realized", || seen.realized(1)).await;
    let table_a = netns.table();
    assert!(table_a.contains("10.98.0.0/16"), "{table_a}");
    // Streams 1 and 2 are cut; the agent asks for the third.
    wait_for("the third stream", || {
        seen.asked.lock().map(|a| a.len() >= 3).unwrap_or(false)
    })
    .await;
    let asked = seen.asked.lock().map(|a| a.clone()).unwrap_or_default();
    let held = Generation::new(EPOCH, 1).to_query();
    assert_eq!(asked[0], None, "the first stream asks for everything");
    assert_eq!(asked[1].as_deref(), Some(held.as_str()), "{asked:?}");
    assert_eq!(asked[2].as_deref(), Some(held.as_str()), "{asked:?}");
    assert_eq!(netns.table(), table_a, "a cut message reached the table");
    let reports = seen.reports.lock().map(|r| r.clone()).unwrap_or_default();
    // Reported: nothing yet (on the first connect), then A, never B nor a failure.
    assert!(
        reports.iter().all(
            |r| r.failed.is_none() && r.realized.is_none_or(|g| g == Generation::new(EPOCH, 1))
        ),
        "{reports:?}"
    );

    // The whole line of B changes the table: the agent was listening all along.
    seen.serve_b.notify_one();
    wait_for("B realized", || seen.realized(2)).await;
    let table_b = netns.table();
    assert!(
        table_b.contains("10.99.0.0/16") && !table_b.contains("10.98.0.0/16"),
        "{table_b}"
    );
    let _ = stop.send(true);
    let stopped = tokio::time::timeout(LIMIT, agent).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the agent stops: {stopped:?}"
    );
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
