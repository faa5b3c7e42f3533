//! `LiveCluster`: the testbed, the controller and one dataplane agent per Node, wired together.
//! Pods and Nodes may come, go, move or be relabelled while it runs: a change of a Pod or Node
//! is admitted by the engine, then the testbed follows it (`Testbed::plan_changes` /
//! `apply_changes`: namespaces, veths, routes, servers), agents of leaving Nodes are detached
//! and new Nodes get an agent and an np.log writer, every agent gets its Node's new Pod
//! interfaces, and the controller pushes the rule sets that changed.

use crate::error::LiveError;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tierwall_controller::{Controller, NodeAgent, SyncReport};
use tierwall_dataplane::{InterfaceMap, NetnsTarget, TableWriter};
use tierwall_engine::Engine;
use tierwall_engine::ruleset::NodeRuleSet;
use tierwall_engine::{ProbeTransport, Source, Target};
use tierwall_model::{Object, ObjectKey};
use tierwall_node::np_log::AuditWriter;
use tierwall_testbed::{Endpoint, Probe, Testbed, TestbedOptions, Transport};

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

/// The controller's view of one Node's agent.
struct NodeHandle(Arc<Mutex<TableWriter>>);

impl NodeAgent for NodeHandle {
    fn sync(&mut self, rules: &NodeRuleSet) -> Result<(), String> {
        let mut agent = self
            .0
            .lock()
            .map_err(|_| "agent lock poisoned".to_string())?;
        agent.sync(rules).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// A testbed enforced by tierwall.
pub struct LiveCluster {
    testbed: Testbed,
    controller: Controller,
    agents: BTreeMap<String, Arc<Mutex<TableWriter>>>,
    audits: BTreeMap<String, AuditWriter>,
    log_dir: PathBuf,
    owns_log_dir: bool,
    /// DNS snooping for FQDN rules ([`crate::fqdn`]).
    fqdn: crate::fqdn::FqdnSnooping,
}

impl LiveCluster {
    /// Builds the testbed for the engine's cluster and attaches one nftables agent per Node.
    pub fn up(engine: Engine, options: LiveOptions) -> Result<LiveCluster, LiveError> {
        let testbed = Testbed::up(engine.cluster(), options.testbed)?;
        let (log_dir, owns_log_dir) = match options.log_dir {
            Some(d) => (d, false),
            None => (
                std::env::temp_dir().join(format!("tierwall-{}-logs", testbed.prefix())),
                true,
            ),
        };
        let mut live = LiveCluster {
            testbed,
            controller: Controller::new(engine),
            agents: BTreeMap::new(),
            audits: BTreeMap::new(),
            log_dir,
            owns_log_dir,
            fqdn: crate::fqdn::FqdnSnooping::default(),
        };
        let nodes: Vec<String> = live
            .controller
            .engine()
            .cluster()
            .nodes
            .keys()
            .cloned()
            .collect();
        for node in nodes {
            let report = live.attach_node(&node)?;
            if let Some(m) = report.failed.get(&node) {
                return Err(LiveError::Other(format!("programming {node}: {m}")));
            }
        }
        Ok(live)
    }

    /// Starts the nftables agent and the np.log writer of a Node of the testbed and registers
    /// the agent with the controller (which programs it).
    fn attach_node(&mut self, node: &str) -> Result<SyncReport, LiveError> {
        let netns = self.testbed.node_netns(node)?.to_string();
        let agent = Arc::new(Mutex::new(TableWriter::new(
            node,
            NetnsTarget::Named(netns.clone()),
            self.interfaces(node),
        )));
        let path = self.log_path(node);
        let audit = AuditWriter::start(
            &netns,
            tierwall_dataplane::DEFAULT_LOG_GROUP,
            &path,
            agent.clone(),
            crate::pod_names::pod_names(self.controller.engine().cluster()),
        )
        .map_err(|message| LiveError::Audit {
            node: node.to_string(),
            message,
        })?;
        self.audits.insert(node.to_string(), audit);
        self.fqdn.watch_node(node, &netns)?;
        self.agents.insert(node.to_string(), agent.clone());
        Ok(self.controller.attach(node, Box::new(NodeHandle(agent))))
    }

    /// Node-side interface of every local Pod of `node`.
    fn interfaces(&self, node: &str) -> InterfaceMap {
        self.controller
            .engine()
            .cluster()
            .pods
            .values()
            .filter(|p| p.node == node && !p.host_network)
            .filter_map(|p| {
                Some((
                    p.ip?,
                    self.testbed
                        .pod_veth_on_node(&p.namespace, &p.name)
                        .ok()?
                        .to_string(),
                ))
            })
            .collect()
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

    /// Where Node `node` writes np.log.
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.log_dir.join(node).join("np.log")
    }

    /// Applies an object. A Pod or Node changes the testbed first when it has to (a Pod added,
    /// moved, re-addressed or given other ports; a Node added or re-addressed), then every
    /// agent's Pod interfaces, then the rule sets; Services are re-rendered in the testbed when
    /// they (or Pods) change.
    pub fn apply(&mut self, object: Object) -> Result<SyncReport, LiveError> {
        self.fqdn.feed(self.controller.engine_mut());
        let kind = object.kind();
        if changes_topology(kind) {
            self.controller.engine_mut().apply(object)?;
            return self.follow_topology();
        }
        let (_, report) = self.controller.apply(object)?;
        self.after_change(kind)?;
        Ok(report)
    }

    /// Deletes an object (a Pod or Node leaves the testbed with it).
    pub fn delete(&mut self, key: &ObjectKey) -> Result<SyncReport, LiveError> {
        self.fqdn.feed(self.controller.engine_mut());
        if changes_topology(key.kind) {
            self.controller.engine_mut().delete(key)?;
            return self.follow_topology();
        }
        let (_, report) = self.controller.delete(key)?;
        self.after_change(key.kind)?;
        Ok(report)
    }

    /// Makes the testbed, the agents and the rule sets follow the engine's Pods and Nodes.
    fn follow_topology(&mut self) -> Result<SyncReport, LiveError> {
        let changes = self
            .testbed
            .plan_changes(self.controller.engine().cluster())?;
        // Agents and np.log readers of leaving Nodes stop before their namespaces go.
        for node in &changes.nodes_removed {
            self.controller.detach(node);
            self.audits.remove(node);
            self.fqdn.forget_node(node);
            self.agents.remove(node);
        }
        if changes.is_empty() {
            self.testbed
                .update_services(self.controller.engine().cluster())?;
        } else {
            self.testbed
                .apply_changes(&changes, self.controller.engine().cluster())?;
        }
        for (node, agent) in &self.agents {
            let ifaces = self.interfaces(node);
            agent
                .lock()
                .map_err(|_| LiveError::Other("agent lock poisoned".into()))?
                .set_interfaces(ifaces);
        }
        let mut report = SyncReport::default();
        for node in &changes.nodes_added {
            merge_reports(&mut report, self.attach_node(&node.name)?);
        }
        merge_reports(&mut report, self.controller.sync());
        for audit in self.audits.values() {
            audit.update_pods(crate::pod_names::pod_names(
                self.controller.engine().cluster(),
            ));
        }
        Ok(report)
    }

    fn after_change(&mut self, kind: tierwall_model::Kind) -> Result<(), LiveError> {
        use tierwall_model::Kind;
        if matches!(kind, Kind::Service | Kind::Pod) {
            self.testbed
                .update_services(self.controller.engine().cluster())?;
        }
        for audit in self.audits.values() {
            audit.update_pods(crate::pod_names::pod_names(
                self.controller.engine().cluster(),
            ));
        }
        Ok(())
    }

    /// DNS snooping: the FQDN cache and its readers.
    pub fn fqdn(&self) -> &crate::fqdn::FqdnSnooping {
        &self.fqdn
    }

    /// Feeds the snooped DNS answers and expiries to the engine and pushes the rule sets that
    /// changed ([`crate::fqdn::realize`]).
    pub fn realize_fqdn(&mut self) -> SyncReport {
        crate::fqdn::realize(&self.fqdn, &mut self.controller)
    }

    /// Resolves `name` from `src` through cluster DNS and returns once the answer is snooped
    /// and enforced ([`crate::fqdn::resolve`]).
    pub fn resolve_fqdn(
        &mut self,
        src: &Endpoint,
        name: &str,
        over: tierwall_testbed::dns::DnsTransport,
    ) -> Result<crate::fqdn::FqdnResolution, LiveError> {
        crate::fqdn::resolve(
            &self.testbed,
            &self.fqdn,
            &mut self.controller,
            src,
            name,
            over,
        )
    }

    /// Per-rule statistics summed over Nodes, by `RuleEntry::id`.
    pub fn rule_stats(&self) -> Result<BTreeMap<String, RuleStats>, LiveError> {
        let mut out: BTreeMap<String, RuleStats> = BTreeMap::new();
        for (node, agent) in &self.agents {
            let agent = agent
                .lock()
                .map_err(|_| LiveError::Other("agent lock poisoned".into()))?;
            let counters = agent.counters().map_err(|source| LiveError::Dataplane {
                node: node.clone(),
                source: Box::new(source),
            })?;
            for (id, c) in counters {
                let e = out.entry(id).or_default();
                e.sessions += c.packets;
                e.packets += c.packets;
                e.bytes += c.bytes;
            }
        }
        Ok(out)
    }

    /// The np.log lines of a Node written so far (flushing pending de-duplicated lines first).
    pub fn log_lines(&self, node: &str) -> Vec<String> {
        if let Some(a) = self.audits.get(node) {
            a.flush();
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

    /// Tears everything down.
    pub fn down(self) -> Result<(), LiveError> {
        let LiveCluster {
            testbed,
            audits,
            log_dir,
            owns_log_dir,
            ..
        } = self;
        drop(audits);
        let r = testbed.down().map_err(LiveError::from);
        if owns_log_dir {
            let _ = std::fs::remove_dir_all(&log_dir);
        }
        r
    }
}

/// Kinds whose changes may add, move or remove namespaces of the testbed.
fn changes_topology(kind: tierwall_model::Kind) -> bool {
    matches!(kind, tierwall_model::Kind::Pod | tierwall_model::Kind::Node)
}

/// Adds the Nodes pushed and failed in `more` to `report`.
fn merge_reports(report: &mut SyncReport, more: SyncReport) {
    for node in more.pushed {
        if !report.pushed.contains(&node) {
            report.pushed.push(node);
        }
    }
    report.failed.extend(more.failed);
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
