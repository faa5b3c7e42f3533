//! Reconciliation order over a real manifest directory (engine only): changes that depend on
//! each other succeed whatever order the files change in, and a refused deletion keeps the
//! object in force until what uses it is gone.

use std::path::PathBuf;
use std::time::Duration;
use tierwall_controller::cluster_state::ClusterState;
use tierwall_controller::dataplane::NoDataplane;
use tierwall_controller::manifest_dir::ManifestDirSource;
use tierwall_model::{Kind, ObjectKey};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reconcile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
    TempDir(p)
}

fn tier(name: &str, priority: i32) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {{priority: {priority}}}\n"
    )
}

fn policy(tier: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {{name: p}}\nspec:\n  priority: 1\n  tier: {tier}\n  appliedTo: [{{podSelector: {{}}}}]\n  ingress: [{{action: Drop}}]\n"
    )
}

fn in_force(state: &ClusterState, key: &ObjectKey) -> bool {
    state.engine().store().get(key).is_some()
}

#[test]
fn dependent_changes_are_ordered_and_refused_deletions_wait() {
    let dir = temp_dir("order");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.0.join(name), text).unwrap_or_else(|e| panic!("{e}"))
    };
    // The policy's file sorts before its Tier's: the apply order (Tiers first) still works.
    write("a-policy.yaml", &policy("t1"));
    write("z-tier.yaml", &tier("t1", 10));
    let source = ManifestDirSource::new(&dir.0, Duration::ZERO);
    let mut state = ClusterState::start(Box::new(NoDataplane), Box::new(source))
        .unwrap_or_else(|e| panic!("{e}"));
    let p = ObjectKey::cluster(Kind::ClusterNetworkPolicy, "p");
    let t1 = ObjectKey::cluster(Kind::Tier, "t1");
    let t2 = ObjectKey::cluster(Kind::Tier, "t2");
    assert!(in_force(&state, &p) && in_force(&state, &t1));
    state.take_log();

    // One change moves the policy to a new Tier and removes the old one: the deletion of t1 is
    // refused while p uses it, then done in the next pass.
    write("z-tier.yaml", &tier("t2", 20));
    write("a-policy.yaml", &policy("t2"));
    state.step();
    assert!(!in_force(&state, &t1) && in_force(&state, &t2));
    let log = state.take_log().join("\n");
    assert!(
        !log.contains("refused") && !log.contains("rejected"),
        "{log}"
    );
    assert!(log.contains("deleted Tier t1"), "{log}");
    assert_eq!(
        state.status_of(&p).map(|s| s.phase),
        Some("Realized".to_string())
    );

    // Removing only the Tier: refused, it stays in force, the status says why.
    std::fs::remove_file(dir.0.join("z-tier.yaml")).unwrap_or_else(|e| panic!("{e}"));
    state.step();
    assert!(in_force(&state, &t2));
    let s = state.status_of(&t2).unwrap_or_else(|| panic!("no status"));
    assert_eq!(s.phase, "Failed");
    assert!(
        s.error
            .as_deref()
            .is_some_and(|e| e.starts_with("delete refused: ")),
        "{s:?}"
    );
    let log = state.take_log().join("\n");
    assert!(log.contains("delete refused: "), "{log}");
    // Nothing changes: the refusal is not logged again.
    state.step();
    assert!(state.take_log().is_empty());

    // The policy goes too: both are deleted.
    std::fs::remove_file(dir.0.join("a-policy.yaml")).unwrap_or_else(|e| panic!("{e}"));
    state.step();
    assert!(!in_force(&state, &t2) && !in_force(&state, &p));
    assert!(state.status_of(&t2).is_none());
}
