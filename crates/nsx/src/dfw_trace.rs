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

use crate::ip::IpLiteral;
use crate::members::resolve_group_members;
use crate::model::{
    Category, ClusterInventory, Direction, Group, GroupMember, IpProtocol, L4Protocol, Rule,
    RuleAction, SecurityPolicy, Service, ServiceEntry, is_any,
};
use crate::span::SpannedPolicy;
use crate::translate::{AppliedToSource, applied_to_of, emitted_sides};
use crate::validate::{MapLookup, ReferenceLookup, resolve_service};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::rc::Rc;

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

/// Evaluates the DFW for `flow` on both of its ends and explains the decision.
pub fn trace_flow(objects: &DfwObjects<'_>, flow: &TraceFlow) -> TraceDecision {
    let lookup = MapLookup::new(
        objects.groups.iter().cloned(),
        objects.services.iter().cloned(),
    );
    let mut policies: Vec<(Category, i64, usize, &SpannedPolicy)> = objects
        .policies
        .iter()
        .enumerate()
        .map(|(index, p)| {
            (
                p.policy.category.unwrap_or(Category::Application),
                p.policy.sequence_number(),
                index,
                p,
            )
        })
        .collect();
    policies.sort_by_key(|(category, sequence, index, _)| (*category, *sequence, *index));
    let ordered: Vec<(Category, &SpannedPolicy)> =
        policies.into_iter().map(|(c, _, _, p)| (c, p)).collect();
    let context = Context {
        lookup: &lookup,
        inventories: objects.inventories,
        flow,
        spanned_inventories: RefCell::new(BTreeMap::new()),
    };
    let egress = evaluate_side(Side::Egress, &ordered, &context);
    let ingress = evaluate_side(Side::Ingress, &ordered, &context);
    let denies = |d: &SideDecision| matches!(d.action, RuleAction::Drop | RuleAction::Reject);
    let decided_by = if denies(&egress) {
        Some(Side::Egress)
    } else if denies(&ingress) || ingress.matched.is_some() {
        Some(Side::Ingress)
    } else if egress.matched.is_some() {
        Some(Side::Egress)
    } else {
        None
    };
    let (action, matched) = match decided_by {
        Some(Side::Egress) => (egress.action, egress.matched.clone()),
        Some(Side::Ingress) => (ingress.action, ingress.matched.clone()),
        None => (RuleAction::Allow, None),
    };
    TraceDecision {
        flow: *flow,
        action,
        decided_by,
        matched,
        egress,
        ingress,
    }
}

/// What every rule evaluation needs.
struct Context<'a> {
    lookup: &'a MapLookup,
    inventories: &'a [ClusterInventory],
    flow: &'a TraceFlow,
    /// The inventories of each set of spanned clusters met so far.
    spanned_inventories: RefCell<BTreeMap<BTreeSet<String>, Rc<Vec<ClusterInventory>>>>,
}

impl Context<'_> {
    /// The inventories of `clusters`.
    fn inventories_of(&self, clusters: &BTreeSet<String>) -> Rc<Vec<ClusterInventory>> {
        let mut cache = self.spanned_inventories.borrow_mut();
        let entry = cache.entry(clusters.clone()).or_insert_with(|| {
            Rc::new(
                self.inventories
                    .iter()
                    .filter(|i| clusters.contains(&i.cluster_id))
                    .cloned()
                    .collect(),
            )
        });
        Rc::clone(entry)
    }
}

fn evaluate_side(
    side: Side,
    policies: &[(Category, &SpannedPolicy)],
    context: &Context<'_>,
) -> SideDecision {
    let at = match side {
        Side::Egress => context.flow.source,
        Side::Ingress => context.flow.destination,
    };
    let mut decision = SideDecision {
        side,
        at,
        owner: inventory_owner(at, context.inventories),
        action: RuleAction::Allow,
        matched: None,
        jumped: Vec::new(),
        rules_evaluated: 0,
        skipped: Vec::new(),
    };
    let mut skip_to_application = false;
    for &(category, spanned) in policies {
        if skip_to_application && category < Category::Application {
            continue;
        }
        let policy = &spanned.policy;
        let clusters = spanned.cluster_ids();
        for (_, rule) in policy.ordered_rules() {
            if rule.disabled() || !takes_part(side, rule, !clusters.is_empty()) {
                continue;
            }
            let applied = AppliedToSet::of(policy, rule, side, &clusters);
            let membership = applied.membership(at, context);
            if let Err(reason) = membership {
                if let Some(mut found) = match_rule(category, policy, rule, context) {
                    found.applied_to = applied.describe();
                    decision.skipped.push(AppliedToSkip {
                        rule: found,
                        reason,
                    });
                }
                continue;
            }
            decision.rules_evaluated += 1;
            let Some(mut found) = match_rule(category, policy, rule, context) else {
                continue;
            };
            found.applied_to = applied.describe();
            if found.action == RuleAction::JumpToApplication {
                decision.jumped.push(found);
                skip_to_application = true;
                break;
            }
            decision.action = found.action;
            decision.matched = Some(found);
            return decision;
        }
    }
    decision
}

