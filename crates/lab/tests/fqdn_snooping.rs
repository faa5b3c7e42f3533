//! Privileged: FQDN rules on real packets. Pods resolve names through the testbed's cluster DNS
//! (real queries, UDP and TCP), their Nodes' agents snoop the answers, and the FQDN rules'
//! address sets follow: an answer makes an fqdn Drop (and Allow) rule take effect, expiry
//! (record TTL, then `fqdnCacheMinTTL`) removes it again, a headless Service name is matched
//! through its Pod IPs, and a ClusterIP Service name is learned but never matched (policy sees
//! the backend after DNAT). Every probe is also checked against the engine's verdict.
//! Without root, `ip`/`nft` or the `tierwall-probe-helper` helper the test says why and returns.

mod common;

use common::{LiveGuard, skip_reason};

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tierwall_engine::cluster::L4Protocol;
use tierwall_engine::evaluate::DEFAULT_SOURCE_PORT;
use tierwall_engine::{Engine, Outcome, ProbeTransport, Source, Target};
use tierwall_lab::{LiveCluster, LiveOptions};
use tierwall_node::fqdn_cache::FqdnCacheOptions;
use tierwall_scenario::cluster::ClusterModel;
use tierwall_testbed::dns::{DnsRecord, DnsTransport};
use tierwall_testbed::{Endpoint, ProbeHelperCommand, TestbedOptions, Transport};

const EXTERNAL: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 7);
/// A name outside the cluster that cluster DNS answers (with the external's address).
const API_NAME: &str = "api.example.test";
const API_TTL: u32 = 2;

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: y}
spec:
  clusterIP: None
  selector: {pod: b}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: z}
spec:
  selector: {pod: c}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: drop-names}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: x}}}]
  egress:
  - {action: Drop, name: api, to: [{fqdn: "API.example.test"}]}
  - {action: Drop, name: headless, to: [{fqdn: "db.y.svc.cluster.local"}]}
  - {action: Drop, name: cluster-ip, to: [{fqdn: "web.z.svc.cluster.local"}]}
---
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: allow-names-only}
spec:
  priority: 2
  appliedTo: [{podSelector: {matchLabels: {pod: a}}, namespaceSelector: {matchLabels: {ns: y}}}]
  egress:
  - action: Allow
    name: dns
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
  - action: Allow
    name: example
    to: [{fqdn: "*.example.test"}]
    ports: [{protocol: TCP, port: 80}]
  - {action: Drop, name: rest}
"#;

/// Probes `src` → `ip`:80/TCP and checks the outcome, also against the engine.
fn expect(live: &LiveCluster, stage: &str, src: (&str, &str), ip: IpAddr, want: Outcome) {
    let real = live
        .testbed()
        .probe(&Endpoint::pod(src.0, src.1), ip, Transport::Tcp(80))
        .unwrap_or_else(|e| panic!("{stage}: probe {src:?} -> {ip}: {e}"));
    let engine = live
        .engine()
        .probe(
            &Source::Pod {
                namespace: src.0.into(),
                name: src.1.into(),
            },
            &Target::Ip(ip),
            ProbeTransport::L4 {
                protocol: L4Protocol::Tcp,
                port: 80,
                src_port: DEFAULT_SOURCE_PORT,
            },
        )
        .outcome;
    assert_eq!(
        (real.outcome, engine),
        (want, want),
        "{stage}: {}/{} -> {ip}:80/TCP (real: {})",
        src.0,
        src.1,
        real.detail
    );
}

fn resolve(live: &mut LiveCluster, src: (&str, &str), name: &str, over: DnsTransport) -> IpAddr {
    let r = live
        .resolve_fqdn(&Endpoint::pod(src.0, src.1), name, over)
        .unwrap_or_else(|e| panic!("resolve {name} from {src:?}: {e}"));
    assert!(r.realized, "{name} from {src:?}: {r:?}");
    assert_eq!(r.resolution.transport, over);
    *r.addrs().first().unwrap_or_else(|| panic!("{name}: {r:?}"))
}

/// Waits until `deadline`, then lets the expiries reach the rules.
fn expire_at(live: &mut LiveCluster, deadline: Instant) {
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    let report = live.realize_fqdn();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
}

