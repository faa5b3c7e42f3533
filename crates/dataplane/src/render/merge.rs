//! Merged runs: consecutive rule entries of one chain that differ only in their peer prefixes,
//! destination ports and verdicts become ONE nft rule with two maps keyed by
//! `remote address . destination port`:
//!
//! ```text
//!  ip <local> @<applied> meta l4proto P
//!      counter name ip <remote> . th dport map @<first>_cm     key → the entry's named counter
//!      ip <remote> . th dport vmap @<first>_vm                 key → return | drop | jump | goto
//! ```
//!
//! A run holds entries with the same applied addresses and protocol, no logging, no NodePort or
//! toServices part, address-only peers (no Pod members: those would make element changes of a
//! Pod move between keys of several runs) and plain port ranges. Its keys (peer prefix × port
//! range) are pairwise disjoint, so a packet matches at most one entry of the run and the
//! entries' order inside the run does not matter; an entry whose keys overlap an earlier
//! entry's ends the run. A lookup that misses ends the rule (nft `NFT_BREAK`), exactly as a
//! non-matching rule. An entry that does not fit but cannot match a packet of the run's
//! entries before it is moved in front of the run (see `Renderer::entries`). Exact keys
//! (`/32 . port`) go to hash maps (`_cm`/`_vm`), the others to interval maps (`_cmi`/`_vmi`),
//! one rule each, so a name never changes kind and 10,000 exact keys never become pipapo
//! elements because one range joined the run. A run's maps keep the name most of its entries'
//! maps had in the previous rendering (`render_after`), so a rule added in front of a run
//! adds its keys instead of renaming the maps.
//!
//! Per packet, a run costs one rule instead of one per entry: with 10,000 rules a new
//! connection passes a handful of rules, not 10,000.

use super::{Renderer, local_field, remote_field};
use crate::json::{concat, eq, meta, payload, set_ref};
use crate::names;
use crate::ruleset::{CounterRef, Element, LogStage, MapData, MapKey, MapVerdict, Rule, SetKind};
use ipnet::{IpNet, Ipv4Net};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use tierwall_node_api::L4Protocol;
use tierwall_node_api::{Action, Direction};
use tierwall_node_api::{PortRule, RuleEntry};

/// Smallest run rendered as a map (shorter runs stay plain rules).
const MIN_RUN: usize = 2;

/// What a mergeable entry matches, as plain data.
#[derive(Debug, Clone)]
pub(super) struct Shape<'a> {
    /// The entry's applied addresses (IPv4 only, or the entry has no shape).
    applied: &'a BTreeSet<IpAddr>,
    protocol: L4Protocol,
    /// Peer prefix × destination port range.
    keys: Vec<(Ipv4Net, u16, u16)>,
}

/// The shape of an entry that can join a run, or `None`.
pub(super) fn shape(direction: Direction, e: &RuleEntry) -> Option<Shape<'_>> {
    if e.enable_logging
        || !e.node_ports.is_empty()
        || (direction == Direction::Egress && !e.services.is_empty())
        || !e.peers.pods.is_empty()
        || e.ports.is_empty()
        || e.applied.iter().any(IpAddr::is_ipv6)
    {
        return None;
    }
    let single: [Ipv4Net; 1];
    let aggregated: Vec<Ipv4Net>;
    let nets: &[Ipv4Net] = match (e.peers.any, e.peers.cidrs.as_slice()) {
        (true, _) => {
            single = [Ipv4Net::default()];
            &single
        }
        (false, [IpNet::V4(n)]) => {
            single = [n.trunc()];
            &single
        }
        (false, cidrs) => {
            let mut v = Vec::with_capacity(cidrs.len());
            for c in cidrs {
                match c {
                    IpNet::V4(n) => v.push(n.trunc()),
                    IpNet::V6(_) => return None,
                }
            }
            aggregated = Ipv4Net::aggregate(&v);
            &aggregated
        }
    };
    let mut protocol = None;
    for p in &e.ports {
        let PortRule::L4 {
            protocol: pr,
            source_ports: None,
            ..
        } = p
        else {
            return None;
        };
        if protocol.is_some_and(|x| x != *pr) {
            return None;
        }
        protocol = Some(*pr);
    }
    let protocol = protocol?;
    // The entry's port ranges, overlapping or adjacent ones joined: an interval map refuses
    // overlapping keys even when they carry the same verdict and counter (`80-90` with "any
    // port" is just "any port").
    let mut ranges: Vec<(u16, u16)> = e
        .ports
        .iter()
        .filter_map(|p| match p {
            PortRule::L4 { ports, .. } => Some(ports.unwrap_or((0, u16::MAX))),
            _ => None,
        })
        .collect();
    if ranges.len() > 1 {
        ranges.sort_unstable();
        let mut joined: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match joined.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => joined.push((lo, hi)),
            }
        }
        ranges = joined;
    }
    let mut keys = Vec::with_capacity(nets.len() * ranges.len());
    for n in nets {
        for (lo, hi) in &ranges {
            keys.push((*n, *lo, *hi));
        }
    }
    Some(Shape {
        applied: &e.applied,
        protocol,
        keys,
    })
}

