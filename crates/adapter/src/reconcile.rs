//! The diff between what the cluster should hold and what it holds: which managed objects to
//! PUT (missing, changed by the intent, or edited by hand) and which to DELETE (managed, but no
//! longer desired). Unmanaged objects never enter the diff.
//!
//! Only the part the adapter owns is compared: labels, annotations and `spec`. Admission may
//! complete an object (a default, a generated name); so that such an object is not rewritten on
//! every pass, the adapter remembers, per key, the desired content it last wrote and the content
//! the controller held right after that write ([`WriteMemory`]): an object equal to either is in
//! sync.
//!
//! Order: PUTs as the controller applies them (Tiers, ClusterGroups without children, parent
//! ClusterGroups, policies); DELETEs in the reverse order (policies first, so that no group or
//! Tier is still in use when it goes).
//!
//! A write the controller refuses (admission: 400, 409, 422) is not retried on every pass:
//! [`Refusals`] holds it back with exponential backoff (1 s, doubling, at most 60 s by default),
//! per object. The backoff starts again from its first step as soon as the desired object
//! differs from the one refused (the intent changed, so the next pass writes it at once); an
//! accepted write ends it. Meanwhile the refusal's message stays what realization reports.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tierwall_model::{Kind, ObjectKey};

/// The part of an object the adapter owns.
pub fn managed_content(object: &Value) -> Value {
    let meta = object.get("metadata");
    let or_empty = |v: Option<&Value>| match v {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => Value::Object(Map::new()),
    };
    json!({
        "labels": or_empty(meta.and_then(|m| m.get("labels"))),
        "annotations": or_empty(meta.and_then(|m| m.get("annotations"))),
        "spec": object.get("spec").cloned().unwrap_or(Value::Null),
    })
}

/// The key of an object given as JSON (`None`: not a kind tierwall knows).
pub fn key_of(object: &Value) -> Option<ObjectKey> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let kind = Kind::from_type_meta(api_version, object.get("kind")?.as_str()?)?;
    let meta = object.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .or(kind.is_namespaced().then_some("default"));
    Some(ObjectKey::new(kind, namespace, name))
}

/// One object the cluster should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub key: ObjectKey,
    /// The whole object, as written.
    pub body: Value,
    /// Its [`managed_content`].
    pub content: Value,
}

impl DesiredObject {
    pub fn new(key: ObjectKey, body: Value) -> Self {
        let content = managed_content(&body);
        DesiredObject { key, body, content }
    }

    fn has_child_groups(&self) -> bool {
        self.content["spec"]["childGroups"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    }
}

/// What the adapter last wrote, per key: the desired content, and the content in force right
/// after the write (`None` when it could not be read back).
#[derive(Debug, Clone, Default)]
pub struct WriteMemory(BTreeMap<ObjectKey, (Value, Option<Value>)>);

impl WriteMemory {
    /// Records a write of `desired` that left `in_force` in the cluster.
    pub fn record(&mut self, key: &ObjectKey, desired: &Value, in_force: Option<Value>) {
        self.0.insert(key.clone(), (desired.clone(), in_force));
    }

    pub fn forget(&mut self, key: &ObjectKey) {
        self.0.remove(key);
    }

    /// Whether `existing` is what writing `desired` produced.
    fn accepts(&self, key: &ObjectKey, desired: &Value, existing: &Value) -> bool {
        self.0
            .get(key)
            .is_some_and(|(d, f)| d == desired && f.as_ref() == Some(existing))
    }
}

/// Why an object is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutReason {
    /// The cluster does not hold it (new, or deleted by hand).
    Missing,
    /// It differs from the intent (the intent changed, or it was edited by hand).
    Differs,
}

/// The writes of one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub puts: Vec<(ObjectKey, PutReason)>,
    pub deletes: Vec<ObjectKey>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }
}

fn put_rank(object: &DesiredObject) -> u8 {
    match object.key.kind {
        Kind::Tier => 0,
        Kind::ClusterGroup | Kind::Group if !object.has_child_groups() => 1,
        Kind::ClusterGroup | Kind::Group => 2,
        Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy | Kind::NetworkPolicy => 3,
        _ => 4,
    }
}

