//! What clusters report and what they fetch: the adapter endpoints, and the read views built on
//! their reports (statistics, realization status, group members, cluster health).
//!
//! Adapter endpoints, below `/policy/api/v1/infra/sites/default/enforcement-points/default/
//! cluster-control-planes/{C}` (the adapter of `C`, proven by its client certificate, may use
//! only these; an enterprise admin may too):
//!
//! ```text
//!  GET desired-state[?known_digest=D | wait_after_revision=N][&timeout_seconds=T]
//!      {"cluster_control_plane_path", "revision", "digest", "security_policies": [policy +
//!       rules + "intent_version" + "internal_sequence_number"], "groups": [group +
//!       "intent_version"], "services": [...]}
//!      the policies spanning C (container-cluster-span or scope), the groups they use (closed
//!      over PathExpressions) and the services their rules name. `internal_sequence_number` is
//!      20,000,000·c + k with k the policy's position among ALL policies of its category (every
//!      cluster's and the VM-only ones; tierwall_nsx::translate::category_positions), so a policy
//!      has one ACNP priority everywhere. `digest` fingerprints all of it but the revision.
//!      Long poll: with known_digest (the digest the adapter holds) or wait_after_revision (the
//!      revision it read at; answered at once when anything was committed since), the answer
//!      waits (at most T s, default 30, max 60) until C's desired state differs from the one
//!      the adapter holds. Writes of reports never wake it; another intent write
//!      makes the manager recompute C's state and keep waiting when it is unchanged (a policy
//!      spanning only another cluster). Timed out with known_digest: {"revision", "digest",
//!      "unchanged": true} and nothing else.
//!  PUT inventory      {"pods": [...], "namespaces": [...], "services": [...], "nodes": [...]}
//!  PUT group-members  {"results": [{"group_path", "pods": [{"namespace", "name",
//!                      "ip_addresses"}], "ip_addresses": [...]}]}
//!  PUT realization    {"results": [{"intent_path", "intent_version", "state":
//!                      "REALIZED"|"IN_PROGRESS"|"ERROR", "message"?}]}
//!  PUT statistics     {"results": [{"rule": rule path, "hit_count", "packet_count",
//!                      "byte_count", "session_count"}]}   (cumulative counters)
//!  PUT status         {"status": "HEALTHY"|"DEGRADED"|"FAILED", "report_interval"?: s, ...}
//!                     (AntreaClusterInfo; also the heartbeat)
//!  GET of each        the last report (an empty one before the first)
//! ```
//!
//! Each PUT replaces the previous report of that kind. Reports are stored under
//! `/runtime/cluster-control-planes/{C}/…` and removed with the cluster.
//!
//! Read views: `GET …/security-policies/{P}/statistics` and `…/rules/{R}/statistics`
//! (`?container_cluster_path=` narrows to one cluster; otherwise every cluster the policy spans),
//! `GET /infra/realized-state/status?intent_path=` (consolidated over the clusters spanned),
//! `GET …/groups/{G}/members/{pods|ip-addresses|virtual-machines}`, and
//! `GET …/cluster-control-planes/status` (a cluster without a heartbeat for
//! 3 × `report_interval` is `UNKNOWN`).

use super::call::{Call, Reply, list_envelope};
use super::objects::{ordered_rules, policy_paths, read_object, spanned_policy};
use super::paths::{DOMAIN, ENFORCEMENT_POINT, Kind, Report, report_root};
use super::state::Manager;
use super::view::View;
use crate::auth::CLUSTER_CONTROL_PLANES;
use crate::error::ApiError;
use crate::store::{Document, Expect, Put, WriteOp, now_millis};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;
use tierwall_nsx::model::{Group, SecurityPolicy};
use tierwall_nsx::span::{SpannedPolicy, groups_for_cluster};
use tierwall_nsx::translate::{category_positions, internal_sequence_number};

/// Default heartbeat interval (seconds) when a status report names none.
pub const DEFAULT_REPORT_INTERVAL_S: i64 = 60;

fn cluster_path(id: &str) -> String {
    format!("{CLUSTER_CONTROL_PLANES}/{id}")
}

