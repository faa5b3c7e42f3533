//! Antrea-native policies (ACNP and ANNP): the mutating webhook (generated rule names, default
//! Tier) and the validating webhook (`validateAntreaPolicy`), reference §1.1 and §1.2. The
//! checks run in the table's order and the first failing one is reported, with Antrea's text.
//!
//! Model limits: `ports: []`, `toServices: []` and `sameLabels: []` cannot be told apart from
//! absent fields, so Go's "non-nil" tests are read as "non-empty".

use super::feature_gates::FeatureGates;
use super::field::{Check, Violation};
use super::labels::qualified_name_errors;
use super::net::{go_ip_string, is_multicast, is_strict_subset, parse_cidr, parse_ip};
use super::rule_name::{Direction, generated_rule_name};
use crate::store::{BASELINE_TIER, DEFAULT_TIER, Store};
use std::collections::HashSet;
use tierwall_model::antrea::{AntreaPolicy, AppliedTo, IpBlock, Peer, PolicySpec, Rule};
use tierwall_model::{IntOrString, LabelSelector};

/// Static Tier names of older Antrea releases, still accepted in `spec.tier`.
pub const LEGACY_STATIC_TIERS: [&str; 6] = [
    "Emergency",
    "SecurityOps",
    "NetworkOps",
    "Platform",
    "Application",
    "Baseline",
];

/// Maximum length of a log label of a Node NetworkPolicy rule before the warning.
const NODE_LOG_LABEL_MAX: usize = 12;

/// The mutating webhook: names unnamed rules, defaults the Tier.
pub fn mutate(policy: &mut AntreaPolicy) {
    let spec = &mut policy.spec;
    for (direction, rules) in [
        (Direction::Ingress, &mut spec.ingress),
        (Direction::Egress, &mut spec.egress),
    ] {
        for rule in rules.iter_mut() {
            if rule.name.is_empty() {
                rule.name = generated_rule_name(direction, rule);
            }
        }
    }
    if spec.tier.is_empty() {
        spec.tier = DEFAULT_TIER.to_string();
    }
}

fn rule_path(direction: Direction, i: usize) -> String {
    format!("spec.{}[{i}]", direction.prefix())
}

/// Ingress rules then egress rules, with their direction and index.
fn all_rules(spec: &PolicySpec) -> impl Iterator<Item = (Direction, usize, &Rule)> {
    let ingress = spec
        .ingress
        .iter()
        .enumerate()
        .map(|(i, r)| (Direction::Ingress, i, r));
    let egress = spec
        .egress
        .iter()
        .enumerate()
        .map(|(i, r)| (Direction::Egress, i, r));
    ingress.chain(egress)
}

/// The validating webhook. Returns the warnings of an accepted policy.
pub fn validate(
    store: &Store,
    policy: &AntreaPolicy,
    gates: &FeatureGates,
) -> Result<Vec<String>, Violation> {
    let spec = &policy.spec;
    validate_tier(store, spec)?;
    validate_rule_names(spec)?;
    validate_applied_to(spec)?;
    validate_peers(spec)?;
    validate_service_ingress_peers(spec)?;
    validate_fqdn(spec)?;
    validate_egress_multicast(spec)?;
    validate_igmp(spec)?;
    validate_l7(spec, gates)?;
    validate_ports(spec)?;
    validate_selector_operators(spec)?;
    Ok(node_policy_log_label_warnings(spec))
}

/// Rows 1–2: the Tier exists; no `Pass` in the baseline Tier.
fn validate_tier(store: &Store, spec: &PolicySpec) -> Check {
    let tier = spec.tier.as_str();
    if !tier.is_empty() && !LEGACY_STATIC_TIERS.contains(&tier) && store.tier(tier).is_none() {
        return Err(Violation::new(
            "spec.tier",
            format!("tier {tier} does not exist"),
        ));
    }
    if tier.to_lowercase() == BASELINE_TIER {
        for (direction, i, rule) in all_rules(spec) {
            if rule.action == "Pass" {
                return Err(Violation::new(
                    format!("{}.action", rule_path(direction, i)),
                    "`Pass` action should not be set for Baseline Tier policy rules",
                ));
            }
        }
    }
    Ok(())
}

