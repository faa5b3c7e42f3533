//! Shared test helpers: a real manager on 127.0.0.1 (port 0) with a store in a temp dir, and a
//! reqwest client with Basic credentials.

#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use tierwall_manager::auth::{Role, User};
use tierwall_manager::server::{RunningServer, ServerConfig, start};
use tierwall_manager::tls::TlsFiles;

pub const BASE: &str = "/policy/api/v1/infra";
pub const CCP: &str =
    "/policy/api/v1/infra/sites/default/enforcement-points/default/cluster-control-planes";

pub fn users() -> Vec<User> {
    let u = |n: &str, p: &str, role| User {
        name: n.into(),
        password: p.into(),
        role,
    };
    vec![
        u("admin", "admin-pw", Role::EnterpriseAdmin),
        u("alice", "alice-pw", Role::EnterpriseAdmin),
        u("bob", "bob-pw", Role::EnterpriseAdmin),
        u("audit", "audit-pw", Role::Auditor),
    ]
}

pub async fn serve(dir: &Path, tls: Option<TlsFiles>) -> RunningServer {
    start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        data_dir: dir.to_path_buf(),
        tls,
        users: users(),
    })
    .await
    .unwrap_or_else(|e| panic!("start: {e}"))
}

/// A small client bound to one server and one user.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub user: Option<(String, String)>,
}

impl Api {
    pub fn new(base: String, user: Option<(&str, &str)>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base,
            user: user.map(|(u, p)| (u.to_string(), p.to_string())),
        }
    }

    pub fn as_user(&self, user: &str, password: &str) -> Api {
        Api {
            http: self.http.clone(),
            base: self.base.clone(),
            user: Some((user.into(), password.into())),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((u, p)) = &self.user {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path}: non-JSON body {text:?}: {e}"))
        };
        (status, value)
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert_eq!(status, 200, "{method} {path}: {v}");
        v
    }
}
