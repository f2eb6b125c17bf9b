//! Rollups: one append log per (profile, UTC day) of JSON lines, last writer wins,
//! plus an in-memory index (loaded at open, updated on write) that answers range queries.
//!
//! Each record is written as `\n{json}\n` with one `write` and an fsync: a torn record
//! from a crash is a line that does not parse (skipped on load), and the leading newline
//! keeps the next record from being glued to it. A day file is rewritten (temp file +
//! rename) when more than half of its lines are superseded.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context, Result};
use hashbrown::HashMap;

use crate::rollup::BucketRollup;

use super::layout::{rollup_day_file, sync_dir, ymd, ROLLUPS_DIR};

#[derive(Default)]
pub(super) struct RollupIndex {
    /// Shared (`Arc`) so range reads can hand out rollups without deep copies.
    by_profile: RwLock<HashMap<String, BTreeMap<u64, Arc<BucketRollup>>>>,
    /// Lines per day file (to decide when to compact); also serializes writers of the logs.
    lines: Mutex<HashMap<PathBuf, u64>>,
    /// Lines that did not parse at load (torn records).
    pub(super) bad_lines: std::sync::atomic::AtomicU64,
}

impl RollupIndex {
    /// Loads every day file under DIR/rollups.
    pub(super) fn load(root: &Path) -> Result<RollupIndex> {
        let idx = RollupIndex::default();
        let base = root.join(ROLLUPS_DIR);
        let Ok(profiles) = std::fs::read_dir(&base) else {
            return Ok(idx);
        };
        let mut map = HashMap::new();
        let mut lines = HashMap::new();
        let mut bad = 0;
        for p in profiles.flatten() {
            let Ok(days) = std::fs::read_dir(p.path()) else { continue };
            for d in days.flatten() {
                let path = d.path();
                if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
                    continue;
                }
                let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                let mut n = 0;
                for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    n += 1;
                    match serde_json::from_slice::<BucketRollup>(line) {
                        Ok(r) => {
                            map.entry(r.profile.clone())
                                .or_insert_with(BTreeMap::new)
                                .insert(r.bucket, Arc::new(r));
                        }
                        Err(_) => bad += 1,
                    }
                }
                lines.insert(path, n);
            }
        }
        if bad > 0 {
            tracing::warn!(lines = bad, "skipped rollup records that do not parse (torn by a crash?)");
        }
        *idx.by_profile.write().unwrap_or_else(|e| e.into_inner()) = map;
        *idx.lines.lock().unwrap_or_else(|e| e.into_inner()) = lines;
        idx.bad_lines.store(bad, std::sync::atomic::Ordering::Relaxed);
        Ok(idx)
    }

    pub(super) fn write(&self, root: &Path, rollup: &BucketRollup) -> Result<()> {
        let path = rollup_day_file(root, &rollup.profile, rollup.bucket);
        let mut rec = Vec::with_capacity(1024);
        rec.push(b'\n');
        serde_json::to_writer(&mut rec, rollup)?;
        rec.push(b'\n');
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let dir = path.parent().expect("day files live in a profile directory");
        if !dir.exists() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let _ = sync_dir(dir.parent().unwrap_or(dir));
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write rollups to {}", path.display()))?;
        f.write_all(&rec).with_context(|| format!("cannot append to {}", path.display()))?;
        f.sync_data()?;
        let n = lines.entry(path.clone()).or_insert(0);
        if *n == 0 {
            sync_dir(dir)?;
        }
        *n += 1;
        let n = *n;
        {
            let mut map = self.by_profile.write().unwrap_or_else(|e| e.into_inner());
            map.entry(rollup.profile.clone()).or_default().insert(rollup.bucket, Arc::new(rollup.clone()));
        }
        let live = self.day_count(&rollup.profile, rollup.bucket);
        if n > 2 * live + 8 {
            self.rewrite_day(&path, &rollup.profile, rollup.bucket)?;
            lines.insert(path, live);
        }
        Ok(())
    }

    /// Rollups of the same profile and UTC day as `bucket` currently in the index.
    fn day_count(&self, profile: &str, bucket: u64) -> u64 {
        let (start, end) = day_range(bucket);
        let map = self.by_profile.read().unwrap_or_else(|e| e.into_inner());
        map.get(profile).map_or(0, |m| m.range(start..end).count() as u64)
    }

    /// Rewrites the day file of (profile, bucket's day) from the index, atomically.
    fn rewrite_day(&self, path: &Path, profile: &str, bucket: u64) -> Result<()> {
        let (start, end) = day_range(bucket);
        let mut text = Vec::new();
        {
            let map = self.by_profile.read().unwrap_or_else(|e| e.into_inner());
            for r in map.get(profile).into_iter().flat_map(|m| m.range(start..end).map(|(_, r)| r)) {
                serde_json::to_writer(&mut text, r.as_ref())?;
                text.push(b'\n');
            }
        }
        let dir = path.parent().expect("day files live in a profile directory");
        if text.is_empty() {
            match std::fs::remove_file(path) {
                Ok(()) => sync_dir(dir)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot delete {}", path.display())),
            }
            return Ok(());
        }
        let tmp = path.with_extension("jsonl.tmp");
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&text)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
        sync_dir(dir)?;
        Ok(())
    }

    pub(super) fn range(&self, profile: &str, from_s: u64, to_s: u64) -> Vec<BucketRollup> {
        if from_s >= to_s {
            return Vec::new();
        }
        let map = self.by_profile.read().unwrap_or_else(|e| e.into_inner());
        map.get(profile)
            .map_or_else(Vec::new, |m| m.range(from_s..to_s).map(|(_, r)| (**r).clone()).collect())
    }

    pub(super) fn range_shared(&self, profile: &str, from_s: u64, to_s: u64) -> Vec<Arc<BucketRollup>> {
        if from_s >= to_s {
            return Vec::new();
        }
        let map = self.by_profile.read().unwrap_or_else(|e| e.into_inner());
        map.get(profile)
            .map_or_else(Vec::new, |m| m.range(from_s..to_s).map(|(_, r)| Arc::clone(r)).collect())
    }

    pub(super) fn profiles(&self) -> Vec<String> {
        let map = self.by_profile.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = map.keys().cloned().collect();
        v.sort();
        v
    }

    /// Drops the rollups of `buckets` (sorted) of every profile, rewriting the day files involved.
    pub(super) fn delete_buckets(&self, root: &Path, buckets: &[u64]) -> Result<()> {
        if buckets.is_empty() {
            return Ok(());
        }
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let mut touched: Vec<(String, u64)> = Vec::new();
        {
            let mut map = self.by_profile.write().unwrap_or_else(|e| e.into_inner());
            for (profile, m) in map.iter_mut() {
                for b in buckets {
                    if m.remove(b).is_some() {
                        let day = day_range(*b).0;
                        if touched.last() != Some(&(profile.clone(), day)) {
                            touched.push((profile.clone(), day));
                        }
                    }
                }
            }
            map.retain(|_, m| !m.is_empty());
        }
        for (profile, day) in touched {
            let path = rollup_day_file(root, &profile, day);
            self.rewrite_day(&path, &profile, day)?;
            let live = self.day_count(&profile, day);
            lines.insert(path, live);
        }
        Ok(())
    }
}

/// [start, end) of the UTC day containing `bucket`, in seconds.
fn day_range(bucket: u64) -> (u64, u64) {
    let start = bucket - bucket % 86_400;
    debug_assert_eq!(ymd(start), ymd(bucket));
    (start, start + 86_400)
}
