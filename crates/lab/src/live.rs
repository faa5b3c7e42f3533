//! `LiveCluster`: the testbed, the controller and one agent per Node, wired together the way
//! a cluster runs them: the controller publishes every Node's rule set into the index, the
//! Node stream (mutual TLS on loopback, identities from a CA of this lab) carries them to the
//! agents — the same `tierwall agent` code, here as tasks of this process — and their reports
//! say when a change is enforced. Pods and Nodes may come, go, move or be relabelled while it
//! runs: a change of a Pod or Node is admitted by the engine, then the testbed follows it
//! (`Testbed::plan_changes` / `apply_changes`: namespaces, veths, routes, servers), agents of
//! leaving Nodes stop and new Nodes get one, and the controller publishes the rule sets that
//! changed. Every change returns once every Node's agent has realized (or refused) it.
//!
//! ```text
//!  apply/delete ──> Controller (engine) ──publish──> RuleSetIndex ══stream══> agent tasks
//!      ──> nftables in each Node's netns, np.log, DNS snooping ──reports──> settled
//! ```

use crate::error::LiveError;
use crate::node_agents::{NodeAgents, task_agents_on_loopback};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tierwall_controller::node_stream::NodeStreamServer;
use tierwall_controller::reported_dns::ReportedDns;
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_controller::{Controller, SyncReport};
use tierwall_engine::Engine;
use tierwall_engine::{ProbeTransport, Source, Target};
use tierwall_model::{Object, ObjectKey};
use tierwall_node::fqdn_cache::FqdnCacheOptions;
use tierwall_node_api::NodeRuleSet;
use tierwall_testbed::{Endpoint, Probe, Testbed, TestbedOptions, Transport};

/// How long a change may take to be realized by every Node.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

/// How a live cluster is built.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    pub testbed: TestbedOptions,
    /// Directory of the np.log files (`<dir>/<node>/np.log`); a fresh temporary one by default.
    pub log_dir: Option<PathBuf>,
}

/// Per-rule statistics of one Node (or summed over Nodes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Connections the rule decided (first packets).
    pub sessions: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// A testbed enforced by tierwall.
pub struct LiveCluster {
    /// Fields drop in order: the agents stop first, then the stream, then the testbed goes.
    agents: NodeAgents,
    stream: NodeStreamServer,
    testbed: Testbed,
    controller: Controller,
    index: Arc<RuleSetIndex>,
    log_dir: PathBuf,
    owns_log_dir: bool,
    /// The lab's CA and the Nodes' identities (removed at `down`).
    pki: PathBuf,
    /// What the agents' DNS caches taught the engine ([`crate::fqdn`]).
    fqdn: ReportedDns,
}

impl LiveCluster {
    /// Builds the testbed for the engine's cluster, starts the Node stream and one agent per
    /// Node, and returns once every Node enforces its rule set.
    pub fn up(engine: Engine, options: LiveOptions) -> Result<LiveCluster, LiveError> {
        let testbed = Testbed::up(engine.cluster(), options.testbed)?;
        let (log_dir, owns_log_dir) = match options.log_dir {
            Some(d) => (d, false),
            None => (
                std::env::temp_dir().join(format!("tierwall-{}-logs", testbed.prefix())),
                true,
            ),
        };
        let pki = std::env::temp_dir().join(format!("tierwall-{}-pki", testbed.prefix()));
        let (stream, index, agents) = task_agents_on_loopback(&pki).map_err(LiveError::Other)?;
        let mut controller = Controller::new(engine);
        controller.publish_to(Arc::clone(&index));
        let mut live = LiveCluster {
            testbed,
            controller,
            index,
            agents,
            stream,
            log_dir,
            owns_log_dir,
            pki,
            fqdn: ReportedDns::default(),
        };
        let nodes: Vec<String> = live.testbed.layout().nodes.keys().cloned().collect();
        for node in nodes {
            live.start_agent(&node)?;
        }
        let report = live.settle(SyncReport::default());
        if let Some((node, m)) = report.failed.iter().next() {
            return Err(LiveError::Other(format!("programming {node}: {m}")));
        }
        Ok(live)
    }

