//! The flow a trace evaluates, the objects it reads, and the decision it explains: per side
//! (egress at the source, ingress at the destination) the rule that matched, with the group
//! member each end matched through, the jumps and the rules skipped because of Applied-To.

use crate::model::{Category, ClusterInventory, Direction, Group, L4Protocol, RuleAction, Service};
use crate::span::SpannedPolicy;
use serde::Serialize;
use std::net::IpAddr;

/// The flow to trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TraceFlow {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub protocol: L4Protocol,
    pub destination_port: u16,
}

/// The manager's objects the trace evaluates.
#[derive(Debug, Clone, Copy)]
pub struct DfwObjects<'a> {
    /// Security policies with their rules and their container-cluster-spans.
    pub policies: &'a [SpannedPolicy],
    pub groups: &'a [Group],
    pub services: &'a [Service],
    /// The inventory every cluster reported.
    pub inventories: &'a [ClusterInventory],
}

/// One end of the flow, where one side of the DFW is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Side {
    /// Leaving the source.
    Egress,
    /// Entering the destination.
    Ingress,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Egress => "Egress",
            Side::Ingress => "Ingress",
        }
    }
}

/// The outcome of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceDecision {
    pub flow: TraceFlow,
    /// The action applied to the flow (ALLOW when both sides allow).
    pub action: RuleAction,
    /// The side whose rule decided; `None` when the default rule did on both.
    pub decided_by: Option<Side>,
    /// The rule that decided, `None` when the default rule did.
    pub matched: Option<RuleMatch>,
    /// The egress side, at the source.
    pub egress: SideDecision,
    /// The ingress side, at the destination.
    pub ingress: SideDecision,
}

/// The evaluation of one side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideDecision {
    pub side: Side,
    /// The end the side is evaluated at (the source for egress, the destination for ingress).
    pub at: IpAddr,
    /// What the inventory reports at that address (`pod shop/web-0 (cluster c1)`), if anything.
    pub owner: Option<String>,
    /// The action of this side (ALLOW for the default rule).
    pub action: RuleAction,
    /// The rule that decided this side, `None` when the default rule did.
    pub matched: Option<RuleMatch>,
    /// `JUMP_TO_APPLICATION` rules that matched on the way (in evaluation order).
    pub jumped: Vec<RuleMatch>,
    /// How many enabled rules applied to this end were evaluated.
    pub rules_evaluated: usize,
    /// Rules that would have matched the flow but are not applied to this end, in evaluation
    /// order (up to the deciding rule).
    pub skipped: Vec<AppliedToSkip>,
}

/// A rule that did not take part on a side because of its Applied-To.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedToSkip {
    pub rule: RuleMatch,
    /// Why the end is not in the rule's Applied-To.
    pub reason: String,
}

/// A rule that matched the flow, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    pub category: Category,
    pub policy_id: String,
    pub policy_display_name: String,
    pub policy_sequence_number: i64,
    pub rule_id: String,
    /// The system-assigned `rule_id` number, when the manager set one.
    pub rule_number: Option<i64>,
    pub rule_display_name: String,
    pub rule_sequence_number: i64,
    pub action: RuleAction,
    pub direction: Direction,
    /// Where the rule is enforced on this side: `group servers (policy Applied-To), Pods of
    /// cluster c1`, `DFW everywhere (ANY)`.
    pub applied_to: String,
    /// How the flow's source matched the rule's sources.
    pub source: EndpointMatch,
    /// How the flow's destination matched the rule's destinations.
    pub destination: EndpointMatch,
    /// How the flow's protocol and port matched the rule's services.
    pub service: String,
}

/// How one end of the flow matched a source or destination list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointMatch {
    /// The list entry that matched: `ANY`, an IP literal or a group path.
    pub entry: String,
    /// The group id, when the entry is a group.
    pub group: Option<String>,
    /// The member that matched (`IP 10.0.0.5`, `node node-0 IP 172.18.0.2 + port 30080/TCP`),
    /// or why an excluded list matched.
    pub member: String,
}

impl EndpointMatch {
    /// One line: `group vm-web: IP 10.0.0.5`, `10.0.0.0/24`, `ANY`.
    pub fn describe(&self) -> String {
        match &self.group {
            Some(group) => format!("group {group}: {}", self.member),
            None if self.member.is_empty() => self.entry.clone(),
            None => format!("{}: {}", self.entry, self.member),
        }
    }
}
