//! FQDN rules on real packets: the DNS answers Pods get from cluster DNS are snooped on their
//! Node (the base chains copy them to NFLOG, `tierwall_node::dns_snoop`), kept in one FQDN
//! cache for the cluster (TTL, `fqdnCacheMinTTL`, expiry), and fed to the engine
//! (`Engine::set_dns` / `remove_dns`), after which the controller pushes the rule sets whose
//! FQDN peers changed.
//!
//! ```text
//!  Pod ──query──> cluster DNS (its Node, 169.254.20.10) ──answer──> Pod
//!                      node netns: `log group 53` copy ──> DnsSnooper ──> FqdnCache
//!  realize: cache.expire(now) · take_changes ──> engine.set_dns/remove_dns ──> controller.sync
//! ```
//!
//! **The first connection after an answer.** Antrea holds the DNS answer until the rules for
//! the new addresses are installed. Here the answer reaches the Pod at once; a resolution
//! through [`resolve`] then waits until the snooper has taken that very answer (matched by
//! client address, client port and query ID) and realizes it — the engine learns the mapping
//! and the controller programs every changed Node synchronously — before it returns, so the
//! connection that follows meets the new rules. A client that connects on its own right after
//! its answer can still race the agent.
//!
//! **When changes take effect.** Snooped answers and expiries reach the engine when the live
//! cluster is driven: each [`resolve`], each `LiveCluster::apply`/`delete`, each probe batch of
//! the dataplane scenario runner, or an explicit `LiveCluster::realize_fqdn`. There is no timer
//! of its own.

use crate::error::LiveError;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tierwall_controller::{Controller, SyncReport};
use tierwall_engine::Engine;
use tierwall_node::dns_snoop::{DnsSnooper, SnoopWatch};
use tierwall_node::fqdn_cache::{FqdnCacheOptions, FqdnChange};
use tierwall_testbed::dns::{DnsTransport, Resolution};
use tierwall_testbed::{Endpoint, Testbed};

/// How long a resolution waits for its answer to be snooped.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// The snooping of a live cluster: one reader per Node, one cache.
pub struct FqdnSnooping {
    snooper: DnsSnooper,
    watches: BTreeMap<String, SnoopWatch>,
}

impl Default for FqdnSnooping {
    fn default() -> Self {
        FqdnSnooping::new(FqdnCacheOptions::default())
    }
}

impl FqdnSnooping {
    pub fn new(options: FqdnCacheOptions) -> Self {
        FqdnSnooping {
            snooper: DnsSnooper::new(options),
            watches: BTreeMap::new(),
        }
    }

    /// Starts snooping the DNS answers to the Pods of `node`.
    pub fn watch_node(&mut self, node: &str, netns: &str) -> Result<(), LiveError> {
        let watch = self
            .snooper
            .watch(netns)
            .map_err(|e| LiveError::Other(format!("DNS snooping on {node}: {e}")))?;
        self.watches.insert(node.to_string(), watch);
        Ok(())
    }

    /// Stops snooping on a Node that left (what it taught the cache stays until it expires).
    pub fn forget_node(&mut self, node: &str) {
        self.watches.remove(node);
    }

    pub fn snooper(&self) -> &DnsSnooper {
        &self.snooper
    }

    /// Every name the cache holds now, with its addresses.
    pub fn mappings(&self) -> Vec<FqdnChange> {
        self.snooper
            .with_cache(|c| {
                c.expire(Instant::now());
                c.mappings()
            })
            .unwrap_or_default()
    }

    /// Expires the cache at `now` and feeds what changed since the last call to `engine`.
    /// The names that changed.
    pub fn feed(&self, engine: &mut Engine) -> Vec<FqdnChange> {
        let changes = self
            .snooper
            .with_cache(|c| {
                c.expire(Instant::now());
                c.take_changes()
            })
            .unwrap_or_default();
        for (name, addrs) in &changes {
            if addrs.is_empty() {
                engine.remove_dns(name);
            } else {
                engine.set_dns(name, addrs.clone());
            }
        }
        changes
    }
}

