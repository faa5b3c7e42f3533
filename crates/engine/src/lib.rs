//! The tierwall policy engine: pure and synchronous. It holds the desired state of a cluster
//! (`Store`), admits objects (validation and mutation, as Antrea's webhooks do), indexes the
//! cluster (`Cluster`), compiles every policy into one ordered rule table (`RuleTable`) and
//! decides any flow, explaining which tier, policy and rule decided it (`Evaluator`).
//!
//! ```text
//!  Object ──admission──> Store ──> Cluster (pods, namespaces, nodes, services, groups, tiers)
//!                          └────> compile ──> RuleTable (tier, priority, rule index)
//!  probe ──resolve (DNAT)──> egress at source ──> ingress at destination ──> Verdict
//! ```

pub mod admission;
pub mod cidr;
pub mod classifier;
pub mod cluster;
pub mod compile;
pub mod engine;
pub mod evaluate;
pub mod matching;
pub mod policy_evaluation;
pub mod ruleset;
pub mod status;
pub mod store;
pub mod table;

pub use engine::{Applied, Engine, Ingested};
pub use evaluate::{Decision, Outcome, ProbeTransport, Source, Target, Verdict};
pub use store::Store;
