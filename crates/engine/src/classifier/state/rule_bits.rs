//! Rule ranks and bit rows: ranking rules, renumbering a direction's rows, splitting the
//! address and port partitions, and setting the applied, peer and transport bits of a rule.

use super::port_bits;
use crate::classifier::bits::{CHUNK, Remap, block_words, words_for};
use crate::classifier::terms::TermDef;
use crate::classifier::{Classifier, IpRange, NONE};
use crate::compile::Action;
use crate::table::BASELINE_TIER_PRIORITY;

impl Classifier {
    /// Sets the rank (and what depends on the tier) of a rule.
    pub(super) fn rank_rule(&mut self, r: u32, rank: usize, tier_priority: i32) {
        if let Some(rule) = self.rules.get_mut(r as usize).and_then(Option::as_mut) {
            rule.rank = rank as u32;
            rule.hit.tier_priority = Some(tier_priority);
            rule.inert = tier_priority >= BASELINE_TIER_PRIORITY && rule.action == Action::Pass;
        }
    }

    /// Renumbers direction `d`: drops the `removed` ranks, inserts rules at final ranks.
    pub(super) fn remap_dir(&mut self, d: usize, removed: &[usize], inserted: &[(usize, u32)]) {
        if removed.is_empty() && inserted.is_empty() {
            return;
        }
        let di = &mut self.dirs[d];
        let old_len = di.order.len();
        let positions: Vec<usize> = inserted.iter().map(|e| e.0).collect();
        let remap = Remap::new(old_len, removed, &positions);
        let mut order = vec![NONE; remap.new_len];
        for (old, &r) in di.order.iter().enumerate() {
            if let Some(n) = remap.map(old) {
                order[n] = r;
            }
        }
        for &(pos, r) in inserted {
            if let Some(slot) = order.get_mut(pos) {
                *slot = r;
            }
        }
        // Padded to whole chunks (the lookup scans `CHUNK` words at a time).
        let words = words_for(remap.new_len).next_multiple_of(CHUNK);
        di.prow.remap(&remap, words);
        di.pnode.remap(&remap, words);
        di.arow.remap(&remap, words);
        di.anode.remap(&remap, words);
        di.ip4.remap(&remap, words);
        di.ip6.remap(&remap, words);
        for rows in di.ports.iter_mut() {
            rows.remap(&remap, words);
        }
        remap.apply_vec(&mut di.icmp, words);
        remap.apply_vec(&mut di.verify, words);
        remap.apply_vec(&mut di.any, words);
        di.zero = vec![0; words];
        di.words = words;
        di.chunk_shift = (block_words(words) / CHUNK).trailing_zeros();
        let mut actions = Vec::with_capacity(order.len());
        for (rank, &r) in order.iter().enumerate() {
            let rule = self.rules.get_mut(r as usize).and_then(Option::as_mut);
            actions.push(rule.as_ref().map_or(Action::Allow, |x| x.action));
            if let Some(rule) = rule {
                rule.rank = rank as u32;
            }
        }
        let di = &mut self.dirs[d];
        di.order = order;
        di.actions = actions;
    }

    pub(super) fn update_stage1(&mut self, d: usize) {
        let rules = &self.rules;
        let order = &self.dirs[d].order;
        let s1 = order.partition_point(|&r| {
            rules
                .get(r as usize)
                .and_then(Option::as_ref)
                .is_some_and(|x| x.hit.tier_priority.unwrap_or(0) < BASELINE_TIER_PRIORITY)
        });
        self.dirs[d].stage1 = s1;
    }

    pub(super) fn split_ip(&mut self, r: IpRange) {
        let (part, max) = if r.v6 {
            (&mut self.ip6, u128::MAX)
        } else {
            (&mut self.ip4, u32::MAX as u128)
        };
        let mut cuts = vec![r.lo];
        if r.hi < max {
            cuts.push(r.hi + 1);
        }
        for at in cuts {
            if let Some(c) = part.split(at) {
                for d in &mut self.dirs {
                    let rows = if r.v6 { &mut d.ip6 } else { &mut d.ip4 };
                    rows.insert_copy(c, c - 1);
                }
                // Cached address classes of Pods move with the split.
                let c = c as u32;
                for f in self
                    .pod_fast
                    .iter_mut()
                    .filter(|f| f.live && f.has_ip && f.v6 == r.v6)
                {
                    if f.ipc >= c {
                        f.ipc += 1;
                    } else if f.ipc == c - 1 && f.key >= at {
                        f.ipc = c;
                    }
                }
            }
        }
    }

    pub(super) fn split_port(&mut self, p: usize, lo: u16, hi: u16) {
        let mut cuts = vec![lo as u128];
        if (hi as u128) < self.port_parts[p].max() {
            cuts.push(hi as u128 + 1);
        }
        for at in cuts {
            if let Some(c) = self.port_parts[p].split(at) {
                for d in &mut self.dirs {
                    d.ports[p].insert_copy(c, c - 1);
                }
            }
        }
    }

