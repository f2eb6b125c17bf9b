//! Per-worker aggregation: for each 5-minute bucket, totals per source and per
//! profile channel, and top-N candidate tables per dimension. Each worker owns
//! its `Aggregator` (no locks); the merge combines what the workers hand over.
//!
//! Memory is bounded under a flood of unique keys (a spoofed-source DDoS): a
//! `TopCounter` holds at most `cap` keys; when full it keeps the heaviest half
//! (by bytes) and folds the rest into `other`, so totals stay exact while the
//! tail of the key distribution is summarized. Keys that really are in the top
//! N are never folded, because they are the heaviest. Ports and protocol have
//! small key spaces: they are counted exactly in a `DenseCounter` (direct-indexed, no
//! cap needed); interfaces and AS numbers below 65 536 too (`SplitCounter`), larger
//! ones in a capped `TopCounter`.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::flow::{bucket_start, Counters, Flow};
use crate::profile::CompiledProfile;
use crate::rollup::{BucketRollup, ChannelCounters, Dimension, SourceCounters, TopEntry, TopTable};

mod dense;
pub use dense::{DenseCounter, SplitCounter};

/// Most keys a worker keeps per dimension and bucket between two hand-overs.
pub const WORKER_TOP_CAP: usize = 20_000;
/// Most keys the merge keeps per dimension for an open bucket.
pub const MERGE_TOP_CAP: usize = 100_000;
/// Rows per dimension kept in a stored rollup.
pub const ROLLUP_TOP_N: usize = 100;

/// A bounded key → counters table (see the module docs).
#[derive(Clone, Debug)]
pub struct TopCounter<K> {
    map: HashMap<K, Counters>,
    pub other: Counters,
    /// Keys folded into `other` so far.
    pub folded_keys: u64,
    cap: usize,
}

impl<K: Copy + Eq + Hash> TopCounter<K> {
    pub fn new(cap: usize) -> Self {
        TopCounter { map: HashMap::new(), other: Counters::default(), folded_keys: 0, cap: cap.max(2) }
    }

    #[inline]
    pub fn add(&mut self, key: K, c: &Counters) {
        if self.map.len() < self.cap {
            // One hash and probe, found or not.
            self.map.entry(key).or_default().add(c);
            return;
        }
        self.add_when_full(key, c);
    }

    /// At the cap: a key already kept is counted, a new one first makes room.
    #[inline(never)]
    fn add_when_full(&mut self, key: K, c: &Counters) {
        if let Some(v) = self.map.get_mut(&key) {
            v.add(c);
            return;
        }
        self.fold_lightest_half();
        self.map.insert(key, *c);
    }

    /// Adds the flows of a batch under `key(flow)`; consecutive flows with the same key
    /// (the exporter of a datagram, often its protocol and interfaces) cost one update.
    #[inline]
    fn add_runs(&mut self, flows: &[Flow], key: impl Fn(&Flow) -> K) {
        let Some(first) = flows.first() else { return };
        let mut run_key = key(first);
        let mut run = Counters::default();
        for f in flows {
            let k = key(f);
            if k != run_key {
                self.add(run_key, &run);
                run_key = k;
                run = Counters::default();
            }
            run.add_flow(f);
        }
        self.add(run_key, &run);
    }

    /// Keeps the heaviest half by bytes (ties by flows), folds the rest into `other`.
    fn fold_lightest_half(&mut self) {
        let mut weights: Vec<(u64, u64)> = self.map.values().map(|c| (c.bytes, c.flows)).collect();
        let keep = self.cap / 2;
        let idx = weights.len() - keep;
        weights.select_nth_unstable(idx);
        let threshold = weights[idx];
        let mut kept = 0usize;
        let other = &mut self.other;
        let folded = &mut self.folded_keys;
        self.map.retain(|_, c| {
            if (c.bytes, c.flows) > threshold || ((c.bytes, c.flows) == threshold && kept < keep) {
                kept += 1;
                true
            } else {
                other.add(c);
                *folded += 1;
                false
            }
        });
    }

