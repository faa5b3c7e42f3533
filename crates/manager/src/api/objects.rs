//! CRUD of the stored objects (Groups, Security Policies and their Rules and
//! container-cluster-span, Services, cluster-control-planes), and the write pipeline every
//! change goes through:
//!
//! ```text
//!  request ─► prepare (defaults, read-only fields dropped, lock fields) ─► Vec<Change>
//!          ─► View (store + changes) ─► locked-policy check ─► validation (tierwall_nsx) ─► commit
//! ```
//!
//! * PUT replaces and needs the current `_revision` of an existing object (412 otherwise); a PUT
//!   of a policy with `rules` replaces its rules, and each existing rule needs its `_revision`.
//! * PATCH merges top-level fields into the existing object (or creates it); no revision check.
//! * A policy is stored without its rules; GET assembles `rules` (by `sequence_number`, then id)
//!   and `rule_count`.
//! * A policy with `locked: true` can be changed (rules and span included) only by the user in its
//!   `lock_modified_by`, who set the lock.
//! * Policies that span Antrea clusters (a container-cluster-span, or a cluster path in `scope`)
//!   are validated with `tierwall_nsx::validate` after every change that touches them; groups
//!   always. Violations answer 400 with every problem in `related_errors`.
//! * DELETE removes the object and everything below it; a group or cluster still referenced
//!   answers 400 unless `force=true` (groups) or `cascade=true` (clusters, which also removes the
//!   spans naming it).

use super::call::{Call, Change, Reply, list_envelope};
use super::paths::{DOMAIN, Kind, Target, report_root};
use super::revise::revise;
use super::state::Manager;
use super::view::View;
use crate::auth::Principal;
use crate::error::{ApiError, code};
use crate::store::{Commit, Document, Expect, Put, Store, WriteOp, children, now_millis};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use tierwall_nsx::model::{Group, SecurityPolicy, SecurityPolicyContainerCluster, Service};
use tierwall_nsx::span::SpannedPolicy;
use tierwall_nsx::validate::{ReferenceLookup, validate_group, validate_security_policy};

/// Fields a client cannot set: they are computed or owned by the manager.
const READ_ONLY: &[&str] = &[
    "_revision",
    "path",
    "parent_path",
    "relative_path",
    "unique_id",
    "realization_id",
    "marked_for_delete",
    "_create_time",
    "_create_user",
    "_last_modified_time",
    "_last_modified_user",
    "_links",
    "_self",
    "_schema",
    "children",
    "rule_count",
    "rule_id",
    "lock_modified_by",
    "lock_modified_time",
    "node_id",
];

/// A stored object as the API shows it: a policy with its rules.
pub fn read_object(view: &View<'_>, kind: Kind, path: &str) -> Result<Option<Value>, ApiError> {
    let Some(mut doc) = view.get(path)? else {
        return Ok(None);
    };
    if kind == Kind::SecurityPolicy {
        let rules = ordered_rules(view, path)?;
        doc.insert("rule_count".into(), json!(rules.len()));
        doc.insert("rules".into(), Value::Array(rules));
    }
    Ok(Some(Value::Object(doc)))
}

