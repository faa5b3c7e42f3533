//! Privileged (root): the fail-safe guarantees of the seam between the controller and its Nodes,
//! proven with real packets on a testbed whose Nodes are enforced by `tierwall agent` processes
//! started by the test (`tierwall controller --agents external`), so that the controller and each
//! agent can be killed with SIGKILL and started again on their own. Each test has its own
//! standard testbed (3 Nodes), removed even on failure. The policies and the probe matrix (Allow,
//! Reject and Drop on each Node) are in `fail_safe_support`.
//!
//! * controller SIGKILL: every Node keeps exactly its table, new connections get the same verdicts;
//! * controller restarted (same stream address and CA): the agents resync to a change made while it
//!   was down, and a thread reading the tables all along never finds one missing or smaller;
//! * agent SIGKILL: its table stays and enforces; the agent started again adopts it (never emptied,
//!   read all along) and converges to later changes;
//! * changes made while an agent is down reach it when it comes back;
//! * a rule set the kernel refuses: the table keeps the previous one, the agent reports the error,
//!   the policy status shows phase Failed with the message, and all is realized again once the
//!   cause goes;
//! * an agent of a Node the controller does not know is refused (404 naming the Node), retries,
//!   and connects and enforces once the Node appears.
//!
//! A wrong certificate (refused in the TLS handshake) is proven in
//! `crates/controller/tests/node_stream.rs`; a stream cut in the middle of a message in
//! `crates/node/tests/stream_cut.rs`.

mod common;
mod fail_safe_support;

use common::{eventually, is_root};
use fail_safe_support::{
    BEFORE, CHANGE_POLICY, CHANGED, FailSafeBed, LIMIT, MatrixProber, NODES, after,
    assert_never_emptied, counted_packets, counts_now, nft_in, probe_matrix,
};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tierwall_engine::Outcome::{Connected, Dropped, Rejected};

/// Prints why a test does not run here, if it does not.
fn skipped(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED {test}: needs root (network namespaces, nftables)");
    true
}

/// How many `retrying` lines an agent printed.
fn retries(log: &str) -> usize {
    log.matches("retrying in").count()
}

#[test]
fn controller_killed_every_node_keeps_enforcing_its_last_rule_set() {
    if skipped("controller_killed_every_node_keeps_enforcing_its_last_rule_set") {
        return;
    }
    let mut bed = FailSafeBed::started("twfk");
    let tables: Vec<String> = NODES.iter().map(|n| bed.table_text(n)).collect();
    assert!(tables.iter().all(|t| t.contains("table inet tierwall")));
    let retried: Vec<usize> = NODES.iter().map(|n| retries(&bed.agent_log(n))).collect();

    let mut controller = bed
        .controller
        .take()
        .unwrap_or_else(|| panic!("controller"));
    controller.kill_9();
    // Every agent has noticed (its stream ended and it is retrying) before the probes.
    for (node, before) in NODES.iter().zip(&retried) {
        eventually(&format!("agent {node} retrying"), LIMIT, || {
            let log = bed.agent_log(node);
            if retries(&log) > *before {
                Ok(())
            } else {
                Err(log)
            }
        });
    }
    let probing = Instant::now();
    assert_eq!(bed.matrix(), BEFORE, "{}", bed.logs());
    // The tables are exactly as they were (counter values aside), after the probes too.
    for (node, table) in NODES.iter().zip(&tables) {
        assert_eq!(&bed.table_text(node), table, "{node}'s table changed");
    }
    for (node, agent) in &mut bed.agents {
        assert!(
            matches!(agent.child.try_wait(), Ok(None)),
            "agent {node} exited without its controller:\n{}",
            agent.log()
        );
    }
    eprintln!(
        "controller SIGKILL: {} probes as before and tables unchanged, checked in {} ms once every agent was retrying",
        BEFORE.len(),
        probing.elapsed().as_millis()
    );
}

