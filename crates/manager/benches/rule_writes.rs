//! Rule writes over the REST API on loopback: a real manager (HTTP, Basic auth, redb store with
//! fsynced commits) and reqwest clients.
//!
//! * criterion `rule_put/sequential`: one client, one `PUT …/rules/{id}` at a time (latency).
//! * `sustained`: 16 concurrent clients for `TIERWALL_BENCH_SECONDS` (default 5) writing new rules;
//!   prints writes/s and p50/p99/max latency.
//!
//! `cargo bench -p tierwall-manager --bench rule_writes`

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tierwall_manager::auth::{Role, User};
use tierwall_manager::server::{RunningServer, ServerConfig, start};

const POLICY: &str = "/policy/api/v1/infra/domains/default/security-policies/bench";

fn rule_body(n: u64) -> serde_json::Value {
    json!({
        "action": "ALLOW",
        "sequence_number": n,
        "source_groups": ["10.0.0.0/24"],
        "destination_groups": ["/infra/domains/default/groups/web"],
        "services": ["/infra/services/HTTPS"],
    })
}

async fn setup(dir: &std::path::Path) -> (RunningServer, reqwest::Client, String) {
    let server = start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        data_dir: dir.to_path_buf(),
        tls: None,
        users: vec![User {
            name: "admin".into(),
            password: "bench".into(),
            role: Role::EnterpriseAdmin,
        }],
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let base = format!("http://{}", server.local_addr);
    let client = reqwest::Client::new();
    for (path, body) in [
        (
            "/policy/api/v1/infra/domains/default/groups/web".to_string(),
            json!({"group_type": ["ANTREA"], "expression": []}),
        ),
        (POLICY.to_string(), json!({"category": "Application"})),
    ] {
        let r = client
            .put(format!("{base}{path}"))
            .basic_auth("admin", Some("bench"))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status().as_u16(), 200);
    }
    (server, client, base)
}

async fn put_rule(client: &reqwest::Client, base: &str, n: u64) -> Duration {
    let started = Instant::now();
    let r = client
        .put(format!("{base}{POLICY}/rules/r{n}"))
        .basic_auth("admin", Some("bench"))
        .json(&rule_body(n))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 200);
    let _ = r.bytes().await;
    started.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (server, client, base) = rt.block_on(setup(dir.path()));
    let counter = Arc::new(AtomicU64::new(0));

    let mut group = c.benchmark_group("rule_put");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("sequential", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    total += put_rule(&client, &base, n).await;
                }
                total
            })
        })
    });
    group.finish();

    let seconds: u64 = std::env::var("TIERWALL_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let concurrency = 16;
    let (mut latencies, elapsed) = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let client = client.clone();
            let base = base.clone();
            let counter = Arc::clone(&counter);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    lat.push(put_rule(&client, &base, n).await);
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap_or_default());
        }
        (all, started.elapsed())
    });
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies.get(i).copied().unwrap_or_default()
    };
    println!(
        "sustained rule writes: {} writes in {:.2} s = {:.0} writes/s with {concurrency} clients; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3,
    );
    rt.block_on(server.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
