//! Errors of one request to the manager (or any JSON-over-HTTP server the adapter talks to):
//! each names the request (method and URL) and, for an error answer, its status and the
//! server's own message.

/// What went wrong with one request, or with building the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or its answer not read (connection refused, TLS, timeout).
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },
    /// The server answered with an error status; `message` is its own (`error_message` of the
    /// manager, `error` of the controller) or the start of the body.
    #[error("{method} {url}: {status}: {message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    /// The answer is not what the API documents (not JSON, not the expected object).
    #[error("{method} {url}: unexpected answer: {message}")]
    Answer {
        method: String,
        url: String,
        message: String,
    },
    /// TLS material (certificate, key, CA) that cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The cluster is registered with another certificate than the one offered.
    #[error(
        "cluster {cluster_id} is registered with another certificate (certificate conflict with clusterControlPlane {cluster_id})"
    )]
    CertificateConflict { cluster_id: String },
}

impl ClientError {
    /// The HTTP status of a [`ClientError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's own message of a [`ClientError::Status`], else the whole error text.
    pub fn server_message(&self) -> String {
        match self {
            ClientError::Status { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}
