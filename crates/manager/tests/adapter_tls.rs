//! HTTPS with the self-signed server certificate, cluster registration with a certificate, and the
//! adapter principal identity (client certificate, CN = cluster id): desired state, reports,
//! statistics, realization status, group members, and the limits of its role.

mod common;

use common::{BASE, CCP, serve};
use serde_json::{Value, json};
use tierwall_manager::tls::{TlsFiles, self_signed_client_identity};

struct Client {
    http: reqwest::Client,
    base: String,
    basic: Option<(&'static str, &'static str)>,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((u, p)) = self.basic {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e:?}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn https_client(ca_pem: &[u8], identity: Option<(&str, &str)>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem).unwrap_or_else(|e| panic!("{e}"));
    let mut b = reqwest::Client::builder().tls_certs_only([ca]);
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        b = b.identity(
            reqwest::Identity::from_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
        );
    }
    b.build().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn adapters_authenticate_with_their_registered_certificate_and_touch_only_their_cluster() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = serve(dir.path(), Some(TlsFiles::default())).await;
    let ca = std::fs::read(dir.path().join("tls/server.crt")).unwrap_or_default();
    let base = format!("https://127.0.0.1:{}", server.local_addr.port());
    let admin = Client {
        http: https_client(&ca, None),
        base: base.clone(),
        basic: Some(("admin", "admin-pw")),
    };
    let (cert, key) = self_signed_client_identity("prod-1").unwrap_or_else(|e| panic!("{e}"));
    let (other_cert, other_key) =
        self_signed_client_identity("prod-2").unwrap_or_else(|e| panic!("{e}"));
    // Registration: the CN must equal the id.
    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &format!("{CCP}/wrong"),
            Some(json!({"certificate": cert})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = admin
        .call(
            reqwest::Method::PUT,
            &format!("{CCP}/prod-1"),
            Some(json!({"certificate": cert, "node_type": "ANTREA_NODE"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["node_id"].is_string());
    // Intent: a group, a policy spanning prod-1 with a rule.
    let put = |path: String, body: Value| {
        let admin = &admin;
        async move {
            let (s, b) = admin.call(reqwest::Method::PUT, &path, Some(body)).await;
            assert_eq!(s, 200, "{path}: {b}");
            b
        }
    };
    put(format!("{BASE}/domains/default/groups/web"), json!({"group_type": ["ANTREA"], "expression": [
        {"resource_type": "Condition", "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": "dis:k8s:app|web"}]})).await;
    let p = format!("{BASE}/domains/default/security-policies/web");
    put(p.clone(), json!({"category": "Application", "rules": [{"id": "allow-https", "action": "ALLOW",
        "destination_groups": ["/infra/domains/default/groups/web"], "services": ["/infra/services/HTTPS"]}]})).await;
    put(
        format!("{p}/container-cluster-span/prod-1"),
        json!({"container_cluster_path":
        "/infra/sites/default/enforcement-points/default/cluster-control-planes/prod-1"}),
    )
    .await;

    let adapter = Client {
        http: https_client(&ca, Some((&cert, &key))),
        base: base.clone(),
        basic: None,
    };
    let own = format!("{CCP}/prod-1");
    let (status, desired) = adapter
        .call(reqwest::Method::GET, &format!("{own}/desired-state"), None)
        .await;
    assert_eq!(status, 200, "{desired}");
    assert_eq!(desired["security_policies"][0]["id"], "web");
    assert_eq!(
        desired["security_policies"][0]["rules"][0]["id"],
        "allow-https"
    );
    assert_eq!(desired["groups"][0]["id"], "web");
    assert_eq!(desired["services"][0]["id"], "HTTPS");
    let revision = desired["revision"].as_u64().unwrap_or_default();
    // Long poll: answers once the revision moves past the one given.
    let waiting = {
        let http = adapter.http.clone();
        let url =
            format!("{base}{own}/desired-state?wait_after_revision={revision}&timeout_seconds=20");
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "the long poll must wait for a change"
    );
    put(format!("{p}/rules/second"), json!({"action": "DROP"})).await;
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await;
    assert!(matches!(answered, Ok(Ok(Ok(200)))), "{answered:?}");

    // The adapter may read and report only its own cluster.
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("{BASE}/domains/default/groups"),
        ),
        (reqwest::Method::PUT, format!("{CCP}/prod-2/statistics")),
        (reqwest::Method::PUT, own.clone()),
    ] {
        let (status, body) = adapter
            .call(method.clone(), &path, Some(json!({"results": []})))
            .await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    // A certificate registered for no cluster proves nothing.
    let stranger = Client {
        http: https_client(&ca, Some((&other_cert, &other_key))),
        base: base.clone(),
        basic: None,
    };
    let (status, _) = stranger
        .call(
            reqwest::Method::GET,
            &format!("{CCP}/prod-2/desired-state"),
            None,
        )
        .await;
    assert_eq!(status, 401);

    // Reports: statistics, realization, group members, status.
    let rule_path = "/infra/domains/default/security-policies/web/rules/allow-https";
    let (status, body) = adapter
        .call(reqwest::Method::PUT, &format!("{own}/statistics"), Some(json!({"results": [
            {"rule": rule_path, "hit_count": 7, "packet_count": 70, "byte_count": 7000, "session_count": 7}]})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, desired) = adapter
        .call(reqwest::Method::GET, &format!("{own}/desired-state"), None)
        .await;
    let version = desired["security_policies"][0]["intent_version"].clone();
    let status_url = format!(
        "{BASE}/realized-state/status?intent_path=/infra/domains/default/security-policies/web"
    );
    let (_, before) = admin.call(reqwest::Method::GET, &status_url, None).await;
    assert_eq!(
        before["consolidated_status"]["consolidated_status"], "IN_PROGRESS",
        "{before}"
    );
    adapter
        .call(reqwest::Method::PUT, &format!("{own}/realization"), Some(json!({"results": [
            {"intent_path": "/infra/domains/default/security-policies/web", "intent_version": version, "state": "REALIZED"}]})))
        .await;
    let (_, after) = admin.call(reqwest::Method::GET, &status_url, None).await;
    assert_eq!(
        after["consolidated_status"]["consolidated_status"], "SUCCESS",
        "{after}"
    );
    assert_eq!(after["publish_status"], "REALIZED");
    adapter
        .call(reqwest::Method::PUT, &format!("{own}/group-members"), Some(json!({"results": [
            {"group_path": "/infra/domains/default/groups/web", "pods": [{"namespace": "shop", "name": "web-0", "ip_addresses": ["10.10.0.5"]}]}]})))
        .await;
    adapter
        .call(
            reqwest::Method::PUT,
            &format!("{own}/status"),
            Some(json!({"status": "HEALTHY", "report_interval": 60})),
        )
        .await;

    let stats_url = format!(
        "{p}/statistics?container_cluster_path=%2Finfra%2Fsites%2Fdefault%2Fenforcement-points%2Fdefault%2Fcluster-control-planes%2Fprod-1"
    );
    let (status, stats) = admin.call(reqwest::Method::GET, &stats_url, None).await;
    assert_eq!(status, 200, "{stats}");
    let entry = &stats["results"][0];
    assert_eq!(
        entry["container_cluster_path"],
        "/infra/sites/default/enforcement-points/default/cluster-control-planes/prod-1"
    );
    let rules = entry["statistics"]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let counted = rules
        .iter()
        .find(|r| r["rule"] == rule_path)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (counted["hit_count"].clone(), counted["byte_count"].clone()),
        (json!(7), json!(7000)),
        "{stats}"
    );
    let (_, rule_stats) = admin
        .call(
            reqwest::Method::GET,
            &format!("{BASE}/domains/default/security-policies/web/rules/allow-https/statistics"),
            None,
        )
        .await;
    assert_eq!(
        rule_stats["results"][0]["statistics"]["session_count"], 7,
        "{rule_stats}"
    );
    let (_, members) = admin
        .call(
            reqwest::Method::GET,
            &format!("{BASE}/domains/default/groups/web/members/ip-addresses"),
            None,
        )
        .await;
    assert_eq!(members["results"], json!(["10.10.0.5"]));
    let (_, health) = admin
        .call(reqwest::Method::GET, &format!("{CCP}/status"), None)
        .await;
    assert_eq!(health["results"][0]["status"], "HEALTHY", "{health}");
    // An auditor over HTTPS reads but cannot register clusters.
    let auditor = Client {
        http: https_client(&ca, None),
        base,
        basic: Some(("audit", "audit-pw")),
    };
    let (status, _) = auditor
        .call(
            reqwest::Method::PUT,
            &format!("{CCP}/prod-3"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);
    server.shutdown().await;
}
