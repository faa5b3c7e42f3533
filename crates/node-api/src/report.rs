//! What an agent tells the controller: the generation its Node's table holds (or why the last
//! one failed), the rule counters, and the DNS answers it snooped.

use crate::generation::Generation;
use crate::vocabulary::{Action, Direction};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A rule set the kernel refused: the table keeps the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealizationFailure {
    pub generation: Generation,
    pub message: String,
}

/// One rule counter of the Node's table. Established packets are accepted before any policy
/// chain, so a rule's counter sees the first packet of each connection it decides: `packets`
/// counts sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleCounter {
    /// `RuleEntry::id`, or the isolation rule id of Kubernetes NetworkPolicy isolation.
    pub rule_id: String,
    pub direction: Direction,
    pub action: Action,
    pub packets: u64,
    pub bytes: u64,
}

/// The addresses a name has in the Node's FQDN cache now; empty when it expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsMapping {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

/// One report of one agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    pub node: String,
    /// The generation the Node's table enforces (`None`: none received from this controller yet;
    /// the table found at start, if any, still enforces).
    #[serde(default)]
    pub realized: Option<Generation>,
    /// The last generation the agent could not realize, when it is newer than `realized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<RealizationFailure>,
    /// The rule counters, when the report answers a request for them (`counters_for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Vec<RuleCounter>>,
    /// The request this report answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters_for: Option<u64>,
    /// Every name the Node's FQDN cache holds now, with its addresses (a snapshot: a name
    /// that expired is left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<DnsMapping>,
    /// How the realization of `realized` went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_realization: Option<RealizationSummary>,
}

/// How an agent's realization of a rule set went: what `apply --testbed` prints per Node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealizationSummary {
    /// `Unchanged`, `Incremental`, `Full` (the table adopted) or `Replace` (made anew).
    pub mode: String,
    /// Commands in the transaction.
    pub commands: usize,
    pub elapsed_ms: u64,
    /// Rendering warnings (IPv6 members skipped, Pods without interface).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The error of a cheaper transaction that failed before this one repaired the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_from: Option<String>,
}
