//! What has been shipped, kept durable in DATA/export/clickhouse-<target>.json
//! (written to a temp file, fsynced, renamed). The store is the spool: this file only
//! says how far into it the exporter got, so a restart resumes where it stopped and
//! anything re-sent after a crash replaces itself in ClickHouse.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Watermark {
    pub format: u32,
    /// Per profile.
    pub rollups: BTreeMap<String, RollupMark>,
    pub raw: RawMark,
}

/// Rollups of one profile: every stored bucket below `floor` has been dealt with (shipped,
/// or gone before it could be); `shipped` lists the buckets shipped at or above it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RollupMark {
    pub floor: u64,
    pub shipped: BTreeSet<u64>,
}

/// Raw flows: every segment of a bucket below `floor` has been shipped to its end;
/// `segments` holds the position reached in each segment at or above it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawMark {
    pub floor: u64,
    /// Keyed "<bucket>-w<worker>".
    pub segments: BTreeMap<String, SegmentMark>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentMark {
    pub bucket: u64,
    pub worker: u32,
    /// Byte offset of the first block not yet shipped (0 = nothing read yet).
    pub offset: u64,
    /// File length when last looked at (to count what retention deleted unshipped).
    pub seen_len: u64,
}

pub fn segment_key(bucket: u64, worker: u32) -> String {
    format!("{bucket}-w{worker}")
}

/// DATA/export/clickhouse-<target>.json, target from the first url and the database,
/// so pointing the collector at another server starts that server from the beginning.
pub fn path_for(data_dir: &Path, first_url: &str, database: &str) -> PathBuf {
    let host = first_url.split_once("://").map_or(first_url, |(_, rest)| rest);
    let target: String = format!("{host}-{database}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    data_dir.join("export").join(format!("clickhouse-{target}.json"))
}

impl Watermark {
    /// The saved watermark; a fresh one when there is none. An unreadable file is reported and
    /// replaced by a fresh one: re-sending everything is safe (rows replace themselves).
    pub fn load(path: &Path) -> Watermark {
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Watermark>(&bytes) {
                Ok(w) if w.format == FORMAT_VERSION => w,
                Ok(w) => {
                    tracing::warn!(path = %path.display(), format = w.format, "unknown watermark format: re-exporting");
                    Watermark::default()
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "unreadable watermark ({e}): re-exporting");
                    Watermark::default()
                }
            },
            Err(_) => Watermark::default(),
        }
    }

    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.format = FORMAT_VERSION;
        let dir = path.parent().context("watermark path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec(self)?)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename {}", tmp.display()))?;
        crate::store::layout::sync_dir(dir).ok();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_roundtrip_and_garbage() {
        let d = tempfile::tempdir().unwrap();
        let p = path_for(d.path(), "http://127.0.0.1:8123", "wvnr");
        assert!(p.ends_with("export/clickhouse-127.0.0.1_8123-wvnr.json"));
        assert_eq!(Watermark::load(&p), Watermark::default());
        let mut w = Watermark::default();
        w.rollups.entry("live".into()).or_default().shipped.insert(300);
        w.raw
            .segments
            .insert(segment_key(300, 1), SegmentMark { bucket: 300, worker: 1, offset: 99, seen_len: 99 });
        w.save(&p).unwrap();
        assert_eq!(Watermark::load(&p), w);
        std::fs::write(&p, b"{not json").unwrap();
        assert_eq!(Watermark::load(&p), Watermark::default());
    }
}
