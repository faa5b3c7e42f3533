//! Bit rows over rule ranks: dense rows of one width in a single allocation, each with a
//! one-word summary of its non-empty blocks (`Rows`), rank remapping when rules are inserted or
//! removed (`Remap`), and a partition of a key space into elementary intervals (`Partition`)
//! whose classes index dense rows (ports, IPv4 and IPv6 addresses).
//!
//! ```text
//!  rank:      0 1 2 3 ... 63 | 64 ...          (one bit per Antrea rule, in evaluation order)
//!  Rows:      row 0 [w0 w1 w2 ...] row 1 [w0 w1 w2 ...] ...
//!  summaries: row 0 s0, row 1 s1, ...   bit b of s = block b (`block_words(words)` words) ≠ 0
//! ```
//!
//! A lookup ANDs the summaries first (a few words, cache-resident for every row of a
//! classifier) and reads only the blocks of the full rows that can hold a match.

/// Mask of the `n` low bits (`n <= 64`).
#[inline]
pub(crate) fn low_mask(n: usize) -> u64 {
    if n >= 64 { !0 } else { (1u64 << n) - 1 }
}

/// Words per summary block for rows of `words` words: the smallest power of two that lets one
/// `u64` summarise the row (a power of two, so that the query path shifts instead of dividing).
#[inline]
pub(crate) fn block_words(words: usize) -> usize {
    words.div_ceil(64).max(1).next_power_of_two()
}

/// The summary of one row: bit `b` set iff words `b * block..(b + 1) * block` hold a set bit.
pub(crate) fn summarize(row: &[u64], block: usize) -> u64 {
    let mut s = 0u64;
    for (b, chunk) in row.chunks(block.max(1)).enumerate().take(64) {
        if chunk.iter().any(|&w| w != 0) {
            s |= 1u64 << b;
        }
    }
    s
}

/// Number of 64-bit words needed for `bits` bits.
#[inline]
pub(crate) fn words_for(bits: usize) -> usize {
    bits.div_ceil(64)
}

#[cfg(test)]
#[inline]
pub(crate) fn get_bit(row: &[u64], bit: usize) -> bool {
    row.get(bit / 64)
        .is_some_and(|w| w & (1u64 << (bit % 64)) != 0)
}

#[inline]
pub(crate) fn set_bit(row: &mut [u64], bit: usize) {
    if let Some(w) = row.get_mut(bit / 64) {
        *w |= 1u64 << (bit % 64);
    }
}

#[inline]
pub(crate) fn clear_bit(row: &mut [u64], bit: usize) {
    if let Some(w) = row.get_mut(bit / 64) {
        *w &= !(1u64 << (bit % 64));
    }
}

/// Reads `n <= 64` bits of `src` starting at bit `pos` (bits past the end read as 0).
#[inline]
fn read_bits(src: &[u64], pos: usize, n: usize) -> u64 {
    let w = pos / 64;
    let o = pos % 64;
    let mut v = src.get(w).copied().unwrap_or(0) >> o;
    if o != 0 {
        v |= src.get(w + 1).copied().unwrap_or(0) << (64 - o);
    }
    v & low_mask(n)
}

/// ORs the `n <= 64` low bits of `v` into `dst` at bit `pos`.
#[inline]
fn or_bits(dst: &mut [u64], pos: usize, n: usize, v: u64) {
    let w = pos / 64;
    let o = pos % 64;
    if let Some(d) = dst.get_mut(w) {
        *d |= v << o;
    }
    if o != 0
        && o + n > 64
        && let Some(d) = dst.get_mut(w + 1)
    {
        *d |= v >> (64 - o);
    }
}

/// Copies `len` bits from `src` at `src_pos` into (zeroed) `dst` at `dst_pos`.
fn copy_bits(src: &[u64], src_pos: usize, dst: &mut [u64], dst_pos: usize, len: usize) {
    let mut i = 0;
    while i < len {
        let n = (len - i).min(64);
        let v = read_bits(src, src_pos + i, n);
        if v != 0 {
            or_bits(dst, dst_pos + i, n, v);
        }
        i += n;
    }
}

/// A change of rank numbering: which old ranks survive and where they go.
#[derive(Debug, Clone, Default)]
pub(crate) struct Remap {
    /// `(old_start, new_start, len)` runs of consecutive surviving ranks.
    runs: Vec<(usize, usize, usize)>,
    /// Old rank → new rank (`u32::MAX` = removed).
    old_to_new: Vec<u32>,
    pub(crate) new_len: usize,
}

impl Remap {
    /// Removes the (sorted, distinct) ranks `removed` from `old_len` ranks, then inserts new
    /// ranks at the (sorted, distinct) positions `inserted` of the final numbering.
    pub(crate) fn new(old_len: usize, removed: &[usize], inserted: &[usize]) -> Remap {
        let new_len = old_len - removed.len() + inserted.len();
        let mut old_to_new = vec![u32::MAX; old_len];
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let mut rem = removed.iter().peekable();
        let mut ins = inserted.iter().peekable();
        let mut next_new = 0usize;
        for (old, slot) in old_to_new.iter_mut().enumerate() {
            if rem.peek().is_some_and(|&&r| r == old) {
                rem.next();
                continue;
            }
            while ins.peek().is_some_and(|&&i| i == next_new) {
                ins.next();
                next_new += 1;
            }
            *slot = next_new as u32;
            match runs.last_mut() {
                Some((os, ns, len)) if *os + *len == old && *ns + *len == next_new => *len += 1,
                _ => runs.push((old, next_new, 1)),
            }
            next_new += 1;
        }
        Remap {
            runs,
            old_to_new,
            new_len,
        }
    }

