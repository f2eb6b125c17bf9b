//! The embedded store: raw flows in compressed columnar segment files (one per
//! worker and 5-minute bucket), rollups per profile in append logs with an
//! in-memory index, retention by age and size. On-disk format and crash-safety
//! rules: docs/storage.md.

mod blocks;
mod chunks;
mod codec;
mod columns;
pub mod layout;
mod reader;
mod retention;
mod rollups;
pub mod segment;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::flow::Flow;
use crate::rollup::BucketRollup;

pub use columns::Columns;
pub use reader::{ColumnValues, ReadBuffers, RowFilter, RowPredicate, ScanHint, SegmentOutcome, StageTest};
pub use writer::FlowWriter;

use layout::{parse_segment_name, FLOWS_DIR};

#[derive(Clone, Debug, Default)]
pub struct StoreConfig {
    /// Delete buckets older than this (NfSen's expire time); None = keep.
    pub max_age_secs: Option<u64>,
    /// Delete oldest buckets while the store is larger than this (NfSen's maxsize); None = no cap.
    pub max_bytes: Option<u64>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StoreUsage {
    pub bytes: u64,
    pub segments: u64,
    pub buckets: u64,
    /// Oldest and newest bucket start, UTC seconds.
    pub oldest_bucket: Option<u64>,
    pub newest_bucket: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct ScanStats {
    pub segments_read: u64,
    pub segments_skipped: u64,
    pub flows_read: u64,
    pub torn_blocks: u64,
    /// Blocks whose statistics (time range, hint) excluded them without decoding.
    pub blocks_skipped: u64,
    pub blocks_read: u64,
}

#[derive(Clone, Debug, Default)]
pub struct RetentionReport {
    pub buckets_deleted: u64,
    pub bytes_freed: u64,
}

/// Segment bytes and files of one bucket (usage cache).
#[derive(Clone, Copy, Debug, Default)]
struct BucketUsage {
    bytes: u64,
    segments: u64,
}

/// Shared between the `Store` handle and its writers.
pub(crate) struct Inner {
    dir: PathBuf,
    usage: Mutex<BTreeMap<u64, BucketUsage>>,
    rollups: rollups::RollupIndex,
    /// Held by retention while it deletes, so usage and files stay consistent.
    retention_lock: Mutex<()>,
    segment_read_errors: AtomicU64,
}

impl Inner {
    /// Turns an I/O error on the data directory into the message a person can act on.
    fn dir_error(&self, e: &std::io::Error) -> anyhow::Error {
        dir_error(&self.dir, e)
    }

    fn usage_adjust(&self, bucket: u64, bytes: i64, new_segment: bool) {
        let mut u = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let b = u.entry(bucket).or_default();
        b.bytes = b.bytes.saturating_add_signed(bytes);
        b.segments += u64::from(new_segment);
    }
}

fn dir_error(dir: &Path, e: &std::io::Error) -> anyhow::Error {
    let what = match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::StorageFull => "no space left on device".to_string(),
        _ => e.to_string(),
    };
    anyhow::anyhow!("cannot write to data directory {}: {what} (set --data or [store].dir)", dir.display())
}

/// One data directory. `Send + Sync`; share it as `Arc<Store>`.
pub struct Store {
    inner: Arc<Inner>,
    cfg: StoreConfig,
}

impl Store {
    /// Opens (creating if missing) the store in `dir`; fails with a clear message when the
    /// directory cannot be created or written.
    pub fn open(dir: &Path, cfg: StoreConfig) -> Result<Store> {
        std::fs::create_dir_all(dir.join(FLOWS_DIR)).map_err(|e| dir_error(dir, &e))?;
        let probe = dir.join(".wvnr-write-probe");
        std::fs::write(&probe, b"ok").map_err(|e| dir_error(dir, &e))?;
        let _ = std::fs::remove_file(&probe);
        Self::load(dir, cfg)
    }

