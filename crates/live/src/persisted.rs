//! The desired state of a detached testbed: the admitted objects it enforces, kept beside the
//! testbed's state file so that later commands (`tierwall apply`, `delete`, `get stats`,
//! `metrics`) can rebuild the engine, recompute every Node's rule set and program the Nodes.
//!
//! ```text
//!  /run/tierwall/testbeds/<prefix>.json         the testbed (namespaces, addresses; testbed crate)
//!  /run/tierwall/testbeds/<prefix>.d/objects.json   the admitted objects (`kind: List`, JSON)
//!                                                   removed by `tierwall testbed down`
//!
//!  objects.json ──load──> Engine ──all_node_rule_sets──> NodeRuleSet per Node
//!      ──Agent::new(node netns, Pod veths).sync──> nftables (full sync on a fresh Agent: the
//!        existing table is adopted, named counters keep their values)
//! ```
//!
//! Objects are stored after admission (mutated: generated rule names, default tier, Pod IPs),
//! so reloading gives the same rule ids and the same addresses. The system Tiers are not stored.

use crate::LiveError;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use tierwall_dataplane::{Agent, InterfaceMap, NetnsTarget, SyncReport};
use tierwall_engine::Engine;
use tierwall_engine::ruleset::all_node_rule_sets;
use tierwall_engine::store::is_system_tier;
use tierwall_model::{Kind, Object};
use tierwall_testbed::Testbed;

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

/// Writes the engine's objects as the testbed's desired state (atomically: temp file + rename).
pub fn save(prefix: &str, engine: &Engine) -> Result<PathBuf, LiveError> {
    let path = objects_path(prefix);
    let dir = tierwall_testbed::state::data_dir(prefix);
    std::fs::create_dir_all(&dir)
        .map_err(|e| LiveError::Other(format!("create {}: {e}", dir.display())))?;
    let text = to_text(engine)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .map_err(|e| LiveError::Other(format!("write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| LiveError::Other(format!("rename {}: {e}", tmp.display())))?;
    Ok(path)
}

/// The engine of the testbed's stored objects.
pub fn load(prefix: &str) -> Result<Engine, LiveError> {
    let path = objects_path(prefix);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Distinguish "no such testbed" from "a testbed without stored objects".
            tierwall_testbed::state::read(prefix)?;
            return Err(LiveError::Other(format!(
                "testbed {prefix} has no stored objects ({} is missing): it was not built by \
                 `tierwall testbed up`; rebuild it with `tierwall testbed up -f ...`",
                path.display()
            )));
        }
        Err(e) => return Err(LiveError::Other(format!("read {}: {e}", path.display()))),
    };
    engine_from_text(&path.display().to_string(), &text)
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

/// Checks that the engine's Nodes and Pods are the testbed's: a testbed is planned once, so
/// Nodes and Pods cannot be added, moved or re-addressed afterwards.
pub fn check_cluster(testbed: &Testbed, engine: &Engine) -> Result<(), LiveError> {
    let cluster = engine.cluster();
    let mut problems = Vec::new();
    for node in cluster.nodes.keys() {
        if testbed.node_netns(node).is_err() {
            problems.push(format!("Node {node} is not part of the testbed"));
        }
    }
    let planned: BTreeMap<(&str, &str), (&str, IpAddr)> = testbed
        .layout()
        .pods
        .values()
        .filter(|p| !p.host_network)
        .map(|p| {
            (
                (p.namespace.as_str(), p.name.as_str()),
                (p.node.as_str(), IpAddr::V4(p.ip)),
            )
        })
        .collect();
    for p in cluster.pods.values().filter(|p| !p.host_network) {
        let Some(ip) = p.ip else { continue };
        let name = format!("{}/{}", p.namespace, p.name);
        match planned.get(&(p.namespace.as_str(), p.name.as_str())) {
            None => problems.push(format!("Pod {name} is not part of the testbed")),
            Some((node, planned_ip)) if *node != p.node || *planned_ip != ip => {
                problems.push(format!(
                    "Pod {name} is on {} with IP {ip}, but on {node} with IP {planned_ip} in the testbed",
                    p.node
                ));
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LiveError::Other(format!(
            "{}; Nodes and Pods are fixed when a testbed is built (rebuild it with `tierwall \
             testbed up -f ...`)",
            problems.join("; ")
        )))
    }
}

/// Programs every Node of the testbed with its rule set from `engine`. Each Node gets a fresh
/// `Agent`, whose first sync adopts the existing table (full, counter-preserving transaction).
/// With `services`, the testbed's Service tables are re-rendered first.
pub fn enforce(
    testbed: &Testbed,
    engine: &Engine,
    services: bool,
) -> Result<Vec<SyncReport>, LiveError> {
    check_cluster(testbed, engine)?;
    if services {
        testbed.update_services(engine.cluster())?;
    }
    let mut reports = Vec::new();
    for (node, rules) in all_node_rule_sets(engine.cluster(), engine.table()) {
        let netns = testbed.node_netns(&node)?.to_string();
        let mut agent = Agent::new(
            &node,
            NetnsTarget::Named(netns),
            interfaces(testbed, engine, &node),
        );
        let report = agent.sync(&rules).map_err(|source| LiveError::Dataplane {
            node: node.clone(),
            source: Box::new(source),
        })?;
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

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
