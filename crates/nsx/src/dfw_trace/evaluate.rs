//! The evaluation: policies in category, policy and rule order, on each side the rules that
//! take part there and whose Applied-To holds that end, first match wins (a jump moves on to
//! the Application category), the default ALLOW otherwise.

use super::applied_to::AppliedToSet;
use super::context::Context;
use super::endpoints::{inventory_owner, match_endpoint};
use super::flow::{
    AppliedToSkip, DfwObjects, RuleMatch, Side, SideDecision, TraceDecision, TraceFlow,
};
use super::services::match_services;
use crate::model::{Category, Direction, IpProtocol, Rule, RuleAction, SecurityPolicy};
use crate::span::SpannedPolicy;
use crate::translate::emitted_sides;
use crate::validate::MapLookup;
use std::cell::RefCell;
use std::collections::BTreeMap;

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
