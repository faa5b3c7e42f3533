//! The redb store through its public API: revisions and stale-revision refusals, atomic
//! batches, subtree deletes, rule ids, and export/import.

use serde_json::{Value, json};
use tierwall_manager::store::*;

fn put(path: &str, body: Value, expect: Expect) -> WriteOp {
    WriteOp::Put(Put {
        path: path.into(),
        body: body.as_object().cloned().unwrap_or_default(),
        expect,
        user: "admin".into(),
        assign_rule_id: path.contains("/rules/"),
    })
}

fn open() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (dir, store)
}

#[test]
fn revisions_count_up_and_stale_revisions_are_refused() {
    let (_dir, store) = open();
    let p = "/infra/domains/default/groups/g";
    let c = store
        .commit(vec![put(p, json!({"id": "g"}), Expect::Any)])
        .unwrap_or_else(|e| panic!("{e}"));
    let doc = c.documents[0].clone().unwrap_or_default();
    assert_eq!(doc["_revision"], json!(0));
    assert_eq!(doc["path"], json!(p));
    let uid = doc["unique_id"].clone();
    let c = store
        .commit(vec![put(
            p,
            json!({"id": "g", "x": 1}),
            Expect::Revision(0),
        )])
        .unwrap_or_else(|e| panic!("{e}"));
    let doc = c.documents[0].clone().unwrap_or_default();
    assert_eq!(
        (doc["_revision"].clone(), doc["unique_id"].clone()),
        (json!(1), uid)
    );
    let err = store
        .commit(vec![put(p, json!({"id": "g"}), Expect::Revision(0))])
        .err();
    assert!(
        matches!(err, Some(StoreError::StaleRevision { current: 1, .. })),
        "{err:?}"
    );
    assert_eq!(store.revision().ok(), Some(2));
}

#[test]
fn a_failing_batch_writes_nothing_and_rule_ids_are_stable() {
    let (_dir, store) = open();
    let r1 = "/infra/domains/default/security-policies/p/rules/r1";
    let r2 = "/infra/domains/default/security-policies/p/rules/r2";
    let c = store
        .commit(vec![
            put(r1, json!({}), Expect::Any),
            put(r2, json!({}), Expect::Any),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<Value> = c
        .documents
        .iter()
        .flatten()
        .map(|d| d["rule_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(1000), json!(1001)]);
    let failed = store.commit(vec![
        put("/infra/x", json!({}), Expect::Any),
        put(r1, json!({}), Expect::Absent),
    ]);
    assert!(matches!(failed, Err(StoreError::AlreadyExists { .. })));
    assert_eq!(store.get("/infra/x").ok(), Some(None));
    let c = store
        .commit(vec![put(r1, json!({"a": 1}), Expect::Exists)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.documents[0].as_ref().map(|d| d["rule_id"].clone()),
        Some(json!(1000))
    );
    let del = store.commit(vec![WriteOp::DeleteTree {
        path: "/infra/domains/default/security-policies/p".into(),
        expect: Expect::Any,
    }]);
    assert!(del.is_ok());
    assert_eq!(store.scan("/infra/").map(|v| v.len()).ok(), Some(0));
}

#[test]
fn state_survives_reopening_and_export_import_round_trips() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dump = {
        let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..3 {
            let p = format!("/infra/domains/default/groups/g{i}");
            store
                .commit(vec![put(
                    &p,
                    json!({"id": format!("g{i}"), "keep": {"unknown": [1]}}),
                    Expect::Any,
                )])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        store.export().unwrap_or_else(|e| panic!("{e}"))
    };
    let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(store.export().ok().as_ref(), Some(&dump));
    let other = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let copy = RedbStore::open(other.path()).unwrap_or_else(|e| panic!("{e}"));
    copy.import(&dump).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(copy.export().ok(), Some(dump));
    assert!(matches!(
        copy.import(&json!({})),
        Err(StoreError::BadImport(_))
    ));
    let groups = children(&copy, "/infra/domains/default", "groups").unwrap_or_default();
    assert_eq!(groups.len(), 3);
}
