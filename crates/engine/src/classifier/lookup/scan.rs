//! Scanning a direction's bit rows: the applied row `A`, the transport row `T` and the `N` peer
//! rows of the remote end (`P`), as `CHUNK`-word chunks, with the AND of their summaries
//! (`Scan`); then the candidate blocks a chunk at a time for the lowest matching rank from a
//! starting rank on (`Scan::next_match`).
//!
//! ```text
//!  candidates = summary(A) & summary(T) & (summary(P_0) | ... | summary(P_N-1))
//!  for each candidate block b (lowest first), for each chunk c of b:
//!      m[k] = A[c][k] & T[c][k] & (P_0[c][k] | ... | P_N-1[c][k])   k < CHUNK
//!      lowest set bit of m (verified if the rule needs it) = first matching rank
//! ```

use super::flow::{End, TKey};
use crate::classifier::bits::{CHUNK, low_mask};
use crate::classifier::{Classifier, DirIndex, NONE};
use crate::matching::PeerMatch;

type Chunk = [u64; CHUNK];

/// A row (or a slice starting with it: `Scan::new` cuts it to the row width) and its summary.
pub(super) type RowRef<'a> = (&'a [u64], u64);

/// The rows of one direction's scan (as chunks, all of the direction's width) and the AND of
/// their summaries; `N` peer rows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scan<'a, const N: usize> {
    a: &'a [Chunk],
    t: &'a [Chunk],
    p: [&'a [Chunk]; N],
    verify: &'a [Chunk],
    candidates: u64,
    /// log2 of the chunks per summary block.
    shift: u32,
}

/// `row` as whole chunks, cut to `n` (`None` if it is shorter).
#[inline(always)]
fn chunks(row: &[u64], n: usize) -> Option<&[Chunk]> {
    row.as_chunks::<CHUNK>().0.get(..n)
}

impl<'a, const N: usize> Scan<'a, N> {
    /// The scan over `a & t & (p[0] | ...)`. `None` when no rank can match or a row is missing.
    #[inline(always)]
    pub(super) fn new(
        di: &'a DirIndex,
        a: RowRef<'a>,
        t: RowRef<'a>,
        p: [RowRef<'a>; N],
    ) -> Option<Scan<'a, N>> {
        let p_sum = p.iter().fold(0, |s, r| s | r.1);
        let candidates = a.1 & t.1 & p_sum;
        if candidates == 0 {
            return None;
        }
        let n = di.words / CHUNK;
        let mut rows: [&[Chunk]; N] = [&[]; N];
        for (dst, src) in rows.iter_mut().zip(p) {
            *dst = chunks(src.0, n)?;
        }
        Some(Scan {
            a: chunks(a.0, n)?,
            t: chunks(t.0, n)?,
            p: rows,
            verify: chunks(&di.verify, n)?,
            candidates,
            shift: di.chunk_shift,
        })
    }

    /// The lowest rank `>= from` whose bits are set in every row and for which `exact` (the
    /// check of a *verify* rule, called only for those) holds. Only candidate blocks are read.
    #[inline(always)]
    pub(super) fn next_match(
        &self,
        from: usize,
        mut exact: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let n = self.a.len();
        // Every row has `n` chunks (`new` cut them): the indexing below is within bounds.
        let t = self.t.get(..n)?;
        let verify = self.verify.get(..n)?;
        let a = self.a;
        let mut p: [&[Chunk]; N] = [&[]; N];
        for (dst, src) in p.iter_mut().zip(self.p) {
            *dst = src.get(..n)?;
        }
        let from_word = from / 64;
        let from_chunk = from_word / CHUNK;
        let mut candidates = self.candidates & !low_mask(from_chunk >> self.shift);
        while candidates != 0 {
            let b = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let start = (b << self.shift).max(from_chunk);
            let end = ((b + 1) << self.shift).min(n);
            for c in start..end {
                let mut m = [0u64; CHUNK];
                for k in 0..CHUNK {
                    let mut peers = 0u64;
                    for row in &p {
                        peers |= row[c][k];
                    }
                    m[k] = a[c][k] & t[c][k] & peers;
                }
                if c == from_chunk {
                    // Words before `from`'s and bits below it in its word are not candidates.
                    let k0 = from_word % CHUNK;
                    m[..k0].iter_mut().for_each(|w| *w = 0);
                    m[k0] &= !low_mask(from % 64);
                }
                // Bit k: word k has a candidate. Built with arithmetic, not jumps: which word
                // holds the first match is data-dependent and would mispredict.
                // (Even and odd words are gathered in two lanes, which vectorises.)
                let mut lanes = [0u64; 2];
                for (j, pair) in m.chunks_exact(2).enumerate() {
                    for (lane, &w) in lanes.iter_mut().zip(pair) {
                        *lane |= ((w | w.wrapping_neg()) >> 63) << (2 * j);
                    }
                }
                let mut nonzero = (lanes[0] | lanes[1] << 1) as u32;
                while nonzero != 0 {
                    let k = nonzero.trailing_zeros() as usize;
                    nonzero &= nonzero - 1;
                    let (mut mk, v) = (m[k], verify[c][k]);
                    // The lowest candidate decides unless it is a verify rule failing its check.
                    while mk != 0 {
                        let bit = mk.trailing_zeros() as usize;
                        mk &= mk - 1;
                        let rank = (c * CHUNK + k) * 64 + bit;
                        if v >> bit & 1 == 0 || exact(rank) {
                            return Some(rank);
                        }
                    }
                }
            }
        }
        None
    }
}

