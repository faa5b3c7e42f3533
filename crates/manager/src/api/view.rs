//! A read view of the store with the changes of a request applied on top, so that lock checks and
//! validation see the state a batch would produce before it is committed.

use crate::store::{Document, Store, StoreError, children};
use std::collections::BTreeMap;

/// The store as it will be after the pending changes.
pub struct View<'a> {
    store: &'a dyn Store,
    /// Path → new document, or `None` for a deleted path.
    pending: BTreeMap<String, Option<Document>>,
    /// Roots of deleted subtrees.
    deleted_trees: Vec<String>,
}

fn inside(path: &str, root: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl<'a> View<'a> {
    pub fn new(store: &'a dyn Store) -> View<'a> {
        View {
            store,
            pending: BTreeMap::new(),
            deleted_trees: Vec::new(),
        }
    }

    pub fn store(&self) -> &'a dyn Store {
        self.store
    }

    pub fn put(&mut self, path: &str, doc: Document) {
        self.pending.insert(path.to_string(), Some(doc));
    }

    pub fn delete_tree(&mut self, path: &str) {
        self.pending.retain(|p, _| !inside(p, path));
        self.pending.insert(path.to_string(), None);
        self.deleted_trees.push(path.to_string());
    }

    pub fn get(&self, path: &str) -> Result<Option<Document>, StoreError> {
        if let Some(v) = self.pending.get(path) {
            return Ok(v.clone());
        }
        if self.deleted_trees.iter().any(|t| inside(path, t)) {
            return Ok(None);
        }
        self.store.get(path)
    }

    /// The direct children `{parent}/{collection}/{id}`, ordered by path.
    pub fn children(
        &self,
        parent: &str,
        collection: &str,
    ) -> Result<Vec<(String, Document)>, StoreError> {
        let mut out: BTreeMap<String, Document> = BTreeMap::new();
        for (p, d) in children(self.store, parent, collection)? {
            if !self.deleted_trees.iter().any(|t| inside(&p, t)) {
                out.insert(p, d);
            }
        }
        let prefix = format!("{parent}/{collection}/");
        for (p, d) in &self.pending {
            if let Some(rest) = p.strip_prefix(&prefix) {
                if rest.contains('/') {
                    continue;
                }
                match d {
                    Some(doc) => {
                        out.insert(p.clone(), doc.clone());
                    }
                    None => {
                        out.remove(p);
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Expect, Put, RedbStore, WriteOp};
    use serde_json::json;

    #[test]
    fn pending_changes_shadow_the_store() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let put = |p: &str| {
            WriteOp::Put(Put {
                path: p.into(),
                body: Document::new(),
                expect: Expect::Any,
                user: "u".into(),
                assign_rule_id: false,
            })
        };
        let pol = "/infra/domains/default/security-policies/p";
        store
            .commit(vec![
                put(pol),
                put(&format!("{pol}/rules/a")),
                put(&format!("{pol}/rules/b")),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let mut view = View::new(&store);
        view.delete_tree(&format!("{pol}/rules/a"));
        let doc = json!({"id": "c"}).as_object().cloned().unwrap_or_default();
        view.put(&format!("{pol}/rules/c"), doc);
        let ids: Vec<String> = view
            .children(pol, "rules")
            .unwrap_or_default()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            ids,
            vec![format!("{pol}/rules/b"), format!("{pol}/rules/c")]
        );
        view.delete_tree(pol);
        assert_eq!(view.children(pol, "rules").map(|c| c.len()).ok(), Some(0));
        assert_eq!(view.get(&format!("{pol}/rules/b")).ok(), Some(None));
    }
}
