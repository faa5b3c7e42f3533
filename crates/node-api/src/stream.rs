//! The stream between the controller and an agent, over HTTP/2 with mutual TLS:
//!
//! ```text
//!  GET  /v1/nodes/{node}/rule-set?generation=EPOCH.N    200 application/x-ndjson, one message per line:
//!         full (on connect, or when the generation held is unknown)  then  delta per change,
//!         countersRequest when the controller wants fresh counters
//!  POST /v1/nodes/{node}/report      NodeReport                      204
//! ```
//!
//! The client certificate names the Node (`CN=system:node:{node}`, SAN `{node}.node.tierwall`):
//! another Node's path answers 403. A Node the controller does not know answers 404 and the agent
//! retries. A message counts only when its line is complete and parses, so a stream cut in the
//! middle of a message leaves the agent's table as it was.

use crate::delta::RuleSetDelta;
use crate::generation::Generation;
use crate::rule_set::NodeRuleSet;
use serde::{Deserialize, Serialize};

/// Media type of the stream's body.
pub const STREAM_CONTENT_TYPE: &str = "application/x-ndjson";

/// Path of a Node's rule-set stream.
pub fn rule_set_path(node: &str) -> String {
    format!("/v1/nodes/{node}/rule-set")
}

/// Path an agent posts its reports to.
pub fn report_path(node: &str) -> String {
    format!("/v1/nodes/{node}/report")
}

/// The subject common name of a Node's client certificate.
pub fn node_common_name(node: &str) -> String {
    format!("system:node:{node}")
}

/// The Node a client certificate's common name names.
pub fn node_of_common_name(common_name: &str) -> Option<&str> {
    common_name
        .strip_prefix("system:node:")
        .filter(|n| !n.is_empty())
}

/// One message of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StreamMessage {
    /// The whole rule set.
    #[serde(rename_all = "camelCase")]
    Full {
        generation: Generation,
        rule_set: NodeRuleSet,
    },
    /// The changes from `base` (the generation the agent holds) to `generation`.
    #[serde(rename_all = "camelCase")]
    Delta {
        base: Generation,
        generation: Generation,
        delta: RuleSetDelta,
    },
    /// Report the rule counters now, answering with this id.
    CountersRequest { id: u64 },
}

impl StreamMessage {
    /// One line of the stream (compact JSON and a newline).
    pub fn to_line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }

    /// Parses one complete line (without or with its newline).
    pub fn from_line(line: &[u8]) -> Result<StreamMessage, serde_json::Error> {
        serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(line))
    }
}

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}
