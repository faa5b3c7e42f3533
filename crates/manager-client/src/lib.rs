//! The one typed client of the manager's NSX Policy REST API, used by the adapter
//! (`tierwall adapter`) and by `tierwall nsx`.
//!
//! ```text
//!  ManagerClient (base URL, ManagerAuth: Basic | Session | Certificate, TlsTrust: System | CaPem)
//!    get_json / list_json (cursor pages) / put_json           raw API objects, as stored
//!    groups / services / security_policy / container_cluster_spans / cluster_inventory
//!                                                              tierwall-nsx model types
//!  ClusterControlPlaneClient (ManagerClient + cluster id)      the adapter's side
//!    desired_state (long poll) / put_report / register
//!  api_paths                                                   the API's URL paths
//!  call_json                                                   one JSON request → ClientError
//! ```
//!
//! Errors are [`ClientError`]s naming the request (method, URL) and, for an error answer, the
//! status and the server's own message.

pub mod api_paths;
mod client;
mod cluster_control_plane;
mod credentials;
mod error;
mod json_call;
mod policy_reads;

pub use client::{DEFAULT_REQUEST_TIMEOUT, ManagerClient};
pub use cluster_control_plane::{
    ClusterControlPlaneClient, DesiredStateAnswer, Registration, ReportKind,
};
pub use credentials::{ManagerAuth, TlsTrust};
pub use error::ClientError;
pub use json_call::{call_json, encode_query_value};
pub use policy_reads::object_id;
