//! Changes of a rule set: what the stream sends after the full set. A rule list is rebuilt from
//! runs of the previous list (`Keep`) and new entries (`New`), so a change of one policy costs
//! the size of that policy, whatever the size of the rule set; small fields (addresses, local
//! Pods, isolated Pods) are sent whole when they changed.
//!
//! ```text
//!  old antrea: [a b c d e]   new: [a b X d e]   delta: Keep{0,2} New(X) Keep{3,2}
//! ```

use crate::rule_set::{DirectionRules, LocalPod, NodeRuleSet, RuleEntry};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// A delta that does not fit the rule set it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the change does not fit the rule set held: {0}")]
pub struct DeltaError(pub String);

/// One piece of a rebuilt list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Piece {
    /// `count` entries of the previous list, from index `from`.
    Keep { from: usize, count: usize },
    /// An entry the previous list does not have.
    New(Box<RuleEntry>),
}

/// How to rebuild one ordered rule list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListDelta(pub Vec<Piece>);

/// The changes of one direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectionDelta {
    pub antrea: ListDelta,
    /// The new set of isolated Pods, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_isolated: Option<BTreeSet<IpAddr>>,
    pub k8s_allow: ListDelta,
    pub baseline: ListDelta,
}

/// The changes from one rule set of a Node to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSetDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ips: Option<Vec<IpAddr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<Vec<LocalPod>>,
    pub ingress: DirectionDelta,
    pub egress: DirectionDelta,
}

impl ListDelta {
    /// The pieces that rebuild `new` from `old`. Entries are matched by id and equality; a run
    /// of consecutive kept entries is one piece.
    pub fn between(old: &[RuleEntry], new: &[RuleEntry]) -> ListDelta {
        let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, e) in old.iter().enumerate() {
            by_id.entry(e.id.as_str()).or_default().push(i);
        }
        let mut pieces: Vec<Piece> = Vec::new();
        let mut next_old = 0usize;
        for entry in new {
            let found = if old.get(next_old) == Some(entry) {
                Some(next_old)
            } else {
                by_id
                    .get(entry.id.as_str())
                    .and_then(|candidates| candidates.iter().copied().find(|&i| &old[i] == entry))
            };
            match found {
                Some(i) => {
                    next_old = i + 1;
                    if let Some(Piece::Keep { from, count }) = pieces.last_mut()
                        && *from + *count == i
                    {
                        *count += 1;
                        continue;
                    }
                    pieces.push(Piece::Keep { from: i, count: 1 });
                }
                None => pieces.push(Piece::New(Box::new(entry.clone()))),
            }
        }
        ListDelta(pieces)
    }

    /// Whether applying it to a list of `len` entries gives the same list.
    pub fn is_identity(&self, len: usize) -> bool {
        match self.0.as_slice() {
            [] => len == 0,
            [Piece::Keep { from: 0, count }] => *count == len,
            _ => false,
        }
    }

    /// Rebuilds the new list from `old`.
    pub fn apply(&self, old: &[RuleEntry]) -> Result<Vec<RuleEntry>, DeltaError> {
        let mut out = Vec::with_capacity(old.len());
        for piece in &self.0 {
            match piece {
                Piece::Keep { from, count } => {
                    let run = from
                        .checked_add(*count)
                        .and_then(|end| old.get(*from..end))
                        .ok_or_else(|| {
                            DeltaError(format!(
                                "entries {from}..{} of a list of {}",
                                from.saturating_add(*count),
                                old.len()
                            ))
                        })?;
                    out.extend_from_slice(run);
                }
                Piece::New(entry) => out.push((**entry).clone()),
            }
        }
        Ok(out)
    }
}

impl DirectionDelta {
    pub fn between(old: &DirectionRules, new: &DirectionRules) -> DirectionDelta {
        DirectionDelta {
            antrea: ListDelta::between(&old.antrea, &new.antrea),
            k8s_isolated: (old.k8s_isolated != new.k8s_isolated).then(|| new.k8s_isolated.clone()),
            k8s_allow: ListDelta::between(&old.k8s_allow, &new.k8s_allow),
            baseline: ListDelta::between(&old.baseline, &new.baseline),
        }
    }

    fn is_identity(&self, old: &DirectionRules) -> bool {
        self.k8s_isolated.is_none()
            && self.antrea.is_identity(old.antrea.len())
            && self.k8s_allow.is_identity(old.k8s_allow.len())
            && self.baseline.is_identity(old.baseline.len())
    }

    fn apply(&self, old: &DirectionRules) -> Result<DirectionRules, DeltaError> {
        Ok(DirectionRules {
            antrea: self.antrea.apply(&old.antrea)?,
            k8s_isolated: self
                .k8s_isolated
                .clone()
                .unwrap_or_else(|| old.k8s_isolated.clone()),
            k8s_allow: self.k8s_allow.apply(&old.k8s_allow)?,
            baseline: self.baseline.apply(&old.baseline)?,
        })
    }
}

impl RuleSetDelta {
    /// The changes from `old` to `new` (rule sets of the same Node).
    pub fn between(old: &NodeRuleSet, new: &NodeRuleSet) -> RuleSetDelta {
        RuleSetDelta {
            node_ips: (old.node_ips != new.node_ips).then(|| new.node_ips.clone()),
            pods: (old.pods != new.pods).then(|| new.pods.clone()),
            ingress: DirectionDelta::between(&old.ingress, &new.ingress),
            egress: DirectionDelta::between(&old.egress, &new.egress),
        }
    }

    /// Whether it changes nothing of `old`.
    pub fn is_identity(&self, old: &NodeRuleSet) -> bool {
        self.node_ips.is_none()
            && self.pods.is_none()
            && self.ingress.is_identity(&old.ingress)
            && self.egress.is_identity(&old.egress)
    }

    /// The rule set after the change. `old` is left as it is, so a delta that does not fit
    /// changes nothing.
    pub fn apply(&self, old: &NodeRuleSet) -> Result<NodeRuleSet, DeltaError> {
        Ok(NodeRuleSet {
            node: old.node.clone(),
            node_ips: self
                .node_ips
                .clone()
                .unwrap_or_else(|| old.node_ips.clone()),
            pods: self.pods.clone().unwrap_or_else(|| old.pods.clone()),
            ingress: self.ingress.apply(&old.ingress)?,
            egress: self.egress.apply(&old.egress)?,
        })
    }
}
