//! Translates a synthetic workload once and prints the wall and CPU time of the translation
//! (for profiling, e.g. under valgrind). Usage:
//! `cargo run --release -p tierwall-nsx --example translate_once [policies rules_per_policy groups]`.

use std::time::Instant;
use tierwall_nsx::model::ClusterInventory;
use tierwall_nsx::translate::translate_for_cluster;
use tierwall_nsx::workload::{WorkloadSize, workload};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let size = match args.as_slice() {
        [policies, rules_per_policy, groups] => WorkloadSize {
            policies: *policies,
            rules_per_policy: *rules_per_policy,
            groups: *groups,
        },
        _ => WorkloadSize::ISSUE_TARGET,
    };
    let (policies, groups) = workload(size, "bench");
    let inventory = ClusterInventory::default();
    let started = Instant::now();
    let desired = translate_for_cluster("bench", &policies, &groups, &[], &inventory)?;
    let elapsed = started.elapsed();
    println!(
        "{size:?}: {} ACNPs, {} ClusterGroups in {elapsed:?}",
        desired.policies.len(),
        desired.groups.len()
    );
    Ok(())
}
