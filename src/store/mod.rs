//! SCAFFOLD: the embedded store. Only the public shape is fixed here so the
//! collector, web and generator compile against it; bodies are placeholders.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::flow::Flow;
use crate::rollup::BucketRollup;

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
}

#[derive(Clone, Debug, Default)]
pub struct RetentionReport {
    pub buckets_deleted: u64,
    pub bytes_freed: u64,
}

/// One data directory. `Send + Sync`; share it as `Arc<Store>`.
pub struct Store {
    dir: PathBuf,
    cfg: StoreConfig,
}

impl Store {
    /// Opens (creating if missing) the store in `dir`.
    pub fn open(dir: &Path, cfg: StoreConfig) -> Result<Store> {
        Ok(Store { dir: dir.to_path_buf(), cfg })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// A writer owned by one worker thread (its own files: no locks between workers).
    pub fn writer(&self, worker: u32) -> Result<FlowWriter> {
        Ok(FlowWriter { _worker: worker })
    }

    /// Stores (replacing any earlier one of the same profile and bucket) a bucket's rollup.
    pub fn write_rollup(&self, _rollup: &BucketRollup) -> Result<()> {
        Ok(())
    }

    /// Rollups of `profile` with bucket start in [from_s, to_s), by bucket.
    pub fn rollups(&self, _profile: &str, _from_s: u64, _to_s: u64) -> Vec<BucketRollup> {
        Vec::new()
    }

    /// Calls `f` (in parallel) with blocks of stored flows whose `received_ms` is in [from_ms, to_ms).
    pub fn scan<F: Fn(&[Flow]) + Sync>(&self, _from_ms: u64, _to_ms: u64, _f: F) -> Result<ScanStats> {
        Ok(ScanStats::default())
    }

    pub fn usage(&self) -> StoreUsage {
        StoreUsage::default()
    }

    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        Ok(RetentionReport::default())
    }
}

/// Appends flows to the current bucket's segment of one worker.
pub struct FlowWriter {
    _worker: u32,
}

impl FlowWriter {
    /// Buffers `flow` in the segment of its bucket (by `received_ms`).
    pub fn append(&mut self, _flow: &Flow) -> Result<()> {
        Ok(())
    }

    /// Makes everything appended so far durable (a checksummed block).
    pub fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// Flushes and closes every open segment.
    pub fn finish(self) -> Result<()> {
        Ok(())
    }
}
