//! Groups keyed by IPv4 address, for address statistics: an open-addressing table with
//! linear probing whose slots for a batch of keys are loaded before the keys are counted,
//! so many cache misses are in flight at once. With ~1 M distinct addresses the table
//! is far larger than the CPU caches and those misses are what a statistic costs.
//! Keys are addresses we stored ourselves: a multiplicative hash, no DoS-resistant one.

use super::groups::Group;

/// The key that marks an empty slot; the group of that address itself is kept apart.
const EMPTY: u32 = u32::MAX;
/// Keys whose slots are loaded before they are counted (their cache lines fit in L2).
const BATCH: usize = 256;

#[derive(Clone, Copy)]
struct Slot {
    key: u32,
    g: Group,
}

const FREE: Slot = Slot { key: EMPTY, g: Group::EMPTY };

pub struct V4Table {
    /// A power of two long, at most half full.
    slots: Vec<Slot>,
    len: usize,
    /// The group of 255.255.255.255 (its key marks empty slots).
    broadcast: Option<Group>,
}

impl Default for V4Table {
    fn default() -> Self {
        V4Table { slots: vec![FREE; 1024], len: 0, broadcast: None }
    }
}

#[inline]
fn home(key: u32, mask: usize) -> usize {
    ((u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize) & mask
}

impl V4Table {
    /// Distinct addresses counted.
    pub fn len(&self) -> usize {
        self.len + usize::from(self.broadcast.is_some())
    }

    /// The group of `key`, created empty when new.
    #[inline]
    pub fn group(&mut self, key: u32) -> &mut Group {
        if key == EMPTY {
            return self.broadcast.get_or_insert_with(Group::default);
        }
        if Self::over_full(self.len + 1, self.slots.len()) {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = home(key, mask);
        loop {
            let k = self.slots[i].key;
            if k == key {
                return &mut self.slots[i].g;
            }
            if k == EMPTY {
                self.slots[i].key = key;
                self.len += 1;
                return &mut self.slots[i].g;
            }
            i = (i + 1) & mask;
        }
    }

    /// Calls `add` on the group of `key(i)` for every i in 0..n. Keys go in batches: first
    /// the home slot of every key of a batch is loaded (independent loads, so many cache
    /// misses are in flight at once; a batch's slots then sit in L2), then each is counted.
    #[inline]
    pub fn add_all(&mut self, n: usize, key: impl Fn(usize) -> u32, mut add: impl FnMut(usize, &mut Group)) {
        let mut start = 0;
        while start < n {
            let end = (start + BATCH).min(n);
            // Grown before the loads, so they fetch the slots the keys will use.
            while Self::over_full(self.len + end - start + 1, self.slots.len()) {
                self.grow();
            }
            let mask = self.slots.len() - 1;
            let mut seen = 0u32;
            for i in start..end {
                seen = seen.wrapping_add(self.slots[home(key(i), mask)].key);
            }
            // Keeps the loads: their sum is used.
            std::hint::black_box(seen);
            for i in start..end {
                add(i, self.group(key(i)));
            }
            start = end;
        }
    }

    /// Whether `len` keys would fill more than three quarters of `slots` (linear probing
    /// stays short there, and the table is a third smaller than at half full: fewer pages).
    #[inline]
    fn over_full(len: usize, slots: usize) -> bool {
        len * 4 > slots * 3
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![FREE; cap]);
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.key != EMPTY) {
            let mut i = home(s.key, mask);
            while self.slots[i].key != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    pub fn merge(&mut self, other: V4Table) {
        if other.len() > self.len() {
            let small = std::mem::replace(self, other);
            return self.merge(small);
        }
        if let Some(b) = other.broadcast {
            self.group(EMPTY).merge(&b);
        }
        for s in other.slots.into_iter().filter(|s| s.key != EMPTY) {
            self.group(s.key).merge(&s.g);
        }
    }

    pub fn into_groups(self) -> impl Iterator<Item = (u32, Group)> {
        let b = self.broadcast.map(|g| (EMPTY, g));
        self.slots.into_iter().filter(|s| s.key != EMPTY).map(|s| (s.key, s.g)).chain(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn counts_like_a_hash_map_through_growth_and_merge() {
        let keys: Vec<u32> = (0..50_000u32)
            .map(|i| match i % 5 {
                0 => EMPTY,
                1 => 0,
                _ => i.wrapping_mul(2_654_435_761) % 20_000,
            })
            .collect();
        let (mut a, mut b) = (V4Table::default(), V4Table::default());
        let half = keys.len() / 2;
        a.add_all(half, |i| keys[i], |i, g| g.c.bytes += u64::from(keys[i] % 7) + 1);
        b.add_all(
            keys.len() - half,
            |i| keys[half + i],
            |i, g| g.c.bytes += u64::from(keys[half + i] % 7) + 1,
        );
        a.merge(b);
        let mut want: HashMap<u32, u64> = HashMap::new();
        keys.iter().for_each(|&k| *want.entry(k).or_default() += u64::from(k % 7) + 1);
        assert_eq!(a.len(), want.len());
        let got: HashMap<u32, u64> = a.into_groups().map(|(k, g)| (k, g.c.bytes)).collect();
        assert_eq!(got, want);
    }
}
