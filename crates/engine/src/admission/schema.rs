//! What the API server does to Antrea CRs before and around the webhooks, from the CRDs'
//! structural schemas (reference §0 and §1.5):
//!
//! * **Fields the schemas lack**: Antrea's API server prunes them silently at decoding; tierwall
//!   rejects them with their path (an "unknown field" is always reported). ACNP: no `externalEntitySelector` in any
//!   appliedTo or peer, no rule-level appliedTo `nodeSelector`, no egress rule-level appliedTo
//!   `service`, no ingress peer `fqdn`, no egress peer `scope`. ANNP: spec appliedTo keeps only
//!   `podSelector`, `externalEntitySelector`, `group`; rule appliedTo only `podSelector`,
//!   `group`; peers lose `namespaces` and `serviceAccount` (ingress also `fqdn`, egress also
//!   `scope`). Group: no `nodeSelector`. An entry left empty stays (as an empty entry).
//! * **OpenAPI validation** (after mutation, before the validating webhook): ACNP/ANNP
//!   `priority` 1..10000, rule `action` enum, port `protocol` enum, ICMP type/code 0..255, IGMP
//!   type enums (ingress 0x11; egress 0x12, 0x16, 0x22), HTTP `method` enum, `namespaces`
//!   `match` enum and at least one property, `serviceAccount`/`service` `name`+`namespace`
//!   required, `toServices` `name` (and for ACNP `namespace`) required, `logLabel` pattern;
//!   Tier `priority` 0..255.
//!
//! Deliberately not mirrored: `ipBlock.cidr` `format: cidr` and `igmp.groupAddress` formats
//! (Antrea's own messages for those are reported instead), `namespaces` `maxProperties: 1`
//! (reported with Antrea's "only one matching criteria" text), `scope` enums.

use super::field::{
    Check, Violation, above_maximum, below_minimum, int_range, not_supported, number,
    pattern_mismatch, quote, required,
};
use super::rule_name::Direction;
use tierwall_model::Kind;
use tierwall_model::antrea::{AntreaGroup, AntreaPolicy, AppliedTo, Peer, Rule, Tier};

/// The rule actions of the CRD enum.
pub const ACTIONS: [&str; 4] = ["Allow", "Drop", "Reject", "Pass"];
/// The port protocols of the CRD enum.
pub const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];
const HTTP_METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH",
];
const INGRESS_IGMP_TYPES: [i32; 1] = [0x11];
const EGRESS_IGMP_TYPES: [i32; 3] = [0x12, 0x16, 0x22];
const LOG_LABEL_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";

/// Fields the CRD schema of `kind` does not have. The API server would prune them silently;
/// tierwall rejects them with their path instead, because a dropped field changes what a policy
/// selects (`docs/semantics.md`).
pub fn check_policy_fields(kind: Kind, policy: &AntreaPolicy) -> Check {
    let cluster = kind == Kind::ClusterNetworkPolicy;
    let spec = &policy.spec;
    for (j, at) in spec.applied_to.iter().enumerate() {
        let path = format!("spec.appliedTo[{j}]");
        if cluster {
            unsupported(
                kind,
                &path,
                "externalEntitySelector",
                at.external_entity_selector.is_some(),
            )?;
        } else {
            unsupported(
                kind,
                &path,
                "namespaceSelector",
                at.namespace_selector.is_some(),
            )?;
            unsupported(kind, &path, "serviceAccount", at.service_account.is_some())?;
            unsupported(kind, &path, "service", at.service.is_some())?;
            unsupported(kind, &path, "nodeSelector", at.node_selector.is_some())?;
        }
    }
    for (direction, rules) in [
        (Direction::Ingress, &spec.ingress),
        (Direction::Egress, &spec.egress),
    ] {
        for (i, rule) in rules.iter().enumerate() {
            let rule_path = format!("spec.{}[{i}]", direction.prefix());
            for (j, at) in rule.applied_to.iter().enumerate() {
                let path = format!("{rule_path}.appliedTo[{j}]");
                unsupported(
                    kind,
                    &path,
                    "externalEntitySelector",
                    at.external_entity_selector.is_some(),
                )?;
                unsupported(kind, &path, "nodeSelector", at.node_selector.is_some())?;
                if cluster {
                    unsupported(
                        kind,
                        &path,
                        "service",
                        direction == Direction::Egress && at.service.is_some(),
                    )?;
                } else {
                    unsupported(
                        kind,
                        &path,
                        "namespaceSelector",
                        at.namespace_selector.is_some(),
                    )?;
                    unsupported(kind, &path, "serviceAccount", at.service_account.is_some())?;
                    unsupported(kind, &path, "service", at.service.is_some())?;
                }
            }
            let (peers, list) = match direction {
                Direction::Ingress => (&rule.from, "from"),
                Direction::Egress => (&rule.to, "to"),
            };
            for (j, peer) in peers.iter().enumerate() {
                let path = format!("{rule_path}.{list}[{j}]");
                if cluster {
                    unsupported(
                        kind,
                        &path,
                        "externalEntitySelector",
                        peer.external_entity_selector.is_some(),
                    )?;
                } else {
                    unsupported(kind, &path, "namespaces", peer.namespaces.is_some())?;
                    unsupported(
                        kind,
                        &path,
                        "serviceAccount",
                        peer.service_account.is_some(),
                    )?;
                }
                match direction {
                    Direction::Ingress => unsupported(kind, &path, "fqdn", !peer.fqdn.is_empty())?,
                    Direction::Egress => unsupported(kind, &path, "scope", !peer.scope.is_empty())?,
                }
            }
        }
    }
    Ok(())
}

