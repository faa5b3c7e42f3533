//! Privileged (root): `tierwall apply`/`delete --testbed` while `tierwall controller --testbed`
//! runs go through the controller's API, never around it: the controller records itself in the
//! testbed's data directory, an applied policy lands as a file in its watched directory and its
//! agents enforce it (real probes), an invalid input changes nothing, deleting removes the file
//! and the verdict, an object from the testbed's own inventory is refused with the reason, and
//! once the controller has stopped (its record gone) `apply --testbed` programs the Nodes
//! itself again. The testbed is removed even on failure.

mod common;

use common::{
    Guard, eventually, is_root, outcomes, standard_testbed, temp_dir, testbed_controller, tierwall,
};
use std::net::IpAddr;
use std::time::Duration;
use tierwall_engine::Outcome::{Connected, Dropped};
use tierwall_testbed::{Endpoint, Probe, Testbed, Transport};

const POLICY: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: guard-b}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: b}}, namespaceSelector: {matchLabels: {ns: y}}}]
  ingress:
  - {action: Drop, name: from-x, from: [{namespaceSelector: {matchLabels: {ns: x}}}]}
"#;

/// Invalid: an ingress rule with an unknown action.
const BROKEN: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: broken}
spec:
  priority: 2
  appliedTo: [{podSelector: {}}]
  ingress:
  - {action: Maybe, from: [{namespaceSelector: {}}]}
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn apply_and_delete_go_through_a_running_controller() {
    if !is_root() {
        eprintln!("SKIPPED apply_and_delete_go_through_a_running_controller: needs root");
        return;
    }
    let prefix = format!("twac{}", std::process::id() % 100_000);
    let _guard = Guard(prefix.clone());
    let testbed = standard_testbed(&prefix);
    let dir = temp_dir("through-controller");
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap_or_else(|e| panic!("{e}"));
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap_or_else(|e| panic!("{e}"));
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, BROKEN).unwrap_or_else(|e| panic!("{e}"));
    let (policy, broken) = (policy.display().to_string(), broken.display().to_string());

    let y_b = testbed
        .layout()
        .pods
        .get(&tierwall_testbed::layout::pod_key("y", "b"))
        .map(|p| IpAddr::V4(p.ip))
        .unwrap_or_else(|| panic!("no Pod y/b"));
    let probes = [
        Probe::new(Endpoint::pod("x", "a"), y_b, Transport::Tcp(80)),
        Probe::new(Endpoint::pod("z", "a"), y_b, Transport::Tcp(80)),
    ];
    let mut controller = testbed_controller(&prefix, &manifests, &dir, 3);
    let record = tierwall_lab::controller_record::record_path(&prefix);
    eventually("the controller's record", Duration::from_secs(20), || {
        match tierwall_lab::controller_record::running(&prefix) {
            Some(r) if r.api == controller.first_line => Ok(()),
            other => Err(format!("{other:?}\n{}", controller.log())),
        }
    });
    assert_eq!(outcomes(&testbed, &probes), [Connected, Connected]);

    let applied = tierwall(&["apply", "--testbed", &prefix, "-f", &policy]);
    let (out, err) = (text(&applied.stdout), text(&applied.stderr));
    assert!(applied.status.success(), "{err}\n{}", controller.log());
    assert_eq!(
        out.trim(),
        "clusternetworkpolicy.crd.antrea.io/guard-b created",
        "{err}"
    );
    assert!(err.contains("owns its Nodes"), "{err}");
    assert!(
        !err.contains(" sync, "),
        "no Node programmed by apply: {err}"
    );
    let written: Vec<String> = std::fs::read_dir(&manifests)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        written.len(),
        1,
        "one file in the watched directory: {written:?}"
    );
    eventually(
        "x/a -> y/b dropped by the agents",
        Duration::from_secs(10),
        || match outcomes(&testbed, &probes).as_slice() {
            [Dropped, Connected] => Ok(()),
            other => Err(format!("{other:?}\n{}", controller.log())),
        },
    );

    // Invalid input: refused with file:line, nothing written.
    let refused = tierwall(&["apply", "--testbed", &prefix, "-f", &broken]);
    let err = text(&refused.stderr);
    assert!(!refused.status.success());
    assert!(err.contains(&format!("{broken}:")), "{err}");
    assert!(err.contains("nothing applied"), "{err}");
    assert_eq!(
        std::fs::read_dir(&manifests)
            .map(|d| d.count())
            .unwrap_or(0),
        1
    );

    // The testbed's own Pods are its base: the controller says so.
    let base = tierwall(&["delete", "--testbed", &prefix, "po/x/c"]);
    let err = text(&base.stderr);
    assert!(!base.status.success());
    assert!(err.contains("po/x/c") || err.contains("x/c"), "{err}");
    assert!(err.contains("nothing changed"), "{err}");

    let deleted = tierwall(&["delete", "--testbed", &prefix, "acnp/guard-b"]);
    let (out, err) = (text(&deleted.stdout), text(&deleted.stderr));
    assert!(deleted.status.success(), "{err}");
    assert_eq!(
        out.trim(),
        "clusternetworkpolicy.crd.antrea.io \"guard-b\" deleted"
    );
    eventually(
        "x/a -> y/b connected again",
        Duration::from_secs(10),
        || match outcomes(&testbed, &probes).as_slice() {
            [Connected, Connected] => Ok(()),
            other => Err(format!("{other:?}\n{}", controller.log())),
        },
    );
    assert_eq!(
        std::fs::read_dir(&manifests)
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );

    // Without the controller, apply programs the Nodes itself.
    assert!(controller.terminate(), "SIGTERM\n{}", controller.log());
    assert!(!record.exists(), "the record goes with the controller");
    let direct = tierwall(&["apply", "--testbed", &prefix, "-f", &policy]);
    let err = text(&direct.stderr);
    assert!(direct.status.success(), "{err}");
    assert!(!err.contains("owns its Nodes"), "{err}");
    let testbed = Testbed::attach(&prefix).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcomes(&testbed, &probes), [Dropped, Connected]);
    let _ = std::fs::remove_dir_all(&dir);
}
