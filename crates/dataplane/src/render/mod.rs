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
//! Sets are shared: rules that need the same content (the same applied Pods, the same peer
//! group, …) reference one named set, named after the first rule that needs it (`<e>_l`,
//! `<e>_p`, … of that rule; see `Renderer::shared_set`). A peer made of addresses only (no Pod
//! members) that aggregates to one prefix is written inline (`ip saddr 10.0.0.0/8`), with no set.
//! The kernel looks named sets up by walking a list, so thousands of per-rule sets made a
//! 10,000-rule table take minutes to load; with sharing the set count follows the number of
//! distinct groups, not of rules.
//!
//! `<local>` is `saddr` for egress and `daddr` for ingress. Only IPv4 is rendered: IPv6
//! members are skipped (and reported in `Ruleset::warnings`), and IPv6 packets match no
//! policy rule — IPv6 enforcement is future work (ip6 sets next to the IPv4 ones).
//!
//! Runs of simple consecutive entries (address-only peers, plain ports, disjoint keys) become
//! one rule with a verdict map and a counter map (`merge`), so a packet passes one rule per
//! run rather than one per entry.
//!
//! Module map: `base` (the static chains: hooks and `reject_packet`), this module (the global
//! sets and the four chains of each direction), `entry` (one `RuleEntry` → nft rules and sets),
//! `merge` (runs of entries → one rule and two maps).

mod base;
mod entry;
mod merge;

use base::{base_forward, base_input, base_output, reject_chain, rule};

use crate::json::{self, eq, payload, set_ref};
use crate::names::{self, Stage};
use crate::ruleset::{Chain, CounterRef, Element, LogRef, LogStage, Rule, Ruleset, Set, SetKind};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use tierwall_node_api::NodeRuleSet;
use tierwall_node_api::{Action, Direction};

/// Local Pod IP → Node-side interface name of its veth.
pub type InterfaceMap = BTreeMap<IpAddr, String>;

/// NFLOG group of logged rules unless `RenderOptions` says otherwise.
pub const DEFAULT_LOG_GROUP: u16 = 1;

/// Knobs of the rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// NFLOG group logged rules send their first packet to.
    pub log_group: u16,
    /// Merge runs of simple rules into map lookups (`render::merge`); off renders one nft
    /// rule per entry and match alternative (the benchmarks compare both).
    pub merge_runs: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            log_group: DEFAULT_LOG_GROUP,
            merge_runs: true,
        }
    }
}

/// Renders `rules` with the default options.
pub fn render(rules: &NodeRuleSet, ifaces: &InterfaceMap) -> Ruleset {
    render_with(rules, ifaces, &RenderOptions::default())
}

/// Renders `rules`: deterministic (same input, same `Ruleset`, element for element).
pub fn render_with(rules: &NodeRuleSet, ifaces: &InterfaceMap, opts: &RenderOptions) -> Ruleset {
    render_after(rules, ifaces, opts, None)
}

/// `render_with`, keeping the names `previous` gave to shared sets whose content is unchanged
/// (so a rule added in front of others that share its set does not rename the set).
/// Deterministic in (`rules`, `previous`).
pub fn render_after(
    rules: &NodeRuleSet,
    ifaces: &InterfaceMap,
    opts: &RenderOptions,
    previous: Option<&Ruleset>,
) -> Ruleset {
    let mut previous_names = BTreeMap::new();
    for (name, set) in previous.map(|p| &p.sets).into_iter().flatten() {
        if names::is_fixed_set(name) || set.kind.object() == "map" {
            continue;
        }
        let content: Vec<Element> = set.elements.iter().cloned().collect();
        previous_names.insert((set.kind, content), name.clone());
    }
    let mut r = Renderer {
        previous_names,
        previous,
        previous_maps: None,
        opts: *opts,
        out: Ruleset {
            node: rules.node.clone(),
            ..Default::default()
        },
        counters: Vec::new(),
        occurrences: HashMap::new(),
        repeated: repeated_ids(rules),
        prefix_owner: BTreeMap::new(),
        interned: BTreeMap::new(),
        ipv6_skipped: 0,
    };
    r.globals(rules, ifaces);
    let mut chains = vec![base_forward(), base_input(), base_output()];
    for direction in [Direction::Egress, Direction::Ingress] {
        chains.extend(r.direction(rules, direction));
    }
    chains.push(reject_chain());
    r.out.chains = chains;
    r.out.counters = std::mem::take(&mut r.counters).into_iter().collect();
    if r.ipv6_skipped > 0 {
        r.out.warnings.push(format!(
            "{} IPv6 member(s) skipped: only IPv4 is rendered",
            r.ipv6_skipped
        ));
    }
    r.out.warnings.sort();
    r.out
}

/// Rule ids that more than one entry of `rules` carries (a rule split per namespace).
fn repeated_ids(rules: &NodeRuleSet) -> HashSet<String> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut repeated = HashSet::new();
    for e in rules.rules() {
        if !seen.insert(e.id.as_str()) {
            repeated.insert(e.id.clone());
        }
    }
    repeated
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

