//! Reading a scan's blocks in parallel. A first pass walks each segment's block headers
//! (one small positioned read per block) and keeps the blocks the scan wants; every kept
//! block is then a unit of work any thread reads and decodes on its own, from the one
//! shared file. A window inside a single segment — a bucket written by one worker, or by
//! a backfill — is so still read by every core, not by one.
//!
//! Damage is handled as the sequential reader does for a torn tail: a header that does not
//! parse or a block running past the end of the file ends the segment there. A block whose
//! checksum or payload is bad is counted as torn and skipped; an append-only writer only
//! leaves such a block at the end.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::flow::Flow;

use super::reader::{decode_all, decode_selected, ReadBuffers, RowFilter, ScanHint, SegmentOutcome};
use super::segment::{parse_file_header, BlockHeader, BLOCK_HEADER_LEN, FILE_HEADER_LEN};

/// One block a scan wants: where its payload starts, and its header.
pub struct BlockRef {
    pub payload_at: u64,
    pub header: BlockHeader,
    pub raw_header: [u8; BLOCK_HEADER_LEN],
}

/// A segment opened for a parallel scan: the blocks to read, and what the header walk found.
pub struct SegmentBlocks {
    pub file: File,
    pub blocks: Vec<BlockRef>,
    /// Blocks the window or the hint excludes, and a torn tail (0 or 1).
    pub outcome: SegmentOutcome,
}

/// Reads exactly `buf.len()` bytes at `at`; Ok(false) when the file ends first.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<bool> {
    match file.read_exact_at(buf, at) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Walks the block headers of the segment at `path` as it is now (a writer may be
/// appending: only what existed when it was opened is read).
pub fn index_segment(
    path: &Path,
    from_ms: u64,
    to_ms: u64,
    hint: &ScanHint,
) -> std::io::Result<SegmentBlocks> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut out = SegmentOutcome::default();
    let mut blocks = Vec::new();
    let mut fh = [0u8; FILE_HEADER_LEN];
    if !read_at(&file, &mut fh, 0)? || parse_file_header(&fh).is_none() {
        out.torn_blocks = u64::from(len > 0);
        return Ok(SegmentBlocks { file, blocks, outcome: out });
    }
    let mut pos = FILE_HEADER_LEN as u64;
    while pos < len {
        let mut hb = [0u8; BLOCK_HEADER_LEN];
        let parsed = if read_at(&file, &mut hb, pos)? { BlockHeader::parse(&hb).ok() } else { None };
        let Some(header) = parsed else {
            out.torn_blocks = 1;
            break;
        };
        let payload_at = pos + BLOCK_HEADER_LEN as u64;
        let end = payload_at + u64::from(header.comp_len);
        if end > len {
            out.torn_blocks = 1;
            break;
        }
        if header.stats.overlaps(from_ms, to_ms) && hint.may_match(&header.stats) {
            blocks.push(BlockRef { payload_at, header, raw_header: hb });
        } else {
            out.blocks_skipped += 1;
        }
        pos = end;
    }
    out.valid_len = pos;
    Ok(SegmentBlocks { file, blocks, outcome: out })
}

/// Reads and decodes one wanted block, calling `f` as `reader::read_segment` does.
#[allow(clippy::too_many_arguments)]
pub fn read_block(
    file: &File,
    block: &BlockRef,
    from_ms: u64,
    to_ms: u64,
    hint: &ScanHint,
    select: Option<&RowFilter>,
    bufs: &mut ReadBuffers,
    f: &mut dyn FnMut(&[Flow], u64),
) -> std::io::Result<SegmentOutcome> {
    let mut out = SegmentOutcome::default();
    let hdr = &block.header;
    bufs.payload.resize(hdr.comp_len as usize, 0);
    if !read_at(file, &mut bufs.payload, block.payload_at)? {
        out.torn_blocks = 1;
        return Ok(out);
    }
    let decoded = match select {
        Some(sel) => decode_selected(hdr, &block.raw_header, bufs, hint.columns, sel, from_ms, to_ms),
        None => decode_all(hdr, &block.raw_header, bufs, hint.columns, from_ms, to_ms),
    };
    let Ok(in_window) = decoded else {
        out.torn_blocks = 1;
        return Ok(out);
    };
    out.blocks_read = 1;
    out.flows_read = in_window;
    if select.is_some() || !bufs.flows.is_empty() {
        f(&bufs.flows, in_window);
    }
    Ok(out)
}