    pub(super) fn rule_ip_ranges(&self, r: u32) -> Vec<IpRange> {
        let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
            return vec![];
        };
        rule.peers
            .iter()
            .filter_map(|&t| self.term(t))
            .flat_map(|t| t.ips.iter().copied())
            .collect()
    }

    /// Splits the address and port partitions for a rule's intervals.
    pub(super) fn split_for_rule(&mut self, r: u32) {
        for range in self.rule_ip_ranges(r) {
            self.split_ip(range);
        }
        let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
            return;
        };
        for (p, lo, hi) in port_bits(&rule.ports).l4 {
            self.split_port(p, lo, hi);
        }
    }

    pub(super) fn set_ip_bits(&mut self, d: usize, rank: usize, ranges: &[IpRange]) {
        for range in ranges {
            let (part, rows) = if range.v6 {
                (&self.ip6, &mut self.dirs[d].ip6)
            } else {
                (&self.ip4, &mut self.dirs[d].ip4)
            };
            for c in part.classes(range.lo, range.hi) {
                rows.set(c, rank);
            }
        }
    }

    pub(super) fn refresh_rule_ip_bits(&mut self, r: u32) {
        let Some((d, rank, any)) = self
            .rules
            .get(r as usize)
            .and_then(Option::as_ref)
            .filter(|x| !x.k8s)
            .map(|x| (x.dir, x.rank as usize, x.peer_any))
        else {
            return;
        };
        if rank == NONE as usize {
            return;
        }
        let ranges = self.rule_ip_ranges(r);
        for range in &ranges {
            self.split_ip(*range);
        }
        self.dirs[d].ip4.clear_all(rank);
        self.dirs[d].ip6.clear_all(rank);
        if any {
            self.dirs[d].ip4.set_all(rank);
            self.dirs[d].ip6.set_all(rank);
        } else {
            self.set_ip_bits(d, rank, &ranges);
        }
    }

    /// Sets or clears the applied bits of an Antrea rule for every member of its appliedTo.
    pub(super) fn set_applied_bits(&mut self, r: u32, on: bool) {
        let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
            return;
        };
        let (d, rank) = (rule.dir, rule.rank as usize);
        let mut idents = Vec::new();
        let mut nodes = Vec::new();
        for &t in &rule.applied {
            if let Some(term) = self.term(t) {
                idents.extend(term.members.iter().copied());
                if matches!(term.def, TermDef::Nodes(_)) {
                    nodes.extend(term.nodes.iter().copied());
                }
            }
        }
        let di = &mut self.dirs[d];
        for i in idents {
            if on {
                di.arow.set(i as usize, rank)
            } else {
                di.arow.clear(i as usize, rank)
            }
        }
        for n in nodes {
            if on {
                di.anode.set(n as usize, rank)
            } else {
                di.anode.clear(n as usize, rank)
            }
        }
    }

    /// Sets every bit of a ranked Antrea rule (partitions already split for it).
    pub(super) fn set_rule_bits(&mut self, r: u32) {
        let Some(rule) = self.rules.get(r as usize).and_then(Option::as_ref) else {
            return;
        };
        let (d, rank, any, verify) = (rule.dir, rule.rank as usize, rule.peer_any, rule.verify);
        let pb = port_bits(&rule.ports);
        let peers = rule.peers.clone();
        if self.rule_active(r) {
            self.set_applied_bits(r, true);
        }
        if any {
            let di = &mut self.dirs[d];
            crate::classifier::bits::set_bit(&mut di.any, rank);
            di.prow.set_all(rank);
            di.pnode.set_all(rank);
            di.ip4.set_all(rank);
            di.ip6.set_all(rank);
        } else {
            let mut ranges = Vec::new();
            for &t in &peers {
                let Some(term) = self.term(t) else { continue };
                let (members, nodes) = (term.members.clone(), term.nodes.clone());
                ranges.extend(term.ips.iter().copied());
                let di = &mut self.dirs[d];
                for i in members {
                    di.prow.set(i as usize, rank);
                }
                for n in nodes {
                    di.pnode.set(n as usize, rank);
                }
            }
            self.set_ip_bits(d, rank, &ranges);
        }
        let di = &mut self.dirs[d];
        if pb.any {
            for (p, rows) in di.ports.iter_mut().enumerate() {
                let _ = p;
                rows.set_all(rank);
            }
            crate::classifier::bits::set_bit(&mut di.icmp, rank);
        } else {
            for (p, lo, hi) in pb.l4 {
                for c in self.port_parts[p].classes(lo as u128, hi as u128) {
                    di.ports[p].set(c, rank);
                }
            }
            if pb.icmp {
                crate::classifier::bits::set_bit(&mut di.icmp, rank);
            }
        }
        if verify {
            crate::classifier::bits::set_bit(&mut di.verify, rank);
        }
    }
}
