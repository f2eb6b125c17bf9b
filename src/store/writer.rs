//! One worker's writer: a buffer and an open segment file per bucket it is
//! currently receiving flows for. No locks are shared with other workers except
//! the usage counters, touched once per block.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use hashbrown::HashMap;

use crate::flow::{bucket_runs, Flow};

use super::blocks::verify_segment;
use super::layout::{segment_path, sync_dir};
use super::segment::{file_header, BlockEncoder, BLOCK_FLOWS};
use super::Inner;

/// At most this many segment files open per writer; the least recently used one is closed
/// (after writing its buffer) when a flow for yet another bucket arrives.
const MAX_OPEN_SEGMENTS: usize = 8;

struct OpenSegment {
    file: File,
    path: PathBuf,
    /// Bytes of complete blocks in the file: a failed write is cut back to this.
    len: u64,
    pending: Vec<Flow>,
    /// Blocks written since the last fdatasync.
    unsynced: bool,
    /// Appended to since the previous flush (segments idle for a whole flush interval are closed).
    active: bool,
    last_use: u64,
}

/// Appends flows to the current bucket's segment of one worker.
pub struct FlowWriter {
    pub(super) inner: Arc<Inner>,
    pub(super) worker: u32,
    open: HashMap<u64, OpenSegment>,
    enc: BlockEncoder,
    tick: u64,
    /// Blocks dropped from torn tails when reopening segments (crash recovery).
    pub(super) torn_truncated: u64,
}

impl FlowWriter {
    pub(super) fn new(inner: Arc<Inner>, worker: u32) -> FlowWriter {
        FlowWriter {
            inner,
            worker,
            open: HashMap::new(),
            enc: BlockEncoder::default(),
            tick: 0,
            torn_truncated: 0,
        }
    }

    /// Torn tails this writer cut off when it reopened segments after a crash.
    pub fn torn_blocks_truncated(&self) -> u64 {
        self.torn_truncated
    }

    /// Buffers `flow` in the segment of its bucket (by `received_ms`).
    pub fn append(&mut self, flow: &Flow) -> Result<()> {
        self.append_batch(std::slice::from_ref(flow))
    }

    /// Buffers flows like `append`, looking the segment up once per run of flows in the
    /// same bucket (all the flows of a datagram share their receive time).
    pub fn append_batch(&mut self, flows: &[Flow]) -> Result<()> {
        for (bucket, mut chunk) in bucket_runs(flows) {
            self.open_for(bucket)?;
            let seg = self.open.get_mut(&bucket).expect("opened above");
            seg.active = true;
            seg.last_use = self.tick;
            while !chunk.is_empty() {
                let take = (BLOCK_FLOWS - seg.pending.len()).min(chunk.len());
                seg.pending.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if seg.pending.len() >= BLOCK_FLOWS {
                    write_block(&self.inner, &mut self.enc, bucket, seg)?;
                }
            }
        }
        Ok(())
    }

    /// Opens the segment of `bucket` unless it is open (closing the least recently used one).
    fn open_for(&mut self, bucket: u64) -> Result<()> {
        self.tick += 1;
        if !self.open.contains_key(&bucket) {
            if self.open.len() >= MAX_OPEN_SEGMENTS {
                self.close_least_recent()?;
            }
            let seg = self.open_segment(bucket)?;
            self.open.insert(bucket, seg);
        }
        Ok(())
    }

    /// Makes everything appended so far durable: writes each buffer as a checksummed block and
    /// fdatasyncs the files written to. Segments not appended to since the previous flush are closed.
    pub fn flush(&mut self) -> Result<()> {
        for (bucket, seg) in self.open.iter_mut() {
            write_block(&self.inner, &mut self.enc, *bucket, seg)?;
            if seg.unsynced {
                seg.file.sync_data().with_context(|| format!("cannot sync {}", seg.path.display()))?;
                seg.unsynced = false;
            }
        }
        self.open.retain(|_, seg| std::mem::replace(&mut seg.active, false));
        Ok(())
    }

    /// Flushes and closes every open segment.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.open.clear();
        Ok(())
    }

    fn close_least_recent(&mut self) -> Result<()> {
        let Some((&bucket, _)) = self.open.iter().min_by_key(|(_, s)| s.last_use) else {
            return Ok(());
        };
        let mut seg = self.open.remove(&bucket).expect("key from the map");
        write_block(&self.inner, &mut self.enc, bucket, &mut seg)?;
        if seg.unsynced {
            seg.file.sync_data().with_context(|| format!("cannot sync {}", seg.path.display()))?;
        }
        Ok(())
    }

    /// Opens (creating, or recovering after a crash) this worker's segment for `bucket`.
    fn open_segment(&mut self, bucket: u64) -> Result<OpenSegment> {
        let path = segment_path(&self.inner.dir, bucket, self.worker);
        let dir = path.parent().expect("segment paths have a day directory");
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| self.inner.dir_error(&e))?;
            // Make the new day directory itself durable.
            if let Some(parent) = dir.parent() {
                let _ = sync_dir(parent);
            }
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.inner.dir_error(&e))
            .with_context(|| format!("cannot open segment {}", path.display()))?;
        let len = file.metadata()?.len();
        let new_file = len == 0;
        // A file left by an earlier run: keep every complete block, cut a torn tail.
        let valid = if new_file {
            0
        } else {
            let out = verify_segment(&path)?;
            if out.torn_blocks > 0 {
                tracing::warn!(path = %path.display(), kept = out.valid_len, was = len, "cut torn segment tail");
                self.torn_truncated += out.torn_blocks;
            }
            out.valid_len
        };
        if valid < len {
            file.set_len(valid)?;
        }
        file.seek(SeekFrom::Start(valid))?;
        if valid == 0 {
            file.write_all(&file_header(bucket))?;
            file.sync_data()?;
        }
        if new_file {
            sync_dir(dir)?;
        }
        self.inner.usage_adjust(bucket, file.metadata()?.len() as i64 - len as i64, new_file);
        let len = file.metadata()?.len();
        Ok(OpenSegment { file, path, len, pending: Vec::new(), unsynced: false, active: false, last_use: 0 })
    }
}

/// Writes the pending flows of `seg` as one block (no sync; `flush` syncs).
fn write_block(inner: &Inner, enc: &mut BlockEncoder, bucket: u64, seg: &mut OpenSegment) -> Result<()> {
    if seg.pending.is_empty() {
        return Ok(());
    }
    let block = enc.encode(&seg.pending);
    if let Err(e) = seg.file.write_all(block) {
        // Cut the partial block (disk full...) so later blocks are not appended after garbage.
        // The buffered flows are dropped (memory stays bounded while the disk is full).
        let _ = seg.file.set_len(seg.len).and_then(|_| seg.file.seek(SeekFrom::Start(seg.len)));
        let lost = seg.pending.len();
        seg.pending.clear();
        return Err(inner.dir_error(&e))
            .with_context(|| format!("cannot append to {} ({lost} flows dropped)", seg.path.display()));
    }
    seg.len += block.len() as u64;
    inner.usage_adjust(bucket, block.len() as i64, false);
    seg.pending.clear();
    seg.unsynced = true;
    Ok(())
}

impl Drop for FlowWriter {
    /// Best effort: a writer dropped without `finish` still writes what it buffered.
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!("store writer {}: flush on drop failed: {e:#}", self.worker);
        }
    }
}
