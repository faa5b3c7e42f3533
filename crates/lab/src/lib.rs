//! The lab: tierwall on real packets. It is the one wiring of a testbed (network namespaces)
//! to the controller and the Nodes' agents, used by the demo, `scenario run --dataplane`,
//! `trace --live` (`LiveCluster`) and `controller --testbed` (`controller_dataplane`). Either
//! way the controller publishes every Node's rule set into the index, the Node stream (HTTP/2,
//! mutual TLS) carries it to the agents (`node_agents`: the same `tierwall agent` code as
//! processes or as tasks), and their reports say what is enforced.
//!
//! ```text
//!  Engine ──> Controller ──publish──> RuleSetIndex ══stream══> agent (one per Node)
//!      agent: TableWriter ──netlink/nft──> node netns · NFLOG ──> np.log · DNS answers ──> FQDN
//!      cache ──reports (realized | failed, counters, DNS names)──> status, stats, FQDN peers
//! ```
//!
//! `persisted` keeps a detached testbed's objects; `testbed up` and `apply --testbed` without
//! a running controller program its Nodes once over the same stream (`program_once`).

pub mod controller_dataplane;
pub mod controller_record;
pub mod demo;
pub mod error;
pub mod fqdn;
pub mod live;
pub mod metrics;
pub mod node_agents;
pub mod persisted;
pub mod program_once;
pub mod scenario_dataplane;
pub mod stats;
pub mod traceflow;

pub use error::LiveError;
pub use live::{LiveCluster, LiveOptions, RuleStats};
