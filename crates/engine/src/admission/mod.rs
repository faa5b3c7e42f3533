//! Admission: what the Kubernetes API server and Antrea's webhooks do to an object before it is
//! stored — schema field checks and defaulting, mutation (generated rule names, default Tier, the Namespace
//! name label), then validation with the exact texts of the real components. The first failing
//! check wins; the error carries the JSON path of the offending field.
//!
//! ```text
//!  admit_apply(store, object)
//!    normalise namespace ─> fields the CRD schema lacks ─> mutate / default ─> metadata checks
//!      ─> OpenAPI checks (CRDs) ─> validating webhook (Antrea) or API validation (k8s)
//!  admit_delete(store, key): Tier deletion checks; every other delete is allowed
//! ```
//!
//! Sections of the reference (`antrea-semantics.md` §1): mutation §1.1 (`policy`,
//! `rule_name`), ACNP/ANNP §1.2 (`policy`), Tier §1.3 (`tier`), ClusterGroup/Group §1.4
//! (`group`), OpenAPI §1.5 (`schema`); Kubernetes NetworkPolicy (`k8s_netpol`); other core
//! objects (`objects`); names and labels (`labels`, `meta`); addresses (`net`).

mod feature_gates;
mod field;
mod group;
mod k8s_netpol;
mod labels;
mod meta;
mod net;
mod objects;
mod policy;
mod rule_name;
mod schema;
mod tier;

#[cfg(test)]
mod tests;

pub use feature_gates::FeatureGates;
pub use objects::NAMESPACE_NAME_LABEL;
pub use policy::LEGACY_STATIC_TIERS;
pub use rule_name::{Direction, generated_rule_name, go_json as rule_go_json};
pub use tier::{MAX_TIERS, RESERVED_PRIORITIES};

use crate::store::Store;
use field::Violation;
use std::fmt;
use tierwall_model::{Object, ObjectKey};

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// A rejection: the object, the JSON path of the offending field (empty when the check is not
/// about one field) and the message of the real webhook or API server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct AdmissionError {
    pub object: ObjectKey,
    pub field: String,
    pub message: String,
}

impl fmt::Display for AdmissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.object.describe(), self.message)
        } else {
            write!(
                f,
                "{}: {}: {}",
                self.object.describe(),
                self.field,
                self.message
            )
        }
    }
}

/// An accepted create or update.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    /// The object after defaulting and mutation: what gets stored.
    pub object: Object,
    /// `object.key()`.
    pub key: ObjectKey,
    pub operation: Operation,
    /// Warnings returned with the admission response (the object is still accepted).
    pub warnings: Vec<String>,
}

/// Create-or-replace: Create when the key is not in the store, else Update. Runs mutation then
/// validation, with the default feature gates.
pub fn admit_apply(store: &Store, object: Object) -> Result<Admitted, AdmissionError> {
    admit_apply_with(store, object, &FeatureGates::default())
}

/// `admit_apply` with explicit feature gates.
pub fn admit_apply_with(
    store: &Store,
    object: Object,
    gates: &FeatureGates,
) -> Result<Admitted, AdmissionError> {
    let mut object = object;
    meta::normalize_namespace(&mut object);
    let key = object.key();
    let old = store.get(&key);
    let operation = if old.is_some() {
        Operation::Update
    } else {
        Operation::Create
    };
    let reject = |v: Violation| AdmissionError {
        object: key.clone(),
        field: v.field,
        message: v.message,
    };

    // Fields the CRD schemas lack (rejected, where the API server would prune them).
    match &object {
        Object::AntreaPolicy(kind, p) => schema::check_policy_fields(*kind, p).map_err(reject)?,
        Object::AntreaGroup(kind, g) => schema::check_group_fields(*kind, g).map_err(reject)?,
        _ => {}
    }

    // Defaulting and mutating webhooks.
    match &mut object {
        Object::AntreaPolicy(_, p) => policy::mutate(p),
        Object::NetworkPolicy(np) => k8s_netpol::set_defaults(np),
        Object::Namespace(ns) => objects::mutate_namespace(ns),
        _ => {}
    }

    meta::validate(key.kind, object.metadata()).map_err(reject)?;

    let mut warnings = Vec::new();
    match &object {
        Object::Tier(t) => {
            schema::check_tier(t).map_err(reject)?;
            match old {
                Some(Object::Tier(old)) => tier::validate_update(old, t),
                _ => tier::validate_create(store, t, gates),
            }
            .map_err(reject)?;
        }
        Object::AntreaPolicy(kind, p) => {
            schema::check_policy(*kind, p).map_err(reject)?;
            warnings = policy::validate(store, p, gates).map_err(reject)?;
        }
        Object::AntreaGroup(kind, g) => group::validate(store, *kind, g).map_err(reject)?,
        Object::NetworkPolicy(np) => k8s_netpol::validate(np).map_err(reject)?,
        Object::Pod(pod) => objects::validate_pod(pod).map_err(reject)?,
        Object::Service(svc) => objects::validate_service(svc).map_err(reject)?,
        Object::Namespace(_) | Object::Node(_) | Object::ServiceAccount(_) => {}
        // Inventory only: stored and reported, no policy semantics to check.
        Object::Egress(_) | Object::AntreaIpPool(..) | Object::Ingress(_) | Object::Gateway(_) => {}
    }
    debug_assert_eq!(key, object.key());
    Ok(Admitted {
        object,
        key,
        operation,
        warnings,
    })
}

/// Delete: checks reserved and referenced Tiers; all other deletes are allowed. A key that is
/// not in the store is rejected with `not found`.
pub fn admit_delete(store: &Store, key: &ObjectKey) -> Result<(), AdmissionError> {
    let reject = |v: Violation| AdmissionError {
        object: key.clone(),
        field: v.field,
        message: v.message,
    };
    match store.get(key) {
        None => Err(reject(Violation::new("", "not found"))),
        Some(Object::Tier(t)) => tier::validate_delete(store, t).map_err(reject),
        Some(_) => Ok(()),
    }
}
