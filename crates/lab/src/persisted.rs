//! The desired state of a detached testbed: the admitted objects it enforces, kept beside the
//! testbed's state file so that later commands (`tierwall apply`, `delete`, `get stats`,
//! `metrics`, `controller --testbed`) can rebuild the engine, make the testbed follow its Pods
//! and Nodes, recompute every Node's rule set and program the Nodes.
//!
//! ```text
//!  /run/tierwall/testbeds/<prefix>.json         the testbed (namespaces, addresses; testbed crate)
//!  /run/tierwall/testbeds/<prefix>.d/objects.json   the admitted objects (`kind: List`, JSON)
//!                                                   removed by `tierwall testbed down`
//!  /run/tierwall/testbeds/<prefix>.d/controller-base.json   the inventory `tierwall controller
//!                                                   --testbed` started from (its base objects)
//!
//!  objects.json ──load──> Engine ──(admitted changes)──> plan: Pods/Nodes to remove and add
//!      (refused, nothing changed: a Pod on a Node the cluster lacks, an address taken twice)
//!      ──save objects.json──> follow: Testbed::apply_changes (state file written per step)
//!      ──all_node_rule_sets──> NodeRuleSet per Node
//!      ──TableWriter::new(node netns, Pod veths).sync──> nftables (full sync on a fresh TableWriter: the
//!        existing table is adopted, named counters keep their values)
//! ```
//!
//! Objects are stored after admission (mutated: generated rule names, default tier), so
//! reloading gives the same rule ids. The system Tiers are not stored. objects.json is written
//! before the testbed changes: if a change is interrupted, the next `follow` (any later apply or
//! delete) finishes it, because [`plan`] compares the testbed with the stored objects.

use crate::LiveError;
use std::path::{Path, PathBuf};
use tierwall_dataplane::InterfaceMap;
use tierwall_engine::Engine;
use tierwall_engine::store::is_system_tier;
use tierwall_model::{Kind, Object, ObjectKey};
use tierwall_node_api::NodeReport;
use tierwall_testbed::{Testbed, TestbedChanges};

/// File name of the stored objects in the testbed's data directory.
pub const OBJECTS_FILE: &str = "objects.json";

/// `/run/tierwall/testbeds/<prefix>.d/objects.json`.
pub fn objects_path(prefix: &str) -> PathBuf {
    tierwall_testbed::state::data_dir(prefix).join(OBJECTS_FILE)
}

/// The objects of an engine worth storing (everything but the system Tiers), in apply order.
pub fn objects_of(engine: &Engine) -> Vec<Object> {
    let mut out: Vec<Object> = engine
        .store()
        .iter()
        .filter(|o| !(o.kind() == Kind::Tier && is_system_tier(&o.metadata().name)))
        .cloned()
        .collect();
    out.sort_by_key(|o| o.kind().apply_rank());
    out
}

/// The stored form of an engine's objects: a pretty JSON `kind: List`.
pub fn to_text(engine: &Engine) -> Result<String, LiveError> {
    let list = serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects_of(engine),
    });
    serde_json::to_string_pretty(&list)
        .map(|t| t + "\n")
        .map_err(|e| LiveError::Other(format!("serializing objects: {e}")))
}

/// The engine of a stored `kind: List` (`source` names it in errors).
pub fn engine_from_text(source: &str, text: &str) -> Result<Engine, LiveError> {
    let mut objects = Vec::new();
    for r in tierwall_model::load_str_each(source, text) {
        let o = r.map_err(|e| LiveError::Other(format!("{source}: {e}")))?;
        objects.push(o.object);
    }
    objects.sort_by_key(|o| o.kind().apply_rank());
    let mut engine = Engine::new();
    for o in objects {
        engine.apply(o)?;
    }
    Ok(engine)
}