    pub(crate) fn map(&self, old: usize) -> Option<usize> {
        match self.old_to_new.get(old) {
            Some(&n) if n != u32::MAX => Some(n as usize),
            _ => None,
        }
    }

    /// Writes the remapped `src` into `dst` (which it zeroes first).
    pub(crate) fn apply(&self, src: &[u64], dst: &mut [u64]) {
        dst.iter_mut().for_each(|w| *w = 0);
        for &(os, ns, len) in &self.runs {
            copy_bits(src, os, dst, ns, len);
        }
    }

    /// Remaps a dense row held in a `Vec`, resizing it to `words` words.
    pub(crate) fn apply_vec(&self, row: &mut Vec<u64>, words: usize) {
        let mut out = vec![0u64; words];
        self.apply(row, &mut out);
        *row = out;
    }
}

/// Dense rows of `words` words each, in one allocation, with their summaries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    words: usize,
    nrows: usize,
    data: Vec<u64>,
    /// Words per summary block (`block_words(words)`).
    block: usize,
    /// One summary per row (see `summarize`), kept exact by every mutation.
    sums: Vec<u64>,
}

impl Rows {
    pub(crate) fn new(words: usize) -> Rows {
        Rows {
            words,
            nrows: 0,
            data: Vec::new(),
            block: block_words(words),
            sums: Vec::new(),
        }
    }

    /// The summary of row `i` (0 for a missing row).
    #[inline]
    pub(crate) fn summary(&self, i: usize) -> u64 {
        self.sums.get(i).copied().unwrap_or(0)
    }

