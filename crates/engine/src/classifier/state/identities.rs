//! Namespaces and identities: interning Pods into identities, identity join/leave events on
//! terms, the per-identity Kubernetes NetworkPolicy lists, policy spans and ANNP realizability.

use super::alloc;
use super::term_lifecycle::TermMember;
use crate::classifier::terms::{insert_sorted, remove_sorted};
use crate::classifier::{Classifier, Ident, NONE, NsEntry, PolicyEntry, Use};
use crate::cluster::{Cluster, PodInfo};

impl Classifier {
    pub(super) fn ns_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ns_by_name.get(name) {
            return id;
        }
        let id = self.namespaces.len() as u32;
        self.namespaces.push(NsEntry {
            name: name.to_string(),
            labels: None,
            idents: Vec::new(),
        });
        self.ns_by_name.insert(name.to_string(), id);
        id
    }

    /// A Namespace was created, relabelled or deleted.
    pub fn apply_namespace(&mut self, cluster: &Cluster, name: &str) {
        let id = self.ns_id(name);
        let new = cluster.namespace_labels(name).cloned();
        let entry = &mut self.namespaces[id as usize];
        if entry.labels == new {
            return;
        }
        if let Some(old) = entry.labels.take() {
            self.ns_postings.remove(id, &old);
        }
        if let Some(l) = &new {
            self.ns_postings.add(id, l);
        }
        self.namespaces[id as usize].labels = new;
        for i in self.namespaces[id as usize].idents.clone() {
            self.refresh_ident(cluster, i);
        }
    }

    /// A Namespace was deleted (its Pods stay, as in the engine's cluster index).
    pub fn remove_namespace(&mut self, cluster: &Cluster, name: &str) {
        self.apply_namespace(cluster, name);
    }

    // ---------------------------------------------------------------- identities

    pub(super) fn ident_hash(ns: u32, info: &PodInfo) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = crate::classifier::fx::FxHasher::default();
        ns.hash(&mut h);
        info.labels.hash(&mut h);
        info.service_account.hash(&mut h);
        h.finish()
    }

    pub(super) fn find_ident(&self, ns: u32, hash: u64, info: &PodInfo) -> Option<u32> {
        self.ident_by_key.get(&hash)?.iter().copied().find(|&i| {
            self.idents
                .get(i as usize)
                .and_then(Option::as_ref)
                .is_some_and(|x| {
                    x.ns == ns
                        && x.rep.labels == info.labels
                        && x.rep.service_account == info.service_account
                })
        })
    }

    pub(super) fn ident_for(&mut self, cluster: &Cluster, info: &PodInfo) -> u32 {
        let ns = self.ns_id(&info.namespace);
        let hash = Self::ident_hash(ns, info);
        if let Some(i) = self.find_ident(ns, hash, info) {
            return i;
        }
        let ident = Ident {
            ns,
            rep: info.clone(),
            pods: Vec::new(),
            node_counts: Vec::new(),
            terms: Vec::new(),
            k8s: Vec::new(),
            k8s_rules: [Vec::new(), Vec::new()],
            isolated: [false; 2],
        };
        let id = alloc(&mut self.idents, &mut self.ident_free, ident);
        self.set_ident_k8s(id, 0);
        self.ident_postings.add(id, &info.labels);
        insert_sorted(&mut self.namespaces[ns as usize].idents, id);
        self.ident_by_key.entry(hash).or_default().push(id);
        for d in &mut self.dirs {
            let any = d.any.clone();
            d.prow.set_row(id as usize, &any);
            let zero = d.zero.clone();
            d.arow.set_row(id as usize, &zero);
        }
        self.refresh_ident(cluster, id);
        id
    }

    pub(super) fn destroy_ident(&mut self, i: u32) {
        let Some(ident) = self.idents.get(i as usize).and_then(Option::as_ref) else {
            return;
        };
        let terms = ident.terms.clone();
        for t in terms {
            if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) {
                remove_sorted(&mut term.members, i);
            }
            self.on_ident_leave(i, t);
        }
        let Some(ident) = self.idents.get_mut(i as usize).and_then(Option::take) else {
            return;
        };
        self.ident_postings.remove(i, &ident.rep.labels);
        remove_sorted(&mut self.namespaces[ident.ns as usize].idents, i);
        let hash = Self::ident_hash(ident.ns, &ident.rep);
        if let Some(bucket) = self.ident_by_key.get_mut(&hash) {
            bucket.retain(|&x| x != i);
            if bucket.is_empty() {
                self.ident_by_key.remove(&hash);
            }
        }
        for d in &mut self.dirs {
            let zero = d.zero.clone();
            d.prow.set_row(i as usize, &zero);
            d.arow.set_row(i as usize, &zero);
        }
        self.set_ident_k8s(i, 0);
        self.ident_free.push(i);
    }

    fn set_ident_k8s(&mut self, i: u32, flags: u8) {
        let i = i as usize;
        if self.ident_k8s.len() <= i {
            self.ident_k8s.resize(i + 1, 0);
        }
        self.ident_k8s[i] = flags;
    }

    /// Recomputes which terms identity `i` belongs to (new identity, namespace relabel).
    pub(super) fn refresh_ident(&mut self, cluster: &Cluster, i: u32) {
        let Some(ident) = self.idents.get(i as usize).and_then(Option::as_ref) else {
            return;
        };
        let cands = self.anchors.candidates(
            &ident.rep.namespace,
            cluster.namespace_labels(&ident.rep.namespace),
            &ident.rep.labels,
        );
        let new: Vec<u32> = cands
            .into_iter()
            .filter(|&t| {
                self.term(t)
                    .is_some_and(|term| Self::eval_ident(cluster, &term.def, &ident.rep))
            })
            .collect();
        let old = ident.terms.clone();
        self.move_memberships(TermMember::Ident(i), &old, &new);
    }

    pub(super) fn rule_active(&self, r: u32) -> bool {
        self.rules
            .get(r as usize)
            .and_then(Option::as_ref)
            .is_some_and(|rule| {
                !rule.inert
                    && self
                        .policies
                        .get(rule.policy as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|p| p.realizable)
            })
    }

    /// Identity `i` is now a member of term `t`.
    pub(super) fn on_ident_join(&mut self, i: u32, t: u32) {
        let Some(uses) = self.term(t).map(|term| term.uses.clone()) else {
            return;
        };
        for u in uses {
            match u {
                Use::Applied(r) => {
                    if self.rule_active(r)
                        && let Some((d, rank)) = self
                            .rules
                            .get(r as usize)
                            .and_then(Option::as_ref)
                            .map(|x| (x.dir, x.rank))
                    {
                        self.dirs[d].arow.set(i as usize, rank as usize);
                    }
                }
                Use::Peer(r) => {
                    if let Some((d, rank)) = self
                        .rules
                        .get(r as usize)
                        .and_then(Option::as_ref)
                        .map(|x| (x.dir, x.rank))
                    {
                        self.dirs[d].prow.set(i as usize, rank as usize);
                    }
                }
                Use::Policy(p) => {
                    self.policy_gain_ident(p, i, t);
                    self.recheck_realizable(p, t);
                }
            }
        }
    }

    /// Identity `i` is no longer a member of term `t`.
    pub(super) fn on_ident_leave(&mut self, i: u32, t: u32) {
        let Some(uses) = self.term(t).map(|term| term.uses.clone()) else {
            return;
        };
        for u in uses {
            match u {
                Use::Applied(r) => {
                    let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
                        continue;
                    };
                    if !rule.applied.iter().any(|&t2| self.term_has_ident(t2, i)) {
                        let (d, rank) = (rule.dir, rule.rank as usize);
                        self.dirs[d].arow.clear(i as usize, rank);
                    }
                }
                Use::Peer(r) => {
                    let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
                        continue;
                    };
                    if !rule.peer_any && !rule.peers.iter().any(|&t2| self.term_has_ident(t2, i)) {
                        let (d, rank) = (rule.dir, rule.rank as usize);
                        self.dirs[d].prow.clear(i as usize, rank);
                    }
                }
                Use::Policy(p) => {
                    self.policy_lose_ident(p, i);
                    self.recheck_realizable(p, t);
                }
            }
        }
    }

    pub(super) fn policy_applies_ident(&self, p: u32, i: u32, except: u32) -> bool {
        self.policies
            .get(p as usize)
            .and_then(Option::as_ref)
            .is_some_and(|pe| {
                pe.applied_terms
                    .iter()
                    .any(|&t| t != except && self.term_has_ident(t, i))
            })
    }

    pub(super) fn add_span(span: &mut Vec<(u32, u32)>, node: u32, delta: i64) {
        match span.binary_search_by_key(&node, |e| e.0) {
            Ok(k) => {
                let v = (span[k].1 as i64 + delta).max(0) as u32;
                if v == 0 {
                    span.remove(k);
                } else {
                    span[k].1 = v;
                }
            }
            Err(k) => {
                if delta > 0 {
                    span.insert(k, (node, delta as u32));
                }
            }
        }
    }

    pub(super) fn insert_k8s(&mut self, i: u32, p: u32) {
        let Some(key) = self
            .policies
            .get(p as usize)
            .and_then(Option::as_ref)
            .map(|pe| pe.key.clone())
        else {
            return;
        };
        let Some(ident) = self.idents.get(i as usize).and_then(Option::as_ref) else {
            return;
        };
        if ident.k8s.contains(&p) {
            return;
        }
        let policies = &self.policies;
        let at = ident.k8s.partition_point(|&q| {
            policies
                .get(q as usize)
                .and_then(Option::as_ref)
                .is_some_and(|qe| qe.key <= key)
        });
        if let Some(ident) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
            ident.k8s.insert(at, p);
        }
        self.refresh_k8s_flat(i);
    }

    /// The flattened Kubernetes NetworkPolicy view of identity `i`: rules of isolating
    /// policies per direction, in (policy key, rule) order, and whether it is isolated.
    pub(super) fn refresh_k8s_flat(&mut self, i: u32) {
        let Some(ident) = self.idents.get(i as usize).and_then(Option::as_ref) else {
            return;
        };
        let mut rules: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        let mut isolated = [false; 2];
        for &p in &ident.k8s {
            let Some(pe) = self.policies.get(p as usize).and_then(Option::as_ref) else {
                continue;
            };
            for d in 0..2 {
                if pe.isolates[d] {
                    isolated[d] = true;
                    rules[d].extend(pe.k8s_rules[d].iter().copied());
                }
            }
        }
        let flags = (0..2)
            .filter(|&d| isolated[d] || !rules[d].is_empty())
            .fold(0u8, |f, d| f | 1 << d);
        if let Some(ident) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
            ident.k8s_rules = rules;
            ident.isolated = isolated;
            self.set_ident_k8s(i, flags);
        }
    }

    /// Policy `p` applies to identity `i` through term `via` (maybe already through another).
    pub(super) fn policy_gain_ident(&mut self, p: u32, i: u32, via: u32) {
        if self.policy_applies_ident(p, i, via) {
            return;
        }
        self.policy_add_ident(p, i);
    }

    pub(super) fn policy_add_ident(&mut self, p: u32, i: u32) {
        if self.shift_policy_span(p, i, 1) == Some(true) {
            self.insert_k8s(i, p);
        }
    }

    /// Adds (`sign` 1) or removes (`sign` -1) identity `i`'s Pods per Node to policy `p`'s span;
    /// whether `p` is a Kubernetes NetworkPolicy, `None` if either is gone.
    fn shift_policy_span(&mut self, p: u32, i: u32, sign: i64) -> Option<bool> {
        let counts = &self.idents.get(i as usize)?.as_ref()?.node_counts;
        let pe = self.policies.get_mut(p as usize)?.as_mut()?;
        for &(n, c) in counts {
            Self::add_span(&mut pe.span, n, sign * c as i64);
        }
        Some(pe.k8s)
    }

    pub(super) fn policy_lose_ident(&mut self, p: u32, i: u32) {
        if self.policy_applies_ident(p, i, NONE) {
            return;
        }
        if self.shift_policy_span(p, i, -1) == Some(true) {
            if let Some(ident) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
                ident.k8s.retain(|&q| q != p);
            }
            self.refresh_k8s_flat(i);
        }
    }

    /// Antrea NetworkPolicy realizability: no namespaced Group in its appliedTo may select Pods
    /// of other namespaces (`status::unsupported_applied_group`).
    pub(super) fn compute_realizable(&self, pe: &PolicyEntry) -> bool {
        let Some(ns) = pe.key.namespace.as_deref() else {
            return true;
        };
        !pe.group_terms.iter().any(|&t| {
            self.term(t).is_some_and(|term| {
                term.members.iter().any(|&i| {
                    self.idents
                        .get(i as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|x| x.rep.namespace != ns)
                })
            })
        })
    }

    pub(super) fn recheck_realizable(&mut self, p: u32, t: u32) {
        let Some(pe) = self.policies.get(p as usize).and_then(Option::as_ref) else {
            return;
        };
        if !pe.group_terms.contains(&t) {
            return;
        }
        let now = self.compute_realizable(pe);
        if now == pe.realizable {
            return;
        }
        let rules = pe.rules.clone();
        if let Some(pe) = self.policies.get_mut(p as usize).and_then(Option::as_mut) {
            pe.realizable = now;
        }
        for r in rules {
            let inert = self
                .rules
                .get(r as usize)
                .and_then(Option::as_ref)
                .is_none_or(|x| x.inert || x.k8s);
            if !inert {
                self.set_applied_bits(r, now);
            }
        }
    }

    pub(super) fn policies_of_ident(&self, i: u32) -> Vec<u32> {
        let Some(ident) = self.idents.get(i as usize).and_then(Option::as_ref) else {
            return vec![];
        };
        let mut v: Vec<u32> = ident
            .terms
            .iter()
            .filter_map(|&t| self.term(t))
            .flat_map(|term| {
                term.uses.iter().filter_map(|u| {
                    if let Use::Policy(p) = u {
                        Some(*p)
                    } else {
                        None
                    }
                })
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub(super) fn attach_pod(&mut self, i: u32, node: u32, delta: i64) {
        if let Some(ident) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
            Self::add_span(&mut ident.node_counts, node, delta);
        }
        for p in self.policies_of_ident(i) {
            if let Some(pe) = self.policies.get_mut(p as usize).and_then(Option::as_mut) {
                Self::add_span(&mut pe.span, node, delta);
            }
        }
    }
}
