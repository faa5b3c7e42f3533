//! What every rule evaluation of one trace needs: the groups and services by path, the
//! clusters' inventories (and, cached, those of each set of spanned clusters), and the flow.

use super::flow::TraceFlow;
use crate::model::ClusterInventory;
use crate::validate::MapLookup;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// What every rule evaluation needs.
pub(super) struct Context<'a> {
    pub(super) lookup: &'a MapLookup,
    pub(super) inventories: &'a [ClusterInventory],
    pub(super) flow: &'a TraceFlow,
    /// The inventories of each set of spanned clusters met so far.
    pub(super) spanned_inventories: RefCell<BTreeMap<BTreeSet<String>, Rc<Vec<ClusterInventory>>>>,
}

impl Context<'_> {
    /// The inventories of `clusters`.
    pub(super) fn inventories_of(&self, clusters: &BTreeSet<String>) -> Rc<Vec<ClusterInventory>> {
        let mut cache = self.spanned_inventories.borrow_mut();
        let entry = cache.entry(clusters.clone()).or_insert_with(|| {
            Rc::new(
                self.inventories
                    .iter()
                    .filter(|i| clusters.contains(&i.cluster_id))
                    .cloned()
                    .collect(),
            )
        });
        Rc::clone(entry)
    }
}
