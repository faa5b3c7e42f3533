//! API errors in the NSX shape: every error answer is a JSON body
//! `{"httpStatus", "error_code", "module_name", "error_message", "related_errors"}`.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The NSX error codes the manager answers with.
pub mod code {
    /// The path names no object.
    pub const NOT_FOUND: i64 = 500_090;
    /// `_revision` is missing or stale.
    pub const STALE_REVISION: i64 = 604;
    /// The request body or parameters are invalid.
    pub const INVALID: i64 = 500_030;
    /// The object is used by another object.
    pub const IN_USE: i64 = 500_040;
    /// Missing or bad credentials.
    pub const NOT_AUTHENTICATED: i64 = 403;
    /// The caller's role does not allow the operation.
    pub const FORBIDDEN: i64 = 401;
    /// The policy is locked by another user.
    pub const LOCKED: i64 = 500_157;
    /// A system-owned object cannot be changed.
    pub const SYSTEM_OWNED: i64 = 500_105;
    /// The store failed.
    pub const INTERNAL: i64 = 100;
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_code: i64,
    pub message: String,
    /// Further errors (one per invalid field or rule).
    pub related: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error_code: i64, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error_code,
            message: message.into(),
            related: Vec::new(),
        }
    }

    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("The path={path} is invalid: no such object."),
        )
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code::INVALID, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code::FORBIDDEN, message)
    }

    pub fn with_related(mut self, related: Vec<String>) -> ApiError {
        self.related = related;
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let related: Vec<Value> = self
            .related
            .iter()
            .map(|m| {
                json!({
                    "httpStatus": status_name(self.status),
                    "error_code": self.error_code,
                    "module_name": "Policy",
                    "error_message": m,
                })
            })
            .collect();
        json!({
            "httpStatus": status_name(self.status),
            "error_code": self.error_code,
            "module_name": "Policy",
            "error_message": self.message,
            "related_errors": related,
        })
    }
}

/// `NOT_FOUND`, `PRECONDITION_FAILED`, … as NSX spells the status.
fn status_name(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("ERROR")
        .to_ascii_uppercase()
        .replace([' ', '-'], "_")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::StaleRevision { .. } | StoreError::AlreadyExists { .. } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                code::STALE_REVISION,
                format!("The object was modified by somebody else: {e}"),
            ),
            StoreError::NotFound { path } => ApiError::not_found(path),
            StoreError::BadImport(_) => ApiError::invalid(e.to_string()),
            StoreError::Corrupt { .. }
            | StoreError::Backend(_)
            | StoreError::InUse { .. }
            | StoreError::WriterStopped => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                e.to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_have_the_nsx_fields() {
        let e = ApiError::from(StoreError::StaleRevision {
            path: "/infra/x".into(),
            expected: 1,
            current: 2,
        });
        let body = e.body();
        assert_eq!(body["httpStatus"], "PRECONDITION_FAILED");
        assert_eq!(body["error_code"], 604);
        assert_eq!(body["module_name"], "Policy");
        assert!(
            body["error_message"]
                .as_str()
                .is_some_and(|m| m.contains("/infra/x"))
        );
        let e = ApiError::invalid("bad").with_related(vec!["rule r1: bad".into()]);
        assert_eq!(
            e.body()["related_errors"][0]["error_message"],
            "rule r1: bad"
        );
    }
}
