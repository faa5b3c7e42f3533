//! The words a rule set is written in: protocols, actions, directions, the policy a rule
//! belongs to, and the transport part of a packet. The engine uses the same types, so a rule
//! set means the same on both sides of the seam.

use serde::{Deserialize, Serialize};
use tierwall_model::{Kind, ObjectKey};

/// Tier priority at and after which rules are evaluated after Kubernetes NetworkPolicies.
pub const BASELINE_TIER_PRIORITY: i32 = 253;

/// Transport protocols a port can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum L4Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl L4Protocol {
    /// Parses `TCP`/`UDP`/`SCTP` (case-insensitive); `None` defaults to TCP.
    pub fn parse(text: Option<&str>) -> Option<L4Protocol> {
        match text.map(str::to_ascii_uppercase).as_deref() {
            None | Some("TCP") => Some(L4Protocol::Tcp),
            Some("UDP") => Some(L4Protocol::Udp),
            Some("SCTP") => Some(L4Protocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            L4Protocol::Tcp => "TCP",
            L4Protocol::Udp => "UDP",
            L4Protocol::Sctp => "SCTP",
        }
    }
}

/// Traffic direction, seen from the Pod a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

/// Rule action. Kubernetes NetworkPolicy rules are `Allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Allow,
    Drop,
    Reject,
    Pass,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "Allow" => Some(Action::Allow),
            "Drop" => Some(Action::Drop),
            "Reject" => Some(Action::Reject),
            "Pass" => Some(Action::Pass),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "Allow",
            Action::Drop => "Drop",
            Action::Reject => "Reject",
            Action::Pass => "Pass",
        }
    }
}

/// A policy reference in Antrea's `Type:ns/name` form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PolicyRef {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

impl PolicyRef {
    pub fn from_key(key: &ObjectKey) -> Self {
        PolicyRef {
            kind: key.kind,
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        }
    }

    /// `AntreaClusterNetworkPolicy`, `AntreaNetworkPolicy` or `K8sNetworkPolicy`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::ClusterNetworkPolicy => "AntreaClusterNetworkPolicy",
            Kind::AntreaNetworkPolicy => "AntreaNetworkPolicy",
            _ => "K8sNetworkPolicy",
        }
    }
}

impl std::fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}:{ns}/{}", self.type_name(), self.name),
            None => write!(f, "{}:{}", self.type_name(), self.name),
        }
    }
}

/// The L4 or ICMP part of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    L4 {
        protocol: L4Protocol,
        src_port: u16,
        dst_port: u16,
    },
    Icmp {
        icmp_type: u8,
        icmp_code: u8,
    },
    Igmp {
        igmp_type: u8,
    },
}
