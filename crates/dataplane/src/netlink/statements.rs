//! The first half of writing a rule over netlink: its JSON statements (the forms `crate::json`
//! builds) parsed into loads, comparisons, lookups and verdicts (`Stmt`), with nft's implicit
//! dependencies added (`meta nfproto` before the first `ip` field, `meta l4proto` before a
//! transport field) and adjacent payload loads merged, as nft's evaluation does. `rules.rs`
//! turns the result into kernel expressions. A statement without a netlink form is
//! [`Unsupported`].

use super::attr::*;
use serde_json::Value;
use std::net::Ipv4Addr;

/// A statement the encoder does not write (the change then goes through nft).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no netlink form for rule statement {statement}: {why}")]
pub struct Unsupported {
    pub statement: String,
    pub why: &'static str,
}

/// `NFT_PAYLOAD_NETWORK_HEADER`, `NFT_PAYLOAD_TRANSPORT_HEADER`.
const BASE_NETWORK: u32 = 1;
const BASE_TRANSPORT: u32 = 2;
/// `enum nft_meta_keys`.
const META_IIFNAME: u32 = 6;
const META_OIFNAME: u32 = 7;
const META_NFPROTO: u32 = 15;
const META_L4PROTO: u32 = 16;
/// `enum nft_ct_keys`.
const CT_STATE: u32 = 0;
const CT_STATUS: u32 = 2;
const CT_PROTO_SRC: u32 = 11;
const CT_PROTO_DST: u32 = 12;
const CT_SRC_IP: u32 = 19;
const CT_DST_IP: u32 = 20;
/// `IP_CT_DIR_ORIGINAL`.
const CT_DIR_ORIGINAL: u8 = 0;
/// `NFPROTO_IPV4`.
const NFPROTO_IPV4: u8 = 2;
/// `IFNAMSIZ`.
const IFNAMSIZ: usize = 16;

// === expression attributes (`enum nft_*_attributes`) ===

const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFTA_CT_DIRECTION: u16 = 3;

/// What a statement loads into a register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Load {
    /// `payload load <len>b @ <base> + <offset>`.
    Payload {
        base: u32,
        offset: u32,
        len: u32,
    },
    Meta {
        key: u32,
        len: u32,
    },
    Ct {
        key: u32,
        dir: Option<u8>,
        len: u32,
    },
}

impl Load {
    pub(super) fn len(&self) -> u32 {
        match self {
            Load::Payload { len, .. } | Load::Meta { len, .. } | Load::Ct { len, .. } => *len,
        }
    }

    pub(super) fn expr(&self, reg: u32) -> Attr {
        match self {
            Load::Payload { base, offset, len } => expr(
                "payload",
                vec![
                    Attr::U32Be(NFTA_PAYLOAD_DREG, reg),
                    Attr::U32Be(NFTA_PAYLOAD_BASE, *base),
                    Attr::U32Be(NFTA_PAYLOAD_OFFSET, *offset),
                    Attr::U32Be(NFTA_PAYLOAD_LEN, *len),
                ],
            ),
            Load::Meta { key, .. } => expr(
                "meta",
                vec![
                    Attr::U32Be(NFTA_META_KEY, *key),
                    Attr::U32Be(NFTA_META_DREG, reg),
                ],
            ),
            Load::Ct { key, dir, .. } => {
                let mut attrs = vec![
                    Attr::U32Be(NFTA_CT_KEY, *key),
                    Attr::U32Be(NFTA_CT_DREG, reg),
                ];
                if let Some(d) = dir {
                    attrs.push(Attr::Bytes(NFTA_CT_DIRECTION, vec![*d]));
                }
                expr("ct", attrs)
            }
        }
    }
}

