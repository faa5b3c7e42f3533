//! `Violation` (one failed check: field path + message) and builders for Kubernetes'
//! `field.Error` texts (`Invalid value: 0: ...`, `Required value`, `Unsupported value: "X":
//! supported values: "A", "B"`, `Forbidden: ...`) and for the OpenAPI schema messages the API
//! server returns for CRDs (`spec.priority in body should be greater than or equal to 1`).

use std::fmt::Write as _;

/// One failed admission check. `field` is the JSON path of the offending field (empty when
/// the check is not about one field); `message` is the exact text the real webhook or API
/// server returns for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// The result of one check.
pub type Check = Result<(), Violation>;

impl Violation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Go's `strconv.Quote` (`%q`) for the strings that occur in practice.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number as Kubernetes prints a decoded CR value: integral values as integers (the
/// API server decodes them as int64), others in Go's shortest form.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.fract() == 0.0 && v.abs() < 9.0e18 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `field.Invalid(path, value, detail)`; `value` is already formatted (use `quote` for strings).
pub fn invalid(path: impl Into<String>, value: impl std::fmt::Display, detail: &str) -> Violation {
    let mut message = format!("Invalid value: {value}");
    if !detail.is_empty() {
        let _ = write!(message, ": {detail}");
    }
    Violation::new(path, message)
}

/// `field.Invalid` with every message of one validation call joined by `"; "`.
pub fn invalid_all(
    path: impl Into<String>,
    value: impl std::fmt::Display,
    details: &[String],
) -> Violation {
    invalid(path, value, &details.join("; "))
}

/// `field.Required(path, detail)`.
pub fn required(path: impl Into<String>, detail: &str) -> Violation {
    if detail.is_empty() {
        Violation::new(path, "Required value")
    } else {
        Violation::new(path, format!("Required value: {detail}"))
    }
}

/// `field.Forbidden(path, detail)`.
pub fn forbidden(path: impl Into<String>, detail: &str) -> Violation {
    Violation::new(path, format!("Forbidden: {detail}"))
}

/// `field.NotSupported(path, value, supported)`; `value` is already formatted.
pub fn not_supported(
    path: impl Into<String>,
    value: impl std::fmt::Display,
    supported: &[&str],
) -> Violation {
    let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
    Violation::new(
        path,
        format!(
            "Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ),
    )
}

/// OpenAPI `minimum`: `Invalid value: <v>: <path> in body should be greater than or equal to <min>`.
pub fn below_minimum(path: &str, value: &str, min: &str) -> Violation {
    invalid(
        path,
        value,
        &format!("{path} in body should be greater than or equal to {min}"),
    )
}

/// OpenAPI `maximum`.
pub fn above_maximum(path: &str, value: &str, max: &str) -> Violation {
    invalid(
        path,
        value,
        &format!("{path} in body should be less than or equal to {max}"),
    )
}

/// OpenAPI `pattern`.
pub fn pattern_mismatch(path: &str, value: &str, pattern: &str) -> Violation {
    invalid(
        path,
        quote(value),
        &format!("{path} in body should match '{pattern}'"),
    )
}

/// OpenAPI `minimum`/`maximum` for an integer field.
pub fn int_range(path: &str, value: i64, min: i64, max: i64) -> Check {
    if value < min {
        return Err(below_minimum(path, &value.to_string(), &min.to_string()));
    }
    if value > max {
        return Err(above_maximum(path, &value.to_string(), &max.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_texts() {
        assert_eq!(
            invalid("spec.x", 80, "must be").message,
            "Invalid value: 80: must be"
        );
        assert_eq!(required("a", "").message, "Required value");
        assert_eq!(forbidden("a", "no").message, "Forbidden: no");
        assert_eq!(
            not_supported("p", quote("X"), &["TCP", "UDP"]).message,
            "Unsupported value: \"X\": supported values: \"TCP\", \"UDP\""
        );
        assert_eq!(
            int_range("spec.priority", 300, 0, 255).unwrap_err().message,
            "Invalid value: 300: spec.priority in body should be less than or equal to 255"
        );
        assert_eq!(quote("a\"b\n\u{1}"), "\"a\\\"b\\n\\x01\"");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(10001.0), "10001");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
