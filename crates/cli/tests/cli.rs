//! The built `tierwall` binary: exit codes, stdout and stderr of validate, get, trace and matrix.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn tierwall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run tierwall: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn manifest(name: &str, contents: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{e}"));
    path
}

const POLICIES: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: Tier
metadata:
  name: guardrails
spec:
  priority: 80
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata:
  name: acnp-no-x-to-y
spec:
  tier: guardrails
  priority: 1
  appliedTo:
  - namespaceSelector:
      matchLabels:
        ns: x
  egress:
  - name: drop-to-y
    action: Drop
    to:
    - namespaceSelector:
        matchLabels:
          ns: y
"#;

#[test]
fn validate_reports_the_file_line_object_and_field() {
    let bad = manifest(
        "invalid.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n---\napiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata:\n  name: acnp-bad\nspec:\n  tier: missing-tier\n  priority: 1\n  appliedTo:\n  - podSelector: {}\n  ingress:\n  - action: Drop\n",
    );
    let path = bad.display().to_string();
    let out = tierwall(&["validate", "-f", &path]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{path}:11:3: ClusterNetworkPolicy acnp-bad: spec.tier: "
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 objects valid, 1 invalid\n"), "{stdout}");

    let good = manifest("valid.yaml", POLICIES);
    let out = tierwall(&["validate", "-f", &good.display().to_string()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "2 objects valid, 0 invalid\n");
}

#[test]
fn validate_reads_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(["validate", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(b"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec: {hostNetwrk: true}\n").unwrap_or_else(|e| panic!("{e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("<stdin>:4:8: Pod x/p: spec.hostNetwrk: unknown field"),
        "{stdout}"
    );
}

#[test]
fn get_tiers_lists_the_system_tiers() {
    let out = tierwall(&["get", "tiers"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "NAME",
            "application",
            "baseline",
            "emergency",
            "networkops",
            "platform",
            "securityops"
        ]
    );
    assert!(stdout.contains("\nemergency     50\n"), "{stdout}");
    assert!(
        text(&out.stderr).starts_with("note: no Pod in the inputs: using the standard cluster")
    );
}

#[test]
fn get_acnp_table_and_effective_priority() {
    let f = manifest("policies-get.yaml", POLICIES);
    let path = f.display().to_string();
    let out = tierwall(&["get", "acnp", "-f", &path]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "NAME             TIER         PRIORITY   DESIRED NODES   CURRENT NODES\nacnp-no-x-to-y   guardrails   1          3               3\n"
    );
    let out = tierwall(&["get", "netpol", "-f", &path, "--sort-by=effectivePriority"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "NAME           APPLIED-TO RULES SOURCE                                    TIER-PRIORITY PRIORITY\nacnp-no-x-to-y 3          1     AntreaClusterNetworkPolicy:acnp-no-x-to-y 80            1       \n"
    );
}

#[test]
fn trace_names_the_rule_that_drops() {
    let f = manifest("policies-trace.yaml", POLICIES);
    let out = tierwall(&[
        "trace",
        "-f",
        &f.display().to_string(),
        "-S",
        "x/a",
        "-D",
        "y/b",
        "--port",
        "80/TCP",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("  decision: tier guardrails (priority 80), policy AntreaClusterNetworkPolicy:acnp-no-x-to-y (priority 1), rule drop-to-y (egress rule 0), action Drop\n"), "{stdout}");
    assert!(
        stdout.ends_with("Result: Dropped (decided by Egress at x/a on Node node-0)\n"),
        "{stdout}"
    );

    let out = tierwall(&["trace", "-S", "x/nope", "-D", "y/b", "--port", "80"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("error: cannot trace x/nope -> y/b: source Pod x/nope not found")
    );
}

#[test]
fn matrix_shows_blocked_cells_and_their_rules() {
    let f = manifest("policies-matrix.yaml", POLICIES);
    let out = tierwall(&[
        "matrix",
        "-f",
        &f.display().to_string(),
        "--port",
        "80/TCP",
        "--pods",
        "x/a,y/a,z/a",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let want = "    x/a y/a z/a
x/a -   X   .
y/a .   -   .
z/a .   .   -

80/TCP: rows are sources, columns destinations; . connected, X dropped, R rejected, - same Pod
x/a -> y/a: Dropped by egress AntreaClusterNetworkPolicy:acnp-no-x-to-y rule drop-to-y (tier guardrails)
";
    assert_eq!(text(&out.stdout), want);
}

#[test]
fn port_errors_show_the_expected_form_and_protocol_first_is_accepted() {
    let f = manifest("policies-port.yaml", POLICIES);
    let path = f.display().to_string();
    let args = |port: &'static str| {
        ["matrix", "-f", &path, "--pods", "x/a,y/a", "--port", port].map(str::to_string)
    };
    let run = |port: &'static str| {
        let a = args(port);
        tierwall(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (want, protocol_first) = (run("80/TCP"), run("TCP/80"));
    assert_eq!(protocol_first.status.code(), Some(0));
    assert_eq!(text(&protocol_first.stdout), text(&want.stdout));
    for bad in ["TCP/eighty", "0", "80/", "70000/TCP"] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "error: --port {bad:?}: expected PORT[/PROTOCOL] (or PROTOCOL/PORT), PORT a number from 1 to 65535, PROTOCOL TCP, UDP or SCTP, e.g. 80/TCP\n"
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_missing_path_is_reported_as_such_not_as_an_invalid_object() {
    let missing = "does-not-exist.yaml";
    let out = tierwall(&["validate", "-f", missing]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "", "no object count");
    assert_eq!(
        text(&out.stderr),
        format!("error: {missing}: no such file or directory\n")
    );
    // Before any other input is loaded, in every command that reads -f.
    let good = manifest("valid-besides-missing.yaml", POLICIES);
    let out = tierwall(&[
        "get",
        "acnp",
        "-f",
        &good.display().to_string(),
        "-f",
        missing,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("error: {missing}: no such file or directory\n")
    );
}
