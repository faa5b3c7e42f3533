//! `Ruleset`: the rendered table as data — chains of rules, named sets with their elements,
//! named counters and log prefixes — kept by the agent between syncs so that the next change
//! can be sent as a diff (`crate::transaction`).
//!
//! ```text
//!  Ruleset ─┬─ chains   [Chain { name, hook?, rules: [Rule { expr: [nft JSON statements] }] }]
//!           ├─ sets     name → Set { kind (type + flags; sets and maps), elements (sorted) }
//!           ├─ counters name → CounterRef (rule id it counts)
//!           └─ logs     prefix → LogRef (rule the NFLOG writer prints)
//! ```
//!
//! The chains reference sets and counters by name only, so when just the members of a rule
//! change, every chain stays equal and only set elements differ.

use ipnet::Ipv4Net;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use tierwall_node_api::L4Protocol;
use tierwall_node_api::PolicyRef;
use tierwall_node_api::{Action, Direction};

use crate::names;

/// The rendering of one Node's rule set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    /// Node the rule set belongs to.
    pub node: String,
    /// Chains in a fixed order (base chains first).
    pub chains: Vec<Chain>,
    pub sets: BTreeMap<String, Set>,
    /// Counter name → what it counts. Several entries of one rule id share a counter.
    pub counters: BTreeMap<String, CounterRef>,
    /// Log prefix → the rule it stands for, for the np.log writer.
    pub logs: BTreeMap<String, LogRef>,
    /// What could not be rendered (IPv6 members, Pods without interface), sorted.
    pub warnings: Vec<String>,
}

impl Ruleset {
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// Number of nft rules over all chains.
    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }

    /// Number of set elements over all sets.
    pub fn element_count(&self) -> usize {
        self.sets.values().map(|s| s.elements.len()).sum()
    }

    /// Rule id counted by a counter name.
    pub fn rule_id_of_counter(&self, counter: &str) -> Option<&str> {
        self.counters.get(counter).map(|c| c.rule_id.as_str())
    }
}

/// A base-chain hook. Every base chain is `type filter`, priority `filter` (0), policy accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Hook {
    Forward,
    Input,
    Output,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Forward => "forward",
            Hook::Input => "input",
            Hook::Output => "output",
        }
    }
}

/// One chain: a base chain when `hook` is set, else a regular chain reached by jump/goto.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub name: String,
    pub hook: Option<Hook>,
    pub rules: Vec<Rule>,
}

impl Chain {
    /// The `add chain` properties (hook, type, priority, policy for a base chain).
    pub fn spec(&self) -> Value {
        match self.hook {
            Some(h) => json!({
                "name": self.name, "type": "filter", "hook": h.as_str(), "prio": 0, "policy": "accept"
            }),
            None => json!({ "name": self.name }),
        }
    }
}

/// One nft rule: its statements in nft JSON, and a comment (the rule id) for people reading
/// `nft list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub expr: Vec<Value>,
    pub comment: Option<String>,
}

/// Key type and flags of a named set. The set name fixes its kind (see `crate::names`), so a
/// set never changes kind under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SetKind {
    /// `type ifname`.
    Ifname,
    /// `type ipv4_addr`.
    Ipv4,
    /// `type ipv4_addr; flags interval` (elements are non-overlapping prefixes).
    Ipv4Intervals,
    /// `type inet_service`.
    Port,
    /// `type ipv4_addr . inet_service`.
    AddrPort,
    /// `type ipv4_addr . inet_proto . inet_service`.
    AddrProtoPort,
    /// `type ipv4_addr . ipv4_addr`.
    AddrPair,
    /// `map … { type ipv4_addr . inet_service : verdict }` (`flags interval` when `true`): the
    /// verdicts of a merged run of rules (see `render`).
    VerdictMap(bool),
    /// `map … { type ipv4_addr . inet_service : counter }` (`flags interval` when `true`): the
    /// named counter of each key of a merged run of rules.
    CounterMap(bool),
}

impl SetKind {
    /// The `add set` properties: `type` and `flags`.
    pub fn spec(self) -> Value {
        match self {
            SetKind::Ifname => json!({"type": "ifname"}),
            SetKind::Ipv4 => json!({"type": "ipv4_addr"}),
            SetKind::Ipv4Intervals => json!({"type": "ipv4_addr", "flags": ["interval"]}),
            SetKind::Port => json!({"type": "inet_service"}),
            SetKind::AddrPort => json!({"type": ["ipv4_addr", "inet_service"]}),
            SetKind::AddrProtoPort => {
                json!({"type": ["ipv4_addr", "inet_proto", "inet_service"]})
            }
            SetKind::AddrPair => json!({"type": ["ipv4_addr", "ipv4_addr"]}),
            SetKind::VerdictMap(interval) | SetKind::CounterMap(interval) => {
                let data = if matches!(self, SetKind::VerdictMap(_)) {
                    "verdict"
                } else {
                    "counter"
                };
                let mut v = json!({"type": ["ipv4_addr", "inet_service"], "map": data});
                if interval {
                    v["flags"] = json!(["interval"]);
                }
                v
            }
        }
    }

