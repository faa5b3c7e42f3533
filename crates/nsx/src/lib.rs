//! NSX-style distributed-firewall objects (Groups, Security Policies, Rules, Services), the
//! validation of policies that span Antrea clusters, and their translation to Antrea Tiers,
//! ClusterNetworkPolicies and ClusterGroups.
//!
//! ```text
//!  manager store (NSX JSON) ──serde──> model::{Group, SecurityPolicy, Service}
//!        │                                   │
//!        │ PUT / PATCH                        │ span::policies_for_cluster
//!        v                                   v
//!  validate::validate_security_policy   translate::translate_for_cluster ──> DesiredObjects
//!  validate::validate_group  (400 body)       (nsx-category-* Tiers, ACNPs, ClusterGroups)
//!                                        members::resolve_group_members (inventory ──> IPs, IP+port)
//!                                        dfw_trace::trace_flow (one flow through the DFW, explained)
//! ```
//!
//! Everything here is pure and synchronous: no I/O, no clock, deterministic output.

pub mod dfw_trace;
pub mod expression;
pub mod ip;
pub mod members;
pub mod model;
pub mod span;
pub mod translate;
pub mod validate;
pub mod workload;