/// Row 3: rule names are unique across ingress and egress.
fn validate_rule_names(spec: &PolicySpec) -> Check {
    let mut seen = HashSet::new();
    for (direction, i, rule) in all_rules(spec) {
        if !seen.insert(rule.name.as_str()) {
            return Err(Violation::new(
                format!("{}.name", rule_path(direction, i)),
                "rules names must be unique within the policy",
            ));
        }
    }
    Ok(())
}

/// Number of fields set in an appliedTo entry (Go reflection: non-nil pointers, non-empty strings).
fn applied_to_fields(at: &AppliedTo) -> usize {
    [
        at.pod_selector.is_some(),
        at.namespace_selector.is_some(),
        at.external_entity_selector.is_some(),
        !at.group.is_empty(),
        at.service_account.is_some(),
        at.service.is_some(),
        at.node_selector.is_some(),
    ]
    .into_iter()
    .filter(|b| *b)
    .count()
}

/// Number of fields set in a peer.
fn peer_fields(p: &Peer) -> usize {
    [
        p.ip_block.is_some(),
        p.pod_selector.is_some(),
        p.namespace_selector.is_some(),
        p.namespaces.is_some(),
        p.external_entity_selector.is_some(),
        !p.group.is_empty(),
        !p.fqdn.is_empty(),
        p.service_account.is_some(),
        p.node_selector.is_some(),
        !p.scope.is_empty(),
    ]
    .into_iter()
    .filter(|b| *b)
    .count()
}

/// Rows 12/13/25: `matchLabels` keys and values of the given selectors, in order.
pub(super) fn check_selector_labels(selectors: &[(String, Option<&LabelSelector>)]) -> Check {
    for (path, selector) in selectors {
        let Some(selector) = selector else { continue };
        for (k, v) in selector.match_labels.iter().flatten() {
            let errs = qualified_name_errors(k);
            if !errs.is_empty() {
                return Err(Violation::new(
                    format!("{path}.matchLabels"),
                    format!("Invalid label key: {k}: {}", errs.join("; ")),
                ));
            }
            let errs = super::labels::label_value_errors(v);
            if !errs.is_empty() {
                return Err(Violation::new(
                    format!("{path}.matchLabels"),
                    format!("Invalid label value: {v}: {}", errs.join("; ")),
                ));
            }
        }
    }
    Ok(())
}

/// tierwall addition: `matchExpressions` operators (and their values) are checked with
/// `LabelSelector::check`. Antrea's webhook does not look at `matchExpressions`; its controller
/// fails later on a bad operator, so tierwall rejects such policies at admission, after every
/// Antrea check has passed (so that Antrea's own messages keep their precedence).
pub(super) fn check_selector_operators(selectors: &[(String, Option<&LabelSelector>)]) -> Check {
    for (path, selector) in selectors {
        if let Some(selector) = selector {
            selector
                .check()
                .map_err(|e| Violation::new(format!("{path}.matchExpressions"), e))?;
        }
    }
    Ok(())
}

fn applied_to_selectors<'a>(
    path: &str,
    at: &'a AppliedTo,
) -> Vec<(String, Option<&'a LabelSelector>)> {
    vec![
        (format!("{path}.podSelector"), at.pod_selector.as_ref()),
        (
            format!("{path}.namespaceSelector"),
            at.namespace_selector.as_ref(),
        ),
        (
            format!("{path}.externalEntitySelector"),
            at.external_entity_selector.as_ref(),
        ),
        (format!("{path}.nodeSelector"), at.node_selector.as_ref()),
    ]
}

