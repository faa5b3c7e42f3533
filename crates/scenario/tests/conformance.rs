//! Conformance: every scenario under `../shared/scenarios` (the shared suite) and `tests/scenarios`
//! (the project's own) passes in engine mode; files needing the dataplane are skipped with a
//! reason, never passed.

use std::path::PathBuf;
use tierwall_scenario::{FileResult, collect_files, run_file};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_dir(dir: PathBuf) -> (usize, usize) {
    let files = collect_files(std::slice::from_ref(&dir))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(
        !files.is_empty(),
        "no scenario files under {}",
        dir.display()
    );
    let mut failures = Vec::new();
    let (mut passed, mut skipped) = (0, 0);
    for f in files {
        let report = run_file(&f);
        match report.result {
            FileResult::Passed => passed += 1,
            FileResult::Skipped(why) => {
                assert!(!why.is_empty(), "{}: skipped without a reason", f.display());
                skipped += 1;
            }
            FileResult::Failed(lines) => {
                failures.push(format!("{}:\n  {}", f.display(), lines.join("\n  ")))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario files failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (passed, skipped)
}

#[test]
fn shared_scenarios_pass_in_engine_mode() {
    let dir = repo_root().join("../shared/scenarios");
    if !dir.exists() {
        eprintln!("{} not present; skipping the shared suite", dir.display());
        return;
    }
    let (passed, skipped) = run_dir(dir);
    assert!(
        passed >= 50,
        "only {passed} shared scenarios passed ({skipped} skipped)"
    );
}

#[test]
fn project_scenarios_pass_in_engine_mode() {
    let (passed, _) = run_dir(repo_root().join("tests/scenarios"));
    assert!(passed >= 20);
}

#[test]
fn a_wrong_expectation_fails() {
    let text = r#"
name: must-fail
manifests: |
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny, namespace: x}
  spec: {podSelector: {}, policyTypes: [Ingress]}
steps:
- probe: {protocol: TCP, port: 80}
  pods: [x/a, y/a]
  default: Connected
"#;
    let file: tierwall_scenario::format::ScenarioFile = serde_saphyr::from_str(text).unwrap();
    match tierwall_scenario::runner::run_scenario(&file) {
        FileResult::Failed(lines) => {
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(
                lines[0].contains("y/a -> x/a 80/TCP: expected Connected, got Dropped"),
                "{lines:?}"
            );
            assert!(lines[0].contains("K8sNetworkPolicy:x/deny"), "{lines:?}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn missing_capability_is_skipped_with_reason() {
    let text = "name: needs-stats\nrequires: [stats]\nsteps: []\n";
    let file: tierwall_scenario::format::ScenarioFile = serde_saphyr::from_str(text).unwrap();
    match tierwall_scenario::runner::run_scenario(&file) {
        FileResult::Skipped(why) => assert!(why.contains("stats")),
        other => panic!("expected a skip, got {other:?}"),
    }
}
