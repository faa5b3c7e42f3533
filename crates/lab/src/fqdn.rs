//! FQDN rules on real packets in the lab: every Node's agent snoops the DNS answers its Pods
//! get (the base chains copy them to NFLOG, `tierwall_node::dns_snoop`) into its own FQDN cache
//! (TTL, `fqdnCacheMinTTL`, expiry). The lab merges the agents' caches (a name maps to every
//! address any Node holds, as the controller merges the agents' reports), feeds the difference
//! to the engine (`Engine::set_dns` / `remove_dns`, through `ReportedDns`), and the controller
//! publishes the rule sets whose FQDN peers changed; the lab waits until the agents enforce them.
//!
//! ```text
//!  Pod ──query──> cluster DNS (its Node, 169.254.20.10) ──answer──> Pod
//!      node netns `log group 53` copy ──> the Node agent's DnsSnooper ──> its FqdnCache
//!  realize: every agent's cache: expire(now), mappings ──merge──> ReportedDns::absorb_names
//!      ──> engine ──> controller.sync ──> stream ──> agents realize ──> settled
//! ```
//!
//! **The first connection after an answer.** Antrea holds the DNS answer until the rules for
//! the new addresses are installed. Here the answer reaches the Pod at once; a resolution
//! through [`resolve`] then waits until the agent of the Pod's Node has taken that very answer
//! (matched by client address, client port and query ID) and realizes it — the engine learns
//! the mapping and every changed Node enforces it — before it returns, so the connection that
//! follows meets the new rules. A client that connects on its own right after its answer can
//! still race the agent.
//!
//! **When changes take effect.** Snooped answers and expiries reach the engine when the lab
//! is driven: each [`resolve`], each `LiveCluster::apply`/`delete`, each probe batch of the
//! dataplane scenario runner, or an explicit `LiveCluster::realize_fqdn`. (The agents also report
//! their names over the stream, which is what `controller --testbed` uses.)

use crate::error::LiveError;
use crate::node_agents::NodeAgents;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tierwall_controller::SyncReport;
use tierwall_node::fqdn_cache::FqdnCacheOptions;
use tierwall_testbed::dns::Resolution;

/// How long a resolution waits for its answer to be snooped.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// Every name the agents' caches hold now (each expired at `now` first), merged over the
/// Nodes.
pub fn merged_names(agents: &NodeAgents) -> BTreeMap<String, BTreeSet<IpAddr>> {
    let now = Instant::now();
    let mut merged: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    for (_, handles) in agents.all_handles() {
        let mappings = handles
            .dns
            .with_cache(|c| {
                c.expire(now);
                c.mappings()
            })
            .unwrap_or_default();
        for (name, addrs) in mappings {
            merged.entry(name).or_default().extend(addrs);
        }
    }
    merged
}

/// Sets every agent's FQDN cache options (`fqdnCacheMinTTL`).
pub fn set_cache_options(agents: &NodeAgents, options: FqdnCacheOptions) {
    for (_, handles) in agents.all_handles() {
        handles.dns.with_cache(|c| c.set_options(options));
    }
}

/// DNS answers the agents have taken so far.
pub fn answers_seen(agents: &NodeAgents) -> u64 {
    agents
        .all_handles()
        .map(|(_, h)| h.dns.answers_seen())
        .sum()
}

/// Waits until the agent of `node` has taken the answer of `resolution` to `client`.
pub fn wait_for_answer(
    agents: &NodeAgents,
    node: &str,
    client: IpAddr,
    resolution: &Resolution,
) -> Result<(), LiveError> {
    let handles = agents
        .handles(node)
        .ok_or_else(|| LiveError::Other(format!("no agent on Node {node}")))?;
    if handles.dns.wait_for_answer(
        client,
        resolution.client_port,
        resolution.id,
        ANSWER_TIMEOUT,
    ) {
        Ok(())
    } else {
        Err(LiveError::Other(format!(
            "the DNS answer for {} to {client}:{} (ID {}) was not snooped by the agent of {node} \
             within {} s",
            resolution.name,
            resolution.client_port,
            resolution.id,
            ANSWER_TIMEOUT.as_secs()
        )))
    }
}

/// A resolution through cluster DNS, and what its realization pushed.
#[derive(Debug, Clone)]
pub struct FqdnResolution {
    pub resolution: Resolution,
    /// Whether the answer was snooped and realized before the resolution returned (false for
    /// an answer without addresses, and for a source whose answers are not snooped: a Node).
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
