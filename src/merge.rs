//! The merge: workers hand their tables over a bounded channel every couple of
//! seconds; the merge adds them into the open buckets, publishes the live view,
//! and once a bucket is closed (its end plus a grace period has passed) turns
//! it into one rollup per profile and stores it.
//!
//! Rollups are derived data: raw flows are the truth. After a restart the open
//! bucket is seeded from the flows already stored in it, and buckets that have
//! flows but no rollup (a crash, a backfill, `wvnr ingest`) are rebuilt from
//! the raw flows (`rebuild`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use hashbrown::HashMap;
use rayon::prelude::*;

use crate::aggregate::{Aggregator, BucketTables, Shape, MERGE_TOP_CAP, ROLLUP_TOP_N};
use crate::channels::{ProfileRegistry, ProfileSet};
use crate::decode::stats::DecodeStats;
use crate::flow::{bucket_start, BUCKET_SECONDS};
use crate::live::{ExporterStatus, LiveSnapshot, LiveStatus, WorkerStatus};
use crate::sources::SourceRouter;
use crate::store::{ScanHint, Store};

/// What a worker sends to the merge.
pub enum WorkerMessage {
    /// Everything counted since the last hand-over, under `shape`.
    Tables { shape: Arc<Shape>, tables: Vec<BucketTables> },
    /// The worker's counters and its view of the exporters it serves.
    Status { status: WorkerStatus, exporters: Vec<ExporterStatus>, decode: DecodeStats },
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Clone, Debug)]
pub struct MergeConfig {
    /// A bucket is closed this long after its end (workers hand over every ~2 s).
    pub grace_ms: u64,
    /// How often the live view is published.
    pub publish_ms: u64,
    /// How often retention runs.
    pub retention_ms: u64,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig { grace_ms: 5_000, publish_ms: 2_000, retention_ms: 60_000 }
    }
}

pub struct Merger {
    cfg: MergeConfig,
    store: Arc<Store>,
    live: Arc<LiveStatus>,
    registry: Arc<ProfileRegistry>,
    set: Arc<ProfileSet>,
    open: BTreeMap<u64, BucketTables>,
    workers: BTreeMap<u32, WorkerStatus>,
    exporters: BTreeMap<(u32, Option<IpAddr>, String, String), ExporterStatus>,
    decode: BTreeMap<u32, DecodeStats>,
    /// flows per exporter at the previous publish, for rates
    previous_flows: HashMap<(Option<IpAddr>, String, String), (u64, u64)>,
    started_ms: u64,
    pub rollups_written: u64,
    pub store_errors: u64,
}

impl Merger {
    pub fn new(
        cfg: MergeConfig,
        store: Arc<Store>,
        live: Arc<LiveStatus>,
        registry: Arc<ProfileRegistry>,
    ) -> Self {
        let set = registry.current();
        Merger {
            cfg,
            store,
            live,
            registry,
            set,
            open: BTreeMap::new(),
            workers: BTreeMap::new(),
            exporters: BTreeMap::new(),
            decode: BTreeMap::new(),
            previous_flows: HashMap::new(),
            started_ms: now_ms(),
            rollups_written: 0,
            store_errors: 0,
        }
    }

    /// Adds tables counted under `shape` into the open buckets.
    pub fn add_tables(&mut self, shape: &Arc<Shape>, tables: Vec<BucketTables>) {
        self.refresh_profiles();
        for t in tables {
            let t = if Arc::ptr_eq(shape, &self.set.shape) { t } else { t.remap(shape, &self.set.shape) };
            match self.open.get_mut(&t.bucket) {
                Some(open) => open.merge(&t),
                None => {
                    let mut fresh = BucketTables::new(t.bucket, &self.set.shape, MERGE_TOP_CAP);
                    fresh.merge(&t);
                    self.open.insert(t.bucket, fresh);
                }
            }
        }
    }

    pub fn accept(&mut self, msg: WorkerMessage) {
        match msg {
            WorkerMessage::Tables { shape, tables } => self.add_tables(&shape, tables),
            WorkerMessage::Status { status, exporters, decode } => {
                let id = status.id;
                self.exporters.retain(|k, _| k.0 != id);
                for e in exporters {
                    self.exporters.insert((id, e.address, e.source.clone(), e.protocol.clone()), e);
                }
                self.decode.insert(id, decode);
                self.workers.insert(id, status);
            }
        }
    }

