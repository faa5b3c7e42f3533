//! The agent's side of mutual TLS: its Node identity (`tls.crt`, `tls.key`) and the controller's
//! CA (`ca.crt`), as `tierwall controller` issues them, in one directory; an HTTP/2 client that
//! trusts only that CA.

use std::path::Path;
use std::time::Duration;

/// The HTTPS client of one Node.
pub fn node_client(identity_dir: &Path) -> Result<reqwest::Client, String> {
    let read = |name: &str| {
        let path = identity_dir.join(name);
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let (cert, key, ca) = (read("tls.crt")?, read("tls.key")?, read("ca.crt")?);
    let mut pem = cert;
    pem.extend_from_slice(&key);
    let identity = reqwest::Identity::from_pem(&pem)
        .map_err(|e| format!("{}: {e}", identity_dir.join("tls.crt").display()))?;
    let ca = reqwest::Certificate::from_pem(&ca)
        .map_err(|e| format!("{}: {e}", identity_dir.join("ca.crt").display()))?;
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(identity)
        .https_only(true)
        .http2_prior_knowledge()
        .http2_keep_alive_interval(Duration::from_secs(10))
        .http2_keep_alive_timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("HTTPS client: {e}"))
}