#[test]
fn controller_restarted_agents_resync_without_emptying_a_table() {
    if skipped("controller_restarted_agents_resync_without_emptying_a_table") {
        return;
    }
    let mut bed = FailSafeBed::started("twfr");
    let floor = counts_now(&bed, &NODES);
    let sampler = bed.sampler(&NODES);
    let prober = MatrixProber::start(&bed.prefix);
    let started = Instant::now();

    let mut controller = bed
        .controller
        .take()
        .unwrap_or_else(|| panic!("controller"));
    controller.kill_9();
    // The change is made while no controller runs; the new one finds it in the manifests.
    bed.write_manifest("change.yaml", CHANGE_POLICY);
    std::thread::sleep(Duration::from_millis(500));
    bed.start_controller(&NODES);
    bed.wait_phase("fs-change", "Realized", 1);
    bed.wait_phase("fs-base", "Realized", 3);
    let resynced = started.elapsed();
    // Probing and reading go on until a round of probes started after the resync is done.
    let rounds = prober.finish_after(Instant::now());
    let reads = sampler.finish();

    let summary = assert_never_emptied(&reads, &floor, 5);
    // Every round gave the same verdicts, but for the changed pair, which turned from
    // Connected to Dropped once and never back.
    let mut turned = false;
    for (at, outcomes) in &rounds {
        let at = at.duration_since(started).as_millis();
        for (i, (seen, want)) in outcomes.iter().zip(BEFORE).enumerate() {
            if i == CHANGED {
                assert!(
                    *seen == Dropped || (*seen == Connected && !turned),
                    "round at {at} ms: the changed pair {seen:?} after it turned"
                );
                turned |= *seen == Dropped;
            } else {
                assert_eq!(*seen, want, "round at {at} ms, pair {i}: {outcomes:?}");
            }
        }
    }
    assert!(rounds.len() >= 2, "{} probe rounds", rounds.len());
    assert_eq!(bed.matrix(), after(), "{}", bed.logs());
    for node in NODES {
        let log = bed.agent_log(node);
        assert!(
            log.matches("connected to the controller").count() >= 2,
            "{log}"
        );
    }
    eprintln!(
        "controller restart: resynced in {} ms; {} probe rounds; {summary}",
        resynced.as_millis(),
        rounds.len()
    );
}

#[test]
fn agent_killed_its_table_keeps_enforcing_and_is_adopted() {
    if skipped("agent_killed_its_table_keeps_enforcing_and_is_adopted") {
        return;
    }
    let mut bed = FailSafeBed::started("twfa");
    let table = bed.table_text("node-2");
    let floor = counts_now(&bed, &["node-2"]);
    // The matrix's probes to x/c were counted by node-2's rules.
    let counted = counted_packets(&bed.node_netns("node-2"));
    assert!(counted > 0, "no packet counted on node-2");
    let mut agent = bed
        .agents
        .remove("node-2")
        .unwrap_or_else(|| panic!("agent"));
    agent.kill_9();

    // Down: the table is in the kernel and enforces.
    assert_eq!(bed.table_text("node-2"), table);
    assert_eq!(bed.matrix(), BEFORE, "with node-2's agent down");

    // Started again: it adopts the table (a full transaction against it), never emptying it.
    let sampler = bed.sampler(&["node-2"]);
    let started = Instant::now();
    bed.start_agent("node-2");
    let realized = eventually("the new agent realized", LIMIT, || {
        let log = bed.agent_log("node-2");
        match log.lines().find(|l| l.contains("realized ")) {
            Some(line) => Ok(line.to_string()),
            None => Err(log),
        }
    });
    let adopted = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let reads = sampler.finish();
    let summary = assert_never_emptied(&reads, &floor, 5);
    assert!(
        realized.contains("(Full"),
        "adopted, not replaced: {realized}"
    );
    assert_eq!(bed.table_text("node-2"), table, "the same rule set");
    let kept = counted_packets(&bed.node_netns("node-2"));
    assert!(
        kept >= counted,
        "the counters restarted ({counted} packets before, {kept} after): the table was replaced"
    );
    bed.wait_phase("fs-base", "Realized", 3);

    // It converges: a later change reaches it.
    bed.write_manifest("change.yaml", CHANGE_POLICY);
    bed.wait_phase("fs-change", "Realized", 1);
    assert_eq!(bed.matrix(), after(), "{}", bed.logs());
    eprintln!(
        "agent SIGKILL: table kept; restarted agent adopted it in {} ms ({realized}), counters {counted} -> {kept} packets; {summary}",
        adopted.as_millis()
    );
}