    /// The nft object kind: `set` or `map`.
    pub fn object(self) -> &'static str {
        match self {
            SetKind::VerdictMap(_) | SetKind::CounterMap(_) => "map",
            _ => "set",
        }
    }
}

/// The verdict of a verdict-map element.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MapVerdict {
    Return,
    Drop,
    Jump(String),
    Goto(String),
}

impl MapVerdict {
    pub fn to_json(&self) -> Value {
        match self {
            MapVerdict::Return => json!({"return": null}),
            MapVerdict::Drop => json!({"drop": null}),
            MapVerdict::Jump(t) => json!({"jump": {"target": t}}),
            MapVerdict::Goto(t) => json!({"goto": {"target": t}}),
        }
    }
}

/// The data of a map element.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MapData {
    Verdict(MapVerdict),
    /// A named counter.
    Counter(String),
}

/// A set element.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Element {
    Ifname(String),
    Ipv4(Ipv4Addr),
    Net(Ipv4Net),
    Port(u16),
    AddrPort(Ipv4Addr, u16),
    AddrProtoPort(Ipv4Addr, L4Protocol, u16),
    AddrPair(Ipv4Addr, Ipv4Addr),
    /// `prefix . port-range` (a plain address / port when exact), the key of a merged run.
    NetPorts(Ipv4Net, u16, u16),
    /// A map element: key → data.
    Mapped(MapKey, MapData),
}

/// The key of a merged-run map element: `prefix . port-range` (`Element::NetPorts` inline,
/// so that a map element needs no allocation of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapKey {
    pub net: Ipv4Net,
    pub lo: u16,
    pub hi: u16,
}

impl MapKey {
    /// The key as a set element.
    pub fn to_element(self) -> Element {
        Element::NetPorts(self.net, self.lo, self.hi)
    }
}

impl Element {
    /// The key of the element as nft JSON (what `delete element` needs).
    pub fn key_json(&self) -> Value {
        match self {
            Element::Mapped(k, _) => k.to_element().to_json(),
            e => e.to_json(),
        }
    }

    /// The element as nft JSON (a `/32` prefix is written as a plain address, as nft lists it).
    pub fn to_json(&self) -> Value {
        match self {
            Element::NetPorts(n, lo, hi) => {
                json!({"concat": [Element::Net(*n).to_json(), crate::json::port_range(*lo, *hi)]})
            }
            Element::Mapped(k, MapData::Verdict(v)) => {
                json!([k.to_element().to_json(), v.to_json()])
            }
            Element::Mapped(k, MapData::Counter(c)) => json!([k.to_element().to_json(), c]),
            Element::Ifname(s) => json!(s),
            Element::Ipv4(a) => json!(a.to_string()),
            Element::Net(n) if n.prefix_len() == 32 => json!(n.addr().to_string()),
            Element::Net(n) => {
                json!({"prefix": {"addr": n.network().to_string(), "len": n.prefix_len()}})
            }
            Element::Port(p) => json!(p),
            Element::AddrPort(a, p) => json!({"concat": [a.to_string(), p]}),
            Element::AddrProtoPort(a, pr, p) => {
                json!({"concat": [a.to_string(), names::proto(*pr), p]})
            }
            Element::AddrPair(a, b) => json!({"concat": [a.to_string(), b.to_string()]}),
        }
    }
}

/// A named set.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    pub kind: SetKind,
    pub elements: BTreeSet<Element>,
}

impl Set {
    pub fn new(kind: SetKind) -> Self {
        Set {
            kind,
            elements: BTreeSet::new(),
        }
    }
}

/// What a named counter counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterRef {
    /// The `RuleEntry::id`, or `names::isolation_rule_id` for isolation drops.
    pub rule_id: String,
    pub direction: Direction,
    pub action: Action,
}

/// Where a logged rule sits in the pipeline (the np.log writer derives Antrea's table name
/// from it: `AntreaPolicy{Egress,Ingress}Rule`, `{Egress,Ingress}Rule`, `…DefaultRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LogStage {
    /// Antrea-native rule of a tier before baseline.
    Antrea,
    /// Kubernetes NetworkPolicy allow rule.
    K8sAllow,
    /// Kubernetes NetworkPolicy isolation drop (np.log prints just `K8sNetworkPolicy`).
    K8sIsolation,
    /// Baseline-tier rule.
    Baseline,
}

/// The rule behind an NFLOG prefix. Only the first packet of a connection is logged: packets
/// of established connections are accepted before any policy chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRef {
    /// The `RuleEntry::id` (`names::isolation_rule_id` for isolation drops).
    pub rule_id: String,
    /// `None` for isolation drops.
    pub policy: Option<PolicyRef>,
    pub rule_name: Option<String>,
    pub direction: Direction,
    pub action: Action,
    pub stage: LogStage,
    pub tier_priority: Option<i32>,
    pub log_label: String,
}
