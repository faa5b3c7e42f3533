//! The contract between the controller and its Nodes. The controller computes each Node's
//! [`NodeRuleSet`] and sends it, then its changes, each with a [`Generation`], over a stream
//! ([`stream`]); the agent of the Node programs it and answers with a [`NodeReport`]. Nothing of
//! the engine is inside: a Node needs only this crate to understand its controller.
//!
//! ```text
//!  controller ──StreamMessage::Full{generation, rule_set}──> agent     (on connect)
//!             ──StreamMessage::Delta{base, generation, delta}──>        (per change)
//!             <──NodeReport{realized | failed, counters, dns}──
//! ```

pub mod decide;
pub mod delta;
pub mod generation;
pub mod report;
pub mod rule_set;
pub mod stream;
pub mod vocabulary;

pub use decide::{NodeDecision, NodePacket};
pub use delta::{DeltaError, RuleSetDelta};
pub use generation::Generation;
pub use report::{DnsMapping, NodeReport, RealizationFailure, RealizationSummary, RuleCounter};
pub use rule_set::{DirectionRules, LocalPod, NodeRuleSet, PeerAddresses, PortRule, RuleEntry};
pub use stream::StreamMessage;
pub use vocabulary::{Action, BASELINE_TIER_PRIORITY, Direction, L4Protocol, PolicyRef, Transport};
