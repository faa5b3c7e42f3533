//! Policies: creating a compiled policy's entries, activating and tearing them down, and
//! applying a policy change (or all policies at build time) with the rank remapping.

use super::{alloc, port_bits};
use crate::classifier::terms::{Term, TermDef, applied_def, peer_def};
use crate::classifier::{
    Classifier, K8sCheck, K8sPeer, NONE, PolicyEntry, RuleEntry, Use, dir_index,
};
use crate::cluster::Cluster;
use crate::compile::{CompiledPolicy, GroupRef};
use crate::evaluate::{PolicyRef, RuleHit};
use crate::table::RuleTable;
use tierwall_model::{Kind, ObjectKey};

impl Classifier {
    /// Creates the entries of a compiled policy (terms interned, rules unranked, inactive).
    pub(super) fn create_policy(&mut self, cluster: &Cluster, cp: &CompiledPolicy) -> u32 {
        let k8s = cp.is_k8s();
        let mut applied_terms = Vec::new();
        for t in &cp.applied {
            if let Some(def) = applied_def(t) {
                let id = self.intern(cluster, def);
                if applied_terms.contains(&id) {
                    self.release(id);
                } else {
                    applied_terms.push(id);
                }
            }
        }
        let node_terms: Vec<u32> = applied_terms
            .iter()
            .copied()
            .filter(|&t| self.is_nodes_term(t))
            .collect();
        let group_terms: Vec<u32> = if cp.key.kind == Kind::AntreaNetworkPolicy {
            applied_terms
                .iter()
                .copied()
                .filter(|&t| {
                    self.term(t)
                        .is_some_and(|x| matches!(x.def, TermDef::Group(GroupRef::Namespaced(..))))
                })
                .collect()
        } else {
            Vec::new()
        };
        let pe = PolicyEntry {
            key: cp.key.clone(),
            k8s,
            rules: Vec::new(),
            applied_terms,
            node_terms,
            group_terms,
            realizable: true,
            span: Vec::new(),
            isolates: [cp.isolates_ingress, cp.isolates_egress],
            k8s_rules: [Vec::new(), Vec::new()],
        };
        let pid = alloc(&mut self.policies, &mut self.policy_free, pe);
        let mut rules = Vec::with_capacity(cp.rules.len());
        let mut k8s_rules: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for rule in &cp.rules {
            let applied: Vec<u32> = if k8s {
                Vec::new()
            } else {
                rule.applied
                    .iter()
                    .filter_map(applied_def)
                    .map(|d| self.intern(cluster, d))
                    .collect()
            };
            let peers: Vec<u32> = rule
                .peers
                .terms
                .iter()
                .filter_map(peer_def)
                .map(|d| self.intern(cluster, d))
                .collect();
            let ldep = peers.iter().any(|&t| self.term(t).is_some_and(Term::ldep));
            let pb = port_bits(&rule.ports);
            let dir = dir_index(rule.direction);
            let hit = RuleHit {
                tier: cp.tier.clone(),
                tier_priority: None,
                policy: PolicyRef::from_key(&cp.key),
                policy_priority: cp.tier.as_ref().map(|_| cp.priority),
                rule: (!rule.name.is_empty()).then(|| rule.name.clone()),
                rule_index: rule.index,
                action: rule.action,
                enable_logging: rule.enable_logging,
                log_label: rule.log_label.clone(),
            };
            let entry = RuleEntry {
                policy: pid,
                dir,
                action: rule.action,
                k8s,
                inert: false,
                applied,
                peer_any: rule.peers.any,
                peers,
                ports: rule.ports.clone(),
                verify: !pb.exact || ldep,
                ldep,
                rank: NONE,
                hit,
            };
            let check = if k8s {
                self.k8s_check(&entry)
            } else {
                K8sCheck::default()
            };
            let r = alloc(&mut self.rules, &mut self.rule_free, entry);
            if self.k8s_checks.len() <= r as usize {
                self.k8s_checks.resize(r as usize + 1, K8sCheck::default());
            }
            self.k8s_checks[r as usize] = check;
            rules.push(r);
            if k8s {
                k8s_rules[dir].push(r);
            }
        }
        if let Some(pe) = self.policies.get_mut(pid as usize).and_then(Option::as_mut) {
            pe.rules = rules;
            pe.k8s_rules = k8s_rules;
        }
        let realizable = self
            .policies
            .get(pid as usize)
            .and_then(Option::as_ref)
            .is_none_or(|pe| self.compute_realizable(pe));
        if let Some(pe) = self.policies.get_mut(pid as usize).and_then(Option::as_mut) {
            pe.realizable = realizable;
        }
        pid
    }

