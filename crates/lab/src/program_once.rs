//! Programs a detached testbed's Nodes once, the way a controller does: every Node's rule set is
//! published into a fresh index, the Node stream carries it to one agent task per Node (the same
//! `tierwall agent` code, identities from the testbed's CA), and the call returns when every
//! agent has realized or refused its set. `tierwall testbed up` and `apply`/`delete --testbed`
//! (when no controller owns the testbed) use it; a fresh agent adopts the table it finds (full,
//! counter-preserving transaction).
//!
//! ```text
//!  engine ──all_node_rule_sets──> RuleSetIndex ══stream (127.0.0.1, mTLS)══> agent tasks
//!      ──> each Node's table ──reports──> settled ──> agents and stream stop (tables stay)
//! ```

use crate::LiveError;
use crate::node_agents::task_agents_on_loopback;
use std::time::Duration;
use tierwall_engine::Engine;
use tierwall_engine::ruleset::all_node_rule_sets;
use tierwall_node_api::NodeReport;
use tierwall_testbed::Testbed;

/// How long the Nodes may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Programs every Node of `testbed` with its rule set from `engine`; the agents' reports, by
/// Node. A Node that refuses its set, or does not answer in time, is an error naming it.
pub fn program_once(testbed: &Testbed, engine: &Engine) -> Result<Vec<NodeReport>, LiveError> {
    let pki = tierwall_testbed::state::data_dir(testbed.prefix()).join("pki");
    let (stream, index, mut agents) = task_agents_on_loopback(&pki).map_err(LiveError::Other)?;
    for (_, rules) in all_node_rule_sets(engine.cluster(), engine.table()) {
        index.publish(rules);
    }
    for node in index.nodes() {
        let netns = testbed.node_netns(&node)?.to_string();
        agents
            .start(&node, &netns, None)
            .map_err(|message| LiveError::Other(format!("Node {node}: {message}")))?;
    }
    let behind = index.wait_settled(TIMEOUT);
    drop(agents);
    stream.stop();
    if let Some(node) = behind.first() {
        return Err(LiveError::Other(format!(
            "Node {node}: its agent did not realize its rule set within {} s",
            TIMEOUT.as_secs()
        )));
    }
    if let Some((node, message)) = index.failed_nodes().into_iter().next() {
        return Err(LiveError::Other(format!(
            "Node {node}: the rule set was refused: {message}"
        )));
    }
    Ok(index
        .nodes()
        .iter()
        .filter_map(|n| index.report(n))
        .collect())
}
