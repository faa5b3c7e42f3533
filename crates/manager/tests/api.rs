//! The REST API against a real server on 127.0.0.1 with a real store: CRUD, paging, `_revision`
//! and 412, error bodies, roles, sessions, locked policies, the hierarchical PATCH, Antrea
//! validation, services.

mod common;

use common::{Api, BASE, CCP, serve};
use serde_json::{Value, json};

fn group(id: &str) -> Value {
    json!({
        "display_name": id,
        "group_type": ["ANTREA"],
        "expression": [{"resource_type": "Condition", "member_type": "Pod", "key": "Tag",
                        "operator": "EQUALS", "value": format!("dis:k8s:app|{id}")}],
        "x_unknown_field": {"kept": true}
    })
}

async fn setup() -> (
    tempfile::TempDir,
    tierwall_manager::server::RunningServer,
    Api,
) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server = serve(dir.path(), None).await;
    let api = Api::new(
        format!("http://{}", server.local_addr),
        Some(("admin", "admin-pw")),
    );
    (dir, server, api)
}

#[tokio::test]
async fn groups_crud_paging_revisions_and_error_bodies() {
    let (_dir, server, api) = setup().await;
    let g = format!("{BASE}/domains/default/groups");
    for i in 0..5 {
        let v = api
            .ok("PUT", &format!("{g}/g{i}"), Some(group(&format!("g{i}"))))
            .await;
        assert_eq!(v["_revision"], 0);
        assert_eq!(v["path"], format!("/infra/domains/default/groups/g{i}"));
        assert_eq!(v["parent_path"], "/infra/domains/default");
        assert_eq!(v["_create_user"], "admin");
        assert_eq!(
            v["x_unknown_field"]["kept"], true,
            "unknown fields round-trip"
        );
    }
    // Paging: 2 + 2 + 1, the cursor absent on the last page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{g}?page_size=2&cursor={c}"),
            None => format!("{g}?page_size=2"),
        };
        let page = api.ok("GET", &q, None).await;
        assert_eq!(page["result_count"], 5);
        for r in page["results"].as_array().into_iter().flatten() {
            seen.push(r["id"].as_str().unwrap_or_default().to_string());
        }
        match page.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["g0", "g1", "g2", "g3", "g4"]);
    // PUT needs the current _revision: missing or stale answers 412 with an NSX body.
    let (status, body) = api.call("PUT", &format!("{g}/g0"), Some(group("g0"))).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["httpStatus"], "PRECONDITION_FAILED");
    assert!(body["error_code"].is_i64() && body["module_name"].is_string());
    let mut update = group("g0");
    update["_revision"] = json!(0);
    update["description"] = json!("updated");
    let v = api
        .ok("PUT", &format!("{g}/g0"), Some(update.clone()))
        .await;
    assert_eq!(
        (v["_revision"].clone(), v["description"].clone()),
        (json!(1), json!("updated"))
    );
    let (status, _) = api.call("PUT", &format!("{g}/g0"), Some(update)).await;
    assert_eq!(status, 412);
    // PATCH needs no revision and ignores read-only fields sent back from a GET.
    let mut got = api.ok("GET", &format!("{g}/g0"), None).await;
    got["_revision"] = json!(99);
    got["path"] = json!("/elsewhere");
    got["description"] = json!("patched");
    let (status, body) = api.call("PATCH", &format!("{g}/g0"), Some(got)).await;
    assert_eq!((status, body), (200, Value::Null));
    let v = api.ok("GET", &format!("{g}/g0"), None).await;
    assert_eq!(
        (v["description"].clone(), v["_revision"].clone()),
        (json!("patched"), json!(2))
    );
    assert_eq!(v["path"], "/infra/domains/default/groups/g0");
    // Bad input answers 400 JSON; DELETE answers 200 and GET then 404 JSON.
    let (status, body) = api
        .call("PUT", &format!("{g}/g9"), Some(json!({"id": "other"})))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api.call("DELETE", &format!("{g}/g4"), None).await;
    assert_eq!(status, 200);
    let (status, body) = api.call("GET", &format!("{g}/g4"), None).await;
    assert_eq!(status, 404);
    assert_eq!(body["httpStatus"], "NOT_FOUND");
    let (status, body) = api
        .call("GET", "/policy/api/v1/infra/nothing/here", None)
        .await;
    assert_eq!(
        (status, body["httpStatus"].clone()),
        (404, json!("NOT_FOUND"))
    );
    server.shutdown().await;
}

