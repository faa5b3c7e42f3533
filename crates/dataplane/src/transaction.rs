//! nft JSON documents from a `Ruleset`: the full (create-or-adopt) document, the whole-table
//! replacement, and the diff between two renderings. Each document is one `nft -j -f -` call,
//! i.e. one atomic kernel transaction.
//!
//! ```text
//!  full     add table · flush table (rules) · add chain* · (add set · flush set · add element)*
//!           · add counter* · add rule*            [· delete stale chain/set/counter]
//!           keeps named counters: `add counter` on an existing counter keeps its value
//!  replace  add table · delete table · full       (counters restart at 0; last resort)
//!  diff     add chain/set(+elements)/counter for new objects
//!           · delete element / add element for sets whose members changed
//!           · flush chain + add rule* for chains whose rules changed (and new chains)
//!           · delete chain/set/counter that are gone (nothing references them any more)
//! ```

use crate::json::{command, document, table_command};
use crate::ruleset::{Chain, Element, Ruleset, Set};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One nft JSON document (one transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    value: Value,
    commands: usize,
}

impl Document {
    fn new(commands: Vec<Value>) -> Self {
        Document {
            commands: commands.len(),
            value: document(commands),
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

    /// The JSON text given to `nft -j -f -`.
    pub fn to_json_string(&self) -> String {
        self.value.to_string()
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
            } else if let Some(n) = name("set").or_else(|| name("map")) {
                out.sets.insert(n);
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
    /// nft rules written (in added or rebuilt chains).
    pub rules_written: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self == &Changes::default()
    }
}

/// A document and what it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub document: Document,
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
    command("add", "set", spec)
}

fn elements_cmd(verb: &str, name: &str, elements: &[&Element]) -> Value {
    let elem: Vec<Value> = elements.iter().map(|e| e.to_json()).collect();
    command(verb, "element", json!({"name": name, "elem": elem}))
}

fn named(verb: &str, kind: &str, name: &str) -> Value {
    command(verb, kind, json!({ "name": name }))
}

fn add_rules(c: &Chain, out: &mut Vec<Value>) -> usize {
    for r in &c.rules {
        let mut spec = json!({"chain": c.name, "expr": r.expr});
        if let Some(comment) = &r.comment {
            spec["comment"] = json!(comment);
        }
        out.push(command("add", "rule", spec));
    }
    c.rules.len()
}

/// `add set` + `flush set` + `add element`: the set holds exactly `set.elements` afterwards,
/// whether it existed or not.
fn set_exactly(name: &str, set: &Set, out: &mut Vec<Value>) {
    out.push(add_set(name, set));
    out.push(named("flush", "set", name));
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
        for c in &self.chains {
            out.push(add_chain(c));
            changes.chains_added.push(c.name.clone());
        }
        for (name, set) in &self.sets {
            set_exactly(name, set, &mut out);
            changes.sets_added.push(name.clone());
            changes.elements_added += set.elements.len();
        }
        for name in self.counters.keys() {
            out.push(named("add", "counter", name));
            changes.counters_added.push(name.clone());
        }
        for c in &self.chains {
            changes.rules_written += add_rules(c, &mut out);
        }
        if let Some(existing) = existing {
            let chains: BTreeSet<&str> = self.chains.iter().map(|c| c.name.as_str()).collect();
            for name in &existing.chains {
                if !chains.contains(name.as_str()) {
                    out.push(named("delete", "chain", name));
                    changes.chains_removed.push(name.clone());
                }
            }
            for name in &existing.sets {
                if !self.sets.contains_key(name) {
                    out.push(named("delete", "set", name));
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
        }
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
        let mut out = Vec::new();
        let mut changes = Changes::default();
        for c in &new.chains {
            match self.chain(&c.name) {
                Some(old) if old.hook != c.hook => {
                    return Err(Incompatible::ChainHook(c.name.clone()));
                }
                Some(_) => {}
                None => {
                    out.push(add_chain(c));
                    changes.chains_added.push(c.name.clone());
                }
            }
        }
        for (name, set) in &new.sets {
            match self.sets.get(name) {
                Some(old) if old.kind != set.kind => {
                    return Err(Incompatible::SetKind(name.clone()));
                }
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
                    changes.sets_added.push(name.clone());
                    changes.elements_added += set.elements.len();
                }
            }
        }
        for name in new.counters.keys() {
            if !self.counters.contains_key(name) {
                out.push(named("add", "counter", name));
                changes.counters_added.push(name.clone());
            }
        }
        for c in &new.chains {
            match self.chain(&c.name) {
                Some(old) if old.rules == c.rules => {}
                Some(_) => {
                    out.push(named("flush", "chain", &c.name));
                    changes.rules_written += add_rules(c, &mut out);
                    changes.chains_rebuilt.push(c.name.clone());
                }
                None => changes.rules_written += add_rules(c, &mut out),
            }
        }
        // Removals last: every rule that referenced them has been flushed above.
        for c in &self.chains {
            if new.chain(&c.name).is_none() {
                out.insert(0, named("flush", "chain", &c.name));
                out.push(named("delete", "chain", &c.name));
                changes.chains_removed.push(c.name.clone());
            }
        }
        for name in self.sets.keys() {
            if !new.sets.contains_key(name) {
                out.push(named("delete", "set", name));
                changes.sets_removed.push(name.clone());
            }
        }
        for name in self.counters.keys() {
            if !new.counters.contains_key(name) {
                out.push(named("delete", "counter", name));
                changes.counters_removed.push(name.clone());
            }
        }
        Ok(Transaction {
            document: Document::new(out),
            changes,
        })
    }
}

/// `delete table inet tierwall` (after an `add`, so it works when the table is absent).
pub fn remove_document() -> Document {
    Document::new(vec![table_command("add"), table_command("delete")])
}
