//! B5-style verdict lookups: a tiered cluster with 10,000 Antrea rules (1000 ACNPs × 10 over
//! emergency, securityops, networkops, platform, application and baseline; Pass rules included)
//! plus Kubernetes NetworkPolicies, 100 namespaces × 20 Pods, 300 label sets
//! (`workload::tiered`). Measures the fast classifier and the linear oracle (`Engine::probe`) on
//! the same flows, in the same run.
//!
//! Traces: `mix` = 70% flows allowed by a rule, 20% dropped by Kubernetes NP isolation, 10% Pass
//! handed to a baseline rule (drawn from random flows by their verdict); `uniform` = random
//! Pod→Pod and Pod→outside flows as they come; `node_local` = the `mix` restricted to flows
//! whose destination Pod runs on one Node (one Node's ingress view; ~100 local Pods).
//!
//! ```text
//! cargo bench -p tierwall-engine --bench verdict_lookup
//! ```

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tierwall_engine::classifier::{Classifier, Endpoint, FastDecision, FastVerdict, workload};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::compile::Action;
use tierwall_engine::evaluate::{Decision, Outcome, Verdict};
use tierwall_engine::{Engine, ProbeTransport, Source, Target};

type Flow = (Endpoint, Endpoint, ProbeTransport);

fn random_flows(cl: &Classifier, n: usize, seed: u64) -> Vec<Flow> {
    let ids = cl.pod_ids();
    let mut rng = workload::Rng::new(seed);
    (0..n)
        .map(|_| {
            let s = Endpoint::Pod(ids[rng.below(ids.len())]);
            let d = if rng.below(10) == 0 {
                Endpoint::Ip(IpAddr::V4(Ipv4Addr::new(
                    10,
                    100 + rng.below(64) as u8,
                    rng.below(256) as u8,
                    1 + rng.below(250) as u8,
                )))
            } else {
                Endpoint::Pod(ids[rng.below(ids.len())])
            };
            let t = if rng.below(20) == 0 {
                ProbeTransport::L4 {
                    protocol: L4Protocol::Udp,
                    port: 53,
                    src_port: 40000,
                }
            } else {
                ProbeTransport::L4 {
                    protocol: L4Protocol::Tcp,
                    port: workload::TIERED_PORTS[rng.below(4) + rng.below(5)],
                    src_port: 40000,
                }
            };
            (s, d, t)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    AllowedByRule,
    Isolation,
    PassToBaseline,
    Other,
}

fn category(cl: &Classifier, v: &FastVerdict) -> Category {
    let is_allow_rule = |d: &FastDecision| match d {
        FastDecision::Rule(r) => cl.rule_hit(*r).is_some_and(|h| h.action == Action::Allow),
        FastDecision::K8sAllow(_) => true,
        _ => false,
    };
    let baseline = |d: &FastDecision| match d {
        FastDecision::Rule(r) => cl
            .rule_hit(*r)
            .is_some_and(|h| h.tier_priority.unwrap_or(0) >= 253),
        _ => false,
    };
    let dirs = [v.egress, v.ingress];
    if dirs
        .iter()
        .any(|d| d.passed.is_some() && baseline(&d.decision))
    {
        return Category::PassToBaseline;
    }
    if v.outcome == Outcome::Dropped
        && dirs
            .iter()
            .any(|d| d.decision == FastDecision::K8sIsolation)
    {
        return Category::Isolation;
    }
    let decided_by_allow = is_allow_rule(&v.ingress.decision)
        || (v.ingress.decision == FastDecision::NotEnforced && is_allow_rule(&v.egress.decision));
    if v.outcome == Outcome::Connected && decided_by_allow {
        return Category::AllowedByRule;
    }
    Category::Other
}

fn oracle_args(cl: &Classifier, f: &Flow) -> (Source, Target, ProbeTransport) {
    let name = |id| {
        cl.pod_name(id)
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .unwrap_or_default()
    };
    let src = match f.0 {
        Endpoint::Pod(id) => {
            let (namespace, name) = name(id);
            Source::Pod { namespace, name }
        }
        Endpoint::Ip(ip) => Source::Ip(ip),
    };
    let dst = match f.1 {
        Endpoint::Pod(id) => {
            let (namespace, name) = name(id);
            Target::Pod { namespace, name }
        }
        Endpoint::Ip(ip) => Target::Ip(ip),
    };
    (src, dst, f.2)
}

/// The classifier's verdict must be the oracle's: outcome and deciding rule of each direction.
fn agrees(cl: &Classifier, v: &FastVerdict, o: &Verdict) -> bool {
    let same = |f: &FastDecision, d: &Decision| match (f, d) {
        (FastDecision::Rule(r), Decision::Rule(h))
        | (FastDecision::K8sAllow(r), Decision::K8sAllow(h)) => cl.rule_hit(*r) == Some(h),
        (FastDecision::K8sIsolation, Decision::K8sIsolation { .. })
        | (FastDecision::Default, Decision::Default)
        | (FastDecision::NotEnforced, Decision::NotEnforced { .. }) => true,
        _ => false,
    };
    v.outcome == o.outcome
        && same(&v.egress.decision, &o.egress.decision)
        && same(&v.ingress.decision, &o.ingress.decision)
}

fn bench(c: &mut Criterion) {
    let w = workload::tiered(workload::TieredShape::default(), 7);
    let mut engine = Engine::new();
    let mut rejected = 0;
    for o in w.all() {
        rejected += usize::from(engine.apply(o.clone()).is_err());
    }
    let cl = Classifier::build(engine.cluster(), engine.table());
    let stats = cl.stats();
    println!(
        "verdict_lookup workload: {} Antrea rules (ingress {}, egress {}), {} K8s NP rules, {} Pods, {} identities, {} terms, {} address classes, {} port classes, {:.1} MiB of bit rows, {rejected} objects rejected by admission",
        stats.antrea_rules[0] + stats.antrea_rules[1],
        stats.antrea_rules[0],
        stats.antrea_rules[1],
        stats.k8s_rules,
        stats.pods,
        stats.identities,
        stats.terms,
        stats.address_classes,
        stats.port_classes,
        stats.row_bytes as f64 / (1024.0 * 1024.0)
    );

    let pool = random_flows(&cl, 300_000, 3);
    let mut by_cat: [Vec<Flow>; 4] = Default::default();
    for f in &pool {
        if let Ok(v) = cl.decide(f.0, f.1, f.2) {
            let k = category(&cl, &v) as usize;
            by_cat[k].push(*f);
        }
    }
    println!(
        "random pool of {}: allowed-by-rule {}, isolation {}, pass-to-baseline {}, other {}",
        pool.len(),
        by_cat[0].len(),
        by_cat[1].len(),
        by_cat[2].len(),
        by_cat[3].len()
    );
    // The B5 mix: 70% / 20% / 10%.
    let mut mix: Vec<Flow> = Vec::with_capacity(4096);
    let mut rng = workload::Rng::new(11);
    for i in 0..4096 {
        let k = match i % 10 {
            0..=6 => 0,
            7 | 8 => 1,
            _ => 2,
        };
        let list = if by_cat[k].is_empty() {
            &pool
        } else {
            &by_cat[k]
        };
        mix.push(list[rng.below(list.len())]);
    }
    let uniform: Vec<Flow> = pool.iter().take(4096).copied().collect();
    // A Node's view: the same 70/20/10 mix restricted to flows whose destination Pod runs on
    // one Node (what that Node's datapath decides for ingress), sources anywhere.
    let node_of = |e: &Endpoint| match e {
        Endpoint::Pod(id) => cl
            .pod_name(*id)
            .and_then(|(ns, name)| engine.cluster().pod(ns, name))
            .map(|p| p.node.clone()),
        Endpoint::Ip(_) => None,
    };
    let local: [Vec<Flow>; 3] = std::array::from_fn(|k| {
        by_cat[k]
            .iter()
            .filter(|f| node_of(&f.1).as_deref() == Some("node-0"))
            .copied()
            .collect()
    });
    let mut node_local: Vec<Flow> = Vec::with_capacity(4096);
    for i in 0..4096 {
        let k = match i % 10 {
            0..=6 => 0,
            7 | 8 => 1,
            _ => 2,
        };
        let list = if local[k].is_empty() { &mix } else { &local[k] };
        node_local.push(list[rng.below(list.len())]);
    }

    // Correctness on the measured flows: the fast path must agree with the oracle.
    let oracle_flows: Vec<(Source, Target, ProbeTransport)> =
        mix.iter().map(|f| oracle_args(&cl, f)).collect();
    let mut checked = 0;
    for (f, (s, d, t)) in mix.iter().zip(&oracle_flows).take(400) {
        let v = cl
            .decide(f.0, f.1, f.2)
            .expect("bench flows are covered by the fast path");
        let o = engine.probe(s, d, *t);
        assert!(
            agrees(&cl, &v, &o),
            "classifier and oracle disagree on {f:?}:\nfast {v:?}\noracle {o:?}"
        );
        checked += 1;
    }
    for f in uniform.iter().take(200) {
        let (s, d, t) = oracle_args(&cl, f);
        let v = cl
            .decide(f.0, f.1, f.2)
            .expect("bench flows are covered by the fast path");
        assert!(
            agrees(&cl, &v, &engine.probe(&s, &d, t)),
            "classifier and oracle disagree on {f:?}"
        );
        checked += 1;
    }
    println!("checked {checked} bench flows against the oracle: all agree");

    let mut g = c.benchmark_group("verdict_lookup");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    for (name, flows) in [
        ("classifier_mix", &mix),
        ("classifier_uniform", &uniform),
        ("classifier_node_local", &node_local),
    ] {
        g.throughput(Throughput::Elements(flows.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for f in flows.iter() {
                    if let Ok(v) = cl.decide(f.0, f.1, f.2) {
                        n += v.outcome as usize;
                    }
                }
                black_box(n)
            })
        });
    }
    let mut out = Vec::with_capacity(mix.len());
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function("classifier_mix_batch", |b| {
        b.iter(|| {
            cl.decide_batch(&mix, &mut out);
            black_box(out.len())
        })
    });
    // Explaining a decided flow: rule id -> (tier, policy, rule name, action).
    let decided: Vec<FastVerdict> = mix
        .iter()
        .filter_map(|f| cl.decide(f.0, f.1, f.2).ok())
        .collect();
    g.throughput(Throughput::Elements(decided.len() as u64));
    g.bench_function("classifier_explain", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for v in &decided {
                for d in [v.egress.decision, v.ingress.decision] {
                    if let FastDecision::Rule(r) | FastDecision::K8sAllow(r) = d {
                        n += cl.rule_hit(r).map_or(0, |h| h.rule_index);
                    }
                }
            }
            black_box(n)
        })
    });
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let oracle_batch = 16;
    g.throughput(Throughput::Elements(oracle_batch as u64));
    let mut start = 0usize;
    g.bench_function("oracle_mix", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for i in 0..oracle_batch {
                let (s, d, t) = &oracle_flows[(start + i) % oracle_flows.len()];
                n += engine.probe(s, d, *t).outcome as usize;
            }
            start += oracle_batch;
            black_box(n)
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("classifier_build", |b| {
        b.iter_batched(
            || (),
            |_| Classifier::build(engine.cluster(), engine.table()),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