    /// Recomputes the summary bit of the block holding `bit` in row `i`.
    fn resummarize_block(&mut self, i: usize, bit: usize) {
        let b = bit / 64 / self.block;
        let start = i * self.words + b * self.block;
        let end = (start + self.block).min((i + 1) * self.words);
        let any = self
            .data
            .get(start..end)
            .is_some_and(|ws| ws.iter().any(|&w| w != 0));
        if let Some(s) = self.sums.get_mut(i)
            && b < 64
        {
            if any {
                *s |= 1u64 << b;
            } else {
                *s &= !(1u64 << b);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nrows
    }

    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[u64] {
        let start = i * self.words;
        self.data.get(start..start + self.words).unwrap_or(&[])
    }

    #[inline]
    fn row_mut(&mut self, i: usize) -> &mut [u64] {
        let start = i * self.words;
        let words = self.words;
        self.data.get_mut(start..start + words).unwrap_or(&mut [])
    }

    /// Makes sure rows `0..rows` exist (new rows are zero).
    pub(crate) fn ensure(&mut self, rows: usize) {
        if rows > self.nrows {
            self.nrows = rows;
            self.data.resize(rows * self.words, 0);
            self.sums.resize(rows, 0);
        }
    }

    /// Overwrites row `i` (created if needed) with `value` (zero-extended or truncated).
    pub(crate) fn set_row(&mut self, i: usize, value: &[u64]) {
        self.ensure(i + 1);
        let r = self.row_mut(i);
        for (d, s) in r.iter_mut().zip(value.iter().chain(std::iter::repeat(&0))) {
            *d = *s;
        }
        let sum = summarize(self.row(i), self.block);
        if let Some(s) = self.sums.get_mut(i) {
            *s = sum;
        }
    }

    /// Inserts a copy of row `from` at position `at <= len` (rows from `at` on move up by one).
    pub(crate) fn insert_copy(&mut self, at: usize, from: usize) {
        let copy: Vec<u64> = self.row(from).to_vec();
        let sum = self.summary(from);
        let at = at.min(self.nrows);
        let start = at * self.words;
        self.data.splice(start..start, copy);
        self.sums.insert(at, sum);
        self.nrows += 1;
    }

    pub(crate) fn set(&mut self, i: usize, bit: usize) {
        set_bit(self.row_mut(i), bit);
        let b = bit / 64 / self.block;
        if let Some(s) = self.sums.get_mut(i)
            && b < 64
            && bit / 64 < self.words
        {
            *s |= 1u64 << b;
        }
    }

    pub(crate) fn clear(&mut self, i: usize, bit: usize) {
        clear_bit(self.row_mut(i), bit);
        self.resummarize_block(i, bit);
    }

    /// Clears `bit` in every row.
    pub(crate) fn clear_all(&mut self, bit: usize) {
        if self.words == 0 {
            return;
        }
        let (w, m) = (bit / 64, !(1u64 << (bit % 64)));
        for row in self.data.chunks_exact_mut(self.words) {
            if let Some(x) = row.get_mut(w) {
                *x &= m;
            }
        }
        for i in 0..self.nrows {
            self.resummarize_block(i, bit);
        }
    }

    /// Sets `bit` in every row.
    pub(crate) fn set_all(&mut self, bit: usize) {
        if self.words == 0 {
            return;
        }
        let (w, m) = (bit / 64, 1u64 << (bit % 64));
        for row in self.data.chunks_exact_mut(self.words) {
            if let Some(x) = row.get_mut(w) {
                *x |= m;
            }
        }
        let b = w / self.block;
        if b < 64 && w < self.words {
            self.sums.iter_mut().for_each(|s| *s |= 1u64 << b);
        }
    }

    /// Renumbers the bits of every row and changes the width to `words`.
    pub(crate) fn remap(&mut self, remap: &Remap, words: usize) {
        let mut out = vec![0u64; self.nrows * words];
        if words > 0 {
            for (i, dst) in out.chunks_exact_mut(words).enumerate() {
                remap.apply(self.row(i), dst);
            }
        }
        self.words = words;
        self.data = out;
        self.block = block_words(words);
        let block = self.block;
        self.sums = if words == 0 {
            vec![0; self.nrows]
        } else {
            self.data
                .chunks_exact(words)
                .map(|r| summarize(r, block))
                .collect()
        };
    }
}

/// A partition of `0..=max` into elementary intervals; class `c` is `starts[c]..starts[c+1]`.
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    pub(crate) starts: Vec<u128>,
    max: u128,
}

impl Partition {
    pub(crate) fn new(max: u128) -> Partition {
        Partition {
            starts: vec![0],
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    #[inline]
    pub(crate) fn class_of(&self, key: u128) -> usize {
        self.starts.partition_point(|&s| s <= key).saturating_sub(1)
    }

    /// Makes `at` the start of a class. Returns `Some(c)` when class `c` was created by
    /// splitting class `c - 1` (rows of class `c - 1` must be copied to a new row `c`).
    pub(crate) fn split(&mut self, at: u128) -> Option<usize> {
        if at == 0 || at > self.max {
            return None;
        }
        match self.starts.binary_search(&at) {
            Ok(_) => None,
            Err(i) => {
                self.starts.insert(i, at);
                Some(i)
            }
        }
    }

    /// The classes covering `lo..=hi` (after `split(lo)` and `split(hi + 1)`).
    pub(crate) fn classes(&self, lo: u128, hi: u128) -> std::ops::RangeInclusive<usize> {
        self.class_of(lo)..=self.class_of(hi)
    }

    pub(crate) fn max(&self) -> u128 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(row: &[u64]) -> Vec<usize> {
        (0..row.len() * 64).filter(|&b| get_bit(row, b)).collect()
    }

    #[test]
    fn remap_removes_and_inserts() {
        let old: Vec<usize> = vec![0, 3, 63, 64, 65, 130];
        let mut row = vec![0u64; 3];
        for &b in &old {
            set_bit(&mut row, b);
        }
        // Remove rank 3 and 64; insert at new positions 0 and 100.
        let r = Remap::new(140, &[3, 64], &[0, 100]);
        let mut out = vec![0u64; 3];
        r.apply(&row, &mut out);
        let expect: Vec<usize> = old.iter().filter_map(|&b| r.map(b)).collect();
        assert_eq!(bits_of(&out), expect);
        assert_eq!(r.map(0), Some(1));
        assert_eq!(r.map(3), None);
        assert_eq!(r.map(63), Some(62 + 1));
    }

    #[test]
    fn summaries_follow_every_mutation() {
        // 200 words: blocks of 4 words (256 ranks).
        let mut rows = Rows::new(200);
        rows.ensure(3);
        let check = |rows: &Rows| {
            for i in 0..rows.len() {
                assert_eq!(rows.summary(i), summarize(rows.row(i), 4), "row {i}");
            }
        };
        rows.set(0, 5);
        rows.set(0, 300);
        rows.set(1, 12_700);
        check(&rows);
        assert_eq!(rows.summary(0), 0b11);
        rows.clear(0, 300);
        check(&rows);
        assert_eq!(rows.summary(0), 0b1);
        rows.set_all(1000);
        check(&rows);
        rows.clear_all(1000);
        check(&rows);
        rows.insert_copy(0, 1);
        check(&rows);
        rows.set_row(2, &[0, 0, 0, 0, 1]);
        check(&rows);
        assert_eq!(rows.summary(2), 0b10);
        let remap = Remap::new(200 * 64, &[0], &[]);
        rows.remap(&remap, 1);
        check(&rows);
        assert_eq!(rows.summary(5), 0);
    }

    #[test]
    fn partition_splits() {
        let mut p = Partition::new(65535);
        assert_eq!(p.split(80), Some(1));
        assert_eq!(p.split(81), Some(2));
        assert_eq!(p.split(80), None);
        assert_eq!(p.classes(80, 80), 1..=1);
        assert_eq!(p.class_of(79), 0);
        assert_eq!(p.class_of(65535), 2);
        assert_eq!(p.split(65536), None);
    }
}
