//! Scanning a direction's bit rows: the rows and the AND of their summaries (`ScanRows`),
//! then the candidate blocks 4 words at a time for the lowest matching rank.

use super::{Applied, End, TKey};
use crate::classifier::bits::{block_words, low_mask};
use crate::classifier::{Classifier, DirIndex, NONE};

/// The rows of one direction's scans (cut to the row width) and the AND of their summaries.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScanRows<'a> {
    a: &'a [u64],
    t: &'a [u64],
    p_pod: &'a [u64],
    p_ip: &'a [u64],
    p_node: &'a [u64],
    verify: &'a [u64],
    candidates: u64,
    /// log2 of the words per summary block.
    shift: u32,
}

impl Classifier {
    /// The rows one direction's scans read, cut to the row width, and the AND of their
    /// summaries. `None` when no rank can match.
    #[inline]
    pub(super) fn scan_rows<'a>(
        &'a self,
        di: &'a DirIndex,
        applied: Applied<'a>,
        remote: &End,
        tk: &TKey,
    ) -> Option<ScanRows<'a>> {
        let words = di.words;
        if words == 0 {
            return None;
        }
        let zero = di.zero.as_slice();
        let (t, t_sum) = match tk.l4 {
            Some((p, class)) => (di.ports[p].row(class), di.ports[p].summary(class)),
            None => (di.icmp.as_slice(), !0),
        };
        let (p_pod, pp_sum) = if remote.ident == NONE {
            (zero, 0)
        } else {
            let i = remote.ident as usize;
            (di.prow.row(i), di.prow.summary(i))
        };
        let ip_rows = if remote.v6 { &di.ip6 } else { &di.ip4 };
        let (p_ip, pi_sum) = (ip_rows.row(remote.ipc), ip_rows.summary(remote.ipc));
        let (p_node, pn_sum) = if remote.node == NONE {
            (zero, 0)
        } else {
            let n = remote.node as usize;
            (di.pnode.row(n), di.pnode.summary(n))
        };
        let candidates = applied.summary & t_sum & (pp_sum | pi_sum | pn_sum);
        if candidates == 0 {
            return None;
        }
        Some(ScanRows {
            a: applied.row.get(..words)?,
            t: t.get(..words)?,
            p_pod: p_pod.get(..words)?,
            p_ip: p_ip.get(..words)?,
            p_node: p_node.get(..words)?,
            verify: di.verify.get(..words)?,
            candidates,
            shift: block_words(words).trailing_zeros(),
        })
    }

    /// The lowest rank in `lo..hi` applied to the local end whose ports and peers match. Only
    /// blocks whose summaries all agree are read.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn scan(
        &self,
        di: &DirIndex,
        dir: usize,
        rows: &ScanRows<'_>,
        lo: usize,
        hi: usize,
        local_pod: u32,
        remote: &End,
        tk: &TKey,
    ) -> Option<usize> {
        let words = di.words;
        if lo >= hi || words == 0 {
            return None;
        }
        let shift = rows.shift;
        // Only the blocks overlapping `lo..hi`.
        let (first_block, last_block) = ((lo >> 6) >> shift, ((hi - 1) >> 6) >> shift);
        let candidates = rows.candidates & !low_mask(first_block) & low_mask(last_block + 1);
        if candidates == 0 {
            return None;
        }
        let ScanRows {
            a,
            t,
            p_pod,
            p_ip,
            p_node,
            verify,
            ..
        } = *rows;
        // Words are read 4 at a time (the compiler vectorises the ANDs); a chunk none of whose
        // blocks is a candidate is skipped without reading the rows.
        let mut c = (lo / 64) & !3;
        let last_word = hi.div_ceil(64).min(words);
        while c < last_word {
            let (b0, b1) = (c >> shift, (c + 3) >> shift);
            if b0 < 64 && candidates & !low_mask(b0) & low_mask((b1 + 1).min(64)) == 0 {
                // Jump to the first word of the next candidate block.
                let rest = candidates & !low_mask((b1 + 1).min(64));
                if rest == 0 || b1 >= 63 {
                    return None;
                }
                c = ((rest.trailing_zeros() as usize) << shift) & !3;
                continue;
            }
            let (Some(a4), Some(t4), Some(pp4), Some(pi4), Some(pn4)) = (
                a.get(c..c + 4),
                t.get(c..c + 4),
                p_pod.get(c..c + 4),
                p_ip.get(c..c + 4),
                p_node.get(c..c + 4),
            ) else {
                return self.scan_tail(
                    di,
                    dir,
                    [a, t, p_pod, p_ip, p_node],
                    c,
                    lo,
                    hi,
                    local_pod,
                    remote,
                    tk,
                );
            };
            let mut m = [0u64; 4];
            let mut any = 0u64;
            for k in 0..4 {
                m[k] = a4[k] & t4[k] & (pp4[k] | pi4[k] | pn4[k]);
                any |= m[k];
            }
            if any != 0 {
                for (k, &mk) in m.iter().enumerate() {
                    if let Some(rank) = self.first_in_word(
                        di,
                        dir,
                        c + k,
                        mk,
                        lo,
                        hi,
                        verify,
                        local_pod,
                        remote,
                        tk,
                    ) {
                        return Some(rank);
                    }
                }
            }
            c += 4;
        }
        None
    }

    /// The words of a row past its last full chunk of 4 (rows are not padded).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn scan_tail(
        &self,
        di: &DirIndex,
        dir: usize,
        [a, t, p_pod, p_ip, p_node]: [&[u64]; 5],
        from: usize,
        lo: usize,
        hi: usize,
        local_pod: u32,
        remote: &End,
        tk: &TKey,
    ) -> Option<usize> {
        let verify = di.verify.as_slice();
        let last_word = hi.div_ceil(64).min(di.words);
        for wi in from..last_word {
            let (Some(&aw), Some(&tw), Some(&ppw), Some(&piw), Some(&pnw)) = (
                a.get(wi),
                t.get(wi),
                p_pod.get(wi),
                p_ip.get(wi),
                p_node.get(wi),
            ) else {
                return None;
            };
            let mk = aw & tw & (ppw | piw | pnw);
            if let Some(rank) =
                self.first_in_word(di, dir, wi, mk, lo, hi, verify, local_pod, remote, tk)
            {
                return Some(rank);
            }
        }
        None
    }

    /// The lowest rank of candidate word `wi` (bits `mk`) within `lo..hi` that matches, with
    /// the exact check of *verify* rules.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(super) fn first_in_word(
        &self,
        di: &DirIndex,
        dir: usize,
        wi: usize,
        mut mk: u64,
        lo: usize,
        hi: usize,
        verify: &[u64],
        local_pod: u32,
        remote: &End,
        tk: &TKey,
    ) -> Option<usize> {
        let base = wi * 64;
        if mk == 0 || base + 64 <= lo || base >= hi {
            return None;
        }
        if base < lo {
            mk &= !low_mask(lo - base);
        }
        if base + 64 > hi {
            mk &= low_mask(hi - base);
        }
        let v = verify.get(wi).copied().unwrap_or(0);
        while mk != 0 {
            let bit = mk.trailing_zeros() as usize;
            mk &= mk - 1;
            let rank = base + bit;
            if v >> bit & 1 == 1 {
                let rule = di
                    .order
                    .get(rank)
                    .and_then(|&r| self.rules.get(r as usize))
                    .and_then(Option::as_ref);
                if !rule.is_some_and(|r| self.rule_exact(r, dir, local_pod, remote, tk)) {
                    continue;
                }
            }
            return Some(rank);
        }
        None
    }
}
