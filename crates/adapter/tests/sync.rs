//! The adapter against a real manager (HTTPS, the cluster's client certificate) and a real
//! controller (its HTTP API over a watched directory), both in-process on 127.0.0.1 port 0:
//! registration, a policy created through the manager's REST API becomes an ACNP, hand edits and
//! deletes are overwritten within 5 s, deleting the policy removes its objects, an unmanaged ACNP
//! is never touched, realization SUCCESS and ERROR with the controller's message (a refused object
//! retried with exponential backoff, at once when it changes), inventory, group members,
//! heartbeat and per-cluster statistics keyed by NSX rule path.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tierwall_adapter::{Adapter, AdapterOptions, ControllerClient};
use tierwall_controller::cluster_state::ClusterState;
use tierwall_controller::daemon::{Daemon, DaemonOptions, StopHandle};
use tierwall_controller::dataplane::NoDataplane;
use tierwall_controller::manifest_dir::ManifestDirSource;
use tierwall_manager::auth::{Role, User};
use tierwall_manager::server::{RunningServer, ServerConfig, start};
use tierwall_manager::tls::{TlsFiles, self_signed_client_identity};
use tierwall_manager_client::{ClusterControlPlaneClient, ManagerAuth, Registration, TlsTrust};

const BASE: &str = "/policy/api/v1/infra";
const CCP: &str =
    "/policy/api/v1/infra/sites/default/enforcement-points/default/cluster-control-planes";
const MANAGED: &str = "ccp-adapter.antrea.tanzu.vmware.com%2FmanagedBy%3Dccp-adapter";
const ADMIN: (&str, &str) = ("admin", "admin-pw");

const INVENTORY: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n0}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-0, namespace: shop, labels: {app: web}}\nspec: {nodeName: n0}\nstatus: {podIP: 10.10.0.5}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client-0, namespace: shop, labels: {app: client}}\nspec: {nodeName: n0}\nstatus: {podIP: 10.10.0.6}\n";

const UNMANAGED: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: user-policy}\nspec:\n  priority: 5\n  tier: application\n  appliedTo: [{podSelector: {matchLabels: {app: client}}}]\n  ingress: [{action: Drop, name: drop-9000, ports: [{protocol: TCP, port: 9000}]}]\n";

