//! `Group` (`/infra/domains/{domain}/groups/{id}`) and its polymorphic `expression` entries:
//! Condition, ConjunctionOperator, NestedExpression, IPAddressExpression, PathExpression and the
//! rest, keyed by `resource_type`. Kubernetes member types (KubernetesCluster, KubernetesNamespace,
//! KubernetesService, …) are conditions like any other.

use super::common::{ExtraFields, ResourceMeta};
use serde::{Deserialize, Serialize};

/// An NSX Group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    #[serde(flatten)]
    pub meta: ResourceMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<Expression>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended_expression: Vec<Expression>,
    /// An array; empty means a generic group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_type: Vec<GroupType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Group {
    /// `group_type` contains `ANTREA`.
    pub fn is_antrea(&self) -> bool {
        self.group_type.contains(&GroupType::Antrea)
    }

    /// The object path, or `/infra/domains/default/groups/<id>` when the stored copy has none.
    pub fn path_or_default(&self) -> String {
        self.meta
            .path
            .clone()
            .unwrap_or_else(|| format!("/infra/domains/default/groups/{}", self.meta.id))
    }

    /// True when the group (not counting nested groups) has at least one IPAddressExpression.
    pub fn has_ip_addresses(&self) -> bool {
        fn any_ip(expressions: &[Expression]) -> bool {
            expressions.iter().any(|e| match e {
                Expression::IpAddressExpression(_) => true,
                Expression::NestedExpression(n) => any_ip(&n.expressions),
                _ => false,
            })
        }
        any_ip(&self.expression)
    }
}

/// `group_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GroupType {
    #[serde(rename = "IPAddress")]
    IpAddress,
    #[serde(rename = "ANTREA")]
    Antrea,
    #[serde(rename = "BareMetalServer")]
    BareMetalServer,
}

/// One entry of `expression` (or of a NestedExpression's `expressions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resource_type")]
pub enum Expression {
    Condition(Condition),
    ConjunctionOperator(ConjunctionOperator),
    NestedExpression(NestedExpression),
    #[serde(rename = "IPAddressExpression")]
    IpAddressExpression(IpAddressExpression),
    #[serde(rename = "MACAddressExpression")]
    MacAddressExpression(MacAddressExpression),
    #[serde(rename = "ExternalIDExpression")]
    ExternalIdExpression(ExternalIdExpression),
    PathExpression(PathExpression),
    IdentityGroupExpression(IdentityGroupExpression),
    GeoLocationExpression(ExtraFields),
}

impl Expression {
    /// The NSX `resource_type` of the entry.
    pub fn resource_type(&self) -> &'static str {
        match self {
            Expression::Condition(_) => "Condition",
            Expression::ConjunctionOperator(_) => "ConjunctionOperator",
            Expression::NestedExpression(_) => "NestedExpression",
            Expression::IpAddressExpression(_) => "IPAddressExpression",
            Expression::MacAddressExpression(_) => "MACAddressExpression",
            Expression::ExternalIdExpression(_) => "ExternalIDExpression",
            Expression::PathExpression(_) => "PathExpression",
            Expression::IdentityGroupExpression(_) => "IdentityGroupExpression",
            Expression::GeoLocationExpression(_) => "GeoLocationExpression",
        }
    }

    /// A condition `member_type key operator value`.
    pub fn condition(
        member_type: MemberType,
        key: ConditionKey,
        operator: ConditionOperator,
        value: impl Into<String>,
    ) -> Self {
        Expression::Condition(Condition {
            member_type,
            key,
            operator: Some(operator),
            value: value.into(),
            scope_operator: None,
            exclude: None,
            extra: ExtraFields::new(),
        })
    }

    pub fn and() -> Self {
        Expression::ConjunctionOperator(ConjunctionOperator::new(Conjunction::And))
    }

    pub fn or() -> Self {
        Expression::ConjunctionOperator(ConjunctionOperator::new(Conjunction::Or))
    }

    pub fn nested(expressions: Vec<Expression>) -> Self {
        Expression::NestedExpression(NestedExpression {
            expressions,
            extra: ExtraFields::new(),
        })
    }

    pub fn ip_addresses<I: IntoIterator<Item = S>, S: Into<String>>(ips: I) -> Self {
        Expression::IpAddressExpression(IpAddressExpression {
            ip_addresses: ips.into_iter().map(Into::into).collect(),
            extra: ExtraFields::new(),
        })
    }

    pub fn paths<I: IntoIterator<Item = S>, S: Into<String>>(paths: I) -> Self {
        Expression::PathExpression(PathExpression {
            paths: paths.into_iter().map(Into::into).collect(),
            extra: ExtraFields::new(),
        })
    }
}

