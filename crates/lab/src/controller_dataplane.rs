//! `TestbedDataplane`: the dataplane of `tierwall controller --testbed PREFIX`. It attaches to a
//! detached testbed (built by `tierwall testbed up`), publishes the Nodes' rule sets into the
//! Node stream's index and runs one agent per Node ([`crate::node_agents`]: processes, tasks, or
//! started elsewhere; each writes its Node's np.log), makes the testbed follow the Pods and
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
//!      agents of leaving Nodes stop ──> Testbed::apply_changes (netns, veths, routes,
//!      servers; state file per step) ──> new Nodes: identity + agent
//!  Controller ──publish──> RuleSetIndex ══Node stream (mTLS)══> agents (each: TableWriter in its
//!      Node's netns, adopting the table it finds; np.log; DNS snooping) ──reports──> status
//!  after each change: Services re-rendered (Service/Pod changes), objects.json and
//!                     controller-base.json saved
//!  /stats: counters from the agents' reports ──> stats::policy_traffic
//! ```
//!
//! The testbed's state file and objects.json are written as the testbed changes, so
//! `tierwall testbed down PREFIX` removes Pods and Nodes added by the controller too.

use crate::node_agents::{AgentLaunch, NodeAgents};
use crate::{LiveError, persisted, stats};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use tierwall_controller::Controller;
use tierwall_controller::dataplane::{Change, Dataplane};
use tierwall_controller::rule_set_index::RuleSetIndex;
use tierwall_engine::Engine;
use tierwall_model::{Kind, Object};
use tierwall_testbed::Testbed;

/// Kinds the testbed provides (its inventory); the rest comes from the state source.
pub fn is_inventory(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Node | Kind::Namespace | Kind::ServiceAccount | Kind::Pod | Kind::Service
    )
}

/// A detached testbed driven by the controller.
pub struct TestbedDataplane {
    prefix: String,
    testbed: Testbed,
    base: Vec<Object>,
    log_dir: PathBuf,
    /// Whether `attach` ran (before it, the testbed follows without agents).
    attached: bool,
    /// Whether `follow_topology` re-rendered the Services since the last `changed`.
    services_fresh: bool,
    /// The Nodes' agents, fed through the stream from `index`.
    agents: NodeAgents,
    index: Arc<RuleSetIndex>,
}

impl TestbedDataplane {
    /// Attaches to testbed `prefix`, whose Nodes' agents are started as `launch` says and fed
    /// from `index` (the Node stream); np.log files go to `log_dir` (default
    /// `<prefix>.d/logs/<node>/np.log`).
    pub fn attach(
        prefix: &str,
        log_dir: Option<PathBuf>,
        launch: AgentLaunch,
        index: Arc<RuleSetIndex>,
    ) -> Result<TestbedDataplane, LiveError> {
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
            log_dir: log_dir
                .unwrap_or_else(|| tierwall_testbed::state::data_dir(prefix).join("logs")),
            attached: false,
            services_fresh: false,
            agents: NodeAgents::new(launch).map_err(LiveError::Other)?,
            index,
        })
    }

    /// Starts the agent of a Node.
    fn start_agent(&mut self, node: &str) -> Result<String, String> {
        let netns = self
            .testbed
            .node_netns(node)
            .map_err(|e| e.to_string())?
            .to_string();
        let np_log = self.log_path(node);
        self.agents.start(node, &netns, Some(&np_log))
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
        controller.publish_to(Arc::clone(&self.index));
        for node in nodes {
            let line = self.start_agent(&node)?;
            eprintln!("{line}");
        }
        Ok(())
    }

    fn follow_topology(&mut self, controller: &mut Controller) -> Vec<String> {
        let changes = match persisted::plan(&self.testbed, controller.engine()) {
            Ok(c) => c,
            Err(e) => return vec![e.to_string()],
        };
        let mut lines = persisted::describe_changes(&changes);
        // Agents of leaving Nodes stop before their namespaces go.
        for node in &changes.nodes_removed {
            if self.agents.nodes().contains(node) {
                self.agents.stop(node);
                lines.push(format!("Node {node}: agent stopped"));
            }
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
        if self.attached {
            // The agents follow the testbed as it is now (also after a failure part-way).
            let built: Vec<String> = self.testbed.layout().nodes.keys().cloned().collect();
            for node in self.agents.nodes() {
                if !built.contains(&node) {
                    self.agents.stop(&node);
                    lines.push(format!("Node {node}: agent stopped"));
                }
            }
            let running = self.agents.nodes();
            for node in built.iter().filter(|n| !running.contains(n)) {
                match self.start_agent(node) {
                    Ok(line) => lines.push(line),
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
        let samples = stats::from_reports(
            &self
                .index
                .collect_counters(std::time::Duration::from_secs(3)),
        );
        serde_json::to_value(stats::policy_traffic(engine, &samples)).map_err(|e| e.to_string())
    }
}