/// Whether `rule` is enforced on `side` at all (before Applied-To): for a policy on Antrea
/// clusters, the sides the adapter emits; for a VM policy, its direction.
fn takes_part(side: Side, rule: &Rule, on_antrea_clusters: bool) -> bool {
    let (ingress, egress) = if on_antrea_clusters {
        emitted_sides(rule)
    } else {
        match rule.direction() {
            Direction::In => (true, false),
            Direction::Out => (false, true),
            Direction::InOut => (true, true),
        }
    };
    match side {
        Side::Ingress => ingress,
        Side::Egress => egress,
    }
}

/// The Applied-To of one rule on one side.
struct AppliedToSet<'a> {
    /// Group paths; empty when no group narrows it.
    groups: Vec<&'a str>,
    source: AppliedToSource,
    /// `Some`: a policy on Antrea clusters, enforced on the Pods of these clusters only.
    clusters: Option<&'a BTreeSet<String>>,
}

impl<'a> AppliedToSet<'a> {
    fn of(
        policy: &'a SecurityPolicy,
        rule: &'a Rule,
        side: Side,
        clusters: &'a BTreeSet<String>,
    ) -> Self {
        let (source, groups) = applied_to_of(policy, rule, side == Side::Ingress);
        if clusters.is_empty() {
            // The ESX DFW has no "own end" fallback: without a scope group, everywhere.
            let scoped = matches!(
                source,
                AppliedToSource::PolicyScope | AppliedToSource::RuleScope
            );
            return AppliedToSet {
                groups: if scoped { groups } else { Vec::new() },
                source,
                clusters: None,
            };
        }
        AppliedToSet {
            groups,
            source,
            clusters: Some(clusters),
        }
    }

    /// `group servers (policy Applied-To), Pods of cluster c1`, `every Pod of cluster c1`,
    /// `DFW everywhere (ANY)`.
    fn describe(&self) -> String {
        let groups = self
            .groups
            .iter()
            .map(|path| format!("group {}", last_segment(path)))
            .collect::<Vec<_>>()
            .join(", ");
        let clusters = self.clusters.map(|c| {
            let ids: Vec<&str> = c.iter().map(String::as_str).collect();
            format!("cluster {}", ids.join(", "))
        });
        match (groups.is_empty(), clusters) {
            (true, None) => "DFW everywhere (ANY)".to_string(),
            (true, Some(c)) => format!("every Pod of {c} ({})", self.source.as_str()),
            (false, None) => format!("{groups} ({})", self.source.as_str()),
            (false, Some(c)) => format!("{groups} ({}), Pods of {c}", self.source.as_str()),
        }
    }

