//! Exact checks of one rule against a flow (peers, ports, `match: Self` / `sameLabels`), as the
//! oracle's `rule_matches` does them: for *verify* rules and Kubernetes NetworkPolicy rules.

use super::flow::{End, TKey};
use crate::classifier::terms::{TermDef, sorted_contains};
use crate::classifier::{Classifier, INGRESS, NONE, RuleEntry};
use crate::compile::NamespaceScope;
use crate::matching::{PeerMatch, ports_match};

impl Classifier {
    /// Exact peer and port check of one rule (applied-ness is known), as the oracle's
    /// `rule_matches` does it. `local_pod` is `NONE` when the local end is a Node.
    pub(super) fn rule_exact(
        &self,
        rule: &RuleEntry,
        dir: usize,
        local_pod: u32,
        remote: &End,
        tk: &TKey,
    ) -> bool {
        let Some(how) = self.peer_exact(rule, local_pod, remote) else {
            return false;
        };
        self.ports_exact(rule, dir, how, local_pod, remote, tk)
    }

    /// Exact port check of one rule whose peers matched (`how`: as a Pod member or by address;
    /// named ports resolve on the destination Pod).
    pub(super) fn ports_exact(
        &self,
        rule: &RuleEntry,
        dir: usize,
        how: PeerMatch,
        local_pod: u32,
        remote: &End,
        tk: &TKey,
    ) -> bool {
        let named_on = if dir == INGRESS {
            self.pod_entry(local_pod).map(|p| &p.info)
        } else if how == PeerMatch::PodMember {
            self.pod_entry(remote.pod).map(|p| &p.info)
        } else {
            None
        };
        ports_match(&rule.ports, &tk.transport, named_on)
    }

    pub(super) fn peer_exact(
        &self,
        rule: &RuleEntry,
        local_pod: u32,
        remote: &End,
    ) -> Option<PeerMatch> {
        if rule.peer_any {
            return Some(if remote.pod != NONE {
                PeerMatch::PodMember
            } else {
                PeerMatch::Address
            });
        }
        let mut best = None;
        for &t in &rule.peers {
            let Some(term) = self.term(t) else { continue };
            let member = remote.ident != NONE && sorted_contains(&term.members, remote.ident);
            let hit = match &term.def {
                TermDef::Pods { scope, ldep, .. } => (member
                    && (!ldep || self.ldep_scope_matches(scope, local_pod, remote)))
                .then_some(PeerMatch::PodMember),
                TermDef::Sa { .. } => member.then_some(PeerMatch::PodMember),
                TermDef::Group(_) => {
                    if member {
                        Some(PeerMatch::PodMember)
                    } else {
                        (term.contains_key(remote.v6, remote.key)
                            || (remote.node != NONE && sorted_contains(&term.nodes, remote.node)))
                        .then_some(PeerMatch::Address)
                    }
                }
                TermDef::Nodes(_) => (remote.node != NONE
                    && sorted_contains(&term.nodes, remote.node))
                .then_some(PeerMatch::Address),
                TermDef::IpBlock { .. } | TermDef::Fqdn(_) => term
                    .contains_key(remote.v6, remote.key)
                    .then_some(PeerMatch::Address),
            };
            match hit {
                Some(PeerMatch::PodMember) => return Some(PeerMatch::PodMember),
                Some(PeerMatch::Address) => best = Some(PeerMatch::Address),
                None => {}
            }
        }
        best
    }

    /// `namespaces: {match: Self}` / `sameLabels` between the local Pod and the remote Pod.
    pub(super) fn ldep_scope_matches(
        &self,
        scope: &NamespaceScope,
        local_pod: u32,
        remote: &End,
    ) -> bool {
        let (Some(local), Some(peer)) = (self.pod_entry(local_pod), self.pod_entry(remote.pod))
        else {
            return false;
        };
        match scope {
            NamespaceScope::SameAsApplied => local.info.namespace == peer.info.namespace,
            NamespaceScope::SameLabels(keys) => {
                let labels = |ns: &str| {
                    self.ns_by_name
                        .get(ns)
                        .and_then(|&i| self.namespaces.get(i as usize))
                        .and_then(|n| n.labels.as_ref())
                };
                let (Some(applied), Some(peer)) =
                    (labels(&local.info.namespace), labels(&peer.info.namespace))
                else {
                    return false;
                };
                keys.iter()
                    .all(|k| applied.get(k).is_some_and(|v| peer.get(k) == Some(v)))
            }
            _ => true,
        }
    }
}
