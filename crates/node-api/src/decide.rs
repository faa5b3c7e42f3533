//! The reference semantics of a rule set: how one Node decides one direction of a packet,
//! exactly as the nftables rendering must. The engine, the dataplane's tests and the controller
//! are checked against it.

use crate::rule_set::{NodeRuleSet, PortRule, RuleEntry};
use crate::vocabulary::{Action, Direction, L4Protocol, Transport};
use std::net::IpAddr;

/// A packet as the agent of one Node sees it (after DNAT), for `NodeRuleSet::decide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePacket {
    /// The local address (destination for ingress, source for egress).
    pub local: IpAddr,
    /// The remote address.
    pub remote: IpAddr,
    pub transport: Transport,
    /// `(ClusterIP, protocol, port)` before DNAT, when the flow went through a ClusterIP.
    pub service: Option<(IpAddr, L4Protocol, u16)>,
    /// `(protocol, nodePort)` when the flow arrived on a NodePort.
    pub node_port: Option<(L4Protocol, u16)>,
}

/// What one direction of a Node's rule set did to a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeDecision {
    /// Decided by the rule with this id.
    Rule { id: String, action: Action },
    /// Dropped by Kubernetes NetworkPolicy isolation.
    Isolated,
    /// Allowed by a Kubernetes NetworkPolicy rule.
    K8sAllowed { id: String },
    /// No rule: allowed.
    Default,
}

impl NodeDecision {
    pub fn allows(&self) -> bool {
        match self {
            NodeDecision::Rule { action, .. } => matches!(action, Action::Allow | Action::Pass),
            NodeDecision::Isolated => false,
            NodeDecision::K8sAllowed { .. } | NodeDecision::Default => true,
        }
    }
}

impl RuleEntry {
    /// Whether the entry matches a packet of its direction.
    pub fn matches(&self, direction: Direction, p: &NodePacket) -> bool {
        let applied = self.applied.contains(&p.local)
            || p.node_port.is_some_and(|np| self.node_ports.contains(&np));
        if !applied {
            return false;
        }
        if direction == Direction::Egress && !self.services.is_empty() {
            if p.node_port.is_none() && p.service.is_some_and(|s| self.services.contains(&s)) {
                return true;
            }
            if self.peers.pods.is_empty() && self.peers.cidrs.is_empty() {
                return false;
            }
        }
        let peer = self.peers.any
            || self.peers.pods.contains(&p.remote)
            || self.peers.cidrs.iter().any(|c| c.contains(&p.remote));
        peer && self.ports_match(direction, p)
    }

    fn ports_match(&self, direction: Direction, p: &NodePacket) -> bool {
        if self.ports.is_empty() {
            return true;
        }
        self.ports.iter().any(|rule| match (rule, &p.transport) {
            (
                PortRule::L4 {
                    protocol,
                    ports,
                    source_ports,
                },
                Transport::L4 {
                    protocol: pr,
                    src_port,
                    dst_port,
                },
            ) => {
                protocol == pr
                    && ports.is_none_or(|(lo, hi)| *dst_port >= lo && *dst_port <= hi)
                    && source_ports.is_none_or(|(lo, hi)| *src_port >= lo && *src_port <= hi)
            }
            (
                PortRule::Named {
                    protocol,
                    endpoints,
                    ..
                },
                Transport::L4 {
                    protocol: pr,
                    dst_port,
                    ..
                },
            ) => {
                let ip = match direction {
                    Direction::Ingress => p.local,
                    Direction::Egress => p.remote,
                };
                protocol == pr && endpoints.contains(&(ip, *dst_port))
            }
            (
                PortRule::Icmp {
                    icmp_type,
                    icmp_code,
                },
                Transport::Icmp {
                    icmp_type: t,
                    icmp_code: c,
                },
            ) => icmp_type.is_none_or(|x| x == *t) && icmp_code.is_none_or(|x| x == *c),
            (PortRule::Igmp { igmp_type }, Transport::Igmp { igmp_type: t }) => {
                igmp_type.is_none_or(|x| x == *t)
            }
            _ => false,
        })
    }
}

impl NodeRuleSet {
    /// Decides one direction for a packet, exactly as the nftables rendering must: the reference
    /// semantics of a rule set, used to test the dataplane and the controller against the engine.
    pub fn decide(&self, direction: Direction, p: &NodePacket) -> NodeDecision {
        let rules = self.direction(direction);
        for e in &rules.antrea {
            if e.matches(direction, p) {
                if e.action == Action::Pass {
                    break;
                }
                return NodeDecision::Rule {
                    id: e.id.clone(),
                    action: e.action,
                };
            }
        }
        if rules.k8s_isolated.contains(&p.local) {
            return match rules.k8s_allow.iter().find(|e| e.matches(direction, p)) {
                Some(e) => NodeDecision::K8sAllowed { id: e.id.clone() },
                None => NodeDecision::Isolated,
            };
        }
        for e in &rules.baseline {
            if e.matches(direction, p) {
                return NodeDecision::Rule {
                    id: e.id.clone(),
                    action: e.action,
                };
            }
        }
        NodeDecision::Default
    }
}
