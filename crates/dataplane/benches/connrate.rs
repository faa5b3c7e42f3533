//! Connection rate through a Node (issue 3, item 8: ≥ 90% of a conntrack-only baseline with
//! 10,000 rules). Sequential TCP connections (connect, 1 byte each way, close) from a client
//! namespace through the Node namespace's `forward` hook to the server Pod y/a
//! (`support::Topology`), all in the same run:
//!
//! * `ct_only`: the Node's table holds only `ct state established,related accept`;
//! * `rules_10k`: node-0's tierwall table with 9,990 rule entries (every one applies to y/a;
//!   none matches the client, so the connection is allowed at the end of the pipeline);
//! * `rules_10k_unmerged`: the same with one nft rule per entry (`merge_runs` off).
//!
//! Criterion reports the time per connection and connections/s (throughput). Each case has
//! its own topology (own conntrack table). Then the cases run interleaved
//! (`TIERWALL_CONNRATE_ROUNDS` rounds, default 7, of 3,000 connections; 300 for the unmerged
//! case) and the median per-round ratio to `ct_only` is printed: the number to quote, since
//! load on a shared machine drifts between criterion's consecutive cases. Needs root.
//! Run: `cargo bench -p tierwall-dataplane --bench connrate`.

#[path = "support/mod.rs"]
mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use support::{Topology, engine_with, interfaces, policies, privileged};
use tierwall_dataplane::{Document, RenderOptions, TableWriter};
use tierwall_engine::ruleset::node_rule_set;

const CT_ONLY: &str = r#"{"nftables": [{"add": {"table": {"family": "inet", "name": "tierwall"}}},
 {"add": {"chain": {"family": "inet", "table": "tierwall", "name": "forward", "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}},
 {"add": {"rule": {"family": "inet", "table": "tierwall", "chain": "forward", "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}}]}"#;

fn bench(c: &mut Criterion) {
    if !privileged() {
        return;
    }
    let engine = engine_with(policies());
    let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
    let ifaces = interfaces(&rules);
    let mut group = c.benchmark_group("dp_connrate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    // All three Nodes stay up, so the cases can also be measured interleaved (below).
    let mut setups = Vec::new();
    for (tag, case) in [
        ("ct", "ct_only"),
        ("rm", "rules_10k"),
        ("ru", "rules_10k_unmerged"),
    ] {
        let topo = Topology::new(tag);
        let mut agent = None;
        if case == "ct_only" {
            let doc: serde_json::Value = serde_json::from_str(CT_ONLY).expect("json");
            let doc = Document::from_json(doc);
            tierwall_dataplane::apply(&topo.node.target(), &doc).expect("ct-only table");
        } else {
            let options = RenderOptions {
                merge_runs: case == "rules_10k",
                ..RenderOptions::default()
            };
            let mut a = TableWriter::new("node-0", topo.node.target(), ifaces.clone())
                .with_options(options);
            a.sync(&rules).expect("sync");
            eprintln!(
                "{case}: {} nft rules in the table",
                a.applied().map_or(0, |r| r.rule_count())
            );
            agent = Some(a);
        }
        let client = topo.client();
        let (_, failed) = client.connections(100);
        assert_eq!(failed, 0, "{case}: connections fail");
        setups.push((case, topo, agent, client));
    }
    for (case, _, _, client) in &setups {
        group.bench_function(*case, |b| {
            b.iter_custom(|iters| {
                let (elapsed, failed) = client.connections(iters as usize);
                assert_eq!(failed, 0, "{case}: connections failed");
                elapsed
            })
        });
    }
    // Interleaved rounds: machine load drifts less between neighbouring measurements than
    // between criterion's consecutive cases, so the ratio per round is the robust number.
    let rounds: usize = std::env::var("TIERWALL_CONNRATE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let per_round = 3000;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    for _ in 0..rounds {
        for (i, (_, _, _, client)) in setups.iter().enumerate() {
            let n = if i == 2 { per_round / 10 } else { per_round };
            let (elapsed, failed) = client.connections(n);
            assert_eq!(failed, 0);
            rates[i].push(n as f64 / elapsed.as_secs_f64());
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios = |i: usize| -> Vec<f64> {
        rates[i]
            .iter()
            .zip(&rates[0])
            .map(|(r, base)| r / base)
            .collect()
    };
    for (i, (case, ..)) in setups.iter().enumerate() {
        eprintln!(
            "interleaved {case}: conn/s per round {:?}; median {:.0}; median ratio to ct_only {:.3}",
            rates[i].iter().map(|r| r.round()).collect::<Vec<_>>(),
            median(&rates[i]),
            median(&ratios(i)),
        );
    }
    drop(setups);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