/// The rules of a policy ordered by `sequence_number`, then id.
pub fn ordered_rules(view: &View<'_>, policy: &str) -> Result<Vec<Value>, ApiError> {
    let mut rules: Vec<Document> = view
        .children(policy, Kind::Rule.collection())?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    rules.sort_by_key(|r| {
        (
            r.get("sequence_number")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            r.get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    });
    Ok(rules.into_iter().map(Value::Object).collect())
}

/// `GET` of a collection.
pub fn list(state: &Manager, call: &Call, kind: Kind, parent: &str) -> Result<Value, ApiError> {
    let view = View::new(state.store.as_ref());
    if matches!(kind, Kind::Rule | Kind::Span) && view.get(parent)?.is_none() {
        return Err(ApiError::not_found(parent));
    }
    let mut items = Vec::new();
    for (path, mut doc) in view.children(parent, kind.collection())? {
        if kind == Kind::SecurityPolicy && call.flag("include_rule_count") {
            let n = view.children(&path, Kind::Rule.collection())?.len();
            doc.insert("rule_count".into(), json!(n));
        }
        items.push(Value::Object(doc));
    }
    list_envelope(items, call)
}

/// GET, PUT, PATCH, DELETE (and POST `action=revise`) of one object.
pub async fn handle(
    state: &Manager,
    call: &Call,
    kind: Kind,
    parent: &str,
    id: &str,
) -> Result<Reply, ApiError> {
    let path = Target::object_path(parent, kind, id);
    match call.method.as_str() {
        "GET" => {
            let view = View::new(state.store.as_ref());
            read_object(&view, kind, &path)?
                .map(Reply::Json)
                .ok_or_else(|| ApiError::not_found(&path))
        }
        "PUT" | "PATCH" => {
            let merge = call.method == "PATCH";
            let body = call.json_object()?;
            let changes = {
                let view = View::new(state.store.as_ref());
                changes_for_write(
                    &view,
                    &call.principal,
                    kind,
                    parent,
                    id,
                    body,
                    merge,
                    !merge,
                )?
            };
            apply(state, &call.principal, changes).await?;
            if merge {
                return Ok(Reply::Empty);
            }
            let view = View::new(state.store.as_ref());
            read_object(&view, kind, &path)?
                .map(Reply::Json)
                .ok_or_else(|| ApiError::not_found(&path))
        }
        "DELETE" => {
            let changes = {
                let view = View::new(state.store.as_ref());
                changes_for_delete(&view, call, kind, &path)?
            };
            apply(state, &call.principal, changes).await?;
            Ok(Reply::Empty)
        }
        "POST" if call.query.get("action").map(String::as_str) == Some("revise") => {
            let changes = {
                let view = View::new(state.store.as_ref());
                revise(&view, call, kind, parent, &path)?
            };
            apply(state, &call.principal, changes).await?;
            let view = View::new(state.store.as_ref());
            read_object(&view, kind, &path)?
                .map(Reply::Json)
                .ok_or_else(|| ApiError::not_found(&path))
        }
        m => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::INVALID,
            format!("{m} is not supported on {path}"),
        )),
    }
}

/// The revision a client sent, if any.
fn sent_revision(body: &Document) -> Option<i64> {
    body.get("_revision").and_then(Value::as_i64)
}

fn stale(path: &str, sent: Option<i64>, current: Option<i64>) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        code::STALE_REVISION,
        match sent {
            Some(r) => format!(
                "The object {path} was modified by somebody else: revision {r} is stale (current {}).",
                current.unwrap_or(-1)
            ),
            None => format!(
                "The object {path} exists: a PUT must carry its current _revision ({}).",
                current.unwrap_or(-1)
            ),
        },
    )
}