fn delete_rank(key: &ObjectKey, existing: &Value) -> u8 {
    let parent = existing["spec"]["childGroups"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    match key.kind {
        Kind::ClusterNetworkPolicy | Kind::AntreaNetworkPolicy | Kind::NetworkPolicy => 0,
        Kind::ClusterGroup | Kind::Group if parent => 1,
        Kind::ClusterGroup | Kind::Group => 2,
        Kind::Tier => 3,
        _ => 4,
    }
}

/// The writes that bring `existing` (the managed objects in force, by key, as their
/// [`managed_content`]) to `desired`.
pub fn plan(
    desired: &[DesiredObject],
    existing: &BTreeMap<ObjectKey, Value>,
    memory: &WriteMemory,
) -> Plan {
    let mut puts: Vec<(u8, usize, ObjectKey, PutReason)> = Vec::new();
    for (index, object) in desired.iter().enumerate() {
        let reason = match existing.get(&object.key) {
            None => Some(PutReason::Missing),
            Some(e) if *e == object.content => None,
            Some(e) if memory.accepts(&object.key, &object.content, e) => None,
            Some(_) => Some(PutReason::Differs),
        };
        if let Some(reason) = reason {
            puts.push((put_rank(object), index, object.key.clone(), reason));
        }
    }
    puts.sort_by_key(|p| (p.0, p.1));
    let wanted: std::collections::BTreeSet<&ObjectKey> = desired.iter().map(|d| &d.key).collect();
    let mut deletes: Vec<(u8, ObjectKey)> = existing
        .iter()
        .filter(|(k, _)| !wanted.contains(k))
        .map(|(k, v)| (delete_rank(k, v), k.clone()))
        .collect();
    deletes.sort();
    Plan {
        puts: puts.into_iter().map(|(_, _, k, r)| (k, r)).collect(),
        deletes: deletes.into_iter().map(|(_, k)| k).collect(),
    }
}

/// What was refused: a PUT of this content, or a DELETE.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Put(Value),
    Delete,
}

/// One refused write and when it may be tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub attempt: Attempt,
    /// The controller's message.
    pub message: String,
    /// The wait before the next attempt.
    pub delay: Duration,
    pub retry_at: Instant,
}

/// The writes the controller refused, per key, with their backoff (see the module doc).
#[derive(Debug, Clone)]
pub struct Refusals {
    entries: BTreeMap<ObjectKey, Refusal>,
    first: Duration,
    max: Duration,
}

/// First wait after a refusal, and the largest.
pub const DEFAULT_REFUSAL_BACKOFF: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(60));

impl Default for Refusals {
    fn default() -> Self {
        Refusals::new(DEFAULT_REFUSAL_BACKOFF.0, DEFAULT_REFUSAL_BACKOFF.1)
    }
}

