//! The admission API itself: error display and the Create/Update/Delete operations.

use crate::support::*;

#[test]
fn error_display() {
    let e = AdmissionError {
        object: ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p"),
        field: "spec.tier".into(),
        message: "tier x does not exist".into(),
    };
    assert_eq!(
        e.to_string(),
        "ClusterNetworkPolicy p: spec.tier: tier x does not exist"
    );
    let e = AdmissionError {
        field: String::new(),
        ..e
    };
    assert_eq!(
        e.to_string(),
        "ClusterNetworkPolicy p: tier x does not exist"
    );
}

#[test]
fn operation_create_then_update_and_delete() {
    let mut store = Store::new();
    let text = with_at(r#""ingress":[{"action":"Allow"}]"#);
    assert_eq!(
        apply(&mut store, &text).map(|a| a.operation),
        Ok(Operation::Create)
    );
    assert_eq!(
        apply(&mut store, &text).map(|a| a.operation),
        Ok(Operation::Update)
    );
    let key = ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p");
    assert_eq!(admit_delete(&store, &key), Ok(()));
    let missing = ObjectKey::cluster(Kind::ClusterNetworkPolicy, "nope");
    let err = admit_delete(&store, &missing).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        ("", "not found")
    );
}
