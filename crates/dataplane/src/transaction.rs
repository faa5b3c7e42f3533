//! nft JSON documents from a `Ruleset`: the full (create-or-adopt) document, the whole-table
//! replacement, and the diff between two renderings. Each document is one `nft -j -f -` call,
//! i.e. one atomic kernel transaction.
//!
//! ```text
//!  full     add table · flush table (rules) · add chain* · add counter*
//!           · (add set|map · flush set|map · add element)* · add rule*
//!           [· delete stale chain/set/map/counter]
//!           keeps named counters: `add counter` on an existing counter keeps its value
//!  replace  add table · delete table · full       (counters restart at 0; last resort)
//!  diff     add chain/counter/set|map(+elements) for new objects (counters first: counter
//!           maps refer to them)
//!           · delete element / add element for sets whose members changed
//!           · chains whose rules changed, when the kernel handles of their rules are known:
//!             delete rule (handle) for rules gone · insert rule before the next kept
//!             rule's handle (or add rule at the end) for rules new   (the rest is not touched)
//!           · otherwise: flush chain + add rule* (and for new chains: add rule*)
//!           · delete chain/set/counter that are gone (nothing references them any more)
//! ```
//!
//! A diff is also built as one netlink batch, command for command in the same order
//! (`Transaction::netlink`), unless a command has no netlink form: a chain patched by handle, a
//! base chain added, a statement `netlink::rules` does not encode. The agent sends the batch
//! when there is one, and the document otherwise.
//!
//! Rule-level patches need the handle of every rule of the chain (`RuleHandles`). The handles
//! of rules a transaction adds come back in nft's echo (`nft -e`); `Layout` says which echoed
//! handle lands where, so the agent's record stays exact without listing the table.

use crate::json::{command, document, table_command};
use crate::ruleset::{Chain, Element, Rule, Ruleset, Set};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Kernel handles of the rules of each chain, in chain order (chain name → handles).
pub type RuleHandles = BTreeMap<String, Vec<u64>>;

/// Where a rule of a changed chain comes from after a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A rule that stayed, with its handle.
    Kept(u64),
    /// The n-th rule the document adds (0-based, over all its `add rule`/`insert rule`
    /// commands); its handle is the n-th rule handle in nft's echo.
    Added(usize),
}

/// The rule handles of every chain a transaction writes rules to, in terms of `Slot`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Chain name → one slot per rule of the new chain, in order.
    pub chains: BTreeMap<String, Vec<Slot>>,
    /// Chains the transaction deletes.
    pub removed: Vec<String>,
    /// Number of rule commands (`add rule`, `insert rule`) in the document.
    pub rules_added: usize,
    /// Whether a patched chain gets new rules: only then are the echoed handles worth nft's
    /// echo (which makes nft read the whole table first).
    pub patched_with_new_rules: bool,
}

impl Layout {
    /// Updates `handles` after the transaction: chains whose rules all have a known handle
    /// (kept, or added and echoed: `echoed` holds the added rules' handles in command order,
    /// `None` without echo) get their new handles; the others are forgotten. Returns false
    /// when an echo does not hold one handle per added rule (then every written chain is
    /// forgotten).
    pub fn resolve(&self, echoed: Option<&[u64]>, handles: &mut RuleHandles) -> bool {
        for name in &self.removed {
            handles.remove(name);
        }
        let complete = echoed.is_none_or(|e| e.len() == self.rules_added);
        let echoed = echoed.unwrap_or(&[]);
        for (name, slots) in &self.chains {
            if !complete {
                handles.remove(name);
                continue;
            }
            let resolved = slots
                .iter()
                .map(|s| match s {
                    Slot::Kept(h) => Some(*h),
                    Slot::Added(n) => echoed.get(*n).copied(),
                })
                .collect::<Option<Vec<u64>>>();
            match resolved {
                Some(hs) => {
                    handles.insert(name.clone(), hs);
                }
                None => {
                    handles.remove(name);
                }
            }
        }
        complete
    }
}