    /// Opens an existing store without writing anything (for `wvnr query` on a live or
    /// read-only directory). Writers created from it fail if the directory is not writable.
    pub fn open_read_only(dir: &Path) -> Result<Store> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                anyhow::bail!("{} is not a directory (set --data to a wvnr data directory)", dir.display())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("no data directory {} (set --data to a wvnr data directory)", dir.display())
            }
            Err(e) => anyhow::bail!("cannot read data directory {}: {e} (set --data)", dir.display()),
        }
        std::fs::read_dir(dir)
            .with_context(|| format!("cannot read data directory {} (set --data)", dir.display()))?;
        Self::load(dir, StoreConfig::default())
    }

    fn load(dir: &Path, cfg: StoreConfig) -> Result<Store> {
        let mut usage = BTreeMap::new();
        for (bucket, path) in list_segments(dir, 0, u64::MAX)? {
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let u: &mut BucketUsage = usage.entry(bucket).or_default();
            u.bytes += len;
            u.segments += 1;
        }
        let rollups = rollups::RollupIndex::load(dir)?;
        let inner = Inner {
            dir: dir.to_path_buf(),
            usage: Mutex::new(usage),
            rollups,
            retention_lock: Mutex::new(()),
            segment_read_errors: AtomicU64::new(0),
        };
        Ok(Store { inner: Arc::new(inner), cfg })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// A writer owned by one worker thread (its own files: no locks between workers).
    /// Worker ids must be unique among the writers open on one data directory at a time.
    pub fn writer(&self, worker: u32) -> Result<FlowWriter> {
        Ok(FlowWriter::new(Arc::clone(&self.inner), worker))
    }

    /// Stores (replacing any earlier one of the same profile and bucket) a bucket's rollup.
    pub fn write_rollup(&self, rollup: &BucketRollup) -> Result<()> {
        self.inner.rollups.write(&self.inner.dir, rollup).map_err(|e| {
            match e.root_cause().downcast_ref::<std::io::Error>() {
                Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => self.inner.dir_error(io),
                _ => e,
            }
        })
    }

    /// Rollups of `profile` with bucket start in [from_s, to_s), by bucket.
    pub fn rollups(&self, profile: &str, from_s: u64, to_s: u64) -> Vec<BucketRollup> {
        self.inner.rollups.range(profile, from_s, to_s)
    }

    /// `rollups` without copying: shared handles to the indexed rollups (30 days of 5-minute
    /// buckets in well under a millisecond).
    pub fn rollups_shared(&self, profile: &str, from_s: u64, to_s: u64) -> Vec<Arc<BucketRollup>> {
        self.inner.rollups.range_shared(profile, from_s, to_s)
    }

    /// Profiles that have at least one stored rollup, sorted.
    pub fn rollup_profiles(&self) -> Vec<String> {
        self.inner.rollups.profiles()
    }

    /// Calls `f` (in parallel) with blocks of stored flows whose `received_ms` is in [from_ms, to_ms).
    pub fn scan<F: Fn(&[Flow]) + Sync>(&self, from_ms: u64, to_ms: u64, f: F) -> Result<ScanStats> {
        self.scan_with_hint(from_ms, to_ms, &ScanHint::default(), f)
    }

    /// `scan`, skipping blocks whose column statistics show no flow can satisfy `hint`
    /// (blocks that are read still contain flows that do not; the caller filters).
    pub fn scan_with_hint<F: Fn(&[Flow]) + Sync>(
        &self,
        from_ms: u64,
        to_ms: u64,
        hint: &ScanHint,
        f: F,
    ) -> Result<ScanStats> {
        self.scan_with_state(from_ms, to_ms, hint, || (), |_, flows| f(flows))
    }

    /// The general scan: each rayon worker gets its own state from `init` (e.g. a hash map to
    /// aggregate into without locks); `f` gets that state and a block.
    pub fn scan_with_state<S, I, F>(
        &self,
        from_ms: u64,
        to_ms: u64,
        hint: &ScanHint,
        init: I,
        f: F,
    ) -> Result<ScanStats>
    where
        S: Send,
        I: Fn() -> S + Sync + Send,
        F: Fn(&mut S, &[Flow]) + Sync + Send,
    {
        self.scan_selected(from_ms, to_ms, hint, None, init, |s, flows, _| f(s, flows))
    }

    /// `scan_with_state` with an optional row filter applied while decoding (`RowFilter`):
    /// `f` then gets only the kept flows of each block read (possibly none) and the number
    /// of the block's flows in the window.
    pub fn scan_selected<S, I, F>(
        &self,
        from_ms: u64,
        to_ms: u64,
        hint: &ScanHint,
        select: Option<&RowFilter>,
        init: I,
        f: F,
    ) -> Result<ScanStats>
    where
        S: Send,
        I: Fn() -> S + Sync + Send,
        F: Fn(&mut S, &[Flow], u64) + Sync + Send,
    {
        let mut stats = ScanStats::default();
        if from_ms >= to_ms {
            return Ok(stats);
        }
        // A segment holds flows of its bucket only: [bucket, bucket + 300 s).
        let from_bucket = crate::flow::bucket_start(from_ms);
        let to_s = to_ms.div_ceil(1000);
        let wanted = list_segments(&self.inner.dir, from_bucket, to_s)?;
        stats.segments_skipped = self.usage().segments.saturating_sub(wanted.len() as u64);
        let totals = Mutex::new(SegmentTotals::default());
        // One state per worker thread: `for_each_init` may make one per split job, and each
        // is a set of tables to fill, grow and merge (a million groups each for addresses).
        let slots: Vec<Mutex<Option<(ReadBuffers, S)>>> =
            (0..rayon::current_num_threads().max(1)).map(|_| Mutex::new(None)).collect();
        // Segments a round at a time (bounded open files): block headers first (a few small
        // reads per segment), then every wanted block of the round is a unit of work, so a
        // window within one segment is still read by every thread.
        for round in wanted.chunks(SEGMENTS_PER_ROUND) {
            let indexed: Vec<(&Path, std::io::Result<blocks::SegmentBlocks>)> = round
                .par_iter()
                .map(|(_, path)| (path.as_path(), blocks::index_segment(path, from_ms, to_ms, hint)))
                .collect();
            let mut units = Vec::new();
            {
                let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                for (path, res) in &indexed {
                    match res {
                        Ok(seg) => {
                            t.add(&seg.outcome);
                            units.extend(seg.blocks.iter().map(|b| (*path, &seg.file, b)));
                        }
                        // A segment deleted by retention during the scan is simply gone.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => t.error(&self.inner, path, e),
                    }
                }
            }
            units.par_iter().for_each(|(path, file, block)| {
                let i = rayon::current_thread_index().unwrap_or(0) % slots.len();
                let mut slot = slots[i].lock().unwrap_or_else(|e| e.into_inner());
                let (bufs, state) = slot.get_or_insert_with(|| (ReadBuffers::default(), init()));
                let res =
                    blocks::read_block(file, block, from_ms, to_ms, hint, select, bufs, &mut |flows, n| {
                        f(state, flows, n)
                    });
                drop(slot);
                let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                match res {
                    Ok(o) => t.add_blocks(&o),
                    Err(e) => t.error(&self.inner, path, &e),
                }
            });
        }
        // The states go (callers collect them as they drop) before the totals are read.
        drop(slots);
        let t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = t.errors.first() {
            anyhow::bail!("cannot read segment {first} ({} unreadable)", t.errors.len());
        }
        stats.segments_read = t.segments;
        stats.flows_read = t.out.flows_read;
        stats.torn_blocks = t.out.torn_blocks;
        stats.blocks_read = t.out.blocks_read;
        stats.blocks_skipped = t.out.blocks_skipped;
        Ok(stats)
    }

    /// Total bytes, segments and buckets (from a cache kept up to date by writers and retention).
    pub fn usage(&self) -> StoreUsage {
        let u = self.inner.usage.lock().unwrap_or_else(|e| e.into_inner());
        StoreUsage {
            bytes: u.values().map(|b| b.bytes).sum(),
            segments: u.values().map(|b| b.segments).sum(),
            buckets: u.len() as u64,
            oldest_bucket: u.keys().next().copied(),
            newest_bucket: u.keys().next_back().copied(),
        }
    }

    /// Deletes whole buckets, oldest first, older than `max_age_secs` or while over `max_bytes`.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        retention::enforce(&self.inner, &self.cfg, now)
    }

    /// `enforce_retention` as of `now_s` (UTC seconds), for tests and backfills.
    pub fn enforce_retention_at(&self, now_s: u64) -> Result<RetentionReport> {
        retention::enforce(&self.inner, &self.cfg, now_s)
    }
}

