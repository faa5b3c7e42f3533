//! A small nftables interpreter for the subset the renderer emits, so that a rendering can be
//! checked against the engine on every flow of every scenario without root. It parses the
//! rendered JSON statements once (an unknown construct panics: the interpreter must follow the
//! renderer), then runs packets through the chains with nft's verdict semantics:
//!
//! ```text
//!  jump X   run X; `return` (or its end) comes back to the next rule
//!  goto X   run X in place of the rest of this chain
//!  return   back to the caller; at the end of a base chain: policy accept
//! ```
//!
//! Packets are first packets of connections (`ct state new`).

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use tierwall_dataplane::Ruleset;
use tierwall_dataplane::ruleset::{Element, MapData, MapVerdict, Set};
use tierwall_engine::cluster::L4Protocol;

/// A packet as the hook sees it.
#[derive(Debug, Clone)]
pub struct Packet {
    pub iif: String,
    pub oif: String,
    pub saddr: Ipv4Addr,
    pub daddr: Ipv4Addr,
    /// IP protocol number.
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// The connection's original destination (before DNAT).
    pub orig_daddr: Ipv4Addr,
    pub orig_dport: u16,
    pub dnat: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
}

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Saddr,
    Daddr,
    Sport,
    Dport,
    L4proto,
    Iifname,
    Oifname,
    Nfproto,
    IcmpType,
    IcmpCode,
    IgmpType,
    CtState,
    CtStatus,
    CtOrigDaddr,
    CtOrigDport,
    Concat(Vec<Key>),
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Addr(Ipv4Addr),
    Num(u64),
    Str(String),
    Tuple(Vec<Val>),
}