    pub fn merge(&mut self, o: &TopCounter<K>) {
        for (k, c) in &o.map {
            self.add(*k, c);
        }
        self.other.add(&o.other);
        self.folded_keys += o.folded_keys;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The kept keys and their counters, in no order.
    pub fn rows(&self) -> impl Iterator<Item = (K, Counters)> + '_ {
        self.map.iter().map(|(k, c)| (*k, *c))
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The `n` heaviest keys by bytes, and the sum of everything else.
    pub fn top(&self, n: usize) -> (Vec<(K, Counters)>, Counters) {
        top_rows(self.rows().collect(), self.other, n)
    }
}

/// The `n` heaviest of `rows` by bytes (ties by flows), heaviest first, and `other` plus
/// the sum of the rest.
fn top_rows<K>(
    mut rows: Vec<(K, Counters)>,
    mut other: Counters,
    n: usize,
) -> (Vec<(K, Counters)>, Counters) {
    let heavier_first = |r: &(K, Counters)| std::cmp::Reverse((r.1.bytes, r.1.flows));
    // The live view asks for the top 10 of up to 100 000 keys every 2 s: select, then
    // sort only the selected rows.
    if n < rows.len() {
        rows.select_nth_unstable_by_key(n, heavier_first);
    }
    for (_, c) in rows.iter().skip(n) {
        other.add(c);
    }
    rows.truncate(n);
    rows.sort_unstable_by_key(heavier_first);
    (rows, other)
}

/// Names behind the indexes a worker counts with; shared, replaced when profiles change.
#[derive(Debug, Default)]
pub struct Shape {
    pub sources: Vec<String>,
    /// (profile name, channel names) in profile order.
    pub profiles: Vec<(String, Vec<String>)>,
}

/// The address dimensions, the small-key-space ones and the other numeric ones, in
/// `Dimension` terms.
const ADDR_DIMS: [Dimension; 3] = [Dimension::SrcAddr, Dimension::DstAddr, Dimension::Exporter];
const DENSE_DIMS: [Dimension; 3] = [Dimension::SrcPort, Dimension::DstPort, Dimension::Protocol];
const NUM_DIMS: [Dimension; 4] = [Dimension::InIf, Dimension::OutIf, Dimension::SrcAs, Dimension::DstAs];

/// Everything counted for one bucket.
#[derive(Clone, Debug)]
pub struct BucketTables {
    pub bucket: u64,
    pub total: Counters,
    /// [source index]
    pub sources: Vec<Counters>,
    /// [profile index][channel index]
    pub channels: Vec<Vec<Counters>>,
    addrs: [TopCounter<IpAddr>; 3],
    /// Source port, destination port, protocol.
    dense: [DenseCounter; 3],
    /// Input and output interface, source and destination AS.
    nums: [SplitCounter; 4],
}

impl BucketTables {
    pub fn new(bucket: u64, shape: &Shape, cap: usize) -> BucketTables {
        BucketTables {
            bucket,
            total: Counters::default(),
            sources: vec![Counters::default(); shape.sources.len()],
            channels: shape.profiles.iter().map(|(_, ch)| vec![Counters::default(); ch.len()]).collect(),
            addrs: std::array::from_fn(|_| TopCounter::new(cap)),
            dense: [DenseCounter::new(1 << 16), DenseCounter::new(1 << 16), DenseCounter::new(1 << 8)],
            nums: std::array::from_fn(|_| SplitCounter::new(cap)),
        }
    }

    #[inline]
    pub fn add(&mut self, flow: &Flow, source: usize, profiles: &[CompiledProfile]) {
        self.add_batch(std::slice::from_ref(flow), source, profiles);
    }

    /// Counts flows of one source: the hashed address tables dimension by dimension (each
    /// stays hot in cache for the whole batch), the direct-indexed ones in one pass.
    pub fn add_batch(&mut self, flows: &[Flow], source: usize, profiles: &[CompiledProfile]) {
        let mut sum = Counters::default();
        for f in flows {
            sum.add_flow(f);
        }
        self.total.add(&sum);
        if let Some(s) = self.sources.get_mut(source) {
            s.add(&sum);
        }
        for (p, channels) in profiles.iter().zip(self.channels.iter_mut()) {
            for flow in flows {
                let c = Counters { flows: 1, packets: flow.packets, bytes: flow.bytes };
                p.classify(flow, |i| {
                    if let Some(ch) = channels.get_mut(i) {
                        ch.add(&c)
                    }
                });
            }
        }
        let [src, dst, exp] = &mut self.addrs;
        src.add_runs(flows, |f| f.src_addr);
        dst.add_runs(flows, |f| f.dst_addr);
        exp.add_runs(flows, |f| f.exporter);
        // Direct-indexed: no hash, and cheaper than comparing keys for runs. Table by
        // table, so that each one's row loads for the batch overlap (`add_flows`).
        let [sp, dp, pr] = &mut self.dense;
        sp.add_flows(flows, |f| f.src_port);
        dp.add_flows(flows, |f| f.dst_port);
        pr.add_flows(flows, |f| f.protocol as u16);
        let [ii, oi, sa, da] = &mut self.nums;
        ii.add_flows(flows, |f| f.in_if);
        oi.add_flows(flows, |f| f.out_if);
        sa.add_flows(flows, |f| f.src_as);
        da.add_flows(flows, |f| f.dst_as);
    }