/// The rule handles in nft's echo of a document (`nft -j -e -f -`), in command order.
pub fn echoed_rule_handles(echo: &Value) -> Vec<u64> {
    let mut out = Vec::new();
    for item in echo["nftables"].as_array().into_iter().flatten() {
        for verb in ["add", "insert", "create"] {
            if let Some(h) = item[verb]["rule"]["handle"].as_u64() {
                out.push(h);
            }
        }
    }
    out
}

/// One nft JSON document (one transaction).
#[derive(Debug, Clone)]
pub struct Document {
    value: Value,
    commands: usize,
    /// The JSON text, serialized once on first use (nft reads it; reports count its bytes).
    text: std::sync::OnceLock<String>,
}

impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.commands == other.commands && self.value == other.value
    }
}

impl Document {
    fn new(commands: Vec<Value>) -> Self {
        Document {
            commands: commands.len(),
            value: document(commands),
            text: std::sync::OnceLock::new(),
        }
    }

    /// A document from nft JSON (`{"nftables": [commands…]}`), e.g. a hand-written table.
    pub fn from_json(value: Value) -> Self {
        let commands = value["nftables"].as_array().map_or(0, |a| {
            a.iter().filter(|c| c.get("metainfo").is_none()).count()
        });
        Document {
            value,
            commands,
            text: std::sync::OnceLock::new(),
        }
    }

    /// The JSON (`{"nftables": [metainfo, commands…]}`).
    pub fn json(&self) -> &Value {
        &self.value
    }

    /// Number of commands (not counting the metainfo object).
    pub fn commands(&self) -> usize {
        self.commands
    }

    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// The JSON text given to `nft -j -f -` (serialized once).
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| self.value.to_string())
    }

    /// `text`, owned.
    pub fn to_json_string(&self) -> String {
        self.text().to_string()
    }

    /// One command per line, for snapshots and for people.
    pub fn to_lines(&self) -> String {
        let mut out = String::new();
        if let Some(items) = self.value["nftables"].as_array() {
            for item in items {
                out.push_str(&item.to_string());
                out.push('\n');
            }
        }
        out
    }
}

/// Names of objects present in a table (from a listing), to delete the stale ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableObjects {
    pub chains: BTreeSet<String>,
    pub sets: BTreeSet<String>,
    pub maps: BTreeSet<String>,
    pub counters: BTreeSet<String>,
}

impl TableObjects {
    /// Reads the object names of `nft -j list table inet tierwall` output.
    pub fn from_listing(listing: &Value) -> Self {
        let mut out = TableObjects::default();
        for item in listing["nftables"].as_array().into_iter().flatten() {
            let name = |kind: &str| item[kind]["name"].as_str().map(str::to_string);
            if let Some(n) = name("chain") {
                out.chains.insert(n);
            } else if let Some(n) = name("set") {
                out.sets.insert(n);
            } else if let Some(n) = name("map") {
                out.maps.insert(n);
            } else if let Some(n) = name("counter") {
                out.counters.insert(n);
            }
        }
        out
    }
}

/// What a transaction changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub chains_added: Vec<String>,
    /// Chains flushed and refilled because their rules changed.
    pub chains_rebuilt: Vec<String>,
    pub chains_removed: Vec<String>,
    pub sets_added: Vec<String>,
    /// Existing sets whose elements changed.
    pub sets_changed: Vec<String>,
    pub sets_removed: Vec<String>,
    pub elements_added: usize,
    pub elements_removed: usize,
    pub counters_added: Vec<String>,
    pub counters_removed: Vec<String>,
    /// Chains changed rule by rule (deletes and positioned inserts by handle).
    pub chains_patched: Vec<String>,
    /// nft rules written (in added, rebuilt or patched chains).
    pub rules_written: usize,
    /// nft rules deleted by handle (in patched chains).
    pub rules_deleted: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self == &Changes::default()
    }
}