/// The changes of a PUT (`merge = false`) or PATCH (`merge = true`) of one object, including
/// the inline `rules` of a policy. `check_revision`: an existing object needs its `_revision`.
#[allow(clippy::too_many_arguments)]
pub fn changes_for_write(
    view: &View<'_>,
    principal: &Principal,
    kind: Kind,
    parent: &str,
    id: &str,
    mut body: Document,
    merge: bool,
    check_revision: bool,
) -> Result<Vec<Change>, ApiError> {
    let path = Target::object_path(parent, kind, id);
    check_parent(view, kind, parent)?;
    let prev = view.get(&path)?;
    let expect = expectation(&path, &body, prev.as_ref(), check_revision)?;
    if prev
        .as_ref()
        .and_then(|p| p.get("_system_owned"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code::SYSTEM_OWNED,
            format!("{path} is system owned and cannot be changed."),
        ));
    }
    let inline_rules = match (kind, body.remove("rules")) {
        (Kind::SecurityPolicy, Some(Value::Array(rules))) => Some(rules),
        (Kind::SecurityPolicy, Some(Value::Null) | None) => None,
        (Kind::SecurityPolicy, Some(_)) => return Err(ApiError::invalid("rules must be a list")),
        _ => None,
    };
    body.remove("children");
    let doc = prepare(kind, parent, id, body, prev.as_ref(), principal, merge)?;
    let mut changes = vec![Change {
        kind,
        path: path.clone(),
        body: Some(doc),
        expect,
    }];
    if let Some(rules) = inline_rules {
        let mut listed = BTreeSet::new();
        for rule in rules {
            let Value::Object(rule) = rule else {
                return Err(ApiError::invalid("every rule must be an object"));
            };
            let Some(rid) = rule.get("id").and_then(Value::as_str).map(str::to_string) else {
                return Err(ApiError::invalid("every rule needs an id"));
            };
            let rule_path = Target::object_path(&path, Kind::Rule, &rid);
            let prev_rule = view.get(&rule_path)?;
            let expect = expectation(&rule_path, &rule, prev_rule.as_ref(), check_revision)?;
            let doc = prepare(
                Kind::Rule,
                &path,
                &rid,
                rule,
                prev_rule.as_ref(),
                principal,
                merge,
            )?;
            listed.insert(rule_path.clone());
            changes.push(Change {
                kind: Kind::Rule,
                path: rule_path,
                body: Some(doc),
                expect,
            });
        }
        if !merge {
            for (rule_path, _) in view.children(&path, Kind::Rule.collection())? {
                if !listed.contains(&rule_path) {
                    changes.push(Change {
                        kind: Kind::Rule,
                        path: rule_path,
                        body: None,
                        expect: Expect::Any,
                    });
                }
            }
        }
    }
    Ok(changes)
}

fn expectation(
    path: &str,
    body: &Document,
    prev: Option<&Document>,
    check_revision: bool,
) -> Result<Expect, ApiError> {
    let current = prev
        .and_then(|p| p.get("_revision"))
        .and_then(Value::as_i64);
    Ok(match (prev, check_revision) {
        (None, _) => Expect::Absent,
        (Some(_), false) => Expect::Exists,
        (Some(_), true) => match sent_revision(body) {
            Some(r) if Some(r) == current => Expect::Revision(r),
            sent => return Err(stale(path, sent, current)),
        },
    })
}

fn check_parent(view: &View<'_>, kind: Kind, parent: &str) -> Result<(), ApiError> {
    match kind {
        Kind::Rule | Kind::Span if view.get(parent)?.is_none() => {
            return Err(ApiError::not_found(parent));
        }
        Kind::Group | Kind::SecurityPolicy if parent != DOMAIN => {
            return Err(ApiError::not_found(parent));
        }
        _ => {}
    }
    Ok(())
}

