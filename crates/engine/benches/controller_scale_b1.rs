//! B1 (`ctrl-antrea-parity`, Antrea's `TestInitXLargeScaleWithSmallNamespaces`): 25,000
//! namespaces, 100,000 Pods (4 per namespace, 1000 random Node names, random unique addresses),
//! 75,000 Kubernetes NetworkPolicies (per namespace `default-deny-all` plus two policies each
//! selecting a Pod pair and allowing ingress from the same label).
//!
//! * `full_build`: ingest every object into a new `Engine` (admission, store, cluster index,
//!   compilation) and build the `Classifier` (identities, term memberships = appliedTo and
//!   address groups, per-identity rule lists, per-policy Node spans).
//! * `classifier_build`: the classifier part alone, from an ingested engine.
//!
//! Object generation and dropping the results are outside the measured time. Peak RSS is
//! measured by `cargo run --release --example b1_rss -p tierwall-engine`.
//!
//! ```text
//! cargo bench -p tierwall-engine --bench controller_scale_b1
//! ```
//! `B1_NAMESPACES=n` runs a smaller shape.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tierwall_engine::Engine;
use tierwall_engine::classifier::{Classifier, workload};
use tierwall_model::Object;

fn objects(namespaces: usize) -> Vec<Object> {
    let w = workload::b1_small_namespaces(namespaces, 1000, 1);
    w.namespaces
        .into_iter()
        .chain(w.pods)
        .chain(w.policies)
        .collect()
}

fn ingest(objects: Vec<Object>) -> Engine {
    let mut engine = Engine::new();
    for o in objects {
        // The generator only builds valid objects; a rejection would show in the counts below.
        let _ = engine.ingest(o);
    }
    engine
}

fn bench(c: &mut Criterion) {
    let namespaces: usize = std::env::var("B1_NAMESPACES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25_000);
    let objs = objects(namespaces);
    let engine = ingest(objs.clone());
    let cl = Classifier::build(engine.cluster(), engine.table());
    let s = cl.stats();
    println!(
        "B1: {} namespaces, {} Pods, {} NetworkPolicies ({} rules) in the engine; classifier: {} identities, {} terms, policy spans summed over policies: {} Nodes",
        engine.cluster().namespaces.len(),
        engine.cluster().pods.len(),
        engine.table().k8s_policies().count(),
        s.k8s_rules,
        s.identities,
        s.terms,
        cl.total_span()
    );
    drop(cl);

    let mut g = c.benchmark_group("controller_scale_b1");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20));
    g.bench_function("full_build", |b| {
        b.iter_batched(
            || objs.clone(),
            |objs| {
                let engine = ingest(objs);
                let cl = Classifier::build(engine.cluster(), engine.table());
                (engine, cl)
            },
            BatchSize::PerIteration,
        )
    });
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("classifier_build", |b| {
        b.iter_batched(
            || (),
            |_| black_box(Classifier::build(engine.cluster(), engine.table())),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