/// A stable fingerprint of an intent object as the adapter receives it.
pub fn intent_version(v: &Value) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// GET or PUT of one report of cluster `id`.
pub async fn cluster_report(
    state: &Manager,
    call: &Call,
    id: &str,
    report: Report,
) -> Result<Reply, ApiError> {
    let ccp = cluster_path(id);
    if state.store.get(&ccp)?.is_none() {
        return Err(ApiError::not_found(&ccp));
    }
    let path = format!("{}/{}", report_root(id), report.segment());
    match (call.method.as_str(), report) {
        ("GET", Report::DesiredState) => desired_state_long_poll(state, call, id)
            .await
            .map(Reply::Json),
        ("GET", _) => Ok(Reply::Json(match state.store.get(&path)? {
            Some(doc) => Value::Object(doc),
            None => json!({"results": []}),
        })),
        ("PUT", r) if r != Report::DesiredState => {
            let body = call.json_object()?;
            if matches!(
                r,
                Report::GroupMembers | Report::Realization | Report::Statistics
            ) && !body.get("results").is_some_and(Value::is_array)
            {
                return Err(ApiError::invalid(format!(
                    "a {} report needs a \"results\" list",
                    r.segment()
                )));
            }
            let commit = state
                .commit(vec![WriteOp::Put(Put {
                    path: path.clone(),
                    body,
                    expect: Expect::Any,
                    user: call.principal.name().to_string(),
                    assign_rule_id: false,
                })])
                .await?;
            let doc = commit
                .documents
                .into_iter()
                .next()
                .flatten()
                .unwrap_or_default();
            Ok(Reply::Json(Value::Object(doc)))
        }
        (m, _) => Err(ApiError::invalid(format!("{m} is not supported on {path}"))),
    }
}

/// Default and largest wait of a desired-state long poll (seconds).
const DEFAULT_WAIT_S: u64 = 30;
const MAX_WAIT_S: u64 = 60;