    /// Starts the agent of a Node of the testbed (it connects and realizes its rule set).
    fn start_agent(&mut self, node: &str) -> Result<(), LiveError> {
        let netns = self.testbed.node_netns(node)?.to_string();
        let path = self.log_path(node);
        self.agents
            .start(node, &netns, Some(&path))
            .map_err(|message| LiveError::Audit {
                node: node.to_string(),
                message,
            })?;
        Ok(())
    }

    /// Waits until every Node's agent has realized (or refused) its current rule set; the
    /// Nodes that refused it, or did not answer in time, go to the report's `failed`.
    fn settle(&self, mut report: SyncReport) -> SyncReport {
        let behind = self.index.wait_settled(SETTLE_TIMEOUT);
        report.failed.extend(self.index.failed_nodes());
        for node in behind {
            report.failed.entry(node).or_insert_with(|| {
                format!(
                    "the agent did not realize its rule set within {} s",
                    SETTLE_TIMEOUT.as_secs()
                )
            });
        }
        report
    }

    pub fn testbed(&self) -> &Testbed {
        &self.testbed
    }

    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    pub fn engine(&self) -> &Engine {
        self.controller.engine()
    }

    /// The Nodes the controller publishes rule sets for.
    pub fn nodes(&self) -> Vec<String> {
        self.index.nodes()
    }

    /// The rule set published for `node` (what its agent enforces once settled).
    pub fn rule_set(&self, node: &str) -> Option<Arc<NodeRuleSet>> {
        self.index.current(node).map(|(_, set)| set)
    }

