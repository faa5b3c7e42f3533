//! The kernel form of set and map elements, byte for byte as nft 1.0.6 writes them (checked
//! with `nft --debug=netlink`): keys in network byte order, each field of a concatenation
//! padded to a 4-byte register; single-field interval sets as a start element and an
//! interval-end element one past the last address (or an open interval at the end of the
//! address space); concatenated interval maps as one element with a key and a key end.
//!
//! ```text
//!  ipv4_addr                      0a000001
//!  inet_service                   0050                    (2 bytes, alone)
//!  ipv4_addr . inet_service       0a000001 00500000
//!  ipv4_addr . inet_proto . port  0a000001 06000000 00500000
//!  ifname                         "veth1" NUL-padded to 16 bytes
//!  10.0.0.0/24 (interval set)     0a000000 · 0a000100 [interval end]
//!  10.0.0.0/24 . 80-90 (map)      key 0a000000 00500000, key end 0a0000ff 005a0000
//! ```

use super::attr::*;
use crate::ruleset::{Element, MapData, MapVerdict, SetKind};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// `IFNAMSIZ`: the key length of an `ifname` set.
const IFNAMSIZ: usize = 16;

/// Why an element has no kernel form for its set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("element {element} does not fit set kind {kind:?}")]
pub struct ElementMismatch {
    pub kind: SetKind,
    pub element: String,
}

fn addr(a: Ipv4Addr) -> [u8; 4] {
    a.octets()
}

/// A port as a concatenation field: big-endian, padded to 4 bytes.
fn port_field(p: u16) -> [u8; 4] {
    let [hi, lo] = p.to_be_bytes();
    [hi, lo, 0, 0]
}

fn value(kind: u16, bytes: Vec<u8>) -> Attr {
    Attr::Nested(kind, vec![Attr::Bytes(NFTA_DATA_VALUE, bytes)])
}

fn verdict(v: &MapVerdict) -> Attr {
    let (code, chain) = match v {
        MapVerdict::Return => (NFT_RETURN, None),
        MapVerdict::Drop => (NF_DROP, None),
        MapVerdict::Jump(c) => (NFT_JUMP, Some(c)),
        MapVerdict::Goto(c) => (NFT_GOTO, Some(c)),
    };
    let mut inner = vec![Attr::U32Be(NFTA_VERDICT_CODE, code as u32)];
    if let Some(c) = chain {
        inner.push(Attr::Str(NFTA_VERDICT_CHAIN, c.clone()));
    }
    Attr::Nested(
        NFTA_SET_ELEM_DATA,
        vec![Attr::Nested(NFTA_DATA_VERDICT, inner)],
    )
}

/// The last address of a prefix, and the address after it (`None` at the end of the space).
fn net_bounds(n: Ipv4Net) -> (Ipv4Addr, Ipv4Addr, Option<Ipv4Addr>) {
    let n = n.trunc();
    let last = n.broadcast();
    let next = u32::from(last).checked_add(1).map(Ipv4Addr::from);
    (n.network(), last, next)
}

/// The kernel elements (each a list of `NFTA_SET_ELEM_*` attributes) of one element of a
/// set of `kind`. `with_data`: include the map data (an add), or the key only (a delete).
pub fn kernel_elements(
    kind: SetKind,
    e: &Element,
    with_data: bool,
) -> Result<Vec<Vec<Attr>>, ElementMismatch> {
    let mismatch = || ElementMismatch {
        kind,
        element: e.to_json().to_string(),
    };
    let single = |key: Vec<u8>| Ok(vec![vec![value(NFTA_SET_ELEM_KEY, key)]]);
    match (kind, e) {
        (SetKind::Ipv4, Element::Ipv4(a)) => single(addr(*a).to_vec()),
        (SetKind::Ipv4Intervals, Element::Ipv4(a)) => {
            interval(Ipv4Net::from(*a)).map_err(|()| mismatch())
        }
        (SetKind::Ipv4Intervals, Element::Net(n)) => interval(*n).map_err(|()| mismatch()),
        (SetKind::Port, Element::Port(p)) => single(p.to_be_bytes().to_vec()),
        (SetKind::AddrPort, Element::AddrPort(a, p)) => single([addr(*a), port_field(*p)].concat()),
        (SetKind::AddrProtoPort, Element::AddrProtoPort(a, proto, p)) => single(
            [
                addr(*a),
                [crate::names::proto_number(*proto), 0, 0, 0],
                port_field(*p),
            ]
            .concat(),
        ),
        (SetKind::AddrPair, Element::AddrPair(a, b)) => single([addr(*a), addr(*b)].concat()),
        (SetKind::Ifname, Element::Ifname(name)) => {
            if name.len() >= IFNAMSIZ || name.as_bytes().contains(&0) {
                return Err(mismatch());
            }
            let mut key = name.as_bytes().to_vec();
            key.resize(IFNAMSIZ, 0);
            single(key)
        }
        (
            SetKind::VerdictMap(interval) | SetKind::CounterMap(interval),
            Element::Mapped(k, data),
        ) => {
            let crate::ruleset::MapKey { net, lo, hi } = k;
            let (first, last, _) = net_bounds(*net);
            let mut attrs = vec![value(
                NFTA_SET_ELEM_KEY,
                [addr(first), port_field(*lo)].concat(),
            )];
            if interval {
                attrs.push(value(
                    NFTA_SET_ELEM_KEY_END,
                    [addr(last), port_field(*hi)].concat(),
                ));
            } else if first != last || lo != hi {
                // An exact map holds exact keys only.
                return Err(mismatch());
            }
            if with_data {
                match (kind, data) {
                    (SetKind::VerdictMap(_), MapData::Verdict(v)) => attrs.push(verdict(v)),
                    (SetKind::CounterMap(_), MapData::Counter(c)) => {
                        attrs.push(Attr::Str(NFTA_SET_ELEM_OBJREF, c.clone()))
                    }
                    _ => return Err(mismatch()),
                }
            }
            Ok(vec![attrs])
        }
        _ => Err(mismatch()),
    }
}

