//! Policy-to-enforcement latency (issue 3, item 8: p99 ≤ 100 ms). In the three-namespace
//! topology (`support::Topology`), a Reject policy for the client → server Pod y/a is applied
//! and deleted in turn; each sample runs from the call to `Engine::apply`/`Engine::delete`
//! through the Node's rule set, the agent's sync (one `nft` transaction), until a new probe
//! connection from the client sees the new verdict (refused at once by the TCP reset, or
//! connected). Two backgrounds: the standard cluster alone (`small`) and with node-0's
//! 9,990-entry rule set (`rules_10k`).
//!
//! Criterion reports the mean; the p50/p99 over all measured samples are printed at the end.
//! Needs root. Run: `cargo bench -p tierwall-dataplane --bench enforcement`.

#[path = "support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use support::{Topology, engine_with, interfaces, percentile, policies, privileged};
use tierwall_dataplane::TableWriter;
use tierwall_engine::Engine;
use tierwall_engine::ruleset::node_rule_set;
use tierwall_model::{Kind, Object, ObjectKey};

fn reject_policy() -> Object {
    tierwall_model::load::object_from_value(
        Kind::ClusterNetworkPolicy,
        serde_json::json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "bench-reject-client"},
            "spec": {"priority": 1, "tier": "emergency",
                     "appliedTo": [{"podSelector": {"matchLabels": {"app": "a"}}}],
                     "ingress": [{"action": "Reject",
                                  "from": [{"ipBlock": {"cidr": "172.16.0.0/24"}}],
                                  "ports": [{"protocol": "TCP", "port": support::PORT}]}]}}),
    )
    .expect("policy")
}

/// One change and its enforcement: [total, engine + rule set, agent sync, of which render +
/// diff].
fn toggle(
    engine: &mut Engine,
    agent: &mut TableWriter,
    client: &support::Client,
    on: bool,
) -> [Duration; 4] {
    let start = Instant::now();
    if on {
        engine.apply(reject_policy()).expect("apply");
    } else {
        engine
            .delete(&ObjectKey::cluster(
                Kind::ClusterNetworkPolicy,
                "bench-reject-client",
            ))
            .expect("delete");
    }
    let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
    let computed = start.elapsed();
    let report = agent.sync(&rules).expect("sync");
    let synced = start.elapsed();
    let (seen_at, seen, _) = client.until(!on, Duration::from_secs(5));
    assert!(seen, "the verdict did not change within 5 s");
    [seen_at - start, computed, synced - computed, report.render]
}

fn bench(c: &mut Criterion) {
    if !privileged() {
        return;
    }
    let mut group = c.benchmark_group("dp_enforcement");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    let mut report = Vec::new();
    for (case, n) in [("small", 0), ("rules_10k", policies())] {
        let mut engine = engine_with(n);
        let topo = Topology::new(if n == 0 { "es" } else { "el" });
        let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
        let mut agent = TableWriter::new("node-0", topo.node.target(), interfaces(&rules));
        agent.sync(&rules).expect("sync");
        let client = topo.client();
        assert!(
            client.until(true, Duration::from_secs(2)).1,
            "{case}: no path"
        );
        let mut on = false;
        let mut samples: Vec<[Duration; 4]> = Vec::new();
        group.bench_function(case, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    on = !on;
                    let s = toggle(&mut engine, &mut agent, &client, on);
                    total += s[0];
                    samples.push(s);
                }
                total
            })
        });
        let sorted = |i: usize| {
            let mut v: Vec<Duration> = samples.iter().map(|s| s[i]).collect();
            v.sort();
            v
        };
        let (totals, computes, syncs, renders) = (sorted(0), sorted(1), sorted(2), sorted(3));
        report.push(format!(
            "{case}: {} samples; policy → enforced p50 {:?} p99 {:?} max {:?}; \
             engine+rule set p50 {:?} p99 {:?}; agent sync p50 {:?} p99 {:?} \
             (render+diff p50 {:?} p99 {:?})",
            totals.len(),
            percentile(&totals, 0.5),
            percentile(&totals, 0.99),
            totals.last().copied().unwrap_or_default(),
            percentile(&computes, 0.5),
            percentile(&computes, 0.99),
            percentile(&syncs, 0.5),
            percentile(&syncs, 0.99),
            percentile(&renders, 0.5),
            percentile(&renders, 0.99),
        ));
        drop(client);
        drop(agent);
        drop(topo);
    }
    group.finish();
    for line in report {
        eprintln!("{line}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
