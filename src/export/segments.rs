//! Reading a store segment from a byte offset, whole checksummed blocks at a time: the
//! exporter's cursor into the spool. Blocks are appended whole and never rewritten, so a
//! block's offset is a stable identity for the flows in it.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;

use crate::flow::Flow;
use crate::store::segment::{
    decode_block, parse_file_header, BlockHeader, BLOCK_HEADER_LEN, FILE_HEADER_LEN,
};

/// Where a read stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TailRead {
    /// Offset just past the last block handed to the callback (= the start offset when none was).
    pub next_offset: u64,
    /// File length when the read started.
    pub len: u64,
    /// Rows handed to the callback.
    pub rows: u64,
    /// The data at `next_offset` is a complete but corrupt block, or the file header is bad.
    pub corrupt: bool,
}

/// Reusable buffers.
#[derive(Default)]
pub struct TailBuffers {
    payload: Vec<u8>,
    scratch: Vec<u8>,
    flows: Vec<Flow>,
}

/// Calls `f(block_offset, flows)` for each whole block from `offset` (0 = the file's start)
/// until at least `min_rows` rows were handed over or the file's complete blocks run out.
/// An incomplete last block (a writer mid-append) just ends the read.
pub fn read_from(
    path: &Path,
    offset: u64,
    min_rows: usize,
    bufs: &mut TailBuffers,
    f: &mut dyn FnMut(u64, &[Flow]),
) -> std::io::Result<TailRead> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut out = TailRead { next_offset: offset, len, ..Default::default() };
    let mut pos = offset;
    if pos < FILE_HEADER_LEN as u64 {
        let mut fh = [0u8; FILE_HEADER_LEN];
        if len < FILE_HEADER_LEN as u64 {
            return Ok(out);
        }
        file.read_exact(&mut fh)?;
        if parse_file_header(&fh).is_none() {
            out.corrupt = true;
            return Ok(out);
        }
        pos = FILE_HEADER_LEN as u64;
        out.next_offset = pos;
    } else {
        file.seek(SeekFrom::Start(pos))?;
    }
    let mut r = BufReader::with_capacity(256 * 1024, file.take(len.saturating_sub(pos)));
    while (out.rows as usize) < min_rows && pos + (BLOCK_HEADER_LEN as u64) <= len {
        let mut hb = [0u8; BLOCK_HEADER_LEN];
        r.read_exact(&mut hb)?;
        let Ok(hdr) = BlockHeader::parse(&hb) else {
            out.corrupt = true;
            break;
        };
        let end = pos + BLOCK_HEADER_LEN as u64 + u64::from(hdr.comp_len);
        if end > len {
            break;
        }
        bufs.payload.resize(hdr.comp_len as usize, 0);
        match r.read_exact(&mut bufs.payload) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if decode_block(&hdr, &hb, &bufs.payload, &mut bufs.scratch, &mut bufs.flows).is_err() {
            out.corrupt = true;
            break;
        }
        f(pos, &bufs.flows);
        out.rows += bufs.flows.len() as u64;
        pos = end;
        out.next_offset = end;
    }
    Ok(out)
}

/// Rows in the whole blocks between `from` (0 = the file's start) and `to`, read from the
/// block headers alone (payloads are skipped): the backlog's size in rows. Returns the rows
/// and the offset just past the last whole block counted.
pub fn count_rows(path: &Path, from: u64, to: u64) -> std::io::Result<(u64, u64)> {
    let mut file = File::open(path)?;
    let to = to.min(file.metadata()?.len());
    let mut pos = from.max(FILE_HEADER_LEN as u64);
    let mut rows = 0u64;
    let mut hb = [0u8; BLOCK_HEADER_LEN];
    while pos + BLOCK_HEADER_LEN as u64 <= to {
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(&mut hb)?;
        let Ok(hdr) = BlockHeader::parse(&hb) else { break };
        let end = pos + BLOCK_HEADER_LEN as u64 + u64::from(hdr.comp_len);
        if end > to {
            break;
        }
        rows += u64::from(hdr.stats.flows);
        pos = end;
    }
    Ok((rows, pos.max(from)))
}

/// Worker id of a segment file name `<bucket>-w<worker>.seg`.
pub fn segment_worker(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".seg")?.split_once("-w")?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreConfig};

    #[test]
    fn reads_whole_blocks_from_an_offset() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path(), StoreConfig::default()).unwrap();
        let mut w = store.writer(3).unwrap();
        let base = 1_795_946_700_000u64;
        for i in 0..10u64 {
            w.append(&Flow { received_ms: base + i, bytes: i, ..Flow::EMPTY }).unwrap();
            if i == 3 {
                w.flush().unwrap(); // two blocks: 4 flows, then 6
            }
        }
        w.finish().unwrap();
        let path = crate::store::layout::segment_path(d.path(), 1_795_946_700, 3);
        assert_eq!(segment_worker(&path), Some(3));
        let mut bufs = TailBuffers::default();
        let mut seen = Vec::new();
        let first = read_from(&path, 0, 1, &mut bufs, &mut |off, fl| seen.push((off, fl.len()))).unwrap();
        assert_eq!(seen, vec![(FILE_HEADER_LEN as u64, 4)]);
        assert!(!first.corrupt && first.rows == 4 && first.next_offset < first.len);
        let rest =
            read_from(&path, first.next_offset, 1000, &mut bufs, &mut |off, fl| seen.push((off, fl.len())))
                .unwrap();
        assert_eq!(seen[1], (first.next_offset, 6));
        assert_eq!((rest.next_offset, rest.rows), (rest.len, 6));
        // Nothing after the end; a torn tail is not a block.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut f, b"WVB1partial").unwrap();
        let end =
            read_from(&path, rest.next_offset, 1000, &mut bufs, &mut |_, _| panic!("no block")).unwrap();
        assert_eq!(end.next_offset, rest.next_offset);
        // Headers alone give the rows: all 10, the last 6, none past the end.
        assert_eq!(count_rows(&path, 0, u64::MAX).unwrap(), (10, rest.next_offset));
        assert_eq!(count_rows(&path, first.next_offset, u64::MAX).unwrap(), (6, rest.next_offset));
        assert_eq!(count_rows(&path, 0, first.next_offset + 10).unwrap(), (4, first.next_offset));
        assert_eq!(count_rows(&path, rest.next_offset, u64::MAX).unwrap(), (0, rest.next_offset));
    }
}
