//! `render`: a Node's `NodeRuleSet` → the `Ruleset` of its `inet tierwall` table. Chains are
//! static (one nft rule per rule entry and match alternative); every address, port and endpoint
//! sits in a named set, so a change of members is a change of set elements only.
//!
//! One `RuleEntry` becomes `applied alternatives × match alternatives` nft rules, all ending in
//! the same `counter name … [log …] <verdict>` (every verdict is terminal, so a packet is
//! counted once):
//!
//! ```text
//!  applied   ip <local> @<e>_l                                      local Pods / Node IPs
//!          | ct status dnat ct original ip daddr @node_ips
//!            meta l4proto P ct original proto-dst @<e>_np_P          NodePort arrivals
//!  match     meta l4proto P ct original ip daddr . ct original proto-dst @<e>_svc_P
//!                                                                  toServices (pre-DNAT)
//!          | [ip <remote> @<e>_p] [port alternative]               peers × ports
//!  ports     meta l4proto P [th dport A-B] [th sport C-D]
//!          | ip daddr . meta l4proto . th dport @<e>_n<k>          named port endpoints
//!          | meta l4proto icmp [icmp type T] [icmp code C]
//!          | meta l4proto igmp [igmp type T]
//! ```
//!
//! `<local>` is `saddr` for egress and `daddr` for ingress. Only IPv4 is rendered: IPv6
//! members are skipped (and reported in `Ruleset::warnings`), and IPv6 packets match no
//! policy rule — IPv6 enforcement is future work (ip6 sets next to the IPv4 ones).
//!
//! Module map: `base` (the static chains: hooks and `reject_packet`), this module (the global
//! sets and the four chains of each direction), `entry` (one `RuleEntry` → nft rules and sets).

mod base;
mod entry;

use base::{base_forward, base_input, base_output, reject_chain, rule};

use crate::json::{self, eq, payload, set_ref};
use crate::names::{self, Stage};
use crate::ruleset::{Chain, CounterRef, Element, LogRef, LogStage, Rule, Ruleset, Set, SetKind};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use tierwall_engine::compile::{Action, Direction};
use tierwall_engine::ruleset::NodeRuleSet;

/// Local Pod IP → Node-side interface name of its veth.
pub type InterfaceMap = BTreeMap<IpAddr, String>;

/// NFLOG group of logged rules unless `RenderOptions` says otherwise.
pub const DEFAULT_LOG_GROUP: u16 = 1;

/// Knobs of the rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// NFLOG group logged rules send their first packet to.
    pub log_group: u16,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            log_group: DEFAULT_LOG_GROUP,
        }
    }
}

/// Renders `rules` with the default options.
pub fn render(rules: &NodeRuleSet, ifaces: &InterfaceMap) -> Ruleset {
    render_with(rules, ifaces, &RenderOptions::default())
}

/// Renders `rules`: deterministic (same input, same `Ruleset`, element for element).
pub fn render_with(rules: &NodeRuleSet, ifaces: &InterfaceMap, opts: &RenderOptions) -> Ruleset {
    let mut r = Renderer {
        opts: *opts,
        out: Ruleset {
            node: rules.node.clone(),
            ..Default::default()
        },
        occurrences: BTreeMap::new(),
        prefix_owner: BTreeMap::new(),
        ipv6_skipped: 0,
    };
    r.globals(rules, ifaces);
    let mut chains = vec![base_forward(), base_input(), base_output()];
    for direction in [Direction::Egress, Direction::Ingress] {
        chains.extend(r.direction(rules, direction));
    }
    chains.push(reject_chain());
    r.out.chains = chains;
    if r.ipv6_skipped > 0 {
        r.out.warnings.push(format!(
            "{} IPv6 member(s) skipped: only IPv4 is rendered",
            r.ipv6_skipped
        ));
    }
    r.out.warnings.sort();
    r.out
}

fn local_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "saddr",
        Direction::Ingress => "daddr",
    }
}

fn remote_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "daddr",
        Direction::Ingress => "saddr",
    }
}

struct Renderer {
    opts: RenderOptions,
    out: Ruleset,
    /// Entries seen per rule id (an id repeats when a rule is split per namespace).
    occurrences: BTreeMap<String, usize>,
    /// Log prefix → the rule id that owns it.
    prefix_owner: BTreeMap<String, String>,
    ipv6_skipped: usize,
}

impl Renderer {
    fn v4(&mut self, ips: impl IntoIterator<Item = IpAddr>) -> BTreeSet<Ipv4Addr> {
        let mut out = BTreeSet::new();
        for ip in ips {
            match ip {
                IpAddr::V4(a) => {
                    out.insert(a);
                }
                IpAddr::V6(_) => self.ipv6_skipped += 1,
            }
        }
        out
    }

    fn add_set(&mut self, name: &str, kind: SetKind, elements: impl IntoIterator<Item = Element>) {
        let set = self
            .out
            .sets
            .entry(name.to_string())
            .or_insert_with(|| Set::new(kind));
        set.elements.extend(elements);
    }

