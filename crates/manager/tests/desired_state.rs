//! The adapters' desired state against a real server on 127.0.0.1 with a real store: each
//! policy carries its position among ALL policies of its category (`internal_sequence_number`,
//! the ACNP priority's `n`), and the long poll of cluster A wakes only when A's desired state
//! changes: a write to a policy that spans only cluster B, or any cluster's reports, leave A's
//! poll waiting (and its timeout answers "unchanged" without the objects); a write to A's
//! policy, or a new policy ahead of A's in the category, answers at once.

mod common;

use common::{Api, CCP, serve};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DOMAIN: &str = "/policy/api/v1/infra/domains/default";

fn span(cluster: &str) -> Value {
    json!({"container_cluster_path":
        format!("/infra/sites/default/enforcement-points/default/cluster-control-planes/{cluster}")})
}

async fn policy(api: &Api, id: &str, sequence: i64, cluster: Option<&str>) {
    api.ok(
        "PUT",
        &format!("{DOMAIN}/security-policies/{id}"),
        Some(
            json!({"category": "Application", "sequence_number": sequence, "rules": [
            {"id": "allow-web", "action": "ALLOW", "direction": "IN",
             "destination_groups": ["/infra/domains/default/groups/web"],
             "services": ["/infra/services/HTTP"]}]}),
        ),
    )
    .await;
    if let Some(c) = cluster {
        api.ok(
            "PUT",
            &format!("{DOMAIN}/security-policies/{id}/container-cluster-span/{c}"),
            Some(span(c)),
        )
        .await;
    }
}

/// The `internal_sequence_number` of each policy in a desired state, by id.
fn numbers(desired: &Value) -> Vec<(String, i64)> {
    desired["security_policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default().to_string(),
                p["internal_sequence_number"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// A long poll of `cluster`'s desired state, answered in the background: (how long it took,
/// the answer).
fn long_poll(
    api: &Api,
    cluster: &str,
    query: String,
) -> tokio::task::JoinHandle<(Duration, Value)> {
    let api = api.clone();
    let path = format!("{CCP}/{cluster}/desired-state?{query}");
    tokio::spawn(async move {
        let started = Instant::now();
        let answer = api.ok("GET", &path, None).await;
        (started.elapsed(), answer)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_long_poll_wakes_only_for_what_spans_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = serve(dir.path(), None).await;
    let api = Api::new(
        format!("http://{}", server.local_addr),
        Some(("admin", "admin-pw")),
    );
    for c in ["a", "b"] {
        api.ok(
            "PUT",
            &format!("{CCP}/{c}"),
            Some(json!({"display_name": c})),
        )
        .await;
    }
    api.ok(
        "PUT",
        &format!("{DOMAIN}/groups/web"),
        Some(json!({"group_type": ["ANTREA"], "expression": [{"resource_type": "Condition",
            "member_type": "Pod", "key": "Tag", "operator": "EQUALS", "value": "dis:k8s:app|web"}]})),
    )
    .await;
    // Application: a VM-only policy (5), B's (10), A's (20).
    policy(&api, "vms", 5, None).await;
    policy(&api, "pb", 10, Some("b")).await;
    policy(&api, "pa", 20, Some("a")).await;

    // k counts every policy of the category: A's is third, B's second, in both clusters' views.
    let a = api.ok("GET", &format!("{CCP}/a/desired-state"), None).await;
    let b = api.ok("GET", &format!("{CCP}/b/desired-state"), None).await;
    assert_eq!(numbers(&a), [("pa".to_string(), 60_000_003)]);
    assert_eq!(numbers(&b), [("pb".to_string(), 60_000_002)]);
    let digest = a["digest"].as_str().unwrap_or_default().to_string();
    assert_eq!(digest.len(), 16, "{a}");
    let revision = a["revision"].as_u64().unwrap_or_default();

    // A's polls (by digest, and by revision) sit through writes that change nothing for A.
    let by_digest = long_poll(
        &api,
        "a",
        format!("known_digest={digest}&timeout_seconds=3"),
    );
    let by_revision = long_poll(
        &api,
        "a",
        format!("wait_after_revision={revision}&timeout_seconds=3"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.ok(
        "PUT",
        &format!("{DOMAIN}/security-policies/pb/rules/drop-rest"),
        Some(json!({"action": "DROP", "sequence_number": 99})),
    )
    .await;
    for c in ["a", "b"] {
        api.ok(
            "PUT",
            &format!("{CCP}/{c}/statistics"),
            Some(json!({"results": [{"rule": "/infra/domains/default/security-policies/pa/rules/allow-web",
                "hit_count": 1, "packet_count": 1, "byte_count": 60, "session_count": 1}]})),
        )
        .await;
        api.ok(
            "PUT",
            &format!("{CCP}/{c}/status"),
            Some(json!({"status": "HEALTHY"})),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !by_digest.is_finished() && !by_revision.is_finished(),
        "A's poll returned for a write that spans only B, or for reports"
    );
    let (took, answer) = by_digest.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(took >= Duration::from_millis(2500), "{took:?} {answer}");
    assert_eq!(answer["unchanged"], true, "{answer}");
    assert_eq!(answer["digest"], digest.as_str());
    assert!(
        answer.get("security_policies").is_none(),
        "nothing to download again: {answer}"
    );
    let (took, answer) = by_revision.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(took >= Duration::from_millis(2500), "{took:?}");
    assert_eq!(
        answer["digest"],
        digest.as_str(),
        "the same state: {answer}"
    );

    // A write to A's policy answers A's poll at once, with the change.
    let waiting = long_poll(
        &api,
        "a",
        format!("known_digest={digest}&timeout_seconds=20"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.ok(
        "PUT",
        &format!("{DOMAIN}/security-policies/pa/rules/drop-rest"),
        Some(json!({"action": "DROP", "sequence_number": 99})),
    )
    .await;
    let (took, answer) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_ne!(answer["digest"], digest.as_str());
    let rules: Vec<&str> = answer["security_policies"][0]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(rules, ["allow-web", "drop-rest"], "{answer}");

    // A new policy of B's ahead of A's in the category moves A's ACNP priority: A is woken.
    let digest = answer["digest"].as_str().unwrap_or_default().to_string();
    let waiting = long_poll(
        &api,
        "a",
        format!("known_digest={digest}&timeout_seconds=20"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    policy(&api, "pb-first", 1, Some("b")).await;
    let (took, answer) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(numbers(&answer), [("pa".to_string(), 60_000_004)]);

    // A digest from nowhere (an adapter that restarted with an old one): answered at once.
    let stale = long_poll(&api, "a", "known_digest=0000&timeout_seconds=20".into());
    let (took, answer) = stale.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(answer["security_policies"].is_array(), "{answer}");
    server.shutdown().await;
}
