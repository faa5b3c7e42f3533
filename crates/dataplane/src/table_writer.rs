//! `TableWriter`: programs one Node's network namespace and keeps what it applied, so that each
//! change is sent as the smallest transaction that makes the table equal to the new rendering.
//!
//! ```text
//!  sync(rules) ── render ──> new Ruleset
//!      applied? ── yes ──> diff(applied, new, rule handles) ── empty ──> Unchanged (nothing sent)
//!         │                    └── netlink form for every command (elements, counters,
//!         │                        new sets, rebuilt chains): one netlink batch, else nft
//!         │                        (echo: handles of added rules) ── ok ──> Incremental
//!         │                          └── error (table changed behind our back) ─┐
//!         no ──> list table ── none ──> staged build (nft skeleton · netlink counters and
//!                    │                   elements · nft rules + base chains) ── ok ──> Full
//!                    └── present (or staged failed) ──> full transaction (adopt: keeps
//!                          named counters, deletes stale objects) ── ok ──> Full  <┘
//!                                 └── error ──> replace table (counters restart) ──> Replace
//! ```

use crate::error::Error;
use crate::netns::NetnsTarget;
use crate::nft::{self, CounterStats};
use crate::render::{InterfaceMap, RenderOptions, render_after};
use crate::ruleset::{LogRef, Ruleset};
use crate::transaction::{Changes, RuleHandles, TableObjects, echoed_rule_handles};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tierwall_node_api::NodeRuleSet;

/// How a sync reached the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SyncMode {
    /// The rendering equals what is applied: nothing was sent.
    Unchanged,
    /// A diff against the previous rendering.
    Incremental,
    /// The whole table, adopting the existing one (named counters kept).
    Full,
    /// The table was deleted and created again (counters restarted).
    Replace,
}

/// What one `TableWriter::sync` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub node: String,
    pub mode: SyncMode,
    /// Commands in the transaction (0 when unchanged).
    pub commands: usize,
    /// Size of the JSON document sent.
    pub bytes: usize,
    pub changes: Changes,
    /// Rendering warnings (IPv6 members skipped, Pods without interface).
    pub warnings: Vec<String>,
    /// The error of a cheaper transaction that failed before this one repaired the table.
    pub recovered_from: Option<String>,
    /// Wall time of the sync, rendering included.
    pub elapsed: Duration,
    /// Of which rendering and diffing (the rest is nft or netlink).
    pub render: Duration,
    /// What wrote the change into the kernel.
    pub writer: Writer,
}

/// What wrote a sync's change into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Writer {
    /// `nft -j -f -` (every full sync, chains patched rule by rule, and changes with a
    /// statement the netlink encoder does not know).
    Nft,
    /// One nf_tables netlink batch (`crate::netlink`): set elements, named counters, new
    /// sets and maps, regular chains added, rebuilt or deleted.
    Netlink,
    /// A table built from nothing: nft for its chains, sets and rules, netlink for its
    /// counters and elements (`Ruleset::staged_build`).
    Staged,
}

/// The writer of one Node's nftables table.
#[derive(Debug, Clone)]
pub struct TableWriter {
    node: String,
    netns: NetnsTarget,
    ifaces: InterfaceMap,
    options: RenderOptions,
    /// What the table holds, as far as this writer knows (`None` until the first sync).
    applied: Option<Ruleset>,
    /// Kernel handles of the applied rules, for the chains where they are known (learnt from
    /// nft's echo of incremental transactions, or read when a chain is first patched).
    handles: RuleHandles,
    /// Chains with fewer rules are rebuilt (flush + add) rather than patched by handle.
    patch_min_rules: usize,
    /// Send diffs that have a netlink form as netlink batches (on by default).
    use_netlink: bool,
    /// The netlink socket in the Node's namespace, opened on first use.
    netlink: crate::netlink::Session,
}

/// Chains with at least this many rules are patched rule by rule (by handle) when they
/// change; smaller ones are flushed and rebuilt, which needs no handles and no echo. Patching
/// costs nft a read of the whole table (the positioned insert and the echo), about 0.15–0.3 s
/// at 10,000 rules or 20,000 map elements; rebuilding costs about 70 µs per rule.
pub const PATCH_MIN_RULES: usize = 500;

