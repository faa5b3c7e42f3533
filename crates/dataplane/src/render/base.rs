//! The static chains: the three base chains (`forward`, `input`, `output`) that send traffic
//! to the direction chains, and `reject_packet`.
//!
//! ```text
//!  forward  DNS answer to a Pod → NFLOG (no verdict) · est/rel accept · invalid drop · from Pod → egress_tiers · Pod hairpin accept
//!           · to Pod → ingress_tiers · NodePort to a remote backend → ingress_tiers
//!  input    est/rel accept · lo accept · from Pod → egress_tiers · to Node → ingress_tiers
//!  output   DNS answer to a Pod → NFLOG (no verdict) · est/rel accept · lo accept
//!           · from Node → egress_tiers
//! ```

use crate::json::{self, concat, ct, ct_original, eq, flags, meta, payload, set_ref};
use crate::names::{self, Stage};
use crate::ruleset::{Chain, Hook, Rule};
use serde_json::{Value, json};
use tierwall_node_api::Direction;

pub(super) fn established() -> Rule {
    rule(
        vec![
            flags(ct("state"), json!(["established", "related"])),
            json::accept(),
        ],
        None,
    )
}

pub(super) fn rule(expr: Vec<Value>, comment: Option<&str>) -> Rule {
    Rule {
        expr,
        comment: comment.map(truncate_comment),
    }
}

/// nft keeps at most 128 bytes of comment (with the NUL).
fn truncate_comment(s: &str) -> String {
    let mut end = s.len().min(127);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// NFLOG group DNS answers to local Pods are copied to, for the agent's DNS snooping (FQDN
/// rules; `tierwall_node::dns_snoop::DNS_ANSWER_LOG_GROUP` is the same number).
const DNS_ANSWER_LOG_GROUP: u16 = 53;
/// Log prefix of those copies.
const DNS_ANSWER_LOG_PREFIX: &str = "tierwall-dns";

/// `oifname @pod_ifaces meta l4proto { tcp, udp } th sport 53 log prefix "tierwall-dns" group
/// 53`: a copy of every DNS answer (UDP datagram or TCP segment from port 53) on its way to a
/// local Pod goes to the agent; `log` is no verdict, so the packet goes on to the next rule.
fn dns_answers_to_pods() -> Rule {
    rule(
        vec![
            eq(meta("oifname"), set_ref(names::SET_POD_IFACES)),
            eq(meta("l4proto"), json!({"set": ["tcp", "udp"]})),
            eq(payload("th", "sport"), json!(53)),
            json::log(DNS_ANSWER_LOG_PREFIX, DNS_ANSWER_LOG_GROUP),
        ],
        Some("a DNS answer to a local Pod: a copy to the agent (FQDN rules)"),
    )
}

pub(super) fn base_forward() -> Chain {
    let egress = names::chain(Direction::Egress, Stage::Tiers);
    let ingress = names::chain(Direction::Ingress, Stage::Tiers);
    let pods = set_ref(names::SET_POD_IFACES);
    Chain {
        name: names::CHAIN_FORWARD.into(),
        hook: Some(Hook::Forward),
        rules: vec![
            dns_answers_to_pods(),
            established(),
            rule(
                vec![flags(ct("state"), json!("invalid")), json::drop()],
                None,
            ),
            rule(
                vec![eq(meta("iifname"), pods.clone()), json::jump(&egress)],
                Some("from a local Pod"),
            ),
            rule(
                vec![
                    eq(
                        concat(vec![payload("ip", "saddr"), payload("ip", "daddr")]),
                        set_ref(names::SET_POD_HAIRPIN),
                    ),
                    json::accept(),
                ],
                Some("a Pod back to itself through a Service: ingress is exempt"),
            ),
            rule(
                vec![eq(meta("oifname"), pods.clone()), json::jump(&ingress)],
                Some("to a local Pod"),
            ),
            rule(
                vec![
                    json::ne(meta("oifname"), pods),
                    flags(ct("status"), json!("dnat")),
                    eq(ct_original("ip daddr"), set_ref(names::SET_NODE_IPS)),
                    json::jump(&ingress),
                ],
                Some("NodePort of this Node to a remote backend"),
            ),
        ],
    }
}

pub(super) fn base_input() -> Chain {
    Chain {
        name: names::CHAIN_INPUT.into(),
        hook: Some(Hook::Input),
        rules: vec![
            established(),
            rule(vec![eq(meta("iifname"), json!("lo")), json::accept()], None),
            rule(
                vec![
                    eq(meta("iifname"), set_ref(names::SET_POD_IFACES)),
                    json::jump(&names::chain(Direction::Egress, Stage::Tiers)),
                ],
                Some("a local Pod to the Node"),
            ),
            rule(
                vec![
                    eq(payload("ip", "daddr"), set_ref(names::SET_NODE_IPS)),
                    json::jump(&names::chain(Direction::Ingress, Stage::Tiers)),
                ],
                Some("to the Node (Node policies)"),
            ),
        ],
    }
}

pub(super) fn base_output() -> Chain {
    Chain {
        name: names::CHAIN_OUTPUT.into(),
        hook: Some(Hook::Output),
        rules: vec![
            dns_answers_to_pods(),
            established(),
            rule(vec![eq(meta("oifname"), json!("lo")), json::accept()], None),
            rule(
                vec![
                    eq(payload("ip", "saddr"), set_ref(names::SET_NODE_IPS)),
                    json::jump(&names::chain(Direction::Egress, Stage::Tiers)),
                ],
                Some("from the Node (Node policies; ingress of its own Pods is exempt)"),
            ),
        ],
    }
}

/// Answers a rejected packet as Antrea does: TCP RST, else ICMP type 3 code 10 ("host
/// administratively prohibited", nft `host-prohibited`; `admin-prohibited` would be code 13)
/// or ICMPv6 type 1 code 1. The answers are generated by the kernel (`nf_reject`), sent with
/// `ip_local_out` and attached to the rejected packet's conntrack entry as RELATED, so they
/// never come back through `forward` and the `ct state established,related accept` of
/// `output` lets them out: no reject loops, even when both sides reject everything.
pub(super) fn reject_chain() -> Chain {
    Chain {
        name: names::CHAIN_REJECT.into(),
        hook: None,
        rules: vec![
            rule(
                vec![eq(meta("l4proto"), json!("tcp")), json::reject_tcp_reset()],
                None,
            ),
            rule(
                vec![
                    eq(meta("nfproto"), json!("ipv4")),
                    json::reject_icmp("icmp", "host-prohibited"),
                ],
                None,
            ),
            rule(
                vec![
                    eq(meta("nfproto"), json!("ipv6")),
                    json::reject_icmp("icmpv6", "admin-prohibited"),
                ],
                None,
            ),
            rule(vec![json::drop()], None),
        ],
    }
}
