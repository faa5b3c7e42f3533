//! Privileged (root): `tierwall testbed probe` on a standing testbed. `testbed up` builds the
//! standard cluster, `apply --testbed` enforces a policy that rejects y → x/a and drops z → x/a
//! on 80/TCP, and the probe prints the one word of each outcome (exit 0 whatever it is), while
//! an unknown testbed, Pod or a malformed port fail with an error that names them. The testbed
//! is removed even on failure ([`Guard`]).

mod common;

use common::{Guard, is_root, standard_testbed, temp_dir, tierwall};
use std::process::{Command, Stdio};

/// An Antrea NetworkPolicy of namespace x on Pod a: Reject from y, Drop from z, on 80/TCP.
const POLICY: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: probe-words, namespace: x}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: a}}}]
  ingress:
  - {action: Reject, name: reject-from-y, ports: [{protocol: TCP, port: 80}],
     from: [{namespaceSelector: {matchLabels: {ns: y}}}]}
  - {action: Drop, name: drop-from-z, ports: [{protocol: TCP, port: 80}],
     from: [{namespaceSelector: {matchLabels: {ns: z}}}]}
"#;

/// `tierwall testbed probe PREFIX SRC DST PORT`: its exit status, stdout and stderr.
fn probe(prefix: &str, src: &str, dst: &str, port: &str) -> (Option<i32>, String, String) {
    let o = tierwall(&["testbed", "probe", prefix, src, dst, port]);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn word(prefix: &str, src: &str, dst: &str, port: &str) -> String {
    let (code, out, err) = probe(prefix, src, dst, port);
    assert_eq!(code, Some(0), "probe {src} {dst} {port}: {out}{err}");
    out
}

/// Why the test cannot run here, if it cannot.
fn skip_reason() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root to create network namespaces");
    }
    // Whether the program can be started at all (its answer to -V does not matter).
    let has = |tool: &str| {
        Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if !has("nft") || !has("ip") {
        return Some("needs nft and ip (apt-get install nftables iproute2)");
    }
    None
}

#[test]
fn probe_prints_one_word_per_outcome_on_a_standing_testbed() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED probe_prints_one_word_per_outcome_on_a_standing_testbed: {why}");
        return;
    }
    let prefix = format!("twpr{}", std::process::id() % 100_000);
    let _guard = Guard(prefix.clone());
    let _testbed = standard_testbed(&prefix);

    // No policy yet: everything connects.
    assert_eq!(word(&prefix, "z/b", "x/a", "80/TCP"), "Connected\n");

    let dir = temp_dir("testbed-probe");
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap_or_else(|e| panic!("{e}"));
    let o = tierwall(&[
        "apply",
        "--testbed",
        &prefix,
        "-f",
        &policy.display().to_string(),
    ]);
    assert!(
        o.status.success(),
        "apply: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    assert_eq!(word(&prefix, "x/b", "x/a", "80/TCP"), "Connected\n");
    assert_eq!(word(&prefix, "y/b", "x/a", "80/TCP"), "Rejected\n");
    assert_eq!(word(&prefix, "z/b", "x/a", "TCP/80"), "Dropped\n");
    // Another port is not covered by the policy; the destination may be an address.
    let ip = _testbed
        .pod_ip("x", "a")
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    assert_eq!(word(&prefix, "z/b", &ip, "81"), "Connected\n");

    // Bad input: exit 1 and an error that names what is wrong.
    let (code, out, err) = probe("twnosuchbed", "x/a", "y/b", "80/TCP");
    assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
    assert!(
        err.contains("no testbed with prefix \"twnosuchbed\""),
        "{err}"
    );
    let (code, _, err) = probe(&prefix, "x/nope", "y/b", "80/TCP");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("unknown Pod \"x/nope\""), "{err}");
    let (code, _, err) = probe(&prefix, "x/a", "y/nope", "80/TCP");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("destination \"y/nope\""), "{err}");
    let (code, _, err) = probe(&prefix, "x/a", "y/b", "eighty");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("port \"eighty\": expected PORT[/PROTOCOL]"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