/// [`FqdnSnooping::feed`], then the controller pushes the rule sets that changed.
pub fn realize(snooping: &FqdnSnooping, controller: &mut Controller) -> SyncReport {
    if snooping.feed(controller.engine_mut()).is_empty() {
        return SyncReport::default();
    }
    controller.sync()
}

/// A resolution through cluster DNS, and what its realization pushed.
#[derive(Debug, Clone)]
pub struct FqdnResolution {
    pub resolution: Resolution,
    /// Whether the answer was snooped and realized before [`resolve`] returned (false for an
    /// answer without addresses, and for a source whose answers are not snooped: a Node).
    pub realized: bool,
    pub report: SyncReport,
}

impl FqdnResolution {
    /// The addresses answered.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.resolution
            .addrs
            .iter()
            .copied()
            .map(IpAddr::V4)
            .collect()
    }
}

/// Resolves `name` from `src` through cluster DNS (a real query from the source's netns), waits
/// until the agent of the source's Node has snooped that answer, and realizes it (engine, then
/// every changed Node's rules) before returning. A Pod source's answer that is not snooped
/// within [`ANSWER_TIMEOUT`] is an error.
pub fn resolve(
    testbed: &Testbed,
    snooping: &FqdnSnooping,
    controller: &mut Controller,
    src: &Endpoint,
    name: &str,
    over: DnsTransport,
) -> Result<FqdnResolution, LiveError> {
    let resolution = testbed.resolve(src, name, over)?;
    let client = match src {
        Endpoint::Pod { namespace, name } if resolution.resolved() => {
            let pod = testbed
                .layout()
                .pods
                .get(&format!("{namespace}/{name}"))
                .ok_or_else(|| LiveError::Other(format!("no Pod {namespace}/{name}")))?;
            (!pod.host_network).then_some(IpAddr::V4(pod.ip))
        }
        _ => None,
    };
    let Some(client) = client else {
        let report = realize(snooping, controller);
        return Ok(FqdnResolution {
            resolution,
            realized: false,
            report,
        });
    };
    if !snooping.snooper().wait_for_answer(
        client,
        resolution.client_port,
        resolution.id,
        ANSWER_TIMEOUT,
    ) {
        return Err(LiveError::Other(format!(
            "the DNS answer for {name} to {src} ({client}:{}, ID {}) was not snooped within {} s",
            resolution.client_port,
            resolution.id,
            ANSWER_TIMEOUT.as_secs()
        )));
    }
    let report = realize(snooping, controller);
    if let Some((node, message)) = report.failed.iter().next() {
        return Err(LiveError::Other(format!(
            "realizing {name} on {node}: {message}"
        )));
    }
    Ok(FqdnResolution {
        resolution,
        realized: true,
        report,
    })
}

#[cfg(test)]
mod tests {
    use tierwall_node::dns_snoop::{DNS_ANSWER_LOG_GROUP, DNS_ANSWER_LOG_PREFIX};

    /// The dataplane's base chains copy DNS answers to the group and with the prefix the
    /// snooper reads.
    #[test]
    fn base_chains_log_dns_answers_where_the_snooper_reads() {
        let engine = tierwall_engine::Engine::new();
        let rules =
            tierwall_engine::ruleset::node_rule_set(engine.cluster(), engine.table(), "node-0");
        let ruleset = tierwall_dataplane::render(&rules, &Default::default());
        let want = serde_json::json!({"log": {"prefix": DNS_ANSWER_LOG_PREFIX, "group": DNS_ANSWER_LOG_GROUP}});
        for chain in ["forward", "output"] {
            let first = &ruleset.chain(chain).expect("base chain").rules[0];
            assert_eq!(first.expr.last(), Some(&want), "{chain}: {:?}", first.expr);
        }
    }
}
