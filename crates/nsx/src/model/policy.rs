//! `SecurityPolicy` (`/infra/domains/{domain}/security-policies/{id}`), its inline `Rule`s, the
//! `container-cluster-span` child that ties a policy to Antrea clusters, and the cluster
//! registration object `ClusterControlPlane`.

use super::common::{ExtraFields, ResourceMeta};
use super::service::ServiceEntry;
use serde::{Deserialize, Serialize};

/// A DFW security policy with its rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityPolicy {
    #[serde(flatten)]
    pub meta: ResourceMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_sequence_number: Option<i64>,
    /// Policy-level Applied To (group paths, or container-cluster paths); wins over rule scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateful: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_strict: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_modified_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_modified_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// A time window; not supported on Antrea clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity_preference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectivity_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_enabled: Option<bool>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl SecurityPolicy {
    /// `sequence_number`, 0 when omitted.
    pub fn sequence_number(&self) -> i64 {
        self.sequence_number.unwrap_or(0)
    }

    /// The object path, or `/infra/domains/default/security-policies/<id>`.
    pub fn path_or_default(&self) -> String {
        self.meta
            .path
            .clone()
            .unwrap_or_else(|| format!("/infra/domains/default/security-policies/{}", self.meta.id))
    }

    /// The rules in evaluation order: by `sequence_number`, ties kept in array order.
    pub fn ordered_rules(&self) -> Vec<(usize, &Rule)> {
        let mut rules: Vec<(usize, &Rule)> = self.rules.iter().enumerate().collect();
        rules.sort_by_key(|(index, rule)| (rule.sequence_number(), *index));
        rules
    }
}

/// DFW categories, in evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    Ethernet,
    Emergency,
    Infrastructure,
    Environment,
    Application,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Ethernet,
        Category::Emergency,
        Category::Infrastructure,
        Category::Environment,
        Category::Application,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Ethernet => "Ethernet",
            Category::Emergency => "Emergency",
            Category::Infrastructure => "Infrastructure",
            Category::Environment => "Environment",
            Category::Application => "Application",
        }
    }

    /// The Antrea tier the adapter creates for the category: `nsx-category-<lowercase>`.
    pub fn tier_name(self) -> String {
        format!("nsx-category-{}", self.as_str().to_ascii_lowercase())
    }

    /// The tier priority seen in every capture: ethernet 0 … application 4.
    pub fn tier_priority(self) -> i32 {
        match self {
            Category::Ethernet => 0,
            Category::Emergency => 1,
            Category::Infrastructure => 2,
            Category::Environment => 3,
            Category::Application => 4,
        }
    }

    /// The category code `c` of the ACNP priority `1 + (20,000,000·c + k)·2⁻⁵⁰`; Ethernet has none
    /// (Antrea takes no L2 rules).
    pub fn priority_code(self) -> Option<u64> {
        match self {
            Category::Ethernet => None,
            Category::Emergency => Some(0),
            Category::Infrastructure => Some(1),
            Category::Environment => Some(2),
            Category::Application => Some(3),
        }
    }
}

/// One rule of a policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(flatten)]
    pub meta: ResourceMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources_excluded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinations_excluded: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_entries: Vec<ServiceEntry>,
    /// Rule-level Applied To; the policy `scope` takes precedence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RuleAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_protocol: Option<IpProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The log label (a string, not the `tags` list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
    /// System-assigned number; becomes the ACNP rule `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<i64>,
    /// L7 context profiles; not supported on Antrea clusters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Rule {
    /// `action`, ALLOW when omitted.
    pub fn action(&self) -> RuleAction {
        self.action.unwrap_or(RuleAction::Allow)
    }

    /// `direction`, IN_OUT when omitted.
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or(Direction::InOut)
    }

    pub fn logged(&self) -> bool {
        self.logged.unwrap_or(false)
    }

    pub fn disabled(&self) -> bool {
        self.disabled.unwrap_or(false)
    }

    pub fn sequence_number(&self) -> i64 {
        self.sequence_number.unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleAction {
    Allow,
    Drop,
    Reject,
    JumpToApplication,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    In,
    Out,
    InOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IpProtocol {
    #[serde(rename = "IPV4")]
    Ipv4,
    #[serde(rename = "IPV6")]
    Ipv6,
    #[serde(rename = "IPV4_IPV6")]
    Ipv4Ipv6,
}

/// `…/security-policies/{p}/container-cluster-span/{id}`: the policy is enforced in that cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityPolicyContainerCluster {
    #[serde(flatten)]
    pub meta: ResourceMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_cluster_type: Option<String>,
    #[serde(default)]
    pub container_cluster_path: String,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// `/infra/sites/{s}/enforcement-points/{ep}/cluster-control-planes/{id}`: a registered cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterControlPlane {
    #[serde(flatten)]
    pub meta: ResourceMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhc_path: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}
