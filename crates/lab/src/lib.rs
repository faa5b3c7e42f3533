//! The lab: tierwall on real packets. It wires a testbed (network namespaces) to the controller
//! and the Nodes' agents for the demo, `scenario run --dataplane`, `controller --testbed` and
//! `apply/delete --testbed`. `LiveCluster` is a testbed whose Nodes are enforced by nftables
//! table writers that the controller feeds with per-Node rule sets; every Node's NFLOG group is
//! read into an np.log file, and named counters give per-rule statistics. `controller_dataplane`
//! runs the Nodes' agents as processes fed over the Node stream (`agent_processes`).
//!
//! ```text
//!  Engine ──> Controller ──NodeRuleSet──> NodeHandle (dataplane::TableWriter) ──nft -j──> node netns
//!                                              │ log_rules (prefix → rule)
//!  node netns NFLOG ──nflog::spawn_reader──> AuditWriter ──np.log format──> <dir>/<node>/np.log
//!  node netns DNS answers ──NFLOG group 53──> fqdn (snooper, FQDN cache) ──> Engine::set_dns
//! ```

pub mod agent_processes;
pub mod controller_dataplane;
pub mod controller_record;
pub mod demo;
pub mod error;
pub mod fqdn;
pub mod live;
pub mod metrics;
pub mod persisted;
pub mod pod_names;
pub mod scenario_dataplane;
pub mod stats;
pub mod traceflow;

pub use error::LiveError;
pub use live::{LiveCluster, LiveOptions, RuleStats};
pub use pod_names::pod_names;
