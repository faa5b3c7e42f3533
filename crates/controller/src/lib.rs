//! The controller of one cluster: it owns the desired state (an `Engine` behind admission),
//! recomputes the `NodeRuleSet` of every Node a change may affect, publishes a Node's rule set
//! into the [`RuleSetIndex`] only when it changed (a new generation, carried to that Node's agent
//! by the Node stream), and keeps the policy status from what the agents report.
//!
//! ```text
//!  apply/delete ──> Engine (admission, index, rule table) ──affected Nodes──> dirty
//!  sync: node_rule_set(n) for each dirty Node ──changed?──> RuleSetIndex::publish ══stream══> agent
//!  agents report realized generation / failure ──> RuleSetIndex ──> realized Nodes ──> PolicyStatus
//! ```
//!
//! Without an index (engine-only mode) nothing is published and every Node of a policy's span
//! counts as realized.
//!
//! The long-running `tierwall controller` is built from the modules below:
//!
//! ```text
//!  source (StateSource) ── manifest_dir (a watched directory; a Kubernetes watch later)
//!      └─events─> cluster_state (desired vs in force, admission, status) ──> Controller
//!                   dataplane (Dataplane: agents, checks, statistics; NoDataplane = engine only;
//!                     external_agents = the Node stream to agents started elsewhere)
//!  daemon (poll loop, stop on SIGINT/SIGTERM) + api (loopback HTTP/JSON for the NSX adapter)
//! ```

pub mod api;
pub mod api_https;
pub mod cluster_state;
pub mod daemon;
pub mod dataplane;
pub mod external_agents;
pub mod manifest_dir;
pub mod mtls_serve;
pub mod node_stream;
pub mod pki;
pub mod reported_dns;
pub mod rule_set_index;
pub mod source;

use rule_set_index::RuleSetIndex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tierwall_engine::admission::AdmissionError;
use tierwall_engine::compile::CompiledPolicy;
use tierwall_engine::ruleset::RuleSets;
use tierwall_engine::status::{PolicyStatus, policy_status};
use tierwall_engine::{Applied, Engine};
use tierwall_model::{Object, ObjectKey};

/// The outcome of publishing rule sets after a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Nodes whose rule set changed and was published.
    pub pushed: Vec<String>,
    /// Nodes whose agent failed, with the message (filled by callers that wait for the agents).
    pub failed: BTreeMap<String, String>,
}

/// How to compute `count` Nodes' rule sets: rules indexed by Node pay off from a few Nodes on.
fn rule_sets<'a>(
    cluster: &'a tierwall_engine::cluster::Cluster,
    table: &'a tierwall_engine::table::RuleTable,
    count: usize,
) -> RuleSets<'a> {
    if count > 3 {
        RuleSets::new(cluster, table)
    } else {
        RuleSets::direct(cluster, table)
    }
}

/// The controller.
pub struct Controller {
    engine: Engine,
    /// Where rule sets are published for the Nodes' agents (the stream).
    index: Option<Arc<RuleSetIndex>>,
    /// Nodes whose rule set may have changed since the last sync (`None`: every Node).
    dirty: Option<BTreeSet<String>>,
}

impl Controller {
    pub fn new(engine: Engine) -> Self {
        Controller {
            engine,
            index: None,
            dirty: None,
        }
    }

    /// Publishes every Node's rule set into `index` from now on (agents in their own processes
    /// read it over the stream; their reports make the policy status).
    pub fn publish_to(&mut self, index: Arc<RuleSetIndex>) -> SyncReport {
        self.index = Some(index);
        self.dirty = None;
        self.sync()
    }

    /// The index rule sets are published into, if any.
    pub fn index(&self) -> Option<&Arc<RuleSetIndex>> {
        self.index.as_ref()
    }

    /// Applies one object to the engine (admission first) without pushing: the Nodes it may
    /// affect are remembered for the next [`Controller::sync`].
    pub fn engine_apply(&mut self, object: Object) -> Result<Applied, AdmissionError> {
        let key = object.key();
        let before = self.affected_by(&key);
        let applied = self.engine.apply(object)?;
        let after = self.affected_by(&key);
        self.mark(before);
        self.mark(after);
        Ok(applied)
    }

