//! Who is calling, and what they may do: users with passwords and roles, NSX-style sessions
//! (`POST /api/session/create`), HTTP Basic, and principal identities proven by a client
//! certificate (one per adapter, CN = cluster id).
//!
//! ```text
//!  request ──► client certificate registered for cluster C? ──► Principal::Adapter(C)
//!          ──► Cookie JSESSIONID (+ X-XSRF-TOKEN on writes) ──► the session's user
//!          ──► Authorization: Basic ────────────────────────► the user
//!          ──► nothing: 401; wrong credentials: 403
//! ```
//!
//! Roles: `enterprise_admin` may do everything; `auditor` may only read; an adapter may only
//! touch its own cluster (`…/cluster-control-planes/{C}` and what lies below it). Passwords and
//! session tokens are never logged and never appear in `Debug` output.

use base64::Engine as _;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The prefix of every cluster-control-plane path.
pub const CLUSTER_CONTROL_PLANES: &str =
    "/infra/sites/default/enforcement-points/default/cluster-control-planes";
/// Idle time after which a session expires (NSX's default).
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(1800);

/// A role of a local user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Full access.
    EnterpriseAdmin,
    /// Read-only access.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::EnterpriseAdmin => "enterprise_admin",
            Role::Auditor => "auditor",
        }
    }
}

/// A local user. `Debug` hides the password.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    pub role: Role,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A local user.
    User { name: String, role: Role },
    /// The principal identity of the adapter of one cluster (certificate CN = cluster id).
    Adapter { cluster: String },
}

impl Principal {
    /// The name written into `_create_user` / `_last_modified_user`.
    pub fn name(&self) -> &str {
        match self {
            Principal::User { name, .. } => name,
            Principal::Adapter { cluster } => cluster,
        }
    }

    /// Whether the caller may make this request (`path` is the policy path, `/infra/...`).
    pub fn may(&self, method: &axum::http::Method, path: &str) -> bool {
        let read = matches!(method.as_str(), "GET" | "HEAD");
        match self {
            Principal::User {
                role: Role::EnterpriseAdmin,
                ..
            } => true,
            Principal::User {
                role: Role::Auditor,
                ..
            } => read,
            Principal::Adapter { cluster } => {
                let own = format!("{CLUSTER_CONTROL_PLANES}/{cluster}");
                if path == own {
                    return read;
                }
                path.starts_with(&format!("{own}/"))
            }
        }
    }
}

/// The result of checking credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    Authenticated(Principal),
    /// No credentials were given.
    Missing,
    /// Credentials were given and are wrong (or a session token is unknown or expired).
    Rejected(&'static str),
}

struct Session {
    user: String,
    role: Role,
    xsrf: String,
    last_used: Instant,
}

/// Local users and live sessions.
pub struct Authenticator {
    users: Vec<User>,
    sessions: Mutex<HashMap<String, Session>>,
}

/// A new session: the cookie value and the XSRF token.
pub struct NewSession {
    pub id: String,
    pub xsrf: String,
}

impl Authenticator {
    pub fn new(users: Vec<User>) -> Authenticator {
        Authenticator {
            users,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn check_password(&self, name: &str, password: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.name == name && constant_time_eq(u.password.as_bytes(), password.as_bytes())
        })
    }

    /// Creates a session for a user with the right password.
    pub fn login(&self, name: &str, password: &str) -> Option<NewSession> {
        let user = self.check_password(name, password)?;
        let id = random_token();
        let xsrf = random_token();
        let mut sessions = self.sessions.lock().ok()?;
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE_TIMEOUT);
        sessions.insert(
            id.clone(),
            Session {
                user: user.name.clone(),
                role: user.role,
                xsrf: xsrf.clone(),
                last_used: now,
            },
        );
        Some(NewSession { id, xsrf })
    }

    /// Ends a session.
    pub fn logout(&self, id: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(id);
        }
    }

    /// Checks the credentials of a request: session cookie (with the XSRF token on writes) or
    /// Basic. Client certificates are checked by the caller, before this.
    pub fn authenticate(&self, headers: &axum::http::HeaderMap, write: bool) -> AuthOutcome {
        if let Some(id) = session_cookie(headers) {
            let mut sessions = match self.sessions.lock() {
                Ok(s) => s,
                Err(_) => return AuthOutcome::Rejected("session table unavailable"),
            };
            let now = Instant::now();
            return match sessions.get_mut(&id) {
                Some(s) if now.duration_since(s.last_used) < SESSION_IDLE_TIMEOUT => {
                    let token = headers
                        .get("x-xsrf-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if write && !constant_time_eq(token.as_bytes(), s.xsrf.as_bytes()) {
                        return AuthOutcome::Rejected("missing or wrong X-XSRF-TOKEN");
                    }
                    s.last_used = now;
                    AuthOutcome::Authenticated(Principal::User {
                        name: s.user.clone(),
                        role: s.role,
                    })
                }
                _ => AuthOutcome::Rejected("the session has expired or does not exist"),
            };
        }
        if let Some(value) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let Some(encoded) = value.strip_prefix("Basic ") else {
                return AuthOutcome::Rejected("unsupported Authorization scheme");
            };
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
            else {
                return AuthOutcome::Rejected("malformed Basic credentials");
            };
            let text = String::from_utf8_lossy(&decoded);
            let Some((name, password)) = text.split_once(':') else {
                return AuthOutcome::Rejected("malformed Basic credentials");
            };
            return match self.check_password(name, password) {
                Some(u) => AuthOutcome::Authenticated(Principal::User {
                    name: u.name.clone(),
                    role: u.role,
                }),
                None => AuthOutcome::Rejected(
                    "The credentials were incorrect or the account specified has been locked.",
                ),
            };
        }
        AuthOutcome::Missing
    }
}