/// `GET desired-state`, with the long poll of the module doc. Without `known_digest` and
/// `wait_after_revision` it answers at once. Otherwise the state the adapter holds is the one of
/// digest `known_digest`, or (without it) the one at revision `wait_after_revision`, which is
/// known only when nothing at all was committed since (else the answer is immediate, as the
/// adapter may have missed a change). The answer comes as soon as the cluster's
/// desired state differs from it; a write that does not change what spans the cluster (another
/// cluster's policies, any cluster's reports) is looked at and waited past. At the timeout the
/// answer is the current state, or, when the adapter named its digest, just
/// `{"revision", "digest", "unchanged": true}` (nothing to download again).
async fn desired_state_long_poll(
    state: &Manager,
    call: &Call,
    id: &str,
) -> Result<Value, ApiError> {
    let known = call.query.get("known_digest").cloned();
    let after = call
        .query
        .get("wait_after_revision")
        .and_then(|s| s.parse::<u64>().ok());
    // Subscribe before reading, so that a write landing after the read wakes the wait.
    let mut intent = state.intent_revision.subscribe();
    let mut current = desired_state(state, id)?;
    let baseline = match (known.as_deref(), after) {
        (Some(digest), _) => digest.to_string(),
        // Nothing committed since revision N, read after the state was: the state read is N's.
        (None, Some(after)) if state.store.revision()? == after => digest_of(&current),
        _ => return Ok(current),
    };
    let secs = call
        .query
        .get("timeout_seconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(DEFAULT_WAIT_S)
        .min(MAX_WAIT_S);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if digest_of(&current) != baseline {
            return Ok(current);
        }
        match tokio::time::timeout_at(deadline, intent.changed()).await {
            Ok(Ok(())) => {
                intent.borrow_and_update();
                current = desired_state(state, id)?;
            }
            // The timeout (or the manager shutting down): nothing changed for this cluster.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    if known.is_some() {
        return Ok(json!({
            "cluster_control_plane_path": cluster_path(id),
            "revision": current["revision"],
            "digest": baseline,
            "unchanged": true,
        }));
    }
    Ok(current)
}

fn digest_of(desired: &Value) -> String {
    desired["digest"].as_str().unwrap_or_default().to_string()
}

/// Every policy with its spans.
fn all_spanned(view: &View<'_>) -> Result<Vec<SpannedPolicy>, ApiError> {
    let mut out = Vec::new();
    for path in policy_paths(view.store())? {
        if let Some(p) = spanned_policy(view, &path)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Every group, typed, keyed by path.
fn all_groups(view: &View<'_>) -> Result<BTreeMap<String, (Document, Option<Group>)>, ApiError> {
    Ok(view
        .children(DOMAIN, Kind::Group.collection())?
        .into_iter()
        .map(|(p, d)| {
            let typed = serde_json::from_value(Value::Object(d.clone())).ok();
            (p, (d, typed))
        })
        .collect())
}

fn spanned_group_paths(
    cluster: &str,
    policies: &[SpannedPolicy],
    groups: &BTreeMap<String, (Document, Option<Group>)>,
) -> BTreeSet<String> {
    let typed: BTreeMap<String, &Group> = groups
        .iter()
        .filter_map(|(p, (_, g))| g.as_ref().map(|g| (p.clone(), g)))
        .collect();
    groups_for_cluster(cluster, policies, &typed)
}

/// The intent spanning cluster `id` (see the module doc), with its `digest`: a fingerprint of
/// everything but the revision (the policies with their `internal_sequence_number`, the groups,
/// the services and the registration's `_revision`), equal exactly when the content is.
pub fn desired_state(state: &Manager, id: &str) -> Result<Value, ApiError> {
    let revision = state.store.revision()?;
    let registration = state
        .store
        .get(&cluster_path(id))?
        .ok_or_else(|| ApiError::not_found(&cluster_path(id)))?;
    let view = View::new(state.store.as_ref());
    let spanned = all_spanned(&view)?;
    let groups = all_groups(&view)?;
    let typed: Vec<&SecurityPolicy> = spanned.iter().map(|p| &p.policy).collect();
    let positions = category_positions(&typed);
    let mut policies = Vec::new();
    let mut services = BTreeSet::new();
    for (p, position) in spanned
        .iter()
        .zip(positions)
        .filter(|(p, _)| p.spans_cluster(id))
    {
        let path = p.policy.path_or_default();
        if let Some(mut obj) = read_object(&view, Kind::SecurityPolicy, &path)? {
            for rule in obj
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for s in rule
                    .get("services")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(s) = s.as_str().filter(|s| s.starts_with("/infra/services/")) {
                        services.insert(s.to_string());
                    }
                }
            }
            let version = intent_version(&obj);
            if let Value::Object(m) = &mut obj {
                m.insert("intent_version".into(), json!(version));
                // The position among all policies of the category (reference §2.3), for the
                // ACNP priority; the stored policy's own value, if any, is not ours to keep.
                m.remove("internal_sequence_number");
                if let Some(n) = position.and_then(|(c, k)| internal_sequence_number(c, k)) {
                    m.insert("internal_sequence_number".into(), json!(n));
                }
            }
            policies.push(obj);
        }
    }
    let group_docs: Vec<Value> = spanned_group_paths(id, &spanned, &groups)
        .into_iter()
        .filter_map(|p| groups.get(&p).map(|(d, _)| d.clone()))
        .map(|mut d| {
            let version = intent_version(&Value::Object(d.clone()));
            d.insert("intent_version".into(), json!(version));
            Value::Object(d)
        })
        .collect();
    let mut service_docs = Vec::new();
    for s in services {
        if let Some(doc) = view.get(&s)? {
            service_docs.push(Value::Object(doc));
        }
    }
    let digest = intent_version(&json!([
        registration.get("_revision"),
        policies,
        group_docs,
        service_docs,
    ]));
    Ok(json!({
        "cluster_control_plane_path": cluster_path(id),
        "revision": revision,
        "digest": digest,
        "security_policies": policies,
        "groups": group_docs,
        "services": service_docs,
    }))
}

/// The report of kind `report` of every registered cluster: (cluster id, report document).
fn reports(state: &Manager, report: Report) -> Result<Vec<(String, Option<Document>)>, ApiError> {
    let mut out = Vec::new();
    for (path, _) in crate::store::children(
        state.store.as_ref(),
        ENFORCEMENT_POINT,
        Kind::ClusterControlPlane.collection(),
    )? {
        let id = path.rsplit('/').next().unwrap_or_default().to_string();
        let doc = state
            .store
            .get(&format!("{}/{}", report_root(&id), report.segment()))?;
        out.push((id, doc));
    }
    Ok(out)
}

/// The clusters a statistics or status query covers: the one named by `container_cluster_path`,
/// else those the policy spans.
fn clusters_for(call: &Call, spanned: &SpannedPolicy) -> Vec<String> {
    match call
        .query
        .get("container_cluster_path")
        .and_then(|p| tierwall_nsx::span::cluster_id_of_path(p))
    {
        Some(id) => vec![id.to_string()],
        None => spanned.cluster_ids().into_iter().collect(),
    }
}

fn rule_counters(state: &Manager, cluster: &str) -> Result<BTreeMap<String, Value>, ApiError> {
    let path = format!("{}/statistics", report_root(cluster));
    let mut out = BTreeMap::new();
    if let Some(doc) = state.store.get(&path)? {
        for entry in doc
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(rule) = entry.get("rule").and_then(Value::as_str) {
                out.insert(rule.to_string(), entry.clone());
            }
        }
    }
    Ok(out)
}

