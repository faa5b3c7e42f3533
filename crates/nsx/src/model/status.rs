//! Realization state (`ConsolidatedRealizedStatus` and the per-cluster report an adapter sends),
//! rule and policy statistics per enforcement point / container cluster, and the effective members
//! of a group as the group-members endpoint lists them.

use super::common::ExtraFields;
use super::service::L4Protocol;
use serde::{Deserialize, Serialize};

/// `GET /infra/realized-state/status?intent_path=…`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsolidatedRealizedStatus {
    #[serde(default)]
    pub intent_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_version: Option<String>,
    /// `UNAVAILABLE` | `UNREALIZED` | `REALIZED` | `ERROR`.
    #[serde(default)]
    pub publish_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidated_status: Option<ConsolidatedStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consolidated_status_per_enforcement_point: Vec<ConsolidatedStatusPerEnforcementPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_time: Option<i64>,
    /// -1 while in progress or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_taken_for_realization: Option<i64>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// `{consolidated_status: SUCCESS | IN_PROGRESS | ERROR | UNKNOWN | UNINITIALIZED | …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsolidatedStatus {
    pub consolidated_status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsolidatedStatusPerEnforcementPoint {
    #[serde(default = "per_enforcement_point_type")]
    pub resource_type: String,
    #[serde(default)]
    pub enforcement_point_id: String,
    #[serde(default)]
    pub enforcement_point_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidated_status: Option<ConsolidatedStatus>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

fn per_enforcement_point_type() -> String {
    "ConsolidatedStatusPerEnforcementPoint".to_string()
}

/// What an adapter reports about its cluster: one entry per managed ACNP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealizationReport {
    pub container_cluster_path: String,
    #[serde(default)]
    pub policies: Vec<PolicyRealization>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// The realization of one NSX policy in one cluster (from the ACNP status).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyRealization {
    pub policy_path: String,
    /// `Realized`, `Pending` or `Failed` (the ACNP `status.phase`).
    pub phase: String,
    #[serde(default)]
    pub current_nodes_realized: u32,
    #[serde(default)]
    pub desired_nodes_realized: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Counters of one rule in one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStatistics {
    /// The rule's path.
    #[serde(default)]
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_rule_id: Option<String>,
    #[serde(default)]
    pub hit_count: u64,
    #[serde(default)]
    pub packet_count: u64,
    #[serde(default)]
    pub byte_count: u64,
    #[serde(default)]
    pub session_count: u64,
    #[serde(default)]
    pub popularity_index: u64,
    #[serde(default)]
    pub max_popularity_index: u64,
    #[serde(default)]
    pub max_session_count: u64,
    #[serde(default)]
    pub total_session_count: u64,
    #[serde(default)]
    pub l7_accept_count: u64,
    #[serde(default)]
    pub l7_reject_count: u64,
    #[serde(default)]
    pub l7_reject_with_response_count: u64,
}

/// `SecurityPolicyStatistics`: the rule counters of one policy at one enforcement point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityPolicyStatistics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_section_id: Option<String>,
    #[serde(default)]
    pub result_count: u64,
    #[serde(default)]
    pub results: Vec<RuleStatistics>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityPolicyStatisticsForEnforcementPoint {
    #[serde(default)]
    pub enforcement_point: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_cluster_path: Option<String>,
    pub statistics: SecurityPolicyStatistics,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityPolicyStatisticsListResult {
    pub results: Vec<SecurityPolicyStatisticsForEnforcementPoint>,
    #[serde(default)]
    pub result_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleStatisticsForEnforcementPoint {
    #[serde(default)]
    pub enforcement_point: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_cluster_path: Option<String>,
    pub statistics: RuleStatistics,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleStatisticsListResult {
    pub results: Vec<RuleStatisticsForEnforcementPoint>,
    #[serde(default)]
    pub result_count: u64,
}

/// One effective member of a group: an IP (or CIDR/range), optionally with a protocol and port
/// (a NodePort Service is node IP + nodePort).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupMember {
    pub ip_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<L4Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl GroupMember {
    pub fn ip(ip_address: impl Into<String>) -> Self {
        GroupMember {
            ip_address: ip_address.into(),
            protocol: None,
            port: None,
        }
    }

    pub fn ip_port(ip_address: impl Into<String>, protocol: L4Protocol, port: u16) -> Self {
        GroupMember {
            ip_address: ip_address.into(),
            protocol: Some(protocol),
            port: Some(port),
        }
    }
}

/// The group-members list envelope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMemberList {
    pub results: Vec<GroupMember>,
    pub result_count: u64,
}
