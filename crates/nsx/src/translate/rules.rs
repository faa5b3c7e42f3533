//! One NSX policy → one ClusterNetworkPolicy. Rules are taken in `sequence_number` order,
//! disabled ones dropped; each becomes an ingress rule, an egress rule, or both:
//!
//! | sources | destinations | direction | emitted |
//! |---|---|---|---|
//! | any | any | IN | ingress, `from` = sources (reference §2.4: IN → ingress/from) |
//! | any | any | OUT | egress, `to` = destinations (OUT → egress/to) |
//! | set | ANY | IN_OUT | ingress, `from` = sources |
//! | ANY | set | IN_OUT | egress, `to` = destinations (the captured DNS rule) |
//! | ANY | ANY | IN_OUT | both (the Any-Any split) |
//! | set | set | IN_OUT | both |
//!
//! An explicit IN or OUT always wins: `destination_groups: [G], direction: IN` protects G's
//! ingress from every source, including addresses outside the cluster, which an egress rule
//! applied to the cluster's own Pods could not do.
//!
//! `appliedTo` is always per rule: the policy `scope` groups if any (they take precedence), else
//! the rule `scope` groups, else the traffic's own end inside the cluster (the destination groups
//! of an ingress rule, the source groups of an egress rule), else the whole cluster
//! (`podSelector: {}`). Rule `name` is the NSX `rule_id` (with `-in`/`-out` for the two halves of
//! a split rule), `enableLogging` is `logged`, `logLabel` is the rule's `tag`.

use super::groups::{GroupTranslator, ip_blocks_of};
use super::naming::{
    DISPLAY_NAME_ANNOTATION, EGRESS_HALF_SUFFIX, INGRESS_HALF_SUFFIX, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE, object_name,
};
use super::parse_port_range;
use crate::ip::IpLiteral;
use crate::model::{
    ANY, Category, Direction, Rule, RuleAction, SecurityPolicy, Service, ServiceEntry, is_any,
    predefined_service,
};
use crate::validate::is_container_cluster_path;
use std::collections::HashMap;
use tierwall_model::antrea::Rule as AntreaRule;
use tierwall_model::antrea::{AntreaPolicy, AppliedTo, Peer, PolicySpec, PortSpec};
use tierwall_model::meta::{IntOrString, LabelSelector, ObjectMeta};

pub const CLUSTER_NETWORK_POLICY_API_VERSION: &str = "crd.antrea.io/v1alpha1";

/// Services by path, with the port lists they expand to cached.
pub struct ServiceIndex<'a> {
    services: HashMap<&'a str, &'a Service>,
    ports: HashMap<String, Result<Vec<PortSpec>, String>>,
}

impl<'a> ServiceIndex<'a> {
    pub fn new(services: HashMap<&'a str, &'a Service>) -> Self {
        ServiceIndex {
            services,
            ports: HashMap::new(),
        }
    }

    fn service(&self, path: &str) -> Option<&'a Service> {
        self.services
            .get(path)
            .copied()
            .or_else(|| predefined_service(path))
    }

    /// The Antrea ports of the service at `path` (nested services expanded).
    fn ports_of(&mut self, path: &str, depth: usize) -> Result<Vec<PortSpec>, String> {
        if let Some(cached) = self.ports.get(path) {
            return cached.clone();
        }
        let result = match self.service(path) {
            None => Err(format!("service {path} does not exist")),
            Some(_) if depth > 8 => Err(format!("service {path}: nesting too deep")),
            Some(service) => {
                let mut ports = Vec::new();
                let mut failure = None;
                for entry in &service.service_entries {
                    match self.entry_ports(entry, depth + 1) {
                        Ok(more) => ports.extend(more),
                        Err(message) => {
                            failure = Some(format!("service {path}: {message}"));
                            break;
                        }
                    }
                }
                failure.map_or(Ok(ports), Err)
            }
        };
        self.ports.insert(path.to_string(), result.clone());
        result
    }

    fn entry_ports(&mut self, entry: &ServiceEntry, depth: usize) -> Result<Vec<PortSpec>, String> {
        match entry {
            ServiceEntry::L4PortSetServiceEntry(l4) => {
                if !l4.source_ports.is_empty() {
                    return Err("source ports are not supported".to_string());
                }
                let protocol = Some(l4.l4_protocol.as_str().to_string());
                if l4.destination_ports.is_empty() {
                    return Ok(vec![PortSpec {
                        protocol,
                        port: None,
                        end_port: None,
                        source_port: None,
                        source_end_port: None,
                    }]);
                }
                l4.destination_ports
                    .iter()
                    .map(|text| {
                        let (low, high) = parse_port_range(text)
                            .ok_or_else(|| format!("{text:?} is not a port or port range"))?;
                        Ok(PortSpec {
                            protocol: protocol.clone(),
                            port: Some(IntOrString::Int(i64::from(low))),
                            end_port: (high > low).then_some(i32::from(high)),
                            source_port: None,
                            source_end_port: None,
                        })
                    })
                    .collect()
            }
            ServiceEntry::NestedServiceServiceEntry(nested) => {
                self.ports_of(&nested.nested_service_path, depth)
            }
            other => Err(format!(
                "{} is not supported (only TCP and UDP)",
                other.resource_type()
            )),
        }
    }

    /// The ports of a rule: its services plus its inline entries; empty means any port.
    fn rule_ports(&mut self, rule: &Rule) -> Result<Vec<PortSpec>, String> {
        let mut ports = Vec::new();
        if !is_any(&rule.services) {
            for path in &rule.services {
                ports.extend(self.ports_of(path, 0)?);
            }
        }
        for entry in &rule.service_entries {
            ports.extend(self.entry_ports(entry, 0)?);
        }
        // Rules have a handful of ports: a quadratic de-duplication beats hashing them.
        let mut unique: Vec<PortSpec> = Vec::with_capacity(ports.len());
        for port in ports {
            if !unique.contains(&port) {
                unique.push(port);
            }
        }
        Ok(unique)
    }
}

