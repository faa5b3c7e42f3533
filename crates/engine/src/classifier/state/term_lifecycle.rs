//! Interned terms: recomputing a term's members, Nodes and addresses (firing join/leave
//! events), interning a term definition and releasing it.

use super::alloc;
use crate::classifier::terms::{
    Term, TermDef, anchor_of, group_deps, insert_sorted, remove_sorted, sorted_contains, term_key,
};
use crate::classifier::{Classifier, Use};
use crate::cluster::Cluster;

/// What joins and leaves terms: an identity or a Node.
#[derive(Debug, Clone, Copy)]
pub(super) enum TermMember {
    Ident(u32),
    Node(u32),
}

impl Classifier {
    /// Moves `who` from the sorted term list `old` to `new`: it leaves the terms only `old`
    /// holds, then joins those only `new` holds (both lists updated, events fired).
    pub(super) fn move_memberships(&mut self, who: TermMember, old: &[u32], new: &[u32]) {
        for &t in old.iter().filter(|t| !sorted_contains(new, **t)) {
            self.set_membership(who, t, false);
        }
        for &t in new.iter().filter(|t| !sorted_contains(old, **t)) {
            self.set_membership(who, t, true);
        }
    }

    /// `who` joins (`joined`) or leaves term `t`: the term's list, `who`'s list, the event.
    fn set_membership(&mut self, who: TermMember, t: u32, joined: bool) {
        let edit: fn(&mut Vec<u32>, u32) = if joined { insert_sorted } else { remove_sorted };
        let term = self.terms.get_mut(t as usize).and_then(Option::as_mut);
        match who {
            TermMember::Ident(i) => {
                if let Some(term) = term {
                    edit(&mut term.members, i);
                }
                if let Some(id) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
                    edit(&mut id.terms, t);
                }
                if joined {
                    self.on_ident_join(i, t);
                } else {
                    self.on_ident_leave(i, t);
                }
            }
            TermMember::Node(n) => {
                if let Some(term) = term {
                    edit(&mut term.nodes, n);
                }
                if let Some(x) = self.nodes.get_mut(n as usize).and_then(Option::as_mut) {
                    edit(&mut x.terms, t);
                }
                if joined {
                    self.on_node_join(n, t);
                } else {
                    self.on_node_leave(n, t);
                }
            }
        }
    }

    /// Recomputes the members, Nodes and addresses of a term and fires join/leave events.
    pub(super) fn recompute_term(&mut self, cluster: &Cluster, t: u32) {
        let Some(term) = self.term(t) else { return };
        let def = term.def.clone();
        let members = self.compute_members(cluster, &def);
        let nodes = self.compute_nodes(cluster, &def);
        let ips = Self::eval_ips(cluster, &def);
        let deps = if let TermDef::Group(g) = &def {
            group_deps(cluster, g)
        } else {
            Vec::new()
        };
        let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) else {
            return;
        };
        let old_members = std::mem::replace(&mut term.members, members.clone());
        let old_nodes = std::mem::replace(&mut term.nodes, nodes.clone());
        let ips_changed = term.ips != ips;
        term.ips = ips;
        term.group_deps = deps;
        for &i in old_members
            .iter()
            .filter(|i| !sorted_contains(&members, **i))
        {
            if let Some(x) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
                remove_sorted(&mut x.terms, t);
            }
            self.on_ident_leave(i, t);
        }
        for &i in members
            .iter()
            .filter(|i| !sorted_contains(&old_members, **i))
        {
            if let Some(x) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
                insert_sorted(&mut x.terms, t);
            }
            self.on_ident_join(i, t);
        }
        for &n in old_nodes.iter().filter(|n| !sorted_contains(&nodes, **n)) {
            if let Some(x) = self.nodes.get_mut(n as usize).and_then(Option::as_mut) {
                remove_sorted(&mut x.terms, t);
            }
            self.on_node_leave(n, t);
        }
        for &n in nodes.iter().filter(|n| !sorted_contains(&old_nodes, **n)) {
            if let Some(x) = self.nodes.get_mut(n as usize).and_then(Option::as_mut) {
                insert_sorted(&mut x.terms, t);
            }
            self.on_node_join(n, t);
        }
        if ips_changed {
            let rules: Vec<u32> = self
                .term(t)
                .map(|x| {
                    x.uses
                        .iter()
                        .filter_map(|u| if let Use::Peer(r) = u { Some(*r) } else { None })
                        .collect()
                })
                .unwrap_or_default();
            for r in rules {
                self.refresh_rule_ip_bits(r);
            }
        }
    }

    // ---------------------------------------------------------------- terms

    pub(super) fn intern(&mut self, cluster: &Cluster, def: TermDef) -> u32 {
        let key = term_key(&def);
        if let Some(&t) = self.term_by_key.get(&key) {
            if let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) {
                term.refs += 1;
            }
            return t;
        }
        let members = self.compute_members(cluster, &def);
        let nodes = self.compute_nodes(cluster, &def);
        let ips = Self::eval_ips(cluster, &def);
        let anchor = anchor_of(&def);
        let group_deps = if let TermDef::Group(g) = &def {
            group_deps(cluster, g)
        } else {
            Vec::new()
        };
        let kind = (
            matches!(def, TermDef::Group(_)),
            matches!(def, TermDef::Fqdn(_)),
            matches!(def, TermDef::Nodes(_) | TermDef::Group(_)),
        );
        let term = Term {
            def,
            key: key.clone(),
            anchor: anchor.clone(),
            members,
            nodes,
            ips,
            uses: Vec::new(),
            group_deps,
            refs: 1,
        };
        let t = alloc(&mut self.terms, &mut self.term_free, term);
        self.term_by_key.insert(key, t);
        self.anchors.add(t, &anchor);
        if kind.0 {
            insert_sorted(&mut self.anchors.group_terms, t);
        }
        if kind.1 {
            insert_sorted(&mut self.anchors.fqdn_terms, t);
        }
        if kind.2 {
            insert_sorted(&mut self.anchors.node_terms, t);
        }
        let (members, nodes) = self
            .term(t)
            .map(|x| (x.members.clone(), x.nodes.clone()))
            .unwrap_or_default();
        for i in members {
            if let Some(x) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
                insert_sorted(&mut x.terms, t);
            }
        }
        for n in nodes {
            if let Some(x) = self.nodes.get_mut(n as usize).and_then(Option::as_mut) {
                insert_sorted(&mut x.terms, t);
            }
        }
        t
    }

    pub(super) fn release(&mut self, t: u32) {
        let Some(term) = self.terms.get_mut(t as usize).and_then(Option::as_mut) else {
            return;
        };
        term.refs = term.refs.saturating_sub(1);
        if term.refs > 0 {
            return;
        }
        let Some(term) = self.terms.get_mut(t as usize).and_then(Option::take) else {
            return;
        };
        self.term_by_key.remove(&term.key);
        self.anchors.remove(t, &term.anchor);
        remove_sorted(&mut self.anchors.group_terms, t);
        remove_sorted(&mut self.anchors.fqdn_terms, t);
        remove_sorted(&mut self.anchors.node_terms, t);
        for i in term.members {
            if let Some(x) = self.idents.get_mut(i as usize).and_then(Option::as_mut) {
                remove_sorted(&mut x.terms, t);
            }
        }
        for n in term.nodes {
            if let Some(x) = self.nodes.get_mut(n as usize).and_then(Option::as_mut) {
                remove_sorted(&mut x.terms, t);
            }
        }
        self.term_free.push(t);
    }
}