/// `{member_type, key, operator, value, scope_operator?}`. Tag values are `"scope|tag"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub member_type: MemberType,
    pub key: ConditionKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<ConditionOperator>,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_operator: Option<ScopeOperator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<serde_json::Value>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Condition {
    /// The operator, EQUALS when omitted.
    pub fn operator(&self) -> ConditionOperator {
        self.operator.unwrap_or(ConditionOperator::Equals)
    }

    /// For a Tag condition, `(scope, tag)` from `"scope|tag"`; a value without `|` is a tag only.
    pub fn tag_scope_and_value(&self) -> (&str, &str) {
        match self.value.split_once('|') {
            Some((scope, tag)) => (scope, tag),
            None => ("", self.value.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConjunctionOperator {
    pub conjunction_operator: Conjunction,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl ConjunctionOperator {
    pub fn new(conjunction_operator: Conjunction) -> Self {
        ConjunctionOperator {
            conjunction_operator,
            extra: ExtraFields::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Conjunction {
    And,
    Or,
}

/// One UI "criterion" with several conditions (NSX joins them with AND).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedExpression {
    #[serde(default)]
    pub expressions: Vec<Expression>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpAddressExpression {
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacAddressExpression {
    #[serde(default)]
    pub mac_addresses: Vec<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalIdExpression {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_type: Option<String>,
    #[serde(default)]
    pub external_ids: Vec<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Static membership by path (groups, segments, segment ports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathExpression {
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Identity-firewall (AD group) membership; never valid for Antrea.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityGroupExpression {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_groups: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// `Condition.member_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberType {
    #[serde(rename = "IPSet")]
    IpSet,
    VirtualMachine,
    LogicalPort,
    LogicalSwitch,
    Segment,
    SegmentPort,
    Pod,
    Service,
    Namespace,
    TransportNode,
    Group,
    #[serde(rename = "DVPG")]
    Dvpg,
    #[serde(rename = "DVPort")]
    DvPort,
    #[serde(rename = "IPAddress")]
    IpAddress,
    VpcSubnet,
    KubernetesCluster,
    KubernetesNamespace,
    AntreaEgress,
    #[serde(rename = "AntreaIPPool")]
    AntreaIpPool,
    KubernetesIngress,
    KubernetesGateway,
    KubernetesService,
    KubernetesNode,
    VpcSubnetPort,
    BareMetalServer,
    BareMetalServerInterface,
    Tier0,
    Tier1,
}

impl MemberType {
    /// The member types of generic groups that select Kubernetes resources (VM↔cluster traffic).
    pub fn is_kubernetes(self) -> bool {
        matches!(
            self,
            MemberType::KubernetesCluster
                | MemberType::KubernetesNamespace
                | MemberType::KubernetesService
                | MemberType::KubernetesIngress
                | MemberType::KubernetesGateway
                | MemberType::KubernetesNode
                | MemberType::AntreaEgress
                | MemberType::AntreaIpPool
        )
    }

    /// KubernetesCluster and KubernetesNamespace only narrow other conditions (AND conditions).
    pub fn is_kubernetes_scope(self) -> bool {
        matches!(
            self,
            MemberType::KubernetesCluster | MemberType::KubernetesNamespace
        )
    }

    /// The member types an Antrea group's criteria may use.
    pub fn is_antrea_group_member(self) -> bool {
        matches!(
            self,
            MemberType::Pod | MemberType::Namespace | MemberType::Service
        )
    }
}

/// `Condition.key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConditionKey {
    Tag,
    Name,
    #[serde(rename = "OSName")]
    OsName,
    ComputerName,
    NodeType,
    GroupType,
    #[serde(rename = "ALL")]
    All,
    #[serde(rename = "IPAddress")]
    IpAddress,
    PodCidr,
    ManagementInterface,
    #[serde(rename = "OSVersion")]
    OsVersion,
}

/// `Condition.operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConditionOperator {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    NotEquals,
    NotIn,
    Matches,
    In,
}

/// `Condition.scope_operator` (EQUALS by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScopeOperator {
    Equals,
    NotEquals,
}
