//! Bit rows over rule ranks: dense rows of one width in a single allocation, each with a
//! one-word summary of its non-empty blocks (`Rows`), and rank remapping when rules are inserted
//! or removed (`Remap`). The rows are indexed by the classes of a `Partition`
//! (`partition.rs`: ports, IPv4 and IPv6 addresses).
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

/// Words per summary block for rows of `words` words: the smallest power of two, at least
/// `CHUNK`, that lets one `u64` summarise the row (a power of two, so that the query path
/// shifts instead of dividing; at least one chunk, so that every scanned chunk of `CHUNK` words
/// lies in one block).
#[inline]
pub(crate) fn block_words(words: usize) -> usize {
    words.div_ceil(64).max(CHUNK).next_power_of_two()
}

/// Words the query path reads at a time; rows of a direction are padded to a multiple of it.
pub(crate) const CHUNK: usize = 4;

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

/// Words per cache line (64 bytes).
const LINE: usize = 8;

/// Words from a row's start to the next row's: its summary and its words, padded to whole cache
/// lines (a row of no words is only its summary).
fn stride_for(words: usize) -> usize {
    if words == 0 {
        1
    } else {
        (words + 1).next_multiple_of(LINE)
    }
}

/// The first index of `data` that starts a cache line (`< LINE`).
fn line_start(data: &[u64]) -> usize {
    (LINE - (data.as_ptr().addr() / 8) % LINE) % LINE
}

/// Dense rows of `words` words each, in one allocation, each preceded by its summary and
/// starting a cache line: a lookup reading a row's summary and first chunk reads one line.
///
/// ```text
///  data: [pad][s0 | w0 w1 ... w(words-1) pad][s1 | w0 w1 ... pad] ... [pad]
///         base ^  stride = words + 1 rounded up to whole lines
/// ```
///
/// `data` has `LINE - 1` words of slack; `base` is the index where rows start, kept on a line
/// boundary whenever the allocation moves (`realign`). Words outside rows are zero.
#[derive(Debug)]
pub(crate) struct Rows {
    words: usize,
    nrows: usize,
    /// Row `i` is `data[base + i * stride]` (its summary, see `summarize`, kept exact by every
    /// mutation) followed by its `words` words.
    data: Vec<u64>,
    base: usize,
    /// `stride_for(words)`.
    stride: usize,
    /// Words per summary block (`block_words(words)`).
    block: usize,
}

impl Default for Rows {
    fn default() -> Rows {
        Rows::new(0)
    }
}

impl Clone for Rows {
    fn clone(&self) -> Rows {
        // The copy is a new allocation: its rows move to its own line boundary.
        let mut r = Rows {
            words: self.words,
            nrows: self.nrows,
            data: self.data.clone(),
            base: self.base,
            stride: self.stride,
            block: self.block,
        };
        r.realign(self.base);
        r
    }
}

impl Rows {
    pub(crate) fn new(words: usize) -> Rows {
        Rows {
            words,
            nrows: 0,
            data: Vec::new(),
            base: 0,
            stride: stride_for(words),
            block: block_words(words),
        }
    }

    #[inline]
    fn stride(&self) -> usize {
        self.stride
    }

    /// Index of row `i`'s summary in `data`.
    #[inline]
    fn at(&self, i: usize) -> usize {
        self.base + i * self.stride()
    }

    /// After `data` was (re)allocated with the rows still at `old_base`: moves them to the new
    /// allocation's line boundary and zeroes what they left.
    fn realign(&mut self, old_base: usize) {
        let new_base = line_start(&self.data);
        let len = self.nrows * self.stride();
        if new_base != old_base && len > 0 && old_base.max(new_base) + len <= self.data.len() {
            self.data.copy_within(old_base..old_base + len, new_base);
            let vacated = if old_base < new_base {
                old_base..new_base
            } else {
                new_base + len..old_base + len
            };
            self.data[vacated].iter_mut().for_each(|w| *w = 0);
        }
        self.base = new_base;
    }

    /// The summary of row `i` (0 for a missing row).
    #[cfg(test)]
    pub(crate) fn summary(&self, i: usize) -> u64 {
        self.row_summary(i).1
    }

    fn summary_mut(&mut self, i: usize) -> Option<&mut u64> {
        if i >= self.nrows {
            return None;
        }
        let at = self.at(i);
        self.data.get_mut(at)
    }