/// Where a rule came from, for mapping statistics back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOrigin {
    /// The ACNP rule name.
    pub name: String,
    /// The NSX rule path.
    pub rule_path: String,
}

/// The ACNP of a policy and what it was made from.
pub struct TranslatedPolicy {
    pub policy: AntreaPolicy,
    /// Numbers (in the group translator) of the groups the emitted rules use directly.
    pub group_numbers: Vec<usize>,
    pub rules: Vec<RuleOrigin>,
}

/// Translates `policy` with the given priority; fails (with a message) when a group or service
/// it uses cannot be translated.
pub fn translate_policy(
    policy: &SecurityPolicy,
    category: Category,
    priority: f64,
    groups: &mut GroupTranslator<'_>,
    services: &mut ServiceIndex<'_>,
) -> Result<TranslatedPolicy, String> {
    let policy_path = policy.path_or_default();
    let name = object_name(policy.meta.unique_id.as_deref(), &policy_path);
    let mut ingress = Vec::new();
    let mut egress = Vec::new();
    let mut group_numbers: Vec<usize> = Vec::new();
    let mut origins = Vec::new();
    for (_, rule) in policy.ordered_rules() {
        if rule.disabled() {
            continue;
        }
        let rule_name = rule
            .rule_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| rule.meta.id.clone());
        let rule_path = rule
            .meta
            .path
            .clone()
            .unwrap_or_else(|| format!("{policy_path}/rules/{}", rule.meta.id));
        let ports = services
            .rule_ports(rule)
            .map_err(|message| format!("rule {rule_path}: {message}"))?;
        let (to_ingress, to_egress) = emitted_sides(rule);
        let both = to_ingress && to_egress;
        let mut emit = |is_ingress: bool| -> Result<AntreaRule, String> {
            let peer_list = if is_ingress {
                &rule.source_groups
            } else {
                &rule.destination_groups
            };
            let (_, applied_paths) = applied_to_of(policy, rule, is_ingress);
            let mut applied_to = Vec::with_capacity(applied_paths.len().max(1));
            for path in &applied_paths {
                let (number, group) = groups.translate(path)?;
                group_numbers.push(number);
                applied_to.push(AppliedTo {
                    group: group.name.clone(),
                    ..AppliedTo::default()
                });
            }
            if applied_to.is_empty() {
                applied_to.push(AppliedTo {
                    pod_selector: Some(LabelSelector::default()),
                    ..AppliedTo::default()
                });
            }
            let peers = peers_of(peer_list, groups, &mut group_numbers)?;
            let suffix = match (both, is_ingress) {
                (false, _) => "",
                (true, true) => INGRESS_HALF_SUFFIX,
                (true, false) => EGRESS_HALF_SUFFIX,
            };
            let (from, to) = if is_ingress {
                (peers, Vec::new())
            } else {
                (Vec::new(), peers)
            };
            Ok(AntreaRule {
                action: antrea_action(rule.action()).to_string(),
                ports: ports.clone(),
                protocols: Vec::new(),
                l7_protocols: Vec::new(),
                from,
                to,
                to_services: Vec::new(),
                name: format!("{rule_name}{suffix}"),
                enable_logging: rule.logged(),
                log_label: rule.tag.clone().unwrap_or_default(),
                applied_to,
            })
        };
        let wrap = |message: String| format!("rule {rule_path}: {message}");
        if to_ingress {
            let antrea_rule = emit(true).map_err(wrap)?;
            origins.push(RuleOrigin {
                name: antrea_rule.name.clone(),
                rule_path: rule_path.clone(),
            });
            ingress.push(antrea_rule);
        }
        if to_egress {
            let antrea_rule = emit(false).map_err(wrap)?;
            origins.push(RuleOrigin {
                name: antrea_rule.name.clone(),
                rule_path: rule_path.clone(),
            });
            egress.push(antrea_rule);
        }
    }
    let mut metadata = ObjectMeta {
        name,
        ..ObjectMeta::default()
    };
    metadata
        .labels
        .insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
    metadata.annotations.insert(
        DISPLAY_NAME_ANNOTATION.to_string(),
        policy.meta.name().to_string(),
    );
    // A policy whose rules are all disabled still exists (its status is reported), but selects
    // nothing: Antrea needs an appliedTo somewhere.
    let applied_to = if ingress.is_empty() && egress.is_empty() {
        vec![AppliedTo {
            pod_selector: Some(LabelSelector::default()),
            ..AppliedTo::default()
        }]
    } else {
        Vec::new()
    };
    Ok(TranslatedPolicy {
        policy: AntreaPolicy {
            api_version: CLUSTER_NETWORK_POLICY_API_VERSION.to_string(),
            kind: "ClusterNetworkPolicy".to_string(),
            metadata,
            spec: PolicySpec {
                tier: category.tier_name(),
                priority,
                applied_to,
                ingress,
                egress,
            },
            status: None,
        },
        group_numbers,
        rules: origins,
    })
}