    /// Deletes one object from the engine (admission first) without pushing; see
    /// [`Controller::engine_apply`].
    pub fn engine_delete(&mut self, key: &ObjectKey) -> Result<Object, AdmissionError> {
        let before = self.affected_by(key);
        let old = self.engine.delete(key)?;
        self.mark(before);
        Ok(old)
    }

    /// The Nodes whose rule set a change of `key` can change, in the current state (`None`:
    /// any Node). A Node's rule set depends only on its own Pods and addresses and on the
    /// policies whose span holds it, so: a policy → its span; a Pod → its Node and the spans
    /// of the policies that can name it (a peer term selects it, named ports, appliedTo
    /// groups: `nodes_depending_on_pod`), asked before and after the change; anything else →
    /// every Node.
    fn affected_by(&self, key: &ObjectKey) -> Option<BTreeSet<String>> {
        use tierwall_model::Kind;
        let cluster = self.engine.cluster();
        let table = self.engine.table();
        match key.kind {
            Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy | Kind::NetworkPolicy => Some(
                table
                    .policy(key)
                    .map(|p| tierwall_engine::status::policy_span(cluster, p))
                    .unwrap_or_default(),
            ),
            Kind::Pod => Some(
                cluster
                    .pod(key.namespace.as_deref().unwrap_or(""), &key.name)
                    .map(|pod| tierwall_engine::status::nodes_depending_on_pod(cluster, table, pod))
                    .unwrap_or_default(),
            ),
            _ => None,
        }
    }