    fn globals(&mut self, rules: &NodeRuleSet, ifaces: &InterfaceMap) {
        let mut names = BTreeSet::new();
        for pod in &rules.pods {
            match ifaces.get(&pod.ip) {
                Some(i) => {
                    names.insert(i.clone());
                }
                None => self.out.warnings.push(format!(
                    "Pod {}/{} ({}) has no interface: its traffic is not policed",
                    pod.namespace, pod.name, pod.ip
                )),
            }
        }
        let pod_ips: BTreeSet<IpAddr> = rules.pods.iter().map(|p| p.ip).collect();
        for (ip, iface) in ifaces {
            if !pod_ips.contains(ip) {
                // An interface of a Pod the rule set does not know yet: police it anyway.
                names.insert(iface.clone());
            }
        }
        self.add_set(
            names::SET_POD_IFACES,
            SetKind::Ifname,
            names.into_iter().map(Element::Ifname),
        );
        let pods = self.v4(rules.pods.iter().map(|p| p.ip));
        self.add_set(
            names::SET_POD_HAIRPIN,
            SetKind::AddrPair,
            pods.into_iter().map(|a| Element::AddrPair(a, a)),
        );
        let node_ips = self.v4(rules.node_ips.iter().copied());
        self.add_set(
            names::SET_NODE_IPS,
            SetKind::Ipv4,
            node_ips.into_iter().map(Element::Ipv4),
        );
    }

    fn direction(&mut self, rules: &NodeRuleSet, direction: Direction) -> Vec<Chain> {
        let d = rules.direction(direction);
        let local = local_field(direction);
        let tiers = names::chain(direction, Stage::Tiers);
        let k8s = names::chain(direction, Stage::K8s);
        let isolated = names::chain(direction, Stage::Isolated);
        let baseline = names::chain(direction, Stage::Baseline);

        // Stage 1: Antrea-native tiers.
        let mut tier_rules = Vec::new();
        for e in &d.antrea {
            let verdict = match e.action {
                Action::Allow => json::ret(),
                Action::Drop => json::drop(),
                Action::Reject => json::jump(names::CHAIN_REJECT),
                Action::Pass => json::goto(&k8s),
            };
            self.entry(direction, e, LogStage::Antrea, verdict, &mut tier_rules);
        }
        tier_rules.push(rule(vec![json::goto(&k8s)], Some("no Antrea rule decided")));

        // Stage 2: Kubernetes NetworkPolicies.
        let iso_set = names::isolated_set(direction);
        let iso_logged = names::isolated_logged_set(direction);
        let isolated_ips = self.v4(d.k8s_isolated.iter().copied());
        let logging: BTreeSet<IpAddr> = rules
            .pods
            .iter()
            .filter(|p| p.k8s_logging)
            .map(|p| p.ip)
            .collect();
        let logged: Vec<Element> = isolated_ips
            .iter()
            .filter(|a| logging.contains(&IpAddr::V4(**a)))
            .map(|a| Element::Ipv4(*a))
            .collect();
        self.add_set(
            &iso_set,
            SetKind::Ipv4,
            isolated_ips.into_iter().map(Element::Ipv4),
        );
        self.add_set(&iso_logged, SetKind::Ipv4, logged);
        let k8s_rules = vec![
            rule(
                vec![
                    eq(payload("ip", local), set_ref(&iso_set)),
                    json::goto(&isolated),
                ],
                Some("isolated by a Kubernetes NetworkPolicy"),
            ),
            rule(vec![json::goto(&baseline)], None),
        ];
        let mut isolated_rules = Vec::new();
        for e in &d.k8s_allow {
            self.entry(
                direction,
                e,
                LogStage::K8sAllow,
                json::ret(),
                &mut isolated_rules,
            );
        }
        let iso_counter = names::isolation_counter(direction);
        let iso_id = names::isolation_rule_id(direction);
        let iso_prefix = names::isolation_log_prefix(direction);
        self.out.counters.insert(
            iso_counter.clone(),
            CounterRef {
                rule_id: iso_id.to_string(),
                direction,
                action: Action::Drop,
            },
        );
        self.out.logs.insert(
            iso_prefix.clone(),
            LogRef {
                rule_id: iso_id.to_string(),
                policy: None,
                rule_name: None,
                direction,
                action: Action::Drop,
                stage: LogStage::K8sIsolation,
                tier_priority: None,
                log_label: String::new(),
            },
        );
        isolated_rules.push(rule(
            vec![
                eq(payload("ip", local), set_ref(&iso_logged)),
                json::counter(&iso_counter),
                json::log(&iso_prefix, self.opts.log_group),
                json::drop(),
            ],
            Some(iso_id),
        ));
        isolated_rules.push(rule(
            vec![json::counter(&iso_counter), json::drop()],
            Some(iso_id),
        ));

        // Stage 3: baseline tier; no match = allowed (end of chain returns).
        let mut baseline_rules = Vec::new();
        for e in &d.baseline {
            let verdict = match e.action {
                Action::Allow | Action::Pass => json::ret(),
                Action::Drop => json::drop(),
                Action::Reject => json::jump(names::CHAIN_REJECT),
            };
            self.entry(
                direction,
                e,
                LogStage::Baseline,
                verdict,
                &mut baseline_rules,
            );
        }

        let chain = |name: String, rules: Vec<Rule>| Chain {
            name,
            hook: None,
            rules,
        };
        vec![
            chain(tiers, tier_rules),
            chain(k8s, k8s_rules),
            chain(isolated, isolated_rules),
            chain(baseline, baseline_rules),
        ]
    }
}
