//! The inverted label index (`Postings`: label `k=v` and key `k` → sorted ids, with
//! intersection by smallest list first) and the `Anchors` that tell which terms a new or changed
//! identity can possibly join; sorted-list helpers.

use crate::classifier::fx::FxMap;
use tierwall_model::LabelSelector;
use tierwall_model::meta::StringMap;

/// Label → sorted ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Postings {
    pairs: FxMap<String, FxMap<String, Vec<u32>>>,
    keys: FxMap<String, Vec<u32>>,
}

pub(crate) fn insert_sorted(v: &mut Vec<u32>, id: u32) {
    if let Err(i) = v.binary_search(&id) {
        v.insert(i, id);
    }
}

pub(crate) fn remove_sorted(v: &mut Vec<u32>, id: u32) {
    if let Ok(i) = v.binary_search(&id) {
        v.remove(i);
    }
}

pub(crate) fn sorted_contains(v: &[u32], id: u32) -> bool {
    v.binary_search(&id).is_ok()
}

/// Intersection of sorted lists (smallest first, binary search into the others).
fn intersect(mut lists: Vec<&[u32]>) -> Vec<u32> {
    lists.sort_by_key(|l| l.len());
    let Some((first, rest)) = lists.split_first() else {
        return vec![];
    };
    first
        .iter()
        .copied()
        .filter(|id| rest.iter().all(|l| l.binary_search(id).is_ok()))
        .collect()
}

pub(super) fn union_sorted(lists: &[&[u32]]) -> Vec<u32> {
    let mut out: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Postings {
    pub(crate) fn add(&mut self, id: u32, labels: &StringMap) {
        for (k, v) in labels {
            insert_sorted(
                self.pairs
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default(),
                id,
            );
            insert_sorted(self.keys.entry(k.clone()).or_default(), id);
        }
    }

    pub(crate) fn remove(&mut self, id: u32, labels: &StringMap) {
        for (k, v) in labels {
            if let Some(values) = self.pairs.get_mut(k) {
                if let Some(ids) = values.get_mut(v) {
                    remove_sorted(ids, id);
                    if ids.is_empty() {
                        values.remove(v);
                    }
                }
                if values.is_empty() {
                    self.pairs.remove(k);
                }
            }
            if let Some(ids) = self.keys.get_mut(k) {
                remove_sorted(ids, id);
                if ids.is_empty() {
                    self.keys.remove(k);
                }
            }
        }
    }

    fn pair(&self, k: &str, v: &str) -> &[u32] {
        self.pairs
            .get(k)
            .and_then(|m| m.get(v))
            .map_or(&[], Vec::as_slice)
    }

    fn key(&self, k: &str) -> &[u32] {
        self.keys.get(k).map_or(&[], Vec::as_slice)
    }

    /// A superset of the ids `sel` matches, from posting-list intersections of its positive
    /// constraints (`None`: the selector has none, every id is a candidate). Callers still
    /// check each candidate exactly.
    pub(crate) fn candidates(
        &self,
        sel: &LabelSelector,
        extra: Option<&[u32]>,
    ) -> Option<Vec<u32>> {
        let mut lists: Vec<&[u32]> = Vec::new();
        let mut owned: Vec<Vec<u32>> = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            lists.push(self.pair(k, v));
        }
        for e in sel.match_expressions.iter().flatten() {
            match e.operator.as_str() {
                "In" => {
                    let parts: Vec<&[u32]> = e
                        .values
                        .iter()
                        .flatten()
                        .map(|v| self.pair(&e.key, v))
                        .collect();
                    owned.push(union_sorted(&parts));
                }
                "Exists" => lists.push(self.key(&e.key)),
                "NotIn" | "DoesNotExist" => {}
                // An invalid operator matches nothing.
                _ => return Some(vec![]),
            }
        }
        lists.extend(owned.iter().map(Vec::as_slice));
        if let Some(x) = extra {
            lists.push(x);
        }
        if lists.is_empty() {
            None
        } else {
            Some(intersect(lists))
        }
    }
}

/// Which terms a new or changed identity can join.
#[derive(Debug, Clone, Default)]
pub(crate) struct Anchors {
    by_ns: FxMap<String, Vec<u32>>,
    by_label: FxMap<String, FxMap<String, Vec<u32>>>,
    by_ns_label: FxMap<String, FxMap<String, Vec<u32>>>,
    wild: Vec<u32>,
    /// Terms with a Node part (Nodes, Group).
    pub(crate) node_terms: Vec<u32>,
    /// Terms whose members depend on Services or DNS (Group with serviceReference, FQDN).
    pub(crate) group_terms: Vec<u32>,
    pub(crate) fqdn_terms: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Anchor {
    None,
    Ns(String),
    Label(String, String),
    NsLabel(String, String),
    Wild,
}

impl Anchors {
    fn list_mut(&mut self, a: &Anchor) -> Option<&mut Vec<u32>> {
        match a {
            Anchor::None => None,
            Anchor::Ns(n) => Some(self.by_ns.entry(n.clone()).or_default()),
            Anchor::Label(k, v) => Some(
                self.by_label
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default(),
            ),
            Anchor::NsLabel(k, v) => Some(
                self.by_ns_label
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default(),
            ),
            Anchor::Wild => Some(&mut self.wild),
        }
    }

    pub(crate) fn add(&mut self, t: u32, a: &Anchor) {
        if let Some(l) = self.list_mut(a) {
            insert_sorted(l, t);
        }
    }

    pub(crate) fn remove(&mut self, t: u32, a: &Anchor) {
        if let Some(l) = self.list_mut(a) {
            remove_sorted(l, t);
        }
    }

    /// Terms an identity of namespace `ns` (labels `ns_labels`) with `labels` can be a member of.
    pub(crate) fn candidates(
        &self,
        ns: &str,
        ns_labels: Option<&StringMap>,
        labels: &StringMap,
    ) -> Vec<u32> {
        let mut lists: Vec<&[u32]> = vec![&self.wild];
        if let Some(l) = self.by_ns.get(ns) {
            lists.push(l);
        }
        for (k, v) in labels {
            if let Some(l) = self.by_label.get(k).and_then(|m| m.get(v)) {
                lists.push(l);
            }
        }
        for (k, v) in ns_labels.into_iter().flatten() {
            if let Some(l) = self.by_ns_label.get(k).and_then(|m| m.get(v)) {
                lists.push(l);
            }
        }
        union_sorted(&lists)
    }
}