fn peer_selectors<'a>(path: &str, p: &'a Peer) -> Vec<(String, Option<&'a LabelSelector>)> {
    vec![
        (format!("{path}.podSelector"), p.pod_selector.as_ref()),
        (
            format!("{path}.namespaceSelector"),
            p.namespace_selector.as_ref(),
        ),
        (
            format!("{path}.externalEntitySelector"),
            p.external_entity_selector.as_ref(),
        ),
        (format!("{path}.nodeSelector"), p.node_selector.as_ref()),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AppliedToScope {
    Policy,
    Rule(Direction),
}

/// Rows 4–14.
fn validate_applied_to(spec: &PolicySpec) -> Check {
    let in_spec = !spec.applied_to.is_empty();
    let with: Vec<(Direction, usize)> = all_rules(spec)
        .filter(|(_, _, r)| !r.applied_to.is_empty())
        .map(|(d, i, _)| (d, i))
        .collect();
    if let (true, Some((d, i))) = (in_spec, with.first()) {
        return Err(Violation::new(
            format!("{}.appliedTo", rule_path(*d, *i)),
            "appliedTo should not be set in both spec and rules",
        ));
    }
    if !in_spec && with.is_empty() {
        return Err(Violation::new(
            "spec.appliedTo",
            "appliedTo needs to be set in either spec or rules",
        ));
    }
    if !with.is_empty()
        && let Some((d, i, _)) = all_rules(spec).find(|(_, _, r)| r.applied_to.is_empty())
    {
        return Err(Violation::new(
            format!("{}.appliedTo", rule_path(d, i)),
            "appliedTo field should either be set in all rules or in none of them",
        ));
    }
    let has_egress = !spec.egress.is_empty();
    check_applied_to_list(
        &spec.applied_to,
        AppliedToScope::Policy,
        "spec.appliedTo",
        has_egress,
    )?;
    for (direction, i, rule) in all_rules(spec) {
        let path = format!("{}.appliedTo", rule_path(direction, i));
        check_applied_to_list(
            &rule.applied_to,
            AppliedToScope::Rule(direction),
            &path,
            has_egress,
        )?;
    }
    Ok(())
}

fn check_applied_to_list(
    list: &[AppliedTo],
    scope: AppliedToScope,
    path: &str,
    has_egress: bool,
) -> Check {
    let mut services = 0;
    for (j, at) in list.iter().enumerate() {
        let entry = format!("{path}[{j}]");
        let n = applied_to_fields(at);
        if !at.group.is_empty() && n > 1 {
            return Err(Violation::new(
                entry,
                "group cannot be set with other peers in appliedTo",
            ));
        }
        if at.node_selector.is_some() && n > 1 {
            return Err(Violation::new(
                entry,
                "nodeSelector cannot be set with other peers in appliedTo",
            ));
        }
        if at.service_account.is_some() && n > 1 {
            return Err(Violation::new(
                entry,
                "serviceAccount cannot be set with other peers in appliedTo",
            ));
        }
        if at.service.is_some() {
            if n > 1 {
                return Err(Violation::new(
                    entry,
                    "service cannot be set with other peers in appliedTo",
                ));
            }
            let egress = match scope {
                AppliedToScope::Rule(d) => d == Direction::Egress,
                AppliedToScope::Policy => has_egress,
            };
            if egress {
                return Err(Violation::new(
                    format!("{entry}.service"),
                    "egress rule cannot be applied to Services",
                ));
            }
            services += 1;
        }
        check_selector_labels(&applied_to_selectors(&entry, at))?;
    }
    if services > 0 && services < list.len() {
        return Err(Violation::new(
            path,
            "a rule/policy cannot be applied to Services and other peers at the same time",
        ));
    }
    Ok(())
}

/// Rows 18–21: an `ipBlock` (also used by ClusterGroups and Groups).
pub(super) fn validate_ip_block(block: &IpBlock, path: &str) -> Check {
    if block.cidr.is_empty() {
        return Err(Violation::new(
            format!("{path}.cidr"),
            "field 'cidr' is required in an ipBlock",
        ));
    }
    let cidr = parse_cidr(&block.cidr).map_err(|e| Violation::new(format!("{path}.cidr"), e))?;
    for (k, except) in block.except.iter().enumerate() {
        let field = format!("{path}.except[{k}]");
        let ex = parse_cidr(except).map_err(|e| {
            Violation::new(field.clone(), format!("invalid except CIDR value: {e}"))
        })?;
        if !is_strict_subset(&cidr, &ex) {
            return Err(Violation::new(
                field,
                format!(
                    "except CIDR {except} is not a strict subset of CIDR {}",
                    block.cidr
                ),
            ));
        }
    }
    Ok(())
}

/// Rows 15–26.
fn validate_peers(spec: &PolicySpec) -> Check {
    for (i, rule) in spec.ingress.iter().enumerate() {
        check_peers(
            &rule.from,
            &format!("{}.from", rule_path(Direction::Ingress, i)),
        )?;
    }
    for (i, rule) in spec.egress.iter().enumerate() {
        let path = rule_path(Direction::Egress, i);
        if !rule.to_services.is_empty()
            && (!rule.to.is_empty() || !rule.ports.is_empty() || !rule.protocols.is_empty())
        {
            return Err(Violation::new(
                format!("{path}.toServices"),
                "`toServices` cannot be used with `to`, `ports` or `protocols`",
            ));
        }
        check_peers(&rule.to, &format!("{path}.to"))?;
    }
    Ok(())
}

fn check_peers(peers: &[Peer], path: &str) -> Check {
    for (j, peer) in peers.iter().enumerate() {
        let entry = format!("{path}[{j}]");
        if peer.namespace_selector.is_some() && peer.namespaces.is_some() {
            return Err(Violation::new(
                entry,
                "namespaces and namespaceSelector cannot be set at the same time for a single NetworkPolicyPeer",
            ));
        }
        if let Some(ns) = &peer.namespaces {
            if !ns.match_.is_empty() && !ns.same_labels.is_empty() {
                return Err(Violation::new(
                    format!("{entry}.namespaces"),
                    "only one matching criteria can be specified in a single peer namespaces field",
                ));
            }
            for (k, key) in ns.same_labels.iter().enumerate() {
                if !qualified_name_errors(key).is_empty() {
                    return Err(Violation::new(
                        format!("{entry}.namespaces.sameLabels[{k}]"),
                        format!("Invalid label key in sameLabels rule: {key}"),
                    ));
                }
            }
        }
        if let Some(block) = &peer.ip_block {
            validate_ip_block(block, &format!("{entry}.ipBlock"))?;
        }
        let n = peer_fields(peer);
        if !peer.group.is_empty() && n > 1 {
            return Err(Violation::new(
                entry,
                "group cannot be set with other peers in rules",
            ));
        }
        if peer.service_account.is_some() && n > 1 {
            return Err(Violation::new(
                entry,
                "serviceAccount cannot be set with other peers in rules",
            ));
        }
        if peer.node_selector.is_some() && n > 1 {
            return Err(Violation::new(
                entry,
                "nodeSelector cannot be set with other peers in rules",
            ));
        }
        check_selector_labels(&peer_selectors(&entry, peer))?;
    }
    Ok(())
}

/// Row 27: a policy or ingress rule applied to Services only admits ipBlock-only peers.
fn validate_service_ingress_peers(spec: &PolicySpec) -> Check {
    let applies_to_service = |list: &[AppliedTo]| list.first().is_some_and(|a| a.service.is_some());
    let policy = applies_to_service(&spec.applied_to);
    for (i, rule) in spec.ingress.iter().enumerate() {
        if policy || applies_to_service(&rule.applied_to) {
            for (j, peer) in rule.from.iter().enumerate() {
                if peer.ip_block.is_none() || peer_fields(peer) > 1 {
                    return Err(Violation::new(
                        format!("{}.from[{j}]", rule_path(Direction::Ingress, i)),
                        "a rule/policy that is applied to Services can only use ipBlock to select workloads",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Row 28: FQDN characters `^[-0-9a-zA-Z.*]+$`.
fn validate_fqdn(spec: &PolicySpec) -> Check {
    for (i, rule) in spec.egress.iter().enumerate() {
        for (j, peer) in rule.to.iter().enumerate() {
            let ok = peer
                .fqdn
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'*'));
            if !peer.fqdn.is_empty() && !ok {
                return Err(Violation::new(
                    format!("{}.to[{j}].fqdn", rule_path(Direction::Egress, i)),
                    format!(
                        "invalid characters in egress rule fqdn field: {}",
                        peer.fqdn
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Rows 29–32: multicast ipBlocks in egress rules.
pub(super) fn validate_egress_multicast(spec: &PolicySpec) -> Check {
    for (i, rule) in spec.egress.iter().enumerate() {
        let path = rule_path(Direction::Egress, i);
        let (mut multicast, mut unicast, mut selectors) = (false, false, false);
        for (j, peer) in rule.to.iter().enumerate() {
            let Some(block) = &peer.ip_block else {
                continue;
            };
            let cidr = parse_cidr(&block.cidr).map_err(|e| {
                Violation::new(
                    format!("{path}.to[{j}].ipBlock.cidr"),
                    format!("invalid multicast groupAddress address (to.IPBlock.CIDR): {e}"),
                )
            })?;
            if is_multicast(cidr.ip) {
                multicast = true;
            } else {
                unicast = true;
            }
            if peer.pod_selector.is_some()
                || peer.namespace_selector.is_some()
                || peer.namespaces.is_some()
                || peer.external_entity_selector.is_some()
                || peer.service_account.is_some()
                || peer.node_selector.is_some()
            {
                selectors = true;
            }
        }
        if multicast && matches!(rule.action.as_str(), "Pass" | "Reject") {
            return Err(Violation::new(
                format!("{path}.action"),
                "multicast does not support action Pass or Reject",
            ));
        }
        if multicast && unicast {
            return Err(Violation::new(
                format!("{path}.to"),
                "can not set multicast groupAddress and unicast ip address at the same time",
            ));
        }
        if multicast && selectors {
            return Err(Violation::new(
                format!("{path}.to"),
                "can not set multicast groupAddress and selectors at the same time",
            ));
        }
    }
    Ok(())
}

/// Rows 33–35: IGMP. The IGMP/ICMP flags accumulate across rules (ingress, then egress).
fn validate_igmp(spec: &PolicySpec) -> Check {
    let (mut have_igmp, mut have_icmp) = (false, false);
    for (direction, i, rule) in all_rules(spec) {
        let path = rule_path(direction, i);
        for (j, proto) in rule.protocols.iter().enumerate() {
            if let Some(igmp) = &proto.igmp {
                have_igmp = true;
                if let Some(addr) = igmp.group_address.as_deref().filter(|a| !a.is_empty()) {
                    let ip = parse_ip(addr);
                    if !ip.is_some_and(is_multicast) {
                        return Err(Violation::new(
                            format!("{path}.protocols[{j}].igmp.groupAddress"),
                            format!("groupAddress {} is not multicast address", go_ip_string(ip)),
                        ));
                    }
                }
                if matches!(rule.action.as_str(), "Pass" | "Reject") {
                    return Err(Violation::new(
                        format!("{path}.action"),
                        "protocol IGMP does not support Pass or Reject",
                    ));
                }
            }
            if proto.icmp.is_some() {
                have_icmp = true;
            }
        }
        if have_igmp
            && (!rule.ports.is_empty()
                || !rule.to_services.is_empty()
                || !rule.from.is_empty()
                || !rule.to.is_empty()
                || have_icmp)
        {
            return Err(Violation::new(
                path,
                "protocol IGMP can not be used with other protocols or other properties like from, to",
            ));
        }
    }
    Ok(())
}

/// Rows 36–40: layer-7 protocols.
fn validate_l7(spec: &PolicySpec, gates: &FeatureGates) -> Check {
    for (direction, i, rule) in all_rules(spec) {
        if rule.l7_protocols.is_empty() {
            continue;
        }
        let path = rule_path(direction, i);
        if !gates.l7_network_policy {
            return Err(Violation::new(
                format!("{path}.l7Protocols"),
                "layer 7 protocols can only be used when L7NetworkPolicy is enabled",
            ));
        }
        if rule.action != "Allow" {
            return Err(Violation::new(
                format!("{path}.action"),
                "layer 7 protocols only support Allow",
            ));
        }
        if !rule.to_services.is_empty() {
            return Err(Violation::new(
                format!("{path}.toServices"),
                "layer 7 protocols can not be used with toServices",
            ));
        }
        let http = rule.l7_protocols.iter().any(|p| p.http.is_some());
        if !http {
            continue;
        }
        for (j, port) in rule.ports.iter().enumerate() {
            if port.protocol.as_deref().is_some_and(|p| p != "TCP") {
                return Err(Violation::new(
                    format!("{path}.ports[{j}].protocol"),
                    "HTTP protocol can only be used when layer 4 protocol is TCP or unset",
                ));
            }
        }
        for (j, proto) in rule.protocols.iter().enumerate() {
            if proto.igmp.is_some() || proto.icmp.is_some() {
                return Err(Violation::new(
                    format!("{path}.protocols[{j}]"),
                    "HTTP protocol can not be used with protocol IGMP or ICMP",
                ));
            }
        }
    }
    Ok(())
}

/// Rows 41–45: port and source-port ranges.
fn validate_ports(spec: &PolicySpec) -> Check {
    for (direction, i, rule) in all_rules(spec) {
        for (j, port) in rule.ports.iter().enumerate() {
            let path = format!("{}.ports[{j}]", rule_path(direction, i));
            if let Some(end) = port.end_port {
                match &port.port {
                    None => {
                        return Err(Violation::new(
                            format!("{path}.endPort"),
                            "if `endPort` is specified `port` must be specified",
                        ));
                    }
                    Some(IntOrString::String(_)) => {
                        return Err(Violation::new(
                            format!("{path}.endPort"),
                            "if `port` is a string `endPort` cannot be specified",
                        ));
                    }
                    Some(IntOrString::Int(p)) if i64::from(end) < *p => {
                        return Err(Violation::new(
                            format!("{path}.endPort"),
                            "`endPort` should be greater than or equal to `port`",
                        ));
                    }
                    Some(IntOrString::Int(_)) => {}
                }
            }
            if let Some(end) = port.source_end_port {
                match port.source_port {
                    None => {
                        return Err(Violation::new(
                            format!("{path}.sourceEndPort"),
                            "if `sourceEndPort` is specified `sourcePort` must be specified",
                        ));
                    }
                    Some(src) if end < src => {
                        return Err(Violation::new(
                            format!("{path}.sourceEndPort"),
                            "`sourceEndPort` should be greater than or equal to `sourcePort`",
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    Ok(())
}

/// tierwall addition (see `check_selector_operators`), over every selector of the policy.
fn validate_selector_operators(spec: &PolicySpec) -> Check {
    for (j, at) in spec.applied_to.iter().enumerate() {
        check_selector_operators(&applied_to_selectors(&format!("spec.appliedTo[{j}]"), at))?;
    }
    for (direction, i, rule) in all_rules(spec) {
        let path = rule_path(direction, i);
        for (j, at) in rule.applied_to.iter().enumerate() {
            check_selector_operators(&applied_to_selectors(&format!("{path}.appliedTo[{j}]"), at))?;
        }
        for (list, name) in [(&rule.from, "from"), (&rule.to, "to")] {
            for (j, peer) in list.iter().enumerate() {
                check_selector_operators(&peer_selectors(&format!("{path}.{name}[{j}]"), peer))?;
            }
        }
    }
    Ok(())
}

/// Row W: log labels longer than 12 characters in a Node NetworkPolicy.
fn node_policy_log_label_warnings(spec: &PolicySpec) -> Vec<String> {
    if !spec.applied_to.iter().any(|a| a.node_selector.is_some()) {
        return Vec::new();
    }
    all_rules(spec)
        .filter(|(_, _, r)| r.enable_logging && r.log_label.len() > NODE_LOG_LABEL_MAX)
        .map(|(_, _, r)| {
            format!(
                "LogLabels for Node NetworkPolicies are limited to {NODE_LOG_LABEL_MAX} characters, but the label \"{}\" for policy rule \"{}\" exceeds the limit and will be truncated in kernel logs",
                r.log_label, r.name
            )
        })
        .collect()
}
