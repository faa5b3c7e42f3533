//! Cells of the `tierwall nsx get` tables read from the API's JSON objects: a list, a string, a
//! number (`-` when absent), a display name (the id when empty), a boolean as `true`/`false`.

use serde_json::Value;
pub use tierwall_manager_client::api_paths::last_segment;

/// The list at `key` (empty when absent).
pub fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The string at `key` (empty when absent).
pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The string at `key`, `default` when absent.
pub fn text_or(v: &Value, key: &str, default: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_string()
}

/// A number cell (`-` when absent).
pub fn number(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "-".to_string(),
    }
}

/// The display name, the id when it is empty.
pub fn display_name(v: &Value) -> String {
    match v.get("display_name").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => text(v, "id").to_string(),
    }
}

/// `true`/`false` of the boolean at `key` (`default` when absent).
pub fn yes_no(v: &Value, key: &str, default: bool) -> &'static str {
    if v.get(key).and_then(Value::as_bool).unwrap_or(default) {
        "true"
    } else {
        "false"
    }
}
