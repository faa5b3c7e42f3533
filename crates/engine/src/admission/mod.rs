//! TEMPORARY STUB (being replaced by the full admission module): accepts everything,
//! defaults the tier. Keeps the public API: Operation, AdmissionError, Admitted, admit_apply,
//! admit_delete, generated_rule_name, Direction.

use crate::store::Store;
use tierwall_model::{Object, ObjectKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}: {}", object.describe(), field, message)]
pub struct AdmissionError {
    pub object: ObjectKey,
    pub field: String,
    pub message: String,
}

pub struct Admitted {
    pub object: Object,
    pub operation: Operation,
    pub warnings: Vec<String>,
}

pub fn admit_apply(store: &Store, mut object: Object) -> Result<Admitted, AdmissionError> {
    let operation = if store.contains(&object.key()) { Operation::Update } else { Operation::Create };
    if let Object::AntreaPolicy(_, p) = &mut object {
        if p.spec.tier.is_empty() {
            p.spec.tier = "application".into();
        }
    }
    Ok(Admitted { object, operation, warnings: vec![] })
}

pub fn admit_delete(_store: &Store, _key: &ObjectKey) -> Result<(), AdmissionError> {
    Ok(())
}
