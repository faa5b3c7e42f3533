//! Serde types of the NSX Policy API objects tierwall's manager stores and its adapters consume,
//! with field names exactly as NSX writes them (`display_name`, `resource_type`, `_revision`, …).
//! Every object keeps the fields it does not know in an `extra` map (`#[serde(flatten)]`), so that
//! what a client PUTs comes back unchanged on GET.

mod common;
mod group;
mod inventory;
mod policy;
mod service;
mod service_catalogue;
mod status;

pub use common::{ExtraFields, K8S_TAG_PREFIX, ListResult, ResourceMeta, Tag};
pub use group::{
    Condition, ConditionKey, ConditionOperator, Conjunction, ConjunctionOperator, Expression,
    ExternalIdExpression, Group, GroupType, IdentityGroupExpression, IpAddressExpression,
    MacAddressExpression, MemberType, NestedExpression, PathExpression, ScopeOperator,
};
pub use inventory::{
    AntreaEgress, AntreaIpPool, ClusterInventory, ContainerApplication,
    ContainerApplicationInstance, ContainerClusterNode, ContainerIngress, ContainerProject,
    ExternalIpPool, GatewayListener, IpPoolRange, KubernetesGateway, ServicePortInfo,
};
pub use policy::{
    Category, ClusterControlPlane, Direction, IpProtocol, Rule, RuleAction, SecurityPolicy,
    SecurityPolicyContainerCluster,
};
pub use service::{
    AlgTypeServiceEntry, EtherTypeServiceEntry, IcmpTypeServiceEntry, IgmpTypeServiceEntry,
    IpProtocolServiceEntry, L4PortSetServiceEntry, L4Protocol, NestedServiceServiceEntry, Service,
    ServiceEntry,
};
pub use service_catalogue::{predefined_service, predefined_services};
pub use status::{
    ConsolidatedRealizedStatus, ConsolidatedStatus, ConsolidatedStatusPerEnforcementPoint,
    GroupMember, GroupMemberList, PolicyRealization, RealizationReport, RuleStatistics,
    RuleStatisticsForEnforcementPoint, RuleStatisticsListResult, SecurityPolicyStatistics,
    SecurityPolicyStatisticsForEnforcementPoint, SecurityPolicyStatisticsListResult,
};

/// `"ANY"` (case-insensitive): the sentinel of source/destination/service/scope lists.
pub const ANY: &str = "ANY";

/// True when `list` is empty or is the `["ANY"]` sentinel.
pub fn is_any(list: &[String]) -> bool {
    list.is_empty() || list.iter().any(|entry| entry.eq_ignore_ascii_case(ANY))
}

#[cfg(test)]
mod round_trip_tests;
