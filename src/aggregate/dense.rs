//! Top-N candidates for the small key spaces (ports: 65 536 keys, protocol: 256):
//! a direct index instead of a hash table, and no cap, because the whole key
//! space fits in bounded memory (at most 65 536 rows of 32 bytes, 2 MiB).
//!
//! Two states. A worker counting flows keeps an index `key → row + 1` (256 KiB
//! for ports) in front of its rows, so an update is two loads and three adds, no
//! hash and no probe. Tables that are only merged (the merge's open buckets, the
//! rebuild from stored flows, which may hold many buckets at once) drop the index
//! (`compact`) and keep their rows sorted by key; merging two compact tables is a
//! linear merge of sorted rows.
//!
//! `SplitCounter` puts the small keys of a `u32` dimension in a `DenseCounter`
//! and the rest in a capped `TopCounter`.

use super::TopCounter;
use crate::flow::{Counters, Flow};
use crate::prefetch::prefetch;

/// Flows whose rows are looked up (and their loads started) before any is updated.
const LOOKUP_AHEAD: usize = 32;

/// Counters per key of a key space of `space` keys (at most 65 536).
#[derive(Clone, Debug)]
pub struct DenseCounter {
    /// Key → row + 1 (0: no row). Empty while compact.
    index: Vec<u32>,
    /// (key, counters): in first-seen order while indexed, by key while compact.
    rows: Vec<(u16, Counters)>,
    space: usize,
}

impl DenseCounter {
    /// An empty, compact table for keys `0..space`.
    pub fn new(space: usize) -> DenseCounter {
        DenseCounter { index: Vec::new(), rows: Vec::new(), space: space.clamp(1, 1 << 16) }
    }

    /// Adds `c` under `key`.
    #[inline(always)]
    pub fn add(&mut self, key: u16, c: &Counters) {
        // The usual case, a key already seen: two loads and three adds.
        if let Some(&row) = self.index.get(key as usize) {
            if row != 0 {
                self.rows[row as usize - 1].1.add(c);
                return;
            }
        }
        self.insert(key, c);
    }

    /// Counts every flow of a batch (one flow, its packets and bytes) under `key(flow)`.
    /// The rows of up to `LOOKUP_AHEAD` flows are looked up and their loads started
    /// before the first is updated: with tens of thousands of keys (ports) the rows
    /// are beyond L2, and one add after another would wait on each miss in turn.
    #[inline]
    pub fn add_flows(&mut self, flows: &[Flow], key: impl Fn(&Flow) -> u16) {
        for chunk in flows.chunks(LOOKUP_AHEAD) {
            let mut rows = [0u32; LOOKUP_AHEAD];
            for (row, f) in rows.iter_mut().zip(chunk) {
                *row = self.index.get(key(f) as usize).copied().unwrap_or(0);
                if let Some(r) = (*row as usize).checked_sub(1).and_then(|r| self.rows.get(r)) {
                    prefetch(r);
                }
            }
            for (&row, f) in rows.iter().zip(chunk) {
                match row {
                    // New when looked up; an earlier flow of the chunk may have added it since.
                    0 => self.add(key(f), &Counters { flows: 1, packets: f.packets, bytes: f.bytes }),
                    row => self.rows[row as usize - 1].1.add_flow(f),
                }
            }
        }
    }

    /// A key not seen yet (or the first add to a compact table). Keys outside the space
    /// count under its last key: unreachable for the `u8` / `u16` fields this is used for.
    #[inline(never)]
    fn insert(&mut self, key: u16, c: &Counters) {
        if self.index.is_empty() {
            self.build_index();
        }
        let k = (key as usize).min(self.space - 1);
        match self.index[k] {
            0 => {
                self.rows.push((k as u16, *c));
                self.index[k] = self.rows.len() as u32;
            }
            row => self.rows[row as usize - 1].1.add(c),
        }
    }

    #[cold]
    fn build_index(&mut self) {
        self.index = vec![0; self.space];
        for (i, (k, _)) in self.rows.iter().enumerate() {
            self.index[*k as usize] = i as u32 + 1;
        }
    }

    /// Drops the index and sorts the rows by key: the state for tables that are only
    /// merged and read (a fraction of the memory; `add` rebuilds the index when needed).
    pub fn compact(&mut self) {
        self.index = Vec::new();
        self.rows.sort_unstable_by_key(|r| r.0);
    }

    fn is_compact(&self) -> bool {
        self.index.is_empty()
    }