/// A prefix in a single-field interval set: its start, and the interval end one past its last
/// address — or, for a prefix that runs to 255.255.255.255, an open start element.
fn interval(n: Ipv4Net) -> Result<Vec<Vec<Attr>>, ()> {
    let (first, _, next) = net_bounds(n);
    let start = value(NFTA_SET_ELEM_KEY, addr(first).to_vec());
    Ok(match next {
        Some(end) => vec![
            vec![start],
            vec![
                value(NFTA_SET_ELEM_KEY, addr(end).to_vec()),
                Attr::U32Be(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END),
            ],
        ],
        None => vec![vec![
            start,
            Attr::Bytes(NFTA_SET_ELEM_USERDATA, UDATA_INTERVAL_OPEN.to_vec()),
        ]],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierwall_node_api::L4Protocol;

    fn key_bytes(attrs: &[Attr]) -> Vec<u8> {
        match &attrs[0] {
            Attr::Nested(NFTA_SET_ELEM_KEY, inner) => match &inner[0] {
                Attr::Bytes(NFTA_DATA_VALUE, b) => b.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_match_what_nft_writes() {
        let a: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let one = |kind, e| {
            let v = kernel_elements(kind, &e, true).unwrap();
            assert_eq!(v.len(), 1);
            key_bytes(&v[0])
        };
        assert_eq!(one(SetKind::Ipv4, Element::Ipv4(a)), [10, 0, 0, 1]);
        assert_eq!(one(SetKind::Port, Element::Port(80)), [0, 0x50]);
        assert_eq!(
            one(SetKind::AddrPort, Element::AddrPort(a, 80)),
            [10, 0, 0, 1, 0, 0x50, 0, 0]
        );
        assert_eq!(
            one(
                SetKind::AddrProtoPort,
                Element::AddrProtoPort(a, L4Protocol::Tcp, 80)
            ),
            [10, 0, 0, 1, 6, 0, 0, 0, 0, 0x50, 0, 0]
        );
        assert_eq!(
            one(SetKind::Ifname, Element::Ifname("veth1".into())),
            [
                b'v', b'e', b't', b'h', b'1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn prefixes_become_start_and_end_elements() {
        let v = kernel_elements(
            SetKind::Ipv4Intervals,
            &Element::Net("10.0.0.0/24".parse().unwrap()),
            true,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(key_bytes(&v[0]), [10, 0, 0, 0]);
        assert_eq!(key_bytes(&v[1]), [10, 0, 1, 0]);
        assert_eq!(
            v[1][1],
            Attr::U32Be(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END)
        );
        let open = kernel_elements(
            SetKind::Ipv4Intervals,
            &Element::Net("255.255.255.0/24".parse().unwrap()),
            true,
        )
        .unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            open[0][1],
            Attr::Bytes(NFTA_SET_ELEM_USERDATA, UDATA_INTERVAL_OPEN.to_vec())
        );
    }

    #[test]
    fn interval_map_elements_carry_a_key_end_and_exact_maps_refuse_ranges() {
        let e = Element::Mapped(
            crate::ruleset::MapKey {
                net: "10.0.0.0/24".parse().unwrap(),
                lo: 80,
                hi: 90,
            },
            MapData::Verdict(MapVerdict::Drop),
        );
        let v = kernel_elements(SetKind::VerdictMap(true), &e, true).unwrap();
        assert_eq!(key_bytes(&v[0]), [10, 0, 0, 0, 0, 80, 0, 0]);
        assert_eq!(
            v[0][1],
            value(NFTA_SET_ELEM_KEY_END, vec![10, 0, 0, 255, 0, 90, 0, 0])
        );
        assert!(kernel_elements(SetKind::VerdictMap(false), &e, true).is_err());
        // A delete carries the key only.
        assert_eq!(
            kernel_elements(SetKind::VerdictMap(true), &e, false).unwrap()[0].len(),
            2
        );
        assert!(kernel_elements(SetKind::Ipv4, &Element::Port(1), true).is_err());
    }
}
