//! A deterministic lookup loop for instruction-level profiling of `Classifier::decide` on the
//! `verdict_lookup` bench's tiered workload: a trace of 4096 flows (`uniform`: random flows as
//! they come; `mix`: 70% allowed by a rule, 20% dropped by Kubernetes NP isolation, 10% Pass
//! handed to a baseline rule, like the bench's `classifier_mix`) decided `ROUNDS` times by
//! `run_trace`, e.g.:
//!
//! ```text
//! cargo build --release --example lookup_profile -p tierwall-engine
//! valgrind --tool=callgrind --toggle-collect='*run_trace*' \
//!     target/release/examples/lookup_profile 5 mix   # instructions per lookup = Ir / (5 × 4096)
//! ```
//!
//! Without valgrind it prints the mean time per lookup.
use std::net::{IpAddr, Ipv4Addr};
use tierwall_engine::classifier::{Classifier, Endpoint, FastDecision, FastVerdict, workload};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::compile::Action;
use tierwall_engine::evaluate::Outcome;
use tierwall_engine::{Engine, ProbeTransport};

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
            let t = ProbeTransport::L4 {
                protocol: L4Protocol::Tcp,
                port: workload::TIERED_PORTS[rng.below(4) + rng.below(5)],
                src_port: 40000,
            };
            (s, d, t)
        })
        .collect()
}

/// The bench's categories: 0 allowed by a rule, 1 K8s NP isolation, 2 Pass to baseline, 3 other.
fn category(cl: &Classifier, v: &FastVerdict) -> usize {
    let allow_rule = |d: &FastDecision| match d {
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
        return 2;
    }
    if v.outcome == Outcome::Dropped
        && dirs
            .iter()
            .any(|d| d.decision == FastDecision::K8sIsolation)
    {
        return 1;
    }
    let by_allow = allow_rule(&v.ingress.decision)
        || (v.ingress.decision == FastDecision::NotEnforced && allow_rule(&v.egress.decision));
    if v.outcome == Outcome::Connected && by_allow {
        0
    } else {
        3
    }
}

/// The measured loop (what callgrind collects).
#[inline(never)]
fn run_trace(cl: &Classifier, flows: &[Flow], rounds: usize) -> usize {
    let mut n = 0usize;
    for _ in 0..rounds {
        for &(s, d, tr) in flows {
            if let Ok(v) = cl.decide(s, d, tr) {
                n += 1 + v.outcome as usize;
            }
        }
    }
    n
}

fn main() {
    let w = workload::tiered(workload::TieredShape::default(), 7);
    let mut engine = Engine::new();
    for o in w
        .namespaces
        .into_iter()
        .chain(w.pods)
        .chain(w.others)
        .chain(w.policies)
    {
        let _ = engine.ingest(o);
    }
    let cl = Classifier::build(engine.cluster(), engine.table());
    // ROUNDS: how many times the trace is decided (default 10); TRACE: uniform (default), mix, or
    // one category of the mix alone (allowed, isolation, pass).
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let trace = args.next().unwrap_or_else(|| "uniform".to_string());
    let only = match trace.as_str() {
        "allowed" => Some(0),
        "isolation" => Some(1),
        "pass" => Some(2),
        _ => None,
    };
    let flows: Vec<Flow> = match trace.as_str() {
        "mix" | "allowed" | "isolation" | "pass" => {
            let pool = random_flows(&cl, 60_000, 3);
            let mut by_cat: [Vec<Flow>; 4] = Default::default();
            for f in &pool {
                if let Ok(v) = cl.decide(f.0, f.1, f.2) {
                    by_cat[category(&cl, &v)].push(*f);
                }
            }
            let mut rng = workload::Rng::new(11);
            (0..4096)
                .map(|i| {
                    let k = only.unwrap_or(match i % 10 {
                        0..=6 => 0,
                        7 | 8 => 1,
                        _ => 2,
                    });
                    let list = if by_cat[k].is_empty() {
                        &pool
                    } else {
                        &by_cat[k]
                    };
                    list[rng.below(list.len())]
                })
                .collect()
        }
        _ => random_flows(&cl, 4096, 3),
    };
    let t = std::time::Instant::now();
    let cpu = thread_cpu_ns();
    let n = run_trace(&cl, &flows, rounds);
    let el = t.elapsed();
    let lookups = (rounds * flows.len()) as f64;
    let cpu = match (cpu, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!(", {:.1} ns/lookup of CPU time", (b - a) as f64 / lookups),
        _ => String::new(),
    };
    println!(
        "{trace}: checksum {n}, {:.1} ns/lookup wall{cpu}",
        el.as_nanos() as f64 / lookups
    );
}

/// CPU time of this thread (Linux `schedstat`), which other processes on a shared machine do
/// not inflate the way they inflate wall time.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
