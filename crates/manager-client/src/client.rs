//! [`ManagerClient`]: one manager, one identity. It sends JSON requests to API paths (see
//! [`crate::api_paths`]), adds the credentials of [`ManagerAuth`] (logging in once for a
//! session), reads lists page by page (`cursor`), and maps errors to [`ClientError`].

use crate::credentials::{ManagerAuth, TlsTrust};
use crate::error::ClientError;
use crate::json_call::{call_json, encode_query_value, error_chain};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one request may take by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The cookie and XSRF token of a live session.
#[derive(Clone)]
struct SessionTokens {
    cookie: String,
    xsrf: String,
}

/// A client of one manager as one identity. Cheap to clone (the connection pool and the
/// session are shared).
#[derive(Clone)]
pub struct ManagerClient {
    http: reqwest::Client,
    base: String,
    auth: ManagerAuth,
    trust: TlsTrust,
    timeout: Duration,
    session: std::sync::Arc<OnceCell<SessionTokens>>,
}

impl std::fmt::Debug for ManagerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerClient")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl ManagerClient {
    /// A client of the manager at `base` (`https://host:port`, or `http://` for a local
    /// manager), proving itself with `auth` and trusting `trust`.
    pub fn new(base: &str, auth: &ManagerAuth, trust: &TlsTrust) -> Result<Self, ClientError> {
        let mut builder =
            trust.apply(reqwest::Client::builder().connect_timeout(Duration::from_secs(5)))?;
        if let ManagerAuth::Certificate { cert_pem, key_pem } = auth {
            let identity = reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes())
                .map_err(|e| {
                ClientError::Tls(format!("the client certificate and key: {e}"))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        Ok(ManagerClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            auth: auth.clone(),
            trust: trust.clone(),
            timeout: DEFAULT_REQUEST_TIMEOUT,
            session: Default::default(),
        })
    }

    /// The same client with another default request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `https://host:port`, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The server certificates this client trusts.
    pub fn trust(&self) -> &TlsTrust {
        &self.trust
    }

    /// The full URL of an API path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in once for [`ManagerAuth::Session`].
    async fn session_tokens(
        &self,
        user: &str,
        password: &str,
    ) -> Result<SessionTokens, ClientError> {
        self.session
            .get_or_try_init(|| async {
                let url = self.url("/api/session/create");
                let response = self
                    .http
                    .post(&url)
                    .timeout(self.timeout)
                    .form(&[("j_username", user), ("j_password", password)])
                    .send()
                    .await
                    .map_err(|e| ClientError::Transport {
                        method: "POST".into(),
                        url: url.clone(),
                        message: error_chain(&e),
                    })?;
                let status = response.status().as_u16();
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let cookie = header("set-cookie")
                    .and_then(|c| c.split(';').next().map(str::to_string))
                    .filter(|c| c.starts_with("JSESSIONID="));
                match (cookie, header("x-xsrf-token")) {
                    (Some(cookie), Some(xsrf)) if (200..300).contains(&status) => {
                        Ok(SessionTokens { cookie, xsrf })
                    }
                    _ => Err(ClientError::Status {
                        method: "POST".into(),
                        url,
                        status,
                        message: "the session was not created (wrong user or password?)".into(),
                    }),
                }
            })
            .await
            .cloned()
    }

    /// A request with this client's credentials and `timeout`.
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        timeout: Duration,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let builder = self.http.request(method, url).timeout(timeout);
        Ok(match &self.auth {
            ManagerAuth::Basic { user, password } => builder.basic_auth(user, Some(password)),
            ManagerAuth::Session { user, password } => {
                let tokens = self.session_tokens(user, password).await?;
                builder
                    .header("cookie", tokens.cookie)
                    .header("x-xsrf-token", tokens.xsrf)
            }
            ManagerAuth::Certificate { .. } => builder,
        })
    }

    /// Sends one request to `path` with an optional JSON body; the JSON answer.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let url = self.url(path);
        let mut request = self.request(method.clone(), &url, timeout).await?;
        if let Some(body) = body {
            request = request.json(body);
        }
        call_json(method.as_str(), &url, request).await
    }

    /// GET `path` (with its query); the JSON answer.
    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        self.send_json(reqwest::Method::GET, path, None, self.timeout)
            .await
    }

    /// GET `path`; the JSON answer, `Ok(None)` on 404.
    pub async fn get_json_optional(&self, path: &str) -> Result<Option<Value>, ClientError> {
        match self.get_json(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PUT `body` at `path`; the JSON answer.
    pub async fn put_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send_json(reqwest::Method::PUT, path, Some(body), self.timeout)
            .await
    }

    /// Every item of the list at `path`, following `cursor` to the last page.
    pub async fn list_json(&self, path: &str) -> Result<Vec<Value>, ClientError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let separator = if path.contains('?') { '&' } else { '?' };
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}{separator}cursor={}", encode_query_value(c)),
                None => path.to_string(),
            };
            let mut page = self.get_json(&page_path).await?;
            if let Some(Value::Array(results)) = page.get_mut("results").map(Value::take) {
                items.extend(results);
            }
            match page.get("cursor").and_then(Value::as_str) {
                Some(c) if !c.is_empty() && cursor.as_deref() != Some(c) => {
                    cursor = Some(c.to_string());
                }
                _ => return Ok(items),
            }
        }
    }
}
