//! The hierarchical API, `PATCH /policy/api/v1/infra`: a tree of `Child*` wrappers applied as
//! one atomic batch; and `action=revise`, which moves a policy or rule.
//!
//! ```text
//!  {"resource_type": "Infra", "children": [
//!    {"resource_type": "ChildResourceReference", "id": "default", "target_type": "Domain",
//!     "children": [
//!       {"resource_type": "ChildGroup", "Group": {...}},
//!       {"resource_type": "ChildSecurityPolicy", "SecurityPolicy": {..., "children": [
//!          {"resource_type": "ChildRule", "Rule": {...}},
//!          {"resource_type": "ChildRule", "marked_for_delete": true, "Rule": {"id": "old"}},
//!          {"resource_type": "ChildSecurityPolicyContainerCluster",
//!           "SecurityPolicyContainerCluster": {...}}]}}]},
//!    {"resource_type": "ChildService", "Service": {...}}]}
//! ```
//!
//! Every wrapped object is merged into the existing one, as a PATCH; `marked_for_delete` on the
//! wrapper (or on the object) deletes it with everything below it. With
//! `enforce_revision_check=true`, an object carrying `_revision` must match the stored one.
//! `ChildResourceReference` and `ChildDomain` only descend: the domain `default` always exists.
//!
//! `GET /policy/api/v1/infra` answers the Infra object; with `filter=Type-<Kind>` it also lists
//! the wrapped objects of that kind as `children` (as NSX's H-API read does).

use super::call::{Call, Change, Reply};
use super::objects::{apply, changes_for_write, read_object};
use super::paths::{DOMAIN, ENFORCEMENT_POINT, Kind};
use super::state::Manager;
use super::view::View;
use crate::error::ApiError;
use crate::store::{Document, Expect};
use serde_json::{Value, json};

/// `GET` or `PATCH` of `/infra`.
pub async fn handle_infra(state: &Manager, call: &Call) -> Result<Reply, ApiError> {
    match call.method.as_str() {
        "GET" => read_infra(state, call).map(Reply::Json),
        "PATCH" => {
            let body = call.json_object()?;
            let changes = {
                let view = View::new(state.store.as_ref());
                let mut walker = Walker {
                    view,
                    principal: &call.principal,
                    enforce_revision: call.flag("enforce_revision_check"),
                    changes: Vec::new(),
                };
                walker.children("/infra", &body)?;
                walker.changes
            };
            apply(state, &call.principal, changes).await?;
            Ok(Reply::Empty)
        }
        m => Err(ApiError::invalid(format!("{m} is not supported on /infra"))),
    }
}

fn read_infra(state: &Manager, call: &Call) -> Result<Value, ApiError> {
    let view = View::new(state.store.as_ref());
    let mut children = Vec::new();
    let filter = call.query.get("filter").cloned().unwrap_or_default();
    let wanted = |k: Kind| filter == format!("Type-{}", k.resource_type());
    for kind in [Kind::Group, Kind::SecurityPolicy] {
        if !wanted(kind) {
            continue;
        }
        let mut wrapped = Vec::new();
        for (path, _) in view.children(DOMAIN, kind.collection())? {
            if let Some(obj) = read_object(&view, kind, &path)? {
                wrapped.push(json!({
                    "resource_type": format!("Child{}", kind.resource_type()),
                    "marked_for_delete": false,
                    kind.resource_type(): obj,
                }));
            }
        }
        children.push(json!({
            "resource_type": "ChildDomain",
            "marked_for_delete": false,
            "Domain": {"resource_type": "Domain", "id": "default", "path": DOMAIN, "children": wrapped},
        }));
    }
    if wanted(Kind::Service) {
        for (path, _) in view.children("/infra", Kind::Service.collection())? {
            if let Some(obj) = read_object(&view, Kind::Service, &path)? {
                children.push(json!({"resource_type": "ChildService", "marked_for_delete": false, "Service": obj}));
            }
        }
    }
    Ok(json!({
        "resource_type": "Infra",
        "id": "infra",
        "path": "/infra",
        "display_name": "infra",
        "children": children,
    }))
}

struct Walker<'a, 'p> {
    view: View<'a>,
    principal: &'p crate::auth::Principal,
    enforce_revision: bool,
    changes: Vec<Change>,
}