    /// Where Node `node` writes np.log.
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.log_dir.join(node).join("np.log")
    }

    /// Applies an object. A Pod or Node changes the testbed first when it has to (a Pod added,
    /// moved, re-addressed or given other ports; a Node added or re-addressed), then the rule
    /// sets; Services are re-rendered in the testbed when they (or Pods) change.
    pub fn apply(&mut self, object: Object) -> Result<SyncReport, LiveError> {
        self.feed_fqdn();
        let kind = object.kind();
        if changes_topology(kind) {
            self.controller.engine_mut().apply(object)?;
            return self.follow_topology();
        }
        self.controller.engine_apply(object)?;
        self.after_change(kind)?;
        let report = self.controller.sync();
        Ok(self.settle(report))
    }

    /// Deletes an object (a Pod or Node leaves the testbed with it).
    pub fn delete(&mut self, key: &ObjectKey) -> Result<SyncReport, LiveError> {
        self.feed_fqdn();
        if changes_topology(key.kind) {
            self.controller.engine_mut().delete(key)?;
            return self.follow_topology();
        }
        self.controller.engine_delete(key)?;
        self.after_change(key.kind)?;
        let report = self.controller.sync();
        Ok(self.settle(report))
    }

    /// Makes the testbed, the agents and the rule sets follow the engine's Pods and Nodes.
    fn follow_topology(&mut self) -> Result<SyncReport, LiveError> {
        let changes = self
            .testbed
            .plan_changes(self.controller.engine().cluster())?;
        // Agents of leaving Nodes stop before their namespaces go.
        for node in &changes.nodes_removed {
            self.agents.stop(node);
        }
        if changes.is_empty() {
            self.testbed
                .update_services(self.controller.engine().cluster())?;
        } else {
            self.testbed
                .apply_changes(&changes, self.controller.engine().cluster())?;
        }
        let report = self.controller.sync();
        for node in &changes.nodes_added {
            self.start_agent(&node.name)?;
        }
        Ok(self.settle(report))
    }

    fn after_change(&mut self, kind: tierwall_model::Kind) -> Result<(), LiveError> {
        use tierwall_model::Kind;
        if matches!(kind, Kind::Service | Kind::Pod) {
            self.testbed
                .update_services(self.controller.engine().cluster())?;
        }
        Ok(())
    }

    /// Feeds what the agents' DNS caches hold now to the engine (without pushing); the names
    /// that changed.
    fn feed_fqdn(&mut self) -> Vec<String> {
        let names = crate::fqdn::merged_names(&self.agents);
        self.fqdn.absorb_names(names, self.controller.engine_mut())
    }

    /// Feeds the snooped DNS answers and expiries to the engine and waits until the rule sets
    /// that changed are enforced.
    pub fn realize_fqdn(&mut self) -> SyncReport {
        if self.feed_fqdn().is_empty() {
            return SyncReport::default();
        }
        let report = self.controller.sync();
        self.settle(report)
    }

    /// Resolves `name` from `src` through cluster DNS (a real query from the source's netns),
    /// waits until the agent of the source's Node has snooped that answer, and realizes it
    /// before returning. A Pod source's answer that is not snooped in time is an error.
    pub fn resolve_fqdn(
        &mut self,
        src: &Endpoint,
        name: &str,
        over: tierwall_testbed::dns::DnsTransport,
    ) -> Result<crate::fqdn::FqdnResolution, LiveError> {
        let resolution = self.testbed.resolve(src, name, over)?;
        let client = match src {
            Endpoint::Pod { namespace, name } if resolution.resolved() => {
                let pod = self
                    .testbed
                    .layout()
                    .pods
                    .get(&format!("{namespace}/{name}"))
                    .ok_or_else(|| LiveError::Other(format!("no Pod {namespace}/{name}")))?;
                (!pod.host_network).then(|| (IpAddr::V4(pod.ip), pod.node.clone()))
            }
            _ => None,
        };
        let Some((client, node)) = client else {
            let report = self.realize_fqdn();
            return Ok(crate::fqdn::FqdnResolution {
                resolution,
                realized: false,
                report,
            });
        };
        crate::fqdn::wait_for_answer(&self.agents, &node, client, &resolution)?;
        let report = self.realize_fqdn();
        if let Some((node, message)) = report.failed.iter().next() {
            return Err(LiveError::Other(format!(
                "realizing {name} on {node}: {message}"
            )));
        }
        Ok(crate::fqdn::FqdnResolution {
            resolution,
            realized: true,
            report,
        })
    }

    /// Every name the agents' DNS caches hold now, with its addresses (merged over Nodes).
    pub fn fqdn_mappings(&self) -> Vec<(String, Vec<IpAddr>)> {
        crate::fqdn::merged_names(&self.agents)
            .into_iter()
            .map(|(n, a)| (n, a.into_iter().collect()))
            .collect()
    }

    /// Sets every agent's FQDN cache options (Antrea's `fqdnCacheMinTTL`).
    pub fn set_fqdn_cache_options(&self, options: FqdnCacheOptions) {
        crate::fqdn::set_cache_options(&self.agents, options);
    }

    /// DNS answers the agents have taken so far.
    pub fn dns_answers_seen(&self) -> u64 {
        crate::fqdn::answers_seen(&self.agents)
    }

    /// Per-rule statistics summed over Nodes, by `RuleEntry::id`, from the agents' counters.
    pub fn rule_stats(&self) -> Result<BTreeMap<String, RuleStats>, LiveError> {
        let mut out: BTreeMap<String, RuleStats> = BTreeMap::new();
        let by_node = self.index.collect_counters(Duration::from_secs(5));
        for node in self.index.nodes() {
            if !by_node.contains_key(&node) {
                return Err(LiveError::Other(format!(
                    "the agent of {node} reported no counters"
                )));
            }
        }
        for counter in by_node.values().flatten() {
            let e = out.entry(counter.rule_id.clone()).or_default();
            e.sessions += counter.packets;
            e.packets += counter.packets;
            e.bytes += counter.bytes;
        }
        Ok(out)
    }

    /// The np.log lines of a Node written so far (flushing pending de-duplicated lines first).
    pub fn log_lines(&self, node: &str) -> Vec<String> {
        if let Some(flusher) = self.agents.handles(node).and_then(|h| h.np_log.as_ref()) {
            flusher.flush();
        }
        read_lines(&self.log_path(node))
    }

    /// The address of a scenario endpoint.
    pub fn address_of(&self, e: &tierwall_testbed::Endpoint) -> Result<IpAddr, LiveError> {
        Ok(match e {
            tierwall_testbed::Endpoint::Pod { namespace, name } => {
                IpAddr::V4(self.testbed.pod_ip(namespace, name)?)
            }
            tierwall_testbed::Endpoint::Node(n) => IpAddr::V4(self.testbed.node_ip(n)?),
            tierwall_testbed::Endpoint::External(n) => IpAddr::V4(self.testbed.external_ip(n)?),
        })
    }

    /// The real probe for an engine-style source and target: the source's namespace, and the
    /// address the client dials (a Pod IP, a ClusterIP, a Node IP, an external address).
    pub fn probe_for(
        &self,
        source: &Source,
        target: &Target,
        transport: ProbeTransport,
        externals: &[(String, IpAddr)],
    ) -> Result<Probe, String> {
        let c = self.engine().cluster();
        let endpoint = match source {
            Source::Pod { namespace, name } => {
                let pod = c
                    .pod(namespace, name)
                    .ok_or_else(|| format!("no Pod {namespace}/{name}"))?;
                if pod.host_network {
                    Endpoint::node(&pod.node)
                } else {
                    Endpoint::pod(namespace, name)
                }
            }
            Source::Node(n) => Endpoint::node(n),
            Source::Ip(ip) => {
                if let Some((name, _)) = externals.iter().find(|(_, e)| e == ip) {
                    Endpoint::external(name)
                } else if let Some(p) = c.pod_at(*ip) {
                    Endpoint::pod(&p.namespace, &p.name)
                } else if let Some(n) = c.node_at(*ip) {
                    Endpoint::node(&n.name)
                } else {
                    return Err(format!("{ip} is not an address of the testbed"));
                }
            }
        };
        let dial = match target {
            Target::Pod { namespace, name } => c
                .pod(namespace, name)
                .and_then(|p| p.ip)
                .ok_or_else(|| format!("no Pod {namespace}/{name}"))?,
            Target::Service { namespace, name } => c
                .service(namespace, name)
                .and_then(|s| s.cluster_ip)
                .ok_or_else(|| format!("no ClusterIP for {namespace}/{name}"))?,
            Target::Node(n) => c
                .nodes
                .get(n)
                .and_then(|n| n.ips.first().copied())
                .ok_or_else(|| format!("no Node {n}"))?,
            Target::Ip(ip) => *ip,
            Target::Fqdn(name) => *c
                .resolve_dns(name)
                .first()
                .ok_or_else(|| format!("{name} does not resolve"))?,
        };
        let transport = match transport {
            ProbeTransport::L4 { protocol, port, .. } => Transport::l4(protocol, port),
            ProbeTransport::Icmp { .. } => Transport::Icmp,
        };
        Ok(Probe::new(endpoint, dial, transport))
    }

    /// Tears everything down: the agents stop, then the stream, then the testbed goes.
    pub fn down(self) -> Result<(), LiveError> {
        let LiveCluster {
            testbed,
            agents,
            stream,
            log_dir,
            owns_log_dir,
            pki,
            ..
        } = self;
        drop(agents);
        stream.stop();
        let r = testbed.down().map_err(LiveError::from);
        if owns_log_dir {
            let _ = std::fs::remove_dir_all(&log_dir);
        }
        let _ = std::fs::remove_dir_all(&pki);
        r
    }
}

/// Kinds whose changes may add, move or remove namespaces of the testbed.
fn changes_topology(kind: tierwall_model::Kind) -> bool {
    matches!(kind, tierwall_model::Kind::Pod | tierwall_model::Kind::Node)
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