    pub fn merge(&mut self, o: &DenseCounter) {
        if !self.is_compact() {
            for (k, c) in &o.rows {
                self.add(*k, c);
            }
            return;
        }
        let mut sorted;
        let theirs = if o.is_compact() {
            &o.rows
        } else {
            sorted = o.rows.clone();
            sorted.sort_unstable_by_key(|r| r.0);
            &sorted
        };
        let mine = std::mem::take(&mut self.rows);
        let mut out = Vec::with_capacity(mine.len().max(theirs.len()));
        let (mut i, mut j) = (0, 0);
        while i < mine.len() && j < theirs.len() {
            let (x, y) = (mine[i], theirs[j]);
            if x.0 == y.0 {
                let mut c = x.1;
                c.add(&y.1);
                out.push((x.0, c));
                i += 1;
                j += 1;
            } else if x.0 < y.0 {
                out.push(x);
                i += 1;
            } else {
                out.push(y);
                j += 1;
            }
        }
        out.extend_from_slice(&mine[i..]);
        out.extend_from_slice(&theirs[j..]);
        self.rows = out;
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `n` heaviest keys by bytes (ties by flows), and the sum of everything else.
    pub fn top(&self, n: usize) -> (Vec<(u16, Counters)>, Counters) {
        super::top_rows(self.rows.clone(), Counters::default(), n)
    }
}

/// Top-N candidates for `u32` keys that are mostly small (interface indexes, 2-byte AS
/// numbers): keys below 65 536 go to a `DenseCounter` (exact, bounded by its key space),
/// larger ones to a capped `TopCounter` (bounded by the cap, see the module docs).
#[derive(Clone, Debug)]
pub struct SplitCounter {
    low: DenseCounter,
    high: TopCounter<u32>,
}

impl SplitCounter {
    pub fn new(cap: usize) -> SplitCounter {
        SplitCounter { low: DenseCounter::new(1 << 16), high: TopCounter::new(cap) }
    }

    #[inline(always)]
    pub fn add(&mut self, key: u32, c: &Counters) {
        match u16::try_from(key) {
            Ok(k) => self.low.add(k, c),
            Err(_) => self.high.add(key, c),
        }
    }

    /// `DenseCounter::add_flows` for the small keys; the few large ones one by one.
    #[inline]
    pub fn add_flows(&mut self, flows: &[Flow], key: impl Fn(&Flow) -> u32) {
        if flows.iter().all(|f| key(f) <= u32::from(u16::MAX)) {
            self.low.add_flows(flows, |f| key(f) as u16);
            return;
        }
        for f in flows {
            self.add(key(f), &Counters { flows: 1, packets: f.packets, bytes: f.bytes });
        }
    }

    pub fn compact(&mut self) {
        self.low.compact();
    }

    pub fn merge(&mut self, o: &SplitCounter) {
        self.low.merge(&o.low);
        self.high.merge(&o.high);
    }

    pub fn len(&self) -> usize {
        self.low.len() + self.high.len()
    }

    pub fn is_empty(&self) -> bool {
        self.low.is_empty() && self.high.is_empty()
    }

    /// Keys folded into the large keys' `other` because of the cap.
    pub fn folded_keys(&self) -> u64 {
        self.high.folded_keys
    }

