//! A deterministic lookup loop for instruction-level profiling of `Classifier::decide` (the
//! `verdict_lookup` bench's tiered workload and a uniform trace of 4096 flows, decided
//! `ROUNDS` times), e.g.:
//!
//! ```text
//! cargo build --release --example lookup_profile -p tierwall-engine
//! valgrind --tool=callgrind --toggle-collect='*Classifier*decide*' \
//!     target/release/examples/lookup_profile 5      # instructions per lookup = Ir / (5 × 4096)
//! ```
//!
//! Without valgrind it prints the mean time per lookup.
use std::net::{IpAddr, Ipv4Addr};
use tierwall_engine::classifier::{Classifier, Endpoint, workload};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::{Engine, ProbeTransport};

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
    let ids = cl.pod_ids();
    let mut rng = workload::Rng::new(3);
    let flows: Vec<_> = (0..4096)
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
        .collect();
    // ROUNDS: how many times the trace is decided (default 10).
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let t = std::time::Instant::now();
    let mut n = 0usize;
    for _ in 0..rounds {
        for &(s, d, tr) in &flows {
            n += usize::from(cl.decide(s, d, tr).is_ok());
        }
    }
    let el = t.elapsed();
    println!(
        "{n} ok, {:.1} ns/lookup",
        el.as_nanos() as f64 / (rounds * flows.len()) as f64
    );
}