/// On which sides an enabled rule is emitted: `(ingress, egress)`, as in the module's table.
pub fn emitted_sides(rule: &Rule) -> (bool, bool) {
    match rule.direction() {
        Direction::In => (true, false),
        Direction::Out => (false, true),
        Direction::InOut => match (
            is_any(&rule.source_groups),
            is_any(&rule.destination_groups),
        ) {
            (false, true) => (true, false),
            (true, false) => (false, true),
            _ => (true, true),
        },
    }
}

/// Where the `appliedTo` of an emitted rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliedToSource {
    /// The policy-level Applied To (`scope` groups of the policy): it wins.
    PolicyScope,
    /// The rule-level Applied To (`scope` groups of the rule).
    RuleScope,
    /// Neither: the traffic's own end inside the cluster (destination groups of an ingress rule,
    /// source groups of an egress rule).
    OwnEnd,
    /// None of these name a group: every Pod of the cluster (`podSelector: {}`).
    WholeCluster,
}

impl AppliedToSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AppliedToSource::PolicyScope => "policy Applied-To",
            AppliedToSource::RuleScope => "rule Applied-To",
            AppliedToSource::OwnEnd => "no Applied-To: the rule's own end",
            AppliedToSource::WholeCluster => "no Applied-To: the whole cluster",
        }
    }
}

/// The group paths of the `appliedTo` of `rule` of `policy` on one side (`ingress` or egress),
/// and where they come from; empty for [`AppliedToSource::WholeCluster`]. The order of
/// precedence of the module doc: policy `scope` groups, rule `scope` groups, the own end.
pub fn applied_to_of<'a>(
    policy: &'a SecurityPolicy,
    rule: &'a Rule,
    ingress: bool,
) -> (AppliedToSource, Vec<&'a str>) {
    let policy_scope = group_paths_of(&policy.scope);
    if !policy_scope.is_empty() {
        return (AppliedToSource::PolicyScope, policy_scope);
    }
    let rule_scope = group_paths_of(&rule.scope);
    if !rule_scope.is_empty() {
        return (AppliedToSource::RuleScope, rule_scope);
    }
    let own_end = group_paths_of(if ingress {
        &rule.destination_groups
    } else {
        &rule.source_groups
    });
    if own_end.is_empty() {
        (AppliedToSource::WholeCluster, own_end)
    } else {
        (AppliedToSource::OwnEnd, own_end)
    }
}

/// The group paths of a scope/peer list (ANY, IPs and cluster paths left out).
fn group_paths_of(list: &[String]) -> Vec<&str> {
    list.iter()
        .map(String::as_str)
        .filter(|entry| {
            entry.starts_with('/') && !is_container_cluster_path(entry)
                || !entry.starts_with('/')
                    && !entry.eq_ignore_ascii_case(ANY)
                    && IpLiteral::parse(entry).is_none()
        })
        .collect()
}

fn peers_of(
    list: &[String],
    groups: &mut GroupTranslator<'_>,
    group_numbers: &mut Vec<usize>,
) -> Result<Vec<Peer>, String> {
    if is_any(list) {
        return Ok(Vec::new());
    }
    let mut peers = Vec::new();
    for entry in list {
        if !entry.starts_with('/') && IpLiteral::parse(entry).is_some() {
            peers.extend(
                ip_blocks_of(std::slice::from_ref(entry))?
                    .into_iter()
                    .map(|block| Peer {
                        ip_block: Some(block),
                        ..Peer::default()
                    }),
            );
        } else {
            let (number, group) = groups.translate(entry)?;
            group_numbers.push(number);
            peers.push(Peer {
                group: group.name.clone(),
                ..Peer::default()
            });
        }
    }
    Ok(peers)
}

fn antrea_action(action: RuleAction) -> &'static str {
    match action {
        RuleAction::Allow => "Allow",
        RuleAction::Drop => "Drop",
        RuleAction::Reject => "Reject",
        // Skip the rest of Environment and continue in the next tier (Application).
        RuleAction::JumpToApplication => "Pass",
    }
}
