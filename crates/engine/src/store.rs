//! `Store`: the desired state of one cluster as typed objects keyed by `ObjectKey`, with the
//! Antrea system Tiers present from the start. Admission reads it; the engine's index is fed from it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use tierwall_model::antrea::{Tier, TierSpec};
use tierwall_model::{Kind, Object, ObjectKey, ObjectMeta};

/// The static Tiers Antrea creates at start-up: (name, priority).
pub const SYSTEM_TIERS: [(&str, i32); 6] = [
    ("emergency", 50),
    ("securityops", 100),
    ("networkops", 150),
    ("platform", 200),
    ("application", 250),
    ("baseline", 253),
];

/// Name of the default Tier of an Antrea-native policy without `tier`.
pub const DEFAULT_TIER: &str = "application";
/// Name of the Tier enforced after Kubernetes NetworkPolicies.
pub const BASELINE_TIER: &str = "baseline";

/// All objects of a cluster, ordered by key (so listings are deterministic). Objects are boxed:
/// an `Object` is a few kilobytes inline, and the map moves its values when its nodes split.
#[derive(Debug, Clone)]
pub struct Store {
    objects: BTreeMap<ObjectKey, Box<Object>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// A store holding only the system Tiers.
    pub fn new() -> Self {
        let mut store = Store {
            objects: BTreeMap::new(),
        };
        for (name, priority) in SYSTEM_TIERS {
            let tier = Object::Tier(system_tier(name, priority));
            store.objects.insert(tier.key(), Box::new(tier));
        }
        store
    }

    /// A store with no objects at all (not even the system Tiers).
    pub fn empty() -> Self {
        Store {
            objects: BTreeMap::new(),
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.get(key).map(|o| &**o)
    }

    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.objects.contains_key(key)
    }

    /// Inserts or replaces; returns the previous object.
    pub fn put(&mut self, object: Object) -> Option<Object> {
        self.objects
            .insert(object.key(), Box::new(object))
            .map(|o| *o)
    }

    /// The map slot of `key` (one search to read the old object and store the new one).
    pub(crate) fn slot(&mut self, key: ObjectKey) -> Entry<'_, ObjectKey, Box<Object>> {
        self.objects.entry(key)
    }

    pub fn remove(&mut self, key: &ObjectKey) -> Option<Object> {
        self.objects.remove(key).map(|o| *o)
    }

    /// All objects, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = &Object> {
        self.objects.values().map(|o| &**o)
    }

    /// All objects of one kind, ordered by namespace and name.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        let start = ObjectKey {
            kind,
            namespace: None,
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(move |(k, _)| k.kind == kind)
            .map(|(_, o)| &**o)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The Tier object named `name`, if any.
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        match self.get(&ObjectKey::cluster(Kind::Tier, name)) {
            Some(Object::Tier(t)) => Some(t),
            _ => None,
        }
    }
}

/// A system Tier object as Antrea creates it.
pub fn system_tier(name: &str, priority: i32) -> Tier {
    let title = match name {
        "securityops" => "SecurityOps".to_string(),
        "networkops" => "NetworkOps".to_string(),
        n => {
            let mut c = n.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    };
    Tier {
        api_version: Kind::Tier.api_version().to_string(),
        kind: "Tier".to_string(),
        metadata: ObjectMeta {
            name: name.to_string(),
            generation: Some(1),
            ..Default::default()
        },
        spec: TierSpec {
            priority,
            description: Some(format!("[READ-ONLY]: System generated {title} Tier")),
        },
    }
}

/// True for the names of the static Tiers.
pub fn is_system_tier(name: &str) -> bool {
    SYSTEM_TIERS.iter().any(|(n, _)| *n == name)
}
