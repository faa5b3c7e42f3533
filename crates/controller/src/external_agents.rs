//! `ExternalAgents`: the dataplane of a controller whose Nodes run their own agents elsewhere (a
//! real cluster, or a harness): every Node's rule set is published into the [`RuleSetIndex`]
//! the Node stream serves, and each Node gets an identity from the controller's CA in
//! `<pki>/nodes/<node>/` (`tls.crt`, `tls.key`, `ca.crt`) when it has none, for the agent
//! started elsewhere to use. Policy status counts a Node as realized when its agent reports the
//! current generation.
//!
//! ```text
//!  attach ──> controller.publish_to(index) ──> identities of every Node (missing ones issued)
//!  follow_topology (Nodes added) ──> identities of the new Nodes
//!  agents: tierwall agent --node N --controller https://HOST:PORT --identity <pki>/nodes/N
//! ```

use crate::Controller;
use crate::dataplane::Dataplane;
use crate::pki::CertificateAuthority;
use crate::rule_set_index::RuleSetIndex;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// Agents started elsewhere, fed through the Node stream.
pub struct ExternalAgents {
    index: Arc<RuleSetIndex>,
    ca: CertificateAuthority,
    /// Nodes whose identity is known to be in place.
    issued: BTreeSet<String>,
}

impl std::fmt::Debug for ExternalAgents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalAgents")
            .field("ca", &self.ca)
            .field("issued", &self.issued.len())
            .finish_non_exhaustive()
    }
}

impl ExternalAgents {
    /// Publishes into `index` (served by a `NodeStreamServer`); identities come from `ca`.
    pub fn new(index: Arc<RuleSetIndex>, ca: CertificateAuthority) -> Self {
        ExternalAgents {
            index,
            ca,
            issued: BTreeSet::new(),
        }
    }

    /// Where Node `node`'s identity is.
    pub fn identity_dir(&self, node: &str) -> PathBuf {
        self.ca.dir().join("nodes").join(node)
    }

    /// Issues the identities of the engine's Nodes that have none (or one from another CA);
    /// returns a line per failure.
    fn issue_identities(&mut self, controller: &Controller) -> Vec<String> {
        let mut lines = Vec::new();
        let nodes: Vec<String> = controller
            .engine()
            .cluster()
            .nodes
            .keys()
            .filter(|n| !self.issued.contains(*n))
            .cloned()
            .collect();
        for node in nodes {
            let dir = self.identity_dir(&node);
            let current = dir.join("tls.crt").is_file()
                && dir.join("tls.key").is_file()
                && std::fs::read_to_string(dir.join("ca.crt")).ok().as_deref()
                    == Some(self.ca.cert_pem());
            if !current && let Err(e) = self.ca.write_node_identity(&node, &dir) {
                lines.push(format!("identity of Node {node}: {e}"));
                continue;
            }
            self.issued.insert(node);
        }
        lines
    }
}

impl Dataplane for ExternalAgents {
    fn describe(&self) -> String {
        format!(
            "Node stream, agents started elsewhere (identities in {})",
            self.ca.dir().join("nodes").display()
        )
    }

    fn attach(&mut self, controller: &mut Controller) -> Result<(), String> {
        let failures = self.issue_identities(controller);
        controller.publish_to(Arc::clone(&self.index));
        match failures.first() {
            Some(first) => Err(format!(
                "{first} (and {} more failures)",
                failures.len() - 1
            )),
            None => Ok(()),
        }
    }

    fn follow_topology(&mut self, controller: &mut Controller) -> Vec<String> {
        if controller.index().is_none() {
            return Vec::new();
        }
        let cluster = &controller.engine().cluster().nodes;
        self.issued.retain(|n| cluster.contains_key(n));
        self.issue_identities(controller)
    }

    fn has_agents(&self) -> bool {
        true
    }
}