/// Fields the Group CRD schema does not have (`nodeSelector`, which only ClusterGroups have).
pub fn check_group_fields(kind: Kind, group: &AntreaGroup) -> Check {
    unsupported(
        kind,
        "spec",
        "nodeSelector",
        kind == Kind::Group && group.spec.node_selector.is_some(),
    )
}

fn unsupported(kind: Kind, path: &str, field: &str, present: bool) -> Check {
    if present {
        Err(super::field::Violation::new(
            format!("{path}.{field}"),
            format!(
                "field not declared in the {} schema: {field} is not supported here (Antrea would silently drop it)",
                kind.kind_name()
            ),
        ))
    } else {
        Ok(())
    }
}

/// OpenAPI checks of an ACNP/ANNP (after mutation).
pub fn check_policy(kind: Kind, policy: &AntreaPolicy) -> Check {
    let spec = &policy.spec;
    let p = spec.priority;
    if p.is_nan() || p < 1.0 {
        return Err(below_minimum("spec.priority", &number(p), "1"));
    }
    if p > 10000.0 {
        return Err(above_maximum("spec.priority", &number(p), "10000"));
    }
    for (j, at) in spec.applied_to.iter().enumerate() {
        check_applied_to(&format!("spec.appliedTo[{j}]"), at)?;
    }
    for (direction, rules) in [
        (Direction::Ingress, &spec.ingress),
        (Direction::Egress, &spec.egress),
    ] {
        for (i, rule) in rules.iter().enumerate() {
            check_rule(
                kind,
                direction,
                &format!("spec.{}[{i}]", direction.prefix()),
                rule,
            )?;
        }
    }
    Ok(())
}