fn policy_with_rules() -> Value {
    json!({
        "resource_type": "SecurityPolicy",
        "display_name": "web",
        "category": "Application",
        "sequence_number": 10,
        "rules": [
            {"id": "r2", "sequence_number": 2, "action": "DROP",
             "source_groups": ["ANY"], "destination_groups": ["/infra/domains/default/groups/web"],
             "services": ["ANY"]},
            {"id": "r1", "sequence_number": 1, "action": "ALLOW",
             "source_groups": ["10.0.0.0/24"], "destination_groups": ["/infra/domains/default/groups/web"],
             "services": ["/infra/services/HTTP"]}
        ]
    })
}

#[tokio::test]
async fn policies_carry_their_rules_with_rule_ids_and_revisions() {
    let (_dir, server, api) = setup().await;
    api.ok(
        "PUT",
        &format!("{BASE}/domains/default/groups/web"),
        Some(group("web")),
    )
    .await;
    let p = format!("{BASE}/domains/default/security-policies/web");
    let v = api.ok("PUT", &p, Some(policy_with_rules())).await;
    assert_eq!(v["rule_count"], 2);
    let ids: Vec<&str> = v["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["r1", "r2"], "rules ordered by sequence_number");
    let rule_ids: Vec<i64> = v["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["rule_id"].as_i64())
        .collect();
    assert!(rule_ids.iter().all(|id| *id >= 1000), "{rule_ids:?}");
    assert_eq!(v["tcp_strict"], true);
    assert_eq!(v["rules"][0]["direction"], "IN_OUT");
    // A PUT of the policy must carry the revision of the policy and of every existing rule.
    let mut again = policy_with_rules();
    again["_revision"] = json!(0);
    let (status, _) = api.call("PUT", &p, Some(again.clone())).await;
    assert_eq!(status, 412);
    again["rules"][0]["_revision"] = json!(0);
    again["rules"][1]["_revision"] = json!(0);
    again["rules"].as_array_mut().map(|r| r.pop());
    let v = api.ok("PUT", &p, Some(again)).await;
    assert_eq!(v["rule_count"], 1, "a PUT with rules replaces them: {v}");
    // Rules one at a time.
    let r = format!("{p}/rules/r9");
    let v = api
        .ok(
            "PUT",
            &r,
            Some(json!({"action": "REJECT", "sequence_number": 5})),
        )
        .await;
    let r9_id = v["rule_id"].clone();
    api.ok("PATCH", &r, Some(json!({"logged": true}))).await;
    let v = api.ok("GET", &r, None).await;
    assert_eq!(
        (
            v["logged"].clone(),
            v["rule_id"].clone(),
            v["_revision"].clone()
        ),
        (json!(true), r9_id, json!(1))
    );
    let list = api.ok("GET", &format!("{p}/rules"), None).await;
    assert_eq!(list["result_count"], 2);
    // The group is in use: deleting it needs force.
    let (status, body) = api
        .call(
            "DELETE",
            &format!("{BASE}/domains/default/groups/web"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    api.ok("DELETE", &p, None).await;
    let (status, _) = api.call("GET", &r, None).await;
    assert_eq!(status, 404, "deleting a policy deletes its rules");
    api.ok(
        "DELETE",
        &format!("{BASE}/domains/default/groups/web"),
        None,
    )
    .await;
    // revise: insert_top renumbers.
    for id in ["a", "b", "c"] {
        api.ok(
            "PUT",
            &format!("{BASE}/domains/default/security-policies/{id}"),
            Some(json!({"category": "Application"})),
        )
        .await;
    }
    let v = api
        .ok(
            "POST",
            &format!(
                "{BASE}/domains/default/security-policies/c?action=revise&operation=insert_top"
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(v["sequence_number"], 10);
    let a = api
        .ok(
            "GET",
            &format!("{BASE}/domains/default/security-policies/a"),
            None,
        )
        .await;
    assert_eq!(a["sequence_number"], 20);
    server.shutdown().await;
}

#[tokio::test]
async fn predefined_services_exist_and_are_system_owned() {
    let (_dir, server, api) = setup().await;
    let list = api.ok("GET", &format!("{BASE}/services"), None).await;
    let ids: Vec<&str> = list["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for id in ["HTTP", "HTTPS", "DNS", "DNS-UDP", "SSH"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let https = api.ok("GET", &format!("{BASE}/services/HTTPS"), None).await;
    assert_eq!(https["service_entries"][0]["destination_ports"][0], "443");
    let (status, body) = api
        .call("DELETE", &format!("{BASE}/services/HTTPS"), None)
        .await;
    assert_eq!(status, 400, "{body}");
    let v = api
        .ok("PUT", &format!("{BASE}/services/web-8080"), Some(json!({"service_entries": [
            {"resource_type": "L4PortSetServiceEntry", "id": "tcp", "l4_protocol": "TCP", "destination_ports": ["8080"]}]})))
        .await;
    assert_eq!(v["_system_owned"], false);
    api.ok("DELETE", &format!("{BASE}/services/web-8080"), None)
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn roles_sessions_and_credentials() {
    let (_dir, server, admin) = setup().await;
    let g = format!("{BASE}/domains/default/groups/g");
    let nobody = Api::new(admin.base.clone(), None);
    let (status, body) = nobody.call("GET", &g, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error_message"].is_string());
    let (status, _) = admin.as_user("admin", "wrong").call("GET", &g, None).await;
    assert_eq!(status, 403);
    let (status, _) = nobody
        .call("GET", "/api/v1/reverse-proxy/node/health", None)
        .await;
    assert_eq!(status, 200);
    admin.ok("PUT", &g, Some(group("g"))).await;
    let auditor = admin.as_user("audit", "audit-pw");
    auditor.ok("GET", &g, None).await;
    let (status, body) = auditor
        .call("PATCH", &g, Some(json!({"description": "x"})))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = auditor.call("DELETE", &g, None).await;
    assert_eq!(status, 403);
    // Session login: JSESSIONID cookie (with the `;` after the value) and X-XSRF-TOKEN.
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/session/create", admin.base))
        .form(&[("j_username", "admin"), ("j_password", "admin-pw")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let xsrf = resp
        .headers()
        .get("x-xsrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        cookie.starts_with("JSESSIONID=") && cookie.contains(';'),
        "{cookie}"
    );
    assert!(!xsrf.is_empty());
    assert!(resp.headers().contains_key("date"));
    let jar = cookie.split(';').next().unwrap_or_default().to_string();
    let get = http
        .get(format!("{}{g}", admin.base))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get.status().as_u16(), 200);
    let patch = |token: Option<&str>| {
        let mut r = http
            .patch(format!("{}{g}", admin.base))
            .header("cookie", &jar)
            .json(&json!({"description": "s"}));
        if let Some(t) = token {
            r = r.header("x-xsrf-token", t);
        }
        r.send()
    };
    assert_eq!(
        patch(None).await.map(|r| r.status().as_u16()).ok(),
        Some(403)
    );
    assert_eq!(
        patch(Some(&xsrf)).await.map(|r| r.status().as_u16()).ok(),
        Some(200)
    );
    let bad = http
        .post(format!("{}/api/session/create", admin.base))
        .form(&[("j_username", "admin"), ("j_password", "nope")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status().as_u16(), 403);
    server.shutdown().await;
}

#[tokio::test]
async fn a_locked_policy_is_changed_only_by_the_user_who_locked_it() {
    let (_dir, server, admin) = setup().await;
    let alice = admin.as_user("alice", "alice-pw");
    let bob = admin.as_user("bob", "bob-pw");
    let p = format!("{BASE}/domains/default/security-policies/locked");
    let v = alice
        .ok(
            "PUT",
            &p,
            Some(json!({"category": "Application", "locked": true, "comments": "mine"})),
        )
        .await;
    assert_eq!(v["lock_modified_by"], "alice");
    let (status, body) = bob
        .call("PATCH", &p, Some(json!({"description": "bob was here"})))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = bob
        .call(
            "PUT",
            &format!("{p}/rules/r"),
            Some(json!({"action": "DROP"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = bob.call("DELETE", &p, None).await;
    assert_eq!(status, 403);
    let (status, _) = bob
        .call("PATCH", BASE, Some(json!({"resource_type": "Infra", "children": [{"resource_type": "ChildResourceReference",
            "id": "default", "target_type": "Domain", "children": [{"resource_type": "ChildSecurityPolicy",
            "SecurityPolicy": {"id": "locked", "resource_type": "SecurityPolicy", "description": "via H-API"}}]}]})))
        .await;
    assert_eq!(status, 403, "the hierarchical API honours locks too");
    alice
        .ok(
            "PUT",
            &format!("{p}/rules/r"),
            Some(json!({"action": "DROP"})),
        )
        .await;
    alice.ok("PATCH", &p, Some(json!({"locked": false}))).await;
    bob.ok("PATCH", &p, Some(json!({"description": "now bob may"})))
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn hierarchical_patch_creates_updates_and_deletes_in_one_batch() {
    let (_dir, server, api) = setup().await;
    let body = |rules: Value| {
        json!({"resource_type": "Infra", "children": [
            {"resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain", "children": [
                {"resource_type": "ChildGroup", "marked_for_delete": false, "Group": {"resource_type": "Group", "id": "shop", "group_type": ["ANTREA"],
                  "expression": [{"resource_type": "Condition", "member_type": "Namespace", "key": "Name", "operator": "EQUALS", "value": "shop"}]}},
                {"resource_type": "ChildSecurityPolicy", "marked_for_delete": false, "SecurityPolicy": {
                    "resource_type": "SecurityPolicy", "id": "shop-policy", "category": "Application", "sequence_number": 10,
                    "children": rules}}]},
            {"resource_type": "ChildService", "Service": {"resource_type": "Service", "id": "tcp-9000",
              "service_entries": [{"resource_type": "L4PortSetServiceEntry", "id": "e", "l4_protocol": "TCP", "destination_ports": ["9000"]}]}}]})
    };
    let rule = |id: &str, delete: bool| {
        json!({"resource_type": "ChildRule", "marked_for_delete": delete,
               "Rule": {"resource_type": "Rule", "id": id, "action": "ALLOW", "sequence_number": 1,
                        "destination_groups": ["/infra/domains/default/groups/shop"], "services": ["/infra/services/tcp-9000"]}})
    };
    api.ok(
        "PATCH",
        BASE,
        Some(body(json!([rule("keep", false), rule("old", false)]))),
    )
    .await;
    let p = api
        .ok(
            "GET",
            &format!("{BASE}/domains/default/security-policies/shop-policy"),
            None,
        )
        .await;
    assert_eq!(p["rule_count"], 2, "{p}");
    let keep_id = p["rules"][0]["rule_id"].clone();
    api.ok("PATCH", BASE, Some(body(json!([rule("old", true)]))))
        .await;
    let p = api
        .ok(
            "GET",
            &format!("{BASE}/domains/default/security-policies/shop-policy"),
            None,
        )
        .await;
    assert_eq!(p["rule_count"], 1);
    assert_eq!(
        (
            p["rules"][0]["id"].clone(),
            p["rules"][0]["rule_id"].clone()
        ),
        (json!("keep"), keep_id)
    );
    assert_eq!(
        p["rules"][0]["_revision"], 0,
        "untouched rules are not rewritten"
    );
    // A bad child fails the whole batch.
    let bad = json!({"resource_type": "Infra", "children": [
        {"resource_type": "ChildService", "Service": {"id": "new-svc"}},
        {"resource_type": "ChildNoSuchThing", "NoSuchThing": {"id": "x"}}]});
    let (status, _) = api.call("PATCH", BASE, Some(bad)).await;
    assert_eq!(status, 400);
    let (status, _) = api
        .call("GET", &format!("{BASE}/services/new-svc"), None)
        .await;
    assert_eq!(status, 404, "nothing of a failed batch is written");
    let infra = api
        .ok("GET", &format!("{BASE}?filter=Type-SecurityPolicy"), None)
        .await;
    assert_eq!(
        infra["children"][0]["Domain"]["children"][0]["SecurityPolicy"]["id"],
        "shop-policy"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn policies_spanning_antrea_clusters_are_validated() {
    let (_dir, server, api) = setup().await;
    api.ok(
        "PUT",
        &format!("{CCP}/prod-1"),
        Some(json!({"display_name": "prod-1", "node_type": "ANTREA_NODE"})),
    )
    .await;
    api.ok(
        "PUT",
        &format!("{BASE}/domains/default/groups/web"),
        Some(group("web")),
    )
    .await;
    let p = format!("{BASE}/domains/default/security-policies/p");
    api.ok("PUT", &p, Some(json!({"category": "Application"})))
        .await;
    let span = json!({"resource_type": "SecurityPolicyContainerCluster", "container_cluster_type": "ANTREA",
        "container_cluster_path": "/infra/sites/default/enforcement-points/default/cluster-control-planes/prod-1"});
    api.ok(
        "PUT",
        &format!("{p}/container-cluster-span/prod-1"),
        Some(span),
    )
    .await;
    let bad_span = json!({"container_cluster_path": "/infra/sites/default/enforcement-points/default/cluster-control-planes/none"});
    let (status, body) = api
        .call(
            "PUT",
            &format!("{p}/container-cluster-span/none"),
            Some(bad_span),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // A rule with an ICMP service and source ports cannot be enforced by Antrea.
    let bad_rule = json!({"action": "ALLOW", "destination_groups": ["/infra/domains/default/groups/web"],
        "services": ["ANY"], "service_entries": [
            {"resource_type": "ICMPTypeServiceEntry", "id": "icmp", "protocol": "ICMPv4"},
            {"resource_type": "L4PortSetServiceEntry", "id": "src", "l4_protocol": "TCP", "source_ports": ["1000"], "destination_ports": ["80"]}]});
    let (status, body) = api
        .call("PUT", &format!("{p}/rules/bad"), Some(bad_rule))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["related_errors"]
            .as_array()
            .is_some_and(|r| r.len() >= 2),
        "{body}"
    );
    let (status, body) = api
        .call("PATCH", &p, Some(json!({"category": "Ethernet"})))
        .await;
    assert_eq!(status, 400, "{body}");
    api.ok("PUT", &format!("{p}/rules/good"), Some(json!({"action": "ALLOW",
        "destination_groups": ["/infra/domains/default/groups/web"], "services": ["/infra/services/HTTPS"]}))).await;
    // The cluster is in use; cascade removes the span.
    let (status, _) = api.call("DELETE", &format!("{CCP}/prod-1"), None).await;
    assert_eq!(status, 400);
    api.ok("DELETE", &format!("{CCP}/prod-1?cascade=true"), None)
        .await;
    let spans = api
        .ok("GET", &format!("{p}/container-cluster-span"), None)
        .await;
    assert_eq!(spans["result_count"], 0);
    server.shutdown().await;
}