    /// The compact query-path check of a Kubernetes NetworkPolicy rule: one peer term checked by
    /// membership (Pods, service accounts) or by address (ipBlocks, FQDNs), any peer, or the
    /// general exact check.
    fn k8s_check(&self, rule: &RuleEntry) -> K8sCheck {
        let peer = if rule.peer_any {
            K8sPeer::Any
        } else {
            match rule.peers.as_slice() {
                [t] => match self.term(*t).map(|x| &x.def) {
                    Some(TermDef::Pods { ldep: false, .. } | TermDef::Sa { .. }) => {
                        K8sPeer::Member(*t)
                    }
                    Some(TermDef::IpBlock { .. } | TermDef::Fqdn(_)) => K8sPeer::Address(*t),
                    _ => K8sPeer::General,
                },
                _ => K8sPeer::General,
            }
        };
        K8sCheck {
            peer,
            ports_any: rule.ports.any,
        }
    }

    /// Registers the uses of a created (and ranked) policy and sets all its bits, lists and spans.
    pub(super) fn activate_policy(&mut self, pid: u32) {
        let Some(pe) = self.policies.get(pid as usize).and_then(Option::as_ref) else {
            return;
        };
        let (rules, applied_terms, k8s) = (pe.rules.clone(), pe.applied_terms.clone(), pe.k8s);
        for &r in &rules {
            let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
                continue;
            };
            if rule.k8s {
                continue;
            }
            let (applied, peers) = (rule.applied.clone(), rule.peers.clone());
            for t in applied {
                if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) {
                    term.uses.push(Use::Applied(r));
                }
            }
            for t in peers {
                if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) {
                    term.uses.push(Use::Peer(r));
                }
            }
            self.split_for_rule(r);
            self.set_rule_bits(r);
        }
        let mut idents: Vec<u32> = Vec::new();
        for &t in &applied_terms {
            if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) {
                term.uses.push(Use::Policy(pid));
                idents.extend(term.members.iter().copied());
            }
        }
        idents.sort_unstable();
        idents.dedup();
        for i in idents {
            self.policy_add_ident(pid, i);
        }
        let _ = k8s;
    }

    /// Unregisters a policy's uses and lists, releases its terms and frees it and its rules.
    /// Its ranks must have been removed already.
    pub(super) fn teardown_policy(&mut self, pid: u32) {
        let Some(pe) = self.policies.get(pid as usize).and_then(Option::as_ref) else {
            return;
        };
        let (rules, applied_terms, k8s) = (pe.rules.clone(), pe.applied_terms.clone(), pe.k8s);
        let mut idents: Vec<u32> = Vec::new();
        for &t in &applied_terms {
            if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) {
                if let Some(k) = term.uses.iter().position(|u| *u == Use::Policy(pid)) {
                    term.uses.remove(k);
                }
                idents.extend(term.members.iter().copied());
            }
        }
        if k8s {
            idents.sort_unstable();
            idents.dedup();
            for i in idents {
                if let Some(x) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
                    x.k8s.retain(|&q| q != pid);
                }
                self.refresh_k8s_flat(i);
            }
        }
        for &r in &rules {
            let Some(rule) = self.rules.get_mut(r as usize).and_then(Option::take) else {
                continue;
            };
            for &t in &rule.applied {
                if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut)
                    && let Some(k) = term.uses.iter().position(|u| *u == Use::Applied(r))
                {
                    term.uses.remove(k);
                }
            }
            for &t in &rule.peers {
                if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut)
                    && let Some(k) = term.uses.iter().position(|u| *u == Use::Peer(r))
                {
                    term.uses.remove(k);
                }
            }
            for t in rule.applied.iter().chain(rule.peers.iter()) {
                self.release(*t);
            }
            self.rule_free.push(r);
        }
        for t in applied_terms {
            self.release(t);
        }
        if self
            .policies
            .get_mut(pid as usize)
            .and_then(Option::take)
            .is_some()
        {
            self.policy_free.push(pid);
        }
    }

    /// A policy (ACNP, ANNP or Kubernetes NetworkPolicy) was created, changed or deleted.
    pub fn apply_policy(&mut self, cluster: &Cluster, table: &RuleTable, key: &ObjectKey) {
        let old = self.policy_by_key.remove(key);
        let new = table.policy(key).map(|cp| self.create_policy(cluster, cp));
        for d in [
            crate::compile::Direction::Ingress,
            crate::compile::Direction::Egress,
        ] {
            let di = dir_index(d);
            let mut removed: Vec<usize> = old
                .and_then(|p| self.policies.get(p as usize).and_then(Option::as_ref))
                .map(|pe| {
                    pe.rules
                        .iter()
                        .filter_map(|&r| self.rules.get(r as usize).and_then(Option::as_ref))
                        .filter(|r| !r.k8s && r.dir == di && r.rank != NONE)
                        .map(|r| r.rank as usize)
                        .collect()
                })
                .unwrap_or_default();
            removed.sort_unstable();
            let mut inserted: Vec<(usize, u32)> = Vec::new();
            if let Some(pid) = new {
                let prules = self
                    .policies
                    .get(pid as usize)
                    .and_then(Option::as_ref)
                    .map(|pe| pe.rules.clone())
                    .unwrap_or_default();
                let mut ranked = Vec::new();
                for (rank, slot) in table.ordered(d).iter().enumerate() {
                    if slot.policy == *key
                        && let Some(&r) = prules.get(slot.position)
                    {
                        inserted.push((rank, r));
                        ranked.push((r, rank, slot.tier_priority));
                    }
                }
                for (r, rank, tp) in ranked {
                    self.rank_rule(r, rank, tp);
                }
            }
            self.remap_dir(di, &removed, &inserted);
            self.update_stage1(di);
        }
        if let Some(pid) = new {
            self.activate_policy(pid);
            self.policy_by_key.insert(key.clone(), pid);
        }
        if let Some(pid) = old {
            self.teardown_policy(pid);
        }
        debug_assert!(
            self.order_matches(table),
            "classifier rule order diverged from the rule table"
        );
    }

    /// A policy was deleted.
    pub fn remove_policy(&mut self, cluster: &Cluster, table: &RuleTable, key: &ObjectKey) {
        self.apply_policy(cluster, table, key);
    }

    pub(super) fn add_policies_bulk(&mut self, cluster: &Cluster, table: &RuleTable) {
        let mut pids = Vec::new();
        for cp in table.policies() {
            let pid = self.create_policy(cluster, cp);
            self.policy_by_key.insert(cp.key.clone(), pid);
            pids.push(pid);
        }
        for d in [
            crate::compile::Direction::Ingress,
            crate::compile::Direction::Egress,
        ] {
            let di = dir_index(d);
            let mut inserted = Vec::new();
            let mut ranked = Vec::new();
            for (rank, slot) in table.ordered(d).iter().enumerate() {
                let r = self
                    .policy_by_key
                    .get(&slot.policy)
                    .and_then(|&p| self.policies.get(p as usize).and_then(Option::as_ref))
                    .and_then(|pe| pe.rules.get(slot.position).copied());
                if let Some(r) = r {
                    inserted.push((rank, r));
                    ranked.push((r, rank, slot.tier_priority));
                }
            }
            for (r, rank, tp) in ranked {
                self.rank_rule(r, rank, tp);
            }
            self.remap_dir(di, &[], &inserted);
            self.update_stage1(di);
        }
        for pid in pids {
            self.activate_policy(pid);
        }
    }
}
