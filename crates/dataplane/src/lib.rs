//! tierwall's dataplane: a Node's `NodeRuleSet` rendered as ONE nftables table, `inet tierwall`,
//! in the Node's network namespace, one atomic transaction per change: an nf_tables netlink
//! batch (`netlink`: elements, counters, sets, rules of the regular chains, byte for byte what
//! nft writes) or, for what the encoder does not cover (base chains, reject, rule patches by
//! handle, adopting an existing table), `nft -j -f -`. Connection tracking makes it stateful;
//! Reject answers like Antrea; logged rules send a connection's first packet to NFLOG; every
//! rule has a named counter.
//!
//! ```text
//!  forward (hook forward, filter, accept)        input (hook input)            output (hook output)
//!   ct state established,related accept           ct state est,rel accept       ct state est,rel accept
//!   ct state invalid drop                         iifname "lo" accept           oifname "lo" accept
//!   iifname @pod_ifaces jump egress_tiers         iifname @pod_ifaces           ip saddr @node_ips
//!   ip saddr . ip daddr @pod_hairpin accept         jump egress_tiers             jump egress_tiers
//!   oifname @pod_ifaces jump ingress_tiers        ip daddr @node_ips
//!   oifname != @pod_ifaces ct status dnat           jump ingress_tiers
//!     ct original ip daddr @node_ips
//!     jump ingress_tiers            (NodePort → remote backend)
//!   (policy accept)
//!
//!  <dir>_tiers     Antrea-native rules of tiers before baseline, in order; first match:
//!                    Allow → return   Drop → drop   Reject → jump reject_packet
//!                    Pass → goto <dir>_k8s
//!                  goto <dir>_k8s
//!  <dir>_k8s       ip <local> @<dir>_isolated_pods goto <dir>_isolated
//!                  goto <dir>_baseline
//!  <dir>_isolated  Kubernetes NetworkPolicy allow rules → return
//!                  ip <local> @<dir>_isolated_logged counter log drop;  counter drop
//!  <dir>_baseline  baseline-tier rules, first match (Allow → return, Drop, Reject)
//!                  (end of chain: return = allowed)
//!  reject_packet   meta l4proto tcp reject with tcp reset
//!                  ipv4: reject with icmp type host-prohibited      (type 3 code 10)
//!                  ipv6: reject with icmpv6 type admin-prohibited   (type 1 code 1)
//!
//!  <dir> = egress (<local> = ip saddr) | ingress (<local> = ip daddr)
//! ```
//!
//! Allow is `return`, not `accept`: when both Pods are on this Node the packet still meets the
//! destination's ingress chain after the source's egress chain returned. A Pod reaching itself
//! through a Service (`pod_hairpin`) is exempt from ingress, as in the engine. Traffic from the
//! Node to its own Pods leaves through `output` and never meets an ingress chain (always
//! allowed, as in Antrea); traffic from other Nodes is forwarded and does. Established and
//! related packets are accepted first, so only a connection's first packet meets a policy rule:
//! replies are never dropped, new rules do not cut connections, counters count sessions.
//!
//! Module map: `names` (every name in the table), `json` (nft JSON builders), `ruleset` (the
//! rendered table as data), `render` (`NodeRuleSet` → `Ruleset`; `render::base` holds the static
//! chains, `render::entry` one rule entry, `render::merge` runs of entries as one rule with a
//! verdict map and a counter map), `transaction` (full, replace and diff documents, rule-level
//! patches by handle, and the same diff as a netlink batch), `netlink` (the nf_tables netlink
//! writer: `attr` numbers and messages, `elements`, `rules`, `dump` for reading back),
//! `nft` (running nft in a namespace), `table_writer` (`TableWriter::sync`).
//!
//! Why JSON values built here rather than the `nftables` crate's typed schema: the rendering
//! is compared and diffed as data (`Rule` holds `serde_json::Value`s, whose equality is exact),
//! listings are read tolerantly (only names and counter values are needed, whatever else a
//! table holds), the few constructs used are pinned to the forms nft 1.0.6 accepts (e.g.
//! `ct original proto-dst` needs a `meta l4proto` before it to be typed), and the privileged
//! tests check every construct against the real `nft`. It keeps the crate free of a schema
//! crate whose version has to follow nft's.

pub mod error;
pub mod json;
pub mod names;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod render;
pub mod ruleset;
pub mod table_writer;
pub mod transaction;

pub use error::Error;
pub use netns::NetnsTarget;
pub use nft::{
    CounterStats, apply, apply_echo, delete_table, list_counters, list_rule_handles, list_table,
};
pub use render::{
    DEFAULT_LOG_GROUP, InterfaceMap, RenderOptions, render, render_after, render_with,
};
pub use ruleset::{LogRef, LogStage, Ruleset};
pub use table_writer::{PATCH_MIN_RULES, SyncMode, SyncReport, TableWriter, Writer};
pub use transaction::{Changes, Document, RuleHandles, StagedBuild, Transaction};
