//! §1.3 Tier: create, update and delete rules, the limit of twenty, overlapping priorities.

use crate::support::*;

fn rejected(r: Result<Admitted, AdmissionError>) -> (String, String) {
    let e = r.unwrap_err();
    (e.field, e.message)
}

#[test]
fn create_rules() {
    let mut store = Store::new();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert!(apply(&mut store, &tier("tier-prio-20", 20)).is_ok());
    assert_eq!(
        rejected(apply(&mut store, &tier("another-tier-prio-20", 20))),
        s(
            "spec.priority",
            "tier another-tier-prio-20 priority 20 overlaps with existing Tier"
        )
    );
    assert_eq!(
        rejected(apply(&mut store, &tier("t250", 250))),
        s(
            "spec.priority",
            "tier t250 priority 250 overlaps with existing Tier"
        )
    );
    assert_eq!(
        rejected(apply(&mut store, &tier("t253", 253))),
        s(
            "spec.priority",
            "tier t253 priority 253 overlaps with existing Tier"
        )
    );
    for p in RESERVED_PRIORITIES {
        assert_eq!(
            rejected(apply(&mut store, &tier("r", p.into()))),
            s("spec.priority", &format!("tier r priority {p} is reserved"))
        );
    }
    assert!(
        apply(&mut store, &tier("t220", 220)).is_ok(),
        "220 is free with the CNP gate off"
    );
    let gates = FeatureGates {
        cluster_network_policy: true,
        ..Default::default()
    };
    let err = admit_apply_with(&Store::new(), object(&tier("cnp", 220)), &gates).unwrap_err();
    assert_eq!(
        err.message,
        "tier cnp priority 220 is reserved for upstream ClusterNetworkPolicy when the ClusterNetworkPolicy feature gate is enabled; choose a different priority"
    );
}

#[test]
fn at_most_twenty() {
    let mut store = Store::new();
    for p in 1..=14 {
        assert!(apply(&mut store, &tier(&format!("t{p}"), p)).is_ok(), "{p}");
    }
    let err = apply(&mut store, &tier("t15", 15)).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        ("", "maximum number of Tiers supported: 20")
    );
    // An update is not a create: still allowed at the limit.
    assert_eq!(
        apply(&mut store, &tier("t1", 1)).map(|a| a.operation),
        Ok(Operation::Update)
    );
}

#[test]
fn update_rules() {
    let mut store = Store::new();
    apply(&mut store, &tier("t", 20)).unwrap();
    let err = apply(&mut store, &tier("t", 21)).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        ("spec.priority", "update to Tier priority is not allowed")
    );
    let described = r#"{"apiVersion":"crd.antrea.io/v1beta1","kind":"Tier","metadata":{"name":"t"},"spec":{"priority":20,"description":"mine"}}"#;
    assert!(apply(&mut store, described).is_ok());
    let err = apply(&mut store, &tier("application", 240)).unwrap_err();
    assert_eq!(err.message, "update to Tier priority is not allowed");
}

#[test]
fn delete_rules() {
    let mut store = Store::new();
    apply(&mut store, &tier("mytier", 20)).unwrap();
    apply(&mut store, &tier("free", 21)).unwrap();
    for n in ["a", "b"] {
        let text = format!(
            r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterNetworkPolicy","metadata":{{"name":"{n}"}},"spec":{{"priority":1,"tier":"mytier",{AT}}}}}"#
        );
        apply(&mut store, &text).unwrap();
    }
    let del = |store: &Store, name: &str| {
        admit_delete(store, &ObjectKey::cluster(Kind::Tier, name)).map_err(|e| e.message)
    };
    for reserved in [
        "baseline",
        "application",
        "platform",
        "networkops",
        "securityops",
        "emergency",
    ] {
        assert_eq!(
            del(&store, reserved),
            Err(format!("cannot delete reserved tier {reserved}"))
        );
    }
    assert_eq!(
        del(&store, "mytier"),
        Err("tier mytier is referenced by 2 Antrea ClusterNetworkPolicies".to_string())
    );
    assert_eq!(del(&store, "free"), Ok(()));
    assert_eq!(del(&store, "missing"), Err("not found".to_string()));
    store.remove(&ObjectKey::cluster(Kind::ClusterNetworkPolicy, "a"));
    store.remove(&ObjectKey::cluster(Kind::ClusterNetworkPolicy, "b"));
    apply(
        &mut store,
        &annp(&format!(r#"{{"priority":1,"tier":"mytier",{AT}}}"#)),
    )
    .unwrap();
    assert_eq!(
        del(&store, "mytier"),
        Err("tier mytier is referenced by 1 Antrea NetworkPolicies".to_string())
    );
}

#[test]
fn scenario_05_overlapping_priority() {
    let mut store = Store::new();
    let first = "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata:\n  name: tier-prio-20\nspec:\n  priority: 20\n";
    let second = "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata:\n  name: another-tier-prio-20\nspec:\n  priority: 20\n";
    apply(&mut store, first).unwrap();
    let err = apply(&mut store, second).unwrap_err();
    assert!(
        err.to_string()
            .contains("tier another-tier-prio-20 priority 20 overlaps with existing Tier"),
        "{err}"
    );
    assert_eq!(
        admit_delete(&store, &ObjectKey::cluster(Kind::Tier, "tier-prio-20")),
        Ok(())
    );
}
