//! The seam between the controller daemon and what enforces its rule sets: `Dataplane` attaches
//! the Nodes' agents to the `Controller`, refuses changes it cannot realize, hears about applied
//! changes, and reads rule statistics. `NoDataplane` is the engine-only mode (no agents: every
//! Node of a policy's span counts as realized, no statistics).
//!
//! ```text
//!  ClusterState ──check(change)──> Dataplane      (a testbed: Pods and Nodes it cannot run)
//!      ──attach(controller)──> controller.publish_to(index); the Nodes' agents start
//!      ──follow_topology(controller)──> Pods/Nodes built or removed, agents started or stopped
//!                                       (after Pod/Node changes, before the rule sets go out)
//!      ──changed(engine, kinds)──> re-render Services, persist
//!      ──policy_stats(engine)──> [{kind, namespace, name, trafficStats, ruleTrafficStats}]
//! ```
//!
//! Implementations: `tierwall_lab::controller_dataplane` (a testbed whose agents are processes
//! or tasks on the Node stream) and [`crate::external_agents`] (the stream to agents started
//! elsewhere).

use crate::Controller;
use std::collections::BTreeSet;
use tierwall_engine::Engine;
use tierwall_model::{Kind, Object, ObjectKey};

/// A change the controller is about to make.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Apply(&'a Object),
    Delete(&'a ObjectKey),
}

/// What enforces the controller's rule sets.
pub trait Dataplane: Send {
    /// A short description for logs (`testbed abc (3 Nodes)`).
    fn describe(&self) -> String;

    /// Objects the cluster has that do not come from the state source (a testbed's Nodes, Pods,
    /// Namespaces, Services), with a label naming where they come from.
    fn base_objects(&self) -> (String, Vec<Object>) {
        (String::new(), Vec::new())
    }

    /// Refuses a change the dataplane cannot realize; the message is reported as the object's error.
    fn check(&self, engine: &Engine, change: Change<'_>) -> Result<(), String> {
        let _ = (engine, change);
        Ok(())
    }

    /// Registers the Nodes' agents (called once, after the initial state is applied).
    fn attach(&mut self, controller: &mut Controller) -> Result<(), String> {
        let _ = controller;
        Ok(())
    }

    /// Makes the dataplane follow the engine's Pods and Nodes after a batch of changes that
    /// touched Pods or Nodes, before the rule sets are pushed (a testbed builds and removes
    /// namespaces, detaches the agents of leaving Nodes, attaches agents to new ones). Called
    /// before `attach` too (the initial state). Returns lines for the log (what changed, what
    /// failed).
    fn follow_topology(&mut self, controller: &mut Controller) -> Vec<String> {
        let _ = controller;
        Vec::new()
    }

    /// Whether agents report realization (without agents every Node counts as realized).
    fn has_agents(&self) -> bool {
        false
    }

    /// Called after a batch of changes of these kinds reached the agents.
    fn changed(&mut self, engine: &Engine, kinds: &BTreeSet<Kind>) -> Result<(), String> {
        let _ = (engine, kinds);
        Ok(())
    }

    /// Rule statistics per policy and rule (an Antrea `*NetworkPolicyStats`-like list).
    fn policy_stats(&mut self, engine: &Engine) -> Result<serde_json::Value, String> {
        let _ = engine;
        Ok(serde_json::Value::Array(Vec::new()))
    }
}

/// Engine only: no agents, no statistics.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDataplane;

impl Dataplane for NoDataplane {
    fn describe(&self) -> String {
        "no dataplane (engine only)".to_string()
    }
}
