//! A request to a policy path as the handlers see it ([`Call`]), the changes to the store it
//! makes ([`Change`]), what it answers ([`Reply`]), and the NSX list envelope with sorting and
//! paging ([`list_envelope`]).

use super::paths::Kind;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::store::{Document, Expect};
use axum::body::Bytes;
use axum::http::Method;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Largest and default page.
pub const MAX_PAGE_SIZE: usize = 1000;
/// A request to a policy path, as the handlers see it.
pub struct Call {
    pub method: Method,
    /// `/infra/...`, percent-decoded.
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Bytes,
    pub principal: Principal,
}

impl Call {
    /// The body as a JSON object.
    pub fn json_object(&self) -> Result<Document, ApiError> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(ApiError::invalid("the request body must be a JSON object")),
            Err(e) => Err(ApiError::invalid(format!(
                "the request body is not valid JSON: {e}"
            ))),
        }
    }

    pub fn flag(&self, name: &str) -> bool {
        self.query
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// One change of a request: the full new document (None = delete the subtree).
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: Kind,
    pub path: String,
    pub body: Option<Document>,
    pub expect: Expect,
}

/// Handler results: a JSON body (200) or nothing (200, empty).
pub enum Reply {
    Json(Value),
    Empty,
}

/// The list envelope of `items` (already in their natural order), with sorting and paging.
pub fn list_envelope(mut items: Vec<Value>, call: &Call) -> Result<Value, ApiError> {
    let sort_by = call.query.get("sort_by").cloned();
    let ascending = !call
        .query
        .get("sort_ascending")
        .is_some_and(|v| v.eq_ignore_ascii_case("false"));
    if let Some(field) = &sort_by {
        items.sort_by(|a, b| compare_json(a.get(field), b.get(field)));
    }
    if !ascending {
        items.reverse();
    }
    let page_size = match call.query.get("page_size") {
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("page_size {s:?} is not a number")))?
            .clamp(1, MAX_PAGE_SIZE),
        None => MAX_PAGE_SIZE,
    };
    let start = match call.query.get("cursor").filter(|c| !c.is_empty()) {
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(format!("cursor {c:?} is not valid")))?,
        None => 0,
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start).take(page_size).collect();
    let mut out = Map::new();
    out.insert("result_count".into(), json!(total));
    out.insert("results".into(), Value::Array(page));
    if start + page_size < total {
        out.insert("cursor".into(), json!((start + page_size).to_string()));
    }
    if let Some(s) = sort_by {
        out.insert("sort_by".into(), json!(s));
    }
    out.insert("sort_ascending".into(), json!(ascending));
    Ok(Value::Object(out))
}

fn compare_json(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        (None, None) => std::cmp::Ordering::Equal,
    }
}
