//! Per-rule statistics of a detached testbed, read from the named nftables counters of every
//! Node (`tierwall get stats`, `tierwall metrics`).
//!
//! ```text
//!  objects.json ──Engine──> NodeRuleSet per Node ──render──> counter name → rule id
//!  node netns: nft -j list counters table inet tierwall ──> counter name → packets, bytes
//!      ──join──> Sample { node, rule id, direction, action, sessions, packets, bytes }
//!      ──per policy and rule, summed over Nodes──> PolicyTraffic (Antrea's *NetworkPolicyStats)
//! ```
//!
//! What the numbers are. Established and related packets are accepted before any policy chain,
//! so a rule's counter sees only the first packet of each connection it decides: `sessions` is
//! that count, and `packets`/`bytes` are the packets and bytes of those first packets, NOT of
//! whole sessions (the dataplane has no per-rule accounting of established traffic, e.g. through
//! a ct mark). A Drop rule's packet is never committed to conntrack, so each dropped packet,
//! including a client's retransmitted SYN, counts as a session. Counters are named after the rule id `<policy key>/<direction>/<index>`: they
//! survive rule-set changes (a full or incremental sync keeps named counters), and a rule keeps
//! its counts as long as its policy, direction and index stay the same.

use crate::{LiveError, RuleStats, persisted};
use serde::Serialize;
use std::collections::BTreeMap;
use tierwall_dataplane::{NetnsTarget, RenderOptions, list_counters, names, render_with};
use tierwall_engine::Engine;
use tierwall_engine::compile::{Action, Direction};
use tierwall_engine::evaluate::PolicyRef;
use tierwall_engine::ruleset::all_node_rule_sets;
use tierwall_model::{Kind, ObjectKey};
use tierwall_testbed::Testbed;

/// One rule counter on one Node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub node: String,
    /// `RuleEntry::id`, or `names::isolation_rule_id` for Kubernetes NetworkPolicy isolation.
    pub rule_id: String,
    pub direction: Direction,
    pub action: Action,
    pub stats: RuleStats,
}

/// The rule counters of every Node of the testbed, with the engine of its stored objects.
pub fn collect(prefix: &str) -> Result<(Engine, Vec<Sample>), LiveError> {
    let engine = persisted::load(prefix)?;
    let testbed = Testbed::attach(prefix)?;
    let samples = collect_from(&testbed, &engine)?;
    Ok((engine, samples))
}

/// The rule counters of every Node of `testbed`, for the rule sets of `engine`.
pub fn collect_from(testbed: &Testbed, engine: &Engine) -> Result<Vec<Sample>, LiveError> {
    let mut out = Vec::new();
    for (node, rules) in all_node_rule_sets(engine.cluster(), engine.table()) {
        let netns = NetnsTarget::Named(testbed.node_netns(&node)?.to_string());
        let ifaces = persisted::interfaces(testbed, engine, &node);
        let rendered = render_with(&rules, &ifaces, &RenderOptions::default());
        let counters = list_counters(&netns).map_err(|source| LiveError::Dataplane {
            node: node.clone(),
            source: Box::new(source),
        })?;
        for (name, what) in &rendered.counters {
            let c = counters.get(name).copied().unwrap_or_default();
            out.push(Sample {
                node: node.clone(),
                rule_id: what.rule_id.clone(),
                direction: what.direction,
                action: what.action,
                stats: RuleStats {
                    sessions: c.packets,
                    packets: c.packets,
                    bytes: c.bytes,
                },
            });
        }
    }
    Ok(out)
}

/// Samples from the agents' reports (agents in their own processes).
pub fn from_reports(
    counters: &BTreeMap<String, Vec<tierwall_node_api::RuleCounter>>,
) -> Vec<Sample> {
    counters
        .iter()
        .flat_map(|(node, list)| {
            list.iter().map(move |c| Sample {
                node: node.clone(),
                rule_id: c.rule_id.clone(),
                direction: c.direction,
                action: c.action,
                stats: RuleStats {
                    sessions: c.packets,
                    packets: c.packets,
                    bytes: c.bytes,
                },
            })
        })
        .collect()
}

/// Packets, bytes and sessions, as in Antrea's `trafficStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrafficStats {
    pub packets: u64,
    pub bytes: u64,
    pub sessions: u64,
}

impl TrafficStats {
    fn add(&mut self, s: &RuleStats) {
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.sessions += s.sessions;
    }

    fn add_traffic(&mut self, s: &TrafficStats) {
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.sessions += s.sessions;
    }
}

/// One rule of a policy, summed over Nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTraffic {
    /// The rule name (generated by admission when unset); `<direction>-<index>` for rules
    /// without one (Kubernetes NetworkPolicy rules).
    pub name: String,
    pub direction: Direction,
    pub action: Action,
    /// The rule id the counter is named after.
    pub id: String,
    pub traffic_stats: TrafficStats,
}

