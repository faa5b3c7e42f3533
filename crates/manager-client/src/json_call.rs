//! The one HTTP call every client of the workspace makes: send a request, read a JSON answer,
//! and turn an error status into a [`ClientError::Status`] carrying the server's own message
//! (`error` from the controller, `error_message` from the manager).

use crate::error::ClientError;
use serde_json::Value;

/// Sends `request` and returns the JSON body of a 2xx answer (`null` when the body is empty).
pub async fn call_json(
    method: &str,
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<Value, ClientError> {
    let transport = |e: reqwest::Error| ClientError::Transport {
        method: method.to_string(),
        url: url.to_string(),
        message: error_chain(&e),
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(transport)?;
    let body: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) if !(200..300).contains(&status) => Value::String(text.clone()),
            Err(e) => {
                return Err(ClientError::Answer {
                    method: method.to_string(),
                    url: url.to_string(),
                    message: format!("not JSON ({e}): {}", truncate(&text, 200)),
                });
            }
        }
    };
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let message = body
        .get("error")
        .or_else(|| body.get("error_message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| match &body {
            Value::String(s) => truncate(s, 500),
            other => truncate(&other.to_string(), 500),
        });
    Err(ClientError::Status {
        method: method.to_string(),
        url: url.to_string(),
        status,
        message,
    })
}

/// The error with its causes (reqwest's own message is terse: "error sending request").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &text[..cut])
}

/// Percent-encodes one query value (RFC 3986 unreserved characters stay).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value("ccp-adapter.antrea.tanzu.vmware.com/managedBy=ccp-adapter"),
            "ccp-adapter.antrea.tanzu.vmware.com%2FmanagedBy%3Dccp-adapter"
        );
        assert_eq!(truncate("abcdef", 3), "abc...");
    }
}