/// A controller daemon on a temporary manifest directory; stopped when dropped.
struct TestController {
    addr: SocketAddr,
    stop: StopHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestController {
    fn start(files: &[(&str, &str)]) -> TestController {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
        }
        let source = ManifestDirSource::new(dir.path(), Duration::from_millis(50));
        let state = ClusterState::start(Box::new(NoDataplane), Box::new(source))
            .unwrap_or_else(|e| panic!("controller: {e}"));
        let daemon = Daemon::start(
            state,
            &DaemonOptions {
                poll_interval: Duration::from_millis(100),
                listen: Some("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"))),
                api_tls: None,
            },
        )
        .unwrap_or_else(|e| panic!("controller API: {e}"));
        let addr = daemon
            .api_addr()
            .unwrap_or_else(|| panic!("no API address"));
        let stop = daemon.stop_handle();
        let thread = std::thread::spawn(move || {
            let mut sink = Vec::new();
            daemon.run(&mut sink);
        });
        TestController {
            addr,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestController {
    fn drop(&mut self) {
        self.stop.stop("test over");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A JSON client with optional Basic credentials.
struct Http {
    http: reqwest::Client,
    base: String,
    basic: Option<(&'static str, &'static str)>,
}

impl Http {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((u, p)) = self.basic {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }
}

/// Polls `f` every 100 ms until it gives `Some`, for at most `limit`; returns the value and
/// how long it took.
async fn within<T>(
    what: &str,
    limit: Duration,
    mut f: impl AsyncFnMut() -> Result<T, String>,
) -> (T, Duration) {
    let start = Instant::now();
    loop {
        match f().await {
            Ok(v) => return (v, start.elapsed()),
            Err(seen) => assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Setup {
    manager: RunningServer,
    admin: Http,
    controller: TestController,
    cluster: Http,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: tokio::sync::oneshot::Sender<()>,
    adapter: tokio::task::JoinHandle<()>,
    _data: tempfile::TempDir,
}

impl Setup {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.adapter.await;
        self.manager.shutdown().await;
        drop(self.controller);
    }

    fn log(&self) -> String {
        self.log
            .lock()
            .map(|l| {
                l.iter()
                    .map(|(_, line)| line.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// When each log line starting with `prefix` was written.
    fn times_of(&self, prefix: &str) -> Vec<Instant> {
        self.log
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|(_, line)| line.starts_with(prefix))
                    .map(|(t, _)| *t)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A manager (HTTPS, self-signed), a controller over `files`, cluster `c1` registered by the
/// adapter's client with its own certificate, and the adapter running. With `tls: false` the
/// manager serves plain HTTP and the adapter uses Basic (`--insecure-http`).
async fn setup(files: &[(&str, &str)], stats_interval: Duration, tls: bool) -> Setup {
    let options = AdapterOptions {
        resync_interval: Duration::from_millis(500),
        stats_interval,
        heartbeat_interval: Duration::from_secs(1),
        long_poll: Duration::from_secs(20),
        ..AdapterOptions::default()
    };
    setup_with(files, options, tls).await
}

/// [`setup`] with these adapter options.
async fn setup_with(files: &[(&str, &str)], options: AdapterOptions, tls: bool) -> Setup {
    let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let manager = start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        data_dir: data.path().to_path_buf(),
        tls: tls.then(TlsFiles::default),
        users: vec![User {
            name: ADMIN.0.into(),
            password: ADMIN.1.into(),
            role: Role::EnterpriseAdmin,
        }],
    })
    .await
    .unwrap_or_else(|e| panic!("manager: {e}"));
    let (admin, client) = if tls {
        let ca = std::fs::read_to_string(data.path().join("tls/server.crt")).unwrap_or_default();
        let base = format!("https://127.0.0.1:{}", manager.local_addr.port());
        let admin = Http {
            http: reqwest::Client::builder()
                .tls_certs_only([
                    reqwest::Certificate::from_pem(ca.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
                ])
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            base: base.clone(),
            basic: Some(ADMIN),
        };
        let (cert, key) = self_signed_client_identity("c1").unwrap_or_else(|e| panic!("{e}"));
        let client = ClusterControlPlaneClient::new(
            &base,
            "c1",
            &ManagerAuth::Certificate {
                cert_pem: cert.clone(),
                key_pem: key,
            },
            &TlsTrust::CaPem(ca),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let register = async || {
            client
                .register(&cert, ADMIN)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(register().await, Registration::Registered);
        assert_eq!(
            register().await,
            Registration::AlreadyRegistered,
            "registering again is a no-op"
        );
        (admin, client)
    } else {
        let base = format!("http://127.0.0.1:{}", manager.local_addr.port());
        let admin = Http {
            http: reqwest::Client::new(),
            base: base.clone(),
            basic: Some(ADMIN),
        };
        admin
            .ok(
                "PUT",
                &format!("{CCP}/c1"),
                Some(json!({"display_name": "c1"})),
            )
            .await;
        let client = ClusterControlPlaneClient::new(
            &base,
            "c1",
            &ManagerAuth::Basic {
                user: ADMIN.0.into(),
                password: ADMIN.1.into(),
            },
            &TlsTrust::System,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (admin, client)
    };
    let controller = TestController::start(files);
    let cluster = Http {
        http: reqwest::Client::new(),
        base: controller.url(),
        basic: None,
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let adapter = Adapter::new(
        client,
        ControllerClient::new(&controller.url()).unwrap_or_else(|e| panic!("{e}")),
        options,
        Arc::new(move |line: &str| {
            if let Ok(mut l) = sink.lock() {
                l.push((Instant::now(), line.to_string()));
            }
        }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let adapter = tokio::spawn(adapter.run(async move {
        let _ = stopped.await;
    }));
    Setup {
        manager,
        admin,
        controller,
        cluster,
        log,
        stop,
        adapter,
        _data: data,
    }
}

async fn create_web_policy(admin: &Http) -> String {
    admin
        .ok(
            "PUT",
            &format!("{BASE}/domains/default/groups/web"),
            Some(json!({
            "group_type": ["ANTREA"],
            "expression": [{"resource_type": "Condition", "member_type": "Pod", "key": "Tag",
                "operator": "EQUALS", "value": "dis:k8s:app|web"}]})),
        )
        .await;
    admin
        .ok(
            "PUT",
            &format!("{BASE}/domains/default/groups/clients"),
            Some(json!({
            "group_type": ["ANTREA"],
            "expression": [{"resource_type": "Condition", "member_type": "Pod", "key": "Tag",
                "operator": "EQUALS", "value": "dis:k8s:app|client"}]})),
        )
        .await;
    let policy = format!("{BASE}/domains/default/security-policies/web");
    admin
        .ok(
            "PUT",
            &policy,
            Some(
                json!({"display_name": "Web zero trust", "category": "Application",
            "scope": ["/infra/domains/default/groups/web"],
            "rules": [{"id": "allow-http", "action": "ALLOW", "direction": "IN",
                "source_groups": ["/infra/domains/default/groups/clients"],
                "destination_groups": ["/infra/domains/default/groups/web"],
                "services": ["/infra/services/HTTP"]}]}),
            ),
        )
        .await;
    admin
        .ok("PUT", &format!("{policy}/container-cluster-span/c1"), Some(json!({
            "container_cluster_path": format!("/infra/sites/default/enforcement-points/default/cluster-control-planes/c1")})))
        .await;
    policy
}

async fn managed_acnps(cluster: &Http) -> Vec<Value> {
    let (_, list) = cluster
        .call(
            "GET",
            &format!("/objects?kind=acnp&labelSelector={MANAGED}"),
            None,
        )
        .await;
    list["items"].as_array().cloned().unwrap_or_default()
}

async fn consolidated(admin: &Http, intent: &str) -> Value {
    admin
        .ok(
            "GET",
            &format!("{BASE}/realized-state/status?intent_path={intent}"),
            None,
        )
        .await
}

const SPAN_QUERY: &str = "container_cluster_path=%2Finfra%2Fsites%2Fdefault%2Fenforcement-points%2Fdefault%2Fcluster-control-planes%2Fc1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_policy_becomes_an_acnp_drift_is_overwritten_and_deletion_removes_it() {
    let s = setup(
        &[
            ("inventory.yaml", INVENTORY),
            ("user-policy.yaml", UNMANAGED),
        ],
        Duration::from_secs(1),
        true,
    )
    .await;
    let policy = create_web_policy(&s.admin).await;
    let policy_intent = "/infra/domains/default/security-policies/web";

    // The ACNP appears in the cluster, in its NSX tier, with the display-name annotation.
    let (acnp, took) = within(
        "the ACNP in the controller",
        Duration::from_secs(10),
        async || match managed_acnps(&s.cluster).await.as_slice() {
            [one] => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    eprintln!("policy created -> ACNP in the cluster: {took:?}");
    assert_eq!(acnp["spec"]["tier"], "nsx-category-application", "{acnp}");
    assert_eq!(acnp["spec"]["ingress"][0]["action"], "Allow", "{acnp}");
    assert_eq!(
        acnp["metadata"]["annotations"]["ccp-adapter.antrea.tanzu.vmware.com/display-name"],
        "Web zero trust"
    );
    let name = acnp["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let original_spec = acnp["spec"].clone();
    let (_, tiers) = s.cluster.call("GET", "/objects?kind=tr", None).await;
    let tier_names: Vec<&str> = tiers["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["metadata"]["name"].as_str())
        .filter(|n| n.starts_with("nsx-category-"))
        .collect();
    assert_eq!(tier_names.len(), 5, "{tiers}");

    // Realization: SUCCESS once the controller reports the ACNP realized.
    within("SUCCESS", Duration::from_secs(10), async || {
        let st = consolidated(&s.admin, policy_intent).await;
        match st["consolidated_status"]["consolidated_status"].as_str() {
            Some("SUCCESS") => Ok(()),
            _ => Err(st.to_string()),
        }
    })
    .await;

    // Inventory with labels as dis:k8s tags; group members; heartbeat.
    let own = format!("{CCP}/c1");
    let inventory = s.admin.ok("GET", &format!("{own}/inventory"), None).await;
    let web = inventory["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["display_name"] == "web-0")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        web["tags"],
        json!([{"scope": "dis:k8s:app", "tag": "web"}]),
        "{inventory}"
    );
    within("group members", Duration::from_secs(10), async || {
        let m = s
            .admin
            .ok(
                "GET",
                &format!("{BASE}/domains/default/groups/web/members/ip-addresses"),
                None,
            )
            .await;
        if m["results"] == json!(["10.10.0.5"]) {
            Ok(())
        } else {
            Err(m.to_string())
        }
    })
    .await;
    within("a HEALTHY heartbeat", Duration::from_secs(10), async || {
        let h = s.admin.ok("GET", &format!("{CCP}/status"), None).await;
        if h["results"][0]["status"] == "HEALTHY" {
            Ok(())
        } else {
            Err(h.to_string())
        }
    })
    .await;

    // Statistics per cluster keyed by the NSX rule path (engine-only cluster: no traffic).
    within(
        "statistics of the rule",
        Duration::from_secs(10),
        async || {
            let st = s.admin.ok("GET", &format!("{own}/statistics"), None).await;
            let rules: Vec<&str> = st["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["rule"].as_str())
                .collect();
            if rules == [format!("{policy_intent}/rules/allow-http").as_str()] {
                Ok(())
            } else {
                Err(st.to_string())
            }
        },
    )
    .await;
    let stats = s
        .admin
        .ok("GET", &format!("{policy}/statistics?{SPAN_QUERY}"), None)
        .await;
    assert_eq!(
        stats["results"][0]["statistics"]["results"][0]["hit_count"], 0,
        "{stats}"
    );

    // A hand edit is overwritten within 5 s.
    let mut edited = acnp.clone();
    edited["spec"]["ingress"][0]["action"] = json!("Drop");
    s.cluster
        .ok("PUT", &format!("/objects/acnp/{name}"), Some(edited))
        .await;
    let (_, took) = within("the edit overwritten", Duration::from_secs(5), async || {
        let (_, now) = s
            .cluster
            .call("GET", &format!("/objects/acnp/{name}"), None)
            .await;
        if now["spec"] == original_spec {
            Ok(())
        } else {
            Err(now["spec"].to_string())
        }
    })
    .await;
    eprintln!("hand edit -> overwritten: {took:?}");

    // A hand delete is undone within 5 s.
    s.cluster
        .ok("DELETE", &format!("/objects/acnp/{name}"), None)
        .await;
    let (_, took) = within("the delete undone", Duration::from_secs(5), async || {
        let (code, now) = s
            .cluster
            .call("GET", &format!("/objects/acnp/{name}"), None)
            .await;
        if code == 200 && now["spec"] == original_spec {
            Ok(())
        } else {
            Err(format!("{code} {now}"))
        }
    })
    .await;
    eprintln!("hand delete -> restored: {took:?}");

    // Deleting the policy in the manager removes the ACNP and its ClusterGroup; the Tiers and
    // the unmanaged policy stay.
    s.admin
        .ok(
            "DELETE",
            &format!("{policy}/container-cluster-span/c1"),
            None,
        )
        .await;
    s.admin.ok("DELETE", &policy, None).await;
    let (_, took) = within("the ACNP removed", Duration::from_secs(10), async || {
        let left = managed_acnps(&s.cluster).await;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
    eprintln!("policy deleted -> ACNP removed: {took:?}");
    within(
        "the ClusterGroup removed",
        Duration::from_secs(5),
        async || {
            let (_, groups) = s
                .cluster
                .call(
                    "GET",
                    &format!("/objects?kind=cg&labelSelector={MANAGED}"),
                    None,
                )
                .await;
            if groups["items"].as_array().is_some_and(Vec::is_empty) {
                Ok(())
            } else {
                Err(groups.to_string())
            }
        },
    )
    .await;
    let (code, user) = s
        .cluster
        .call("GET", "/objects/acnp/user-policy", None)
        .await;
    assert_eq!(code, 200, "the unmanaged ACNP must stay");
    assert_eq!(user["spec"]["ingress"][0]["name"], "drop-9000");
    assert!(
        user["metadata"]["labels"]
            .get("ccp-adapter.antrea.tanzu.vmware.com/managedBy")
            .is_none()
    );
    let log = s.log();
    assert!(
        !log.contains("user-policy"),
        "the adapter touched the unmanaged ACNP:\n{log}"
    );
    s.shutdown().await;
}

const CONFLICTING_TIER: &str =
    "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: team}\nspec: {priority: 4}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_the_cluster_refuses_is_an_error_with_the_controllers_message_until_fixed() {
    // A Tier of the cluster's own holds priority 4, the one nsx-category-application needs.
    let s = setup(
        &[
            ("inventory.yaml", INVENTORY),
            ("team-tier.yaml", CONFLICTING_TIER),
        ],
        Duration::from_secs(60),
        true,
    )
    .await;
    create_web_policy(&s.admin).await;
    let intent = "/infra/domains/default/security-policies/web";
    let (status, _) = within("ERROR", Duration::from_secs(10), async || {
        let st = consolidated(&s.admin, intent).await;
        match st["consolidated_status"]["consolidated_status"].as_str() {
            Some("ERROR") => Ok(st),
            _ => Err(st.to_string()),
        }
    })
    .await;
    let message = status["consolidated_status_per_enforcement_point"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("nsx-category-application"), "{status}");
    // The message is the controller's own: the same text its API gives for that write.
    let log = s.log();
    assert!(
        log.contains(&message),
        "message {message:?} not from the controller:\n{log}"
    );

    // The cluster admin removes the conflicting Tier: the policy is realized.
    s.cluster.ok("DELETE", "/objects/tr/team", None).await;
    within(
        "SUCCESS after the fix",
        Duration::from_secs(10),
        async || {
            let st = consolidated(&s.admin, intent).await;
            match st["consolidated_status"]["consolidated_status"].as_str() {
                Some("SUCCESS") => Ok(()),
                _ => Err(st.to_string()),
            }
        },
    )
    .await;
    assert_eq!(managed_acnps(&s.cluster).await.len(), 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_object_is_retried_with_backoff_and_at_once_when_it_changes() {
    // The cluster's own Tier holds priority 4: nsx-category-application is refused, and so is
    // the ACNP in it. Passes run every 100 ms; refusals wait 300 ms, doubling up to 4.8 s.
    let options = AdapterOptions {
        resync_interval: Duration::from_millis(100),
        stats_interval: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(1),
        long_poll: Duration::from_secs(20),
        refusal_backoff: Duration::from_millis(300),
        refusal_backoff_max: Duration::from_millis(4800),
    };
    let s = setup_with(
        &[
            ("inventory.yaml", INVENTORY),
            ("team-tier.yaml", CONFLICTING_TIER),
        ],
        options,
        true,
    )
    .await;
    let policy = create_web_policy(&s.admin).await;
    let intent = "/infra/domains/default/security-policies/web";
    let tier_refused = "tr/nsx-category-application: refused by the controller";
    let (first, _) = within("the first refusal", Duration::from_secs(10), async || {
        s.times_of(tier_refused)
            .first()
            .copied()
            .ok_or_else(|| s.log())
    })
    .await;
    // Watch the retries for 5.5 s after the first refusal: without backoff that is ~55.
    tokio::time::sleep_until((first + Duration::from_millis(5500)).into()).await;
    let attempts = s.times_of(tier_refused);
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("attempts of the refused Tier, gaps: {gaps:?}");
    assert!(
        (4..=6).contains(&attempts.len()),
        "expected 0, 0.3, 0.9, 2.1, 4.5 s: {gaps:?}\n{}",
        s.log()
    );
    for (i, gap) in gaps.iter().enumerate() {
        let planned = Duration::from_millis(300 << i).min(Duration::from_millis(4800));
        assert!(
            *gap + Duration::from_millis(50) >= planned,
            "attempt {} came {gap:?} after the one before, backoff {planned:?}: {gaps:?}",
            i + 2
        );
    }
    assert!(
        s.log().contains("(next attempt in 0.6s)"),
        "the log names the backoff:\n{}",
        s.log()
    );
    // Meanwhile the policy stays ERROR with the controller's message.
    let st = consolidated(&s.admin, intent).await;
    assert_eq!(
        st["consolidated_status"]["consolidated_status"], "ERROR",
        "{st}"
    );
    let message = st["consolidated_status_per_enforcement_point"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !message.is_empty() && s.log().contains(&message),
        "{st}\n{}",
        s.log()
    );

    // The intent changes the ACNP (now in the Environment tier, which the cluster accepts): it is
    // written at once, not when its backoff (next attempt ~4 s away) would have allowed.
    let changed = Instant::now();
    s.admin
        .ok("PATCH", &policy, Some(json!({"category": "Environment"})))
        .await;
    let (_, took) = within(
        "the changed ACNP accepted",
        Duration::from_secs(3),
        async || match managed_acnps(&s.cluster).await.as_slice() {
            [one] if one["spec"]["tier"] == "nsx-category-environment" => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    eprintln!(
        "changed ACNP written {:?} after the change",
        changed.elapsed()
    );
    assert!(
        took < Duration::from_millis(1500),
        "the change waited for the backoff: {took:?}\n{}",
        s.log()
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_plain_http_the_adapter_authenticates_with_basic() {
    let s = setup(
        &[("inventory.yaml", INVENTORY)],
        Duration::from_secs(60),
        false,
    )
    .await;
    create_web_policy(&s.admin).await;
    within(
        "the ACNP in the controller",
        Duration::from_secs(10),
        async || match managed_acnps(&s.cluster).await.len() {
            1 => Ok(()),
            n => Err(format!("{n} ACNPs\n{}", s.log())),
        },
    )
    .await;
    within("SUCCESS", Duration::from_secs(10), async || {
        let st = consolidated(&s.admin, "/infra/domains/default/security-policies/web").await;
        match st["consolidated_status"]["consolidated_status"].as_str() {
            Some("SUCCESS") => Ok(()),
            _ => Err(st.to_string()),
        }
    })
    .await;
    s.shutdown().await;
}