impl TableWriter {
    pub fn new(node: impl Into<String>, netns: NetnsTarget, ifaces: InterfaceMap) -> Self {
        TableWriter {
            node: node.into(),
            netns,
            ifaces,
            options: RenderOptions::default(),
            applied: None,
            handles: RuleHandles::new(),
            patch_min_rules: PATCH_MIN_RULES,
            use_netlink: true,
            netlink: crate::netlink::Session::default(),
        }
    }

    /// Whether diffs go through netlink when they can (`true`, the default) or nft always
    /// (the benchmarks compare both).
    pub fn with_netlink(mut self, on: bool) -> Self {
        self.use_netlink = on;
        self
    }

    pub fn with_options(mut self, options: RenderOptions) -> Self {
        self.options = options;
        self
    }

    /// Chains with at least `n` rules are patched by handle, smaller ones rebuilt
    /// (`PATCH_MIN_RULES` by default; 0 patches every chain).
    pub fn with_patch_min_rules(mut self, n: usize) -> Self {
        self.patch_min_rules = n;
        self
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn netns(&self) -> &NetnsTarget {
        &self.netns
    }

    /// Replaces the Pod interface map; takes effect at the next `sync`.
    pub fn set_interfaces(&mut self, ifaces: InterfaceMap) {
        self.ifaces = ifaces;
    }

    /// The rendering last applied.
    pub fn applied(&self) -> Option<&Ruleset> {
        self.applied.as_ref()
    }

    /// Log prefix → rule, for the NFLOG (np.log) writer.
    pub fn log_rules(&self) -> BTreeMap<String, LogRef> {
        self.applied
            .as_ref()
            .map(|r| r.logs.clone())
            .unwrap_or_default()
    }

    /// Forgets what was applied: the next sync sends the whole table (keeping counters).
    pub fn invalidate(&mut self) {
        self.applied = None;
        self.handles.clear();
    }

    /// Kernel handles of the applied rules, for the chains where the writer knows them.
    pub fn rule_handles(&self) -> &RuleHandles {
        &self.handles
    }

    /// Makes the Node's table enforce `rules`.
    pub fn sync(&mut self, rules: &NodeRuleSet) -> Result<SyncReport, Error> {
        if rules.node != self.node {
            return Err(Error::WrongNode {
                writer: self.node.clone(),
                rules: rules.node.clone(),
            });
        }
        let start = Instant::now();
        let new = render_after(rules, &self.ifaces, &self.options, self.applied.as_ref());
        let mut rendered = start.elapsed();
        let report =
            |mode, doc: Option<&crate::Document>, changes, recovered, rendered| SyncReport {
                node: self.node.clone(),
                mode,
                commands: doc.map_or(0, |d| d.commands()),
                bytes: doc.map_or(0, |d| d.text().len()),
                changes,
                warnings: new.warnings.clone(),
                recovered_from: recovered,
                elapsed: start.elapsed(),
                render: rendered,
                writer: Writer::Nft,
            };
        let mut recovered = None;
        if let Some(old) = &self.applied {
            // Chains about to be patched whose handles are unknown (after a full sync): read
            // them once; later patches learn the handles of the rules they add from the echo.
            let big = |name: &str| {
                old.chain(name)
                    .is_some_and(|c| c.rules.len() >= self.patch_min_rules)
            };
            for c in &new.chains {
                if let Some(o) = old.chain(&c.name)
                    && o.rules != c.rules
                    && big(&c.name)
                    && !self.handles.contains_key(&c.name)
                    && let Ok(hs) = nft::list_rule_handles(&self.netns, &c.name)
                    && hs.len() == o.rules.len()
                {
                    self.handles.insert(c.name.clone(), hs);
                }
            }
            let patchable: RuleHandles = self
                .handles
                .iter()
                .filter(|(name, _)| big(name))
                .map(|(n, h)| (n.clone(), h.clone()))
                .collect();
            let diffed = old.diff_with_handles(&new, &patchable);
            rendered = start.elapsed();
            match diffed {
                Ok(tx) if tx.document.is_empty() => {
                    return Ok(report(
                        SyncMode::Unchanged,
                        None,
                        Changes::default(),
                        None,
                        rendered,
                    ));
                }
                Ok(tx) => {
                    // One netlink batch when the diff has one (members, counters, new sets,
                    // rebuilt chains; see `crate::netlink`), else one nft document (with echo
                    // when a patched chain gets rules whose handles must be learnt).
                    let written = match tx.netlink.as_ref().filter(|_| self.use_netlink) {
                        Some(batch) => self
                            .netlink
                            .commit(&self.netns, batch)
                            .map(|sent| (Writer::Netlink, Some(sent), None)),
                        None if tx.layout.patched_with_new_rules => {
                            nft::apply_echo(&self.netns, &tx.document)
                                .map(|echo| (Writer::Nft, None, Some(echoed_rule_handles(&echo))))
                        }
                        None => nft::apply(&self.netns, &tx.document)
                            .map(|()| (Writer::Nft, None, None)),
                    };
                    match written {
                        Ok((writer, netlink_bytes, echoed)) => {
                            // Without an echo (netlink appends, nft without echo) the handles
                            // of rewritten chains are forgotten and read again before a patch.
                            tx.layout.resolve(echoed.as_deref(), &mut self.handles);
                            let mut r =
                                report(SyncMode::Incremental, None, tx.changes, None, rendered);
                            r.writer = writer;
                            r.commands = tx.document.commands();
                            // The bytes that went out (nft's text is serialized only when
                            // nft read it).
                            r.bytes = netlink_bytes.unwrap_or_else(|| tx.document.text().len());
                            self.applied = Some(new);
                            return Ok(r);
                        }
                        Err(e) => recovered = Some(e.to_string()),
                    }
                }
                Err(why) => recovered = Some(format!("cannot diff: {why:?}")),
            }
        }
        self.applied = None;
        self.handles.clear();
        let existing = nft::list_table(&self.netns)?.map(|l| TableObjects::from_listing(&l));
        if existing.is_none()
            && self.use_netlink
            && let Some(staged) = new.staged_build()
        {
            match apply_staged(&self.netns, &mut self.netlink, &staged) {
                Ok(bytes) => {
                    let r = SyncReport {
                        writer: Writer::Staged,
                        commands: staged.skeleton.commands() + staged.rules.commands(),
                        bytes,
                        ..report(SyncMode::Full, None, staged.changes, recovered, rendered)
                    };
                    self.applied = Some(new);
                    return Ok(r);
                }
                // A table left half-built is replaced below.
                Err(e) => recovered = Some(e.to_string()),
            }
        }
        let tx = new.full_transaction(existing.as_ref());
        match nft::apply(&self.netns, &tx.document) {
            Ok(()) => {
                let r = report(
                    SyncMode::Full,
                    Some(&tx.document),
                    tx.changes,
                    recovered,
                    rendered,
                );
                self.applied = Some(new);
                Ok(r)
            }
            Err(e) => {
                let doc = new.replace_document();
                nft::apply(&self.netns, &doc)?;
                let r = report(
                    SyncMode::Replace,
                    Some(&doc),
                    tx.changes,
                    Some(e.to_string()),
                    rendered,
                );
                self.applied = Some(new);
                Ok(r)
            }
        }
    }

    /// Per-rule statistics by rule id (isolation drops under `names::isolation_rule_id`).
    pub fn counters(&self) -> Result<BTreeMap<String, CounterStats>, Error> {
        let Some(applied) = &self.applied else {
            return Ok(BTreeMap::new());
        };
        let by_name = nft::list_counters(&self.netns)?;
        let mut out: BTreeMap<String, CounterStats> = BTreeMap::new();
        for (name, stats) in by_name {
            if let Some(id) = applied.rule_id_of_counter(&name) {
                let e = out.entry(id.to_string()).or_default();
                e.packets += stats.packets;
                e.bytes += stats.bytes;
            }
        }
        Ok(out)
    }

    /// Deletes the table from the Node's namespace.
    pub fn remove(&mut self) -> Result<(), Error> {
        nft::delete_table(&self.netns)?;
        self.applied = None;
        self.handles.clear();
        Ok(())
    }
}

/// Builds the table from nothing (`Ruleset::staged_build`); returns the bytes sent.
fn apply_staged(
    netns: &NetnsTarget,
    netlink: &mut crate::netlink::Session,
    staged: &crate::StagedBuild,
) -> Result<usize, Error> {
    nft::apply(netns, &staged.skeleton)?;
    let sent = netlink.commit(netns, &staged.members)?;
    nft::apply(netns, &staged.rules)?;
    Ok(staged.skeleton.text().len() + sent + staged.rules.text().len())
}
