//! A traceflow-style explanation of one flow (source IP → destination IP, TCP/UDP, destination
//! port) through the manager's distributed-firewall rules: on each end of the flow, which
//! category, policy and rule decide it, through which group member each of the rule's sources
//! and destinations matched, and which rules did not take part because the end is not in their
//! Applied-To.
//!
//! How NSX applies a rule (reference `nsx-api.md` §3 "Applied To"; the spec chapters on DFW
//! policies for Antrea clusters): the DFW is enforced per endpoint — per VM vNIC on ESX, per Pod
//! on an Antrea cluster. A rule is installed only on the endpoints in its Applied-To: the
//! policy's `scope` when that names groups (it takes precedence over the rules' `scope`), else
//! the rule's `scope`; `ANY` or empty means everywhere the DFW runs. Sources and destinations
//! only decide which traffic an installed rule matches. So a flow meets the rules twice: leaving
//! its source (the **egress side**, at the source endpoint) and entering its destination (the
//! **ingress side**). On each side only the rules applied to that end take part, the first match
//! wins, and the flow passes when both sides allow it.
//!
//! The trace evaluates both sides:
//! * **Which rules take part on a side.**
//!   - A policy that spans no Antrea cluster (a VM policy, enforced by the ESX DFW): direction
//!     OUT rules on the egress side, IN rules on the ingress side, IN_OUT on both. The Applied-To
//!     is the policy `scope` groups if any, else the rule `scope` groups, else everywhere (every
//!     address may be a DFW endpoint: the manager has no VM inventory).
//!   - A policy that spans Antrea clusters (a container-cluster-span, or a cluster path in its
//!     `scope`) is enforced only by those clusters, on their Pods, exactly as the adapter writes
//!     it ([`crate::translate`]): the sides are those of the ingress and egress rules it emits
//!     ([`emitted_sides`]), and the Applied-To of a side is [`applied_to_of`]: the policy `scope`
//!     groups, else the rule `scope` groups, else the rule's own end (destinations on the ingress
//!     side, sources on the egress side), else every Pod of the cluster. An end is in it when it
//!     is a Pod of a spanned cluster (in the reported inventories) and a member of those groups.
//!   - A rule whose Applied-To does not contain the end does not decide that side. When the rule
//!     would have matched the flow it is listed in [`SideDecision::skipped`], with its Applied-To
//!     and why the end is not in it.
//! * **Order.** Categories in the order Ethernet, Emergency, Infrastructure, Environment,
//!   Application (a policy without a category counts as Application); policies by
//!   `sequence_number`, rules by `sequence_number` (ties keep array order); the first matching
//!   rule of a side wins; nothing matching ends in the default rule (ALLOW). A matching
//!   `JUMP_TO_APPLICATION` rule skips the rest of Environment on that side and continues with the
//!   Application category.
//! * **Result.** A DROP or REJECT on the egress side decides the flow (the ingress side is still
//!   evaluated, and shown as not reached); else a DROP or REJECT on the ingress side; else ALLOW,
//!   attributed to the ingress side's rule when one matched, else to the egress side's.
//! * **Matching a rule.** Disabled rules are skipped; `ANY` (or an empty list) matches
//!   everything; a source or destination entry is an IP literal (address, prefix, range) or a
//!   group path, resolved to its members with [`resolve_group_members`] over the reported
//!   inventories. A destination member with a port (a NodePort Service's node IP + nodePort)
//!   matches only the flow's protocol and destination port; on the source side the member's port
//!   is not compared (the flow has no source port). `sources_excluded` / `destinations_excluded`
//!   negate their list. Services and service entries: L4 port sets match the protocol and a
//!   destination port (`"80"` or `"8000-8080"`, none means every port; source ports are not
//!   compared), IP protocol entries match protocol number 6 (TCP) or 17 (UDP), nested services
//!   are followed; ICMP, IGMP, ALG and EtherType entries never match a TCP/UDP flow.
//!   `ip_protocol` IPV4 / IPV6 narrows to that address family.

mod applied_to;
mod context;
mod endpoints;
mod evaluate;
mod flow;
mod services;

pub use evaluate::trace_flow;
pub use flow::{
    AppliedToSkip, DfwObjects, EndpointMatch, RuleMatch, Side, SideDecision, TraceDecision,
    TraceFlow,
};
