//! Where things live under the data directory.
//!
//! ```text
//! DIR/flows/YYYY/MM/DD/<bucket>-w<worker>.seg   raw flows of one worker in one 5-minute bucket
//! DIR/rollups/<profile>/YYYY-MM-DD.jsonl         rollups of one profile and UTC day (append log)
//! ```

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike};

pub const FLOWS_DIR: &str = "flows";
pub const ROLLUPS_DIR: &str = "rollups";
pub const SEGMENT_EXT: &str = "seg";

/// (year, month, day) of a UTC time in seconds.
pub fn ymd(unix_s: u64) -> (i32, u32, u32) {
    // Clamped to the last second of year 9999 so open-ended ranges (u64::MAX) stay ordered.
    const MAX_S: u64 = 253_402_300_799;
    let t = DateTime::from_timestamp(unix_s.min(MAX_S) as i64, 0).unwrap_or_default();
    (t.year(), t.month(), t.day())
}

pub fn day_dir(root: &Path, bucket: u64) -> PathBuf {
    let (y, m, d) = ymd(bucket);
    root.join(FLOWS_DIR).join(format!("{y:04}")).join(format!("{m:02}")).join(format!("{d:02}"))
}

pub fn segment_path(root: &Path, bucket: u64, worker: u32) -> PathBuf {
    day_dir(root, bucket).join(format!("{bucket}-w{worker}.{SEGMENT_EXT}"))
}

/// Bucket of a segment file name (`<bucket>-w<worker>.seg`), None for anything else.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".seg")?;
    let (bucket, worker) = stem.split_once("-w")?;
    worker.parse::<u32>().ok()?;
    let b = bucket.parse::<u64>().ok()?;
    (b % crate::flow::BUCKET_SECONDS == 0).then_some(b)
}

/// Profile names become directory names: keep [A-Za-z0-9_-] and %-escape every other byte
/// (so "../x" cannot leave the rollups directory and distinct names stay distinct).
pub fn profile_dir_name(profile: &str) -> String {
    let mut s = String::with_capacity(profile.len());
    for b in profile.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.is_empty() {
        s.push_str("%00");
    }
    s
}

pub fn rollup_day_file(root: &Path, profile: &str, bucket: u64) -> PathBuf {
    let (y, m, d) = ymd(bucket);
    root.join(ROLLUPS_DIR).join(profile_dir_name(profile)).join(format!("{y:04}-{m:02}-{d:02}.jsonl"))
}

/// fsync a directory so a created, renamed or deleted entry survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_names() {
        let p = segment_path(Path::new("/d"), 1_795_946_700, 3);
        assert_eq!(p, Path::new("/d/flows/2026/11/29/1795946700-w3.seg"));
        assert_eq!(parse_segment_name("1795946700-w3.seg"), Some(1_795_946_700));
        assert_eq!(parse_segment_name("1795946701-w3.seg"), None);
        assert_eq!(parse_segment_name("1795946700-w3.seg.tmp"), None);
        assert_eq!(profile_dir_name("../live"), "%2E%2E%2Flive");
        assert_eq!(profile_dir_name("live"), "live");
    }
}