/// A document and what it changes.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub document: Document,
    pub changes: Changes,
    /// Where the rules of the chains it writes end up (for the agent's `RuleHandles`).
    pub layout: Layout,
    /// The same change as one netlink batch (`crate::netlink`), sent without nft: set
    /// elements, named counters, new sets and maps, regular chains added, rebuilt (flush +
    /// rules appended) or deleted, sets deleted. `None` when a command has no netlink form:
    /// a chain patched rule by rule (by handle), a base chain added, a statement the rule
    /// encoder does not know (`netlink::rules`), an element that does not fit its set.
    pub netlink: Option<crate::netlink::Batch>,
}

/// A table built from nothing in three transactions (`Ruleset::staged_build`).
#[derive(Debug, Clone)]
pub struct StagedBuild {
    /// nft: the table, its regular chains (empty) and its sets and maps (empty).
    pub skeleton: Document,
    /// netlink: every named counter and every set and map element.
    pub members: crate::netlink::Batch,
    /// nft: the rules, and the base chains that hook the table into the traffic.
    pub rules: Document,
    pub changes: Changes,
}

/// Why two renderings cannot be diffed (the table must be rebuilt instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incompatible {
    /// A chain changed hook under the same name.
    ChainHook(String),
    /// A set changed type or flags under the same name.
    SetKind(String),
}

// === command builders ===

fn add_chain(c: &Chain) -> Value {
    command("add", "chain", c.spec())
}

fn add_set(name: &str, set: &Set) -> Value {
    let mut spec = set.kind.spec();
    spec["name"] = json!(name);
    command("add", set.kind.object(), spec)
}

/// `add element` (whole elements) / `delete element` (keys only).
fn elements_cmd(verb: &str, name: &str, elements: &[&Element]) -> Value {
    let elem: Vec<Value> = if verb == "delete" {
        elements.iter().map(|e| e.key_json()).collect()
    } else {
        elements.iter().map(|e| e.to_json()).collect()
    };
    command(verb, "element", json!({"name": name, "elem": elem}))
}

fn named(verb: &str, kind: &str, name: &str) -> Value {
    command(verb, kind, json!({ "name": name }))
}

