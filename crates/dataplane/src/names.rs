//! Names of everything in the `inet tierwall` table. Every name is a pure function of stable
//! inputs (the rule id, the direction, the protocol), never of a position in a list, so that a
//! rule inserted in front of another does not rename the other's sets and counters:
//!
//! ```text
//!  rule id  "acnp/deny-z/egress/0"
//!    counter  acnp_deny_z_egress_0_3f2a9c1d            (shared by every entry of the id)
//!    entry    acnp_deny_z_egress_0_3f2a9c1d[_2, _3…]   (one per entry; `_n` when the id repeats,
//!    sets     <entry>_l  <entry>_p  <entry>_n<k>        e.g. one entry per namespace)
//!             <entry>_svc_<proto>  <entry>_np_<proto>   (a set is shared by every later rule
//!                                                       with the same content, see `render`)
//!    log      prefix "tw:3f2a9c1d0b "                  (see `LogRef`; unique per id)
//! ```
//!
//! Names keep to `[A-Za-z0-9_]` so that `nft list table inet tierwall` can be read back by
//! `nft -f`; chain names avoid nft keywords (`ingress`, `reject` … are keywords).

use sha1::{Digest, Sha1};
use tierwall_node_api::Direction;
use tierwall_node_api::L4Protocol;

/// The table family.
pub const FAMILY: &str = "inet";
/// The one table tierwall owns in a Node's network namespace.
pub const TABLE: &str = "tierwall";

/// Base chain on the `forward` hook: Pod traffic routed through the Node.
pub const CHAIN_FORWARD: &str = "forward";
/// Base chain on the `input` hook: traffic to the Node's own addresses.
pub const CHAIN_INPUT: &str = "input";
/// Base chain on the `output` hook: traffic from the Node's own addresses.
pub const CHAIN_OUTPUT: &str = "output";
/// Regular chain that answers a rejected packet (TCP RST or ICMP).
pub const CHAIN_REJECT: &str = "reject_packet";

/// Set of the Node-side interface names of the local Pods' veths.
pub const SET_POD_IFACES: &str = "pod_ifaces";
/// Set of `(ip, ip)` pairs of the local Pods: a Pod reaching itself through a Service.
pub const SET_POD_HAIRPIN: &str = "pod_hairpin";
/// Set of the Node's own IPv4 addresses.
pub const SET_NODE_IPS: &str = "node_ips";

/// Whether `name` is one of the table's fixed sets (not a rule's shared set).
pub fn is_fixed_set(name: &str) -> bool {
    [SET_POD_IFACES, SET_POD_HAIRPIN, SET_NODE_IPS].contains(&name)
        || [Direction::Egress, Direction::Ingress]
            .iter()
            .any(|d| name == isolated_set(*d) || name == isolated_logged_set(*d))
}

/// The pseudo rule id under which Kubernetes NetworkPolicy isolation drops are counted.
pub fn isolation_rule_id(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "k8s-isolation/egress",
        Direction::Ingress => "k8s-isolation/ingress",
    }
}

/// `egress` / `ingress`.
pub fn dir_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "egress",
        Direction::Ingress => "ingress",
    }
}

/// The four regular chains of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Antrea-native rules of the tiers before baseline.
    Tiers,
    /// Dispatch: isolated local Pod → `Isolated`, else → `Baseline`.
    K8s,
    /// Kubernetes NetworkPolicy allow rules, then the isolation drop.
    Isolated,
    /// Baseline-tier rules.
    Baseline,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Tiers, Stage::K8s, Stage::Isolated, Stage::Baseline];
}

/// Name of the chain of `stage` in `direction`, e.g. `egress_tiers`.
pub fn chain(direction: Direction, stage: Stage) -> String {
    let stage = match stage {
        Stage::Tiers => "tiers",
        Stage::K8s => "k8s",
        Stage::Isolated => "isolated",
        Stage::Baseline => "baseline",
    };
    format!("{}_{stage}", dir_name(direction))
}

/// Set of the local Pods isolated by a Kubernetes NetworkPolicy in `direction`.
pub fn isolated_set(direction: Direction) -> String {
    format!("{}_isolated_pods", dir_name(direction))
}

/// Subset of `isolated_set` whose namespace logs Kubernetes NetworkPolicies.
pub fn isolated_logged_set(direction: Direction) -> String {
    format!("{}_isolated_logged", dir_name(direction))
}

/// Named counter of the isolation drops of `direction`.
pub fn isolation_counter(direction: Direction) -> String {
    format!("k8s_isolation_{}", dir_name(direction))
}

/// Log prefix of the isolation drops of `direction`.
pub fn isolation_log_prefix(direction: Direction) -> String {
    format!("tw:iso-{} ", dir_name(direction))
}

/// Lower-case nft protocol keyword.
pub fn proto(p: L4Protocol) -> &'static str {
    match p {
        L4Protocol::Tcp => "tcp",
        L4Protocol::Udp => "udp",
        L4Protocol::Sctp => "sctp",
    }
}

/// The IP protocol number of a transport (`inet_proto` set keys).
pub fn proto_number(p: L4Protocol) -> u8 {
    match p {
        L4Protocol::Tcp => 6,
        L4Protocol::Udp => 17,
        L4Protocol::Sctp => 132,
    }
}

/// Longest sanitized part kept in a name (the hash keeps names distinct anyway).
const MAX_SANITIZED: usize = 96;

/// Hex SHA-1 of a rule id.
pub fn id_hash(id: &str) -> String {
    format!("{:x}", Sha1::digest(id.as_bytes()))
}

/// `acnp/deny-z/egress/0` → `acnp_deny_z_egress_0_3f2a9c1d`: readable, `[A-Za-z0-9_]` only, and
/// injective in practice (the hash suffix separates ids that sanitize alike).
pub fn sanitized_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len().min(MAX_SANITIZED) + 9);
    let mut last_underscore = true;
    for c in id.chars() {
        if out.len() >= MAX_SANITIZED {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c);
            last_underscore = false;
        } else if !last_underscore {
            out.push('_');
            last_underscore = true;
        }
    }
    if !out.ends_with('_') {
        out.push('_');
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'r');
    }
    // The first 8 hex digits of the id's SHA-1 (`id_hash(id)[..8]`, without formatting all 40).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in &Sha1::digest(id.as_bytes())[..4] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Named counter of a rule id.
pub fn counter(id: &str) -> String {
    sanitized_id(id)
}

/// Log prefix of a rule id with `hex` hash digits: `tw:3f2a9c1d0b `.
pub fn log_prefix(id: &str, hex: usize) -> String {
    format!("tw:{} ", &id_hash(id)[..hex.min(40)])
}

/// Number of hash digits in a log prefix (more only when two ids collide).
pub const LOG_PREFIX_HEX: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_ids_are_readable_and_distinct() {
        let a = sanitized_id("acnp/deny-z/egress/0");
        assert!(a.starts_with("acnp_deny_z_egress_0_"), "{a}");
        assert_eq!(a.len(), "acnp_deny_z_egress_0_".len() + 8);
        assert_ne!(a, sanitized_id("acnp/deny_z/egress/0"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let long = sanitized_id(&"x".repeat(300));
        assert!(long.len() <= MAX_SANITIZED + 9, "{}", long.len());
        assert!(sanitized_id("0/a").starts_with("r0_a_"));
    }

    #[test]
    fn log_prefixes_are_short() {
        let p = log_prefix("annp/x/very-long-policy-name/ingress/12", LOG_PREFIX_HEX);
        assert_eq!(p.len(), 14);
        assert!(p.starts_with("tw:") && p.ends_with(' '));
    }
}