    /// `Ok` when `address` is in this Applied-To, else why not.
    fn membership(&self, address: IpAddr, context: &Context<'_>) -> Result<(), String> {
        let spanned: Rc<Vec<ClusterInventory>>;
        let scope: &[ClusterInventory] = match self.clusters {
            None => context.inventories,
            Some(clusters) => {
                spanned = context.inventories_of(clusters);
                let inventories: &[ClusterInventory] = &spanned;
                let is_pod = inventories.iter().any(|i| {
                    i.pods.iter().any(|p| {
                        p.ip_addresses
                            .iter()
                            .any(|ip| ip.trim().parse::<IpAddr>().ok() == Some(address))
                    })
                });
                if !is_pod {
                    let ids: Vec<&str> = clusters.iter().map(String::as_str).collect();
                    return Err(format!(
                        "{address} is not a Pod of cluster {}",
                        ids.join(", ")
                    ));
                }
                inventories
            }
        };
        if self.groups.is_empty() {
            return Ok(());
        }
        let member = self.groups.iter().any(|path| {
            context.lookup.group(path).is_some_and(|group| {
                resolve_group_members(&group, context.lookup, scope)
                    .iter()
                    .any(|m| member_matches(m, address, None))
            })
        });
        if member {
            Ok(())
        } else {
            let names: Vec<&str> = self.groups.iter().map(|p| last_segment(p)).collect();
            Err(format!(
                "{address} is not a member of {} {}",
                if names.len() == 1 { "group" } else { "groups" },
                names.join(", ")
            ))
        }
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn match_rule(
    category: Category,
    policy: &SecurityPolicy,
    rule: &Rule,
    context: &Context<'_>,
) -> Option<RuleMatch> {
    let (flow, lookup, inventories) = (context.flow, context.lookup, context.inventories);
    let family_ok = match rule.ip_protocol {
        Some(IpProtocol::Ipv4) => flow.source.is_ipv4() && flow.destination.is_ipv4(),
        Some(IpProtocol::Ipv6) => flow.source.is_ipv6() && flow.destination.is_ipv6(),
        Some(IpProtocol::Ipv4Ipv6) | None => true,
    };
    if !family_ok {
        return None;
    }
    let service = match_services(rule, flow, lookup)?;
    let source = match_endpoint(
        &rule.source_groups,
        rule.sources_excluded.unwrap_or(false),
        flow.source,
        None,
        lookup,
        inventories,
    )?;
    let destination = match_endpoint(
        &rule.destination_groups,
        rule.destinations_excluded.unwrap_or(false),
        flow.destination,
        Some((flow.protocol, flow.destination_port)),
        lookup,
        inventories,
    )?;
    Some(RuleMatch {
        category,
        policy_id: policy.meta.id.clone(),
        policy_display_name: policy
            .meta
            .display_name
            .clone()
            .unwrap_or_else(|| policy.meta.id.clone()),
        policy_sequence_number: policy.sequence_number(),
        rule_id: rule.meta.id.clone(),
        rule_number: rule.rule_id,
        rule_display_name: rule
            .meta
            .display_name
            .clone()
            .unwrap_or_else(|| rule.meta.id.clone()),
        rule_sequence_number: rule.sequence_number(),
        action: rule.action(),
        direction: rule.direction(),
        applied_to: String::new(),
        source,
        destination,
        service,
    })
}

/// Matches `address` (with the flow's port on the destination side) against a source or
/// destination list.
fn match_endpoint(
    entries: &[String],
    excluded: bool,
    address: IpAddr,
    port: Option<(L4Protocol, u16)>,
    lookup: &MapLookup,
    inventories: &[ClusterInventory],
) -> Option<EndpointMatch> {
    if is_any(entries) {
        return Some(EndpointMatch {
            entry: "ANY".to_string(),
            group: None,
            member: String::new(),
        });
    }
    let found = entries
        .iter()
        .find_map(|entry| match_entry(entry, address, port, lookup, inventories));
    match (found, excluded) {
        (Some(found), false) => Some(found),
        (None, true) => Some(EndpointMatch {
            entry: format!("NOT {}", entries.join(", ")),
            group: None,
            member: format!("{address} is in none of them (excluded list)"),
        }),
        _ => None,
    }
}

fn match_entry(
    entry: &str,
    address: IpAddr,
    port: Option<(L4Protocol, u16)>,
    lookup: &MapLookup,
    inventories: &[ClusterInventory],
) -> Option<EndpointMatch> {
    if let Some(literal) = IpLiteral::parse(entry) {
        return literal_contains(&literal, address).then(|| EndpointMatch {
            entry: entry.to_string(),
            group: None,
            member: String::new(),
        });
    }
    let group = lookup.group(entry)?;
    let member = resolve_group_members(&group, lookup, inventories)
        .into_iter()
        .find(|m| member_matches(m, address, port))?;
    Some(EndpointMatch {
        entry: entry.to_string(),
        group: Some(group.meta.id.clone()),
        member: describe_member(&member, address, inventories),
    })
}

fn member_matches(member: &GroupMember, address: IpAddr, port: Option<(L4Protocol, u16)>) -> bool {
    let Some(literal) = IpLiteral::parse(&member.ip_address) else {
        return false;
    };
    if !literal_contains(&literal, address) {
        return false;
    }
    match (member.port, port) {
        (Some(member_port), Some((protocol, flow_port))) => {
            member_port == flow_port && member.protocol.is_none_or(|p| p == protocol)
        }
        _ => true,
    }
}

fn literal_contains(literal: &IpLiteral, address: IpAddr) -> bool {
    match literal {
        IpLiteral::Net(net) => net.contains(&address),
        IpLiteral::Range(start, end) => *start <= address && address <= *end,
    }
}

/// `IP 10.0.0.5`, `node node-0 IP 172.18.0.2 + port 30080/TCP`, `range 10.9.0.0/28`.
fn describe_member(
    member: &GroupMember,
    address: IpAddr,
    inventories: &[ClusterInventory],
) -> String {
    let exact = member.ip_address.parse::<IpAddr>().ok() == Some(address);
    let mut text = match (exact, inventory_owner(address, inventories)) {
        (true, Some(owner)) => format!("{owner} IP {}", member.ip_address),
        (true, None) => format!("IP {}", member.ip_address),
        (false, _) => format!("range {} (holds {address})", member.ip_address),
    };
    if let Some(port) = member.port {
        let protocol = member.protocol.map_or("", |p| p.as_str());
        text.push_str(&format!(" + port {port}/{protocol}"));
    }
    text
}

/// What the inventory reports at `address`: `node node-0 (cluster c1)`, `pod shop/web-0 …`.
fn inventory_owner(address: IpAddr, inventories: &[ClusterInventory]) -> Option<String> {
    let has = |ips: &[String]| {
        ips.iter()
            .any(|ip| ip.trim().parse::<IpAddr>().ok() == Some(address))
    };
    for inventory in inventories {
        let cluster = &inventory.cluster_id;
        if let Some(n) = inventory.nodes.iter().find(|n| has(&n.ip_addresses)) {
            return Some(format!("node {} (cluster {cluster})", n.display_name));
        }
        if let Some(p) = inventory.pods.iter().find(|p| has(&p.ip_addresses)) {
            return Some(format!(
                "pod {}/{} (cluster {cluster})",
                p.namespace, p.display_name
            ));
        }
        if let Some(s) = inventory
            .services
            .iter()
            .find(|s| has(&s.load_balancer_ips))
        {
            return Some(format!(
                "service {}/{} (cluster {cluster})",
                s.namespace, s.display_name
            ));
        }
        if let Some(e) = inventory.egresses.iter().find(|e| has(&e.egress_ips)) {
            return Some(format!("egress {} (cluster {cluster})", e.display_name));
        }
        if let Some(i) = inventory.ingresses.iter().find(|i| has(&i.ip_addresses)) {
            return Some(format!(
                "ingress {}/{} (cluster {cluster})",
                i.namespace, i.display_name
            ));
        }
        if let Some(g) = inventory.gateways.iter().find(|g| has(&g.ip_addresses)) {
            return Some(format!(
                "gateway {}/{} (cluster {cluster})",
                g.namespace, g.display_name
            ));
        }
    }
    None
}

/// `ANY`, `service HTTP: TCP 80`, `entry TCP 8080`.
fn match_services(rule: &Rule, flow: &TraceFlow, lookup: &MapLookup) -> Option<String> {
    if is_any(&rule.services) && rule.service_entries.is_empty() {
        return Some("ANY".to_string());
    }
    for entry in &rule.service_entries {
        if let Some(why) = match_service_entry(entry, flow, lookup, 0) {
            return Some(format!("entry {why}"));
        }
    }
    if !is_any(&rule.services) {
        for path in &rule.services {
            let Some(service) = resolve_service(lookup, path) else {
                continue;
            };
            if let Some(why) = match_service(&service, flow, lookup, 0) {
                return Some(why);
            }
        }
    }
    None
}

const MAX_SERVICE_NESTING: usize = 8;

fn match_service(
    service: &Service,
    flow: &TraceFlow,
    lookup: &MapLookup,
    depth: usize,
) -> Option<String> {
    let name = service.meta.id.clone();
    service
        .service_entries
        .iter()
        .find_map(|entry| match_service_entry(entry, flow, lookup, depth))
        .map(|why| format!("service {name}: {why}"))
}

fn match_service_entry(
    entry: &ServiceEntry,
    flow: &TraceFlow,
    lookup: &MapLookup,
    depth: usize,
) -> Option<String> {
    match entry {
        ServiceEntry::L4PortSetServiceEntry(l4) => {
            if l4.l4_protocol != flow.protocol {
                return None;
            }
            if l4.destination_ports.is_empty() {
                return Some(format!("{} any port", l4.l4_protocol.as_str()));
            }
            l4.destination_ports
                .iter()
                .find(|ports| port_in(ports, flow.destination_port))
                .map(|ports| format!("{} {}", l4.l4_protocol.as_str(), ports.trim()))
        }
        ServiceEntry::IpProtocolServiceEntry(ip) => {
            let number = match flow.protocol {
                L4Protocol::Tcp => 6,
                L4Protocol::Udp => 17,
            };
            (ip.protocol_number == number).then(|| format!("IP protocol {number}"))
        }
        ServiceEntry::NestedServiceServiceEntry(nested) if depth < MAX_SERVICE_NESTING => {
            let service = resolve_service(lookup, &nested.nested_service_path)?;
            match_service(&service, flow, lookup, depth + 1)
        }
        _ => None,
    }
}

/// True when `port` is `ports` (`"80"`) or in it (`"8000-8080"`).
fn port_in(ports: &str, port: u16) -> bool {
    let ports = ports.trim();
    match ports.split_once('-') {
        Some((low, high)) => match (low.trim().parse::<u16>(), high.trim().parse::<u16>()) {
            (Ok(low), Ok(high)) => low <= port && port <= high,
            _ => false,
        },
        None => ports.parse::<u16>() == Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn inventory() -> ClusterInventory {
        serde_json::from_value(json!({
            "cluster_id": "c1",
            "namespaces": [{"display_name": "shop"}, {"display_name": "dev"}],
            "pods": [
                {"display_name": "web-0", "namespace": "shop", "ip_addresses": ["10.244.1.5"]},
                {"display_name": "web-0", "namespace": "dev", "ip_addresses": ["10.244.2.5"]}
            ],
            "services": [{"display_name": "web", "namespace": "shop", "service_type": "NodePort",
                "ports": [{"protocol": "TCP", "port": 80, "node_port": 30080}]}],
            "nodes": [{"display_name": "node-0", "ip_addresses": ["172.18.0.2"]},
                      {"display_name": "node-1", "ip_addresses": ["172.18.0.3"]}]
        }))
        .expect("inventory json")
    }

    fn cond(member_type: &str, key: &str, value: &str) -> Value {
        json!({"resource_type": "Condition", "member_type": member_type, "key": key,
               "operator": "EQUALS", "value": value})
    }

    fn group(id: &str, expression: Vec<Value>) -> Group {
        serde_json::from_value(
            json!({"id": id, "path": format!("/infra/domains/default/groups/{id}"),
            "expression": expression}),
        )
        .expect("group json")
    }

    fn ips(id: &str, addresses: &[&str]) -> Group {
        group(
            id,
            vec![json!({"resource_type": "IPAddressExpression", "ip_addresses": addresses})],
        )
    }

    fn and(conditions: Vec<Value>) -> Value {
        let mut expressions = Vec::new();
        for (i, c) in conditions.into_iter().enumerate() {
            if i > 0 {
                expressions.push(
                    json!({"resource_type": "ConjunctionOperator", "conjunction_operator": "AND"}),
                );
            }
            expressions.push(c);
        }
        json!({"resource_type": "NestedExpression", "expressions": expressions})
    }

    fn policy(value: Value) -> SpannedPolicy {
        SpannedPolicy::new(
            serde_json::from_value(value).expect("policy json"),
            Vec::new(),
        )
    }

    fn g(id: &str) -> String {
        format!("/infra/domains/default/groups/{id}")
    }

    fn flow(source: &str, destination: &str, port: u16) -> TraceFlow {
        TraceFlow {
            source: source.parse().expect("source"),
            destination: destination.parse().expect("destination"),
            protocol: L4Protocol::Tcp,
            destination_port: port,
        }
    }

    fn trace(policies: &[SpannedPolicy], groups: &[Group], f: &TraceFlow) -> TraceDecision {
        let inventories = [inventory()];
        trace_flow(
            &DfwObjects {
                policies,
                groups,
                services: &[],
                inventories: &inventories,
            },
            f,
        )
    }

    #[test]
    fn an_ip_group_rule_names_the_member_that_matched() {
        let groups = [ips("vm-web", &["10.0.0.5", "10.0.9.0/24"])];
        let policies = [policy(json!({"id": "vms", "display_name": "VM rules",
            "category": "Application", "sequence_number": 5,
            "rules": [{"id": "vm-out", "display_name": "VMs out", "rule_id": 1007,
                "source_groups": [g("vm-web")], "destination_groups": ["ANY"],
                "services": ["/infra/services/HTTP"], "action": "DROP", "direction": "OUT"}]}))];
        let decision = trace(&policies, &groups, &flow("10.0.0.5", "192.0.2.1", 80));
        assert_eq!(decision.action, RuleAction::Drop);
        let matched = decision.matched.expect("the rule matches");
        assert_eq!(
            (
                matched.policy_id.as_str(),
                matched.policy_display_name.as_str()
            ),
            ("vms", "VM rules")
        );
        assert_eq!(
            (matched.rule_id.as_str(), matched.rule_number),
            ("vm-out", Some(1007))
        );
        assert_eq!(matched.source.describe(), "group vm-web: IP 10.0.0.5");
        assert_eq!(matched.destination.describe(), "ANY");
        assert_eq!(matched.service, "service HTTP: TCP 80");
        let in_prefix = trace(&policies, &groups, &flow("10.0.9.7", "192.0.2.1", 80));
        assert_eq!(
            in_prefix.matched.expect("prefix member").source.member,
            "range 10.0.9.0/24 (holds 10.0.9.7)"
        );
        let other_port = trace(&policies, &groups, &flow("10.0.0.5", "192.0.2.1", 443));
        assert!(other_port.matched.is_none(), "HTTP is TCP 80 only");
    }

    #[test]
    fn a_nodeport_member_matches_node_ip_and_node_port_only() {
        let groups = [
            ips("vm-web", &["10.0.0.5"]),
            group(
                "k8s-nodeport",
                vec![cond("KubernetesService", "Name", "web")],
            ),
        ];
        let policies = [policy(json!({"id": "vm-to-k8s", "category": "Application",
            "rules": [{"id": "drop-nodeport", "source_groups": [g("vm-web")],
                "destination_groups": [g("k8s-nodeport")], "action": "DROP"}]}))];
        let decision = trace(&policies, &groups, &flow("10.0.0.5", "172.18.0.3", 30080));
        let matched = decision.matched.expect("node IP + nodePort");
        assert_eq!(matched.action, RuleAction::Drop);
        assert_eq!(
            matched.destination.describe(),
            "group k8s-nodeport: node node-1 (cluster c1) IP 172.18.0.3 + port 30080/TCP"
        );
        let wrong_port = trace(&policies, &groups, &flow("10.0.0.5", "172.18.0.3", 80));
        assert!(
            wrong_port.matched.is_none(),
            "port 80 of the node is not a member"
        );
        assert_eq!(wrong_port.action, RuleAction::Allow);
    }

    #[test]
    fn namespace_and_cluster_conditions_narrow_the_members() {
        let groups = [group(
            "shop-pods-c1",
            vec![and(vec![
                cond("KubernetesCluster", "Name", "c1"),
                cond("KubernetesNamespace", "Name", "shop"),
                cond("Pod", "Name", "web-0"),
            ])],
        )];
        let rule = |cluster: &str| {
            policy(
                json!({"id": format!("p-{cluster}"), "category": "Application",
                "rules": [{"id": "r", "source_groups": ["ANY"], "destination_groups": [g("shop-pods-c1")],
                    "service_entries": [{"resource_type": "L4PortSetServiceEntry", "l4_protocol": "TCP",
                        "destination_ports": ["8000-8100"]}], "action": "REJECT"}]}),
            )
        };
        let policies = [rule("c1")];
        let shop = trace(&policies, &groups, &flow("10.0.0.5", "10.244.1.5", 8080));
        let matched = shop.matched.expect("shop/web-0 in c1");
        assert_eq!(
            matched.destination.describe(),
            "group shop-pods-c1: pod shop/web-0 (cluster c1) IP 10.244.1.5"
        );
        assert_eq!(matched.service, "entry TCP 8000-8100");
        let dev = trace(&policies, &groups, &flow("10.0.0.5", "10.244.2.5", 8080));
        assert!(dev.matched.is_none(), "dev/web-0 is not in namespace shop");
        let other_cluster = [group(
            "shop-pods-c1",
            vec![and(vec![
                cond("KubernetesCluster", "Name", "c2"),
                cond("KubernetesNamespace", "Name", "shop"),
                cond("Pod", "Name", "web-0"),
            ])],
        )];
        let c2 = trace(
            &policies,
            &other_cluster,
            &flow("10.0.0.5", "10.244.1.5", 8080),
        );
        assert!(c2.matched.is_none(), "the pod is in c1, the group wants c2");
    }

    #[test]
    fn categories_then_sequence_numbers_decide_and_disabled_rules_skip() {
        let any_rule = |id: &str, action: &str, disabled: bool| json!({"id": id, "action": action, "disabled": disabled});
        let policies = [
            policy(
                json!({"id": "app-first", "category": "Application", "sequence_number": 1,
                "rules": [any_rule("app", "ALLOW", false)]}),
            ),
            policy(
                json!({"id": "env-late", "category": "Environment", "sequence_number": 20,
                "rules": [any_rule("env-late", "REJECT", false)]}),
            ),
            policy(
                json!({"id": "env-early", "category": "Environment", "sequence_number": 10,
                "rules": [any_rule("second", "DROP", false), any_rule("off", "ALLOW", true)]}),
            ),
            policy(
                json!({"id": "emergency", "category": "Emergency", "sequence_number": 99,
                "rules": [any_rule("disabled", "ALLOW", true)]}),
            ),
        ];
        let mut reordered = policies.clone();
        if let Some(rules) = reordered.get_mut(2).map(|p| &mut p.policy.rules) {
            rules[0].sequence_number = Some(2);
            rules[1].sequence_number = Some(1);
            rules[1].disabled = Some(false);
        }
        let f = flow("10.0.0.5", "10.0.0.6", 22);
        let decision = trace(&policies, &[], &f);
        let matched = decision.matched.expect("env-early wins");
        assert_eq!(
            (
                matched.category,
                matched.policy_id.as_str(),
                matched.rule_id.as_str()
            ),
            (Category::Environment, "env-early", "second")
        );
        assert_eq!(decision.action, RuleAction::Drop);
        assert_eq!(decision.decided_by, Some(Side::Egress));
        assert_eq!(
            decision.egress.rules_evaluated, 1,
            "the disabled Emergency rule is skipped"
        );
        let decision = trace(&reordered, &[], &f);
        assert_eq!(
            decision.matched.map(|m| m.rule_id),
            Some("off".to_string()),
            "rule sequence_number orders rules within a policy"
        );
        let jump = [
            policy(json!({"id": "env", "category": "Environment",
                "rules": [any_rule("jump", "JUMP_TO_APPLICATION", false), any_rule("never", "DROP", false)]})),
            policy(json!({"id": "app", "category": "Application",
                "rules": [any_rule("app-allow", "ALLOW", false)]})),
        ];
        let decision = trace(&jump, &[], &f);
        assert_eq!(decision.egress.jumped.len(), 1);
        assert_eq!(
            decision.matched.map(|m| m.rule_id),
            Some("app-allow".to_string())
        );
    }

    #[test]
    fn nothing_matching_ends_in_the_default_allow() {
        let groups = [ips("vm-web", &["10.0.0.5"])];
        let policies = [policy(json!({"id": "vms", "category": "Application",
            "rules": [{"id": "r", "source_groups": [g("vm-web")], "action": "DROP"},
                      {"id": "udp", "service_entries": [{"resource_type": "L4PortSetServiceEntry",
                        "l4_protocol": "UDP", "destination_ports": ["53"]}], "action": "DROP"}]}))];
        let decision = trace(&policies, &groups, &flow("10.0.0.6", "10.0.0.7", 53));
        assert!(decision.matched.is_none());
        assert_eq!(decision.action, RuleAction::Allow);
        assert_eq!(
            (
                decision.egress.rules_evaluated,
                decision.ingress.rules_evaluated
            ),
            (2, 2)
        );
        assert_eq!(decision.decided_by, None);
        let excluded: Vec<SpannedPolicy> = vec![policy(json!({"id": "not-vms",
            "rules": [{"id": "r", "source_groups": [g("vm-web")], "sources_excluded": true,
                "action": "DROP"}]}))];
        let decision = trace(&excluded, &groups, &flow("10.0.0.6", "10.0.0.7", 53));
        assert_eq!(
            decision.action,
            RuleAction::Drop,
            "10.0.0.6 is not in vm-web"
        );
    }

    fn spanned(value: Value, clusters: &[&str]) -> SpannedPolicy {
        let spans = clusters
            .iter()
            .map(|c| crate::model::SecurityPolicyContainerCluster {
                container_cluster_type: Some("ANTREA".into()),
                container_cluster_path: crate::span::cluster_control_plane_path(c),
                ..Default::default()
            })
            .collect();
        SpannedPolicy::new(serde_json::from_value(value).expect("policy json"), spans)
    }

    #[test]
    fn a_rule_decides_only_on_the_ends_in_its_applied_to() {
        let groups = [ips("vm-web", &["10.0.0.5"]), ips("vm-db", &["10.0.0.7"])];
        let policies = [policy(json!({"id": "web-only", "category": "Application",
            "scope": [g("vm-web")],
            "rules": [{"id": "drop-all", "rule_id": 1010, "action": "DROP",
                       "scope": [g("vm-db")]}]}))];
        // Neither end is in the policy's Applied-To: the rule decides nothing, and says so.
        let outside = trace(&policies, &groups, &flow("10.0.0.9", "10.0.0.8", 80));
        assert_eq!(outside.action, RuleAction::Allow);
        assert_eq!(outside.decided_by, None);
        assert_eq!(
            (
                outside.egress.rules_evaluated,
                outside.ingress.rules_evaluated
            ),
            (0, 0)
        );
        let egress_skip = &outside.egress.skipped;
        assert_eq!(egress_skip.len(), 1, "{egress_skip:?}");
        assert_eq!(egress_skip[0].rule.rule_id, "drop-all");
        assert_eq!(
            egress_skip[0].rule.applied_to,
            "group vm-web (policy Applied-To)"
        );
        assert_eq!(
            egress_skip[0].reason,
            "10.0.0.9 is not a member of group vm-web"
        );
        assert_eq!(
            outside.ingress.skipped[0].reason,
            "10.0.0.8 is not a member of group vm-web"
        );
        // The policy scope wins over the rule scope: vm-db (the rule's) does not count.
        let db = trace(&policies, &groups, &flow("10.0.0.7", "10.0.0.8", 80));
        assert_eq!(db.action, RuleAction::Allow, "{db:?}");
        // The source in scope: decided when leaving it; the destination: when entering it.
        let from_web = trace(&policies, &groups, &flow("10.0.0.5", "10.0.0.8", 80));
        assert_eq!(
            (from_web.action, from_web.decided_by),
            (RuleAction::Drop, Some(Side::Egress))
        );
        assert!(from_web.ingress.matched.is_none());
        let to_web = trace(&policies, &groups, &flow("10.0.0.8", "10.0.0.5", 80));
        assert_eq!(
            (to_web.action, to_web.decided_by),
            (RuleAction::Drop, Some(Side::Ingress))
        );
        assert_eq!(
            to_web.matched.map(|m| m.applied_to),
            Some("group vm-web (policy Applied-To)".to_string())
        );
        // Without a policy scope the rule scope is the Applied-To.
        let rule_scoped = [policy(json!({"id": "db", "category": "Application",
            "rules": [{"id": "drop-all", "action": "DROP", "scope": [g("vm-db")]}]}))];
        let into_db = trace(&rule_scoped, &groups, &flow("10.0.0.5", "10.0.0.7", 80));
        assert_eq!(
            (into_db.action, into_db.decided_by),
            (RuleAction::Drop, Some(Side::Ingress))
        );
        assert_eq!(
            into_db.egress.skipped[0].rule.applied_to,
            "group vm-db (rule Applied-To)"
        );
    }

    #[test]
    fn a_vm_rule_of_one_direction_is_enforced_on_that_side_only() {
        let groups = [ips("vm-web", &["10.0.0.5"])];
        let policies = [policy(json!({"id": "out", "category": "Application",
            "rules": [{"id": "drop-out", "action": "DROP", "direction": "OUT",
                       "scope": [g("vm-web")]}]}))];
        let leaving = trace(&policies, &groups, &flow("10.0.0.5", "10.0.0.8", 80));
        assert_eq!(leaving.decided_by, Some(Side::Egress));
        let entering = trace(&policies, &groups, &flow("10.0.0.8", "10.0.0.5", 80));
        assert_eq!(entering.action, RuleAction::Allow);
        assert!(
            entering.ingress.skipped.is_empty() && entering.ingress.rules_evaluated == 0,
            "an OUT rule is not on the ingress side at all: {entering:?}"
        );
    }

    #[test]
    fn a_policy_on_antrea_clusters_is_enforced_on_their_pods_as_the_adapter_writes_it() {
        let antrea = |id: &str, condition: Value| -> Group {
            serde_json::from_value(json!({"id": id, "group_type": ["ANTREA"],
                "path": format!("/infra/domains/default/groups/{id}"), "expression": [condition]}))
            .expect("group json")
        };
        let groups = [
            antrea(
                "shop-web",
                and(vec![
                    cond("Namespace", "Name", "shop"),
                    cond("Pod", "Name", "web-0"),
                ]),
            ),
            antrea("shop-ns", cond("Namespace", "Name", "shop")),
        ];
        let rule = json!({"id": "drop-in", "rule_id": 1020, "action": "DROP", "direction": "IN",
            "source_groups": ["ANY"], "destination_groups": [g("shop-ns")]});
        let on_c1 = [spanned(
            json!({"id": "p", "category": "Application", "scope": [g("shop-web")],
                   "rules": [rule.clone()]}),
            &["c1"],
        )];
        // VM -> shop/web-0: enforced entering the Pod (an IN rule is an ingress rule).
        let to_pod = trace(&on_c1, &groups, &flow("10.0.0.5", "10.244.1.5", 80));
        assert_eq!(
            (to_pod.action, to_pod.decided_by),
            (RuleAction::Drop, Some(Side::Ingress))
        );
        assert_eq!(
            to_pod.matched.as_ref().map(|m| m.applied_to.as_str()),
            Some("group shop-web (policy Applied-To), Pods of cluster c1")
        );
        assert_eq!(
            to_pod.ingress.owner.as_deref(),
            Some("pod shop/web-0 (cluster c1)")
        );
        assert_eq!(
            to_pod.egress.rules_evaluated, 0,
            "no egress rule is emitted"
        );
        // dev/web-0 is a Pod of c1 but not in the policy's Applied-To (shop-web: shop/web-0).
        let dev = trace(&on_c1, &groups, &flow("10.0.0.5", "10.244.2.5", 80));
        assert_eq!(dev.action, RuleAction::Allow, "{dev:?}");
        // The same policy spanning c2 only: the Pods of c1 are not where it is enforced.
        let on_c2 = [spanned(
            json!({"id": "p", "category": "Application", "scope": [g("shop-web")],
                   "rules": [rule.clone()]}),
            &["c2"],
        )];
        let elsewhere = trace(&on_c2, &groups, &flow("10.0.0.5", "10.244.1.5", 80));
        assert_eq!(elsewhere.action, RuleAction::Allow);
        assert_eq!(
            elsewhere.ingress.skipped[0].reason,
            "10.244.1.5 is not a Pod of cluster c2"
        );
        // Without any Applied-To, the rule's own end (the destination groups) is: shop Pods.
        let own_end = [spanned(
            json!({"id": "p", "category": "Application", "rules": [rule]}),
            &["c1"],
        )];
        let decided = trace(&own_end, &groups, &flow("10.0.0.5", "10.244.1.5", 80));
        assert_eq!(
            decided.matched.map(|m| m.applied_to),
            Some(
                "group shop-ns (no Applied-To: the rule's own end), Pods of cluster c1".to_string()
            )
        );
        // A node IP is never a Pod: an Antrea policy does not decide there.
        let any_any = [spanned(
            json!({"id": "all", "category": "Application",
                   "rules": [{"id": "drop", "action": "DROP"}]}),
            &["c1"],
        )];
        let node = trace(&any_any, &groups, &flow("10.0.0.5", "172.18.0.2", 80));
        assert_eq!(node.action, RuleAction::Allow);
        assert_eq!(
            node.ingress.skipped[0].rule.applied_to,
            "every Pod of cluster c1 (no Applied-To: the whole cluster)"
        );
        let pod = trace(&any_any, &groups, &flow("10.244.2.5", "172.18.0.2", 80));
        assert_eq!(pod.decided_by, Some(Side::Egress));
    }
}
