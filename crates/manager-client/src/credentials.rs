//! How a client proves who it is to the manager ([`ManagerAuth`]) and which server
//! certificates it trusts ([`TlsTrust`]). Neither prints keys or passwords in `Debug`.

/// How the client proves who it is.
#[derive(Clone)]
pub enum ManagerAuth {
    /// HTTP Basic credentials on every request.
    Basic { user: String, password: String },
    /// An NSX session: `POST /api/session/create` once (form `j_username`, `j_password`), then
    /// the `JSESSIONID` cookie and the `X-XSRF-TOKEN` header on every request.
    Session { user: String, password: String },
    /// A client certificate and its key (PEM): a principal identity (CN = cluster id).
    Certificate { cert_pem: String, key_pem: String },
}

impl std::fmt::Debug for ManagerAuth {
    /// Never prints keys or passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManagerAuth::Basic { user, .. } => write!(f, "Basic({user}, <password>)"),
            ManagerAuth::Session { user, .. } => write!(f, "Session({user}, <password>)"),
            ManagerAuth::Certificate { .. } => f.write_str("Certificate(<client certificate>)"),
        }
    }
}

/// Which server certificates an HTTPS client trusts (a plain `http://` manager needs none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsTrust {
    /// The system's root certificates.
    #[default]
    System,
    /// Only this CA (PEM), e.g. the manager's self-signed certificate.
    CaPem(String),
}

impl TlsTrust {
    /// Applies the trust to a client builder.
    pub(crate) fn apply(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, crate::ClientError> {
        Ok(match self {
            TlsTrust::System => builder,
            TlsTrust::CaPem(pem) => {
                let ca = reqwest::Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| crate::ClientError::Tls(format!("the manager's CA: {e}")))?;
                builder.tls_certs_only([ca])
            }
        })
    }
}
