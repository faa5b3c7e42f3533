//! Apply-time benchmarks of the dataplane (issue 3, item 8), in a throwaway network namespace:
//!
//! * `apply_10k_rules_full`: node-0's rule set with 9,990 Antrea rule entries (1,000 ACNPs ×
//!   10 rules, each with its own /32 ipBlock peer and port, applied to the Node's `app: a`
//!   Pods) programmed into a fresh table — one `nft -j -f -` transaction.
//! * `apply_10k_rules_one_pod_change`: at that size, Pod x/a is relabelled `app: bench-target`
//!   (it leaves the appliedTo of 999 policies and becomes the only member of bench-0's, whose
//!   10 rules appear) and back; the agent sends the diff (set elements, 10 rules inserted or
//!   deleted by handle).
//! * `..._unmerged`: the same with `RenderOptions::merge_runs` off (one nft rule per entry).
//! * `apply_10k_rules_one_pod_membership_change`: x/a is relabelled `app: bench-idle` (it
//!   leaves the appliedTo of 999 policies; y/a keeps them on the Node, no policy appears) and
//!   back: a change of set elements only, which the agent writes as one netlink batch;
//!   `..._nft` sends the same change through `nft -j -f -`.
//!
//! Needs root and nft; without them it prints a note and measures nothing.
//! Run: `cargo bench -p tierwall-dataplane --bench apply` (`TIERWALL_BENCH_POLICIES=n` for
//! another size).

#[path = "support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use support::{Netns, engine_with, interfaces, policies, privileged};
use tierwall_dataplane::{RenderOptions, SyncMode, TableWriter};
use tierwall_engine::ruleset::node_rule_set;

fn bench(c: &mut Criterion) {
    if !privileged() {
        return;
    }
    let engine = engine_with(policies());
    let ns = Netns::new("apply");
    let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
    eprintln!("node-0 rule set: {} rule entries", rules.rules().count());
    let ifaces = interfaces(&rules);
    let target = ns.target();

    // One Pod relabel: x/a leaves `app: a` and joins bench-0's appliedTo.
    let mut pod = engine
        .store()
        .get(&tierwall_model::ObjectKey::namespaced(
            tierwall_model::Kind::Pod,
            "x",
            "a",
        ))
        .cloned()
        .expect("x/a");
    pod.metadata_mut()
        .labels
        .insert("app".into(), "bench-target".into());
    let mut relabelled = engine.clone();
    relabelled.apply(pod.clone()).expect("relabel");
    let changed = node_rule_set(relabelled.cluster(), relabelled.table(), "node-0");
    // A membership change only: x/a leaves `app: a` for a label no policy selects.
    pod.metadata_mut()
        .labels
        .insert("app".into(), "bench-idle".into());
    let mut idle = engine.clone();
    idle.apply(pod).expect("relabel");
    let membership = node_rule_set(idle.cluster(), idle.table(), "node-0");

    let mut group = c.benchmark_group("dataplane_apply");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .warm_up_time(Duration::from_secs(1));
    for (suffix, merge_runs) in [("", true), ("_unmerged", false)] {
        let options = RenderOptions {
            merge_runs,
            ..RenderOptions::default()
        };
        group.bench_function(format!("apply_10k_rules_full{suffix}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut agent = TableWriter::new("node-0", target.clone(), ifaces.clone())
                        .with_options(options);
                    let _ = agent.remove();
                    let start = Instant::now();
                    agent.sync(&rules).expect("full sync");
                    total += start.elapsed();
                }
                total
            })
        });

        let mut agent =
            TableWriter::new("node-0", target.clone(), ifaces.clone()).with_options(options);
        let _ = agent.remove();
        let first = agent.sync(&rules).expect("initial sync");
        eprintln!(
            "full{suffix}: {} nft rules, {} sets/maps, {} elements, {} commands, {} bytes",
            agent.applied().map_or(0, |r| r.rule_count()),
            agent.applied().map_or(0, |r| r.sets.len()),
            agent.applied().map_or(0, |r| r.element_count()),
            first.commands,
            first.bytes
        );
        // The first patch of a chain after a full sync reads its handles once.
        for (i, r) in [&changed, &rules].into_iter().enumerate() {
            let report = agent.sync(r).expect("first incremental syncs");
            eprintln!(
                "change{suffix} #{i}: {:?} in {:?} (render+diff {:?}), {} commands: {:?}",
                report.mode, report.elapsed, report.render, report.commands, report.changes
            );
        }
        let mut flip = false;
        let mut renders = Vec::new();
        group.bench_function(format!("apply_10k_rules_one_pod_change{suffix}"), |b| {
            b.iter(|| {
                flip = !flip;
                let report = agent
                    .sync(if flip { &changed } else { &rules })
                    .expect("incremental sync");
                assert_eq!(report.mode, SyncMode::Incremental);
                renders.push((report.elapsed, report.render, report.writer));
            })
        });
        renders.sort_by_key(|r| r.0);
        if let Some((total, render, writer)) = renders.get(renders.len() / 2) {
            eprintln!(
                "one_pod_change{suffix}: median sync {total:?}, of which render+diff {render:?} \
                 (the rest is {writer:?})"
            );
        }
    }
    for (suffix, netlink) in [("", true), ("_nft", false)] {
        let mut agent =
            TableWriter::new("node-0", target.clone(), ifaces.clone()).with_netlink(netlink);
        let _ = agent.remove();
        agent.sync(&rules).expect("initial sync");
        let mut flip = false;
        let mut renders = Vec::new();
        group.bench_function(
            format!("apply_10k_rules_one_pod_membership_change{suffix}"),
            |b| {
                b.iter(|| {
                    flip = !flip;
                    let report = agent
                        .sync(if flip { &membership } else { &rules })
                        .expect("incremental sync");
                    assert_eq!(report.mode, SyncMode::Incremental);
                    assert!(report.changes.chains_rebuilt.is_empty(), "{report:?}");
                    renders.push((report.elapsed, report.render, report.writer));
                })
            },
        );
        renders.sort_by_key(|r| r.0);
        if let Some((total, render, writer)) = renders.get(renders.len() / 2) {
            eprintln!(
                "one_pod_membership_change{suffix}: median sync {total:?}, of which render+diff \
                 {render:?} (the rest is {writer:?})"
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