/// The stored form of a written object: defaults set, read-only fields dropped, the lock fields
/// maintained, and (for PATCH) merged into the previous version.
pub fn prepare(
    kind: Kind,
    parent: &str,
    id: &str,
    body: Document,
    prev: Option<&Document>,
    principal: &Principal,
    merge: bool,
) -> Result<Document, ApiError> {
    if let Some(given) = body.get("id").and_then(Value::as_str)
        && given != id
    {
        return Err(ApiError::invalid(format!(
            "the id in the body ({given}) differs from the id in the path ({id})"
        )));
    }
    if let Some(rt) = body.get("resource_type").and_then(Value::as_str)
        && rt != kind.resource_type()
    {
        return Err(ApiError::invalid(format!(
            "resource_type {rt} cannot be written at a {} path",
            kind.resource_type()
        )));
    }
    let mut doc = match (merge, prev) {
        (true, Some(p)) => p.clone(),
        _ => Document::new(),
    };
    for (k, v) in body {
        if !READ_ONLY.contains(&k.as_str()) {
            doc.insert(k, v);
        }
    }
    // Keep what the manager owns from the previous version (rule_id, node_id, lock fields, …).
    for f in READ_ONLY {
        if let Some(v) = prev.and_then(|p| p.get(*f))
            && !matches!(
                *f,
                "rule_count" | "children" | "_links" | "_self" | "_schema"
            )
        {
            doc.insert((*f).to_string(), v.clone());
        }
    }
    doc.insert("id".into(), json!(id));
    doc.insert("resource_type".into(), json!(kind.resource_type()));
    doc.entry("display_name").or_insert_with(|| json!(id));
    doc.insert("parent_path".into(), json!(parent));
    doc.insert("relative_path".into(), json!(id));
    doc.insert("marked_for_delete".into(), json!(false));
    doc.entry("_system_owned").or_insert(json!(false));
    let mut default = |k: &str, v: Value| {
        doc.entry(k).or_insert(v);
    };
    match kind {
        Kind::Group => {
            default("expression", json!([]));
        }
        Kind::SecurityPolicy => {
            default("sequence_number", json!(0));
            default("stateful", json!(true));
            default("locked", json!(false));
            default("scope", json!(["ANY"]));
            let stateful = doc.get("stateful").and_then(Value::as_bool) != Some(false);
            if stateful {
                doc.entry("tcp_strict").or_insert(json!(true));
            }
            let was_locked =
                prev.and_then(|p| p.get("locked")).and_then(Value::as_bool) == Some(true);
            let locked = doc.get("locked").and_then(Value::as_bool) == Some(true);
            if was_locked != locked {
                doc.insert("lock_modified_by".into(), json!(principal.name()));
                doc.insert("lock_modified_time".into(), json!(now_millis()));
            }
        }
        Kind::Rule => {
            for (k, v) in [
                ("action", json!("ALLOW")),
                ("direction", json!("IN_OUT")),
                ("ip_protocol", json!("IPV4_IPV6")),
                ("logged", json!(false)),
                ("disabled", json!(false)),
                ("sequence_number", json!(0)),
                ("source_groups", json!(["ANY"])),
                ("destination_groups", json!(["ANY"])),
                ("services", json!(["ANY"])),
                ("scope", json!(["ANY"])),
                ("sources_excluded", json!(false)),
                ("destinations_excluded", json!(false)),
            ] {
                default(k, v);
            }
        }
        Kind::Span => {
            default("container_cluster_type", json!("ANTREA"));
            match doc.get("container_cluster_path").and_then(Value::as_str) {
                Some(p) if tierwall_nsx::span::cluster_id_of_path(p).is_some() => {}
                _ => {
                    return Err(ApiError::invalid(
                        "container_cluster_path must be the path of a cluster-control-plane",
                    ));
                }
            }
        }
        Kind::Service => {
            default("service_entries", json!([]));
        }
        Kind::ClusterControlPlane => {
            default("node_type", json!("ANTREA_NODE"));
            if !doc.contains_key("node_id") {
                doc.insert("node_id".into(), json!(crate::store::random_uuid()));
            }
            if let Some(pem) = doc.get("certificate").and_then(Value::as_str) {
                let der = crate::tls::first_certificate_der(pem)
                    .ok_or_else(|| ApiError::invalid("certificate must be a PEM certificate"))?;
                let cn = crate::tls::common_name(&der).unwrap_or_default();
                if cn != id {
                    return Err(ApiError::invalid(format!(
                        "the certificate's CommonName ({cn}) must equal the cluster-control-plane id ({id})"
                    )));
                }
            }
        }
    }
    Ok(doc)
}