    /// Recomputes the summary bit of the block holding `bit` in row `i`.
    fn resummarize_block(&mut self, i: usize, bit: usize) {
        let b = bit / 64 / self.block;
        let row = self.row(i);
        let start = (b * self.block).min(row.len());
        let end = (start + self.block).min(row.len());
        let any = row[start..end].iter().any(|&w| w != 0);
        if let Some(s) = self.summary_mut(i)
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

    /// Row `i` and its summary (empty and 0 for a missing row).
    #[inline]
    pub(crate) fn row_summary(&self, i: usize) -> (&[u64], u64) {
        if i >= self.nrows {
            return (&[], 0);
        }
        let at = self.at(i);
        match self.data.get(at..).and_then(|r| r.get(..1 + self.words)) {
            Some([summary, row @ ..]) => (row, *summary),
            _ => (&[], 0),
        }
    }

    /// The query path's view of row `i`: its summary and the words from the row's start to the
    /// end of the table (the scan cuts them to the row width). Cheaper than `row_summary`: one
    /// bounds check. A missing row reads as summary 0 (the slack after the last row is zero).
    #[inline(always)]
    pub(crate) fn head(&self, i: usize) -> (&[u64], u64) {
        match self.data.get(self.at(i)..) {
            Some([summary, rest @ ..]) => (rest, *summary),
            _ => (&[], 0),
        }
    }

    /// Bit `bit` of row `i` (false for a missing row or bit).
    #[inline]
    pub(crate) fn bit(&self, i: usize, bit: usize) -> bool {
        self.row(i)
            .get(bit / 64)
            .is_some_and(|w| w >> (bit % 64) & 1 == 1)
    }

    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[u64] {
        self.row_summary(i).0
    }

    #[inline]
    fn row_mut(&mut self, i: usize) -> &mut [u64] {
        if i >= self.nrows {
            return &mut [];
        }
        let (at, words) = (self.at(i), self.words);
        match self.data.get_mut(at..).and_then(|r| r.get_mut(..1 + words)) {
            Some([_, row @ ..]) => row,
            _ => &mut [],
        }
    }

    /// Makes sure rows `0..rows` exist (new rows are zero).
    pub(crate) fn ensure(&mut self, rows: usize) {
        if rows > self.nrows {
            let old_base = self.base;
            // New rows and slack are zero: `resize` appends zeros behind the zero slack.
            self.data.resize(rows * self.stride() + LINE - 1, 0);
            self.nrows = rows;
            self.realign(old_base);
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
        if let Some(s) = self.summary_mut(i) {
            *s = sum;
        }
    }

    /// Inserts a copy of row `from` at position `at <= len` (rows from `at` on move up by one).
    pub(crate) fn insert_copy(&mut self, at: usize, from: usize) {
        let at = at.min(self.nrows);
        let old_rows = self.nrows;
        self.ensure(old_rows + 1);
        let stride = self.stride();
        let (start, end) = (self.at(at), self.at(old_rows));
        // Rows `at..old_rows` move up one; the copy is of the old row `from`.
        self.data.copy_within(start..end, start + stride);
        if from < old_rows {
            let src = self.at(if from >= at { from + 1 } else { from });
            self.data.copy_within(src..src + stride, start);
        } else {
            self.data[start..start + stride]
                .iter_mut()
                .for_each(|w| *w = 0);
        }
    }

    pub(crate) fn set(&mut self, i: usize, bit: usize) {
        set_bit(self.row_mut(i), bit);
        let b = bit / 64 / self.block;
        let in_row = bit / 64 < self.words;
        if let Some(s) = self.summary_mut(i)
            && b < 64
            && in_row
        {
            *s |= 1u64 << b;
        }
    }

    pub(crate) fn clear(&mut self, i: usize, bit: usize) {
        clear_bit(self.row_mut(i), bit);
        self.resummarize_block(i, bit);
    }

    /// The rows (each its summary and its words, then padding), for whole-table passes.
    fn rows_mut(&mut self) -> std::slice::ChunksExactMut<'_, u64> {
        let (start, end, stride) = (self.base, self.at(self.nrows), self.stride());
        self.data
            .get_mut(start..end)
            .unwrap_or(&mut [])
            .chunks_exact_mut(stride)
    }

    /// Clears `bit` in every row.
    pub(crate) fn clear_all(&mut self, bit: usize) {
        if self.words == 0 || bit / 64 >= self.words {
            return;
        }
        let (w, m) = (bit / 64, !(1u64 << (bit % 64)));
        for row in self.rows_mut() {
            row[1 + w] &= m;
        }
        for i in 0..self.nrows {
            self.resummarize_block(i, bit);
        }
    }

    /// Sets `bit` in every row.
    pub(crate) fn set_all(&mut self, bit: usize) {
        if self.words == 0 || bit / 64 >= self.words {
            return;
        }
        let (w, m) = (bit / 64, 1u64 << (bit % 64));
        let b = w / self.block;
        let sum_bit = if b < 64 { 1u64 << b } else { 0 };
        for row in self.rows_mut() {
            row[1 + w] |= m;
            row[0] |= sum_bit;
        }
    }

    /// Renumbers the bits of every row and changes the width to `words`.
    pub(crate) fn remap(&mut self, remap: &Remap, words: usize) {
        let block = block_words(words);
        let stride = stride_for(words);
        let mut out = vec![0u64; self.nrows * stride + LINE - 1];
        let base = line_start(&out);
        for (i, dst) in out[base..base + self.nrows * stride]
            .chunks_exact_mut(stride)
            .enumerate()
        {
            if let [summary, rest @ ..] = dst {
                let row = &mut rest[..words];
                remap.apply(self.row(i), row);
                *summary = if words == 0 { 0 } else { summarize(row, block) };
            }
        }
        self.words = words;
        self.data = out;
        self.base = base;
        self.stride = stride;
        self.block = block;
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
        // 200 words: blocks of `block_words(200)` words.
        let block = block_words(200);
        let mut rows = Rows::new(200);
        rows.ensure(3);
        let check = |rows: &Rows| {
            for i in 0..rows.len() {
                assert_eq!(rows.summary(i), summarize(rows.row(i), block), "row {i}");
                assert_eq!(rows.head(i).1, rows.summary(i), "row {i}");
            }
        };
        let second_block = block * 64 + 8;
        rows.set(0, 5);
        rows.set(0, second_block);
        rows.set(1, 12_700);
        check(&rows);
        assert_eq!(rows.summary(0), 0b11);
        rows.clear(0, second_block);
        check(&rows);
        assert_eq!(rows.summary(0), 0b1);
        rows.set_all(1000);
        check(&rows);
        rows.clear_all(1000);
        check(&rows);
        rows.insert_copy(0, 1);
        check(&rows);
        let mut value = vec![0u64; block + 1];
        value[block] = 1;
        rows.set_row(2, &value);
        check(&rows);
        assert_eq!(rows.summary(2), 0b10);
        assert!(rows.bit(2, block * 64) && !rows.bit(2, block * 64 - 1));
        let remap = Remap::new(200 * 64, &[0], &[]);
        rows.remap(&remap, 8);
        let block = block_words(8);
        for i in 0..rows.len() {
            assert_eq!(rows.summary(i), summarize(rows.row(i), block), "row {i}");
        }
        assert_eq!(rows.summary(5), 0);
    }

    /// Rows keep their contents and start cache lines through growth (reallocation), inserted
    /// copies, remaps and clones; checked against a plain model.
    #[test]
    fn rows_stay_aligned_and_exact() {
        let mut rows = Rows::new(5);
        let mut model: Vec<Vec<u64>> = Vec::new();
        let check = |rows: &Rows, model: &[Vec<u64>]| {
            assert_eq!(rows.len(), model.len());
            for (i, m) in model.iter().enumerate() {
                let (row, sum) = rows.row_summary(i);
                assert_eq!(row, &m[..], "row {i}");
                assert_eq!(sum, summarize(m, rows.block), "row {i}");
                // The summary starts a cache line: the row's words follow it.
                assert_eq!((row.as_ptr().addr() - 8) % 64, 0, "row {i} alignment");
                assert_eq!(rows.head(i).1, sum);
            }
            assert!(rows.row(model.len()).is_empty());
        };
        for i in 0..300usize {
            let n = model.len();
            rows.ensure(n + 1);
            model.push(vec![0; 5]);
            let bit = (i * 37) % 320;
            rows.set(n, bit);
            model[n][bit / 64] |= 1 << (bit % 64);
            if i % 7 == 0 {
                let (at, from) = (n / 3, n / 2);
                rows.insert_copy(at, from);
                let copy = model[from].clone();
                model.insert(at, copy);
            }
        }
        check(&rows, &model);
        rows.clear(10, 0);
        model[10][0] &= !1;
        rows.set_all(130);
        rows.clear_all(7);
        for m in &mut model {
            m[2] |= 1 << 2;
            m[0] &= !(1 << 7);
        }
        check(&rows, &model);
        let copy = rows.clone();
        check(&copy, &model);
        // Drop rank 0, then widen to 9 words.
        let remap = Remap::new(320, &[0], &[]);
        let mut rows = copy;
        rows.remap(&remap, 9);
        let model: Vec<Vec<u64>> = model
            .iter()
            .map(|m| {
                let mut out = vec![0; 9];
                remap.apply(m, &mut out);
                out
            })
            .collect();
        check(&rows, &model);
    }
}