/// `add rule` (appended) / `insert rule` (before a handle).
fn rule_cmd(chain: &str, r: &Rule, position: Position) -> Value {
    let mut spec = json!({"chain": chain, "expr": r.expr});
    if let Some(comment) = &r.comment {
        spec["comment"] = json!(comment);
    }
    match position {
        Position::Append => command("add", "rule", spec),
        Position::Before(h) => {
            spec["handle"] = json!(h);
            command("insert", "rule", spec)
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Position {
    Append,
    Before(u64),
}

/// Appends every rule of `c`; records their slots from `layout.rules_added` on.
fn add_rules(c: &Chain, out: &mut Vec<Value>, layout: &mut Layout) -> usize {
    let mut slots = Vec::with_capacity(c.rules.len());
    for r in &c.rules {
        out.push(rule_cmd(&c.name, r, Position::Append));
        slots.push(Slot::Added(layout.rules_added));
        layout.rules_added += 1;
    }
    layout.chains.insert(c.name.clone(), slots);
    c.rules.len()
}

/// The rule commands that turn chain `old` (with kernel `handles`) into `new`: the rules kept
/// are a longest common subsequence of both (common prefix and suffix first, then a longest
/// increasing run of matches for the middle); the others are deleted by handle, and each new
/// rule is inserted before the kept rule that follows it (appended when none follows).
/// Returns (rules added, rules deleted).
fn patch_rules(
    old: &Chain,
    handles: &[u64],
    new: &Chain,
    out: &mut Vec<Value>,
    layout: &mut Layout,
) -> (usize, usize) {
    let (o, n) = (&old.rules, &new.rules);
    let mut prefix = 0;
    while prefix < o.len() && prefix < n.len() && o[prefix] == n[prefix] {
        prefix += 1;
    }
    let mut suffix = 0;
    while suffix < o.len() - prefix
        && suffix < n.len() - prefix
        && o[o.len() - 1 - suffix] == n[n.len() - 1 - suffix]
    {
        suffix += 1;
    }
    // kept[j] = the old index new rule j keeps, if any.
    let mut kept: Vec<Option<usize>> = vec![None; n.len()];
    for (j, k) in kept.iter_mut().enumerate().take(prefix) {
        *k = Some(j);
    }
    for k in 0..suffix {
        kept[n.len() - 1 - k] = Some(o.len() - 1 - k);
    }
    let (o_mid, n_mid) = (prefix..o.len() - suffix, prefix..n.len() - suffix);
    if !o_mid.is_empty() && !n_mid.is_empty() {
        let key = |r: &Rule| {
            (
                serde_json::to_string(&r.expr).unwrap_or_default(),
                r.comment.clone(),
            )
        };
        let mut by_key: HashMap<(String, Option<String>), VecDeque<usize>> = HashMap::new();
        for i in o_mid.clone() {
            by_key.entry(key(&o[i])).or_default().push_back(i);
        }
        let candidates: Vec<(usize, usize)> = n_mid
            .clone()
            .filter_map(|j| Some((j, by_key.get_mut(&key(&n[j]))?.pop_front()?)))
            .collect();
        for (j, i) in longest_increasing(&candidates) {
            kept[j] = Some(i);
        }
    }
    let kept_old: BTreeSet<usize> = kept.iter().flatten().copied().collect();
    let mut deleted = 0;
    for (i, h) in handles.iter().enumerate() {
        if !kept_old.contains(&i) {
            out.push(command(
                "delete",
                "rule",
                json!({"chain": old.name, "handle": h}),
            ));
            deleted += 1;
        }
    }
    // next_kept[j] = handle of the first kept rule at or after new index j.
    let mut next_kept: Vec<Option<u64>> = vec![None; n.len() + 1];
    for j in (0..n.len()).rev() {
        next_kept[j] = kept[j].map(|i| handles[i]).or(next_kept[j + 1]);
    }
    let mut slots = Vec::with_capacity(n.len());
    let mut added = 0;
    for (j, r) in n.iter().enumerate() {
        if let Some(i) = kept[j] {
            slots.push(Slot::Kept(handles[i]));
            continue;
        }
        // nft 1.0.6 ignores the position of a JSON `add rule`, but honours `insert rule`
        // before a handle; rules inserted before one handle keep their command order.
        let position = match next_kept[j] {
            Some(h) => Position::Before(h),
            None => Position::Append,
        };
        out.push(rule_cmd(&new.name, r, position));
        slots.push(Slot::Added(layout.rules_added));
        layout.rules_added += 1;
        layout.patched_with_new_rules = true;
        added += 1;
    }
    layout.chains.insert(new.name.clone(), slots);
    (added, deleted)
}

/// The longest subsequence of `pairs` (ordered by the first field) whose second field
/// increases strictly (patience sorting, O(n log n)).
fn longest_increasing(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // tails[k] = index into pairs of the smallest tail of an increasing run of length k+1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; pairs.len()];
    for (p, &(_, v)) in pairs.iter().enumerate() {
        let k = tails.partition_point(|&t| pairs[t].1 < v);
        if k > 0 {
            prev[p] = Some(tails[k - 1]);
        }
        if k == tails.len() {
            tails.push(p);
        } else {
            tails[k] = p;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(p) = at {
        out.push(pairs[p]);
        at = prev[p];
    }
    out.reverse();
    out
}

/// `add set` + `flush set` + `add element`: the set holds exactly `set.elements` afterwards,
/// whether it existed or not.
fn set_exactly(name: &str, set: &Set, out: &mut Vec<Value>) {
    out.push(add_set(name, set));
    out.push(named("flush", set.kind.object(), name));
    if !set.elements.is_empty() {
        let all: Vec<&Element> = set.elements.iter().collect();
        out.push(elements_cmd("add", name, &all));
    }
}

// === impl Ruleset ===

impl Ruleset {
    /// The whole table, idempotent and counter-preserving: applied to a namespace without the
    /// table it creates it; applied over an existing table it leaves exactly this rendering
    /// in place (plus stale objects, see `full_transaction`), named counters keeping their values.
    pub fn full_document(&self) -> Document {
        self.full_transaction(None).document
    }

    /// `full_document`, also deleting the objects of `existing` this rendering lacks.
    pub fn full_transaction(&self, existing: Option<&TableObjects>) -> Transaction {
        let mut out = vec![table_command("add"), table_command("flush")];
        let mut changes = Changes::default();
        let mut layout = Layout::default();
        for c in &self.chains {
            out.push(add_chain(c));
            changes.chains_added.push(c.name.clone());
        }
        // Counters before sets: counter maps refer to them.
        for name in self.counters.keys() {
            out.push(named("add", "counter", name));
            changes.counters_added.push(name.clone());
        }
        for (name, set) in &self.sets {
            set_exactly(name, set, &mut out);
            changes.sets_added.push(name.clone());
            changes.elements_added += set.elements.len();
        }
        for c in &self.chains {
            changes.rules_written += add_rules(c, &mut out, &mut layout);
        }
        if let Some(existing) = existing {
            let chains: BTreeSet<&str> = self.chains.iter().map(|c| c.name.as_str()).collect();
            for name in &existing.chains {
                if !chains.contains(name.as_str()) {
                    out.push(named("delete", "chain", name));
                    changes.chains_removed.push(name.clone());
                }
            }
            for (name, object) in existing
                .sets
                .iter()
                .map(|n| (n, "set"))
                .chain(existing.maps.iter().map(|n| (n, "map")))
            {
                if self
                    .sets
                    .get(name)
                    .is_none_or(|s| s.kind.object() != object)
                {
                    out.push(named("delete", object, name));
                    changes.sets_removed.push(name.clone());
                }
            }
            for name in &existing.counters {
                if !self.counters.contains_key(name) {
                    out.push(named("delete", "counter", name));
                    changes.counters_removed.push(name.clone());
                }
            }
        }
        Transaction {
            document: Document::new(out),
            changes,
            layout,
            netlink: None,
        }
    }

    /// The table built from nothing in three steps, for a namespace without the table; the
    /// policy takes effect at once, in the last step:
    ///
    /// ```text
    ///  1 nft      add table · add chain (regular chains, no rules) · add set|map (empty)
    ///  2 netlink  add counter* · add element*           (nothing hooks the table yet)
    ///  3 nft      add rule* of the regular chains · add chain (base chains, with their
    ///             hooks) · add rule* of the base chains  — traffic meets the table from here
    /// ```
    ///
    /// The 10,000 counters and 20,000 map elements of a big rule set never pass through nft's
    /// JSON parser (most of the cost of the one-document `full_document`). `None` when an
    /// element has no netlink form (then the full document is used).
    pub fn staged_build(&self) -> Option<StagedBuild> {
        let mut skeleton = vec![table_command("add")];
        let mut changes = Changes::default();
        for c in self.chains.iter().filter(|c| c.hook.is_none()) {
            skeleton.push(add_chain(c));
        }
        for (name, set) in &self.sets {
            skeleton.push(add_set(name, set));
            changes.sets_added.push(name.clone());
            changes.elements_added += set.elements.len();
        }
        let mut members = crate::netlink::Batch::new();
        for name in self.counters.keys() {
            members.add_counter(name);
            changes.counters_added.push(name.clone());
        }
        for (name, set) in &self.sets {
            members.add_elements(name, set.kind, &set.elements).ok()?;
        }
        let mut rules = Vec::new();
        let mut layout = Layout::default();
        let (base, regular): (Vec<&Chain>, Vec<&Chain>) =
            self.chains.iter().partition(|c| c.hook.is_some());
        for c in regular {
            changes.rules_written += add_rules(c, &mut rules, &mut layout);
        }
        for c in base {
            rules.push(add_chain(c));
            changes.rules_written += add_rules(c, &mut rules, &mut layout);
        }
        changes.chains_added = self.chains.iter().map(|c| c.name.clone()).collect();
        Some(StagedBuild {
            skeleton: Document::new(skeleton),
            members,
            rules: Document::new(rules),
            changes,
        })
    }

    /// Replaces whatever table is there by this rendering in one transaction (`add table`
    /// makes the `delete table` safe; nft 1.0.6 has no `destroy`). Counters restart at zero.
    pub fn replace_document(&self) -> Document {
        let mut commands = vec![table_command("add"), table_command("delete")];
        let full = self.full_transaction(None).document;
        if let Some(items) = full.value["nftables"].as_array() {
            commands.extend(items.iter().skip(1).cloned());
        }
        Document::new(commands)
    }

    /// The transaction that turns the table from `self` (what is applied) into `new`. Element
    /// changes cost their elements; a chain is rebuilt only when its rules changed.
    pub fn diff(&self, new: &Ruleset) -> Result<Transaction, Incompatible> {
        self.diff_with_handles(new, &RuleHandles::new())
    }

    /// `diff`, patching rule by rule every changed chain whose rule handles are in `handles`
    /// (one handle per rule of `self`'s chain); other changed chains are flushed and rebuilt.
    pub fn diff_with_handles(
        &self,
        new: &Ruleset,
        handles: &RuleHandles,
    ) -> Result<Transaction, Incompatible> {
        let mut out = Vec::new();
        let mut changes = Changes::default();
        let mut layout = Layout::default();
        // The same transaction as one netlink batch, command for command, while every
        // command has a netlink form (`None` from the first that has not).
        let mut batch = Some(crate::netlink::Batch::new());
        let no_netlink = |batch: &mut Option<crate::netlink::Batch>| *batch = None;
        // Chains that go: flushed first (their rules may jump to other chains that go).
        for c in &self.chains {
            if new.chain(&c.name).is_none()
                && let Some(b) = &mut batch
            {
                b.flush_chain(&c.name);
            }
        }
        for c in &new.chains {
            match self.chain(&c.name) {
                Some(old) if old.hook != c.hook => {
                    return Err(Incompatible::ChainHook(c.name.clone()));
                }
                Some(_) => {}
                None => {
                    out.push(add_chain(c));
                    changes.chains_added.push(c.name.clone());
                    match (&mut batch, c.hook) {
                        (Some(b), None) => b.add_chain(&c.name),
                        _ => no_netlink(&mut batch),
                    }
                }
            }
        }
        // Counters before sets: counter maps refer to them.
        for name in new.counters.keys() {
            if !self.counters.contains_key(name) {
                out.push(named("add", "counter", name));
                changes.counters_added.push(name.clone());
                if let Some(b) = &mut batch {
                    b.add_counter(name);
                }
            }
        }
        for (name, set) in &new.sets {
            match self.sets.get(name) {
                Some(old) if old.kind != set.kind => {
                    return Err(Incompatible::SetKind(name.clone()));
                }
                Some(old) if old.elements == set.elements => {}
                Some(old) => {
                    let removed: Vec<&Element> = old.elements.difference(&set.elements).collect();
                    let added: Vec<&Element> = set.elements.difference(&old.elements).collect();
                    if removed.is_empty() && added.is_empty() {
                        continue;
                    }
                    // Deletes first: an interval set refuses an overlap even for a moment.
                    if !removed.is_empty() {
                        out.push(elements_cmd("delete", name, &removed));
                    }
                    if !added.is_empty() {
                        out.push(elements_cmd("add", name, &added));
                    }
                    if let Some(b) = &mut batch {
                        let ok = b.delete_elements(name, set.kind, removed.iter().copied());
                        if ok
                            .and_then(|()| b.add_elements(name, set.kind, added.iter().copied()))
                            .is_err()
                        {
                            no_netlink(&mut batch);
                        }
                    }
                    changes.sets_changed.push(name.clone());
                    changes.elements_added += added.len();
                    changes.elements_removed += removed.len();
                }
                None => {
                    out.push(add_set(name, set));
                    if !set.elements.is_empty() {
                        let all: Vec<&Element> = set.elements.iter().collect();
                        out.push(elements_cmd("add", name, &all));
                    }
                    if let Some(b) = &mut batch {
                        b.add_set(name, set.kind);
                        if b.add_elements(name, set.kind, &set.elements).is_err() {
                            no_netlink(&mut batch);
                        }
                    }
                    changes.sets_added.push(name.clone());
                    changes.elements_added += set.elements.len();
                }
            }
        }
        let add_all = |c: &Chain, batch: &mut Option<crate::netlink::Batch>| {
            if let Some(b) = batch
                && c.rules.iter().any(|r| b.add_rule(&c.name, r).is_err())
            {
                *batch = None;
            }
        };
        for c in &new.chains {
            match self.chain(&c.name) {
                Some(old) if old.rules == c.rules => {}
                Some(old) => match handles.get(&c.name) {
                    Some(hs) if hs.len() == old.rules.len() => {
                        let (added, deleted) = patch_rules(old, hs, c, &mut out, &mut layout);
                        changes.rules_written += added;
                        changes.rules_deleted += deleted;
                        changes.chains_patched.push(c.name.clone());
                        // Positioned inserts and deletes by handle stay with nft (its echo
                        // tells the handles of the rules it adds).
                        no_netlink(&mut batch);
                    }
                    _ => {
                        out.push(named("flush", "chain", &c.name));
                        changes.rules_written += add_rules(c, &mut out, &mut layout);
                        changes.chains_rebuilt.push(c.name.clone());
                        if let Some(b) = &mut batch {
                            b.flush_chain(&c.name);
                        }
                        add_all(c, &mut batch);
                    }
                },
                None => {
                    changes.rules_written += add_rules(c, &mut out, &mut layout);
                    add_all(c, &mut batch);
                }
            }
        }
        // Removals last: every rule that referenced them has been flushed above.
        for c in &self.chains {
            if new.chain(&c.name).is_none() {
                out.insert(0, named("flush", "chain", &c.name));
                out.push(named("delete", "chain", &c.name));
                changes.chains_removed.push(c.name.clone());
                layout.removed.push(c.name.clone());
                if let Some(b) = &mut batch {
                    b.delete_chain(&c.name);
                }
            }
        }
        for (name, set) in &self.sets {
            if !new.sets.contains_key(name) {
                out.push(named("delete", set.kind.object(), name));
                changes.sets_removed.push(name.clone());
                if let Some(b) = &mut batch {
                    b.delete_set(name);
                }
            }
        }
        for name in self.counters.keys() {
            if !new.counters.contains_key(name) {
                out.push(named("delete", "counter", name));
                changes.counters_removed.push(name.clone());
                if let Some(b) = &mut batch {
                    b.delete_counter(name);
                }
            }
        }
        Ok(Transaction {
            document: Document::new(out),
            changes,
            layout,
            netlink: batch.filter(|b| !b.is_empty()),
        })
    }
}

/// `delete table inet tierwall` (after an `add`, so it works when the table is absent).
pub fn remove_document() -> Document {
    Document::new(vec![table_command("add"), table_command("delete")])
}
