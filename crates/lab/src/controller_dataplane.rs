//! `TestbedDataplane`: the dataplane of `tierwall controller --testbed PREFIX`. It attaches to a
//! detached testbed (built by `tierwall testbed up`), gives the controller one in-process
//! nftables agent per Node, writes every Node's np.log, makes the testbed follow the Pods and
//! Nodes that come, go, move or are re-addressed, and keeps the testbed's stored objects in step
//! with the controller (so `tierwall get stats --testbed` and `metrics` see its policies).
//!
//! ```text
//!  <prefix>.d/objects.json ──Nodes, Namespaces, ServiceAccounts, Pods, Services──> base objects
//!      (the manifest directory may add, change and delete Pods and Nodes too; policies, Tiers
//!       and groups come from it only; when objects.json is what an earlier controller wrote,
//!       the base is the inventory that controller started from: controller-base.json)
//!  check(Pod/Node change): dry run (engine copy + admission + Testbed::plan_changes); refused
//!      when the testbed could not run the result (a Pod on a Node the cluster lacks, an address
//!      taken twice, an IPv6 address) — nothing changes
//!  follow_topology (after admission, before the rule sets go out):
//!      agents and np.log writers of leaving Nodes stop (Controller::detach) ──>
//!      Testbed::apply_changes (netns, veths, routes, servers; state file per step) ──>
//!      every agent gets its Node's Pod interfaces ──> new Nodes: agent + np.log writer
//!  Controller ──NodeRuleSet──> TestbedAgent (dataplane::TableWriter, node netns; the first sync adopts
//!                              the table, named counters keep their values)
//!  node netns NFLOG ──AuditWriter──> <log dir>/<node>/np.log
//!  after each change: Services re-rendered (Service/Pod changes), objects.json and
//!                     controller-base.json saved
//!  /stats: stats::collect_from (named counters of every Node) ──> stats::policy_traffic
//! ```
//!
//! The testbed's state file and objects.json are written as the testbed changes, so
//! `tierwall testbed down PREFIX` removes Pods and Nodes added by the controller too.

use crate::agent_processes::{AgentLaunch, AgentProcesses};
use crate::{LiveError, persisted, stats};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tierwall_controller::dataplane::{Change, Dataplane};
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_controller::{Controller, NodeAgent};
use tierwall_dataplane::{NetnsTarget, TableWriter};
use tierwall_engine::Engine;
use tierwall_engine::ruleset::NodeRuleSet;
use tierwall_model::{Kind, Object};
use tierwall_node::np_log::AuditWriter;
use tierwall_testbed::Testbed;

/// Kinds the testbed provides (its inventory); the rest comes from the state source.
pub fn is_inventory(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Node | Kind::Namespace | Kind::ServiceAccount | Kind::Pod | Kind::Service
    )
}

/// The controller's view of one Node's agent.
struct TestbedAgent(Arc<Mutex<TableWriter>>);