impl Refusals {
    /// Waits start at `first` and double up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Refusals {
            entries: BTreeMap::new(),
            first,
            max: max.max(first),
        }
    }

    /// Records that `attempt` on `key` was refused at `now`; the wait before the next attempt:
    /// the first step for a new refusal or a different attempt, else twice the last (capped).
    pub fn refused(
        &mut self,
        key: &ObjectKey,
        attempt: Attempt,
        message: String,
        now: Instant,
    ) -> Duration {
        let delay = match self.entries.get(key) {
            Some(r) if r.attempt == attempt => (r.delay * 2).min(self.max),
            _ => self.first,
        };
        self.entries.insert(
            key.clone(),
            Refusal {
                attempt,
                message,
                delay,
                retry_at: now + delay,
            },
        );
        delay
    }

    /// Whether `attempt` on `key` must wait: the same attempt was refused and its time to retry
    /// has not come. A different attempt (the desired object changed) never waits.
    pub fn holds_back(&self, key: &ObjectKey, attempt: &Attempt, now: Instant) -> bool {
        self.entries
            .get(key)
            .is_some_and(|r| r.attempt == *attempt && now < r.retry_at)
    }

    /// A write of `key` was accepted: its backoff ends. True when it had been refused.
    pub fn accepted(&mut self, key: &ObjectKey) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Keeps the refusals of PUTs whose key `is_desired`, and of DELETEs whose key
    /// `is_stale` (still to be deleted); the rest no longer matters.
    pub fn retain(
        &mut self,
        is_desired: impl Fn(&ObjectKey) -> bool,
        is_stale: impl Fn(&ObjectKey) -> bool,
    ) {
        self.entries.retain(|key, r| match r.attempt {
            Attempt::Put(_) => is_desired(key),
            Attempt::Delete => is_stale(key),
        });
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Refusal> {
        self.entries.get(key)
    }

    /// The controller's message for every refused PUT (what realization reports as ERROR).
    pub fn put_messages(&self) -> BTreeMap<ObjectKey, String> {
        self.entries
            .iter()
            .filter(|(_, r)| matches!(r.attempt, Attempt::Put(_)))
            .map(|(k, r)| (k.clone(), r.message.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_writes_back_off_exponentially_and_reset_when_the_object_changes() {
        let key = ObjectKey::cluster(Kind::Tier, "nsx-category-application");
        let v1 = Attempt::Put(json!({"spec": {"priority": 4}}));
        let v2 = Attempt::Put(json!({"spec": {"priority": 5}}));
        let mut refusals = Refusals::default();
        let t0 = Instant::now();
        assert!(!refusals.holds_back(&key, &v1, t0));
        let delays: Vec<u64> = (0..9)
            .map(|i| {
                refusals
                    .refused(&key, v1.clone(), format!("no {i}"), t0)
                    .as_secs()
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let refusal = refusals.get(&key).cloned().unwrap_or_else(|| panic!());
        assert_eq!(refusal.message, "no 8", "the latest message is kept");
        assert!(refusals.holds_back(&key, &v1, t0 + Duration::from_secs(59)));
        assert!(!refusals.holds_back(&key, &v1, t0 + Duration::from_secs(60)));
        // The desired object changed: written at once, and a refusal starts from 1 s again.
        assert!(!refusals.holds_back(&key, &v2, t0));
        assert_eq!(
            refusals.refused(&key, v2.clone(), "still no".into(), t0),
            Duration::from_secs(1)
        );
        assert_eq!(
            refusals.put_messages().get(&key).map(String::as_str),
            Some("still no")
        );
        assert!(refusals.accepted(&key));
        assert!(!refusals.holds_back(&key, &v2, t0));
        assert!(refusals.put_messages().is_empty());
        // Deletes back off too, and are forgotten once the object is no longer stale.
        refusals.refused(&key, Attempt::Delete, "in use".into(), t0);
        assert!(refusals.holds_back(&key, &Attempt::Delete, t0));
        assert!(
            refusals.put_messages().is_empty(),
            "a delete is no put error"
        );
        refusals.retain(|_| false, |_| false);
        assert!(refusals.get(&key).is_none());
    }

    fn object(kind: &str, api: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name,
            "labels": {"ccp-adapter.antrea.tanzu.vmware.com/managedBy": "ccp-adapter"}}, "spec": spec})
    }

    fn desired(v: Value) -> DesiredObject {
        DesiredObject::new(key_of(&v).unwrap_or_else(|| panic!("no key: {v}")), v)
    }

    #[test]
    fn missing_changed_and_stale_objects_are_planned_in_dependency_order() {
        let tier = desired(object(
            "Tier",
            "crd.antrea.io/v1beta1",
            "nsx-category-application",
            json!({"priority": 4}),
        ));
        let parent = desired(object(
            "ClusterGroup",
            "crd.antrea.io/v1beta1",
            "g",
            json!({"childGroups": ["g-0"]}),
        ));
        let child = desired(object(
            "ClusterGroup",
            "crd.antrea.io/v1beta1",
            "g-0",
            json!({"podSelector": {}}),
        ));
        let policy = desired(object(
            "ClusterNetworkPolicy",
            "crd.antrea.io/v1beta1",
            "p",
            json!({"priority": 1.5}),
        ));
        let all = vec![tier.clone(), parent.clone(), child.clone(), policy.clone()];

        let mut existing = BTreeMap::new();
        let none = plan(&all, &existing, &WriteMemory::default());
        let order: Vec<String> = none.puts.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            order,
            ["tr/nsx-category-application", "cg/g-0", "cg/g", "acnp/p"]
        );
        assert!(none.puts.iter().all(|(_, r)| *r == PutReason::Missing));

        for d in &all {
            existing.insert(d.key.clone(), d.content.clone());
        }
        assert!(plan(&all, &existing, &WriteMemory::default()).is_empty());

        // A hand edit of the policy, and a stale managed policy.
        let edited = managed_content(&object(
            "ClusterNetworkPolicy",
            "crd.antrea.io/v1beta1",
            "p",
            json!({"priority": 9}),
        ));
        existing.insert(policy.key.clone(), edited.clone());
        let stale = object(
            "ClusterNetworkPolicy",
            "crd.antrea.io/v1beta1",
            "old",
            json!({}),
        );
        existing.insert(
            key_of(&stale).unwrap_or_else(|| panic!()),
            managed_content(&stale),
        );
        let stale_group = object("ClusterGroup", "crd.antrea.io/v1beta1", "oldg", json!({}));
        existing.insert(
            key_of(&stale_group).unwrap_or_else(|| panic!()),
            managed_content(&stale_group),
        );
        let p = plan(&all, &existing, &WriteMemory::default());
        assert_eq!(p.puts, vec![(policy.key.clone(), PutReason::Differs)]);
        let deletes: Vec<String> = p.deletes.iter().map(ToString::to_string).collect();
        assert_eq!(
            deletes,
            ["acnp/old", "cg/oldg"],
            "policies go before the groups they use"
        );

        // What admission made of the last write is accepted; anything else is drift.
        let mut memory = WriteMemory::default();
        memory.record(&policy.key, &policy.content, Some(edited.clone()));
        assert!(plan(&all, &existing, &memory).puts.is_empty());
        memory.record(&policy.key, &json!({"older": true}), Some(edited));
        assert_eq!(
            plan(&all, &existing, &memory).puts.len(),
            1,
            "the intent changed since"
        );
    }

    #[test]
    fn keys_come_from_type_meta() {
        let v = object(
            "ClusterNetworkPolicy",
            "crd.antrea.io/v1beta1",
            "p",
            json!({}),
        );
        assert_eq!(key_of(&v).map(|k| k.to_string()).as_deref(), Some("acnp/p"));
        assert_eq!(key_of(&json!({"kind": "Nope"})), None);
    }
}
