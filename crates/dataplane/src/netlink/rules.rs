//! Rules as nf_tables netlink messages, byte for byte what nft 1.0.6 sends for the same JSON
//! (checked against nft with `nft --debug=netlink` and `strace`, and proven by
//! `tests/netlink_rules.rs`, which compares the kernel's own dump of a rule written by nft with
//! the dump of the same rule written here).
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
//! the caller then leaves the change to nft, so a rule is never written differently. The JSON
//! is parsed into statements in `statements.rs`; this file linearizes them into expressions
//! and builds the rule message. Set definitions are in `sets.rs`.

use super::attr::*;
use super::statements::*;
use crate::names::TABLE;
use serde_json::Value;

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

// === expression attributes (`enum nft_*_attributes`) ===

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