#[test]
fn changes_made_while_an_agent_is_down_reach_it_when_it_returns() {
    if skipped("changes_made_while_an_agent_is_down_reach_it_when_it_returns") {
        return;
    }
    let mut bed = FailSafeBed::started("twfd");
    let mut agent = bed
        .agents
        .remove("node-2")
        .unwrap_or_else(|| panic!("agent"));
    agent.kill_9();
    bed.write_manifest("change.yaml", CHANGE_POLICY);
    // The controller has the change; node-2 (its only Node) cannot have it.
    let status = eventually("fs-change desired on node-2", LIMIT, || {
        let s = bed.status("fs-change");
        if s["desiredNodesRealized"] == 1 && s["currentNodesRealized"] == 0 {
            Ok(s)
        } else {
            Err(s.to_string())
        }
    });
    assert_ne!(status["phase"], "Realized", "{status}");
    assert_eq!(bed.matrix(), BEFORE, "node-2 keeps its last rule set");

    bed.start_agent("node-2");
    bed.wait_phase("fs-change", "Realized", 1);
    assert_eq!(bed.matrix(), after(), "{}", bed.logs());
}

/// Holds Node `netns`'s table `inet tierwall` for another netlink socket: the table is replaced,
/// in one transaction, by the same rules in a table with `flags owner` (kernel ≥ 5.12) created
/// by an `nft -i` process that stays. The kernel then refuses every change from anyone else
/// (EPERM) while the rules go on enforcing. Released by replacing it again with an unowned copy
/// from the same socket, then ending `nft -i`.
struct TableHold {
    nft: Child,
    netns: String,
    dir: std::path::PathBuf,
}

