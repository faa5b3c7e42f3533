//! §1.4 ClusterGroup / Group: field combinations, contents, nesting (per namespace) and
//! updates.

use crate::support::*;

const CG_MSG: &str = "At most one of podSelector, nodeSelector, externalEntitySelector, serviceReference, ipBlock, ipBlocks or childGroups can be set for a ClusterGroup";
const GRP_MSG: &str = "At most one of podSelector, externalEntitySelector, serviceReference, ipBlocks or childGroups can be set for a Group";

#[test]
fn field_combinations_and_contents() {
    let store = Store::new();
    let key_msg =
        Box::leak(format!("Invalid label key: bad key: {NAME_PART}").into_boxed_str()) as &str;
    let cases: Vec<(&str, String, Want)> = vec![
        ("empty spec", cg("c", "{}"), None),
        (
            "ns + pod",
            cg("c", r#"{"namespaceSelector":{},"podSelector":{}}"#),
            None,
        ),
        (
            "ns + ee",
            cg(
                "c",
                r#"{"namespaceSelector":{},"externalEntitySelector":{}}"#,
            ),
            None,
        ),
        (
            "pod + ipBlocks",
            cg(
                "c",
                r#"{"podSelector":{},"ipBlocks":[{"cidr":"10.0.0.10/32"}]}"#,
            ),
            Some(("spec", CG_MSG)),
        ),
        (
            "ns + nodeSelector",
            cg("c", r#"{"namespaceSelector":{},"nodeSelector":{}}"#),
            Some(("spec", CG_MSG)),
        ),
        (
            "three fields",
            cg(
                "c",
                r#"{"namespaceSelector":{},"podSelector":{},"externalEntitySelector":{}}"#,
            ),
            Some(("spec", CG_MSG)),
        ),
        (
            "ipBlock + ipBlocks",
            cg(
                "c",
                r#"{"ipBlock":{"cidr":"10.0.0.0/8"},"ipBlocks":[{"cidr":"10.0.0.0/8"}]}"#,
            ),
            Some(("spec", CG_MSG)),
        ),
        (
            "group svcref + pod",
            grp(
                "x",
                "g",
                r#"{"podSelector":{},"serviceReference":{"name":"s","namespace":"x"}}"#,
            ),
            Some(("spec", GRP_MSG)),
        ),
        (
            "label key",
            cg(
                "c",
                r#"{"namespaceSelector":{"matchLabels":{"bad key":"v"}}}"#,
            ),
            Some(("spec.namespaceSelector.matchLabels", key_msg)),
        ),
        (
            "empty cidr",
            cg("c", r#"{"ipBlocks":[{"cidr":"10.0.0.0/8"},{"cidr":""}]}"#),
            Some((
                "spec.ipBlocks[1].cidr",
                "field 'cidr' is required in an ipBlock",
            )),
        ),
        (
            "bad cidr",
            cg("c", r#"{"ipBlocks":[{"cidr":"10.0.0.300/8"}]}"#),
            Some((
                "spec.ipBlocks[0].cidr",
                "invalid CIDR address: 10.0.0.300/8",
            )),
        ),
        (
            "legacy ipBlock",
            cg(
                "c",
                r#"{"ipBlock":{"cidr":"10.0.0.0/8","except":["12.0.0.0/16"]}}"#,
            ),
            Some((
                "spec.ipBlock.except[0]",
                "except CIDR 12.0.0.0/16 is not a strict subset of CIDR 10.0.0.0/8",
            )),
        ),
        (
            "bad except",
            grp(
                "x",
                "g",
                r#"{"ipBlocks":[{"cidr":"10.0.0.0/8","except":["10.0.0.0"]}]}"#,
            ),
            Some((
                "spec.ipBlocks[0].except[0]",
                "invalid except CIDR value: invalid CIDR address: 10.0.0.0",
            )),
        ),
        (
            "multicast + unicast",
            cg(
                "c",
                r#"{"ipBlocks":[{"cidr":"224.0.0.0/4"},{"cidr":"10.0.0.0/8"}]}"#,
            ),
            Some((
                "spec.ipBlocks[1]",
                "can not set multicast groupAddress together with unicast ip address",
            )),
        ),
        (
            "multicast only",
            cg(
                "c",
                r#"{"ipBlocks":[{"cidr":"224.0.0.0/4"},{"cidr":"ff00::/8"}]}"#,
            ),
            None,
        ),
        (
            "self child",
            cg("c", r#"{"childGroups":["a","c"]}"#),
            Some((
                "spec.childGroups[1]",
                "cannot set ClusterGroup c as its own childGroup",
            )),
        ),
        (
            "group self child",
            grp("x", "g", r#"{"childGroups":["g"]}"#),
            Some((
                "spec.childGroups[0]",
                "cannot set Group x/g as its own childGroup",
            )),
        ),
        (
            "missing children ok",
            cg("c", r#"{"childGroups":["later"]}"#),
            None,
        ),
        (
            "operator",
            cg(
                "c",
                r#"{"nodeSelector":{"matchExpressions":[{"key":"k","operator":"In"}]}}"#,
            ),
            Some((
                "spec.nodeSelector.matchExpressions",
                "values: Required value: must be specified when `operator` is 'In' or 'NotIn' (key k)",
            )),
        ),
    ];
    run(&store, &FeatureGates::default(), &cases);
}

fn expect(r: Result<Admitted, AdmissionError>, want: Option<&str>) {
    match (r, want) {
        (Ok(_), None) => {}
        (Err(e), Some(m)) => assert!(e.to_string().contains(m), "{e}"),
        (Ok(a), Some(m)) => panic!("expected {m}, accepted {:?}", a.object.key()),
        (Err(e), None) => panic!("expected accepted, got {e}"),
    }
}

/// /work/shared/scenarios/antrea/94-validation-clustergroup-combinations.yaml, nesting part.
#[test]
fn scenario_94_nesting() {
    let mut store = Store::new();
    expect(
        apply(&mut store, &cg("test-child-cg", r#"{"podSelector":{}}"#)),
        None,
    );
    expect(
        apply(
            &mut store,
            &cg("cg-nested-1", r#"{"childGroups":["test-child-cg"]}"#),
        ),
        None,
    );
    expect(
        apply(
            &mut store,
            &cg("cg-nested-2", r#"{"childGroups":["cg-nested-1"]}"#),
        ),
        Some("cannot set ClusterGroup cg-nested-1 as childGroup, who has 1 childGroups itself"),
    );
    assert_eq!(
        admit_delete(
            &store,
            &ObjectKey::cluster(Kind::ClusterGroup, "cg-nested-1")
        ),
        Ok(())
    );
    store.remove(&ObjectKey::cluster(Kind::ClusterGroup, "cg-nested-1"));
    expect(
        apply(
            &mut store,
            &cg("cg-nested-2", r#"{"childGroups":["cg-nested-1"]}"#),
        ),
        None,
    );
    expect(
        apply(
            &mut store,
            &cg("cg-nested-1", r#"{"childGroups":["test-child-cg"]}"#),
        ),
        Some("cannot set childGroups for ClusterGroup cg-nested-1, who has 1 parents"),
    );
    // Without childGroups of its own, a child with a parent is fine.
    expect(
        apply(&mut store, &cg("cg-nested-1", r#"{"podSelector":{}}"#)),
        None,
    );
}

/// /work/shared/scenarios/antrea/10-validation-update-group-add-serviceref.yaml.
#[test]
fn scenario_10_group_update() {
    let mut store = Store::new();
    expect(
        apply(
            &mut store,
            &grp(
                "x",
                "g-mix-peer",
                r#"{"podSelector":{"matchLabels":{"pod":"a"}}}"#,
            ),
        ),
        None,
    );
    let update = grp(
        "x",
        "g-mix-peer",
        r#"{"podSelector":{"matchLabels":{"pod":"a"}},"serviceReference":{"namespace":"svc","name":"x"}}"#,
    );
    let err = apply(&mut store, &update).unwrap_err();
    assert_eq!(err.field, "spec");
    assert_eq!(err.message, GRP_MSG);
    assert_eq!(
        admit_delete(
            &store,
            &ObjectKey::namespaced(Kind::Group, "x", "g-mix-peer")
        ),
        Ok(())
    );
}

#[test]
fn group_nesting_is_per_namespace() {
    let mut store = Store::new();
    expect(
        apply(
            &mut store,
            &grp("x", "child", r#"{"childGroups":["leaf"]}"#),
        ),
        None,
    );
    // Same name in another namespace is a different group: no grandchildren there.
    expect(
        apply(
            &mut store,
            &grp("y", "parent", r#"{"childGroups":["child"]}"#),
        ),
        None,
    );
    expect(
        apply(
            &mut store,
            &grp("x", "parent", r#"{"childGroups":["child"]}"#),
        ),
        Some("cannot set Group x/child as childGroup, who has 1 childGroups itself"),
    );
    expect(
        apply(
            &mut store,
            &grp("y", "child", r#"{"childGroups":["leaf"]}"#),
        ),
        Some("cannot set childGroups for Group y/child, who has 1 parents"),
    );
    // A ClusterGroup parent does not count for a Group.
    expect(
        apply(&mut store, &cg("top", r#"{"childGroups":["leaf2"]}"#)),
        None,
    );
    expect(
        apply(&mut store, &grp("x", "leaf2", r#"{"childGroups":["z"]}"#)),
        None,
    );
}