/// One policy (or the Kubernetes NetworkPolicy isolation pseudo-policy), summed over Nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTraffic {
    /// `AntreaClusterNetworkPolicy`, `AntreaNetworkPolicy`, `K8sNetworkPolicy`, or
    /// `K8sIsolation` for the drops of Pods isolated by Kubernetes NetworkPolicies.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub traffic_stats: TrafficStats,
    pub rule_traffic_stats: Vec<RuleTraffic>,
}

/// Kind of the isolation pseudo-policy.
pub const ISOLATION_KIND: &str = "K8sIsolation";
/// Name of the isolation pseudo-policy.
pub const ISOLATION_NAME: &str = "default-deny";

fn kind_rank(kind: Kind) -> u8 {
    match kind {
        Kind::ClusterNetworkPolicy => 0,
        Kind::AntreaNetworkPolicy => 1,
        _ => 2,
    }
}

/// What a rule id stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    /// `None` for the isolation pseudo-rules.
    pub policy: Option<ObjectKey>,
    pub name: String,
    pub direction: Direction,
    pub action: Action,
}

fn rule_name(name: &str, direction: Direction, index: usize) -> String {
    if name.is_empty() {
        format!("{}-{index}", names::dir_name(direction))
    } else {
        name.to_string()
    }
}

/// Every rule of every policy of the engine by rule id (plus the isolation pseudo-rules).
pub fn rule_index(engine: &Engine) -> BTreeMap<String, RuleInfo> {
    let mut out = BTreeMap::new();
    for p in engine.table().policies() {
        for r in &p.rules {
            out.insert(
                format!("{}/{}/{}", p.key, names::dir_name(r.direction), r.index),
                RuleInfo {
                    policy: Some(p.key.clone()),
                    name: rule_name(&r.name, r.direction, r.index),
                    direction: r.direction,
                    action: r.action,
                },
            );
        }
    }
    for d in [Direction::Ingress, Direction::Egress] {
        out.insert(
            names::isolation_rule_id(d).to_string(),
            RuleInfo {
                policy: None,
                name: names::dir_name(d).to_string(),
                direction: d,
                action: Action::Drop,
            },
        );
    }
    out
}

/// Per policy and per rule, summed over Nodes, in a fixed order: ACNPs, ANNPs, Kubernetes
/// NetworkPolicies (each by namespace and name), then the isolation pseudo-policy when any
/// Kubernetes NetworkPolicy exists or it counted something; rules in spec order, ingress first.
/// Every policy is listed, with zeros when nothing matched or it applies to no Node.
pub fn policy_traffic(engine: &Engine, samples: &[Sample]) -> Vec<PolicyTraffic> {
    let mut by_id: BTreeMap<&str, TrafficStats> = BTreeMap::new();
    for s in samples {
        by_id.entry(&s.rule_id).or_default().add(&s.stats);
    }
    let mut policies: Vec<_> = engine.table().policies().collect();
    policies.sort_by(|a, b| {
        (kind_rank(a.key.kind), &a.key.namespace, &a.key.name).cmp(&(
            kind_rank(b.key.kind),
            &b.key.namespace,
            &b.key.name,
        ))
    });
    let mut out = Vec::new();
    for p in policies {
        let mut rules: Vec<_> = p.rules.iter().collect();
        rules.sort_by_key(|r| (r.direction, r.index));
        rules.dedup_by_key(|r| (r.direction, r.index));
        let mut total = TrafficStats::default();
        let rule_traffic_stats = rules
            .into_iter()
            .map(|r| {
                let id = format!("{}/{}/{}", p.key, names::dir_name(r.direction), r.index);
                let t = by_id.get(id.as_str()).copied().unwrap_or_default();
                total.add_traffic(&t);
                RuleTraffic {
                    name: rule_name(&r.name, r.direction, r.index),
                    direction: r.direction,
                    action: r.action,
                    id,
                    traffic_stats: t,
                }
            })
            .collect();
        out.push(PolicyTraffic {
            kind: PolicyRef::from_key(&p.key).type_name().to_string(),
            namespace: p.key.namespace.clone(),
            name: p.key.name.clone(),
            traffic_stats: total,
            rule_traffic_stats,
        });
    }
    let mut total = TrafficStats::default();
    let rules: Vec<RuleTraffic> = [Direction::Ingress, Direction::Egress]
        .into_iter()
        .map(|d| {
            let id = names::isolation_rule_id(d);
            let t = by_id.get(id).copied().unwrap_or_default();
            total.add_traffic(&t);
            RuleTraffic {
                name: names::dir_name(d).to_string(),
                direction: d,
                action: Action::Drop,
                id: id.to_string(),
                traffic_stats: t,
            }
        })
        .collect();
    if engine.table().k8s_policies().next().is_some() || total != TrafficStats::default() {
        out.push(PolicyTraffic {
            kind: ISOLATION_KIND.to_string(),
            namespace: None,
            name: ISOLATION_NAME.to_string(),
            traffic_stats: total,
            rule_traffic_stats: rules,
        });
    }
    out
}
