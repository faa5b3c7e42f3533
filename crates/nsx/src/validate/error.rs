//! The validation error (a list of violations, each naming its field) and the NSX JSON error
//! body (`httpStatus`, `error_code`, `module_name`, `error_message`, `related_errors`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of constraint a violation breaks. Each has a stable NSX-style `error_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationCode {
    UnsupportedCategory,
    StatefulNotConfigurable,
    TcpStrictNotConfigurable,
    TimeWindowNotSupported,
    JumpToApplicationOutsideEnvironment,
    NegationNotSupported,
    ContextProfileNotSupported,
    NonAntreaGroup,
    IpAddressesInAppliedTo,
    GlobalGroupNotSupported,
    IdentityFirewallNotSupported,
    UnsupportedService,
    SourcePortsNotSupported,
    UnknownReference,
    InvalidAddress,
    AnyNotAlone,
    InvalidExpression,
    UnsupportedMemberType,
}

impl ViolationCode {
    /// The `error_code` of the 400 body.
    pub fn error_code(self) -> i64 {
        524_000
            + match self {
                ViolationCode::UnsupportedCategory => 1,
                ViolationCode::StatefulNotConfigurable => 2,
                ViolationCode::TcpStrictNotConfigurable => 3,
                ViolationCode::TimeWindowNotSupported => 4,
                ViolationCode::JumpToApplicationOutsideEnvironment => 5,
                ViolationCode::NegationNotSupported => 6,
                ViolationCode::ContextProfileNotSupported => 7,
                ViolationCode::NonAntreaGroup => 8,
                ViolationCode::IpAddressesInAppliedTo => 9,
                ViolationCode::GlobalGroupNotSupported => 10,
                ViolationCode::IdentityFirewallNotSupported => 11,
                ViolationCode::UnsupportedService => 12,
                ViolationCode::SourcePortsNotSupported => 13,
                ViolationCode::UnknownReference => 14,
                ViolationCode::InvalidAddress => 15,
                ViolationCode::AnyNotAlone => 16,
                ViolationCode::InvalidExpression => 17,
                ViolationCode::UnsupportedMemberType => 18,
            }
    }
}

/// One broken constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field, as a path into the submitted JSON: `category`, `rules[2].services[0]`,
    /// `expression[0].expressions[2]`.
    pub field: String,
    pub code: ViolationCode,
    /// What is wrong, without the field name.
    pub message: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, code: ViolationCode, message: impl Into<String>) -> Self {
        Violation {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A rejected object: every violation found, in field order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// Never empty.
    pub violations: Vec<Violation>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.violations.iter().map(Violation::to_string).collect();
        f.write_str(&messages.join("; "))
    }
}

impl ValidationError {
    /// The fields named, in order.
    pub fn fields(&self) -> Vec<&str> {
        self.violations.iter().map(|v| v.field.as_str()).collect()
    }

    /// The 400 body: the first violation on top; with several, all of them in `related_errors`.
    pub fn to_error_body(&self) -> NsxErrorBody {
        let related: Vec<NsxErrorBody> = if self.violations.len() > 1 {
            self.violations.iter().map(violation_body).collect()
        } else {
            Vec::new()
        };
        let mut body = self
            .violations
            .first()
            .map(violation_body)
            .unwrap_or_else(|| NsxErrorBody::bad_request(500_012, "invalid object"));
        body.related_errors = related;
        body
    }
}

fn violation_body(violation: &Violation) -> NsxErrorBody {
    let mut body = NsxErrorBody::bad_request(violation.code.error_code(), violation.to_string());
    body.details = Some(violation.field.clone());
    body
}

/// An NSX API error body. Clients read `error_code` and `error_message`; `httpStatus` is the
/// status name (`BAD_REQUEST`, `NOT_FOUND`, `PRECONDITION_FAILED`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsxErrorBody {
    #[serde(rename = "httpStatus")]
    pub http_status: String,
    pub error_code: i64,
    pub module_name: String,
    pub error_message: String,
    /// The field the error is about, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_errors: Vec<NsxErrorBody>,
}

impl NsxErrorBody {
    /// A body with module `Policy`.
    pub fn new(http_status: &str, error_code: i64, error_message: impl Into<String>) -> Self {
        NsxErrorBody {
            http_status: http_status.to_string(),
            error_code,
            module_name: "Policy".to_string(),
            error_message: error_message.into(),
            details: None,
            related_errors: Vec::new(),
        }
    }

    pub fn bad_request(error_code: i64, error_message: impl Into<String>) -> Self {
        NsxErrorBody::new("BAD_REQUEST", error_code, error_message)
    }
}

impl From<&ValidationError> for NsxErrorBody {
    fn from(error: &ValidationError) -> Self {
        error.to_error_body()
    }
}
