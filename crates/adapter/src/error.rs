//! Errors of the adapter: talking to the manager or the controller, reading their answers, and
//! the translation that cannot run at all.

/// Everything that can go wrong in one step of the adapter. A step that fails is retried on the
/// next tick; none of these stop the adapter.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The request could not be sent or its answer not read (connection refused, TLS, timeout).
    #[error("{service}: {method} {url}: {message}")]
    Transport {
        service: &'static str,
        method: String,
        url: String,
        message: String,
    },
    /// The server answered with an error status.
    #[error("{service}: {method} {url}: HTTP {status}: {message}")]
    Status {
        service: &'static str,
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    /// The answer is not what the API documents.
    #[error("{service}: {url}: unexpected answer: {message}")]
    Answer {
        service: &'static str,
        url: String,
        message: String,
    },
    /// TLS material (certificate, key, CA) that cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The translation refused the whole intent (see `tierwall_nsx::translate::TranslateError`).
    #[error("translation: {0}")]
    Translate(#[from] tierwall_nsx::translate::TranslateError),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
}

impl AdapterError {
    /// The HTTP status of a [`AdapterError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            AdapterError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's own message of a [`AdapterError::Status`] (its `error` or
    /// `error_message`), else the whole error text.
    pub fn server_message(&self) -> String {
        match self {
            AdapterError::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}
