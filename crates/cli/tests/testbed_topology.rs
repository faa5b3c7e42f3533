//! Privileged (root): Pods and Nodes change on a detached testbed (built by `tierwall testbed
//! up`), through `tierwall controller --testbed` (files in its watched directory) and through
//! `tierwall apply --testbed` / `delete --testbed`. A new Pod gets its netns and servers, a
//! policy applies to it (real probes), a new Node gets an agent and an np.log writer, a moved
//! Pod is enforced on its new Node, a refused change (an address taken twice, a Pod on a Node
//! the cluster lacks, deleting a Node that still runs Pods) changes nothing, deleting removes
//! the netns, a controller started again drops a Pod whose file went while it was stopped, and
//! `tierwall testbed down` removes everything, the added Pods and Nodes too.
//! Every testbed is removed even on failure ([`Guard`]).

mod common;

use common::{Guard, Proc, eventually, is_root, outcomes, request, standard_testbed, temp_dir};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tierwall_engine::Outcome::{self, Connected, Dropped};
use tierwall_testbed::{Endpoint, Probe, Testbed, Transport};

/// How long a file takes at most to reach the testbed.
const LIMIT: Duration = Duration::from_secs(20);

const POLICY: &str = r#"apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: guard-new}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [d, e]}]}}]
  ingress:
  - action: Drop
    name: drop-from-y
    enableLogging: true
    from: [{namespaceSelector: {matchLabels: {ns: y}}}]
    ports: [{protocol: TCP, port: 80}]
"#;

fn pod_yaml(ns: &str, name: &str, node: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}}}\n\
         spec:\n  nodeName: {node}\n  containers:\n  - name: server\n    ports:\n    - {{containerPort: 80, protocol: TCP}}\n\
         status: {{podIP: \"{ip}\"}}\n"
    )
}