/// The `JSESSIONID` value of the Cookie headers.
fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == "JSESSIONID")
        .map(|(_, v)| v.trim().to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes, hex encoded.
fn random_token() -> String {
    let mut b = [0u8; 32];
    if getrandom::fill(&mut b).is_err() {
        // No entropy: a UUID from the store's generator still carries the clock.
        return crate::store::random_uuid().replace('-', "");
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, Method};

    fn auth() -> Authenticator {
        Authenticator::new(vec![
            User {
                name: "admin".into(),
                password: "s3cret".into(),
                role: Role::EnterpriseAdmin,
            },
            User {
                name: "audit".into(),
                password: "look".into(),
                role: Role::Auditor,
            },
        ])
    }

    fn basic(user: &str, pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {v}")).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn basic_and_sessions_authenticate_and_debug_hides_passwords() {
        let a = auth();
        assert_eq!(
            a.authenticate(&basic("admin", "s3cret"), true),
            AuthOutcome::Authenticated(Principal::User {
                name: "admin".into(),
                role: Role::EnterpriseAdmin
            })
        );
        assert!(matches!(
            a.authenticate(&basic("admin", "nope"), false),
            AuthOutcome::Rejected(_)
        ));
        assert_eq!(
            a.authenticate(&HeaderMap::new(), false),
            AuthOutcome::Missing
        );
        let s = a
            .login("audit", "look")
            .unwrap_or_else(|| panic!("login failed"));
        let mut h = HeaderMap::new();
        let cookie = format!("other=1; JSESSIONID={}", s.id);
        h.insert(
            "cookie",
            HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("")),
        );
        assert!(matches!(
            a.authenticate(&h, false),
            AuthOutcome::Authenticated(_)
        ));
        assert!(matches!(a.authenticate(&h, true), AuthOutcome::Rejected(_)));
        h.insert(
            "x-xsrf-token",
            HeaderValue::from_str(&s.xsrf).unwrap_or(HeaderValue::from_static("")),
        );
        assert!(matches!(
            a.authenticate(&h, true),
            AuthOutcome::Authenticated(_)
        ));
        a.logout(&s.id);
        assert!(matches!(
            a.authenticate(&h, false),
            AuthOutcome::Rejected(_)
        ));
        assert!(a.login("audit", "wrong").is_none());
        assert!(!format!("{:?}", a.users).contains("s3cret"));
    }

    #[test]
    fn roles_limit_what_a_caller_may_do() {
        let auditor = Principal::User {
            name: "a".into(),
            role: Role::Auditor,
        };
        let groups = "/infra/domains/default/groups/g";
        assert!(auditor.may(&Method::GET, groups));
        assert!(!auditor.may(&Method::PUT, groups));
        let adapter = Principal::Adapter {
            cluster: "c1".into(),
        };
        let own = format!("{CLUSTER_CONTROL_PLANES}/c1");
        assert!(adapter.may(&Method::GET, &own));
        assert!(!adapter.may(&Method::PUT, &own));
        assert!(adapter.may(&Method::PUT, &format!("{own}/statistics")));
        assert!(!adapter.may(
            &Method::PUT,
            &format!("{CLUSTER_CONTROL_PLANES}/c2/statistics")
        ));
        assert!(!adapter.may(
            &Method::PUT,
            &format!("{CLUSTER_CONTROL_PLANES}/c10/statistics")
        ));
        assert!(!adapter.may(&Method::GET, groups));
    }
}
