//! The central firewall manager: an fsynced embedded store of NSX-style policy objects, the NSX
//! Policy REST API over HTTP(S), sessions, basic auth and client certificates, and roles.
//!
//! ```text
//!  server (TLS, client certs) ──► api (axum: objects, hierarchy, runtime) ──► store (redb)
//!                                   │ auth: sessions, Basic, adapter principals, roles
//!                                   └ tierwall_nsx::validate for policies spanning Antrea clusters
//! ```

pub mod api;
pub mod auth;
pub mod error;
pub mod server;
pub mod store;
pub mod tls;
