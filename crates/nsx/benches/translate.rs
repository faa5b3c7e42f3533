//! Issue 4 item 9: translating 10,000 policies with 100,000 rules and 20,000 groups for one
//! cluster in ≤ 1 s. Run: `cargo bench -p tierwall-nsx --bench translate`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tierwall_nsx::model::ClusterInventory;
use tierwall_nsx::translate::translate_for_cluster;
use tierwall_nsx::workload::{WorkloadSize, workload};

fn translate_at_scale(c: &mut Criterion) {
    let (policies, groups) = workload(WorkloadSize::ISSUE_TARGET, "bench");
    let inventory = ClusterInventory::default();
    let desired =
        translate_for_cluster("bench", &policies, &groups, &[], &inventory).expect("translates");
    assert!(desired.issues.is_empty(), "{:?}", desired.issues.first());
    let rules: usize = desired
        .policies
        .iter()
        .map(|p| p.spec.ingress.len() + p.spec.egress.len())
        .sum();
    println!(
        "translated: {} ACNPs, {rules} ACNP rules, {} ClusterGroups",
        desired.policies.len(),
        desired.groups.len()
    );
    let mut bench_group = c.benchmark_group("nsx_translate");
    bench_group.sample_size(10);
    bench_group.measurement_time(Duration::from_secs(15));
    bench_group.bench_function("10k_policies_100k_rules_20k_groups", |b| {
        b.iter(|| {
            translate_for_cluster("bench", black_box(&policies), &groups, &[], &inventory)
                .expect("translates")
        })
    });
    bench_group.finish();
}

criterion_group!(benches, translate_at_scale);
criterion_main!(benches);