#[derive(Debug, Clone)]
enum Right {
    Set(String),
    /// An anonymous set of values (`{ tcp, udp }`).
    AnySet(Vec<Val>),
    Val(Val),
    Range(u64, u64),
    Prefix(ipnet::Ipv4Net),
    Flags(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    In,
}

#[derive(Debug, Clone)]
enum Stmt {
    Match(Key, Op, Right),
    Nop,
    Accept,
    Drop,
    Return,
    Reject,
    Jump(String),
    Goto(String),
    /// `counter name <key> map @m`: a miss ends the rule.
    CounterMap(Key, String),
    /// `<key> vmap @m`: a miss ends the rule.
    Vmap(Key, String),
}

fn proto_number(name: &str) -> Option<u64> {
    Some(match name {
        "tcp" => 6,
        "udp" => 17,
        "sctp" => 132,
        "icmp" => 1,
        "igmp" => 2,
        _ => return None,
    })
}

pub fn l4_number(p: L4Protocol) -> u8 {
    match p {
        L4Protocol::Tcp => 6,
        L4Protocol::Udp => 17,
        L4Protocol::Sctp => 132,
    }
}

fn key(v: &Value) -> Key {
    if let Some(p) = v.get("payload") {
        return match (
            p["protocol"].as_str().unwrap(),
            p["field"].as_str().unwrap(),
        ) {
            ("ip", "saddr") => Key::Saddr,
            ("ip", "daddr") => Key::Daddr,
            ("th", "sport") => Key::Sport,
            ("th", "dport") => Key::Dport,
            ("icmp", "type") => Key::IcmpType,
            ("icmp", "code") => Key::IcmpCode,
            ("igmp", "type") => Key::IgmpType,
            other => panic!("sim: payload {other:?}"),
        };
    }
    if let Some(m) = v.get("meta") {
        return match m["key"].as_str().unwrap() {
            "l4proto" => Key::L4proto,
            "iifname" => Key::Iifname,
            "oifname" => Key::Oifname,
            "nfproto" => Key::Nfproto,
            other => panic!("sim: meta {other}"),
        };
    }
    if let Some(c) = v.get("ct") {
        return match (c["key"].as_str().unwrap(), c["dir"].as_str()) {
            ("state", None) => Key::CtState,
            ("status", None) => Key::CtStatus,
            ("ip daddr", Some("original")) => Key::CtOrigDaddr,
            ("proto-dst", Some("original")) => Key::CtOrigDport,
            other => panic!("sim: ct {other:?}"),
        };
    }
    if let Some(items) = v.get("concat") {
        return Key::Concat(items.as_array().unwrap().iter().map(key).collect());
    }
    panic!("sim: expression {v}")
}

fn literal(v: &Value) -> Val {
    match v {
        Value::Number(n) => Val::Num(n.as_u64().unwrap()),
        Value::String(s) => match s.parse::<Ipv4Addr>() {
            Ok(a) => Val::Addr(a),
            Err(_) => match proto_number(s) {
                Some(n) => Val::Num(n),
                None => Val::Str(s.clone()),
            },
        },
        other => panic!("sim: literal {other}"),
    }
}

fn right(op: Op, v: &Value) -> Right {
    if let Some(s) = v.as_str()
        && let Some(name) = s.strip_prefix('@')
    {
        return Right::Set(name.to_string());
    }
    if op == Op::In {
        return Right::Flags(match v {
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            Value::String(s) => vec![s.clone()],
            other => panic!("sim: flags {other}"),
        });
    }
    if let Some(r) = v.get("range") {
        return Right::Range(r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
    }
    if let Some(Value::Array(items)) = v.get("set") {
        return Right::AnySet(items.iter().map(literal).collect());
    }
    if let Some(p) = v.get("prefix") {
        let addr: Ipv4Addr = p["addr"].as_str().unwrap().parse().unwrap();
        let len = p["len"].as_u64().unwrap() as u8;
        return Right::Prefix(ipnet::Ipv4Net::new(addr, len).unwrap());
    }
    Right::Val(literal(v))
}

fn stmt(v: &Value) -> Stmt {
    if let Some(m) = v.get("match") {
        let op = match m["op"].as_str().unwrap() {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "in" => Op::In,
            other => panic!("sim: op {other}"),
        };
        return Stmt::Match(key(&m["left"]), op, right(op, &m["right"]));
    }
    let obj = v.as_object().unwrap();
    let (k, body) = obj.iter().next().unwrap();
    let map_name = |m: &Value| {
        m["data"]
            .as_str()
            .unwrap()
            .trim_start_matches('@')
            .to_string()
    };
    match k.as_str() {
        "counter" if body.get("map").is_some() => {
            Stmt::CounterMap(key(&body["map"]["key"]), map_name(&body["map"]))
        }
        "vmap" => Stmt::Vmap(key(&body["key"]), map_name(body)),
        "counter" | "log" => Stmt::Nop,
        "accept" => Stmt::Accept,
        "drop" => Stmt::Drop,
        "return" => Stmt::Return,
        "reject" => Stmt::Reject,
        "jump" => Stmt::Jump(body["target"].as_str().unwrap().to_string()),
        "goto" => Stmt::Goto(body["target"].as_str().unwrap().to_string()),
        other => panic!("sim: statement {other}"),
    }
}

/// A parsed rendering.
pub struct Sim {
    chains: BTreeMap<String, Vec<Vec<Stmt>>>,
    sets: BTreeMap<String, Set>,
}

enum Flow {
    Continue,
    Return,
    Final(Verdict),
}

impl Sim {
    pub fn new(r: &Ruleset) -> Sim {
        Sim {
            chains: r
                .chains
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.rules
                            .iter()
                            .map(|rule| rule.expr.iter().map(stmt).collect())
                            .collect(),
                    )
                })
                .collect(),
            sets: r.sets.clone(),
        }
    }

    /// Runs a base chain (`forward`, `input`, `output`).
    pub fn run(&self, base: &str, p: &Packet) -> Verdict {
        match self.chain(base, p, 0) {
            Flow::Final(v) => v,
            _ => Verdict::Accept,
        }
    }

    fn chain(&self, name: &str, p: &Packet, depth: usize) -> Flow {
        assert!(depth < 16, "sim: chain loop at {name}");
        let rules = self
            .chains
            .get(name)
            .unwrap_or_else(|| panic!("sim: no chain {name}"));
        'rules: for rule in rules {
            for s in rule {
                match s {
                    Stmt::Match(k, op, r) => {
                        if !self.matches(k, *op, r, p) {
                            continue 'rules;
                        }
                    }
                    Stmt::Nop => {}
                    Stmt::CounterMap(k, m) => {
                        if self.lookup(k, m, p).is_none() {
                            continue 'rules;
                        }
                    }
                    Stmt::Vmap(k, m) => {
                        let Some(MapData::Verdict(v)) = self.lookup(k, m, p) else {
                            continue 'rules;
                        };
                        let target = |t: &str, depth| self.chain(t, p, depth);
                        match v {
                            MapVerdict::Return => return Flow::Return,
                            MapVerdict::Drop => return Flow::Final(Verdict::Drop),
                            MapVerdict::Jump(t) => match target(&t, depth + 1) {
                                Flow::Final(v) => return Flow::Final(v),
                                _ => continue 'rules,
                            },
                            MapVerdict::Goto(t) => {
                                return match target(&t, depth + 1) {
                                    Flow::Final(v) => Flow::Final(v),
                                    _ => Flow::Return,
                                };
                            }
                        }
                    }
                    Stmt::Accept => return Flow::Final(Verdict::Accept),
                    Stmt::Drop => return Flow::Final(Verdict::Drop),
                    Stmt::Reject => return Flow::Final(Verdict::Reject),
                    Stmt::Return => return Flow::Return,
                    Stmt::Jump(t) => match self.chain(t, p, depth + 1) {
                        Flow::Final(v) => return Flow::Final(v),
                        _ => continue 'rules,
                    },
                    Stmt::Goto(t) => {
                        return match self.chain(t, p, depth + 1) {
                            Flow::Final(v) => Flow::Final(v),
                            _ => Flow::Return,
                        };
                    }
                }
            }
        }
        Flow::Continue
    }

    /// The data of the element of map `m` that the packet's `k` hits (at most one: the
    /// renderer's keys are disjoint, which this checks).
    fn lookup(&self, k: &Key, m: &str, p: &Packet) -> Option<MapData> {
        let v = self.value(k, p)?;
        let map = self
            .sets
            .get(m)
            .unwrap_or_else(|| panic!("sim: no map {m}"));
        let hits: Vec<&MapData> = map
            .elements
            .iter()
            .filter_map(|e| match e {
                Element::Mapped(key, data) if element_matches(&key.to_element(), &v) => Some(data),
                Element::Mapped(..) => None,
                other => panic!("sim: {other:?} in map {m}"),
            })
            .collect();
        assert!(
            hits.len() <= 1,
            "sim: overlapping keys in map {m}: {hits:?}"
        );
        hits.first().map(|d| (*d).clone())
    }

    fn value(&self, k: &Key, p: &Packet) -> Option<Val> {
        let transport = matches!(p.proto, 6 | 17 | 132);
        Some(match k {
            Key::Saddr => Val::Addr(p.saddr),
            Key::Daddr => Val::Addr(p.daddr),
            Key::Sport if transport => Val::Num(p.sport.into()),
            Key::Dport if transport => Val::Num(p.dport.into()),
            Key::Sport | Key::Dport => Val::Num(0),
            Key::L4proto => Val::Num(p.proto.into()),
            Key::Iifname => Val::Str(p.iif.clone()),
            Key::Oifname => Val::Str(p.oif.clone()),
            Key::Nfproto => Val::Str("ipv4".into()),
            Key::IcmpType if p.proto == 1 => Val::Num(p.icmp_type.into()),
            Key::IcmpCode if p.proto == 1 => Val::Num(p.icmp_code.into()),
            Key::IgmpType if p.proto == 2 => Val::Num(p.icmp_type.into()),
            Key::IcmpType | Key::IcmpCode | Key::IgmpType => return None,
            Key::CtState => Val::Str("new".into()),
            Key::CtStatus => Val::Str(if p.dnat { "dnat" } else { "" }.into()),
            Key::CtOrigDaddr => Val::Addr(p.orig_daddr),
            Key::CtOrigDport => Val::Num(p.orig_dport.into()),
            Key::Concat(ks) => Val::Tuple(
                ks.iter()
                    .map(|k| self.value(k, p))
                    .collect::<Option<Vec<_>>>()?,
            ),
        })
    }

    fn matches(&self, k: &Key, op: Op, r: &Right, p: &Packet) -> bool {
        let Some(v) = self.value(k, p) else {
            return false; // a payload of another protocol: nft's dependency fails
        };
        let hit = match r {
            Right::Set(name) => {
                let set = self
                    .sets
                    .get(name)
                    .unwrap_or_else(|| panic!("sim: no set {name}"));
                set.elements.iter().any(|e| element_matches(e, &v))
            }
            Right::AnySet(xs) => xs.contains(&v),
            Right::Val(x) => *x == v,
            Right::Range(lo, hi) => matches!(v, Val::Num(n) if n >= *lo && n <= *hi),
            Right::Prefix(net) => matches!(v, Val::Addr(a) if net.contains(&a)),
            Right::Flags(fs) => matches!(&v, Val::Str(s) if fs.iter().any(|f| f == s)),
        };
        match op {
            Op::Eq | Op::In => hit,
            Op::Ne => !hit,
        }
    }
}

fn element_matches(e: &Element, v: &Val) -> bool {
    use Val::{Addr, Num, Str, Tuple};
    match (e, v) {
        (Element::Ifname(s), Str(x)) => s == x,
        (Element::Ipv4(a), Addr(x)) => a == x,
        (Element::Net(n), Addr(x)) => n.contains(x),
        (Element::Port(port), Num(x)) => u64::from(*port) == *x,
        (Element::AddrPort(a, port), Tuple(t)) => t.as_slice() == [Addr(*a), Num(u64::from(*port))],
        (Element::AddrProtoPort(a, pr, port), Tuple(t)) => {
            t.as_slice()
                == [
                    Addr(*a),
                    Num(u64::from(l4_number(*pr))),
                    Num(u64::from(*port)),
                ]
        }
        (Element::AddrPair(a, b), Tuple(t)) => t.as_slice() == [Addr(*a), Addr(*b)],
        (Element::NetPorts(n, lo, hi), Tuple(t)) => match t.as_slice() {
            [Addr(a), Num(port)] => {
                n.contains(a) && *port >= u64::from(*lo) && *port <= u64::from(*hi)
            }
            _ => false,
        },
        (e, v) => panic!("sim: element {e:?} against {v:?}"),
    }
}