/// Writes `path` atomically (temp file + rename), creating the testbed's data directory.
pub(crate) fn write_atomically(prefix: &str, path: &Path, text: &str) -> Result<(), LiveError> {
    let dir = tierwall_testbed::state::data_dir(prefix);
    std::fs::create_dir_all(&dir)
        .map_err(|e| LiveError::Other(format!("create {}: {e}", dir.display())))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .map_err(|e| LiveError::Other(format!("write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| LiveError::Other(format!("rename {}: {e}", tmp.display())))
}

/// Writes the engine's objects as the testbed's desired state (atomically: temp file + rename).
pub fn save(prefix: &str, engine: &Engine) -> Result<PathBuf, LiveError> {
    save_text(prefix, &to_text(engine)?)
}

/// Writes `text` (from [`to_text`]) as the testbed's desired state.
pub fn save_text(prefix: &str, text: &str) -> Result<PathBuf, LiveError> {
    let path = objects_path(prefix);
    write_atomically(prefix, &path, text)?;
    Ok(path)
}

/// The text of the testbed's stored objects.
pub fn read_text(prefix: &str) -> Result<String, LiveError> {
    let path = objects_path(prefix);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Distinguish "no such testbed" from "a testbed without stored objects".
            tierwall_testbed::state::read(prefix)?;
            Err(LiveError::Other(format!(
                "testbed {prefix} has no stored objects ({} is missing): it was not built by \
                 `tierwall testbed up`; rebuild it with `tierwall testbed up -f ...`",
                path.display()
            )))
        }
        Err(e) => Err(LiveError::Other(format!("read {}: {e}", path.display()))),
    }
}

/// The engine of the testbed's stored objects.
pub fn load(prefix: &str) -> Result<Engine, LiveError> {
    let text = read_text(prefix)?;
    engine_from_text(&objects_path(prefix).display().to_string(), &text)
}

/// File name of the inventory a controller started from, in the testbed's data directory.
pub const CONTROLLER_BASE_FILE: &str = "controller-base.json";

/// `/run/tierwall/testbeds/<prefix>.d/controller-base.json`.
pub fn controller_base_path(prefix: &str) -> PathBuf {
    tierwall_testbed::state::data_dir(prefix).join(CONTROLLER_BASE_FILE)
}

/// Remembers the inventory a controller started from (`base`, the testbed's own Pods, Nodes,
/// ...) beside the objects.json text it last wrote. objects.json also holds what the
/// controller took from its directory; with this, a controller started again takes only the
/// testbed's own inventory as its base, so a Pod whose file was removed meanwhile goes.
pub fn save_controller_base(
    prefix: &str,
    objects_text: &str,
    base: &[Object],
) -> Result<(), LiveError> {
    let record = serde_json::json!({
        "objectsJson": objects_text,
        "base": {"apiVersion": "v1", "kind": "List", "items": base},
    });
    let text = serde_json::to_string(&record)
        .map_err(|e| LiveError::Other(format!("serializing the controller's base: {e}")))?;
    write_atomically(prefix, &controller_base_path(prefix), &(text + "\n"))
}

/// The inventory a controller started from, when objects.json is still what that controller
/// wrote (`objects_text`); `None` when there is none, or something else (`tierwall apply`)
/// changed objects.json since.
pub fn controller_base(prefix: &str, objects_text: &str) -> Option<Vec<Object>> {
    let path = controller_base_path(prefix);
    let text = std::fs::read_to_string(&path).ok()?;
    let record: serde_json::Value = serde_json::from_str(&text).ok()?;
    if record["objectsJson"].as_str() != Some(objects_text) {
        return None;
    }
    let list = serde_json::to_string(&record["base"]).ok()?;
    tierwall_model::load_str_each(&path.display().to_string(), &list)
        .into_iter()
        .map(|r| r.map(|o| o.object))
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// Node-side interface of every local Pod of `node` (what the dataplane matches on).
pub fn interfaces(testbed: &Testbed, engine: &Engine, node: &str) -> InterfaceMap {
    engine
        .cluster()
        .pods
        .values()
        .filter(|p| p.node == node && !p.host_network)
        .filter_map(|p| {
            Some((
                p.ip?,
                testbed
                    .pod_veth_on_node(&p.namespace, &p.name)
                    .ok()?
                    .to_string(),
            ))
        })
        .collect()
}

/// Why the testbed cannot follow the engine's Pods and Nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyProblem {
    /// The object at fault, when one is (a Pod on a missing Node).
    pub object: Option<ObjectKey>,
    /// The field at fault (`spec.nodeName`).
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for TopologyProblem {
    /// `<Kind ns/name>: <field>: <message>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(o) = &self.object {
            write!(f, "{}: ", o.describe())?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What keeps the testbed from following the engine's Pods and Nodes: Pods on a Node the
/// cluster does not have, and what the testbed cannot build (an address taken twice, an IPv6
/// Pod or Node address, too many Nodes). Empty when [`follow`] can carry the engine out.
pub fn topology_problems(testbed: &Testbed, engine: &Engine) -> Vec<TopologyProblem> {
    let cluster = engine.cluster();
    let mut problems: Vec<TopologyProblem> = cluster
        .pods
        .values()
        .filter(|p| !cluster.nodes.contains_key(&p.node))
        .map(|p| TopologyProblem {
            object: Some(ObjectKey::namespaced(Kind::Pod, &p.namespace, &p.name)),
            field: Some("spec.nodeName".to_string()),
            message: format!(
                "Node {:?} is not in the cluster: the testbed cannot run the Pod",
                p.node
            ),
        })
        .collect();
    if let Err(e) = testbed.plan_changes(cluster) {
        problems.push(TopologyProblem {
            object: None,
            field: None,
            message: e.to_string(),
        });
    }
    problems
}

/// What it takes to make the testbed follow the engine's Pods and Nodes (nothing is changed);
/// an error lists [`topology_problems`].
pub fn plan(testbed: &Testbed, engine: &Engine) -> Result<TestbedChanges, LiveError> {
    let problems = topology_problems(testbed, engine);
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(LiveError::Other(format!(
            "testbed {} cannot follow: {}",
            testbed.prefix(),
            text.join("; ")
        )));
    }
    Ok(testbed.plan_changes(engine.cluster())?)
}

/// Carries out `changes` (from [`plan`] on this testbed as it is now): namespaces, veths,
/// routes and servers of the Pods and Nodes that come and go, Services re-rendered, the
/// testbed's state file written at every step (so `tierwall testbed down` finds everything).
pub fn follow(
    testbed: &mut Testbed,
    engine: &Engine,
    changes: &TestbedChanges,
) -> Result<(), LiveError> {
    Ok(testbed.apply_changes(changes, engine.cluster())?)
}

/// One line per Pod and Node that `changes` removes or adds (`Pod x/a removed`, ...).
pub fn describe_changes(changes: &TestbedChanges) -> Vec<String> {
    let mut lines = Vec::new();
    let added_pods: Vec<String> = changes.pods_added.iter().map(|p| p.key()).collect();
    let added_nodes: Vec<&str> = changes
        .nodes_added
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    for key in &changes.pods_removed {
        if !added_pods.contains(key) {
            lines.push(format!("Pod {key} removed"));
        }
    }
    for name in &changes.nodes_removed {
        if !added_nodes.contains(&name.as_str()) {
            lines.push(format!("Node {name} removed"));
        }
    }
    for n in &changes.nodes_added {
        let verb = if changes.nodes_removed.contains(&n.name) {
            "rebuilt"
        } else {
            "added"
        };
        lines.push(format!(
            "Node {} {verb} (netns {}, {})",
            n.name, n.netns, n.ip
        ));
    }
    for p in &changes.pods_added {
        let verb = if changes.pods_removed.contains(&p.key()) {
            "rebuilt"
        } else {
            "added"
        };
        lines.push(format!(
            "Pod {} {verb} on {} (netns {}, {})",
            p.key(),
            p.node,
            p.netns,
            p.ip
        ));
    }
    lines.extend(changes.not_built.iter().map(|n| format!("note: {n}")));
    lines
}

/// Checks that the testbed is built as the engine's Pods and Nodes say (after [`follow`], or
/// right after `tierwall testbed up`).
pub fn check_cluster(testbed: &Testbed, engine: &Engine) -> Result<(), LiveError> {
    let changes = plan(testbed, engine)?;
    if changes.is_empty() {
        return Ok(());
    }
    let mut differ: Vec<String> = changes.pods_removed.clone();
    differ.extend(changes.pods_added.iter().map(|p| p.key()));
    differ.extend(changes.nodes_removed.iter().map(|n| format!("Node {n}")));
    differ.extend(
        changes
            .nodes_added
            .iter()
            .map(|n| format!("Node {}", n.name)),
    );
    differ.sort();
    differ.dedup();
    Err(LiveError::Other(format!(
        "testbed {} is not built as its objects say ({} differ: a change was interrupted); \
         the next `tierwall apply --testbed` or `delete --testbed` makes it follow them",
        testbed.prefix(),
        differ.join(", ")
    )))
}

/// Programs every Node of the testbed with its rule set from `engine` (the testbed must be built
/// as the engine says, [`check_cluster`]) through the Node stream, once
/// ([`crate::program_once`]); the agents' reports. With `services`, the testbed's Service tables
/// are re-rendered first.
pub fn enforce(
    testbed: &Testbed,
    engine: &Engine,
    services: bool,
) -> Result<Vec<NodeReport>, LiveError> {
    check_cluster(testbed, engine)?;
    if services {
        testbed.update_services(engine.cluster())?;
    }
    crate::program_once::program_once(testbed, engine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_engine::ruleset::all_node_rule_sets;

    #[test]
    fn stored_objects_give_the_same_engine() {
        let mut engine = Engine::new();
        for o in tierwall_scenario::cluster::ClusterModel::standard().objects() {
            engine.apply(o).unwrap_or_else(|e| panic!("{e}"));
        }
        let policy = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: p}\nspec:\n  priority: 1\n  appliedTo: [{podSelector: {}}]\n  ingress: [{action: Drop, ports: [{port: 81}]}]\n";
        for o in tierwall_model::load_str("p.yaml", policy).unwrap_or_else(|e| panic!("{e}")) {
            engine.apply(o.object).unwrap_or_else(|e| panic!("{e}"));
        }
        let text = to_text(&engine).unwrap_or_else(|e| panic!("{e}"));
        let again = engine_from_text("objects.json", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(objects_of(&again), objects_of(&engine));
        assert!(
            !text.contains("\"emergency\""),
            "system Tiers are not stored"
        );
        let rules = |e: &Engine| all_node_rule_sets(e.cluster(), e.table());
        assert_eq!(rules(&again), rules(&engine));
        assert_eq!(to_text(&again).unwrap_or_else(|e| panic!("{e}")), text);
    }
}
