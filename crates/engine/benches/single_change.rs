//! Latency of one change at B1 scale (25,000 namespaces, 100,000 Pods, 75,000 NetworkPolicies):
//! the engine applies it (admission, store, index, compile) and the classifier updates
//! incrementally (`Classifier::update`). Each measured change is different (a new Pod label,
//! a new policy), so nothing is a no-op.
//!
//! * `pod_relabel`: a Pod flips between `app-1=scale-1` and `app-2=scale-2` (it changes
//!   identity, the policies applying to it and the spans).
//! * `policy_add`: a new Kubernetes NetworkPolicy in some namespace.
//! * `acnp_add`/`acnp_delete` (informational): one ClusterNetworkPolicy selecting every
//!   `app-1=scale-1` Pod of the cluster (half the Pods) — a change whose effect is cluster-wide.
//!
//! Before the criterion runs, 1000 changes of each kind are timed one by one and p50/p99/max
//! are printed (criterion reports means/medians only).
//!
//! ```text
//! cargo bench -p tierwall-engine --bench single_change
//! ```
//! `B1_NAMESPACES=n` runs a smaller shape.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::time::{Duration, Instant};
use tierwall_engine::Engine;
use tierwall_engine::classifier::{Classifier, workload};
use tierwall_model::{Kind, Object, ObjectKey};

struct World {
    engine: Engine,
    cl: Classifier,
    pods: Vec<ObjectKey>,
    namespaces: Vec<String>,
    rng: workload::Rng,
    added: usize,
}

impl World {
    fn new(namespaces: usize) -> World {
        let w = workload::b1_small_namespaces(namespaces, 1000, 1);
        let mut engine = Engine::new();
        for o in w.namespaces.into_iter().chain(w.pods).chain(w.policies) {
            let _ = engine.ingest(o);
        }
        let cl = Classifier::build(engine.cluster(), engine.table());
        let pods = engine.keys_of(Kind::Pod);
        let namespaces = engine
            .cluster()
            .namespaces
            .keys()
            .filter(|n| n.len() == 8)
            .cloned()
            .collect();
        World {
            engine,
            cl,
            pods,
            namespaces,
            rng: workload::Rng::new(5),
            added: 0,
        }
    }

    /// A random Pod with its label flipped.
    fn relabel(&mut self) -> Object {
        let key = &self.pods[self.rng.below(self.pods.len())];
        let mut o = self.engine.store().get(key).cloned().expect("pod exists");
        if let Object::Pod(p) = &mut o {
            let one = p.metadata.labels.contains_key("app-1");
            p.metadata.labels.clear();
            if one {
                p.metadata.labels.insert("app-2".into(), "scale-2".into());
            } else {
                p.metadata.labels.insert("app-1".into(), "scale-1".into());
            }
        }
        o
    }

    /// A new NetworkPolicy in a random namespace.
    fn new_policy(&mut self) -> Object {
        let ns = self.namespaces[self.rng.below(self.namespaces.len())].clone();
        self.added += 1;
        workload::k8s_policy(
            &ns,
            &format!("np-extra-{}", self.added),
            json!({"podSelector": {"matchLabels": {"app-1": "scale-1"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app-2": "scale-2"}}}], "ports": [{"protocol": "TCP", "port": 80}]}]}),
        )
    }

    /// Engine apply + classifier update; returns (engine, classifier) time.
    fn apply(&mut self, o: Object) -> (Duration, Duration) {
        let key = o.key();
        let t = Instant::now();
        let ok = self.engine.ingest(o).is_ok();
        let te = t.elapsed();
        let t = Instant::now();
        if ok {
            self.cl
                .update(self.engine.cluster(), self.engine.table(), &key);
        }
        (te, t.elapsed())
    }

    fn delete(&mut self, key: &ObjectKey) -> (Duration, Duration) {
        let t = Instant::now();
        let ok = self.engine.delete(key).is_ok();
        let te = t.elapsed();
        let t = Instant::now();
        if ok {
            self.cl
                .update(self.engine.cluster(), self.engine.table(), key);
        }
        (te, t.elapsed())
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

fn report(name: &str, samples: Vec<(Duration, Duration)>) {
    let mut total: Vec<Duration> = samples.iter().map(|(a, b)| *a + *b).collect();
    let mut engine: Vec<Duration> = samples.iter().map(|(a, _)| *a).collect();
    let mut classifier: Vec<Duration> = samples.iter().map(|(_, b)| *b).collect();
    println!(
        "{name}: n={} total p50 {:?} p99 {:?} max {:?} | engine p50 {:?} p99 {:?} | classifier p50 {:?} p99 {:?} max {:?}",
        total.len(),
        pct(&mut total, 0.5),
        pct(&mut total, 0.99),
        pct(&mut total, 1.0),
        pct(&mut engine, 0.5),
        pct(&mut engine, 0.99),
        pct(&mut classifier, 0.5),
        pct(&mut classifier, 0.99),
        pct(&mut classifier, 1.0),
    );
}

fn bench(c: &mut Criterion) {
    let namespaces: usize = std::env::var("B1_NAMESPACES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25_000);
    let mut w = World::new(namespaces);
    println!(
        "single_change at B1 scale: {} Pods, {} policies",
        w.engine.cluster().pods.len(),
        w.engine.table().policies().count()
    );

    let samples: Vec<_> = (0..1000)
        .map(|_| {
            let o = w.relabel();
            w.apply(o)
        })
        .collect();
    report("pod_relabel", samples);
    let samples: Vec<_> = (0..1000)
        .map(|_| {
            let o = w.new_policy();
            w.apply(o)
        })
        .collect();
    report("policy_add", samples);

    let mut g = c.benchmark_group("single_change");
    g.sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    // Object construction is outside the timed section (iter_custom times apply + update only).
    g.bench_function("pod_relabel", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let o = w.relabel();
                    let (e, c) = w.apply(o);
                    e + c
                })
                .sum()
        })
    });
    g.bench_function("policy_add", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let o = w.new_policy();
                    let (e, c) = w.apply(o);
                    e + c
                })
                .sum()
        })
    });
    g.finish();

    // A cluster-wide Antrea policy (informational: its cost is proportional to what it selects).
    let mut adds = Vec::new();
    let mut deletes = Vec::new();
    for i in 0..5 {
        let name = format!("acnp-wide-{i}");
        let o = workload::acnp(
            &name,
            json!({"priority": 5, "appliedTo": [{"podSelector": {"matchLabels": {"app-1": "scale-1"}}}],
                "ingress": [{"action": "Drop", "from": [{"podSelector": {"matchLabels": {"app-2": "scale-2"}}}], "ports": [{"protocol": "TCP", "port": 22}]}]}),
        );
        adds.push(w.apply(o));
        deletes.push(w.delete(&ObjectKey::cluster(Kind::ClusterNetworkPolicy, &name)));
    }
    report("acnp_add (cluster-wide: every app-1=scale-1 Pod)", adds);
    report("acnp_delete (cluster-wide)", deletes);
}

criterion_group!(benches, bench);
criterion_main!(benches);