/// Keys of a run, indexed for the overlap test: (prefix, low port, high port), ordered by
/// prefix, so the keys of one prefix (or of the prefixes inside one) are a range.
#[derive(Debug, Default)]
struct Keys {
    by_net: BTreeSet<(Ipv4Net, u16, u16)>,
    /// Bit `l` set: some key has a prefix of length `l`.
    lengths: u64,
}

impl Keys {
    /// Whether a key of `net` (exactly) has a port range meeting `lo..=hi`.
    fn ports_meet(&self, net: Ipv4Net, lo: u16, hi: u16) -> bool {
        self.by_net
            .range((net, 0, 0)..=(net, u16::MAX, u16::MAX))
            .any(|(_, a, b)| *a <= hi && lo <= *b)
    }

    fn overlaps(&self, (n, lo, hi): (Ipv4Net, u16, u16)) -> bool {
        if n.prefix_len() == 32 || self.lengths >> n.prefix_len() == 0 {
            // No longer prefix in the run: only `n` itself can lie inside `n`.
            if self.ports_meet(n, lo, hi) {
                return true;
            }
        } else {
            // Nets inside `n` (their address lies in `n`), and `n` itself.
            let low = Ipv4Net::new(n.network(), 0).unwrap_or(n);
            let high = Ipv4Net::new(n.broadcast(), 32).unwrap_or(n);
            if self
                .by_net
                .range((low, 0, 0)..=(high, u16::MAX, u16::MAX))
                .any(|(_, a, b)| *a <= hi && lo <= *b)
            {
                return true;
            }
        }
        // Nets around `n`, for the prefix lengths the run has.
        (0..n.prefix_len())
            .filter(|len| self.lengths & (1u64 << len) != 0)
            .any(|len| {
                Ipv4Net::new(n.network(), len)
                    .map(|s| s.trunc())
                    .is_ok_and(|s| self.ports_meet(s, lo, hi))
            })
    }

    fn insert(&mut self, (n, lo, hi): (Ipv4Net, u16, u16)) {
        self.lengths |= 1u64 << n.prefix_len();
        self.by_net.insert((n, lo, hi));
    }
}

/// A run being collected.
pub(super) struct Run<'a> {
    shape: Shape<'a>,
    keys: Keys,
    entries: Vec<(&'a RuleEntry, &'a Value)>,
    /// The keys of each entry: its range of `shape.keys`, in entry order.
    keys_of: Vec<std::ops::Range<usize>>,
}

impl<'a> Run<'a> {
    pub(super) fn new(e: &'a RuleEntry, shape: Shape<'a>, verdict: &'a Value) -> Self {
        let mut keys = Keys::default();
        for k in &shape.keys {
            keys.insert(*k);
        }
        let mut keys_of = Vec::with_capacity(16);
        keys_of.push(0..shape.keys.len());
        Run {
            shape,
            keys,
            entries: vec![(e, verdict)],
            keys_of,
        }
    }

    /// Adds `e` when it fits the run (same applied addresses and protocol, disjoint keys).
    pub(super) fn try_push(
        &mut self,
        e: &'a RuleEntry,
        shape: &Shape<'_>,
        verdict: &'a Value,
    ) -> bool {
        if shape.protocol != self.shape.protocol
            || !(std::ptr::eq(shape.applied, self.shape.applied)
                || shape.applied == self.shape.applied)
        {
            return false;
        }
        if let [k] = shape.keys.as_slice() {
            if self.keys.overlaps(*k) {
                return false;
            }
        } else {
            let mut fresh = Keys::default();
            for k in &shape.keys {
                if self.keys.overlaps(*k) || fresh.overlaps(*k) {
                    return false;
                }
                fresh.insert(*k);
            }
        }
        for k in &shape.keys {
            self.keys.insert(*k);
        }
        let start = self.shape.keys.len();
        self.shape.keys.extend(shape.keys.iter().copied());
        self.keys_of.push(start..self.shape.keys.len());
        self.entries.push((e, verdict));
        true
    }

