//! `Partition`: a key space (ports, IPv4 or IPv6 addresses) cut into elementary intervals, the
//! classes that index the classifier's bit rows (`bits.rs`). Splitting at a new boundary adds a
//! class; a key's class is found by index (ports, the `/16` of an IPv4 address) or by search.

/// A partition of `0..=max` into elementary intervals; class `c` is `starts[c]..starts[c+1]`.
/// So that the query path indexes instead of searching, a port-sized space (`max <=
/// u16::MAX`) also keeps the class of every key (`dense`), and an IPv4-sized one (`max ==
/// u32::MAX`) the number of classes starting below each `/16` (`top16`), which leaves a short
/// scan of the classes starting inside the key's `/16`.
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    pub(crate) starts: Vec<u128>,
    max: u128,
    /// Key → class for `max <= u16::MAX` (empty otherwise), kept in step by `split`.
    dense: Vec<u16>,
    /// For `max == u32::MAX` (empty otherwise): `top16[h]` = number of starts `< h << 16`,
    /// `h` in `0..=65536`, kept in step by `split` unless `top16_stale`.
    top16: Vec<u32>,
    /// `top16` is not maintained (during a bulk build, whose splits would each touch most of
    /// it): lookups search `starts` until `index_top16` rebuilds it.
    top16_stale: bool,
}

impl Partition {
    pub(crate) fn new(max: u128) -> Partition {
        let dense = if max <= u16::MAX as u128 {
            vec![0; max as usize + 1]
        } else {
            Vec::new()
        };
        let top16 = if max == u32::MAX as u128 {
            // Only the start 0 exists: below `0` none, below every other `/16` one.
            let mut t = vec![1u32; (1 << 16) + 1];
            t[0] = 0;
            t
        } else {
            Vec::new()
        };
        Partition {
            starts: vec![0],
            max,
            dense,
            top16,
            top16_stale: false,
        }
    }

    /// Stops maintaining the `/16` index (before many splits); `index_top16` restores it.
    pub(crate) fn suspend_top16(&mut self) {
        if !self.top16.is_empty() {
            self.top16_stale = true;
        }
    }

    /// Rebuilds the `/16` index from `starts` if it is stale.
    pub(crate) fn index_top16(&mut self) {
        if !self.top16_stale {
            return;
        }
        let mut below = 0usize;
        for (h, slot) in self.top16.iter_mut().enumerate() {
            let bound = (h as u128) << 16;
            while self.starts.get(below).is_some_and(|&s| s < bound) {
                below += 1;
            }
            *slot = below as u32;
        }
        self.top16_stale = false;
    }

    /// The class of an IPv4-sized key: the classes starting in its `/16` are scanned (a search
    /// if there is no `/16` index).
    #[inline]
    pub(crate) fn class_of_v4(&self, key: u32) -> usize {
        if self.top16_stale {
            return self.class_of(key as u128);
        }
        let h = (key >> 16) as usize;
        let (Some(&lo), Some(&hi)) = (self.top16.get(h), self.top16.get(h + 1)) else {
            return self.class_of(key as u128);
        };
        let k = key as u128;
        let inside = self
            .starts
            .get(lo as usize..hi as usize)
            .map_or(0, |s| s.partition_point(|&x| x <= k));
        (lo as usize + inside).saturating_sub(1)
    }

    /// The class of a port-sized key: an index into `dense` (a search if there is none).
    #[inline]
    pub(crate) fn class_of_small(&self, key: u16) -> usize {
        match self.dense.get(key as usize) {
            Some(&c) => c as usize,
            None => self.class_of(key as u128),
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
                // Keys from `at` on are one class further (`at <= max <= u16::MAX` here).
                if let Some(tail) = self.dense.get_mut(at as usize..) {
                    tail.iter_mut().for_each(|c| *c += 1);
                }
                // One more start below every `/16` above `at`'s (`at <= u32::MAX` here).
                if !self.top16_stale
                    && let Some(tail) = self.top16.get_mut((at >> 16) as usize + 1..)
                {
                    tail.iter_mut().for_each(|c| *c += 1);
                }
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
        assert_eq!(p.split(1000), Some(3));
        for key in [0u16, 79, 80, 81, 999, 1000, 1001, 65535] {
            assert_eq!(p.class_of_small(key), p.class_of(key as u128), "key {key}");
        }
        let wide = Partition::new(u32::MAX as u128);
        assert_eq!(wide.class_of_small(7), 0);
    }

    #[test]
    fn v4_index_follows_splits() {
        let mut p = Partition::new(u32::MAX as u128);
        let cuts: [u32; 9] = [
            0x0A64_0000,
            0x0A65_0000,
            0x0A64_8000,
            0x0A64_8001,
            1,
            0xFFFF_0000,
            0xFFFF_FFFF,
            0x0001_0000,
            0x0A64_0000,
        ];
        let probes: Vec<u32> = cuts
            .iter()
            .flat_map(|&c| [c.wrapping_sub(1), c, c.wrapping_add(1)])
            .chain([0, 0xFFFF, 0x1_0000, u32::MAX])
            .collect();
        for (i, &cut) in cuts.iter().enumerate() {
            p.split(cut as u128);
            for &k in &probes {
                assert_eq!(
                    p.class_of_v4(k),
                    p.class_of(k as u128),
                    "after {i} cuts, key {k:#x}"
                );
            }
        }
        assert_eq!(p.class_of_v4(0), 0);
        // Suspended during a bulk of splits, rebuilt after: the same classes.
        let mut bulk = Partition::new(u32::MAX as u128);
        bulk.suspend_top16();
        for &cut in &cuts {
            bulk.split(cut as u128);
        }
        for &k in &probes {
            assert_eq!(
                bulk.class_of_v4(k),
                p.class_of(k as u128),
                "stale, key {k:#x}"
            );
        }
        bulk.index_top16();
        assert_eq!(bulk.top16, p.top16);
        bulk.split(0x0B00_0000);
        p.split(0x0B00_0000);
        assert_eq!(bulk.top16, p.top16);
    }
}
