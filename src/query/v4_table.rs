//! Groups keyed by IPv4 address, for address statistics. With ~1 M distinct addresses
//! the table is far larger than the CPU caches and its cache misses are what a statistic
//! costs, so:
//! - the index is open addressing with linear probing over (key, group number) pairs,
//!   8 bytes each (8 to a cache line: a probe sequence stays in a line or two), at most
//!   half full;
//! - the groups themselves are one dense vector in the order keys first came, so a table
//!   of a million addresses is ~40 MB of groups, not a sparse array of empty slots;
//! - keys go in batches of `BATCH`, each batch in three passes (load the index lines; find
//!   or add each key and load its group; count), so the misses of a pass are in flight at
//!   once instead of one after another.
//!
//! Keys are addresses we stored ourselves: a multiplicative hash, no DoS-resistant one.

use super::groups::Group;

/// The key that marks an empty slot; the group of that address itself is kept apart.
const EMPTY: u32 = u32::MAX;
/// Keys handled per batch (their index and group lines fit in L2 together).
const BATCH: usize = 256;

pub struct V4Table {
    /// A power of two long, at most half full: (key, index into `groups`).
    index: Vec<(u32, u32)>,
    /// `keys[g]` is the address of `groups[g]`.
    keys: Vec<u32>,
    groups: Vec<Group>,
    /// The group of 255.255.255.255 (its key marks empty slots).
    broadcast: Option<Group>,
    /// Scratch: the group number of each key of the batch.
    batch: Vec<u32>,
}

impl Default for V4Table {
    fn default() -> Self {
        V4Table {
            index: vec![(EMPTY, 0); 1024],
            keys: Vec::new(),
            groups: Vec::new(),
            broadcast: None,
            batch: Vec::with_capacity(BATCH),
        }
    }
}

#[inline]
fn home(key: u32, mask: usize) -> usize {
    ((u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize) & mask
}

impl V4Table {
    /// Distinct addresses counted.
    pub fn len(&self) -> usize {
        self.groups.len() + usize::from(self.broadcast.is_some())
    }

    /// The group of `key`, created empty when new.
    #[inline]
    pub fn group(&mut self, key: u32) -> &mut Group {
        if key == EMPTY {
            return self.broadcast.get_or_insert_with(Group::default);
        }
        self.reserve(1);
        let g = self.find_or_add(key);
        &mut self.groups[g]
    }

    /// Room for `more` new keys without passing half full.
    #[inline]
    fn reserve(&mut self, more: usize) {
        while (self.groups.len() + more) * 2 > self.index.len() {
            self.grow();
        }
    }

    /// The group number of `key` (not `EMPTY`), a new empty group when new; needs room.
    #[inline]
    fn find_or_add(&mut self, key: u32) -> usize {
        let mask = self.index.len() - 1;
        let mut i = home(key, mask);
        loop {
            let (k, g) = self.index[i];
            if k == key {
                return g as usize;
            }
            if k == EMPTY {
                let g = self.groups.len();
                self.index[i] = (key, g as u32);
                self.keys.push(key);
                self.groups.push(Group::EMPTY);
                return g;
            }
            i = (i + 1) & mask;
        }
    }

    /// Calls `add` on the group of `key(i)` for every i in 0..n, a batch at a time (see the
    /// module comment).
    #[inline]
    pub fn add_all(&mut self, n: usize, key: impl Fn(usize) -> u32, mut add: impl FnMut(usize, &mut Group)) {
        let mut batch = std::mem::take(&mut self.batch);
        let mut start = 0;
        while start < n {
            let end = (start + BATCH).min(n);
            self.reserve(end - start);
            let mask = self.index.len() - 1;
            let mut seen = 0u64;
            for i in start..end {
                seen = seen.wrapping_add(u64::from(self.index[home(key(i), mask)].0));
            }
            batch.clear();
            for i in start..end {
                let k = key(i);
                let g = if k == EMPTY { u32::MAX } else { self.find_or_add(k) as u32 };
                batch.push(g);
                if let Some(group) = self.groups.get(g as usize) {
                    seen = seen.wrapping_add(group.c.flows);
                }
            }
            // Keeps the loads: their sum is used.
            std::hint::black_box(seen);
            for (i, &g) in (start..end).zip(&batch) {
                match self.groups.get_mut(g as usize) {
                    Some(group) => add(i, group),
                    None => add(i, self.broadcast.get_or_insert_with(Group::default)),
                }
            }
            start = end;
        }
        self.batch = batch;
    }

    fn grow(&mut self) {
        let cap = self.index.len() * 2;
        self.index = vec![(EMPTY, 0); cap];
        let mask = cap - 1;
        for (g, &key) in self.keys.iter().enumerate() {
            let mut i = home(key, mask);
            while self.index[i].0 != EMPTY {
                i = (i + 1) & mask;
            }
            self.index[i] = (key, g as u32);
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
        // In batches like counting: a million groups merged one miss at a time take long,
        // and the merge runs on one thread after the scan.
        let (keys, groups) = (other.keys, other.groups);
        self.add_all(keys.len(), |i| keys[i], |i, g| g.merge(&groups[i]));
    }

    pub fn into_groups(self) -> impl Iterator<Item = (u32, Group)> {
        let b = self.broadcast.map(|g| (EMPTY, g));
        self.keys.into_iter().zip(self.groups).chain(b)
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