    /// Adds tables of the same shape.
    pub fn merge(&mut self, o: &BucketTables) {
        self.total.add(&o.total);
        for (a, b) in self.sources.iter_mut().zip(&o.sources) {
            a.add(b);
        }
        for (pa, pb) in self.channels.iter_mut().zip(&o.channels) {
            for (a, b) in pa.iter_mut().zip(pb) {
                a.add(b);
            }
        }
        for (a, b) in self.addrs.iter_mut().zip(&o.addrs) {
            a.merge(b);
        }
        for (a, b) in self.dense.iter_mut().zip(&o.dense) {
            a.merge(b);
        }
        for (a, b) in self.nums.iter_mut().zip(&o.nums) {
            a.merge(b);
        }
    }

    /// Drops what only the counting needs (the dense tables' indexes): for tables that
    /// are handed over, merged and kept.
    pub fn compact(&mut self) {
        for t in &mut self.dense {
            t.compact();
        }
        for t in &mut self.nums {
            t.compact();
        }
    }

    /// The same counts laid out for another shape (profiles changed while they
    /// were counted): sources and channels are matched by name; channels the new
    /// shape does not have are dropped, new ones start at zero.
    pub fn remap(&self, from: &Shape, to: &Shape) -> BucketTables {
        let mut out = self.clone();
        out.sources = to
            .sources
            .iter()
            .map(|name| {
                from.sources.iter().position(|n| n == name).map(|i| self.sources[i]).unwrap_or_default()
            })
            .collect();
        out.channels = to
            .profiles
            .iter()
            .map(|(profile, channels)| {
                let old = from.profiles.iter().position(|(p, _)| p == profile);
                channels
                    .iter()
                    .map(|ch| {
                        old.and_then(|pi| {
                            let ci = from.profiles[pi].1.iter().position(|c| c == ch)?;
                            self.channels.get(pi)?.get(ci).copied()
                        })
                        .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        out
    }

    /// Keys folded into "other" because of the caps (a sign of a flood of unique keys).
    pub fn folded_keys(&self) -> u64 {
        self.addrs.iter().map(|t| t.folded_keys).sum::<u64>()
            + self.nums.iter().map(|t| t.folded_keys()).sum::<u64>()
    }

    /// The top-N tables of every dimension.
    pub fn top_tables(&self, n: usize) -> Vec<TopTable> {
        fn table<K: ToString>(
            dimension: Dimension,
            (rows, other): (Vec<(K, Counters)>, Counters),
        ) -> TopTable {
            let entries =
                rows.into_iter().map(|(k, c)| TopEntry { key: k.to_string(), counters: c }).collect();
            TopTable { dimension, entries, other }
        }
        let addrs = ADDR_DIMS.iter().zip(&self.addrs).map(|(d, t)| table(*d, t.top(n)));
        let dense = DENSE_DIMS.iter().zip(&self.dense).map(|(d, t)| table(*d, t.top(n)));
        let nums = NUM_DIMS.iter().zip(&self.nums).map(|(d, t)| table(*d, t.top(n)));
        let mut out: Vec<TopTable> = addrs.chain(dense).chain(nums).collect();
        out.sort_by_key(|t| t.dimension);
        out
    }

    /// One rollup per profile of `shape`.
    pub fn to_rollups(&self, shape: &Shape, top_n: usize) -> Vec<BucketRollup> {
        let top = self.top_tables(top_n);
        let sources: Vec<SourceCounters> = shape
            .sources
            .iter()
            .zip(&self.sources)
            .map(|(name, c)| SourceCounters { source: name.clone(), counters: *c })
            .collect();
        shape
            .profiles
            .iter()
            .zip(&self.channels)
            .map(|((profile, names), counts)| BucketRollup {
                bucket: self.bucket,
                profile: profile.clone(),
                total: self.total,
                channels: names
                    .iter()
                    .zip(counts)
                    .map(|(n, c)| ChannelCounters { channel: n.clone(), counters: *c })
                    .collect(),
                sources: sources.clone(),
                top: top.clone(),
            })
            .collect()
    }
}

/// A worker's tables for every bucket it has seen since the last hand-over.
pub struct Aggregator {
    shape: Arc<Shape>,
    cap: usize,
    buckets: HashMap<u64, BucketTables>,
}

impl Aggregator {
    pub fn new(shape: Arc<Shape>, cap: usize) -> Aggregator {
        Aggregator { shape, cap, buckets: HashMap::new() }
    }

    pub fn shape(&self) -> &Arc<Shape> {
        &self.shape
    }

    /// Buckets with tables not yet handed over.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Counts `flow` in the bucket of its receive time.
    #[inline]
    pub fn add(&mut self, flow: &Flow, source: usize, profiles: &[CompiledProfile]) {
        let bucket = bucket_start(flow.received_ms);
        let (shape, cap) = (&self.shape, self.cap);
        self.buckets
            .entry(bucket)
            .or_insert_with(|| BucketTables::new(bucket, shape, cap))
            .add(flow, source, profiles);
    }

    /// Counts flows of one source: each run of flows in the same bucket (all the flows of
    /// a datagram share their receive time) costs one bucket lookup.
    pub fn add_batch(&mut self, flows: &[Flow], source: usize, profiles: &[CompiledProfile]) {
        for (bucket, run) in crate::flow::bucket_runs(flows) {
            let (shape, cap) = (&self.shape, self.cap);
            self.buckets
                .entry(bucket)
                .or_insert_with(|| BucketTables::new(bucket, shape, cap))
                .add_batch(run, source, profiles);
        }
    }

    /// Hands over everything counted so far (the tables start empty again).
    pub fn take(&mut self) -> Vec<BucketTables> {
        let mut v: Vec<BucketTables> = self
            .buckets
            .drain()
            .map(|(_, mut t)| {
                t.compact();
                t
            })
            .collect();
        v.sort_by_key(|t| t.bucket);
        v
    }

    /// Takes over a new shape (profiles changed): hands back what was counted under the old one.
    pub fn reshape(&mut self, shape: Arc<Shape>) -> Vec<BucketTables> {
        let old = self.take();
        self.shape = shape;
        old
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn c(bytes: u64) -> Counters {
        Counters { flows: 1, packets: 1, bytes }
    }

    #[test]
    fn top_counter_stays_bounded_and_exact_in_total() {
        let mut t = TopCounter::new(100);
        // One heavy hitter among a flood of unique light keys.
        t.add(u32::MAX, &c(1_000_000));
        let mut total = 1_000_000u64;
        for k in 0..10_000u32 {
            t.add(k, &c(10 + (k % 7) as u64));
            total += 10 + (k % 7) as u64;
            assert!(t.len() <= 100);
        }
        let (rows, other) = t.top(5);
        assert_eq!(rows[0], (u32::MAX, c(1_000_000)));
        let listed: u64 = rows.iter().map(|r| r.1.bytes).sum();
        assert_eq!(listed + other.bytes, total);
        assert_eq!(rows.len() as u64 + other.flows, 10_001);
        assert!(t.folded_keys > 0);
    }

    #[test]
    fn aggregator_splits_by_bucket_and_merges() {
        let shape = Arc::new(Shape {
            sources: vec!["a".into(), "b".into()],
            profiles: vec![("live".into(), vec![])],
        });
        let mut agg = Aggregator::new(shape.clone(), 1000);
        let base = 1_795_946_700_000u64; // a bucket start
        for i in 0..10u64 {
            let f = Flow {
                received_ms: base + i * 60_000, // 0..9 minutes: two buckets
                src_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, (i % 3) as u8)),
                dst_port: 443,
                packets: 2,
                bytes: 100,
                ..Flow::EMPTY
            };
            agg.add(&f, (i % 2) as usize, &[]);
        }
        let tables = agg.take();
        assert!(agg.is_empty());
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].total, Counters { flows: 5, packets: 10, bytes: 500 });
        let mut merged = tables[0].clone();
        merged.merge(&tables[1]);
        assert_eq!(merged.total.flows, 10);
        assert_eq!(merged.sources[0].flows + merged.sources[1].flows, 10);
        let rollups = merged.to_rollups(&shape, 10);
        assert_eq!(rollups.len(), 1);
        assert_eq!(rollups[0].sources[1].counters.flows, 5);
        let dst_ports = rollups[0].top.iter().find(|t| t.dimension == Dimension::DstPort).unwrap();
        assert_eq!(dst_ports.entries[0].key, "443");
        assert_eq!(dst_ports.entries[0].counters.flows, 10);
    }
}