    /// Picks up a new profile generation: open buckets are laid out for it.
    fn refresh_profiles(&mut self) {
        if self.registry.generation() == self.set.generation {
            return;
        }
        let next = self.registry.current();
        let old = std::mem::take(&mut self.open);
        self.open = old.into_iter().map(|(b, t)| (b, t.remap(&self.set.shape, &next.shape))).collect();
        self.set = next;
    }

    /// Stores the rollups of every bucket that closed before `now_ms`; returns how many buckets.
    pub fn finalize_due(&mut self, now_ms: u64) -> usize {
        let due: Vec<u64> = self
            .open
            .keys()
            .copied()
            .filter(|b| (b + BUCKET_SECONDS) * 1000 + self.cfg.grace_ms <= now_ms)
            .collect();
        for b in &due {
            if let Some(t) = self.open.remove(b) {
                self.store_bucket(&t);
            }
        }
        if !due.is_empty() {
            release_freed_memory();
        }
        due.len()
    }

    /// Stores every open bucket as it stands (shutdown: a restart re-seeds the open one from raw flows).
    pub fn finalize_all(&mut self) {
        let open = std::mem::take(&mut self.open);
        for t in open.values() {
            self.store_bucket(t);
        }
    }

    fn store_bucket(&mut self, t: &BucketTables) {
        for r in t.to_rollups(&self.set.shape, ROLLUP_TOP_N) {
            match self.store.write_rollup(&r) {
                Ok(()) => self.rollups_written += 1,
                Err(e) => {
                    self.store_errors += 1;
                    tracing::error!("cannot store the rollup of bucket {} ({}): {e:#}", r.bucket, r.profile);
                }
            }
        }
        if t.folded_keys() > 0 {
            tracing::info!(
                "bucket {}: {} low-volume keys summarized as 'other' (top-N tables are capped)",
                t.bucket,
                t.folded_keys()
            );
        }
    }

    /// Builds and publishes the live view: open buckets (partial), exporters, workers.
    pub fn publish(&mut self, now_ms: u64) {
        self.refresh_profiles();
        let open_buckets =
            self.open.values().next_back().map(|t| t.to_rollups(&self.set.shape, 10)).unwrap_or_default();
        let mut exporters: Vec<ExporterStatus> = Vec::with_capacity(self.exporters.len());
        let mut by_key: BTreeMap<(Option<IpAddr>, String, String), ExporterStatus> = BTreeMap::new();
        for ((_, addr, source, protocol), e) in &self.exporters {
            let key = (*addr, source.clone(), protocol.clone());
            match by_key.get_mut(&key) {
                Some(acc) => {
                    acc.datagrams += e.datagrams;
                    acc.flows += e.flows;
                    acc.packets += e.packets;
                    acc.bytes += e.bytes;
                    acc.missing_flows += e.missing_flows;
                    acc.missing_datagrams += e.missing_datagrams;
                    acc.decode_errors += e.decode_errors;
                    acc.templates = acc.templates.max(e.templates);
                    acc.sampling = acc.sampling.or(e.sampling);
                    acc.last_seen_ms = acc.last_seen_ms.max(e.last_seen_ms);
                }
                None => {
                    by_key.insert(key, e.clone());
                }
            }
        }
        for (key, mut e) in by_key {
            let (prev_flows, prev_ms) = self.previous_flows.get(&key).copied().unwrap_or((e.flows, now_ms));
            let secs = (now_ms.saturating_sub(prev_ms)) as f64 / 1000.0;
            e.flow_rate = if secs > 0.0 { e.flows.saturating_sub(prev_flows) as f64 / secs } else { 0.0 };
            self.previous_flows.insert(key, (e.flows, now_ms));
            exporters.push(e);
        }
        self.live.publish(LiveSnapshot {
            updated_ms: now_ms,
            started_ms: self.started_ms,
            open_buckets,
            exporters,
            workers: self.workers.values().cloned().collect(),
        });
    }

    pub fn decode_totals(&self) -> DecodeStats {
        let mut total = DecodeStats::default();
        for d in self.decode.values() {
            total.merge(d);
        }
        total
    }