#[test]
fn snooped_dns_answers_drive_fqdn_rules_on_real_packets() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED snooped_dns_answers_drive_fqdn_rules_on_real_packets: {why}");
        return;
    }
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).expect("standard objects are admitted");
    }
    let options = LiveOptions {
        testbed: TestbedOptions {
            externals: vec![("ext-1".into(), IpAddr::V4(EXTERNAL))],
            probe_timeout: Duration::from_millis(700),
            probe_helper: ProbeHelperCommand::locate().ok(),
            ..Default::default()
        },
        log_dir: None,
    };
    let mut guard = LiveGuard(Some(LiveCluster::up(engine, options).expect("up")));
    let live = guard.get();
    for o in tierwall_model::load_str("test", OBJECTS).expect("test objects parse") {
        let key = o.object.key();
        let report = live
            .apply(o.object)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(report.failed.is_empty(), "{key}: {:?}", report.failed);
    }
    let extra = BTreeMap::from([(
        API_NAME.to_string(),
        DnsRecord {
            ttl: API_TTL,
            addrs: vec![EXTERNAL],
        },
    )]);
    let cluster = live.engine().cluster().clone();
    live.testbed()
        .set_dns_records(&cluster, &extra)
        .expect("extra DNS records");
    let ext = IpAddr::V4(EXTERNAL);
    let (xa, ya) = (("x", "a"), ("y", "a"));
    use Outcome::*;

    // Nothing resolved yet: the name outside the cluster is in no rule.
    expect(live, "before any answer", xa, ext, Connected);
    expect(live, "before any answer", ya, ext, Dropped);

    // x/a resolves it over UDP: the answer is snooped and the Drop rule takes effect.
    let t0 = Instant::now();
    assert_eq!(resolve(live, xa, API_NAME, DnsTransport::Udp), ext);
    expect(live, "x/a resolved", xa, ext, Dropped);
    assert_eq!(
        live.engine().cluster().resolve_dns(API_NAME),
        vec![ext],
        "the engine learned the mapping"
    );
    // y/a resolves it over TCP (its DNS is allowed): the wildcard Allow takes effect.
    assert_eq!(resolve(live, ya, API_NAME, DnsTransport::Tcp), ext);
    expect(live, "y/a resolved", ya, ext, Connected);

    // The record's TTL runs out: both rules lose the address.
    expire_at(live, Instant::now().max(t0) + Duration::from_millis(2_300));
    assert!(live.engine().cluster().resolve_dns(API_NAME).is_empty());
    expect(live, "expired", xa, ext, Connected);
    expect(live, "expired", ya, ext, Dropped);

    // fqdnCacheMinTTL above the record's TTL keeps the address longer.
    live.set_fqdn_cache_options(FqdnCacheOptions {
        min_ttl: Duration::from_secs(5),
        ..FqdnCacheOptions::default()
    });
    let t1 = Instant::now();
    resolve(live, xa, API_NAME, DnsTransport::Udp);
    expire_at(live, t1 + Duration::from_millis(2_500));
    expect(
        live,
        "past the TTL, within the minimum TTL",
        xa,
        ext,
        Dropped,
    );
    expire_at(live, t1 + Duration::from_millis(5_300));
    expect(live, "past the minimum TTL", xa, ext, Connected);

    // A headless Service name answers its Pods' IPs, and those are matched.
    let yb = IpAddr::V4(live.testbed().pod_ip("y", "b").expect("y/b"));
    assert_eq!(
        resolve(live, xa, "db.y.svc.cluster.local", DnsTransport::Udp),
        yb
    );
    expect(live, "headless Service name", xa, yb, Dropped);

    // A ClusterIP Service name answers the ClusterIP: learned, but the connection is matched
    // after DNAT (the backend z/c), so the Drop does not apply.
    let cluster_ip = resolve(live, xa, "web.z.svc.cluster.local", DnsTransport::Udp);
    let svc_ip = live
        .engine()
        .cluster()
        .service("z", "web")
        .and_then(|s| s.cluster_ip)
        .expect("web has a ClusterIP");
    assert_eq!(cluster_ip, svc_ip);
    assert!(
        live.fqdn_mappings()
            .contains(&("web.z.svc.cluster.local".to_string(), vec![svc_ip])),
        "the ClusterIP answer was snooped: {:?}",
        live.fqdn_mappings()
    );
    let real = live
        .testbed()
        .probe(&Endpoint::pod("x", "a"), cluster_ip, Transport::Tcp(80))
        .expect("probe the ClusterIP");
    assert_eq!(real.outcome, Connected, "ClusterIP name: {}", real.detail);

    // An unknown name is NXDOMAIN: nothing to learn.
    let r = live
        .resolve_fqdn(
            &Endpoint::pod("x", "a"),
            "nope.example.test",
            DnsTransport::Udp,
        )
        .expect("resolution runs");
    assert_eq!(r.resolution.rcode.as_deref(), Some("NXDomain"));
    assert!(!r.realized && r.addrs().is_empty());
    assert!(live.dns_answers_seen() >= 5);
}