impl TableHold {
    fn take(netns: &str, dir: &Path) -> TableHold {
        let listing = nft_in(netns, &["list", "table", "inet", "tierwall"])
            .unwrap_or_else(|| panic!("no table in {netns}"));
        let owned = listing.replacen(
            "table inet tierwall {",
            "table inet tierwall {\n\tflags owner",
            1,
        );
        let take = dir.join("take.nft");
        std::fs::write(&take, format!("delete table inet tierwall\n{owned}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut nft = Command::new("ip")
            .args(["netns", "exec", netns, "nft", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("nft -i: {e}"));
        let line = format!("include \"{}\"\n", take.display());
        if let Some(stdin) = nft.stdin.as_mut() {
            stdin
                .write_all(line.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let hold = TableHold {
            nft,
            netns: netns.to_string(),
            dir: dir.to_path_buf(),
        };
        eventually("the table held by nft -i", LIMIT, || {
            let now = nft_in(netns, &["list", "table", "inet", "tierwall"]).unwrap_or_default();
            if now.contains("flags owner") {
                Ok(())
            } else {
                Err(now)
            }
        });
        hold
    }

    /// Hands the table back (unowned, same rules) and ends `nft -i`.
    fn release(mut self) {
        let listing = nft_in(&self.netns, &["list", "table", "inet", "tierwall"])
            .unwrap_or_else(|| panic!("no table in {}", self.netns));
        let unowned: Vec<&str> = listing
            .lines()
            .filter(|l| l.trim() != "flags owner")
            .map(|l| l.split(" # progname").next().unwrap_or(l))
            .collect();
        let release = self.dir.join("release.nft");
        std::fs::write(
            &release,
            format!("delete table inet tierwall\n{}\n", unowned.join("\n")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let line = format!("include \"{}\"\n", release.display());
        if let Some(mut stdin) = self.nft.stdin.take() {
            stdin
                .write_all(line.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let status = self.nft.wait().unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "nft -i: {status}");
        let now = nft_in(&self.netns, &["list", "table", "inet", "tierwall"]).unwrap_or_default();
        assert!(
            now.contains("table inet tierwall") && !now.contains("flags owner"),
            "released: {now}"
        );
    }
}

impl Drop for TableHold {
    fn drop(&mut self) {
        let _ = self.nft.kill();
        let _ = self.nft.wait();
    }
}

/// Why a table held by another netlink socket: the agent's own fallbacks repair anything else
/// a table can hold. A conflicting object inside `inet tierwall` (a set of another type under a
/// name the agent is about to add, an element overlapping one it adds, a foreign rule jumping
/// into a chain it deletes) fails its incremental transaction, but the full transaction that
/// follows flushes and rebuilds the table, and a table it cannot adopt is replaced. Names are
/// hashed and kept short, so no rule set is refused for its content. What remains is the
/// kernel refusing the agent itself: `NFT_TABLE_F_OWNER` makes nf_tables answer EPERM to every
/// write from another socket, to the full and replacing transactions too, while the rules keep
/// enforcing — the case of another program (or a person with `nft -i`) holding the table.
#[test]
fn a_rule_set_the_kernel_refuses_keeps_the_previous_one_and_shows_in_status() {
    if skipped("a_rule_set_the_kernel_refuses_keeps_the_previous_one_and_shows_in_status") {
        return;
    }
    let bed = FailSafeBed::started("twfx");
    let netns = bed.node_netns("node-2");
    let hold = TableHold::take(&netns, bed.dir());
    let held_table = bed.table_text("node-2");
    assert_eq!(bed.matrix(), BEFORE, "the held copy enforces the same");

    bed.write_manifest("change.yaml", CHANGE_POLICY);
    let status = bed.wait_phase("fs-change", "Failed", 1);
    let message = status["error"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("Failed Nodes count 1") && message.contains("\"node-2\""),
        "{status}"
    );
    assert!(message.contains("Operation not permitted"), "{status}");
    assert_eq!(status["currentNodesRealized"], 0, "{status}");
    let conditions = status["conditions"].to_string();
    assert!(
        conditions.contains("RealizationFailure")
            && conditions.contains("NetworkPolicyRealizationFailedOnNode"),
        "{status}"
    );
    // fs-base's span has node-2 too: its other Nodes hold the current set, node-2 failed.
    let base = bed.wait_phase("fs-base", "Failed", 3);
    assert_eq!(base["currentNodesRealized"], 2, "{base}");
    let log = bed.agent_log("node-2");
    assert!(
        log.contains("could not realize") && log.contains("keeps the previous rule set"),
        "{log}"
    );
    // The controller shows the Node failing (from its next poll step on), and logs it once.
    let nodes = eventually("node-2 failing in /status", LIMIT, || {
        let (_, all) = common::request(bed.api, "GET", "/status");
        let nodes = all["nodes"].clone();
        let error = nodes["node-2"]["error"].as_str().unwrap_or_default();
        if nodes["node-2"]["programmed"] == false && error.contains("Operation not permitted") {
            Ok(nodes)
        } else {
            Err(nodes.to_string())
        }
    });
    assert_eq!(nodes["node-0"]["programmed"], true, "{nodes}");
    let controller_log =
        |bed: &FailSafeBed| bed.controller.as_ref().map(|c| c.log()).unwrap_or_default();
    eventually("the failure in the controller's log", LIMIT, || {
        let log = controller_log(&bed);
        if log.matches("node node-2: programming failed: ").count() == 1 {
            Ok(())
        } else {
            Err(log)
        }
    });
    // The previous rule set stays: the same table, the same verdicts.
    assert_eq!(bed.table_text("node-2"), held_table);
    assert_eq!(bed.matrix(), BEFORE, "{}", bed.logs());

    // The cause goes: the agent's retry realizes the refused set, the status follows.
    hold.release();
    bed.wait_phase("fs-change", "Realized", 1);
    bed.wait_phase("fs-base", "Realized", 3);
    assert_eq!(bed.matrix(), after(), "{}", bed.logs());
    eventually("node-2 programmed again", LIMIT, || {
        let (_, all) = common::request(bed.api, "GET", "/status");
        let log = controller_log(&bed);
        if all["nodes"]["node-2"]["programmed"] == true
            && log.contains("node node-2: programmed again")
        {
            Ok(())
        } else {
            Err(format!("{}\n{log}", all["nodes"]))
        }
    });
    // A later change realizes too.
    std::fs::remove_file(bed.manifests.join("change.yaml")).unwrap_or_else(|e| panic!("{e}"));
    eventually("fs-change gone", LIMIT, || {
        let (code, _) = common::request(bed.api, "GET", "/status/acnp/fs-change");
        if code == 404 {
            Ok(())
        } else {
            Err(code.to_string())
        }
    });
    bed.wait_phase("fs-base", "Realized", 3);
    assert_eq!(probe_matrix(&bed.prefix), BEFORE, "{}", bed.logs());
    eprintln!("kernel refusal: status error {message:?}");
}

/// A Node and a Pod of Namespace x on it, as manifests for the controller's directory.
const NODE_3: &str = r#"apiVersion: v1
kind: Node
metadata: {name: node-3, labels: {kubernetes.io/hostname: node-3}}
status: {addresses: [{type: InternalIP, address: "172.18.0.5"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: e, namespace: x, labels: {pod: e}}
spec:
  nodeName: node-3
  containers:
  - name: server
    ports:
    - {containerPort: 80, protocol: TCP}
status: {podIP: "10.10.1.15"}
"#;

#[test]
fn an_agent_of_an_unknown_node_is_refused_retries_and_connects_when_it_appears() {
    if skipped("an_agent_of_an_unknown_node_is_refused_retries_and_connects_when_it_appears") {
        return;
    }
    let mut bed = FailSafeBed::started("twfu");
    // An identity of the right CA for a Node the cluster does not have (yet).
    let ca = tierwall_controller::pki::CertificateAuthority::open_or_create(&bed.pki)
        .unwrap_or_else(|e| panic!("{e}"));
    ca.write_node_identity("node-3", &bed.identity("node-3"))
        .unwrap_or_else(|e| panic!("{e}"));
    bed.start_agent("node-3");
    let refused = eventually("node-3 refused twice", LIMIT, || {
        let log = bed.agent_log("node-3");
        let refusals: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("controller refused the stream (404 Not Found)"))
            .collect();
        match refusals.as_slice() {
            [first, _, ..] => Ok(first.to_string()),
            _ => Err(log.clone()),
        }
    });
    assert!(
        refused.contains("\"node-3\" is not a Node of this cluster")
            && refused.contains("retrying"),
        "{refused}"
    );

    // The Node appears (with a Pod of x): the waiting agent connects and enforces.
    bed.write_manifest("node-3.yaml", NODE_3);
    bed.wait_phase("fs-base", "Realized", 4);
    let log = bed.agent_log("node-3");
    assert!(log.contains("connected to the controller"), "{log}");
    let testbed = tierwall_testbed::Testbed::attach(&bed.prefix).unwrap_or_else(|e| panic!("{e}"));
    let ip = testbed.pod_ip("x", "e").unwrap_or_else(|e| panic!("{e}"));
    let probes: Vec<tierwall_testbed::Probe> = ["x/a", "y/a", "z/a"]
        .iter()
        .map(|src| {
            tierwall_testbed::Probe::new(
                tierwall_testbed::Endpoint::parse(src).unwrap_or_else(|| panic!("{src}")),
                std::net::IpAddr::V4(ip),
                tierwall_testbed::Transport::Tcp(80),
            )
        })
        .collect();
    let outcomes: Vec<_> = testbed
        .probe_many(&probes)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        outcomes,
        vec![Connected, Rejected, Dropped],
        "{}",
        bed.logs()
    );
}