/// The changes of a DELETE.
fn changes_for_delete(
    view: &View<'_>,
    call: &Call,
    kind: Kind,
    path: &str,
) -> Result<Vec<Change>, ApiError> {
    let Some(prev) = view.get(path)? else {
        return Ok(Vec::new());
    };
    if prev.get("_system_owned").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code::SYSTEM_OWNED,
            format!("{path} is system owned and cannot be deleted."),
        ));
    }
    let mut changes = vec![Change {
        kind,
        path: path.to_string(),
        body: None,
        expect: Expect::Any,
    }];
    match kind {
        Kind::Group | Kind::Service => {
            let users = referrers(view.store(), path)?;
            if !users.is_empty() && !call.flag("force") {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    code::IN_USE,
                    format!("{path} is used by {}", users.join(", ")),
                ));
            }
        }
        Kind::ClusterControlPlane => {
            let users = referrers(view.store(), path)?;
            if !users.is_empty() && !call.flag("cascade") {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    code::IN_USE,
                    format!(
                        "{path} is used by {}; delete with cascade=true to remove those references",
                        users.join(", ")
                    ),
                ));
            }
            for user in users
                .into_iter()
                .filter(|u| u.contains("/container-cluster-span/"))
            {
                changes.push(Change {
                    kind: Kind::Span,
                    path: user,
                    body: None,
                    expect: Expect::Any,
                });
            }
            let id = path.rsplit('/').next().unwrap_or_default();
            changes.push(Change {
                kind,
                path: report_root(id),
                body: None,
                expect: Expect::Any,
            });
        }
        _ => {}
    }
    Ok(changes)
}

/// Paths of the objects under `/infra/domains` whose fields name `path`.
fn referrers(store: &dyn Store, path: &str) -> Result<Vec<String>, ApiError> {
    fn mentions(v: &Value, path: &str) -> bool {
        match v {
            Value::String(s) => s == path,
            Value::Array(a) => a.iter().any(|x| mentions(x, path)),
            Value::Object(m) => m
                .iter()
                .any(|(k, x)| k != "path" && k != "parent_path" && mentions(x, path)),
            _ => false,
        }
    }
    Ok(store
        .scan("/infra/domains/")?
        .into_iter()
        .filter(|(p, d)| p != path && d.values().any(|v| mentions(v, path)))
        .map(|(p, _)| p)
        .collect())
}

/// The policy a change belongs to.
fn policy_of(change: &Change) -> Option<String> {
    match change.kind {
        Kind::SecurityPolicy => Some(change.path.clone()),
        Kind::Rule | Kind::Span => change.path.rsplitn(3, '/').nth(2).map(str::to_string),
        _ => None,
    }
}

/// Lock check, validation and commit of a request's changes.
pub async fn apply(
    state: &Manager,
    principal: &Principal,
    changes: Vec<Change>,
) -> Result<Commit, ApiError> {
    if changes.is_empty() {
        return Ok(Commit {
            revision: state.store.revision()?,
            documents: Vec::new(),
        });
    }
    {
        let mut view = View::new(state.store.as_ref());
        // Policy path → (the policy or its span changed, the rules that changed).
        let mut policies: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
        let mut groups = BTreeSet::new();
        for c in &changes {
            match &c.body {
                Some(doc) => view.put(&c.path, doc.clone()),
                None => view.delete_tree(&c.path),
            }
            if let Some(p) = policy_of(c) {
                let entry = policies.entry(p).or_default();
                match c.kind {
                    Kind::Rule => entry.1.push(c.path.clone()),
                    _ => entry.0 = true,
                }
            }
            if c.kind == Kind::Group && c.body.is_some() {
                groups.insert(c.path.clone());
            }
        }
        for (policy, (whole, rules)) in &policies {
            check_lock(state.store.as_ref(), principal, policy)?;
            validate_policy(&view, policy, (!*whole).then_some(rules.as_slice()))?;
        }
        for group in &groups {
            if let Some(doc) = view.get(group)? {
                let g: Group = typed(&doc, group)?;
                validate_group(&g, &ViewLookup(&view)).map_err(|e| validation_error(&e))?;
            }
        }
    }
    let ops = changes
        .into_iter()
        .map(|c| match c.body {
            Some(body) => WriteOp::Put(Put {
                assign_rule_id: c.kind == Kind::Rule,
                path: c.path,
                body,
                expect: c.expect,
                user: principal.name().to_string(),
            }),
            None => WriteOp::DeleteTree {
                path: c.path,
                expect: c.expect,
            },
        })
        .collect();
    state.commit(ops).await
}

