//! `TestbedDataplane`: the dataplane of `tierwall controller --testbed PREFIX`. It attaches to a
//! detached testbed (built by `tierwall testbed up`), gives the controller one in-process
//! nftables agent per Node, writes every Node's np.log, and keeps the testbed's stored objects in
//! step with the controller (so `tierwall get stats --testbed` and `metrics` see its policies).
//!
//! ```text
//!  <prefix>.d/objects.json ──Nodes, Namespaces, ServiceAccounts, Pods, Services──> base objects
//!      (policies, Tiers and groups come from the manifest directory only)
//!  Controller ──NodeRuleSet──> TestbedAgent (dataplane::Agent, node netns; the first sync adopts
//!                              the table, named counters keep their values)
//!  node netns NFLOG ──AuditWriter──> <log dir>/<node>/np.log
//!  after each change: Services re-rendered (Service/Pod changes), objects.json saved
//!  /stats: stats::collect_from (named counters of every Node) ──> stats::policy_traffic
//! ```
//!
//! A testbed is planned once: Nodes and Pods cannot be added, moved, re-addressed or deleted
//! (`check` refuses; Pod labels and everything else may change).

use crate::audit_writer::AuditWriter;
use crate::{LiveError, persisted, stats};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tierwall_controller::dataplane::{Change, Dataplane};
use tierwall_controller::{Controller, NodeAgent};
use tierwall_dataplane::{Agent, NetnsTarget};
use tierwall_engine::Engine;
use tierwall_engine::ruleset::NodeRuleSet;
use tierwall_model::{Kind, Object};
use tierwall_testbed::Testbed;

/// Kinds the testbed provides (its inventory); the rest comes from the state source.
pub fn is_inventory(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Node | Kind::Namespace | Kind::ServiceAccount | Kind::Pod | Kind::Service
    )
}

/// The controller's view of one Node's agent.
struct TestbedAgent(Arc<Mutex<Agent>>);

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
    agents: BTreeMap<String, Arc<Mutex<Agent>>>,
    audits: BTreeMap<String, AuditWriter>,
    log_dir: PathBuf,
}

impl TestbedDataplane {
    /// Attaches to testbed `prefix`; np.log files go to `log_dir` (default
    /// `<prefix>.d/logs/<node>/np.log`).
    pub fn attach(prefix: &str, log_dir: Option<PathBuf>) -> Result<TestbedDataplane, LiveError> {
        let testbed = Testbed::attach(prefix)?;
        let stored = persisted::load(prefix)?;
        let base = persisted::objects_of(&stored)
            .into_iter()
            .filter(|o| is_inventory(o.kind()))
            .collect();
        Ok(TestbedDataplane {
            prefix: prefix.to_string(),
            testbed,
            base,
            agents: BTreeMap::new(),
            audits: BTreeMap::new(),
            log_dir: log_dir
                .unwrap_or_else(|| tierwall_testbed::state::data_dir(prefix).join("logs")),
        })
    }

    /// Where Node `node` writes np.log.
    pub fn log_path(&self, node: &str) -> PathBuf {
        self.log_dir.join(node).join("np.log")
    }

    fn check_pod(&self, engine: &Engine, pod: &tierwall_model::k8s::Pod) -> Result<(), String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = &pod.metadata.name;
        let node = pod.spec.node_name.as_deref().unwrap_or_default();
        let fixed = "Nodes and Pods are fixed when a testbed is built (rebuild it with `tierwall \
                     testbed up -f ...`)";
        let Some(planned) = self
            .testbed
            .layout()
            .pods
            .get(&tierwall_testbed::layout::pod_key(ns, name))
        else {
            let known = engine
                .cluster()
                .pod(ns, name)
                .is_some_and(|p| p.node == node);
            return if known {
                Ok(())
            } else {
                Err(format!(
                    "Pod {ns}/{name} is not part of testbed {}; {fixed}",
                    self.prefix
                ))
            };
        };
        if planned.node != node {
            return Err(format!(
                "Pod {ns}/{name} is on {} in testbed {}, not on {node:?}; {fixed}",
                planned.node, self.prefix
            ));
        }
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref());
        if !planned.host_network
            && let Some(ip) = ip
            && ip != planned.ip.to_string()
        {
            return Err(format!(
                "Pod {ns}/{name} has IP {} in testbed {}, not {ip}; {fixed}",
                planned.ip, self.prefix
            ));
        }
        Ok(())
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
        match change {
            Change::Apply(Object::Node(n)) => self
                .testbed
                .node_netns(&n.metadata.name)
                .map(|_| ())
                .map_err(|_| {
                    format!(
                        "Node {} is not part of testbed {}; Nodes are fixed when a testbed is built",
                        n.metadata.name, self.prefix
                    )
                }),
            Change::Apply(Object::Pod(p)) => self.check_pod(engine, p),
            Change::Delete(key) if matches!(key.kind, Kind::Node | Kind::Pod) => Err(format!(
                "{} cannot be deleted from testbed {}: Nodes and Pods are fixed when a testbed \
                 is built",
                key.describe(),
                self.prefix
            )),
            _ => Ok(()),
        }
    }

    fn attach(&mut self, controller: &mut Controller) -> Result<(), String> {
        let nodes: Vec<String> = self.testbed.layout().nodes.keys().cloned().collect();
        for node in nodes {
            let netns = self
                .testbed
                .node_netns(&node)
                .map_err(|e| e.to_string())?
                .to_string();
            let ifaces = persisted::interfaces(&self.testbed, controller.engine(), &node);
            let agent = Arc::new(Mutex::new(Agent::new(
                &node,
                NetnsTarget::Named(netns.clone()),
                ifaces,
            )));
            let audit = AuditWriter::start(
                &netns,
                tierwall_dataplane::DEFAULT_LOG_GROUP,
                &self.log_path(&node),
                agent.clone(),
                controller.engine().cluster(),
            )
            .map_err(|m| format!("np.log of {node}: {m}"))?;
            self.audits.insert(node.clone(), audit);
            let report = controller.attach(&node, Box::new(TestbedAgent(agent.clone())));
            self.agents.insert(node.clone(), agent);
            if let Some(m) = report.failed.get(&node) {
                return Err(format!("programming {node}: {m}"));
            }
        }
        Ok(())
    }

    fn has_agents(&self) -> bool {
        true
    }

    fn changed(&mut self, engine: &Engine, kinds: &BTreeSet<Kind>) -> Result<(), String> {
        let mut problems = Vec::new();
        if (kinds.contains(&Kind::Service) || kinds.contains(&Kind::Pod))
            && let Err(e) = self.testbed.update_services(engine.cluster())
        {
            problems.push(format!("re-rendering Services: {e}"));
        }
        for audit in self.audits.values() {
            audit.update_cluster(engine.cluster());
        }
        if let Err(e) = persisted::save(&self.prefix, engine) {
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
        let samples = stats::collect_from(&self.testbed, engine).map_err(|e| e.to_string())?;
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