impl NodeAgent for TestbedAgent {
    fn sync(&mut self, rules: &NodeRuleSet) -> Result<(), String> {
        let mut agent = self
            .0
            .lock()
            .map_err(|_| "agent lock poisoned".to_string())?;
        agent.sync(rules).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// A detached testbed driven by the controller.
pub struct TestbedDataplane {
    prefix: String,
    testbed: Testbed,
    base: Vec<Object>,
    agents: BTreeMap<String, Arc<Mutex<TableWriter>>>,
    audits: BTreeMap<String, AuditWriter>,
    log_dir: PathBuf,
    /// Whether `attach` ran (before it, the testbed follows without agents).
    attached: bool,
    /// Whether `follow_topology` re-rendered the Services since the last `changed`.
    services_fresh: bool,
    /// Agents in their own processes, fed through the stream from `index` (`None`: in-process
    /// agents).
    processes: Option<(AgentProcesses, Arc<RuleSetIndex>)>,
}

impl TestbedDataplane {
    /// Attaches to testbed `prefix`; np.log files go to `log_dir` (default
    /// `<prefix>.d/logs/<node>/np.log`).
    pub fn attach(prefix: &str, log_dir: Option<PathBuf>) -> Result<TestbedDataplane, LiveError> {
        let testbed = Testbed::attach(prefix)?;
        let text = persisted::read_text(prefix)?;
        // objects.json also holds what an earlier controller took from its directory: its base
        // is the testbed's own inventory, unless something else changed objects.json since.
        let base = match persisted::controller_base(prefix, &text) {
            Some(base) => base,
            None => {
                let path = persisted::objects_path(prefix).display().to_string();
                let stored = persisted::engine_from_text(&path, &text)?;
                persisted::objects_of(&stored)
                    .into_iter()
                    .filter(|o| is_inventory(o.kind()))
                    .collect()
            }
        };
        Ok(TestbedDataplane {
            prefix: prefix.to_string(),
            testbed,
            base,
            agents: BTreeMap::new(),
            audits: BTreeMap::new(),
            log_dir: log_dir
                .unwrap_or_else(|| tierwall_testbed::state::data_dir(prefix).join("logs")),
            attached: false,
            services_fresh: false,
            processes: None,
        })
    }

    /// Feeds the Nodes through `index` (the stream) to agents in their own processes, started
    /// as `launch` says, instead of in-process agents.
    pub fn with_agent_processes(
        mut self,
        launch: AgentLaunch,
        index: Arc<RuleSetIndex>,
    ) -> Result<TestbedDataplane, LiveError> {
        self.processes = Some((
            AgentProcesses::new(launch).map_err(LiveError::Other)?,
            index,
        ));
        Ok(self)
    }

    /// Starts the agent process of a Node (stream mode).
    fn start_agent_process(&mut self, node: &str) -> Result<String, String> {
        let netns = self
            .testbed
            .node_netns(node)
            .map_err(|e| e.to_string())?
            .to_string();
        let np_log = self.log_path(node);
        match &mut self.processes {
            Some((processes, _)) => processes.start(node, &netns, &np_log),
            None => Err("no agent processes".into()),
        }
    }

    /// Where Node `node` writes np.log.
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.log_dir.join(node).join("np.log")
    }

    /// Refuses a Pod or Node change after which the testbed could not run the cluster: a dry
    /// run on a copy of the engine. Problems that were there before the change are not its
    /// fault; a change admission refuses is left to admission.
    fn check_topology(&self, engine: &Engine, change: Change<'_>) -> Result<(), String> {
        let mut after = engine.clone();
        let admitted = match change {
            Change::Apply(o) => after.apply(o.clone()).is_ok(),
            Change::Delete(key) => after.store().get(key).is_none() || after.delete(key).is_ok(),
        };
        if !admitted {
            return Ok(());
        }
        let before = persisted::topology_problems(&self.testbed, engine);
        let new: Vec<String> = persisted::topology_problems(&self.testbed, &after)
            .into_iter()
            .filter(|p| !before.contains(p))
            .map(|p| p.to_string())
            .collect();
        if new.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "testbed {} could not run the result: {}",
                self.prefix,
                new.join("; ")
            ))
        }
    }

    /// Starts the nftables agent and the np.log writer of a Node of the testbed and registers
    /// the agent with the controller (which programs it).
    fn attach_node(&mut self, controller: &mut Controller, node: &str) -> Result<(), String> {
        let netns = self
            .testbed
            .node_netns(node)
            .map_err(|e| e.to_string())?
            .to_string();
        let ifaces = persisted::interfaces(&self.testbed, controller.engine(), node);
        let agent = Arc::new(Mutex::new(TableWriter::new(
            node,
            NetnsTarget::Named(netns.clone()),
            ifaces,
        )));
        let audit = AuditWriter::start(
            &netns,
            tierwall_dataplane::DEFAULT_LOG_GROUP,
            &self.log_path(node),
            agent.clone(),
            crate::pod_names::pod_names(controller.engine().cluster()),
        )
        .map_err(|m| format!("np.log of {node}: {m}"))?;
        self.audits.insert(node.to_string(), audit);
        self.agents.insert(node.to_string(), agent.clone());
        let report = controller.attach(node, Box::new(TestbedAgent(agent)));
        match report.failed.get(node) {
            Some(m) => Err(format!("programming {node}: {m}")),
            None => Ok(()),
        }
    }
}

impl Dataplane for TestbedDataplane {
    fn describe(&self) -> String {
        format!(
            "testbed {} ({} Nodes, np.log in {})",
            self.prefix,
            self.testbed.layout().nodes.len(),
            self.log_dir.display()
        )
    }

    fn base_objects(&self) -> (String, Vec<Object>) {
        (format!("testbed:{}", self.prefix), self.base.clone())
    }

    fn check(&self, engine: &Engine, change: Change<'_>) -> Result<(), String> {
        let kind = match change {
            Change::Apply(o) => o.kind(),
            Change::Delete(key) => key.kind,
        };
        if matches!(kind, Kind::Node | Kind::Pod) {
            self.check_topology(engine, change)
        } else {
            Ok(())
        }
    }

    fn attach(&mut self, controller: &mut Controller) -> Result<(), String> {
        self.attached = true;
        let nodes: Vec<String> = self.testbed.layout().nodes.keys().cloned().collect();
        if let Some((_, index)) = &self.processes {
            controller.publish_to(Arc::clone(index));
            for node in nodes {
                let line = self.start_agent_process(&node)?;
                eprintln!("{line}");
            }
            return Ok(());
        }
        for node in nodes {
            self.attach_node(controller, &node)?;
        }
        Ok(())
    }

