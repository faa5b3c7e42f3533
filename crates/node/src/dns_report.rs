//! The agent's share of FQDN rules: it snoops the DNS answers its Node's Pods receive (the base
//! chains copy them to NFLOG group 53, [`crate::dns_snoop`]), keeps them in its own FQDN cache
//! (TTL, expiry), and reports the names it knows, with their addresses, to the controller. The
//! controller merges what every Node reports and turns it into FQDN peers.
//!
//! ```text
//!  Pod ──query──> cluster DNS ──answer──> Pod
//!       node netns `log group 53` copy ──> DnsSnooper ──> FqdnCache (this Node only)
//!  every tick: expire · take_changes ── any? ──> NodeReport.dns = every name now (a snapshot)
//! ```
//!
//! A report carries the Node's whole cache, not the changes, so a lost or repeated report
//! cannot leave the controller with a stale name; a name that expires here leaves the next
//! report. The answer reaches the Pod at once: a connection the Pod opens right after its
//! answer can race the new rules (Antrea holds the answer until they are installed).

use crate::dns_snoop::{DnsSnooper, SnoopWatch};
use crate::fqdn_cache::FqdnCacheOptions;
use std::sync::Arc;
use std::time::Instant;
use tierwall_node_api::DnsMapping;
use tokio::sync::Notify;

/// One Node's DNS snooping and what it reports.
pub struct NodeDnsSnooping {
    snooper: DnsSnooper,
    /// `None` when the reader could not start (no NFLOG in this kernel, no namespace).
    watch: Option<SnoopWatch>,
    mappings: Vec<DnsMapping>,
    /// Wakes the agent to refresh and report at once (instead of at its next tick).
    refresh_requested: Arc<Notify>,
}

impl NodeDnsSnooping {
    /// Starts snooping in `netns` (`None`: the agent's own namespace). When the reader cannot
    /// start, the agent goes on without it and the error says why.
    pub fn start(netns: Option<&str>, options: FqdnCacheOptions) -> (Self, Option<String>) {
        let snooper = DnsSnooper::new(options);
        let (watch, error) = match snooper.watch_in(netns) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e.to_string())),
        };
        (
            NodeDnsSnooping {
                snooper,
                watch,
                mappings: Vec::new(),
                refresh_requested: Arc::new(Notify::new()),
            },
            error,
        )
    }

    /// Whether answers are being read.
    pub fn is_watching(&self) -> bool {
        self.watch.is_some()
    }

    /// Expires the cache and takes what changed since the last call; true when the names or
    /// their addresses changed (the agent then reports).
    pub fn refresh(&mut self) -> bool {
        let now = Instant::now();
        let changed = self
            .snooper
            .with_cache(|c| {
                c.expire(now);
                let changed = !c.take_changes().is_empty();
                (changed, c.mappings())
            })
            .map(|(changed, mappings)| {
                if changed {
                    self.mappings = mappings
                        .into_iter()
                        .map(|(name, addresses)| DnsMapping { name, addresses })
                        .collect();
                }
                changed
            });
        changed.unwrap_or(false)
    }

    /// Every name the Node's cache holds, with its addresses, sorted by name.
    pub fn mappings(&self) -> &[DnsMapping] {
        &self.mappings
    }

    /// The snooper (to wait for an answer, or take one as if snooped).
    pub fn snooper(&self) -> &DnsSnooper {
        &self.snooper
    }

    /// Notified when someone asks for a report now ([`Notify::notify_one`]).
    pub fn refresh_requested(&self) -> Arc<Notify> {
        Arc::clone(&self.refresh_requested)
    }
}
