//! One `RuleEntry` → its nft rules (applied × match alternatives, see the parent module) and
//! its named sets, counter and log prefix.

use super::base::rule;
use super::{Renderer, local_field, remote_field};
use crate::json::{self, concat, ct, ct_original, eq, flags, meta, payload, set_ref};
use crate::names;
use crate::ruleset::{CounterRef, Element, LogRef, LogStage, Rule, SetKind};
use ipnet::{IpNet, Ipv4Net};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::IpAddr;
use tierwall_node_api::Direction;
use tierwall_node_api::L4Protocol;
use tierwall_node_api::{PortRule, RuleEntry};

impl Renderer<'_> {
    /// Unique key of an entry: the sanitized id, `_<n>` from its second occurrence on.
    /// (unique entry key, counter name) of an entry: the counter is `names::counter(id)`, i.e.
    /// the sanitized id, computed once.
    pub(super) fn entry_key(&mut self, id: &str) -> (String, String) {
        let (n, base) = self.entry_occurrence(id);
        let key = if n == 1 {
            base.clone()
        } else {
            format!("{base}_{n}")
        };
        (key, base)
    }

    /// (occurrence number from 1, counter name) of an entry: `entry_key` without building
    /// the key (`<counter>` for the first occurrence, `<counter>_<n>` after).
    pub(super) fn entry_occurrence(&mut self, id: &str) -> (usize, String) {
        let n = match self.occurrences.get_mut(id) {
            _ if !self.repeated.contains(id) => 1,
            Some(n) => {
                *n += 1;
                *n
            }
            None => {
                self.occurrences.insert(id.to_string(), 1);
                1
            }
        };
        (n, names::sanitized_id(id))
    }

    /// The log prefix of a rule id, unique among the ids of this rendering.
    fn log_prefix(&mut self, id: &str) -> String {
        let mut hex = names::LOG_PREFIX_HEX;
        loop {
            let prefix = names::log_prefix(id, hex);
            match self.prefix_owner.get(&prefix) {
                Some(owner) if owner != id && hex < 40 => hex += 2,
                _ => {
                    self.prefix_owner.insert(prefix.clone(), id.to_string());
                    return prefix;
                }
            }
        }
    }

    pub(super) fn entry(
        &mut self,
        direction: Direction,
        e: &RuleEntry,
        stage: LogStage,
        verdict: Value,
        chain: &mut Vec<Rule>,
    ) {
        let (key, counter) = self.entry_key(&e.id);
        self.counters.push((
            counter.clone(),
            CounterRef {
                rule_id: e.id.clone(),
                direction,
                action: e.action,
            },
        ));
        let mut tail = vec![json::counter(&counter)];
        if e.enable_logging {
            let prefix = self.log_prefix(&e.id);
            self.out.logs.insert(
                prefix.clone(),
                LogRef {
                    rule_id: e.id.clone(),
                    policy: Some(e.policy.clone()),
                    rule_name: e.rule_name.clone(),
                    direction,
                    action: e.action,
                    stage,
                    tier_priority: e.tier_priority,
                    log_label: e.log_label.clone(),
                },
            );
            tail.push(json::log(&prefix, self.opts.log_group));
        }
        tail.push(verdict);

        let applied = self.applied_alternatives(direction, e, &key);
        let matches = self.match_alternatives(direction, e, &key);
        for a in &applied {
            for m in &matches {
                let mut expr = a.clone();
                expr.extend(m.iter().cloned());
                expr.extend(tail.iter().cloned());
                chain.push(rule(expr, Some(&e.id)));
            }
        }
    }

    fn applied_alternatives(
        &mut self,
        direction: Direction,
        e: &RuleEntry,
        key: &str,
    ) -> Vec<Vec<Value>> {
        let applied = self.v4(e.applied.iter().copied());
        let local_set = self.shared_set(
            &format!("{key}_l"),
            SetKind::Ipv4,
            applied.into_iter().map(Element::Ipv4),
        );
        let mut out = vec![vec![eq(
            payload("ip", local_field(direction)),
            set_ref(&local_set),
        )]];
        let mut by_proto: BTreeMap<L4Protocol, Vec<Element>> = BTreeMap::new();
        for (p, port) in &e.node_ports {
            by_proto.entry(*p).or_default().push(Element::Port(*port));
        }
        for (p, ports) in by_proto {
            let set = self.shared_set(
                &format!("{key}_np_{}", names::proto(p)),
                SetKind::Port,
                ports,
            );
            out.push(vec![
                flags(ct("status"), json!("dnat")),
                eq(ct_original("ip daddr"), set_ref(names::SET_NODE_IPS)),
                eq(meta("l4proto"), json!(names::proto(p))),
                eq(ct_original("proto-dst"), set_ref(&set)),
            ]);
        }
        out
    }

    fn match_alternatives(
        &mut self,
        direction: Direction,
        e: &RuleEntry,
        key: &str,
    ) -> Vec<Vec<Value>> {
        let mut out = Vec::new();
        let to_services = direction == Direction::Egress && !e.services.is_empty();
        if to_services {
            let mut by_proto: BTreeMap<L4Protocol, Vec<Element>> = BTreeMap::new();
            for (ip, p, port) in &e.services {
                match ip {
                    IpAddr::V4(a) => by_proto
                        .entry(*p)
                        .or_default()
                        .push(Element::AddrPort(*a, *port)),
                    IpAddr::V6(_) => self.ipv6_skipped += 1,
                }
            }
            for (p, members) in by_proto {
                let set = self.shared_set(
                    &format!("{key}_svc_{}", names::proto(p)),
                    SetKind::AddrPort,
                    members,
                );
                // `meta l4proto` first: it gives `ct original proto-dst` its type.
                out.push(vec![
                    eq(meta("l4proto"), json!(names::proto(p))),
                    eq(
                        concat(vec![ct_original("ip daddr"), ct_original("proto-dst")]),
                        set_ref(&set),
                    ),
                ]);
            }
            // With toServices, the peers (never `any`) still match on their own.
            if e.peers.pods.is_empty() && e.peers.cidrs.is_empty() {
                return out;
            }
        }
        let peer = if e.peers.any && !to_services {
            vec![]
        } else {
            let members = self.peer_elements(e);
            let right = match members.as_slice() {
                // Addresses only (no Pod members) that make one prefix: a literal, no set.
                [single] if e.peers.pods.is_empty() => single.to_json(),
                _ => {
                    set_ref(&self.shared_set(&format!("{key}_p"), SetKind::Ipv4Intervals, members))
                }
            };
            vec![eq(payload("ip", remote_field(direction)), right)]
        };
        if e.ports.is_empty() {
            out.push(peer);
            return out;
        }
        for (k, port) in e.ports.iter().enumerate() {
            let mut alt = peer.clone();
            alt.extend(self.port_alternative(port, &format!("{key}_n{k}")));
            out.push(alt);
        }
        out
    }

    /// Peer Pods and CIDRs, aggregated into non-overlapping prefixes (an interval set refuses
    /// overlapping elements).
    fn peer_elements(&mut self, e: &RuleEntry) -> Vec<Element> {
        let mut nets: Vec<Ipv4Net> = Vec::new();
        let pods = self.v4(e.peers.pods.iter().copied());
        nets.extend(pods.into_iter().map(Ipv4Net::from));
        for c in &e.peers.cidrs {
            match c {
                IpNet::V4(n) => nets.push(n.trunc()),
                IpNet::V6(_) => self.ipv6_skipped += 1,
            }
        }
        Ipv4Net::aggregate(&nets)
            .into_iter()
            .map(Element::Net)
            .collect()
    }

    fn port_alternative(&mut self, port: &PortRule, named_set: &str) -> Vec<Value> {
        match port {
            PortRule::L4 {
                protocol,
                ports,
                source_ports,
            } => {
                let mut v = vec![eq(meta("l4proto"), json!(names::proto(*protocol)))];
                if let Some((lo, hi)) = ports {
                    v.push(eq(payload("th", "dport"), json::port_range(*lo, *hi)));
                }
                if let Some((lo, hi)) = source_ports {
                    v.push(eq(payload("th", "sport"), json::port_range(*lo, *hi)));
                }
                v
            }
            PortRule::Named {
                protocol,
                endpoints,
                ..
            } => {
                let mut members = Vec::new();
                for (ip, p) in endpoints {
                    match ip {
                        IpAddr::V4(a) => members.push(Element::AddrProtoPort(*a, *protocol, *p)),
                        IpAddr::V6(_) => self.ipv6_skipped += 1,
                    }
                }
                let named_set = self.shared_set(named_set, SetKind::AddrProtoPort, members);
                // The named port is resolved on the destination: the local Pod for
                // ingress, the remote Pod for egress — `ip daddr` both ways.
                vec![eq(
                    concat(vec![
                        payload("ip", "daddr"),
                        meta("l4proto"),
                        payload("th", "dport"),
                    ]),
                    set_ref(&named_set),
                )]
            }
            PortRule::Icmp {
                icmp_type,
                icmp_code,
            } => {
                let mut v = vec![eq(meta("l4proto"), json!("icmp"))];
                if let Some(t) = icmp_type {
                    v.push(eq(payload("icmp", "type"), json!(t)));
                }
                if let Some(c) = icmp_code {
                    v.push(eq(payload("icmp", "code"), json!(c)));
                }
                v
            }
            PortRule::Igmp { igmp_type } => {
                let mut v = vec![eq(meta("l4proto"), json!("igmp"))];
                if let Some(t) = igmp_type {
                    v.push(eq(payload("igmp", "type"), json!(t)));
                }
                v
            }
        }
    }
}
