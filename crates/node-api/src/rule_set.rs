//! A Node's rule set: everything one Node's agent enforces. It holds only addresses, ports and
//! actions — every selector, group, Service and named port already resolved by the controller —
//! for the Pods on that Node, in the engine's evaluation order:
//!
//! ```text
//!  NodeRuleSet { node, local pods, ingress: DirectionRules, egress: DirectionRules }
//!  DirectionRules = antrea (tiers < 253, ordered) ─Pass─> k8s allow rules / isolated pods ─> baseline
//!  RuleEntry      = id, action, applied (local IPs | NodePorts), peers (any | IPs | CIDRs), ports
//! ```
//!
//! Output is deterministic (sorted sets); serde both ways (the stream carries it as JSON).

use crate::vocabulary::{Action, Direction, L4Protocol, PolicyRef};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// A destination port constraint with named ports resolved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PortRule {
    /// Protocol with an inclusive destination port range (`None` = all ports) and an optional
    /// inclusive source port range.
    L4 {
        protocol: L4Protocol,
        ports: Option<(u16, u16)>,
        source_ports: Option<(u16, u16)>,
    },
    Icmp {
        icmp_type: Option<u8>,
        icmp_code: Option<u8>,
    },
    Igmp {
        igmp_type: Option<u8>,
    },
    /// A named port resolved per Pod: `(Pod IP, protocol, port)` — the local Pod for ingress,
    /// the destination Pod for egress.
    Named {
        name: String,
        protocol: L4Protocol,
        endpoints: BTreeSet<(IpAddr, u16)>,
    },
}

/// The remote side of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddresses {
    /// Empty `from`/`to`: every address.
    pub any: bool,
    /// Pod IPs matched through Pod membership (named ports resolve against these). Shared:
    /// the controller gives every Node whose rules select the same Pods one copy (as Antrea
    /// shares one AddressGroup), so a peer set costs its size once, not once per Node.
    pub pods: Arc<BTreeSet<IpAddr>>,
    /// Address matches (ipBlocks minus excepts, group ipBlocks, Node IPs, FQDN answers).
    pub cidrs: Vec<IpNet>,
}

/// One rule as the agent programs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEntry {
    /// Stable identifier (`<policy key>/<direction>/<index>`), used for counters and log prefixes.
    pub id: String,
    pub policy: PolicyRef,
    pub tier: Option<String>,
    pub tier_priority: Option<i32>,
    pub rule_name: Option<String>,
    pub rule_index: usize,
    pub action: Action,
    /// Local addresses (Pods on this Node, or the Node's own IPs for Node policies).
    pub applied: BTreeSet<IpAddr>,
    /// NodePort `(protocol, port)` arrivals the rule applies to (`service` appliedTo).
    pub node_ports: BTreeSet<(L4Protocol, u16)>,
    pub peers: PeerAddresses,
    /// `toServices`: `(ClusterIP, protocol, port)` before DNAT.
    pub services: BTreeSet<(IpAddr, L4Protocol, u16)>,
    /// Empty = all traffic.
    pub ports: Vec<PortRule>,
    pub enable_logging: bool,
    pub log_label: String,
}

/// The three stages of one direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectionRules {
    /// Antrea-native rules of tiers before baseline, in evaluation order.
    pub antrea: Vec<RuleEntry>,
    /// Local Pods isolated in this direction by a Kubernetes NetworkPolicy.
    pub k8s_isolated: BTreeSet<IpAddr>,
    /// Kubernetes NetworkPolicy allow rules (applied to isolated Pods only).
    pub k8s_allow: Vec<RuleEntry>,
    /// Baseline-tier rules, in evaluation order.
    pub baseline: Vec<RuleEntry>,
}

/// A Pod on the Node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPod {
    pub namespace: String,
    pub name: String,
    pub ip: IpAddr,
    /// Whether any Kubernetes NetworkPolicy in its namespace is logged (namespace annotation).
    pub k8s_logging: bool,
}

/// Everything one Node's agent enforces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRuleSet {
    pub node: String,
    pub node_ips: Vec<IpAddr>,
    pub pods: Vec<LocalPod>,
    pub ingress: DirectionRules,
    pub egress: DirectionRules,
}

impl NodeRuleSet {
    pub fn direction(&self, direction: Direction) -> &DirectionRules {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    /// Every rule entry of the rule set.
    pub fn rules(&self) -> impl Iterator<Item = &RuleEntry> {
        [&self.ingress, &self.egress]
            .into_iter()
            .flat_map(|d| d.antrea.iter().chain(&d.k8s_allow).chain(&d.baseline))
    }
}