    /// Whether no packet can match both `e` and an entry of the run: `e` applies to other
    /// local addresses only, or (for a mergeable `e`) matches another protocol or only keys
    /// disjoint from the run's.
    pub(super) fn commutes_with(&self, e: &RuleEntry, shape: Option<&Shape<'_>>) -> bool {
        let disjoint_locals = e.node_ports.is_empty()
            && e.applied.iter().all(|ip| match ip {
                IpAddr::V4(_) => !self.shape.applied.contains(ip),
                IpAddr::V6(_) => true,
            });
        disjoint_locals
            || shape.is_some_and(|s| {
                s.protocol != self.shape.protocol || s.keys.iter().all(|k| !self.keys.overlaps(*k))
            })
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = (&'a RuleEntry, &'a Value)> {
        self.entries.iter().map(|(e, v)| (*e, *v))
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The exact or the interval half of a merged run.
#[derive(Default)]
struct Part<'a> {
    counters: Vec<Element>,
    targets: Vec<Element>,
    first_key: Option<String>,
    /// Entries in this part: how many, the first and the last id (for the rule comment).
    ids: usize,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

/// A rule verdict as map data (`None` for verdicts a map cannot hold).
fn map_verdict(v: &Value) -> Option<MapVerdict> {
    if v.get("return").is_some() {
        Some(MapVerdict::Return)
    } else if v.get("drop").is_some() {
        Some(MapVerdict::Drop)
    } else if let Some(t) = v["jump"]["target"].as_str() {
        Some(MapVerdict::Jump(t.to_string()))
    } else {
        v["goto"]["target"]
            .as_str()
            .map(|t| MapVerdict::Goto(t.to_string()))
    }
}

impl Renderer<'_> {
    /// The rules of one stage, in order: runs of mergeable entries as merged rules (when
    /// `RenderOptions::merge_runs`), the others one by one. An entry that does not fit the
    /// current run but cannot match any packet the run's entries so far match (other local
    /// addresses, another protocol, disjoint keys) is moved in front of the run instead of
    /// ending it — first match is unchanged, and a rule of other Pods landing between the
    /// entries of a run does not split the run (nor rename its maps).
    pub(super) fn entries(
        &mut self,
        direction: Direction,
        entries: &[&RuleEntry],
        stage: LogStage,
        verdict_of: &dyn Fn(Action) -> Value,
        chain: &mut Vec<Rule>,
    ) {
        // The four verdicts once (not one JSON value per entry).
        let verdicts: [Value; 4] = [
            verdict_of(Action::Allow),
            verdict_of(Action::Drop),
            verdict_of(Action::Reject),
            verdict_of(Action::Pass),
        ];
        let verdict_for = |a: Action| match a {
            Action::Allow => &verdicts[0],
            Action::Drop => &verdicts[1],
            Action::Reject => &verdicts[2],
            Action::Pass => &verdicts[3],
        };
        let mut run: Option<Run<'_>> = None;
        let mut hoisted = Vec::new();
        for &e in entries {
            let verdict = verdict_for(e.action);
            let shape = if self.opts.merge_runs {
                shape(direction, e)
            } else {
                None
            };
            if let Some(r) = &mut run {
                if let Some(s) = &shape
                    && r.try_push(e, s, verdict)
                {
                    continue;
                }
                if r.commutes_with(e, shape.as_ref()) {
                    hoisted.push(e);
                    continue;
                }
            }
            if let Some(done) = run.take() {
                let moved = std::mem::take(&mut hoisted);
                self.entries(direction, &moved, stage, verdict_of, chain);
                self.run(direction, done, stage, chain);
            }
            match shape {
                Some(shape) => run = Some(Run::new(e, shape, verdict)),
                None => self.entry(direction, e, stage, verdict.clone(), chain),
            }
        }
        if let Some(done) = run.take() {
            self.entries(direction, &hoisted, stage, verdict_of, chain);
            self.run(direction, done, stage, chain);
        }
    }

    /// Renders a run: one rule and its two maps, or the entries one by one when the run is
    /// short.
    pub(super) fn run(
        &mut self,
        direction: Direction,
        run: Run<'_>,
        stage: LogStage,
        chain: &mut Vec<Rule>,
    ) {
        let verdicts: Option<Vec<MapVerdict>> =
            run.entries().map(|(_, v)| map_verdict(v)).collect();
        let Some(verdicts) = verdicts.filter(|_| run.len() >= MIN_RUN) else {
            for (e, v) in run.entries() {
                self.entry(direction, e, stage, v.clone(), chain);
            }
            return;
        };
        let applied_slot = format!("{}_l", names::sanitized_id(&run.entries[0].0.id));
        let applied = self.shared_set(
            &applied_slot,
            SetKind::Ipv4,
            run.shape.applied.iter().filter_map(|a| match a {
                IpAddr::V4(a) => Some(Element::Ipv4(*a)),
                IpAddr::V6(_) => None,
            }),
        );
        // Exact keys (`/32 . port`) in hash maps, the others in interval maps: one rule each
        // (the keys of a run are disjoint, so their order does not matter).
        let mut parts: [Part<'_>; 2] = Default::default();
        for (((e, _), verdict), keys) in run.entries().zip(verdicts).zip(&run.keys_of) {
            let keys = &run.shape.keys[keys.clone()];
            let (occurrence, counter) = self.entry_occurrence(&e.id);
            self.counters.push((
                counter.clone(),
                CounterRef {
                    rule_id: e.id.clone(),
                    direction,
                    action: e.action,
                },
            ));
            let mut used = [false; 2];
            for &(n, lo, hi) in keys {
                let interval = usize::from(!(n.prefix_len() == 32 && lo == hi));
                let part = &mut parts[interval];
                let k = MapKey { net: n, lo, hi };
                part.counters
                    .push(Element::Mapped(k, MapData::Counter(counter.clone())));
                part.targets
                    .push(Element::Mapped(k, MapData::Verdict(verdict.clone())));
                if !used[interval] {
                    used[interval] = true;
                    part.first_key.get_or_insert_with(|| match occurrence {
                        1 => counter.clone(),
                        n => format!("{counter}_{n}"),
                    });
                    part.ids += 1;
                    part.first_id.get_or_insert(e.id.as_str());
                    part.last_id = Some(e.id.as_str());
                }
            }
        }
        let key = concat(vec![
            payload("ip", remote_field(direction)),
            payload("th", "dport"),
        ]);
        for (interval, part) in parts.into_iter().enumerate() {
            let Some(first) = part.first_key.clone() else {
                continue;
            };
            let interval = interval == 1;
            let suffix = if interval { "i" } else { "" };
            let free = |base: &str| {
                !self.out.sets.contains_key(&format!("{base}_cm{suffix}"))
                    && !self.out.sets.contains_key(&format!("{base}_vm{suffix}"))
            };
            // The maps keep their name from the previous rendering: the one named after the
            // run's first entry when it existed, else the one most of the run's entries were in.
            let had_first = self
                .previous
                .is_some_and(|p| p.sets.contains_key(&format!("{first}_cm{suffix}")));
            let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
            if !(had_first && free(&first)) {
                let bases = &self.previous_map_bases()[usize::from(interval)];
                let mut counted: Option<&str> = None;
                for e in &part.counters {
                    if let Element::Mapped(_, MapData::Counter(c)) = e
                        && counted != Some(c.as_str())
                    {
                        counted = Some(c.as_str());
                        if let Some(base) = bases.get(c.as_str()) {
                            *votes.entry(base).or_insert(0) += 1;
                        }
                    }
                }
            }
            let free = |base: &str| {
                !self.out.sets.contains_key(&format!("{base}_cm{suffix}"))
                    && !self.out.sets.contains_key(&format!("{base}_vm{suffix}"))
            };
            let mut votes: Vec<(&str, usize)> = votes.into_iter().collect();
            votes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let base = votes
                .iter()
                .map(|(b, _)| b.to_string())
                .find(|b| free(b))
                .or_else(|| free(&first).then(|| first.clone()))
                .or_else(|| (2..).map(|i| format!("{first}_{i}")).find(|b| free(b)))
                .unwrap_or_default();
            let cm = format!("{base}_cm{suffix}");
            let vm = format!("{base}_vm{suffix}");
            self.add_set(&cm, SetKind::CounterMap(interval), part.counters);
            self.add_set(&vm, SetKind::VerdictMap(interval), part.targets);
            let comment = match (part.ids, part.first_id, part.last_id) {
                (1, Some(one), _) => one.to_string(),
                (n, Some(a), Some(b)) => format!("{n} rules: {a} … {b}"),
                _ => String::new(),
            };
            chain.push(super::base::rule(
                vec![
                    eq(payload("ip", local_field(direction)), set_ref(&applied)),
                    eq(meta("l4proto"), json!(names::proto(run.shape.protocol))),
                    json!({"counter": {"map": {"key": key, "data": format!("@{cm}")}}}),
                    json!({"vmap": {"key": key, "data": format!("@{vm}")}}),
                ],
                Some(&comment),
            ));
        }
    }
}