fn check_lock(store: &dyn Store, principal: &Principal, policy: &str) -> Result<(), ApiError> {
    let Some(stored) = store.get(policy)? else {
        return Ok(());
    };
    if stored.get("locked").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let owner = stored
        .get("lock_modified_by")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if owner == principal.name() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        code::LOCKED,
        format!("Security policy {policy} is locked by {owner}; only {owner} can change it."),
    ))
}

fn typed<T: serde::de::DeserializeOwned>(doc: &Document, path: &str) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(doc.clone()))
        .map_err(|e| ApiError::invalid(format!("{path}: {e}")))
}

/// The policy at `path` with its rules and spans, as the nsx crate types them.
pub fn spanned_policy(view: &View<'_>, path: &str) -> Result<Option<SpannedPolicy>, ApiError> {
    let Some(Value::Object(doc)) = read_object(view, Kind::SecurityPolicy, path)? else {
        return Ok(None);
    };
    let policy: SecurityPolicy = typed(&doc, path)?;
    let spans = view
        .children(path, Kind::Span.collection())?
        .into_iter()
        .map(|(p, d)| typed::<SecurityPolicyContainerCluster>(&d, &p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(SpannedPolicy::new(policy, spans)))
}

/// Validates the policy at `path` if it spans Antrea clusters. `only_rules`: the policy itself is
/// unchanged, so only these rules need checking (a rule write costs the same however many
/// rules the policy has).
fn validate_policy(
    view: &View<'_>,
    path: &str,
    only_rules: Option<&[String]>,
) -> Result<(), ApiError> {
    let Some(doc) = view.get(path)? else {
        return Ok(());
    };
    let spans = view
        .children(path, Kind::Span.collection())?
        .into_iter()
        .map(|(p, d)| typed::<SecurityPolicyContainerCluster>(&d, &p))
        .collect::<Result<Vec<_>, _>>()?;
    for span in &spans {
        let ccp = &span.container_cluster_path;
        if view.get(ccp)?.is_none() {
            return Err(ApiError::invalid(format!(
                "container_cluster_path {ccp} is not a registered cluster-control-plane"
            )));
        }
    }
    let mut policy: SecurityPolicy = typed(&doc, path)?;
    let spanned = SpannedPolicy::new(policy.clone(), spans);
    if !spanned.spans_antrea_clusters() {
        return Ok(());
    }
    let rule_docs: Vec<Value> = match only_rules {
        Some(paths) => {
            let mut docs = Vec::new();
            for p in paths {
                if let Some(d) = view.get(p)? {
                    docs.push(Value::Object(d));
                }
            }
            docs
        }
        None => ordered_rules(view, path)?,
    };
    policy.rules = rule_docs
        .into_iter()
        .map(|r| {
            serde_json::from_value(r).map_err(|e| ApiError::invalid(format!("{path}: rule: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    validate_security_policy(&policy, &ViewLookup(view)).map_err(|e| validation_error(&e))
}

fn validation_error(e: &tierwall_nsx::validate::ValidationError) -> ApiError {
    let body = e.to_error_body();
    let related = e.violations.iter().map(ToString::to_string).collect();
    ApiError::new(StatusCode::BAD_REQUEST, body.error_code, body.error_message)
        .with_related(related)
}

/// Groups and services read through a view, typed for the nsx validators.
pub struct ViewLookup<'v, 'a>(pub &'v View<'a>);

impl ReferenceLookup for ViewLookup<'_, '_> {
    fn group(&self, path: &str) -> Option<Group> {
        let doc = self.0.get(path).ok()??;
        serde_json::from_value(Value::Object(doc)).ok()
    }

    fn service(&self, path: &str) -> Option<Service> {
        let doc = self.0.get(path).ok()??;
        serde_json::from_value(Value::Object(doc)).ok()
    }
}

/// Every stored security policy path.
pub fn policy_paths(store: &dyn Store) -> Result<Vec<String>, ApiError> {
    Ok(children(store, DOMAIN, Kind::SecurityPolicy.collection())?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}