    fn mark(&mut self, nodes: Option<BTreeSet<String>>) {
        match (nodes, &mut self.dirty) {
            (Some(nodes), Some(dirty)) => dirty.extend(nodes),
            (None, dirty) => *dirty = None,
            (Some(_), None) => {}
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, for a batch of changes; they reach the agents on the next `sync` (which
    /// then recomputes every Node: prefer [`Controller::engine_apply`]).
    pub fn engine_mut(&mut self) -> &mut Engine {
        self.dirty = None;
        &mut self.engine
    }

    /// Nodes whose agent could not realize the current rule set, with the message (from the
    /// agents' reports).
    pub fn node_failures(&self) -> BTreeMap<String, String> {
        self.index
            .as_ref()
            .map(|index| index.failed_nodes())
            .unwrap_or_default()
    }

    /// The Nodes rule sets are published for.
    pub fn agent_nodes(&self) -> BTreeSet<String> {
        self.index
            .as_ref()
            .map(|index| index.nodes().into_iter().collect())
            .unwrap_or_default()
    }

    /// Applies one object (admission first) and pushes the rule sets that changed.
    pub fn apply(&mut self, object: Object) -> Result<(Applied, SyncReport), AdmissionError> {
        let applied = self.engine_apply(object)?;
        Ok((applied, self.sync()))
    }

    /// Deletes one object (admission first) and pushes the rule sets that changed.
    pub fn delete(&mut self, key: &ObjectKey) -> Result<(Object, SyncReport), AdmissionError> {
        let old = self.engine_delete(key)?;
        Ok((old, self.sync()))
    }

    /// Recomputes the rule sets of the Nodes a change since the last sync may have affected and
    /// publishes those that changed into the index.
    pub fn sync(&mut self) -> SyncReport {
        let mut report = SyncReport::default();
        let dirty = self.dirty.replace(BTreeSet::new());
        if let Some(index) = &self.index {
            let cluster = self.engine.cluster();
            let nodes: Vec<String> = match &dirty {
                Some(d) => d
                    .iter()
                    .filter(|n| cluster.nodes.contains_key(*n))
                    .cloned()
                    .collect(),
                None => {
                    for gone in index
                        .nodes()
                        .into_iter()
                        .filter(|n| !cluster.nodes.contains_key(n))
                    {
                        index.remove(&gone);
                    }
                    cluster.nodes.keys().cloned().collect()
                }
            };
            let sets = rule_sets(cluster, self.engine.table(), nodes.len());
            for node in nodes {
                let rules = sets.node(&node);
                if index.publish(rules) {
                    report.pushed.push(node);
                }
            }
        }
        report
    }

    /// Status of a policy: desired = Nodes in its span; current = those whose agent holds the
    /// current rule set; failures are reported as Antrea does.
    pub fn policy_status(&self, key: &ObjectKey) -> Option<PolicyStatus> {
        let policy: &CompiledPolicy = self.engine.table().policy(key)?;
        let Some(index) = &self.index else {
            return Some(policy_status(self.engine.cluster(), policy, None));
        };
        let realized: BTreeSet<String> = index.realized_nodes().into_iter().collect();
        let failures = index.failed_nodes();
        let mut status = policy_status(self.engine.cluster(), policy, Some(&realized));
        let span = tierwall_engine::status::policy_span(self.engine.cluster(), policy);
        let failed: Vec<(&String, &String)> =
            failures.iter().filter(|(n, _)| span.contains(*n)).collect();
        if !failed.is_empty()
            && status.current_nodes_realized + failed.len() == status.desired_nodes_realized
        {
            status.phase = "Failed".into();
            let mut message = format!("Failed Nodes count {}: ", failed.len());
            message.push_str(
                &failed
                    .iter()
                    .map(|(n, m)| format!("\"{n}\":\"{m}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            if message.len() > 256 {
                let mut cut = 256;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str("...");
            }
            status.conditions.push(tierwall_engine::status::Condition {
                type_: "RealizationFailure".into(),
                status: "True".into(),
                reason: Some("NetworkPolicyRealizationFailedOnNode".into()),
                message: Some(message),
            });
        }
        Some(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_model::Kind;
    use tierwall_node_api::{NodeReport, RealizationFailure};

    fn load(text: &str) -> Vec<Object> {
        tierwall_model::load_str("t.yaml", text)
            .unwrap()
            .into_iter()
            .map(|o| o.object)
            .collect()
    }

    /// The agent of `node` reports its current generation realized (or refused with `failed`).
    fn report(index: &RuleSetIndex, node: &str, failed: Option<&str>) {
        let (generation, _) = index.current(node).unwrap();
        let mut report = NodeReport {
            node: node.into(),
            ..Default::default()
        };
        match failed {
            None => report.realized = Some(generation),
            Some(message) => {
                report.failed = Some(RealizationFailure {
                    generation,
                    message: message.into(),
                })
            }
        }
        assert!(index.record_report(report));
    }

    const CLUSTER: &str = "apiVersion: v1\nkind: Node\nmetadata: {name: n0}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.2}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 172.18.0.3}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nspec: {nodeName: n0}\nstatus: {podIP: 10.0.0.1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: b}}\nspec: {nodeName: n1}\nstatus: {podIP: 10.0.0.2}\n";
    const POLICY: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec:\n  priority: 1\n  appliedTo: [{podSelector: {matchLabels: {app: a}}}]\n  ingress: [{action: Drop}]\n";

    #[test]
    fn publishes_only_changed_rule_sets_and_reports_status_from_the_agents() {
        let mut engine = Engine::new();
        for o in load(CLUSTER) {
            engine.apply(o).unwrap();
        }
        let mut c = Controller::new(engine);
        let index = Arc::new(RuleSetIndex::with_epoch(1));
        let first = c.publish_to(Arc::clone(&index));
        assert_eq!(first.pushed, vec!["n0", "n1"]);
        let (_, published) = c.apply(load(POLICY).remove(0)).unwrap();
        assert_eq!(
            published.pushed,
            vec!["n0"],
            "only n0 hosts a Pod the policy applies to"
        );
        let key = ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p");
        let phase = |c: &Controller| {
            let s = c.policy_status(&key).unwrap();
            (s.phase, s.desired_nodes_realized, s.current_nodes_realized)
        };
        assert_eq!(phase(&c), ("Realizing".to_string(), 1, 0));
        report(&index, "n0", None);
        assert_eq!(phase(&c), ("Realized".to_string(), 1, 1));

        let mut changed = load(POLICY).remove(0);
        if let Object::AntreaPolicy(_, p) = &mut changed {
            p.spec.ingress[0].action = "Reject".into();
        }
        c.apply(changed).unwrap();
        report(&index, "n0", Some("nft: boom"));
        let s = c.policy_status(&key).unwrap();
        assert_eq!(s.phase, "Failed");
        assert_eq!(s.observed_generation, 2);
        assert!(s.conditions.iter().any(|c| c.message.as_deref()
            == Some("Failed Nodes count 1: \"n0\":\"nft: boom\"")));
        assert_eq!(
            c.node_failures().get("n0").map(String::as_str),
            Some("nft: boom")
        );
        report(&index, "n0", None);
        assert_eq!(phase(&c).0, "Realized");
        assert!(c.node_failures().is_empty());
    }
}
