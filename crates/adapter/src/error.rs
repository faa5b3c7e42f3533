//! Errors of the adapter: talking to the manager or the controller, reading their answers, and
//! the translation that cannot run at all.

use tierwall_manager_client::ClientError;

/// Everything that can go wrong in one step of the adapter. A step that fails is retried on the
/// next tick; none of these stop the adapter.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A request to the manager failed (see [`ClientError`]).
    #[error("manager: {0}")]
    Manager(ClientError),
    /// A request to the cluster's controller failed (see [`ClientError`]).
    #[error("controller: {0}")]
    Controller(ClientError),
    /// An answer of the manager or the controller is not what the API documents.
    #[error("{service}: {url}: unexpected answer: {message}")]
    Answer {
        service: &'static str,
        url: String,
        message: String,
    },
    /// The translation refused the whole intent (see `tierwall_nsx::translate::TranslateError`).
    #[error("translation: {0}")]
    Translate(#[from] tierwall_nsx::translate::TranslateError),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
}

impl AdapterError {
    /// The HTTP status of an error answer of the manager or the controller.
    pub fn status(&self) -> Option<u16> {
        match self {
            AdapterError::Manager(e) | AdapterError::Controller(e) => e.status(),
            _ => None,
        }
    }

    /// The server's own message of an error answer (its `error` or `error_message`), else the
    /// whole error text.
    pub fn server_message(&self) -> String {
        match self {
            AdapterError::Manager(e) | AdapterError::Controller(e) => e.server_message(),
            other => other.to_string(),
        }
    }
}
