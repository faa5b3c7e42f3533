//! Apply-time benchmarks of the dataplane (issue 3, item 8), in a throwaway network namespace:
//!
//! * `apply_10k_rules_full`: a Node rule set with 10,000 Antrea rules (1,000 ACNPs × 10 rules,
//!   each with its own /32 ipBlock peer and port, applied to the Node's Pods) programmed into a
//!   fresh table — one `nft -j -f -` transaction.
//! * `apply_10k_rules_one_pod_change`: at that size, one Pod relabel that moves it into the
//!   appliedTo of one policy; the agent sends only the element-level diff.
//!
//! Needs root and nft; without them it prints a note and measures nothing.
//! Run: `cargo bench -p tierwall-dataplane --bench apply`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::process::Command;
use std::time::{Duration, Instant};
use tierwall_dataplane::{Agent, InterfaceMap, NetnsTarget};
use tierwall_engine::Engine;
use tierwall_engine::ruleset::node_rule_set;
use tierwall_model::Object;
use tierwall_scenario::cluster::ClusterModel;

fn policies() -> usize {
    std::env::var("TIERWALL_BENCH_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}
const RULES_PER_POLICY: usize = 10;

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn policy(i: usize) -> Object {
    let rules: Vec<serde_json::Value> = (0..RULES_PER_POLICY)
        .map(|r| {
            let n = i * RULES_PER_POLICY + r;
            serde_json::json!({
                "action": if r.is_multiple_of(3) { "Drop" } else { "Allow" },
                "from": [{"ipBlock": {"cidr": format!("192.168.{}.{}/32", n / 250, n % 250 + 1)}}],
                "ports": [{"protocol": "TCP", "port": 1000 + (n % 5000)}],
            })
        })
        .collect();
    let app = if i == 0 { "bench-target" } else { "a" };
    tierwall_model::load::object_from_value(
        tierwall_model::Kind::ClusterNetworkPolicy,
        serde_json::json!({
            "apiVersion": "crd.antrea.io/v1beta1", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": format!("bench-{i}")},
            "spec": {"priority": 1 + (i % 100), "tier": if i.is_multiple_of(2) {"securityops"} else {"application"},
                     "appliedTo": [{"podSelector": {"matchLabels": {"app": app}}}],
                     "ingress": rules}}),
    )
    .expect("bench policy")
}

fn bench(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() || Command::new("nft").arg("--version").output().is_err() {
        eprintln!("dataplane apply benchmarks need root and nft: skipped");
        return;
    }
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).expect("cluster");
    }
    for i in 0..policies() {
        engine.apply(policy(i)).expect("policy");
    }
    let ns = Netns(format!("tw-bench-{}", std::process::id()));
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .expect("ip")
            .success()
    );
    let rules = node_rule_set(engine.cluster(), engine.table(), "node-0");
    let count = rules.rules().count();
    eprintln!("node-0 rule set: {count} rule entries");
    let ifaces: InterfaceMap = rules
        .pods
        .iter()
        .map(|p| (p.ip, format!("tw{}", p.name)))
        .collect();
    let target = NetnsTarget::Named(ns.0.clone());

    let mut group = c.benchmark_group("dataplane_apply");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("apply_10k_rules_full", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut agent = Agent::new("node-0", target.clone(), ifaces.clone());
                let _ = agent.remove();
                let start = Instant::now();
                agent.sync(&rules).expect("full sync");
                total += start.elapsed();
            }
            total
        })
    });

    // One Pod relabel: x/a joins (and leaves) the appliedTo of bench-0.
    let mut agent = Agent::new("node-0", target.clone(), ifaces.clone());
    agent.sync(&rules).expect("initial sync");
    let pod = |app: &str| {
        let mut o = engine
            .store()
            .get(&tierwall_model::ObjectKey::namespaced(
                tierwall_model::Kind::Pod,
                "x",
                "a",
            ))
            .cloned()
            .expect("x/a");
        o.metadata_mut().labels.insert("app".into(), app.into());
        o
    };
    let mut relabelled = engine.clone();
    relabelled.apply(pod("bench-target")).expect("relabel");
    let changed = node_rule_set(relabelled.cluster(), relabelled.table(), "node-0");
    let mut flip = false;
    group.bench_function("apply_10k_rules_one_pod_change", |b| {
        b.iter(|| {
            flip = !flip;
            agent
                .sync(if flip { &changed } else { &rules })
                .expect("incremental sync")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
