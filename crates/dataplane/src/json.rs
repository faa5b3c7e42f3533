//! Builders for the libnftables JSON schema (`man libnftables-json`, schema version 1), in the
//! exact forms nft 1.0.6 accepts and prints back. Only what the renderer needs:
//!
//! ```text
//!  expressions  payload(ip,saddr)  meta(l4proto)  ct(state) ct_original(ip daddr)  concat  "@set"
//!  statements   match(==, !=, in)  counter "name"  log {prefix, group}  verdicts  reject
//!  commands     add/flush/delete × table/chain/set/element/counter/rule, inside {"nftables": [...]}
//! ```
//!
//! Every object carries `family` and `table`, so a document never touches another table.

use crate::names::{FAMILY, TABLE};
use serde_json::{Map, Value, json};

// === expressions ===

/// `ip saddr`, `th dport`, `icmp type`, ...
pub fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

/// `meta l4proto`, `meta iifname`, ...
pub fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

/// `ct state`, `ct status`.
pub fn ct(key: &str) -> Value {
    json!({"ct": {"key": key}})
}

/// `ct original ip daddr`, `ct original proto-dst`: the connection's first-packet tuple, i.e.
/// the addresses before DNAT.
pub fn ct_original(key: &str) -> Value {
    json!({"ct": {"key": key, "dir": "original"}})
}

/// `a . b . c`.
pub fn concat(items: Vec<Value>) -> Value {
    json!({ "concat": items })
}

/// Reference to a named set: `@name`.
pub fn set_ref(name: &str) -> Value {
    Value::String(format!("@{name}"))
}

/// A port or an inclusive port range.
pub fn port_range(lo: u16, hi: u16) -> Value {
    if lo == hi {
        json!(lo)
    } else {
        json!({"range": [lo, hi]})
    }
}

// === statements ===

fn matching(op: &str, left: Value, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

/// `left == right` (membership when `right` is a set reference).
pub fn eq(left: Value, right: Value) -> Value {
    matching("==", left, right)
}

/// `left != right`.
pub fn ne(left: Value, right: Value) -> Value {
    matching("!=", left, right)
}

/// Flag test, e.g. `ct state established,related`.
pub fn flags(left: Value, right: Value) -> Value {
    matching("in", left, right)
}

/// `counter name "<name>"`.
pub fn counter(name: &str) -> Value {
    json!({ "counter": name })
}

/// `log prefix "<prefix>" group <group>` (NFLOG).
pub fn log(prefix: &str, group: u16) -> Value {
    json!({"log": {"prefix": prefix, "group": group}})
}

pub fn accept() -> Value {
    json!({ "accept": null })
}

pub fn drop() -> Value {
    json!({ "drop": null })
}

pub fn ret() -> Value {
    json!({ "return": null })
}

pub fn jump(target: &str) -> Value {
    json!({"jump": {"target": target}})
}

pub fn goto(target: &str) -> Value {
    json!({"goto": {"target": target}})
}

/// `reject with tcp reset`.
pub fn reject_tcp_reset() -> Value {
    json!({"reject": {"type": "tcp reset"}})
}

/// `reject with icmp type <code>` (`icmp`) or `reject with icmpv6 type <code>` (`icmpv6`).
pub fn reject_icmp(kind: &str, code: &str) -> Value {
    json!({"reject": {"type": kind, "expr": code}})
}

// === commands ===

fn object(extra: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("family".into(), json!(FAMILY));
    m.insert("table".into(), json!(TABLE));
    if let Value::Object(extra) = extra {
        m.extend(extra);
    }
    m
}

/// `{"<verb>": {"<kind>": {family, table, ...extra}}}`.
pub fn command(verb: &str, kind: &str, extra: Value) -> Value {
    json!({ verb: { kind: Value::Object(object(extra)) } })
}

/// `{"<verb>": {"table": {family, name}}}`.
pub fn table_command(verb: &str) -> Value {
    json!({ verb: {"table": {"family": FAMILY, "name": TABLE}} })
}

/// A whole document: metainfo first, then the commands, applied as one transaction.
pub fn document(commands: Vec<Value>) -> Value {
    let mut all = Vec::with_capacity(commands.len() + 1);
    all.push(json!({"metainfo": {"json_schema_version": 1}}));
    all.extend(commands);
    json!({ "nftables": all })
}
