//! Rules and set definitions as nf_tables netlink messages, byte for byte what nft 1.0.6
//! sends for the same JSON (checked against nft with `nft --debug=netlink` and `strace`, and
//! proven by `tests/netlink_rules.rs`, which compares the kernel's own dump of a rule written
//! by nft with the dump of the same rule written here).
//!
//! A `Rule`'s statements (the JSON forms `crate::json` builds) become kernel expressions the
//! way nft's evaluation and linearization make them:
//!
//! ```text
//!  ip saddr @s               meta load nfproto · cmp eq 02    (inet: the implicit dependency,
//!                            payload load 4b @ nh+12           once per rule, before the first
//!                            lookup reg 1 set s                `ip` field)
//!  ip daddr 10.0.0.0/24      payload load 3b @ nh+16 · cmp eq 0a0000   (whole bytes: trimmed)
//!  ip daddr 10.16.0.0/12     payload load 4b · bitwise & fff00000 · cmp eq 0a100000
//!  th dport 80-90            payload load 2b @ th+2 · cmp gte 0050 · cmp lte 005a
//!  th dport 80 th sport 9    payload load 4b @ th+0 · cmp eq 00090050   (adjacent fields merged)
//!  icmp type 8 icmp code 0   payload load 2b @ th+0 · cmp eq 0800       (needs meta l4proto icmp)
//!  ct status dnat            ct load status · bitwise & 20000000 (host order) · cmp neq 0
//!  a . b . c @s              loads into reg 1, 9, 10 (32-bit registers after the first) · lookup
//!  counter name ip daddr . th dport map @cm    loads · objref sreg 1 set cm
//!  ip daddr . th dport vmap @vm                loads · lookup reg 1 set vm dreg 0
//!  counter "c"  log  return/drop/accept/jump/goto   objref · log · immediate reg 0
//!  comment                   rule user data: 00 <len> text NUL
//! ```
//!
//! Anything else (anonymous sets, `reject`, a port range after `!=`, ...) is `Unsupported`:
//! the caller then leaves the change to nft, so a rule is never written differently.

use super::attr::*;
use crate::names::TABLE;
use crate::ruleset::SetKind;
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
/// `enum nft_cmp_ops`.
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
const CMP_LTE: u32 = 3;
const CMP_GTE: u32 = 5;
/// `NFT_LOOKUP_F_INV`.
const LOOKUP_F_INV: u32 = 1;
/// `NFT_REG_VERDICT`, `NFT_REG_1`, `NFT_REG32_00`.
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG32_00: u32 = 8;
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
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;
const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_DREG: u16 = 3;
const NFTA_LOOKUP_FLAGS: u16 = 5;
const NFTA_OBJREF_IMM_TYPE: u16 = 1;
const NFTA_OBJREF_IMM_NAME: u16 = 2;
const NFTA_OBJREF_SET_SREG: u16 = 3;
const NFTA_OBJREF_SET_NAME: u16 = 4;
const NFTA_LOG_GROUP: u16 = 1;
const NFTA_LOG_PREFIX: u16 = 2;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

