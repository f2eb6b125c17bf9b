//! Retention (NfSen's expire and maxsize): delete whole buckets, oldest first.
//!
//! The newest bucket is never deleted by the size rule (writers are appending to it);
//! a writer that still holds an older segment open keeps writing into the unlinked
//! file, which the file system frees when the writer closes it.

use anyhow::{Context, Result};

use crate::flow::BUCKET_SECONDS;

use super::layout::{day_dir, parse_segment_name, sync_dir};
use super::{Inner, RetentionReport, StoreConfig};

pub(super) fn enforce(inner: &Inner, cfg: &StoreConfig, now_s: u64) -> Result<RetentionReport> {
    let _guard = inner.retention_lock.lock().unwrap_or_else(|e| e.into_inner());
    let doomed: Vec<(u64, u64)> = {
        let usage = inner.usage.lock().unwrap_or_else(|e| e.into_inner());
        let mut total: u64 = usage.values().map(|b| b.bytes).sum();
        let newest = usage.keys().next_back().copied();
        let mut doomed = Vec::new();
        for (&bucket, u) in usage.iter() {
            let too_old =
                cfg.max_age_secs.is_some_and(|age| bucket + BUCKET_SECONDS <= now_s.saturating_sub(age));
            let too_big = cfg.max_bytes.is_some_and(|max| total > max) && Some(bucket) != newest;
            if !too_old && !too_big {
                break;
            }
            doomed.push((bucket, u.bytes));
            total = total.saturating_sub(u.bytes);
        }
        doomed
    };
    let mut report = RetentionReport::default();
    let mut deleted = Vec::new();
    for (bucket, _) in &doomed {
        let freed = delete_bucket_segments(inner, *bucket)?;
        inner.usage.lock().unwrap_or_else(|e| e.into_inner()).remove(bucket);
        report.buckets_deleted += 1;
        report.bytes_freed += freed;
        deleted.push(*bucket);
    }
    inner.rollups.delete_buckets(&inner.dir, &deleted)?;
    if report.buckets_deleted > 0 {
        tracing::info!(
            buckets = report.buckets_deleted,
            bytes = report.bytes_freed,
            "retention deleted old buckets"
        );
    }
    Ok(report)
}

/// Removes every segment of `bucket` (all workers); removes the day directory when it is empty.
fn delete_bucket_segments(inner: &Inner, bucket: u64) -> Result<u64> {
    let dir = day_dir(&inner.dir, bucket);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut freed = 0;
    for e in rd.flatten() {
        if e.file_name().to_str().and_then(parse_segment_name) != Some(bucket) {
            continue;
        }
        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
        match std::fs::remove_file(e.path()) {
            Ok(()) => freed += len,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(inner.dir_error(&err)),
        }
    }
    sync_dir(&dir).ok();
    // Empty day / month / year directories go too (remove_dir fails on non-empty ones).
    let mut d = dir.as_path();
    for _ in 0..3 {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    Ok(freed)
}
