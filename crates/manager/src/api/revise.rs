//! `POST …?action=revise&operation=…&anchor_path=…`: moves a policy among the policies of its
//! category, or a rule among the rules of its policy, and renumbers `sequence_number`.

use super::call::{Call, Change};
use super::paths::Kind;
use super::view::View;
use crate::error::ApiError;
use crate::store::{Document, Expect};
use serde_json::{Value, json};

/// `POST …?action=revise&operation=insert_top|insert_bottom|insert_before|insert_after&anchor_path=…`:
/// places the policy (among the policies of its category) or the rule (among the rules of its
/// policy) and renumbers `sequence_number` in steps of 10.
pub fn revise(
    view: &View<'_>,
    call: &Call,
    kind: Kind,
    parent: &str,
    path: &str,
) -> Result<Vec<Change>, ApiError> {
    if !matches!(kind, Kind::SecurityPolicy | Kind::Rule) {
        return Err(ApiError::invalid(
            "action=revise applies to policies and rules",
        ));
    }
    let Some(me) = view.get(path)? else {
        return Err(ApiError::not_found(path));
    };
    let category = me.get("category").cloned();
    let mut siblings: Vec<(String, Document)> = view
        .children(parent, kind.collection())?
        .into_iter()
        .filter(|(p, d)| {
            p != path && (kind == Kind::Rule || d.get("category") == category.as_ref())
        })
        .collect();
    siblings.sort_by_key(|(p, d)| {
        (
            d.get("sequence_number")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            p.clone(),
        )
    });
    let operation = call
        .query
        .get("operation")
        .map(String::as_str)
        .unwrap_or("insert_top");
    let anchor = call.query.get("anchor_path").cloned().unwrap_or_default();
    let anchor_index = || {
        siblings
            .iter()
            .position(|(p, _)| *p == anchor)
            .ok_or_else(|| ApiError::invalid(format!("anchor_path {anchor:?} is not a sibling")))
    };
    let index = match operation {
        "insert_top" => 0,
        "insert_bottom" => siblings.len(),
        "insert_before" => anchor_index()?,
        "insert_after" => anchor_index()? + 1,
        other => return Err(ApiError::invalid(format!("unknown operation {other:?}"))),
    };
    siblings.insert(index, (path.to_string(), me));
    let mut changes = Vec::new();
    for (i, (p, mut d)) in siblings.into_iter().enumerate() {
        let seq = json!((i as i64 + 1) * 10);
        if d.get("sequence_number") == Some(&seq) && p != path {
            continue;
        }
        d.insert("sequence_number".into(), seq);
        changes.push(Change {
            kind,
            path: p,
            body: Some(d),
            expect: Expect::Exists,
        });
    }
    Ok(changes)
}