/// Segments a scan opens at once.
const SEGMENTS_PER_ROUND: usize = 64;

#[derive(Default)]
struct SegmentTotals {
    segments: u64,
    out: SegmentOutcome,
    errors: Vec<String>,
}

impl SegmentTotals {
    /// A segment's header walk.
    fn add(&mut self, o: &SegmentOutcome) {
        self.segments += 1;
        self.add_blocks(o);
    }

    fn error(&mut self, inner: &Inner, path: &Path, e: &std::io::Error) {
        inner.segment_read_errors.fetch_add(1, Ordering::Relaxed);
        self.errors.push(format!("{}: {e}", path.display()));
    }

    fn add_blocks(&mut self, o: &SegmentOutcome) {
        self.out.blocks_read += o.blocks_read;
        self.out.blocks_skipped += o.blocks_skipped;
        self.out.flows_read += o.flows_read;
        self.out.torn_blocks += o.torn_blocks;
    }
}

/// Segment files with bucket in [from_s, to_s), as (bucket, path), sorted by bucket.
/// Year / month / day directories outside the range are not listed.
pub(crate) fn list_segments(root: &Path, from_s: u64, to_s: u64) -> Result<Vec<(u64, PathBuf)>> {
    let base = root.join(FLOWS_DIR);
    let mut out = Vec::new();
    let lo = layout::ymd(from_s);
    let hi = layout::ymd(to_s.saturating_sub(1));
    let read = |p: &Path| -> Result<Vec<(u32, PathBuf)>> {
        let rd = match std::fs::read_dir(p) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {} (check --data)", p.display())),
        };
        Ok(rd
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
            .collect())
    };
    for (y, yp) in read(&base)? {
        if (y as i32) < lo.0 || (y as i32) > hi.0 {
            continue;
        }
        for (m, mp) in read(&yp)? {
            if (y as i32, m) < (lo.0, lo.1) || (y as i32, m) > (hi.0, hi.1) {
                continue;
            }
            for (d, dp) in read(&mp)? {
                let ymd = (y as i32, m, d);
                if ymd < lo || ymd > hi {
                    continue;
                }
                let Ok(rd) = std::fs::read_dir(&dp) else { continue };
                for e in rd.flatten() {
                    let name = e.file_name();
                    let Some(b) = name.to_str().and_then(parse_segment_name) else { continue };
                    if b >= from_s && b < to_s {
                        out.push((b, e.path()));
                    }
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<super::Store>();
        shared::<std::sync::Arc<super::Store>>();
        fn sendable<T: Send>() {}
        sendable::<super::FlowWriter>();
    }
}
