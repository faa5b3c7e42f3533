//! Privileged: renderings applied by `TableWriter::sync` into throwaway network namespaces and read
//! back with `nft -j list table inet tierwall` — nft accepts every construct, and after every
//! (incremental) sync the kernel's table holds exactly the rendering.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;
use tierwall_dataplane::names::TABLE;
use tierwall_dataplane::{
    InterfaceMap, NetnsTarget, Ruleset, SyncMode, TableWriter, Writer, list_table, render,
};
use tierwall_engine::Engine;
use tierwall_engine::ruleset::{NodeRuleSet, node_rule_set};
use tierwall_scenario::collect_files;
use tierwall_scenario::format::ScenarioFile;

/// Made-up interface names for the local Pods (the interfaces need not exist).
fn ifaces(rules: &NodeRuleSet) -> InterfaceMap {
    rules
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| (p.ip, format!("twp{i}")))
        .collect()
}

/// What the kernel holds: set name → elements, chain name → rule count, counter names.
#[derive(Debug, PartialEq)]
struct Observed {
    sets: BTreeMap<String, BTreeSet<String>>,
    chains: BTreeMap<String, usize>,
    counters: BTreeSet<String>,
}

fn observed(listing: &Value) -> Observed {
    let mut o = Observed {
        sets: BTreeMap::new(),
        chains: BTreeMap::new(),
        counters: BTreeSet::new(),
    };
    for item in listing["nftables"].as_array().unwrap() {
        if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            let elems = s["elem"]
                .as_array()
                .map(|a| a.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            o.sets
                .insert(s["name"].as_str().unwrap().to_string(), elems);
        } else if let Some(c) = item.get("chain") {
            o.chains
                .entry(c["name"].as_str().unwrap().to_string())
                .or_insert(0);
        } else if let Some(r) = item.get("rule") {
            *o.chains
                .entry(r["chain"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        } else if let Some(c) = item.get("counter") {
            o.counters.insert(c["name"].as_str().unwrap().to_string());
        }
    }
    o
}

fn expected(r: &Ruleset) -> Observed {
    Observed {
        sets: r
            .sets
            .iter()
            .map(|(n, s)| {
                (
                    n.clone(),
                    s.elements.iter().map(|e| e.to_json().to_string()).collect(),
                )
            })
            .collect(),
        chains: r
            .chains
            .iter()
            .map(|c| (c.name.clone(), c.rules.len()))
            .collect(),
        counters: r.counters.keys().cloned().collect(),
    }
}

fn assert_table_is(ns: &NetnsTarget, r: &Ruleset, context: &str) {
    let listing = list_table(ns).unwrap().expect("the table exists");
    let got = observed(&listing);
    let want = expected(r);
    if got != want {
        for (name, elems) in &want.sets {
            if got.sets.get(name) != Some(elems) {
                eprintln!(
                    "set {name}: kernel {:?} rendering {elems:?}",
                    got.sets.get(name)
                );
            }
        }
        panic!(
            "{context}: table differs from the rendering\nchains kernel {:?}\nchains rendering {:?}",
            got.chains, want.chains
        );
    }
}

/// The rule handles the agent records are the kernel's, chain by chain and in order.
fn assert_handles_are_the_kernels(agent: &TableWriter, context: &str) {
    let listing = list_table(agent.netns())
        .unwrap()
        .expect("the table exists");
    let mut kernel: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for item in listing["nftables"].as_array().unwrap() {
        if let Some(r) = item.get("rule") {
            kernel
                .entry(r["chain"].as_str().unwrap().to_string())
                .or_default()
                .push(r["handle"].as_u64().unwrap());
        }
    }
    for (chain, handles) in agent.rule_handles() {
        let empty = Vec::new();
        let got = kernel.get(chain).unwrap_or(&empty);
        assert_eq!(got, handles, "{context}: rule handles of chain {chain}");
    }
}

fn scenario_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = vec![root.join("tests/scenarios")];
    let shared = root.join("../shared/scenarios");
    if shared.exists() {
        dirs.push(shared);
    }
    collect_files(&dirs).unwrap()
}

fn node_names(engine: &Engine) -> Vec<String> {
    engine.cluster().nodes.keys().cloned().collect()
}

/// Every step of every scenario, on every Node: the agent's syncs (full first, then
/// incremental, also from one file's last state to the next file's first) are accepted by nft
/// and leave exactly the rendering in the kernel. One thread per Node: nft's latency is mostly
/// the kernel's commit, not CPU.
#[test]
fn every_scenario_step_applies_and_reads_back() {
    require_root!();
    let start = Instant::now();
    let mut states: Vec<(String, Engine)> = Vec::new();
    let mut files = 0;
    for path in scenario_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let file: ScenarioFile = serde_saphyr::from_str(&text).unwrap();
        let file_states = common::scenario_file_engines(&file);
        files += usize::from(!file_states.is_empty());
        for (label, engine) in file_states {
            states.push((format!("{} {label}", path.display()), engine));
        }
    }
    assert!(files > 10, "only {files} scenario files ran");
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    for (_, e) in &states {
        nodes.extend(node_names(e));
    }
    let states = &states;
    let totals: Vec<[usize; 7]> = std::thread::scope(|scope| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| scope.spawn(move || sync_all(node, states)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sum = |i: usize| totals.iter().map(|t| t[i]).sum::<usize>();
    eprintln!(
        "{files} files, {} Nodes, {} syncs ({} incremental, {} of them by netlink, {} of \
         those rebuilding chains, {} unchanged): {} commands in full syncs, {} in incremental \
         ones, {:?}",
        nodes.len(),
        sum(0),
        sum(1),
        sum(5),
        sum(6),
        sum(2),
        sum(3),
        sum(4),
        start.elapsed()
    );
    // Member-only changes (Pods relabelled, groups changed) are written by netlink, and read
    // back from the kernel like every other sync above.
    assert!(sum(5) > 10, "only {} netlink syncs", sum(5));
    // So are changes that add, rebuild or remove chains and add sets (new rules): the rule
    // encoder writes what nft writes (`tests/netlink_rules.rs`), and the table reads back.
    assert!(sum(6) > 10, "only {} netlink syncs rebuilt chains", sum(6));
}

/// Syncs `node` through every state; returns [syncs, incremental, unchanged, full commands,
/// incremental commands, incremental syncs written by netlink, of which rule changes].
fn sync_all(node: &str, states: &[(String, Engine)]) -> [usize; 7] {
    let ns = common::Netns::new("sc");
    // By path (`nsenter --net=…`); the other tests use the name (`ip netns exec …`).
    let path = NetnsTarget::Path(format!("/run/netns/{}", ns.name).into());
    // Half the Nodes patch every chain by handle, the others use the default threshold.
    let patch_all = node.ends_with(['0', '2', '4', '6', '8']);
    let mut agent = TableWriter::new(node, path, InterfaceMap::new());
    if patch_all {
        agent = agent.with_patch_min_rules(0);
    }
    let mut t = [0; 7];
    for (label, engine) in states {
        if !engine.cluster().nodes.contains_key(node) {
            continue;
        }
        let rules = node_rule_set(engine.cluster(), engine.table(), node);
        agent.set_interfaces(ifaces(&rules));
        let context = format!("{label} {node}");
        let report = agent
            .sync(&rules)
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        assert!(report.recovered_from.is_none(), "{context}: {report:?}");
        t[0] += 1;
        match report.mode {
            SyncMode::Full => t[3] += report.commands,
            SyncMode::Incremental => {
                t[1] += 1;
                t[4] += report.commands;
                let netlink = report.writer == Writer::Netlink;
                t[5] += usize::from(netlink);
                let c = &report.changes;
                t[6] += usize::from(
                    netlink
                        && (!c.chains_rebuilt.is_empty()
                            || !c.chains_added.is_empty()
                            || !c.chains_removed.is_empty()
                            || c.rules_written > 0),
                );
            }
            SyncMode::Unchanged => {
                t[2] += 1;
                continue;
            }
            SyncMode::Replace => panic!("{context}: replaced the table"),
        }
        assert_table_is(&ns.target(), agent.applied().unwrap(), &context);
        assert_handles_are_the_kernels(&agent, &context);
    }
    agent.remove().unwrap();
    assert!(list_table(agent.netns()).unwrap().is_none());
    t
}

const TWO_STEPS: &str = r#"
name: dp-two-steps
manifests: |
  apiVersion: crd.antrea.io/v1beta1
  kind: ClusterNetworkPolicy
  metadata:
    name: deny-z
  spec:
    priority: 5
    appliedTo:
    - namespaceSelector:
        matchLabels:
          ns: x
    egress:
    - action: Drop
      to:
      - namespaceSelector:
          matchLabels:
            ns: z
steps:
- name: x drops to z
- name: and to y (members only)
  apply: |
    apiVersion: crd.antrea.io/v1beta1
    kind: ClusterNetworkPolicy
    metadata:
      name: deny-z
    spec:
      priority: 5
      appliedTo:
      - namespaceSelector:
          matchLabels:
            ns: x
      egress:
      - action: Drop
        to:
        - namespaceSelector:
            matchExpressions:
            - key: ns
              operator: In
              values: [y, z]
- name: a second rule (structure)
  apply: |
    apiVersion: crd.antrea.io/v1beta1
    kind: ClusterNetworkPolicy
    metadata:
      name: allow-y
    spec:
      priority: 1
      appliedTo:
      - namespaceSelector:
          matchLabels:
            ns: x
      egress:
      - action: Allow
        to:
        - namespaceSelector:
            matchLabels:
              ns: y
        ports:
        - protocol: TCP
          port: 80
"#;

fn node0_states() -> Vec<NodeRuleSet> {
    common::scenario_engines(TWO_STEPS)
        .iter()
        .map(|(_, e)| node_rule_set(e.cluster(), e.table(), "node-0"))
        .collect()
}

/// A change of members costs its elements only; a new rule costs one `add rule` at its place.
#[test]
fn member_changes_are_element_level_and_rule_changes_rebuild_one_chain() {
    require_root!();
    let ns = common::Netns::new("diff");
    let states = node0_states();
    // Every chain patched by handle, however small (the default rebuilds small chains).
    let mut agent =
        TableWriter::new("node-0", ns.target(), ifaces(&states[0])).with_patch_min_rules(0);
    let first = agent.sync(&states[0]).unwrap();
    assert_eq!(first.mode, SyncMode::Full);
    // A fresh namespace: built in three steps (nft skeleton, netlink members, nft rules).
    assert_eq!(first.writer, Writer::Staged, "{first:?}");
    assert_table_is(&ns.target(), agent.applied().unwrap(), "first");

    let members = agent.sync(&states[1]).unwrap();
    assert_eq!(members.mode, SyncMode::Incremental);
    assert!(members.changes.chains_rebuilt.is_empty(), "{members:?}");
    assert_eq!(members.changes.sets_changed.len(), 1, "{members:?}");
    // y/a y/b y/c = 10.10.2.11 + 10.10.2.12/31 once aggregated.
    assert_eq!(members.changes.elements_added, 2, "{members:?}");
    assert_eq!(members.changes.elements_removed, 0, "{members:?}");
    assert_eq!(members.commands, 1, "{members:?}");
    assert_eq!(members.writer, Writer::Netlink, "{members:?}");
    assert_table_is(&ns.target(), agent.applied().unwrap(), "members");

    // A new rule: its chain is patched (one rule added at its place), not rebuilt.
    let structure = agent.sync(&states[2]).unwrap();
    assert_eq!(structure.mode, SyncMode::Incremental);
    assert!(structure.changes.chains_rebuilt.is_empty(), "{structure:?}");
    assert_eq!(structure.changes.chains_patched, vec!["egress_tiers"]);
    assert_eq!(structure.changes.rules_written, 1, "{structure:?}");
    assert_eq!(structure.changes.rules_deleted, 0, "{structure:?}");
    assert_eq!(structure.changes.counters_added.len(), 1);
    assert_eq!(structure.writer, Writer::Nft, "{structure:?}");
    assert_table_is(&ns.target(), agent.applied().unwrap(), "structure");
    assert_handles_are_the_kernels(&agent, "structure");

    // And back: the rule is deleted by its handle (learnt from nft's echo).
    let back = agent.sync(&states[1]).unwrap();
    assert_eq!(
        back.changes.chains_patched,
        vec!["egress_tiers"],
        "{back:?}"
    );
    assert_eq!(back.changes.rules_deleted, 1, "{back:?}");
    assert_eq!(back.changes.rules_written, 0, "{back:?}");
    assert_table_is(&ns.target(), agent.applied().unwrap(), "back");
    assert_handles_are_the_kernels(&agent, "back");
    let structure = agent.sync(&states[2]).unwrap();
    assert_eq!(structure.changes.rules_written, 1, "{structure:?}");
    assert_handles_are_the_kernels(&agent, "structure again");

    let again = agent.sync(&states[2]).unwrap();
    assert_eq!(again.mode, SyncMode::Unchanged);
    assert_eq!(again.commands, 0);

    // With the default threshold the small chain is rebuilt instead, without echo.
    let ns2 = common::Netns::new("diff2");
    let mut agent = TableWriter::new("node-0", ns2.target(), ifaces(&states[0]));
    agent.sync(&states[1]).unwrap();
    let rebuilt = agent.sync(&states[2]).unwrap();
    assert_eq!(
        rebuilt.changes.chains_rebuilt,
        vec!["egress_tiers"],
        "{rebuilt:?}"
    );
    assert!(rebuilt.changes.chains_patched.is_empty(), "{rebuilt:?}");
    // A rebuilt chain (flush + rules), its new counter and sets: one netlink batch, no nft.
    assert_eq!(rebuilt.writer, Writer::Netlink, "{rebuilt:?}");
    assert_eq!(rebuilt.changes.counters_added.len(), 1, "{rebuilt:?}");
    assert_table_is(&ns2.target(), agent.applied().unwrap(), "rebuilt");
    assert_handles_are_the_kernels(&agent, "rebuilt");
    // And back, by netlink too.
    let back = agent.sync(&states[1]).unwrap();
    assert_eq!(
        back.changes.chains_rebuilt,
        vec!["egress_tiers"],
        "{back:?}"
    );
    assert_eq!(back.writer, Writer::Netlink, "{back:?}");
    assert_table_is(&ns2.target(), agent.applied().unwrap(), "rebuilt back");
}

/// A new agent adopts the table another left (stale objects deleted, counters kept); a table
/// changed behind the agent's back is repaired by a full sync.
#[test]
fn adopting_and_repairing_a_table() {
    require_root!();
    let ns = common::Netns::new("adopt");
    let states = node0_states();
    let mut old = TableWriter::new("node-0", ns.target(), ifaces(&states[2]));
    old.sync(&states[2]).unwrap();

    let mut fresh = TableWriter::new("node-0", ns.target(), ifaces(&states[0]));
    let adopt = fresh.sync(&states[0]).unwrap();
    assert_eq!(adopt.mode, SyncMode::Full);
    assert!(!adopt.changes.sets_removed.is_empty(), "{adopt:?}");
    assert_eq!(adopt.changes.counters_removed.len(), 1, "{adopt:?}");
    assert_table_is(&ns.target(), fresh.applied().unwrap(), "adopted");

    // Someone deletes the table: the next incremental sync fails and a full one repairs it.
    common::sh(&[
        "ip", "netns", "exec", &ns.name, "nft", "delete", "table", "inet", TABLE,
    ]);
    let repaired = fresh.sync(&states[1]).unwrap();
    assert_eq!(repaired.mode, SyncMode::Full);
    assert!(repaired.recovered_from.is_some(), "{repaired:?}");
    assert_table_is(&ns.target(), fresh.applied().unwrap(), "repaired");

    fresh.remove().unwrap();
    assert!(list_table(&ns.target()).unwrap().is_none());
}

/// The standalone document (`render` + `full_document`) is accepted as is, twice in a row.
#[test]
fn full_document_applies_idempotently() {
    require_root!();
    let ns = common::Netns::new("full");
    let states = node0_states();
    let r = render(&states[2], &ifaces(&states[2]));
    tierwall_dataplane::apply(&ns.target(), &r.full_document()).unwrap();
    tierwall_dataplane::apply(&ns.target(), &r.full_document()).unwrap();
    assert_table_is(&ns.target(), &r, "full twice");
    tierwall_dataplane::apply(&ns.target(), &r.replace_document()).unwrap();
    assert_table_is(&ns.target(), &r, "replaced");
}

/// Errors name the program, the namespace and a hint.
#[test]
fn errors_carry_program_netns_and_hint() {
    require_root!();
    let target = NetnsTarget::Named("tw-dp-does-not-exist".into());
    let states = node0_states();
    let r = render(&states[0], &InterfaceMap::new());
    let e = tierwall_dataplane::apply(&target, &r.full_document()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("ip netns exec tw-dp-does-not-exist nft"),
        "{text}"
    );
    assert!(text.contains("network namespace does not exist"), "{text}");
}

/// Merged runs (verdict and counter maps, `render::merge`) are accepted by nft, read back
/// exactly, and change element by element: rule sets of many overlapping and disjoint rules,
/// one after the other in the same table.
#[test]
fn merged_runs_apply_and_change_by_elements() {
    require_root!();
    let ns = common::Netns::new("merge");
    let mut agent: Option<TableWriter> = None;
    let mut maps_seen = 0;
    for seed in 1..=6u64 {
        let engines = common::scenario_engines(&common::many_rules_scenario(seed * 7919, 40));
        let (_, engine) = engines.last().unwrap();
        let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
        let a = agent.get_or_insert_with(|| {
            TableWriter::new("node-0", ns.target(), ifaces(&rules)).with_patch_min_rules(0)
        });
        let report = a.sync(&rules).unwrap();
        assert!(report.recovered_from.is_none(), "seed {seed}: {report:?}");
        let applied = a.applied().unwrap();
        maps_seen += applied
            .sets
            .values()
            .filter(|s| s.kind.object() == "map")
            .count();
        assert_table_is(&ns.target(), applied, &format!("seed {seed}"));
        assert_handles_are_the_kernels(a, &format!("seed {seed}"));
    }
    assert!(maps_seen >= 12, "only {maps_seen} maps");
}
