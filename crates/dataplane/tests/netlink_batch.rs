//! Privileged: the netlink writer (`tierwall_dataplane::netlink::Batch`) against the real
//! kernel, read back with nft. For every set kind the renderer uses, elements added and
//! deleted through netlink are listed by nft exactly as `Element::to_json` writes them (so the
//! kernel form equals what nft itself would have written); a failing batch applies nothing;
//! an existing counter keeps its value.

mod common;

use common::Netns;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tierwall_dataplane::netlink::{Batch, Session};
use tierwall_dataplane::ruleset::{Element, MapData, MapKey, MapVerdict, SetKind};
use tierwall_engine::cluster::L4Protocol;

const TABLE_SCRIPT: &str = r#"
add table inet tierwall
add chain inet tierwall target
add counter inet tierwall c1
add counter inet tierwall c2
add set inet tierwall s4 { type ipv4_addr; }
add set inet tierwall si { type ipv4_addr; flags interval; }
add set inet tierwall sif { type ifname; }
add set inet tierwall sport { type inet_service; }
add set inet tierwall sap { type ipv4_addr . inet_service; }
add set inet tierwall sapp { type ipv4_addr . inet_proto . inet_service; }
add set inet tierwall spair { type ipv4_addr . ipv4_addr; }
add map inet tierwall vm { type ipv4_addr . inet_service : verdict; }
add map inet tierwall vmi { type ipv4_addr . inet_service : verdict; flags interval; }
add map inet tierwall cm { type ipv4_addr . inet_service : counter; }
add map inet tierwall cmi { type ipv4_addr . inet_service : counter; flags interval; }
"#;