    /// Receives until every worker has hung up (they send their last tables
    /// first), then stores every open bucket.
    pub fn run(mut self, rx: Receiver<WorkerMessage>) -> Self {
        let mut last_publish = 0u64;
        let mut last_retention = now_ms();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(msg) => self.accept(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = now_ms();
            if now >= last_publish + self.cfg.publish_ms {
                self.finalize_due(now);
                self.publish(now);
                last_publish = now;
            }
            if now >= last_retention + self.cfg.retention_ms {
                last_retention = now;
                match self.store.enforce_retention() {
                    Ok(r) if r.buckets_deleted > 0 => tracing::info!(
                        "retention: deleted {} buckets, freed {} bytes",
                        r.buckets_deleted,
                        r.bytes_freed
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!("retention failed: {e:#}"),
                }
            }
        }
        self.finalize_all();
        self.publish(now_ms());
        self
    }
}

/// Hands the heap's free pages back to the kernel. A closed bucket frees the merge's
/// tables and the workers' hand-overs (up to `MERGE_TOP_CAP` rows per dimension), but
/// glibc keeps freed memory in its arenas: without this the resident size only ever
/// steps up at bucket boundaries. Once per closed bucket, so its cost (a walk of the
/// free lists) does not matter.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Counts the stored raw flows of [from_ms, to_ms) into bucket tables (in parallel).
pub fn aggregate_stored(
    store: &Store,
    set: &ProfileSet,
    router: &SourceRouter,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<BucketTables>> {
    let merged: Mutex<BTreeMap<u64, BucketTables>> = Mutex::new(BTreeMap::new());
    /// One aggregator per scan thread, across blocks (a new one per block zeroed the
    /// direct-indexed tables' indexes for every block), handed to `merged` when it holds a
    /// few buckets (a day's scan must not keep a table per bucket per thread) and at the end.
    struct Local<'a> {
        agg: Aggregator,
        merged: &'a Mutex<BTreeMap<u64, BucketTables>>,
    }
    impl Local<'_> {
        fn hand_over(&mut self) {
            let tables = self.agg.take();
            let mut m = self.merged.lock().unwrap_or_else(|e| e.into_inner());
            for t in tables {
                match m.get_mut(&t.bucket) {
                    Some(x) => x.merge(&t),
                    None => {
                        m.insert(t.bucket, t);
                    }
                }
            }
        }
    }
    impl Drop for Local<'_> {
        fn drop(&mut self) {
            self.hand_over();
        }
    }
    store.scan_with_state(
        from_ms,
        to_ms,
        &ScanHint::default(),
        || Local { agg: Aggregator::new(set.shape.clone(), MERGE_TOP_CAP), merged: &merged },
        |local, block| {
            for f in block {
                local.agg.add(f, router.source_for_stored(f), &set.compiled);
            }
            if local.agg.bucket_count() > 2 {
                local.hand_over();
            }
        },
    )?;
    // rayon's per-thread states are dropped when the scan returns: every Local has handed over.
    Ok(merged.into_inner().unwrap_or_else(|e| e.into_inner()).into_values().collect())
}

/// Rebuilds, from raw flows, the rollups of closed buckets in [from_s, to_s)
/// that have flows but no rollup (for the first profile). Returns how many buckets.
pub fn rebuild_missing_rollups(
    store: &Store,
    set: &ProfileSet,
    router: &SourceRouter,
    from_s: u64,
    to_s: u64,
) -> Result<usize> {
    let Some((first_profile, _)) = set.shape.profiles.first() else { return Ok(0) };
    let have: std::collections::HashSet<u64> =
        store.rollups(first_profile, from_s, to_s).iter().map(|r| r.bucket).collect();
    let tables = aggregate_stored(store, set, router, from_s * 1000, to_s * 1000)?;
    let missing: Vec<&BucketTables> = tables.iter().filter(|t| !have.contains(&t.bucket)).collect();
    let rollups: Vec<_> = missing.par_iter().flat_map(|t| t.to_rollups(&set.shape, ROLLUP_TOP_N)).collect();
    for r in &rollups {
        store.write_rollup(r)?;
    }
    Ok(missing.len())
}

/// The open bucket's flows already stored (a restart mid-bucket), as tables to seed the merge with.
pub fn seed_open_bucket(
    store: &Store,
    set: &ProfileSet,
    router: &SourceRouter,
    now_ms: u64,
) -> Result<Vec<BucketTables>> {
    let from = bucket_start(now_ms) * 1000;
    aggregate_stored(store, set, router, from, now_ms + 1)
}
