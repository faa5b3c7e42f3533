//! The adapter of one cluster: it fetches the manager's policies and groups that span the
//! cluster, writes them as Antrea objects through the cluster's controller, overwrites drift, and
//! reports inventory, realization state and rule statistics back to the manager.
//!
//! ```text
//!  manager (HTTPS, client certificate CN = cluster id)          controller (HTTP, loopback)
//!    desired-state (long poll) ──> desired ──> translate ──> reconcile ──> PUT/DELETE /objects
//!    PUT inventory      <── inventory <──────────────────────────────────── GET /inventory
//!    PUT realization    <── reports (IN_PROGRESS / REALIZED / ERROR) <───── GET /status
//!    PUT group-members  <── reports (members from the inventory)
//!    PUT statistics     <── statistics (per NSX rule, baselines) <───────── GET /stats
//!    PUT status         <── heartbeat
//! ```
//!
//! The manager is reached through `tierwall_manager_client`; [`controller_client`] speaks HTTP
//! to the controller; [`desired`],
//! [`inventory`], [`reconcile`], [`reports`] and [`statistics`] are pure (tested without
//! servers); [`sync_loop`] ties them together in the long-running [`Adapter`].

pub mod controller_client;
pub mod desired;
pub mod error;
pub mod inventory;
pub mod reconcile;
pub mod reports;
pub mod statistics;
pub mod sync_loop;

pub use controller_client::ControllerClient;
pub use error::AdapterError;
pub use sync_loop::{Adapter, AdapterOptions, Logger};
