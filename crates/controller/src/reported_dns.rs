//! FQDN peers from the DNS answers the agents snoop on their Nodes: the names each agent reports
//! (its cache's snapshot, `NodeReport.dns`) are merged over the Nodes by the index and fed to
//! the engine (`Engine::set_dns` / `remove_dns`); the controller then publishes the rule sets
//! whose FQDN peers changed.
//!
//! ```text
//!  agents ──report.dns──> RuleSetIndex (per Node) ──dns_version changed?──> reported_dns()
//!      ──diff with what was fed──> engine.set_dns(name, addrs) / remove_dns(name) ──> sync
//! ```

use crate::rule_set_index::RuleSetIndex;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use tierwall_engine::Engine;

/// What the controller fed the engine from the agents' reports.
#[derive(Debug, Default)]
pub struct ReportedDns {
    /// The index's `dns_version` when last read.
    seen: Option<u64>,
    fed: BTreeMap<String, BTreeSet<IpAddr>>,
}

impl ReportedDns {
    /// Feeds the engine what changed in the reported names since the last call; the names
    /// that changed (empty: nothing to recompute).
    pub fn absorb(&mut self, index: &RuleSetIndex, engine: &mut Engine) -> Vec<String> {
        let version = index.dns_version();
        if self.seen == Some(version) {
            return Vec::new();
        }
        self.seen = Some(version);
        self.absorb_names(index.reported_dns(), engine)
    }

    /// Feeds the engine the difference between `now` (every name known, merged over the
    /// Nodes) and what it was fed last; the names that changed.
    pub fn absorb_names(
        &mut self,
        now: BTreeMap<String, BTreeSet<IpAddr>>,
        engine: &mut Engine,
    ) -> Vec<String> {
        let mut changed = Vec::new();
        for name in self.fed.keys() {
            if !now.contains_key(name) {
                engine.remove_dns(name);
                changed.push(name.clone());
            }
        }
        for (name, addrs) in &now {
            if self.fed.get(name) != Some(addrs) {
                engine.set_dns(name, addrs.iter().copied().collect());
                changed.push(name.clone());
            }
        }
        self.fed = now;
        changed.sort();
        changed
    }
}
