//! Peak RSS and wall time of the B1 full build (Antrea's `TestInitXLargeScaleWithSmallNamespaces`
//! shape: 25,000 namespaces, 100,000 Pods, 75,000 NetworkPolicies, 1000 Node names), measured in
//! a process of its own so that the peak is the build's:
//!
//! ```text
//! cargo run --release --example b1_rss -p tierwall-engine [-- NAMESPACES]
//! ```
//!
//! Objects are generated 1000 namespaces at a time and handed straight to the engine, so the
//! generator's copies do not add to the peak. Prints the ingest and classifier-build times, the
//! classifier's counters and `VmHWM` (peak RSS) from `/proc/self/status`.

use std::time::Instant;
use tierwall_engine::Engine;
use tierwall_engine::classifier::{Classifier, workload};

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "n/a".into())
}

/// CPU seconds this thread has run (`/proc/thread-self/schedstat`, nanosecond resolution), so
/// that a machine shared with other work can still be measured.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn main() {
    let namespaces: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(25_000);
    let mut engine = Engine::new();
    let mut rejected = 0usize;
    let mut ingest = std::time::Duration::ZERO;
    let mut ingest_cpu = 0.0;
    // Namespaces first (all of them), then Pods, then policies, as Antrea's informers deliver
    // them. Each pass regenerates the same deterministic objects 1000 namespaces at a time and
    // keeps only its own kind, so at most one chunk of generated objects is alive at a time.
    for pass in 0..3 {
        let mut generator = workload::B1Generator::new(namespaces, 1000, 1);
        while !generator.is_done() {
            let w = generator.next_chunk(1000);
            let objects = match pass {
                0 => w.namespaces,
                1 => w.pods,
                _ => w.policies,
            };
            let (t, cpu) = (Instant::now(), cpu_seconds());
            for o in objects {
                rejected += usize::from(engine.ingest(o).is_err());
            }
            ingest += t.elapsed();
            ingest_cpu += cpu_seconds() - cpu;
        }
    }
    let rss_after_ingest = status("VmRSS");
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let classifier = Classifier::build(engine.cluster(), engine.table());
    let build = t.elapsed();
    let build_cpu = cpu_seconds() - cpu0;
    // Profiling aid: `B1_EXTRA_BUILDS=n` builds n more times (not part of the figures above).
    for _ in 0..std::env::var("B1_EXTRA_BUILDS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0)
    {
        std::hint::black_box(Classifier::build(engine.cluster(), engine.table()));
    }
    println!("namespaces {namespaces} objects rejected {rejected}");
    println!(
        "engine ingest (admission, store, cluster index, compile): {:.3} s",
        ingest.as_secs_f64()
    );
    println!(
        "classifier build (identities, memberships, rules, spans): {:.3} s",
        build.as_secs_f64()
    );
    println!("engine ingest CPU time: {ingest_cpu:.3} s");
    println!("classifier build CPU time: {build_cpu:.3} s");
    println!("full build: {:.3} s", (ingest + build).as_secs_f64());
    println!("full build CPU time: {:.3} s", ingest_cpu + build_cpu);
    println!("classifier: {:?}", classifier.stats());
    println!(
        "policy spans (Node count, summed): {}",
        classifier.total_span()
    );
    println!("VmRSS after ingest: {rss_after_ingest}");
    println!("VmRSS after build: {}", status("VmRSS"));
    println!("VmHWM (peak RSS): {}", status("VmHWM"));
}
