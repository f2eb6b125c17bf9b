//! Reading a scan's blocks in parallel. A first pass walks each segment's block headers
//! (one small positioned read per block) and keeps the blocks the scan wants; every kept
//! block is then a unit of work any thread reads and decodes on its own, from the one
//! shared file. A window inside a single segment — a bucket written by one worker, or by
//! a backfill — is so still read by every core, not by one.
//!
//! The same header walk serves a writer reopening a segment (`verify_segment`), which
//! checks every block in order. Damage: a header that does not parse or a block running
//! past the end of the file ends the segment there (a torn tail). A block whose checksum
//! or payload is bad is counted as torn; a scan skips it alone, the writer's check cuts
//! the file there. An append-only writer only leaves such a block at the end.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::flow::Flow;

use super::reader::{
    decode_all, decode_selected, DecodeBuffers, ReadBuffers, RowFilter, ScanHint, SegmentOutcome,
};
use super::segment::{
    parse_file_header, BlockError, BlockHeader, BlockView, BLOCK_HEADER_LEN, FILE_HEADER_LEN,
};

/// One block of a segment: where its payload starts, and its header.
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

/// Walks the block headers of `file` (`len` bytes long when opened: a writer may be
/// appending), calling `each` with every block that parses and lies inside. Returns the
/// length up to the end of the last of them, and whether a torn tail (a partial or bad
/// header, a block running past the end, or a bad file header) follows.
fn walk_headers(file: &File, len: u64, mut each: impl FnMut(BlockRef)) -> std::io::Result<(u64, bool)> {
    let mut fh = [0u8; FILE_HEADER_LEN];
    if !read_at(file, &mut fh, 0)? || parse_file_header(&fh).is_none() {
        return Ok((0, len > 0));
    }
    let mut pos = FILE_HEADER_LEN as u64;
    while pos < len {
        let mut hb = [0u8; BLOCK_HEADER_LEN];
        let parsed = if read_at(file, &mut hb, pos)? { BlockHeader::parse(&hb).ok() } else { None };
        let Some(header) = parsed else {
            return Ok((pos, true));
        };
        let payload_at = pos + BLOCK_HEADER_LEN as u64;
        let end = payload_at + u64::from(header.comp_len);
        if end > len {
            return Ok((pos, true));
        }
        each(BlockRef { payload_at, header, raw_header: hb });
        pos = end;
    }
    Ok((pos, false))
}

/// The blocks of the segment at `path` a scan of [from_ms, to_ms) with `hint` wants.
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
    let (valid_len, torn) = walk_headers(&file, len, |b| {
        if b.header.stats.overlaps(from_ms, to_ms) && hint.may_match(&b.header.stats) {
            blocks.push(b);
        } else {
            out.blocks_skipped += 1;
        }
    })?;
    out.valid_len = valid_len;
    out.torn_blocks = u64::from(torn);
    Ok(SegmentBlocks { file, blocks, outcome: out })
}

/// Checks every block of the segment at `path` (checksum and payload), for a writer that
/// reopens it: `valid_len` is where the good blocks end, `torn_blocks` 1 when something
/// follows them (a partial or corrupt block ends the segment there).
pub fn verify_segment(path: &Path) -> std::io::Result<SegmentOutcome> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut blocks = Vec::new();
    let (mut valid_len, mut torn) = walk_headers(&file, len, |b| blocks.push(b))?;
    let mut out = SegmentOutcome::default();
    let mut bufs = ReadBuffers::default();
    for b in &blocks {
        let read = read_block(&file, b, 0, u64::MAX, &ScanHint::default(), None, &mut bufs, &mut |_, _| {})?;
        if read.torn_blocks > 0 {
            (valid_len, torn) = (b.payload_at - BLOCK_HEADER_LEN as u64, true);
            break;
        }
        out.blocks_read += read.blocks_read;
        out.flows_read += read.flows_read;
    }
    out.valid_len = valid_len;
    out.torn_blocks = u64::from(torn);
    Ok(out)
}

/// Reads and decodes one wanted block, calling `f` with its flows in the window (with a
/// `select` filter: the kept ones, possibly none) and how many of its flows are in it.
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
    let ReadBuffers { payload, scratch, flows, rows } = bufs;
    // Format 3 blocks are read a column at a time, only the columns the scan decodes; older
    // ones whole (their one CRC covers the whole payload).
    let view = if hdr.version == 3 {
        BlockView::open_file(hdr, &block.raw_header, file, block.payload_at, payload, scratch)
    } else {
        payload.resize(hdr.comp_len as usize, 0);
        if !read_at(file, payload, block.payload_at)? {
            out.torn_blocks = 1;
            return Ok(out);
        }
        BlockView::open(hdr, &block.raw_header, payload, scratch)
    };
    let mut dec = DecodeBuffers { scratch, flows, rows };
    let decoded = view.and_then(|mut view| match select {
        Some(sel) => decode_selected(hdr, &mut view, &mut dec, hint.columns, sel, from_ms, to_ms),
        None => decode_all(hdr, &mut view, &mut dec, hint.columns, from_ms, to_ms),
    });
    let (in_window, kept) = match decoded {
        Ok(d) => d,
        // Cut short like a torn block read whole; any other read error is the scan's.
        Err(BlockError::Unreadable(kind)) if kind != ErrorKind::UnexpectedEof => return Err(kind.into()),
        Err(_) => {
            out.torn_blocks = 1;
            return Ok(out);
        }
    };
    out.blocks_read = 1;
    out.flows_read = in_window;
    if select.is_some() || kept > 0 {
        f(&bufs.flows[..kept], in_window);
    }
    Ok(out)
}