struct Renderer<'p> {
    opts: RenderOptions,
    out: Ruleset,
    /// Named counters, collected in rendering order and sorted into `out.counters` at the end
    /// (one bulk build instead of 10,000 tree insertions).
    counters: Vec<(String, CounterRef)>,
    /// Entries seen per rule id (an id repeats when a rule is split per namespace).
    occurrences: HashMap<String, usize>,
    /// The ids that occur more than once (only these are counted in `occurrences`).
    repeated: HashSet<String>,
    /// Log prefix → the rule id that owns it.
    prefix_owner: BTreeMap<String, String>,
    /// Rule sets by content → the name of the one named set that holds that content.
    interned: BTreeMap<(SetKind, Vec<Element>), String>,
    /// Sets of the previous rendering by content → their names (`render_after`).
    previous_names: BTreeMap<(SetKind, Vec<Element>), String>,
    /// The previous rendering (`render_after`).
    previous: Option<&'p Ruleset>,
    /// [exact maps, interval maps]: counter → base name of the merged-run maps that held the
    /// counter in the previous rendering; built on first need (`previous_map_bases`).
    previous_maps: Option<[HashMap<&'p str, &'p str>; 2]>,
    ipv6_skipped: usize,
}

impl<'p> Renderer<'p> {
    /// `previous_maps`, built now if it was not yet.
    fn previous_map_bases(&mut self) -> &[HashMap<&'p str, &'p str>; 2] {
        let previous = self.previous;
        self.previous_maps.get_or_insert_with(|| {
            let mut bases: [HashMap<&str, &str>; 2] = Default::default();
            for (name, set) in previous.map(|p| &p.sets).into_iter().flatten() {
                let SetKind::CounterMap(interval) = set.kind else {
                    continue;
                };
                let Some(base) = name.strip_suffix(if interval { "_cmi" } else { "_cm" }) else {
                    continue;
                };
                for e in &set.elements {
                    if let Element::Mapped(_, crate::ruleset::MapData::Counter(c)) = e {
                        bases[usize::from(interval)].insert(c.as_str(), base);
                    }
                }
            }
            bases
        })
    }

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
        match self.out.sets.get_mut(name) {
            Some(set) => set.elements.extend(elements),
            None => {
                // A new set is built in bulk (sorted once), not element by element.
                let set = Set {
                    kind,
                    elements: elements.into_iter().collect(),
                };
                self.out.sets.insert(name.to_string(), set);
            }
        }
    }

    /// The named set holding exactly `elements`, shared by every rule that needs the same
    /// content: the first rule to need it names it `slot` (its own set name), later rules with
    /// equal content reference that set. A set is named after the first rule that references
    /// it, in rendering order, so when its members change it keeps its name and the change is
    /// a change of elements only; a content the previous rendering had keeps that set's name.
    pub(super) fn shared_set(
        &mut self,
        slot: &str,
        kind: SetKind,
        elements: impl IntoIterator<Item = Element>,
    ) -> String {
        let mut content: Vec<Element> = elements.into_iter().collect();
        content.sort();
        content.dedup();
        let key = (kind, content);
        if let Some(name) = self.interned.get(&key) {
            return name.clone();
        }
        let free = |n: &String| !self.out.sets.contains_key(n);
        let name = match self.previous_names.get(&key).filter(|n| free(n)) {
            Some(n) => n.clone(),
            None if free(&slot.to_string()) => slot.to_string(),
            None => (2..)
                .map(|i| format!("{slot}_{i}"))
                .find(|n| free(n))
                .unwrap_or_default(),
        };
        self.add_set(&name, kind, key.1.iter().cloned());
        self.interned.insert(key, name.clone());
        name
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
        let k8s_target = k8s.clone();
        self.entries(
            direction,
            &d.antrea.iter().collect::<Vec<_>>(),
            LogStage::Antrea,
            &|a| match a {
                Action::Allow => json::ret(),
                Action::Drop => json::drop(),
                Action::Reject => json::jump(names::CHAIN_REJECT),
                Action::Pass => json::goto(&k8s_target),
            },
            &mut tier_rules,
        );
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
        self.entries(
            direction,
            &d.k8s_allow.iter().collect::<Vec<_>>(),
            LogStage::K8sAllow,
            &|_| json::ret(),
            &mut isolated_rules,
        );
        let iso_counter = names::isolation_counter(direction);
        let iso_id = names::isolation_rule_id(direction);
        let iso_prefix = names::isolation_log_prefix(direction);
        self.counters.push((
            iso_counter.clone(),
            CounterRef {
                rule_id: iso_id.to_string(),
                direction,
                action: Action::Drop,
            },
        ));
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
        self.entries(
            direction,
            &d.baseline.iter().collect::<Vec<_>>(),
            LogStage::Baseline,
            &|a| match a {
                Action::Allow | Action::Pass => json::ret(),
                Action::Drop => json::drop(),
                Action::Reject => json::jump(names::CHAIN_REJECT),
            },
            &mut baseline_rules,
        );

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