impl Classifier {
    /// The exact check of the *verify* rule at `rank` (a candidate bit of the scan). Unless its
    /// peers depend on the local Pod, the bits matched the peers exactly: only the ports are
    /// checked, with the remote end a Pod member iff its identity's peer bit is set.
    #[inline(never)]
    pub(super) fn verify_rank(
        &self,
        di: &DirIndex,
        dir: usize,
        rank: usize,
        local_pod: u32,
        remote: &End,
        tk: &TKey,
    ) -> bool {
        let Some(rule) = di
            .order
            .get(rank)
            .and_then(|&r| self.rules.get(r as usize))
            .and_then(Option::as_ref)
        else {
            return false;
        };
        if rule.ldep {
            return self.rule_exact(rule, dir, local_pod, remote, tk);
        }
        let how = if remote.ident != NONE && di.prow.bit(remote.ident as usize, rank) {
            PeerMatch::PodMember
        } else {
            PeerMatch::Address
        };
        self.ports_exact(rule, dir, how, local_pod, remote, tk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::bits::{Rows, block_words};
    use crate::classifier::workload::Rng;

    /// A random row of `words` words where each bit is set with probability `1 / sparsity`.
    fn random_row(rng: &mut Rng, words: usize, sparsity: usize) -> Vec<u64> {
        (0..words)
            .map(|_| {
                let mut w = 0u64;
                for b in 0..64 {
                    if rng.below(sparsity) == 0 {
                        w |= 1 << b;
                    }
                }
                w
            })
            .collect()
    }

    fn rows_of(words: usize, row: &[u64]) -> Rows {
        let mut r = Rows::new(words);
        r.set_row(0, row);
        r
    }

    fn bit(row: &[u64], rank: usize) -> bool {
        row[rank / 64] >> (rank % 64) & 1 == 1
    }

    /// `next_match` against a bit-by-bit reference, over widths whose summaries have blocks of
    /// one chunk and of several, sparse and dense rows, verify bits and every kind of `from`.
    #[test]
    fn next_match_is_the_lowest_matching_rank() {
        let mut rng = Rng::new(5);
        for words in [CHUNK, 8 * CHUNK, 65 * CHUNK, 130 * CHUNK, 600 * CHUNK] {
            for round in 0..12 {
                let sparsity = [2, 8, 64, 800, 20_000][round % 5];
                let (a, t, p0, p1) = (
                    random_row(&mut rng, words, sparsity),
                    random_row(&mut rng, words, 2),
                    random_row(&mut rng, words, sparsity),
                    random_row(&mut rng, words, sparsity),
                );
                let verify = random_row(&mut rng, words, 3);
                let (ra, rt, rp0, rp1) = (
                    rows_of(words, &a),
                    rows_of(words, &t),
                    rows_of(words, &p0),
                    rows_of(words, &p1),
                );
                let di = DirIndex {
                    words,
                    chunk_shift: (block_words(words) / CHUNK).trailing_zeros(),
                    verify: verify.clone(),
                    ..DirIndex::default()
                };
                // A verify rule passes its exact check for two ranks in three.
                let exact = |rank: usize| !rank.is_multiple_of(3);
                let Some(scan) = Scan::new(&di, ra.head(0), rt.head(0), [rp0.head(0), rp1.head(0)])
                else {
                    // No candidate block: then no rank matches at all.
                    assert!(
                        (0..words * 64)
                            .all(|r| !(bit(&a, r) && bit(&t, r) && (bit(&p0, r) || bit(&p1, r))))
                    );
                    continue;
                };
                let mut froms = vec![0, 1, 63, 64, 65, words * 64 - 1, words * 64];
                froms.extend((0..20).map(|_| rng.below(words * 64 + 1)));
                for from in froms {
                    let matching = |r: usize| {
                        bit(&a, r)
                            && bit(&t, r)
                            && (bit(&p0, r) || bit(&p1, r))
                            && (!bit(&verify, r) || exact(r))
                    };
                    let expected = (from..words * 64).find(|&r| matching(r));
                    assert_eq!(
                        scan.next_match(from, exact),
                        expected,
                        "words {words}, sparsity {sparsity}, from {from}"
                    );
                }
            }
        }
    }
}