    fn follow_topology(&mut self, controller: &mut Controller) -> Vec<String> {
        let changes = match persisted::plan(&self.testbed, controller.engine()) {
            Ok(c) => c,
            Err(e) => return vec![e.to_string()],
        };
        let mut lines = persisted::describe_changes(&changes);
        // Agents and np.log writers of leaving Nodes stop before their namespaces go.
        for node in &changes.nodes_removed {
            controller.detach(node);
            if let Some(audit) = self.audits.remove(node) {
                audit.flush();
            }
            self.agents.remove(node);
        }
        if !changes.is_empty() {
            match persisted::follow(&mut self.testbed, controller.engine(), &changes) {
                // apply_changes re-rendered the Services.
                Ok(()) => self.services_fresh = true,
                Err(e) => lines.push(format!(
                    "changing the Pods and Nodes of testbed {} (the next Pod or Node change \
                     tries again): {e}",
                    self.prefix
                )),
            }
        }
        if self.attached && self.processes.is_some() {
            let built: Vec<String> = self.testbed.layout().nodes.keys().cloned().collect();
            if let Some((processes, _)) = &mut self.processes {
                for node in processes.nodes() {
                    if !built.contains(&node) {
                        processes.stop(&node);
                        lines.push(format!("Node {node}: agent process stopped"));
                    }
                }
            }
            let running = self
                .processes
                .as_ref()
                .map(|(p, _)| p.nodes())
                .unwrap_or_default();
            for node in built.iter().filter(|n| !running.contains(n)) {
                match self.start_agent_process(node) {
                    Ok(line) => lines.push(line),
                    Err(e) => lines.push(e),
                }
            }
        } else if self.attached {
            // The agents follow the testbed as it is now (also after a failure part-way).
            let built = &self.testbed.layout().nodes;
            let gone: Vec<String> = self
                .agents
                .keys()
                .filter(|n| !built.contains_key(*n))
                .cloned()
                .collect();
            for node in gone {
                controller.detach(&node);
                self.audits.remove(&node);
                self.agents.remove(&node);
            }
            for (node, agent) in &self.agents {
                let ifaces = persisted::interfaces(&self.testbed, controller.engine(), node);
                match agent.lock() {
                    Ok(mut a) => a.set_interfaces(ifaces),
                    Err(_) => lines.push(format!("Node {node}: agent lock poisoned")),
                }
            }
            let new: Vec<String> = built
                .keys()
                .filter(|n| !self.agents.contains_key(*n))
                .cloned()
                .collect();
            for node in new {
                match self.attach_node(controller, &node) {
                    Ok(()) => lines.push(format!(
                        "Node {node}: agent attached, np.log in {}",
                        self.log_path(&node).display()
                    )),
                    Err(e) => lines.push(e),
                }
            }
        }
        lines
    }

    fn has_agents(&self) -> bool {
        true
    }

    fn changed(&mut self, engine: &Engine, kinds: &BTreeSet<Kind>) -> Result<(), String> {
        let mut problems = Vec::new();
        let fresh = std::mem::take(&mut self.services_fresh);
        let services = kinds.contains(&Kind::Service) || (kinds.contains(&Kind::Pod) && !fresh);
        if services && let Err(e) = self.testbed.update_services(engine.cluster()) {
            problems.push(format!("re-rendering Services: {e}"));
        }
        for audit in self.audits.values() {
            audit.update_pods(crate::pod_names::pod_names(engine.cluster()));
        }
        let saved = persisted::to_text(engine).and_then(|text| {
            persisted::save_text(&self.prefix, &text)?;
            persisted::save_controller_base(&self.prefix, &text, &self.base)
        });
        if let Err(e) = saved {
            problems.push(format!(
                "storing the objects of testbed {}: {e}",
                self.prefix
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    fn policy_stats(&mut self, engine: &Engine) -> Result<serde_json::Value, String> {
        let samples = match &self.processes {
            Some((_, index)) => {
                stats::from_reports(&index.collect_counters(std::time::Duration::from_secs(3)))
            }
            None => stats::collect_from(&self.testbed, engine).map_err(|e| e.to_string())?,
        };
        serde_json::to_value(stats::policy_traffic(engine, &samples)).map_err(|e| e.to_string())
    }
}

impl Drop for TestbedDataplane {
    fn drop(&mut self) {
        // Stop the np.log writers (flushing what they hold); the Nodes stay programmed.
        for audit in self.audits.values() {
            audit.flush();
        }
        self.audits.clear();
        // The testbed outlives the controller (an attached Testbed is not torn down on drop).
    }
}