/// The type of what a load yields: how the right-hand side of a match is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    Ipv4,
    Port,
    /// One byte (ICMP/IGMP type and code).
    Byte,
    L4Proto,
    NfProto,
    Ifname,
    CtState,
    CtStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Eq,
    Ne,
    /// A flag test (`ct state established,related`).
    In,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Right {
    Value(Vec<u8>),
    /// Inclusive range, both ends in network order.
    Range(Vec<u8>, Vec<u8>),
    /// An IPv4 prefix shorter than 32 bits.
    Prefix(Ipv4Addr, u8),
    Set(String),
    /// Flag bits (host order).
    Flags(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stmt {
    Match {
        loads: Vec<Load>,
        op: Op,
        right: Right,
    },
    Counter(String),
    CounterMap {
        loads: Vec<Load>,
        map: String,
    },
    Vmap {
        loads: Vec<Load>,
        map: String,
    },
    Log {
        prefix: Option<String>,
        group: Option<u16>,
    },
    Verdict(i32, Option<String>),
}

pub(super) fn unsupported(v: &Value, why: &'static str) -> Unsupported {
    Unsupported {
        statement: v.to_string(),
        why,
    }
}

pub(super) fn expr(name: &str, data: Vec<Attr>) -> Attr {
    Attr::Nested(
        NFTA_LIST_ELEM,
        vec![
            Attr::Str(NFTA_EXPR_NAME, name.into()),
            Attr::Nested(NFTA_EXPR_DATA, data),
        ],
    )
}

pub(super) fn data_value(kind: u16, bytes: Vec<u8>) -> Attr {
    Attr::Nested(kind, vec![Attr::Bytes(NFTA_DATA_VALUE, bytes)])
}

/// One field of a match's left-hand side.
fn load_of(v: &Value, whole: &Value) -> Result<(Load, Type), Unsupported> {
    if let Some(p) = v.get("payload") {
        let field = (p["protocol"].as_str(), p["field"].as_str());
        let (base, offset, len, ty) = match field {
            (Some("ip"), Some("saddr")) => (BASE_NETWORK, 12, 4, Type::Ipv4),
            (Some("ip"), Some("daddr")) => (BASE_NETWORK, 16, 4, Type::Ipv4),
            (Some("th"), Some("sport")) => (BASE_TRANSPORT, 0, 2, Type::Port),
            (Some("th"), Some("dport")) => (BASE_TRANSPORT, 2, 2, Type::Port),
            (Some("icmp" | "igmp"), Some("type")) => (BASE_TRANSPORT, 0, 1, Type::Byte),
            (Some("icmp"), Some("code")) => (BASE_TRANSPORT, 1, 1, Type::Byte),
            _ => return Err(unsupported(whole, "payload field")),
        };
        return Ok((Load::Payload { base, offset, len }, ty));
    }
    if let Some(m) = v.get("meta") {
        let (key, len, ty) = match m["key"].as_str() {
            Some("l4proto") => (META_L4PROTO, 1, Type::L4Proto),
            Some("nfproto") => (META_NFPROTO, 1, Type::NfProto),
            Some("iifname") => (META_IIFNAME, IFNAMSIZ as u32, Type::Ifname),
            Some("oifname") => (META_OIFNAME, IFNAMSIZ as u32, Type::Ifname),
            _ => return Err(unsupported(whole, "meta key")),
        };
        return Ok((Load::Meta { key, len }, ty));
    }
    if let Some(c) = v.get("ct") {
        let dir = match c.get("dir").and_then(Value::as_str) {
            None => None,
            Some("original") => Some(CT_DIR_ORIGINAL),
            Some(_) => return Err(unsupported(whole, "ct direction")),
        };
        let (key, len, ty) = match (c["key"].as_str(), dir) {
            (Some("state"), None) => (CT_STATE, 4, Type::CtState),
            (Some("status"), None) => (CT_STATUS, 4, Type::CtStatus),
            (Some("ip saddr"), Some(_)) => (CT_SRC_IP, 4, Type::Ipv4),
            (Some("ip daddr"), Some(_)) => (CT_DST_IP, 4, Type::Ipv4),
            (Some("proto-src"), Some(_)) => (CT_PROTO_SRC, 2, Type::Port),
            (Some("proto-dst"), Some(_)) => (CT_PROTO_DST, 2, Type::Port),
            _ => return Err(unsupported(whole, "ct key")),
        };
        return Ok((Load::Ct { key, dir, len }, ty));
    }
    Err(unsupported(whole, "left-hand side"))
}

/// A left-hand side: one field, or a concatenation (only matched against a named set).
fn loads_of(v: &Value, whole: &Value) -> Result<(Vec<Load>, Option<Type>), Unsupported> {
    match v.get("concat").and_then(Value::as_array) {
        Some(items) => {
            let loads = items
                .iter()
                .map(|i| load_of(i, whole).map(|(l, _)| l))
                .collect::<Result<Vec<_>, _>>()?;
            if loads.len() < 2 {
                return Err(unsupported(whole, "concatenation of fewer than two fields"));
            }
            Ok((loads, None))
        }
        None => {
            let (l, t) = load_of(v, whole)?;
            Ok((vec![l], Some(t)))
        }
    }
}

fn l4proto_number(name: &str) -> Option<u8> {
    Some(match name {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        _ => return None,
    })
}

fn port(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|p| u16::try_from(p).ok())
}

/// A single value of `ty` in its kernel form.
fn value_of(ty: Type, v: &Value) -> Option<Vec<u8>> {
    match ty {
        Type::Ipv4 => v
            .as_str()
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
            .map(|a| a.octets().to_vec()),
        Type::Port => port(v).map(|p| p.to_be_bytes().to_vec()),
        Type::Byte => v
            .as_u64()
            .and_then(|b| u8::try_from(b).ok())
            .map(|b| vec![b]),
        Type::L4Proto => v.as_str().and_then(l4proto_number).map(|n| vec![n]),
        Type::NfProto => (v.as_str() == Some("ipv4")).then(|| vec![NFPROTO_IPV4]),
        Type::Ifname => v.as_str().and_then(|s| {
            if s.len() >= IFNAMSIZ || s.as_bytes().contains(&0) {
                return None;
            }
            let mut b = s.as_bytes().to_vec();
            b.resize(IFNAMSIZ, 0);
            Some(b)
        }),
        Type::CtState | Type::CtStatus => None,
    }
}

/// The flag bits of a `ct state` / `ct status` test, host order (as nft writes them).
fn flag_bits(ty: Type, v: &Value) -> Option<Vec<u8>> {
    let names: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let mut bits = 0u32;
    for n in names {
        bits |= match (ty, n) {
            (Type::CtState, "invalid") => 1,
            (Type::CtState, "established") => 2,
            (Type::CtState, "related") => 4,
            (Type::CtState, "new") => 8,
            (Type::CtState, "untracked") => 64,
            (Type::CtStatus, "expected") => 0x1,
            (Type::CtStatus, "seen-reply") => 0x2,
            (Type::CtStatus, "assured") => 0x4,
            (Type::CtStatus, "confirmed") => 0x8,
            (Type::CtStatus, "snat") => 0x10,
            (Type::CtStatus, "dnat") => 0x20,
            (Type::CtStatus, "dying") => 0x200,
            _ => return None,
        };
    }
    Some(bits.to_ne_bytes().to_vec())
}

fn parse_match(m: &Value, whole: &Value) -> Result<Stmt, Unsupported> {
    let op = match m["op"].as_str() {
        Some("==") => Op::Eq,
        Some("!=") => Op::Ne,
        Some("in") => Op::In,
        _ => return Err(unsupported(whole, "match operator")),
    };
    let (loads, ty) = loads_of(&m["left"], whole)?;
    let r = &m["right"];
    if let Some(name) = r.as_str().and_then(|s| s.strip_prefix('@')) {
        if op == Op::In {
            return Err(unsupported(whole, "flag test against a set"));
        }
        return Ok(Stmt::Match {
            loads,
            op,
            right: Right::Set(name.to_string()),
        });
    }
    let Some(ty) = ty else {
        return Err(unsupported(whole, "concatenation against a literal"));
    };
    let bad = || unsupported(whole, "right-hand side");
    let right = match (op, ty) {
        (Op::In, Type::CtState | Type::CtStatus) => Right::Flags(flag_bits(ty, r).ok_or_else(bad)?),
        (Op::In, _) | (_, Type::CtState | Type::CtStatus) => return Err(bad()),
        (_, Type::Ipv4) if r.get("prefix").is_some() => {
            let p = &r["prefix"];
            let addr: Ipv4Addr = p["addr"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?;
            let len = p["len"].as_u64().filter(|l| *l < 32).ok_or_else(bad)? as u8;
            let Load::Payload { .. } = loads[0] else {
                return Err(unsupported(whole, "prefix of a non-payload field"));
            };
            if op != Op::Eq {
                return Err(unsupported(whole, "negated prefix"));
            }
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            if u32::from(addr) & !mask != 0 {
                return Err(unsupported(whole, "prefix with host bits"));
            }
            Right::Prefix(addr, len)
        }
        (_, Type::Port) if r.get("range").is_some() => {
            let (Some(lo), Some(hi)) = (port(&r["range"][0]), port(&r["range"][1])) else {
                return Err(bad());
            };
            if op != Op::Eq || lo > hi {
                return Err(unsupported(whole, "negated or empty range"));
            }
            Right::Range(lo.to_be_bytes().to_vec(), hi.to_be_bytes().to_vec())
        }
        _ => Right::Value(value_of(ty, r).ok_or_else(bad)?),
    };
    Ok(Stmt::Match { loads, op, right })
}

/// `{"key": <concat>, "data": "@map"}` of a `vmap` or counter map.
fn map_parts(v: &Value, whole: &Value) -> Result<(Vec<Load>, String), Unsupported> {
    let (loads, _) = loads_of(&v["key"], whole)?;
    let map = v["data"]
        .as_str()
        .and_then(|s| s.strip_prefix('@'))
        .ok_or_else(|| unsupported(whole, "map reference"))?;
    Ok((loads, map.to_string()))
}

pub(super) fn parse_statement(v: &Value) -> Result<Stmt, Unsupported> {
    let Some(obj) = v.as_object().filter(|o| o.len() == 1) else {
        return Err(unsupported(v, "statement shape"));
    };
    let (kind, body) = obj.iter().next().ok_or_else(|| unsupported(v, "empty"))?;
    let verdict = |code: i32| Ok(Stmt::Verdict(code, None));
    match kind.as_str() {
        "match" => parse_match(body, v),
        "counter" => match body {
            Value::String(name) => Ok(Stmt::Counter(name.clone())),
            Value::Object(o) if o.contains_key("map") => {
                let (loads, map) = map_parts(&body["map"], v)?;
                Ok(Stmt::CounterMap { loads, map })
            }
            _ => Err(unsupported(v, "anonymous counter")),
        },
        "vmap" => {
            let (loads, map) = map_parts(body, v)?;
            Ok(Stmt::Vmap { loads, map })
        }
        "log" => {
            let o = body
                .as_object()
                .ok_or_else(|| unsupported(v, "log options"))?;
            if o.keys().any(|k| k != "prefix" && k != "group") {
                return Err(unsupported(v, "log option"));
            }
            let prefix = match o.get("prefix") {
                None => None,
                Some(p) => Some(
                    p.as_str()
                        .filter(|p| !p.contains('\0'))
                        .ok_or_else(|| unsupported(v, "log prefix"))?
                        .to_string(),
                ),
            };
            let group = match o.get("group") {
                None => None,
                Some(g) => Some(port(g).ok_or_else(|| unsupported(v, "log group"))?),
            };
            Ok(Stmt::Log { prefix, group })
        }
        "accept" if body.is_null() => verdict(NF_ACCEPT),
        "drop" if body.is_null() => verdict(NF_DROP),
        "return" if body.is_null() => verdict(NFT_RETURN),
        "jump" | "goto" => {
            let target = body["target"]
                .as_str()
                .ok_or_else(|| unsupported(v, "verdict target"))?;
            let code = if kind == "jump" { NFT_JUMP } else { NFT_GOTO };
            Ok(Stmt::Verdict(code, Some(target.to_string())))
        }
        _ => Err(unsupported(v, "statement kind")),
    }
}

fn is_network_payload(loads: &[Load]) -> bool {
    loads.iter().any(|l| {
        matches!(
            l,
            Load::Payload {
                base: BASE_NETWORK,
                ..
            }
        )
    })
}

/// nft's implicit dependencies: in the `inet` family an `ip` field is preceded by `meta
/// nfproto ipv4` (once per rule, unless the rule says so itself); `icmp`/`igmp` fields and
/// `ct original proto-dst` need the rule to have matched the protocol before (nft would add
/// or refuse otherwise; the renderer always writes it, anything else is `Unsupported`).
pub(super) fn add_dependencies(
    stmts: Vec<Stmt>,
    source: &[Value],
) -> Result<Vec<Stmt>, Unsupported> {
    let mut out = Vec::with_capacity(stmts.len() + 1);
    let mut ipv4 = false;
    let mut l4proto: Option<u8> = None;
    for (s, v) in stmts.into_iter().zip(source) {
        let loads = match &s {
            Stmt::Match { loads, .. }
            | Stmt::CounterMap { loads, .. }
            | Stmt::Vmap { loads, .. } => Some(loads),
            _ => None,
        };
        if let Some(loads) = loads {
            if is_network_payload(loads) && !ipv4 {
                out.push(Stmt::Match {
                    loads: vec![Load::Meta {
                        key: META_NFPROTO,
                        len: 1,
                    }],
                    op: Op::Eq,
                    right: Right::Value(vec![NFPROTO_IPV4]),
                });
                ipv4 = true;
            }
            for l in loads {
                let needs = match (v.pointer("/match/left/payload/protocol"), l) {
                    (Some(Value::String(p)), Load::Payload { .. }) if p == "icmp" => Some(1),
                    (Some(Value::String(p)), Load::Payload { .. }) if p == "igmp" => Some(2),
                    _ => None,
                };
                if needs.is_some() && l4proto != needs {
                    return Err(unsupported(v, "icmp/igmp field without meta l4proto first"));
                }
                if matches!(
                    l,
                    Load::Ct {
                        key: CT_PROTO_DST | CT_PROTO_SRC,
                        ..
                    }
                ) && l4proto.is_none()
                {
                    return Err(unsupported(v, "ct proto-dst without meta l4proto first"));
                }
            }
        }
        if let Stmt::Match {
            loads,
            op: Op::Eq,
            right: Right::Value(b),
        } = &s
            && let [Load::Meta { key, .. }] = loads.as_slice()
        {
            match *key {
                META_L4PROTO => l4proto = b.first().copied(),
                META_NFPROTO => ipv4 |= b.first() == Some(&NFPROTO_IPV4),
                _ => {}
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// nft's payload merge (`payload_try_merge`): equality matches of adjacent payload fields of
/// one header (e.g. `th sport 9 th dport 80`, `icmp type 8 icmp code 0`) become one load and
/// one compare, at the place of the field with the lowest offset. Other matches do not
/// interrupt a group; other statements (counter, log, verdict) do. nft does not merge into a
/// load longer than 4 bytes of two fields of at most 4 bytes (the kernel's fast path).
pub(super) fn merge_payloads(stmts: Vec<Stmt>) -> Vec<Stmt> {
    let mut stmts: Vec<Option<Stmt>> = stmts.into_iter().map(Some).collect();
    let mergeable = |s: &Option<Stmt>| {
        matches!(
            s,
            Some(Stmt::Match {
                loads,
                op: Op::Eq | Op::Ne,
                right: Right::Value(_),
            }) if matches!(loads.as_slice(), [Load::Payload { .. }])
        )
    };
    let mut group: Vec<usize> = Vec::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, s) in stmts.iter().enumerate() {
        match s {
            Some(Stmt::Match { .. }) => {
                if mergeable(s) {
                    group.push(i);
                }
            }
            _ => groups.push(std::mem::take(&mut group)),
        }
    }
    groups.push(group);
    for mut g in groups.into_iter().filter(|g| g.len() > 1) {
        let field = |s: &Option<Stmt>| match s {
            Some(Stmt::Match {
                loads,
                op,
                right: Right::Value(v),
            }) => match loads.as_slice() {
                [Load::Payload { base, offset, len }] => {
                    Some((*base, *offset, *len, *op, v.clone()))
                }
                _ => None,
            },
            _ => None,
        };
        g.sort_by_key(|&i| field(&stmts[i]).map(|f| f.1));
        let mut last = g[0];
        for &i in &g[1..] {
            let (Some(a), Some(b)) = (field(&stmts[last]), field(&stmts[i])) else {
                continue;
            };
            let adjacent = a.0 == b.0 && a.1 + a.2 == b.1 && a.3 == b.3;
            if !adjacent || a.2 + b.2 > 4 {
                last = i;
                continue;
            }
            let mut bytes = a.4;
            bytes.extend_from_slice(&b.4);
            stmts[last] = Some(Stmt::Match {
                loads: vec![Load::Payload {
                    base: a.0,
                    offset: a.1,
                    len: a.2 + b.2,
                }],
                op: a.3,
                right: Right::Value(bytes),
            });
            stmts[i] = None;
        }
    }
    stmts.into_iter().flatten().collect()
}