fn rule_statistics_entry(rule: &Value, reported: Option<&Value>) -> Value {
    let count = |k: &str| {
        reported
            .and_then(|r| r.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    json!({
        "resource_type": "RuleStatistics",
        "rule": rule.get("path").cloned().unwrap_or(Value::Null),
        "internal_rule_id": rule.get("rule_id").map(|id| json!(id.to_string())).unwrap_or(Value::Null),
        "hit_count": count("hit_count"),
        "packet_count": count("packet_count"),
        "byte_count": count("byte_count"),
        "session_count": count("session_count"),
        "popularity_index": 0,
        "max_popularity_index": 0,
        "max_session_count": 0,
        "total_session_count": count("session_count"),
        "l7_accept_count": 0,
        "l7_reject_count": 0,
        "l7_reject_with_response_count": 0,
    })
}

/// `GET …/security-policies/{P}/statistics`.
pub fn policy_statistics(state: &Manager, call: &Call, policy: &str) -> Result<Value, ApiError> {
    let view = View::new(state.store.as_ref());
    let spanned = spanned_policy(&view, policy)?.ok_or_else(|| ApiError::not_found(policy))?;
    let rules = ordered_rules(&view, policy)?;
    let mut results = Vec::new();
    for cluster in clusters_for(call, &spanned) {
        let counters = rule_counters(state, &cluster)?;
        let entries: Vec<Value> = rules
            .iter()
            .map(|r| {
                let p = r.get("path").and_then(Value::as_str).unwrap_or_default();
                rule_statistics_entry(r, counters.get(p))
            })
            .collect();
        results.push(json!({
            "resource_type": "SecurityPolicyStatisticsForEnforcementPoint",
            "enforcement_point": ENFORCEMENT_POINT,
            "container_cluster_path": cluster_path(&cluster),
            "statistics": {
                "resource_type": "SecurityPolicyStatistics",
                "internal_section_id": spanned.policy.meta.unique_id.clone().unwrap_or_default(),
                "result_count": entries.len(),
                "results": entries,
            },
        }));
    }
    list_envelope(results, call)
}

/// `GET …/rules/{R}/statistics`.
pub fn rule_statistics(state: &Manager, call: &Call, rule: &str) -> Result<Value, ApiError> {
    let view = View::new(state.store.as_ref());
    let rule_doc = view.get(rule)?.ok_or_else(|| ApiError::not_found(rule))?;
    let policy = rule.rsplitn(3, '/').nth(2).unwrap_or_default();
    let spanned = spanned_policy(&view, policy)?.ok_or_else(|| ApiError::not_found(policy))?;
    let rule_value = Value::Object(rule_doc);
    let mut results = Vec::new();
    for cluster in clusters_for(call, &spanned) {
        let counters = rule_counters(state, &cluster)?;
        results.push(json!({
            "resource_type": "RuleStatisticsForEnforcementPoint",
            "enforcement_point": ENFORCEMENT_POINT,
            "container_cluster_path": cluster_path(&cluster),
            "statistics": rule_statistics_entry(&rule_value, counters.get(rule)),
        }));
    }
    list_envelope(results, call)
}

/// `GET /infra/realized-state/status?intent_path=…`.
pub fn realized_status(state: &Manager, call: &Call) -> Result<Value, ApiError> {
    let intent = call
        .query
        .get("intent_path")
        .ok_or_else(|| ApiError::invalid("intent_path is required"))?;
    let view = View::new(state.store.as_ref());
    let (kind, object_path) = if intent.contains("/rules/") {
        (
            Kind::SecurityPolicy,
            intent
                .rsplitn(3, '/')
                .nth(2)
                .unwrap_or_default()
                .to_string(),
        )
    } else if intent.contains("/security-policies/") {
        (Kind::SecurityPolicy, intent.clone())
    } else if intent.contains("/groups/") {
        (Kind::Group, intent.clone())
    } else {
        (Kind::Service, intent.clone())
    };
    let object =
        read_object(&view, kind, &object_path)?.ok_or_else(|| ApiError::not_found(intent))?;
    let spanned = all_spanned(&view)?;
    let clusters: Vec<String> = match kind {
        Kind::SecurityPolicy => spanned
            .iter()
            .find(|p| p.policy.path_or_default() == object_path)
            .map(|p| p.cluster_ids().into_iter().collect())
            .unwrap_or_default(),
        Kind::Group => {
            let groups = all_groups(&view)?;
            reports(state, Report::Realization)?
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| spanned_group_paths(id, &spanned, &groups).contains(&object_path))
                .collect()
        }
        _ => Vec::new(),
    };
    let version = intent_version(&object);
    let mut per_ep = Vec::new();
    let mut statuses = Vec::new();
    for cluster in &clusters {
        let report = state
            .store
            .get(&format!("{}/realization", report_root(cluster)))?;
        let entry = report.as_ref().and_then(|r| {
            r.get("results")?
                .as_array()?
                .iter()
                .find(|e| {
                    e.get("intent_path").and_then(Value::as_str) == Some(object_path.as_str())
                })
                .cloned()
        });
        let current = entry
            .as_ref()
            .and_then(|e| e.get("intent_version"))
            .and_then(Value::as_str)
            == Some(version.as_str());
        let state_of = entry
            .as_ref()
            .and_then(|e| e.get("state"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let status = match (current, state_of) {
            (true, "REALIZED") => "SUCCESS",
            (true, "ERROR") => "ERROR",
            _ => "IN_PROGRESS",
        };
        statuses.push(status);
        let mut ep = json!({
            "resource_type": "ConsolidatedStatusPerEnforcementPoint",
            "enforcement_point_id": cluster,
            "enforcement_point_path": cluster_path(cluster),
            "site_path": "/infra/sites/default",
            "consolidated_status": {"consolidated_status": status},
        });
        if let (Some(msg), Value::Object(m)) =
            (entry.as_ref().and_then(|e| e.get("message")), &mut ep)
        {
            m.insert("message".into(), msg.clone());
        }
        per_ep.push(ep);
    }
    let (consolidated, publish) = if statuses.is_empty() {
        ("UNKNOWN", "UNAVAILABLE")
    } else if statuses.contains(&"ERROR") {
        ("ERROR", "ERROR")
    } else if statuses.iter().all(|s| *s == "SUCCESS") {
        ("SUCCESS", "REALIZED")
    } else {
        ("IN_PROGRESS", "UNREALIZED")
    };
    Ok(json!({
        "intent_path": intent,
        "intent_version": version,
        "publish_status": publish,
        "consolidated_status": {"consolidated_status": consolidated},
        "consolidated_status_per_enforcement_point": per_ep,
        "time_taken_for_realization": -1,
    }))
}

/// `GET …/groups/{G}/members/{kind}`.
pub fn group_members(
    state: &Manager,
    call: &Call,
    group: &str,
    member_kind: &str,
) -> Result<Value, ApiError> {
    if state.store.get(group)?.is_none() {
        return Err(ApiError::not_found(group));
    }
    let only = call
        .query
        .get("container_cluster_path")
        .and_then(|p| tierwall_nsx::span::cluster_id_of_path(p))
        .map(str::to_string);
    let mut pods = Vec::new();
    let mut ips = BTreeSet::new();
    for (cluster, doc) in reports(state, Report::GroupMembers)? {
        if only.as_ref().is_some_and(|o| *o != cluster) {
            continue;
        }
        let Some(doc) = doc else { continue };
        for entry in doc
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if entry.get("group_path").and_then(Value::as_str) != Some(group) {
                continue;
            }
            for pod in entry
                .get("pods")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut pod = pod.clone();
                if let Value::Object(m) = &mut pod {
                    m.insert("resource_type".into(), json!("PodMember"));
                    m.insert(
                        "container_cluster_path".into(),
                        json!(cluster_path(&cluster)),
                    );
                    for ip in m
                        .get("ip_addresses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(ip) = ip.as_str() {
                            ips.insert(ip.to_string());
                        }
                    }
                }
                pods.push(pod);
            }
            for ip in entry
                .get("ip_addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(ip) = ip.as_str() {
                    ips.insert(ip.to_string());
                }
            }
        }
    }
    let items = match member_kind {
        "pods" => pods,
        "ip-addresses" => ips.into_iter().map(Value::String).collect(),
        _ => Vec::new(),
    };
    list_envelope(items, call)
}

/// `GET …/cluster-control-planes/status`: health of every registered cluster.
pub fn cluster_status_list(state: &Manager, call: &Call) -> Result<Value, ApiError> {
    let now = now_millis();
    let mut items = Vec::new();
    for (id, doc) in reports(state, Report::Status)? {
        let mut info = doc.unwrap_or_default();
        let interval_ms = info
            .get("report_interval")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_REPORT_INTERVAL_S)
            .max(1)
            * 1000;
        let last = info
            .get("_last_modified_time")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MIN / 2);
        if now - last > 3 * interval_ms {
            info.insert("status".into(), json!("UNKNOWN"));
        }
        info.insert("resource_type".into(), json!("AntreaClusterInfo"));
        info.insert(
            "cluster_control_plane_path".into(),
            json!(cluster_path(&id)),
        );
        info.insert("cluster_control_plane_id".into(), json!(id));
        items.push(Value::Object(info));
    }
    list_envelope(items, call)
}