fn node_yaml(name: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}}}}}\n\
         status: {{addresses: [{{type: InternalIP, address: \"{ip}\"}}]}}\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    p.display().to_string()
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// The testbed as its state file says now (the controller or `apply` changed it).
fn attach(prefix: &str) -> Testbed {
    Testbed::attach(prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// The netns of Pod `ns/name` as built now, if it is.
fn pod_netns(prefix: &str, ns: &str, name: &str) -> Option<String> {
    Testbed::attach(prefix).ok().and_then(|t| {
        t.layout()
            .pods
            .get(&tierwall_testbed::layout::pod_key(ns, name))
            .map(|p| p.netns.clone())
    })
}

fn node_netns(prefix: &str, node: &str) -> Option<String> {
    Testbed::attach(prefix)
        .ok()
        .and_then(|t| t.layout().nodes.get(node).map(|n| n.netns.clone()))
}

/// TCP port 80 from each `(src ns, src name)` to Pod `ns/name`.
fn probe_pod(prefix: &str, sources: &[(&str, &str)], ns: &str, name: &str) -> Vec<Outcome> {
    let testbed = attach(prefix);
    let dst = IpAddr::V4(testbed.pod_ip(ns, name).unwrap_or_else(|e| panic!("{e}")));
    let probes: Vec<Probe> = sources
        .iter()
        .map(|(sns, sname)| Probe::new(Endpoint::pod(sns, sname), dst, Transport::Tcp(80)))
        .collect();
    outcomes(&testbed, &probes)
}

/// Network namespaces of the testbed still on the machine.
fn leftovers(prefix: &str) -> Vec<String> {
    let dash = format!("{prefix}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with(&dash))
                .collect()
        })
        .unwrap_or_default()
}

fn testbed_down(prefix: &str) {
    let out = run(&["testbed", "down", prefix]);
    assert!(out.0, "testbed down: {}", out.2);
    assert_eq!(
        leftovers(prefix),
        Vec::<String>::new(),
        "after testbed down"
    );
    assert!(
        !tierwall_testbed::state::state_path(prefix).exists(),
        "the state file is removed"
    );
    assert!(
        !tierwall_lab::persisted::objects_path(prefix).exists(),
        "objects.json is removed"
    );
}

/// `tierwall ARGS`: (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tierwall"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn status(addr: SocketAddr, key: &str) -> serde_json::Value {
    request(addr, "GET", &format!("/status/{key}")).1
}

#[test]
fn controller_on_a_detached_testbed_follows_pod_and_node_files() {
    if !is_root() {
        eprintln!(
            "SKIPPED controller_on_a_detached_testbed_follows_pod_and_node_files: needs root"
        );
        return;
    }
    let prefix = format!("twtc{}", std::process::id() % 100_000);
    let guard = Guard(prefix.clone());
    drop(standard_testbed(&prefix));
    let dir = temp_dir("topology-manifests");
    let logs = temp_dir("topology-logs");
    write(&dir, "policy.yaml", POLICY);
    let (dir_arg, logs_arg) = (dir.display().to_string(), logs.display().to_string());
    let args = [
        "controller",
        "--manifests",
        &dir_arg,
        "--testbed",
        &prefix,
        "--log-dir",
        &logs_arg,
        "--listen",
        "127.0.0.1:0",
        "--poll-ms",
        "100",
    ];
    let mut process = Proc::spawn(&args, true);
    let addr: SocketAddr = process
        .first_line
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("controller: {:?}\n{}", process.first_line, process.log()));
    let ctx = |what: &str| format!("{what}\n--- controller:\n{}", process.log());

    // A new Pod file: its netns is built, the policy applies to it on its Node.
    write(
        &dir,
        "pod-d.yaml",
        &pod_yaml("x", "d", "node-1", "10.10.1.14"),
    );
    let netns_d = eventually("Pod x/d built", LIMIT, || {
        pod_netns(&prefix, "x", "d")
            .filter(|n| netns_exists(n))
            .ok_or_else(|| process.log())
    });
    eventually("the policy realized on node-1", LIMIT, || {
        let s = status(addr, "acnp/guard-new");
        if s["phase"] == "Realized" && s["desiredNodesRealized"] == 1 {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    let (_, inventory) = request(addr, "GET", "/inventory");
    assert!(
        inventory["pods"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["namespace"] == "x" && p["name"] == "d")),
        "{inventory}"
    );
    assert_eq!(
        probe_pod(&prefix, &[("y", "b"), ("x", "a"), ("z", "c")], "x", "d"),
        vec![Dropped, Connected, Connected],
        "{}",
        ctx("to the new Pod x/d")
    );

    // Refused: an address taken twice, a Pod on a Node the cluster lacks. Nothing is built.
    write(
        &dir,
        "clash.yaml",
        &pod_yaml("x", "q", "node-0", "10.10.1.11"),
    );
    write(
        &dir,
        "lost.yaml",
        &pod_yaml("x", "r", "node-9", "10.10.1.20"),
    );
    for (key, wanted) in [
        ("po/x/q", "belongs to both"),
        (
            "po/x/r",
            "spec.nodeName: Node \"node-9\" is not in the cluster",
        ),
    ] {
        let s = eventually(key, LIMIT, || {
            let s = status(addr, key);
            if s["phase"] == "Failed" {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        });
        assert!(
            s["error"].as_str().is_some_and(|e| e.contains(wanted)),
            "{key}: {s}"
        );
    }
    assert_eq!(pod_netns(&prefix, "x", "q"), None, "refused: not built");
    assert_eq!(pod_netns(&prefix, "x", "r"), None, "refused: not built");
    std::fs::remove_file(dir.join("clash.yaml")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(dir.join("lost.yaml")).unwrap_or_else(|e| panic!("{e}"));

    // A new Node with a Pod: the Node gets an agent (the Pod's ingress is enforced there) and
    // an np.log writer.
    let node_file = format!(
        "{}---\n{}",
        node_yaml("node-3", "172.18.0.5"),
        pod_yaml("z", "e", "node-3", "10.10.3.15")
    );
    write(&dir, "node-3.yaml", &node_file);
    let netns_e = eventually("Pod z/e on the new node-3", LIMIT, || {
        pod_netns(&prefix, "z", "e")
            .filter(|n| netns_exists(n))
            .ok_or_else(|| process.log())
    });
    let netns_n3 = node_netns(&prefix, "node-3").unwrap_or_else(|| panic!("{}", ctx("node-3")));
    eventually("the policy realized on node-1 and node-3", LIMIT, || {
        let s = status(addr, "acnp/guard-new");
        if s["phase"] == "Realized" && s["desiredNodesRealized"] == 2 {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    assert_eq!(
        probe_pod(&prefix, &[("y", "b"), ("y", "a"), ("x", "a")], "z", "e"),
        vec![Dropped, Dropped, Connected],
        "{}",
        ctx("to z/e on node-3")
    );
    let log_n3 = logs.join("node-3").join("np.log");
    eventually("np.log of node-3", LIMIT, || {
        let text = std::fs::read_to_string(&log_n3).unwrap_or_default();
        if text.contains("guard-new") && text.contains("Drop") {
            Ok(())
        } else {
            Err(text)
        }
    });

    // Deleting the Pod file removes its netns; the other Pods keep their traffic.
    std::fs::remove_file(dir.join("pod-d.yaml")).unwrap_or_else(|e| panic!("{e}"));
    eventually("x/d removed", LIMIT, || {
        if !netns_exists(&netns_d) && pod_netns(&prefix, "x", "d").is_none() {
            Ok(())
        } else {
            Err(process.log())
        }
    });
    // Deleting the Node (with its Pod) removes both and detaches its agent.
    std::fs::remove_file(dir.join("node-3.yaml")).unwrap_or_else(|e| panic!("{e}"));
    eventually("node-3 removed", LIMIT, || {
        if !netns_exists(&netns_e) && !netns_exists(&netns_n3) {
            Ok(())
        } else {
            Err(process.log())
        }
    });
    eventually("the policy applies to no Pod", LIMIT, || {
        let s = status(addr, "acnp/guard-new");
        if s["desiredNodesRealized"] == 0 {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    assert_eq!(
        probe_pod(&prefix, &[("y", "b")], "x", "a"),
        vec![Connected],
        "{}",
        ctx("the standard Pods after the removals")
    );

    // Two more Pods; the controller stops. f's file is removed meanwhile: the controller started
    // again removes f (objects.json has it, but it came from the directory), g stays.
    write(
        &dir,
        "pod-f.yaml",
        &pod_yaml("y", "f", "node-2", "10.10.2.16"),
    );
    write(
        &dir,
        "pod-g.yaml",
        &pod_yaml("y", "g", "node-0", "10.10.2.17"),
    );
    let netns_f = eventually("y/f and y/g built", LIMIT, || {
        match (pod_netns(&prefix, "y", "f"), pod_netns(&prefix, "y", "g")) {
            (Some(f), Some(g)) if netns_exists(&f) && netns_exists(&g) => Ok(f),
            _ => Err(process.log()),
        }
    });
    let clean = process.terminate();
    assert!(clean, "SIGTERM: not a clean exit\n{}", process.log());
    let log = process.log();
    for line in [
        "dataplane: Pod x/d added on node-1",
        "dataplane: Node node-3 added",
        "dataplane: Node node-3: agent process",
        "dataplane: Pod x/d removed",
        "dataplane: Node node-3 removed",
        "rejected ",
    ] {
        assert!(log.contains(line), "{line:?} in\n{log}");
    }
    let stored =
        std::fs::read_to_string(tierwall_lab::persisted::objects_path(&prefix)).unwrap_or_default();
    assert!(stored.contains("\"f\""), "objects.json has y/f: {stored}");
    assert!(!stored.contains("node-3"), "objects.json: {stored}");

    std::fs::remove_file(dir.join("pod-f.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let mut again = Proc::spawn(&args, true);
    eventually("y/f removed by the restarted controller", LIMIT, || {
        if !netns_exists(&netns_f) && pod_netns(&prefix, "y", "f").is_none() {
            Ok(())
        } else {
            Err(again.log())
        }
    });
    assert!(
        pod_netns(&prefix, "y", "g").is_some_and(|n| netns_exists(&n)),
        "y/g stays: {}",
        again.log()
    );
    let clean = again.terminate();
    assert!(clean, "SIGTERM: not a clean exit\n{}", again.log());
    assert!(
        again.log().contains("dataplane: Pod y/f removed"),
        "{}",
        again.log()
    );
    // `tierwall testbed down` removes y/g with the rest.
    testbed_down(&prefix);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&logs);
    drop(guard);
}

#[test]
fn apply_and_delete_on_a_detached_testbed_follow_pods_and_nodes() {
    if !is_root() {
        eprintln!(
            "SKIPPED apply_and_delete_on_a_detached_testbed_follow_pods_and_nodes: needs root"
        );
        return;
    }
    let prefix = format!("twta{}", std::process::id() % 100_000);
    let guard = Guard(prefix.clone());
    drop(standard_testbed(&prefix));
    let dir = temp_dir("topology-apply");
    let policy = write(&dir, "policy.yaml", POLICY);
    let pod_d = write(
        &dir,
        "pod-d.yaml",
        &pod_yaml("x", "d", "node-1", "10.10.1.14"),
    );

    let (ok, out, err) = run(&["apply", "--testbed", &prefix, "-f", &policy, "-f", &pod_d]);
    assert!(ok, "{err}");
    assert!(out.contains("pod/d created"), "{out}");
    assert!(
        err.contains(&format!("testbed {prefix}: Pod x/d added on node-1")),
        "{err}"
    );
    let netns_d = pod_netns(&prefix, "x", "d").unwrap_or_else(|| panic!("x/d not built: {err}"));
    assert!(netns_exists(&netns_d));
    assert_eq!(
        probe_pod(&prefix, &[("y", "b"), ("x", "a")], "x", "d"),
        vec![Dropped, Connected],
        "to the new Pod x/d"
    );

    // Refused: a Pod on a Node the cluster lacks; named with file:line and field. Nothing
    // changes (objects.json, the testbed).
    let objects = tierwall_lab::persisted::objects_path(&prefix);
    let before = std::fs::read_to_string(&objects).unwrap_or_default();
    let lost = write(
        &dir,
        "lost.yaml",
        &pod_yaml("x", "r", "node-9", "10.10.1.20"),
    );
    let (ok, _, err) = run(&["apply", "--testbed", &prefix, "-f", &lost]);
    assert!(!ok, "applied a Pod on a missing Node");
    assert!(
        err.contains(&format!(
            "{lost}:5:3: Pod x/r: spec.nodeName: Node \"node-9\" is not in the cluster"
        )),
        "{err}"
    );
    assert!(err.contains("nothing applied"), "{err}");
    let clash = write(
        &dir,
        "clash.yaml",
        &pod_yaml("x", "q", "node-0", "10.10.1.11"),
    );
    let (ok, _, err) = run(&["apply", "--testbed", &prefix, "-f", &clash]);
    assert!(!ok, "applied a Pod with x/a's address");
    assert!(err.contains("belongs to both"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&objects).unwrap_or_default(),
        before
    );
    assert_eq!(pod_netns(&prefix, "x", "r"), None);
    assert_eq!(pod_netns(&prefix, "x", "q"), None);

    // A new Node with a Pod; the Pod's ingress is enforced on the new Node.
    let node_3 = write(
        &dir,
        "node-3.yaml",
        &format!(
            "{}---\n{}",
            node_yaml("node-3", "172.18.0.5"),
            pod_yaml("z", "e", "node-3", "10.10.3.15")
        ),
    );
    let (ok, out, err) = run(&["apply", "--testbed", &prefix, "-f", &node_3]);
    assert!(ok, "{err}");
    assert!(out.contains("node/node-3 created"), "{out}");
    assert!(
        err.contains("node-3: Full sync"),
        "node-3 is programmed: {err}"
    );
    let netns_n3 = node_netns(&prefix, "node-3").unwrap_or_else(|| panic!("node-3: {err}"));
    let netns_e = pod_netns(&prefix, "z", "e").unwrap_or_else(|| panic!("z/e: {err}"));
    assert_eq!(
        probe_pod(&prefix, &[("y", "b"), ("x", "a")], "z", "e"),
        vec![Dropped, Connected],
        "to z/e on node-3"
    );

    // Moving x/d to node-2 (and giving it a new address): rebuilt there, still guarded.
    let moved = write(
        &dir,
        "pod-d.yaml",
        &pod_yaml("x", "d", "node-2", "10.10.1.24"),
    );
    let (ok, out, err) = run(&["apply", "--testbed", &prefix, "-f", &moved]);
    assert!(ok, "{err}");
    assert!(out.contains("pod/d configured"), "{out}");
    assert!(err.contains("Pod x/d rebuilt on node-2"), "{err}");
    let testbed = attach(&prefix);
    assert_eq!(
        testbed.pod_ip("x", "d").map(|ip| ip.to_string()).ok(),
        Some("10.10.1.24".to_string())
    );
    assert_eq!(
        testbed.layout().pods.get("x/d").map(|p| p.node.as_str()),
        Some("node-2")
    );
    drop(testbed);
    assert_eq!(
        probe_pod(&prefix, &[("y", "b"), ("x", "a"), ("y", "c")], "x", "d"),
        vec![Dropped, Connected, Dropped],
        "to x/d on node-2"
    );

    // Deleting a Node that still runs a Pod is refused; with the Pod it goes.
    let (ok, _, err) = run(&["delete", "--testbed", &prefix, "node/node-3"]);
    assert!(!ok, "deleted a Node that runs z/e");
    assert!(
        err.contains("Pod z/e: spec.nodeName: Node \"node-3\" is not in the cluster"),
        "{err}"
    );
    assert!(netns_exists(&netns_n3), "refused: nothing changed");
    let (ok, out, err) = run(&["delete", "--testbed", &prefix, "node/node-3", "pod/z/e"]);
    assert!(ok, "{err}");
    assert!(out.contains("node \"node-3\" deleted"), "{out}");
    assert!(!netns_exists(&netns_n3) && !netns_exists(&netns_e), "{err}");
    let netns_d = pod_netns(&prefix, "x", "d").unwrap_or_default();
    let (ok, _, err) = run(&["delete", "--testbed", &prefix, "pod/x/d"]);
    assert!(ok, "{err}");
    assert!(!netns_exists(&netns_d), "x/d's netns is removed: {err}");
    assert_eq!(pod_netns(&prefix, "x", "d"), None);
    assert_eq!(
        probe_pod(&prefix, &[("y", "b")], "x", "a"),
        vec![Connected],
        "the standard Pods after the removals"
    );

    // A Pod left in place goes with `tierwall testbed down`.
    let pod_f = write(
        &dir,
        "pod-f.yaml",
        &pod_yaml("y", "f", "node-2", "10.10.2.16"),
    );
    let (ok, _, err) = run(&["apply", "--testbed", &prefix, "-f", &pod_f]);
    assert!(ok, "{err}");
    assert!(pod_netns(&prefix, "y", "f").is_some_and(|n| netns_exists(&n)));
    testbed_down(&prefix);
    let _ = std::fs::remove_dir_all(&dir);
    drop(guard);
}