fn listed(ns: &Netns, set: &str) -> BTreeSet<String> {
    let kind = if ["vm", "vmi", "cm", "cmi"].contains(&set) {
        "map"
    } else {
        "set"
    };
    let out = ns.exec(&["nft", "-j", "list", kind, "inet", "tierwall", set]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| i.get(kind))
        .and_then(|s| s["elem"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(Value::to_string)
        .collect()
}

fn expected(elements: &[Element]) -> BTreeSet<String> {
    elements.iter().map(|e| e.to_json().to_string()).collect()
}

fn ip(s: &str) -> std::net::Ipv4Addr {
    s.parse().unwrap()
}

fn net_ports(net: &str, lo: u16, hi: u16, data: MapData) -> Element {
    Element::Mapped(
        MapKey {
            net: net.parse().unwrap(),
            lo,
            hi,
        },
        data,
    )
}

fn cases() -> Vec<(&'static str, SetKind, Vec<Element>)> {
    let verdict = |v| MapData::Verdict(v);
    vec![
        (
            "s4",
            SetKind::Ipv4,
            vec![Element::Ipv4(ip("10.0.0.1")), Element::Ipv4(ip("10.0.0.2"))],
        ),
        (
            "si",
            SetKind::Ipv4Intervals,
            vec![
                Element::Net("10.0.0.0/24".parse().unwrap()),
                // Adjacent to the previous one, not mergeable with it.
                Element::Net("10.0.1.0/32".parse().unwrap()),
                Element::Net("10.0.2.0/23".parse().unwrap()),
                Element::Net("0.0.0.0/8".parse().unwrap()),
                // Runs to the end of the address space: an open interval.
                Element::Net("255.255.255.0/24".parse().unwrap()),
            ],
        ),
        (
            "sif",
            SetKind::Ifname,
            vec![
                Element::Ifname("veth1".into()),
                Element::Ifname("twp-123456789ab".into()),
            ],
        ),
        (
            "sport",
            SetKind::Port,
            vec![Element::Port(80), Element::Port(65535)],
        ),
        (
            "sap",
            SetKind::AddrPort,
            vec![Element::AddrPort(ip("10.0.0.1"), 80)],
        ),
        (
            "sapp",
            SetKind::AddrProtoPort,
            vec![
                Element::AddrProtoPort(ip("10.0.0.1"), L4Protocol::Tcp, 80),
                Element::AddrProtoPort(ip("10.0.0.1"), L4Protocol::Udp, 53),
                Element::AddrProtoPort(ip("10.0.0.2"), L4Protocol::Sctp, 9),
            ],
        ),
        (
            "spair",
            SetKind::AddrPair,
            vec![Element::AddrPair(ip("10.0.0.1"), ip("10.0.0.1"))],
        ),
        (
            "vm",
            SetKind::VerdictMap(false),
            vec![
                net_ports("10.0.0.1/32", 80, 80, verdict(MapVerdict::Drop)),
                net_ports("10.0.0.2/32", 81, 81, verdict(MapVerdict::Return)),
                net_ports(
                    "10.0.0.3/32",
                    82,
                    82,
                    verdict(MapVerdict::Jump("target".into())),
                ),
                net_ports(
                    "10.0.0.4/32",
                    83,
                    83,
                    verdict(MapVerdict::Goto("target".into())),
                ),
            ],
        ),
        (
            "vmi",
            SetKind::VerdictMap(true),
            vec![
                net_ports("10.0.0.0/24", 80, 90, verdict(MapVerdict::Drop)),
                net_ports("10.0.1.7/32", 443, 443, verdict(MapVerdict::Return)),
            ],
        ),
        (
            "cm",
            SetKind::CounterMap(false),
            vec![net_ports(
                "10.0.0.1/32",
                80,
                80,
                MapData::Counter("c1".into()),
            )],
        ),
        (
            "cmi",
            SetKind::CounterMap(true),
            vec![
                net_ports("10.0.0.0/28", 1000, 2000, MapData::Counter("c1".into())),
                net_ports("10.0.1.0/24", 53, 53, MapData::Counter("c2".into())),
            ],
        ),
    ]
}

#[test]
fn every_set_kind_round_trips_through_nft() {
    require_root!();
    let ns = Netns::new("nl");
    ns.exec(&["sh", "-c", &format!("echo '{TABLE_SCRIPT}' | nft -f -")]);
    let mut add = Batch::new();
    for (name, kind, elements) in cases() {
        add.add_elements(name, kind, &elements).unwrap();
    }
    add.commit(&ns.target()).expect("add batch");
    for (name, _, elements) in cases() {
        assert_eq!(
            listed(&ns, name),
            expected(&elements),
            "set {name} after add"
        );
    }
    // Delete the first element of every set (both ends of an interval go).
    let mut del = Batch::new();
    for (name, kind, elements) in cases() {
        del.delete_elements(name, kind, &elements[..1]).unwrap();
    }
    del.commit(&ns.target()).expect("delete batch");
    for (name, _, elements) in cases() {
        assert_eq!(
            listed(&ns, name),
            expected(&elements[1..]),
            "set {name} after delete"
        );
    }
}

#[test]
fn a_failing_batch_applies_nothing_and_says_why() {
    require_root!();
    let ns = Netns::new("nl");
    ns.exec(&["sh", "-c", &format!("echo '{TABLE_SCRIPT}' | nft -f -")]);
    let mut b = Batch::new();
    b.add_elements("s4", SetKind::Ipv4, &[Element::Ipv4(ip("10.9.9.9"))])
        .unwrap();
    b.add_counter("c_new");
    // Not there: the kernel refuses this message, and with it the whole batch.
    b.delete_elements("s4", SetKind::Ipv4, &[Element::Ipv4(ip("10.1.1.1"))])
        .unwrap();
    let err = b.commit(&ns.target()).unwrap_err().to_string();
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(err.contains(&ns.name), "{err}");
    assert!(listed(&ns, "s4").is_empty());
    let counters = ns.exec(&["nft", "list", "counters"]);
    assert!(!counters.contains("c_new"), "{counters}");

    let mut missing_set = Batch::new();
    missing_set
        .add_elements("nope", SetKind::Ipv4, &[Element::Ipv4(ip("10.9.9.9"))])
        .unwrap();
    assert!(missing_set.commit(&ns.target()).is_err());
}

#[test]
fn counters_are_added_and_deleted_and_an_existing_one_keeps_its_value() {
    require_root!();
    let ns = Netns::new("nl");
    ns.exec(&[
        "sh",
        "-c",
        "nft add table inet tierwall && nft add counter inet tierwall kept { packets 5 bytes 300 }",
    ]);
    let mut b = Batch::new();
    b.add_counter("kept");
    b.add_counter("fresh");
    b.commit(&ns.target()).unwrap();
    let out = ns.exec(&["nft", "-j", "list", "counters", "table", "inet", "tierwall"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let counters: BTreeSet<String> = v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i.get("counter").cloned())
        .map(|c| json!([c["name"], c["packets"], c["bytes"]]).to_string())
        .collect();
    let want: BTreeSet<String> = [json!(["fresh", 0, 0]), json!(["kept", 5, 300])]
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(counters, want);
    let mut d = Batch::new();
    d.delete_counter("fresh");
    d.commit(&ns.target()).unwrap();
    let out = ns.exec(&["nft", "list", "counters"]);
    assert!(!out.contains("fresh") && out.contains("kept"), "{out}");
}

#[test]
fn a_large_batch_is_split_into_messages_and_applies_at_once() {
    require_root!();
    let ns = Netns::new("nl");
    ns.exec(&["sh", "-c", &format!("echo '{TABLE_SCRIPT}' | nft -f -")]);
    let elements: Vec<Element> = (0..20_000u32)
        .map(|i| {
            net_ports(
                &format!("{}/32", std::net::Ipv4Addr::from(0x0a00_0000 + i)),
                (i % 1000) as u16 + 1,
                (i % 1000) as u16 + 1,
                MapData::Verdict(MapVerdict::Return),
            )
        })
        .collect();
    let mut b = Batch::new();
    b.add_elements("vm", SetKind::VerdictMap(false), &elements)
        .unwrap();
    assert!(b.messages() > 1, "{} messages", b.messages());
    b.commit(&ns.target()).unwrap();
    assert_eq!(listed(&ns, "vm").len(), 20_000);
}

#[test]
fn a_session_reuses_its_socket_and_recovers_after_a_refused_batch() {
    require_root!();
    let ns = Netns::new("nl");
    ns.exec(&["sh", "-c", &format!("echo '{TABLE_SCRIPT}' | nft -f -")]);
    let mut session = Session::default();
    let one = |a: &str| Element::Ipv4(ip(a));
    for (i, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
        let mut b = Batch::new();
        b.add_elements("s4", SetKind::Ipv4, &[one(a)]).unwrap();
        session
            .commit(&ns.target(), &b)
            .unwrap_or_else(|e| panic!("batch {i}: {e}"));
    }
    let mut bad = Batch::new();
    bad.delete_elements("s4", SetKind::Ipv4, &[one("10.9.9.9")])
        .unwrap();
    bad.add_elements("s4", SetKind::Ipv4, &[one("10.0.0.4")])
        .unwrap();
    assert!(session.commit(&ns.target(), &bad).is_err());
    let mut good = Batch::new();
    good.delete_elements("s4", SetKind::Ipv4, &[one("10.0.0.1")])
        .unwrap();
    session.commit(&ns.target(), &good).unwrap();
    assert_eq!(
        listed(&ns, "s4"),
        expected(&[one("10.0.0.2"), one("10.0.0.3")])
    );
}
