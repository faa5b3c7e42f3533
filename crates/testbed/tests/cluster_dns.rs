//! Privileged: the testbed's cluster DNS. Pods (and Nodes) resolve Service names through the
//! DNS server of their own Node with real queries over UDP and TCP; headless Services answer
//! their Pods' IPs, other Services their ClusterIP, unknown names NXDOMAIN; the answers follow
//! Service changes (`update_services`) and extra records; a name's answer reaches a Pod on every
//! Node. Without root the test says so and returns.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use tierwall_engine::Engine;
use tierwall_model::load_str;
use tierwall_scenario::cluster::ClusterModel;
use tierwall_testbed::dns::{DnsRecord, DnsTransport, SERVICE_TTL};
use tierwall_testbed::{Endpoint, ProbeHelperCommand, Testbed, TestbedOptions};

fn apply(engine: &mut Engine, yaml: &str) {
    for o in load_str("test", yaml).expect("test manifest parses") {
        engine.apply(o.object).expect("admitted");
    }
}

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: y}
spec:
  clusterIP: None
  selector: {app: b}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: z}
spec:
  selector: {pod: c}
  ports: [{name: http, port: 80, targetPort: 80}]
"#;

#[test]
fn cluster_dns_answers_from_the_services_and_follows_them() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED cluster_dns_answers_from_the_services_and_follows_them: needs root");
        return;
    }
    let mut engine = Engine::new();
    for o in ClusterModel::standard().objects() {
        engine.apply(o).expect("standard objects are admitted");
    }
    apply(&mut engine, SERVICES);
    let options = TestbedOptions {
        probe_helper: Some(ProbeHelperCommand::new(env!(
            "CARGO_BIN_EXE_tierwall-probe-helper"
        ))),
        ..TestbedOptions::default()
    };
    let tb = Testbed::up(engine.cluster(), options).expect("testbed up");
    let ip = |ns: &str, name: &str| tb.pod_ip(ns, name).expect("pod");
    let ask = |src: &Endpoint, name: &str, over| tb.resolve(src, name, over).expect("resolve");

    // A headless Service: the Pods it selects (app=b in y: y/b), from a Pod of every Node.
    for src in [("x", "a"), ("x", "b"), ("x", "c")] {
        let r = ask(
            &Endpoint::pod(src.0, src.1),
            "DB.y.svc.cluster.local.",
            DnsTransport::Udp,
        );
        assert_eq!(r.addrs, vec![ip("y", "b")], "from {src:?}: {r:?}");
        assert_eq!(
            (r.ttl, r.rcode.as_deref()),
            (Some(SERVICE_TTL), Some("NoError"))
        );
    }
    // A ClusterIP Service answers its ClusterIP, over TCP too; from a Node as well.
    let cluster_ip = match engine
        .cluster()
        .service("z", "web")
        .and_then(|s| s.cluster_ip)
    {
        Some(std::net::IpAddr::V4(a)) => a,
        other => panic!("web's ClusterIP: {other:?}"),
    };
    let r = ask(
        &Endpoint::pod("x", "a"),
        "web.z.svc.cluster.local",
        DnsTransport::Tcp,
    );
    assert_eq!(
        (r.transport, r.addrs.clone()),
        (DnsTransport::Tcp, vec![cluster_ip]),
        "{r:?}"
    );
    let r = ask(
        &Endpoint::node("node-1"),
        "web.z.svc.cluster.local",
        DnsTransport::Udp,
    );
    assert_eq!(r.addrs, vec![cluster_ip], "{r:?}");
    let r = ask(
        &Endpoint::pod("x", "a"),
        "nope.z.svc.cluster.local",
        DnsTransport::Udp,
    );
    assert_eq!(
        (r.rcode.as_deref(), r.addrs.len()),
        (Some("NXDomain"), 0),
        "{r:?}"
    );

    // The headless Service selects more Pods; then it is deleted.
    apply(
        &mut engine,
        "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: y}\nspec:\n  clusterIP: None\n  selector: {}\n  ports: [{name: http, port: 80, targetPort: 80}]\n",
    );
    tb.update_services(engine.cluster())
        .expect("update services");
    let r = ask(
        &Endpoint::pod("x", "a"),
        "db.y.svc.cluster.local",
        DnsTransport::Udp,
    );
    let mut all_y = vec![ip("y", "a"), ip("y", "b"), ip("y", "c")];
    all_y.sort();
    assert_eq!(r.addrs, all_y, "{r:?}");
    engine
        .delete(&tierwall_model::ObjectKey::parse("svc/y/db").expect("key"))
        .expect("deleted");
    tb.update_services(engine.cluster())
        .expect("update services");
    let r = ask(
        &Endpoint::pod("x", "a"),
        "db.y.svc.cluster.local",
        DnsTransport::Udp,
    );
    assert_eq!(r.rcode.as_deref(), Some("NXDomain"), "{r:?}");

    // Extra records, and an answer too long for UDP that comes again over TCP.
    let many: Vec<Ipv4Addr> = (1..=80).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    let extra = BTreeMap::from([(
        "Many.Example.test".to_string(),
        DnsRecord {
            ttl: 5,
            addrs: many.clone(),
        },
    )]);
    tb.set_dns_records(engine.cluster(), &extra)
        .expect("extra records");
    let r = ask(
        &Endpoint::pod("z", "b"),
        "many.example.test",
        DnsTransport::Udp,
    );
    assert_eq!(
        (r.transport, r.addrs.clone(), r.ttl),
        (DnsTransport::Tcp, many, Some(5))
    );
    assert!(
        tb.dns_zone()
            .expect("zone")
            .records
            .contains_key("many.example.test")
    );
    tb.down().expect("down");
}