/// What a statement loads into a register.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Load {
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
    fn len(&self) -> u32 {
        match self {
            Load::Payload { len, .. } | Load::Meta { len, .. } | Load::Ct { len, .. } => *len,
        }
    }

    fn expr(&self, reg: u32) -> Attr {
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
enum Type {
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
enum Op {
    Eq,
    Ne,
    /// A flag test (`ct state established,related`).
    In,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Right {
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
enum Stmt {
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

fn unsupported(v: &Value, why: &'static str) -> Unsupported {
    Unsupported {
        statement: v.to_string(),
        why,
    }
}

fn expr(name: &str, data: Vec<Attr>) -> Attr {
    Attr::Nested(
        NFTA_LIST_ELEM,
        vec![
            Attr::Str(NFTA_EXPR_NAME, name.into()),
            Attr::Nested(NFTA_EXPR_DATA, data),
        ],
    )
}

fn data_value(kind: u16, bytes: Vec<u8>) -> Attr {
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

fn parse_statement(v: &Value) -> Result<Stmt, Unsupported> {
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
fn add_dependencies(stmts: Vec<Stmt>, source: &[Value]) -> Result<Vec<Stmt>, Unsupported> {
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
fn merge_payloads(stmts: Vec<Stmt>) -> Vec<Stmt> {
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

/// nft's register numbers for the fields of a concatenation: the first in `NFT_REG_1`, the
/// next in 32-bit registers (`NFT_REG32_01`, ...; a field starting on a 16-byte boundary is
/// named by its 128-bit register).
fn load_all(loads: &[Load], out: &mut Vec<Attr>) {
    let mut slot = 0;
    for l in loads {
        let reg = if slot % 4 == 0 {
            REG_1 + slot / 4
        } else {
            REG32_00 + slot
        };
        out.push(l.expr(reg));
        slot += l.len().div_ceil(4);
    }
}

fn cmp(op: u32, bytes: Vec<u8>) -> Attr {
    expr(
        "cmp",
        vec![
            Attr::U32Be(NFTA_CMP_SREG, REG_1),
            Attr::U32Be(NFTA_CMP_OP, op),
            data_value(NFTA_CMP_DATA, bytes),
        ],
    )
}

fn bitwise(len: u32, mask: Vec<u8>) -> Attr {
    expr(
        "bitwise",
        vec![
            Attr::U32Be(NFTA_BITWISE_SREG, REG_1),
            Attr::U32Be(NFTA_BITWISE_DREG, REG_1),
            Attr::U32Be(NFTA_BITWISE_LEN, len),
            data_value(NFTA_BITWISE_MASK, mask),
            data_value(NFTA_BITWISE_XOR, vec![0; len as usize]),
        ],
    )
}

fn linearize(s: &Stmt, out: &mut Vec<Attr>) {
    match s {
        Stmt::Match { loads, op, right } => match right {
            Right::Prefix(addr, len) => {
                let Load::Payload { base, offset, .. } = loads[0] else {
                    return;
                };
                let octets = addr.octets();
                if len % 8 == 0 && *len > 0 {
                    let bytes = u32::from(len / 8);
                    out.push(
                        Load::Payload {
                            base,
                            offset,
                            len: bytes,
                        }
                        .expr(REG_1),
                    );
                    out.push(cmp(CMP_EQ, octets[..bytes as usize].to_vec()));
                } else {
                    load_all(loads, out);
                    let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                    out.push(bitwise(4, mask.to_be_bytes().to_vec()));
                    out.push(cmp(CMP_EQ, octets.to_vec()));
                }
            }
            Right::Value(v) => {
                load_all(loads, out);
                out.push(cmp(if *op == Op::Ne { CMP_NEQ } else { CMP_EQ }, v.clone()));
            }
            Right::Range(lo, hi) => {
                load_all(loads, out);
                out.push(cmp(CMP_GTE, lo.clone()));
                out.push(cmp(CMP_LTE, hi.clone()));
            }
            Right::Set(name) => {
                load_all(loads, out);
                let mut attrs = vec![
                    Attr::U32Be(NFTA_LOOKUP_SREG, REG_1),
                    Attr::Str(NFTA_LOOKUP_SET, name.clone()),
                ];
                if *op == Op::Ne {
                    attrs.push(Attr::U32Be(NFTA_LOOKUP_FLAGS, LOOKUP_F_INV));
                }
                out.push(expr("lookup", attrs));
            }
            Right::Flags(mask) => {
                load_all(loads, out);
                let len = mask.len() as u32;
                out.push(bitwise(len, mask.clone()));
                out.push(cmp(CMP_NEQ, vec![0; len as usize]));
            }
        },
        Stmt::Counter(name) => out.push(expr(
            "objref",
            vec![
                Attr::U32Be(NFTA_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER),
                Attr::Str(NFTA_OBJREF_IMM_NAME, name.clone()),
            ],
        )),
        Stmt::CounterMap { loads, map } => {
            load_all(loads, out);
            out.push(expr(
                "objref",
                vec![
                    Attr::U32Be(NFTA_OBJREF_SET_SREG, REG_1),
                    Attr::Str(NFTA_OBJREF_SET_NAME, map.clone()),
                ],
            ));
        }
        Stmt::Vmap { loads, map } => {
            load_all(loads, out);
            out.push(expr(
                "lookup",
                vec![
                    Attr::U32Be(NFTA_LOOKUP_SREG, REG_1),
                    Attr::U32Be(NFTA_LOOKUP_DREG, REG_VERDICT),
                    Attr::Str(NFTA_LOOKUP_SET, map.clone()),
                ],
            ));
        }
        Stmt::Log { prefix, group } => {
            let mut attrs = Vec::new();
            if let Some(p) = prefix {
                attrs.push(Attr::Str(NFTA_LOG_PREFIX, p.clone()));
            }
            if let Some(g) = group {
                attrs.push(Attr::Bytes(NFTA_LOG_GROUP, g.to_be_bytes().to_vec()));
            }
            out.push(expr("log", attrs));
        }
        Stmt::Verdict(code, chain) => {
            let mut inner = vec![Attr::U32Be(NFTA_VERDICT_CODE, *code as u32)];
            if let Some(c) = chain {
                inner.push(Attr::Str(NFTA_VERDICT_CHAIN, c.clone()));
            }
            out.push(expr(
                "immediate",
                vec![
                    Attr::U32Be(NFTA_IMMEDIATE_DREG, REG_VERDICT),
                    Attr::Nested(
                        NFTA_IMMEDIATE_DATA,
                        vec![Attr::Nested(NFTA_DATA_VERDICT, inner)],
                    ),
                ],
            ));
        }
    }
}

/// The kernel expressions of a rule's statements (`NFTA_RULE_EXPRESSIONS` list items).
pub fn rule_expressions(statements: &[Value]) -> Result<Vec<Attr>, Unsupported> {
    let parsed = statements
        .iter()
        .map(parse_statement)
        .collect::<Result<Vec<_>, _>>()?;
    // A verdict ends a rule: nothing may follow it (nft refuses it too).
    if let Some(at) = parsed.iter().position(|s| matches!(s, Stmt::Verdict(..)))
        && at + 1 != parsed.len()
    {
        return Err(unsupported(
            &statements[at + 1],
            "statement after a verdict",
        ));
    }
    let stmts = merge_payloads(add_dependencies(parsed, statements)?);
    let mut out = Vec::with_capacity(stmts.len() * 2);
    for s in &stmts {
        linearize(s, &mut out);
    }
    Ok(out)
}

/// nft's rule user data for a comment: `NFTNL_UDATA_RULE_COMMENT`, length, text, NUL (nft
/// takes at most 128 bytes with the NUL: `NFTNL_UDATA_COMMENT_MAXLEN`).
pub fn comment_userdata(comment: &str) -> Result<Vec<u8>, Unsupported> {
    let len = u8::try_from(comment.len() + 1)
        .ok()
        .filter(|l| *l <= 128 && !comment.contains('\0'))
        .ok_or_else(|| Unsupported {
            statement: format!("comment {comment:?}"),
            why: "comment longer than 127 bytes or with a NUL",
        })?;
    let mut out = vec![NFTNL_UDATA_RULE_COMMENT, len];
    out.extend_from_slice(comment.as_bytes());
    out.push(0);
    Ok(out)
}

/// `NFT_MSG_NEWRULE` attributes: append `statements` (with `comment`) to `chain`.
pub fn new_rule(
    chain: &str,
    statements: &[Value],
    comment: Option<&str>,
) -> Result<Vec<Attr>, Unsupported> {
    let mut attrs = vec![
        Attr::Str(NFTA_RULE_TABLE, TABLE.into()),
        Attr::Str(NFTA_RULE_CHAIN, chain.into()),
        Attr::Nested(NFTA_RULE_EXPRESSIONS, rule_expressions(statements)?),
    ];
    if let Some(c) = comment {
        attrs.push(Attr::Bytes(NFTA_RULE_USERDATA, comment_userdata(c)?));
    }
    Ok(attrs)
}

// === set definitions ===

/// nft's set user data (libnftnl `NFTNL_UDATA_SET_*` TLVs, copied from what nft 1.0.6 sends
/// for each kind; `nft list` reads the key byte order and the concatenation's field types
/// from it).
fn set_userdata(kind: SetKind) -> &'static [u8] {
    // Key byte order: big endian (2) for single addresses and ports, host (1) for ifname.
    const BIG_ENDIAN_KEY: &[u8] = &[0x00, 0x04, 0x02, 0x00, 0x00, 0x00];
    const HOST_KEY: &[u8] = &[0x00, 0x04, 0x01, 0x00, 0x00, 0x00];
    const CONCAT: &[u8] = &[
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01,
        0x00,
    ];
    const COUNTER_MAP: &[u8] = &[
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
    ];
    const VERDICT_MAP: &[u8] = &[
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00,
        0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
    ];
    match kind {
        SetKind::Ipv4 | SetKind::Ipv4Intervals | SetKind::Port => BIG_ENDIAN_KEY,
        SetKind::Ifname => HOST_KEY,
        SetKind::AddrPort | SetKind::AddrProtoPort | SetKind::AddrPair => CONCAT,
        SetKind::CounterMap(_) => COUNTER_MAP,
        SetKind::VerdictMap(_) => VERDICT_MAP,
    }
}

/// `NFT_MSG_NEWSET` attributes of set (or map) `name` of `kind`, with batch-local id `id`:
/// what nft 1.0.6 sends for the `add set`/`add map` the renderer writes.
pub fn new_set(name: &str, kind: SetKind, id: u32) -> Vec<Attr> {
    // Key type: nft's datatype numbers, concatenated 6 bits per field.
    const IPV4: u32 = 7;
    const INET_PROTO: u32 = 12;
    const INET_SERVICE: u32 = 13;
    const IFNAME: u32 = 41;
    let addr_port = (IPV4 << 6) | INET_SERVICE;
    let (key_type, key_len, flags) = match kind {
        SetKind::Ifname => (IFNAME, 16, 0),
        SetKind::Ipv4 => (IPV4, 4, 0),
        SetKind::Ipv4Intervals => (IPV4, 4, NFT_SET_INTERVAL),
        SetKind::Port => (INET_SERVICE, 2, 0),
        SetKind::AddrPort => (addr_port, 8, 0),
        SetKind::AddrProtoPort => ((IPV4 << 12) | (INET_PROTO << 6) | INET_SERVICE, 12, 0),
        SetKind::AddrPair => ((IPV4 << 6) | IPV4, 8, 0),
        SetKind::CounterMap(i) => (
            addr_port,
            8,
            NFT_SET_OBJECT
                | if i {
                    NFT_SET_INTERVAL | NFT_SET_CONCAT
                } else {
                    0
                },
        ),
        SetKind::VerdictMap(i) => (
            addr_port,
            8,
            NFT_SET_MAP
                | if i {
                    NFT_SET_INTERVAL | NFT_SET_CONCAT
                } else {
                    0
                },
        ),
    };
    let mut attrs = vec![
        Attr::Str(NFTA_SET_TABLE, TABLE.into()),
        Attr::Str(NFTA_SET_NAME, name.into()),
        Attr::U32Be(NFTA_SET_FLAGS, flags),
        Attr::U32Be(NFTA_SET_KEY_TYPE, key_type),
        Attr::U32Be(NFTA_SET_KEY_LEN, key_len),
    ];
    match kind {
        SetKind::VerdictMap(_) => {
            attrs.push(Attr::U32Be(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT));
            attrs.push(Attr::U32Be(NFTA_SET_DATA_LEN, 0));
        }
        SetKind::CounterMap(_) => attrs.push(Attr::U32Be(NFTA_SET_OBJ_TYPE, NFT_OBJECT_COUNTER)),
        _ => {}
    }
    attrs.push(Attr::U32Be(NFTA_SET_ID, id));
    if flags & NFT_SET_CONCAT != 0 {
        // The field lengths of the concatenation (address 4, port 2).
        let field =
            |len: u32| Attr::Nested(NFTA_LIST_ELEM, vec![Attr::U32Be(NFTA_SET_FIELD_LEN, len)]);
        attrs.push(Attr::Nested(
            NFTA_SET_DESC,
            vec![Attr::Nested(NFTA_SET_DESC_CONCAT, vec![field(4), field(2)])],
        ));
    }
    attrs.push(Attr::Bytes(NFTA_SET_USERDATA, set_userdata(kind).to_vec()));
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{self, concat, ct, eq, flags, meta, payload, set_ref};
    use serde_json::json;

    fn names(attrs: &[Attr]) -> Vec<String> {
        attrs
            .iter()
            .map(|a| match a {
                Attr::Nested(_, inner) => match &inner[0] {
                    Attr::Str(_, n) => n.clone(),
                    _ => "?".into(),
                },
                _ => "?".into(),
            })
            .collect()
    }

    #[test]
    fn an_ip_field_gets_its_nfproto_dependency_once() {
        let e = rule_expressions(&[
            eq(payload("ip", "saddr"), set_ref("a")),
            eq(payload("ip", "daddr"), json!("10.0.0.1")),
            json::ret(),
        ])
        .unwrap();
        assert_eq!(
            names(&e),
            [
                "meta",
                "cmp",
                "payload",
                "lookup",
                "payload",
                "cmp",
                "immediate"
            ]
        );
    }

    #[test]
    fn adjacent_transport_fields_merge_and_ranges_do_not() {
        let merged = rule_expressions(&[
            eq(meta("l4proto"), json!("tcp")),
            eq(payload("th", "dport"), json!(80)),
            eq(payload("th", "sport"), json!(1000)),
            json::drop(),
        ])
        .unwrap();
        assert_eq!(
            names(&merged),
            ["meta", "cmp", "payload", "cmp", "immediate"]
        );
        let ranged = rule_expressions(&[
            eq(meta("l4proto"), json!("tcp")),
            eq(payload("th", "dport"), json::port_range(80, 90)),
            eq(payload("th", "sport"), json!(1000)),
            json::drop(),
        ])
        .unwrap();
        assert_eq!(
            names(&ranged),
            [
                "meta",
                "cmp",
                "payload",
                "cmp",
                "cmp",
                "payload",
                "cmp",
                "immediate"
            ]
        );
    }

    #[test]
    fn unknown_statements_and_missing_dependencies_are_refused() {
        assert!(rule_expressions(&[json::reject_tcp_reset()]).is_err());
        assert!(rule_expressions(&[eq(meta("l4proto"), json!({"set": ["tcp", "udp"]}))]).is_err());
        assert!(rule_expressions(&[eq(payload("icmp", "type"), json!(8))]).is_err());
        assert!(rule_expressions(&[json::drop(), json::ret()]).is_err());
        assert!(
            rule_expressions(&[eq(
                concat(vec![payload("ip", "daddr"), payload("th", "dport")]),
                json!("10.0.0.1")
            )])
            .is_err()
        );
        assert!(rule_expressions(&[flags(ct("status"), json!("dnat")), json::ret()]).is_ok());
    }

    #[test]
    fn comments_are_rule_user_data() {
        assert_eq!(
            comment_userdata("abc").unwrap(),
            [0, 4, b'a', b'b', b'c', 0]
        );
    }
}