impl Walker<'_, '_> {
    /// Applies the `children` of the object at `parent`.
    fn children(&mut self, parent: &str, obj: &Document) -> Result<(), ApiError> {
        let Some(children) = obj.get("children") else {
            return Ok(());
        };
        let Value::Array(children) = children else {
            return Err(ApiError::invalid(format!(
                "{parent}: children must be a list"
            )));
        };
        for child in children {
            let Value::Object(child) = child else {
                return Err(ApiError::invalid(format!(
                    "{parent}: every child must be an object"
                )));
            };
            self.child(parent, child)?;
        }
        Ok(())
    }

    fn child(&mut self, parent: &str, wrapper: &Document) -> Result<(), ApiError> {
        let rt = wrapper
            .get("resource_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if rt == "ChildResourceReference" {
            let id = wrapper
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let target = wrapper
                .get("target_type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let path = fixed_child(parent, target, id).ok_or_else(|| {
                ApiError::invalid(format!(
                    "{parent}: ChildResourceReference to {target} {id:?} does not exist"
                ))
            })?;
            return self.children(&path, wrapper);
        }
        let Some(inner_type) = rt.strip_prefix("Child") else {
            return Err(ApiError::invalid(format!(
                "{parent}: {rt:?} is not a Child* wrapper"
            )));
        };
        let Some(Value::Object(inner)) = wrapper.get(inner_type) else {
            return Err(ApiError::invalid(format!(
                "{parent}: {rt} must hold the object in {inner_type:?}"
            )));
        };
        let id = inner.get("id").and_then(Value::as_str).unwrap_or_default();
        if matches!(inner_type, "Domain" | "Site" | "EnforcementPoint") {
            let path = fixed_child(parent, inner_type, id).ok_or_else(|| {
                ApiError::invalid(format!("{parent}: {inner_type} {id:?} does not exist"))
            })?;
            return self.children(&path, inner);
        }
        let kind = Kind::from_resource_type(inner_type)
            .ok_or_else(|| ApiError::invalid(format!("{parent}: {rt} is not supported")))?;
        if id.is_empty() {
            return Err(ApiError::invalid(format!(
                "{parent}: {inner_type} without an id"
            )));
        }
        let expected_parent = match kind {
            Kind::Group | Kind::SecurityPolicy => parent == DOMAIN,
            Kind::Rule | Kind::Span => parent.starts_with(&format!("{DOMAIN}/security-policies/")),
            Kind::Service => parent == "/infra",
            Kind::ClusterControlPlane => parent == ENFORCEMENT_POINT,
        };
        if !expected_parent {
            return Err(ApiError::invalid(format!(
                "{parent}: a {inner_type} cannot be a child here"
            )));
        }
        let path = format!("{parent}/{}/{id}", kind.collection());
        let delete = wrapper.get("marked_for_delete").and_then(Value::as_bool) == Some(true)
            || inner.get("marked_for_delete").and_then(Value::as_bool) == Some(true);
        if delete {
            self.view.delete_tree(&path);
            self.changes.push(Change {
                kind,
                path,
                body: None,
                expect: Expect::Any,
            });
            return Ok(());
        }
        let mut body = inner.clone();
        let grandchildren = body.remove("children");
        let check = self.enforce_revision && body.contains_key("_revision");
        let new = changes_for_write(
            &self.view,
            self.principal,
            kind,
            parent,
            id,
            body,
            true,
            check,
        )?;
        for c in &new {
            if let Some(doc) = &c.body {
                self.view.put(&c.path, doc.clone());
            }
        }
        self.changes.extend(new);
        if let Some(g) = grandchildren {
            let mut holder = Document::new();
            holder.insert("children".into(), g);
            self.children(&path, &holder)?;
        }
        Ok(())
    }
}

/// The fixed objects below `/infra`: domain, site, enforcement point `default`.
fn fixed_child(parent: &str, target_type: &str, id: &str) -> Option<String> {
    let path = match (parent, target_type, id) {
        ("/infra", "Domain", "default") => DOMAIN.to_string(),
        ("/infra", "Site", "default") => "/infra/sites/default".to_string(),
        ("/infra/sites/default", "EnforcementPoint", "default") => ENFORCEMENT_POINT.to_string(),
        ("/infra", "Infra", _) => "/infra".to_string(),
        _ => return None,
    };
    Some(path)
}