fn check_rule(kind: Kind, direction: Direction, path: &str, rule: &Rule) -> Check {
    if !ACTIONS.contains(&rule.action.as_str()) {
        return Err(not_supported(
            format!("{path}.action"),
            quote(&rule.action),
            &ACTIONS,
        ));
    }
    for (j, port) in rule.ports.iter().enumerate() {
        if let Some(proto) = &port.protocol
            && !PROTOCOLS.contains(&proto.as_str())
        {
            return Err(not_supported(
                format!("{path}.ports[{j}].protocol"),
                quote(proto),
                &PROTOCOLS,
            ));
        }
    }
    for (j, proto) in rule.protocols.iter().enumerate() {
        let base = format!("{path}.protocols[{j}]");
        if let Some(icmp) = &proto.icmp {
            if let Some(t) = icmp.icmp_type {
                int_range(&format!("{base}.icmp.icmpType"), t.into(), 0, 255)?;
            }
            if let Some(c) = icmp.icmp_code {
                int_range(&format!("{base}.icmp.icmpCode"), c.into(), 0, 255)?;
            }
        }
        if let Some(igmp) = &proto.igmp {
            let allowed: &[i32] = match direction {
                Direction::Ingress => &INGRESS_IGMP_TYPES,
                Direction::Egress => &EGRESS_IGMP_TYPES,
            };
            if let Some(t) = igmp.igmp_type
                && !allowed.contains(&t)
            {
                let names: Vec<String> = allowed.iter().map(i32::to_string).collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                return Err(not_supported(format!("{base}.igmp.igmpType"), t, &names));
            }
        }
    }
    for (j, l7) in rule.l7_protocols.iter().enumerate() {
        if let Some(method) = l7.http.as_ref().and_then(|h| h.method.as_deref())
            && !HTTP_METHODS.contains(&method)
        {
            return Err(not_supported(
                format!("{path}.l7Protocols[{j}].http.method"),
                quote(method),
                &HTTP_METHODS,
            ));
        }
    }
    for (list, name) in [(&rule.from, "from"), (&rule.to, "to")] {
        for (j, peer) in list.iter().enumerate() {
            check_peer(&format!("{path}.{name}[{j}]"), peer)?;
        }
    }
    for (j, svc) in rule.to_services.iter().enumerate() {
        if svc.name.is_empty() {
            return Err(required(format!("{path}.toServices[{j}].name"), ""));
        }
        if kind == Kind::ClusterNetworkPolicy && svc.namespace.is_empty() {
            return Err(required(format!("{path}.toServices[{j}].namespace"), ""));
        }
    }
    if !log_label_matches(&rule.log_label) {
        return Err(pattern_mismatch(
            &format!("{path}.logLabel"),
            &rule.log_label,
            LOG_LABEL_PATTERN,
        ));
    }
    for (j, at) in rule.applied_to.iter().enumerate() {
        check_applied_to(&format!("{path}.appliedTo[{j}]"), at)?;
    }
    Ok(())
}

fn check_peer(path: &str, peer: &Peer) -> Check {
    if let Some(ns) = &peer.namespaces {
        if ns.match_.is_empty() && ns.same_labels.is_empty() {
            return Err(Violation::new(
                format!("{path}.namespaces"),
                format!(
                    "Invalid value: 0: {path}.namespaces in body should have at least 1 properties"
                ),
            ));
        }
        if !ns.match_.is_empty() && ns.match_ != "Self" {
            return Err(not_supported(
                format!("{path}.namespaces.match"),
                quote(&ns.match_),
                &["Self"],
            ));
        }
    }
    if let Some(sa) = &peer.service_account {
        check_namespaced_name(&format!("{path}.serviceAccount"), &sa.name, &sa.namespace)?;
    }
    Ok(())
}

fn check_applied_to(path: &str, at: &AppliedTo) -> Check {
    if let Some(sa) = &at.service_account {
        check_namespaced_name(&format!("{path}.serviceAccount"), &sa.name, &sa.namespace)?;
    }
    if let Some(svc) = &at.service {
        check_namespaced_name(&format!("{path}.service"), &svc.name, &svc.namespace)?;
    }
    Ok(())
}

fn check_namespaced_name(path: &str, name: &str, namespace: &str) -> Check {
    if name.is_empty() {
        return Err(required(format!("{path}.name"), ""));
    }
    if namespace.is_empty() {
        return Err(required(format!("{path}.namespace"), ""));
    }
    Ok(())
}

/// `^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$`.
fn log_label_matches(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    match b {
        [] => true,
        [only] => alnum(only),
        [first, middle @ .., last] => {
            alnum(first)
                && alnum(last)
                && middle.len() <= 61
                && middle
                    .iter()
                    .all(|c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
        }
    }
}

/// OpenAPI checks of a Tier.
pub fn check_tier(tier: &Tier) -> Check {
    int_range("spec.priority", tier.spec.priority.into(), 0, 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_label_pattern() {
        for ok in ["", "a", "ab", "a-b_c.d", &"x".repeat(63)] {
            assert!(log_label_matches(ok), "{ok:?}");
        }
        for bad in ["-", "a-", "_a", "a b", &"x".repeat(64)] {
            assert!(!log_label_matches(bad), "{bad:?}");
        }
    }
}