    /// The `n` heaviest keys by bytes (ties by flows), and the sum of everything else.
    pub fn top(&self, n: usize) -> (Vec<(u32, Counters)>, Counters) {
        let rows = self.low.rows.iter().map(|&(k, c)| (k as u32, c)).chain(self.high.rows()).collect();
        super::top_rows(rows, self.high.other, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(flows: u64, bytes: u64) -> Counters {
        Counters { flows, packets: flows, bytes }
    }

    #[test]
    fn counts_every_key_exactly_without_a_cap() {
        let mut t = DenseCounter::new(1 << 16);
        for k in 0..=u16::MAX {
            t.add(k, &c(1, k as u64));
        }
        t.add(443, &c(2, 1_000_000));
        assert_eq!(t.len(), 65_536);
        let (rows, other) = t.top(2);
        assert_eq!(rows[0], (443, c(3, 1_000_443)));
        assert_eq!(rows[1], (u16::MAX, c(1, 65_535)));
        let total: u64 = (0..=65_535u64).sum::<u64>() + 1_000_000;
        assert_eq!(rows.iter().map(|r| r.1.bytes).sum::<u64>() + other.bytes, total);
        assert_eq!(other.flows, 65_534);
    }

    /// Batches longer than the look-ahead, keys repeated within one look-ahead chunk
    /// (new at lookup, added by an earlier flow of the chunk), a compact table's first
    /// batch, and a `SplitCounter` batch with large keys: the same rows as flow-by-flow adds.
    #[test]
    fn batched_adds_equal_one_by_one_adds() {
        let flows: Vec<Flow> = (0..150u32)
            .map(|i| Flow {
                src_port: [80, 443, 80, (i * 7919 % 65_536) as u16][i as usize % 4],
                in_if: if i % 50 == 49 { 70_000 + i } else { i % 5 },
                packets: u64::from(i) + 1,
                bytes: u64::from(i) * 100 + 40,
                ..Flow::EMPTY
            })
            .collect();
        let counters = |f: &Flow| Counters { flows: 1, packets: f.packets, bytes: f.bytes };
        let sorted = |t: &DenseCounter| {
            let mut r = t.rows.clone();
            r.sort_unstable_by_key(|r| r.0);
            r
        };
        let mut one_by_one = DenseCounter::new(1 << 16);
        let mut batched = DenseCounter::new(1 << 16);
        for round in 0..2 {
            for f in &flows {
                one_by_one.add(f.src_port, &counters(f));
            }
            // Uneven batches: 1, 33, 116 flows.
            for part in [&flows[..1], &flows[1..34], &flows[34..]] {
                batched.add_flows(part, |f| f.src_port);
            }
            assert_eq!(sorted(&batched), sorted(&one_by_one), "round {round}");
        }
        assert_eq!(batched.rows.iter().map(|r| r.1.flows).sum::<u64>(), 300);

        let mut split_one = SplitCounter::new(1_000);
        let mut split_batched = SplitCounter::new(1_000);
        for f in &flows {
            split_one.add(f.in_if, &counters(f));
        }
        split_batched.add_flows(&flows[..40], |f| f.in_if); // small keys only
        split_batched.add_flows(&flows[40..], |f| f.in_if); // some large ones
        assert_eq!(sorted(&split_batched.low), sorted(&split_one.low));
        let high = |t: &SplitCounter| {
            let mut r: Vec<_> = t.high.rows().collect();
            r.sort_unstable_by_key(|r| r.0);
            r
        };
        assert_eq!(high(&split_batched), high(&split_one));
        assert_eq!(split_batched.len(), 5 + 3);
    }

    #[test]
    fn merge_is_the_same_compact_or_indexed() {
        let mut a = DenseCounter::new(256);
        let mut b = DenseCounter::new(256);
        for k in [6u16, 17, 1, 6, 255] {
            a.add(k, &c(1, 100));
        }
        for k in [17u16, 58, 0, 6] {
            b.add(k, &c(1, 10));
        }
        // Indexed into indexed.
        let mut x = a.clone();
        x.merge(&b);
        // Compact (as the merge's open buckets are) from empty, then the rest.
        let mut y = DenseCounter::new(256);
        y.merge(&a);
        let mut b_compact = b.clone();
        b_compact.compact();
        y.merge(&b_compact);
        assert!(y.is_compact());
        let sorted = |t: &DenseCounter| {
            let mut r = t.rows.clone();
            r.sort_unstable_by_key(|r| r.0);
            r
        };
        assert_eq!(sorted(&x), sorted(&y));
        assert_eq!(
            sorted(&y),
            vec![
                (0, c(1, 10)),
                (1, c(1, 100)),
                (6, c(3, 210)),
                (17, c(2, 110)),
                (58, c(1, 10)),
                (255, c(1, 100))
            ]
        );
        // Adding to a compact table rebuilds its index.
        assert!(y.index.is_empty());
        y.add(58, &c(1, 5));
        assert_eq!(sorted(&y)[4], (58, c(2, 15)));
        assert_eq!(y.len(), 6);
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn small_keys_exact_large_keys_capped_totals_exact() {
        let mut t = SplitCounter::new(100);
        let one = Counters { flows: 1, packets: 1, bytes: 10 };
        // 70 000 distinct small keys (all kept) and 10 000 distinct large ones (capped).
        for k in 0..70_000u32 {
            t.add(k % 65_536, &one);
        }
        for k in 0..10_000u32 {
            t.add(1 << 20 | k, &one);
        }
        t.add(4_200_000_000, &Counters { flows: 1, packets: 1, bytes: 1_000_000 });
        t.add(7, &Counters { flows: 1, packets: 1, bytes: 500_000 });
        assert!(t.len() <= 65_536 + 100);
        assert!(t.folded_keys() > 0);
        let (rows, other) = t.top(3);
        assert_eq!(rows[0].0, 4_200_000_000);
        assert_eq!(rows[1], (7, Counters { flows: 3, packets: 3, bytes: 500_020 }));
        assert_eq!(rows[2].1.bytes, 20, "a small key seen twice");
        let flows: u64 = rows.iter().map(|r| r.1.flows).sum::<u64>() + other.flows;
        assert_eq!(flows, 70_000 + 10_000 + 2);
        let mut merged = SplitCounter::new(100);
        let mut compact = t.clone();
        compact.compact();
        merged.merge(&compact);
        assert_eq!(merged.top(3), t.top(3));
    }
}
