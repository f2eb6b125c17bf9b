//! Decoding block payloads into `Flow` rows. A `BlockView` is a block whose checksum
//! was verified; it decompresses columns on demand, so a scan can decode its filter's
//! columns first and the other columns only for the rows that matched (late
//! materialisation), skipping their compressed bytes entirely when no row did.

use std::fs::File;
use std::net::IpAddr;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use crate::flow::{Flow, FlowSource};

use super::super::chunks::{self, Kind, COLUMNS, COLUMN_COUNT};
use super::super::codec::{unzigzag, Cursor, Truncated};
use super::super::columns::Columns;
use super::super::reader::ColumnValues;
use super::{block_crc, BlockError, BlockHeader, BLOCK_HEADER_LEN};

/// Where a view's compressed bytes come from.
enum Source<'a> {
    /// The whole payload, in memory.
    Whole(&'a [u8]),
    /// Format 3, read on demand: a column's bytes are read from `file` (the payload starts at
    /// `at`) into `buf` (as long as the payload) when the column is first needed.
    File { file: &'a File, at: u64, buf: &'a mut [u8] },
}

impl Source<'_> {
    /// The payload's bytes (format 3 from a file: the parts read so far).
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Whole(p) => p,
            Source::File { buf, .. } => buf,
        }
    }
}

/// Unneeded compressed bytes between two needed columns that are read anyway, to read both
/// with one call instead of two.
const READ_GAP: usize = 4096;

/// A checked block whose columns decompress into a caller's scratch buffer on demand.
pub struct BlockView<'a> {
    src: Source<'a>,
    n: usize,
    raw_len: usize,
    base_ms: u64,
    /// Formats 2 and 3: each column's compressed range in the payload (format 1 decompresses
    /// at `open`).
    comp: Option<[Range<usize>; COLUMN_COUNT]>,
    /// Format 3: each column's CRC32, checked when the column is first read.
    crcs: Option<[u32; COLUMN_COUNT]>,
    /// Each column's range in the decompressed payload.
    ranges: [Range<usize>; COLUMN_COUNT],
    /// Bit i: column i is decompressed in the scratch buffer.
    ready: u32,
}

const ALL_READY: u32 = (1 << COLUMN_COUNT) - 1;
/// Columns 0..TIMES are the times (received, first, last).
const TIMES: usize = 3;

impl<'a> BlockView<'a> {
    /// Checks the block's length and checksum (format 3: the header and column directory's;
    /// each column's is checked when it is read) and reads its column directory. `scratch`
    /// must be passed unchanged to the later calls.
    pub fn open(
        header: &BlockHeader,
        header_bytes: &[u8; BLOCK_HEADER_LEN],
        payload: &'a [u8],
        scratch: &mut Vec<u8>,
    ) -> Result<BlockView<'a>, BlockError> {
        if payload.len() != header.comp_len as usize {
            return Err(BlockError::BadHeader);
        }
        let mut view = BlockView::new(header, Source::Whole(payload), scratch);
        match header.version {
            3 => view.directory_v3(header, header_bytes)?,
            _ if block_crc(header_bytes, payload) != header.crc => return Err(BlockError::BadChecksum),
            2 => {
                let dir =
                    chunks::parse_directory(payload, view.raw_len).map_err(|_| BlockError::BadPayload)?;
                view.ranges = dir.clone().map(|(raw, _)| raw);
                view.comp = Some(dir.map(|(_, comp)| comp));
            }
            _ => {
                let raw_len = view.raw_len;
                match lz4_flex::block::decompress_into(payload, &mut scratch[..raw_len]) {
                    Ok(got) if got == raw_len => {}
                    _ => return Err(BlockError::BadPayload),
                }
                view.ranges =
                    chunks::split_v1(&scratch[..raw_len], view.n).map_err(|_| BlockError::BadPayload)?;
                view.ready = ALL_READY;
            }
        }
        Ok(view)
    }

    /// A format 3 block whose payload starts at `at` in `file`: reads its column directory
    /// (into `buf`, which is grown to the payload's size) and checks it; columns are read
    /// when needed.
    pub fn open_file(
        header: &BlockHeader,
        header_bytes: &[u8; BLOCK_HEADER_LEN],
        file: &'a File,
        at: u64,
        buf: &'a mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<BlockView<'a>, BlockError> {
        let len = header.comp_len as usize;
        let dir_len = COLUMN_COUNT * chunks::DIR_ENTRY_LEN_V3;
        if header.version != 3 || len < dir_len {
            return Err(BlockError::BadHeader);
        }
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let buf = &mut buf[..len];
        file.read_exact_at(&mut buf[..dir_len], at).map_err(|e| BlockError::Unreadable(e.kind()))?;
        let mut view = BlockView::new(header, Source::File { file, at, buf }, scratch);
        view.directory_v3(header, header_bytes)?;
        Ok(view)
    }

    fn new(header: &BlockHeader, src: Source<'a>, scratch: &mut Vec<u8>) -> BlockView<'a> {
        let raw_len = header.raw_len as usize;
        // Grown, never shrunk or cleared: only decompressed columns are ever read.
        if scratch.len() < raw_len {
            scratch.resize(raw_len, 0);
        }
        BlockView {
            src,
            n: header.stats.flows as usize,
            raw_len,
            base_ms: header.stats.min_received_ms,
            comp: None,
            crcs: None,
            ranges: std::array::from_fn(|_| 0..0),
            ready: 0,
        }
    }

    /// Format 3: checks the header's CRC over the directory (at the payload's start) and
    /// reads the directory.
    fn directory_v3(
        &mut self,
        header: &BlockHeader,
        header_bytes: &[u8; BLOCK_HEADER_LEN],
    ) -> Result<(), BlockError> {
        let payload = self.src.bytes();
        let dir = payload.get(..COLUMN_COUNT * chunks::DIR_ENTRY_LEN_V3).ok_or(BlockError::BadHeader)?;
        if block_crc(header_bytes, dir) != header.crc {
            return Err(BlockError::BadChecksum);
        }
        let (dir, crcs) = chunks::parse_directory_v3(dir, self.raw_len, payload.len())
            .map_err(|_| BlockError::BadPayload)?;
        self.ranges = dir.clone().map(|(raw, _)| raw);
        self.comp = Some(dir.map(|(_, comp)| comp));
        self.crcs = Some(crcs);
        Ok(())
    }

    /// Flows in the block.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Decompresses the columns `cols` reads (and the times, with `times`) that are not yet,
    /// first reading (format 3 from a file) and checking their compressed bytes.
    fn load(&mut self, scratch: &mut [u8], cols: Columns, times: bool) -> Result<(), BlockError> {
        let Some(comp) = &self.comp else { return Ok(()) };
        let need = (0..COLUMN_COUNT)
            .filter(|&i| self.ready & (1 << i) == 0 && chunks::wanted(i, cols) && (i >= TIMES || times))
            .fold(0u32, |m, i| m | 1 << i);
        if need == 0 {
            return Ok(());
        }
        // A column is read, checked and decompressed together, once: `need` holds only
        // columns not read before.
        if let Source::File { file, at, buf } = &mut self.src {
            read_columns(file, *at, buf, comp, need)?;
        }
        let payload = self.src.bytes();
        for i in (0..COLUMN_COUNT).filter(|i| need & (1 << i) != 0) {
            if self.crcs.as_ref().is_some_and(|crcs| crc32fast::hash(&payload[comp[i].clone()]) != crcs[i]) {
                return Err(BlockError::BadChecksum);
            }
            let raw = self.ranges[i].clone();
            let dst = scratch.get_mut(raw.clone()).ok_or(BlockError::BadPayload)?;
            match lz4_flex::block::decompress_into(&payload[comp[i].clone()], dst) {
                Ok(got) if got == raw.len() => {}
                _ => return Err(BlockError::BadPayload),
            }
        }
        self.ready |= need;
        Ok(())
    }

    /// Every row of the block into `out` (replacing it), with the times and `cols`; other
    /// fields hold unspecified values unless `cols` is `Columns::ALL`.
    pub fn decode(
        &mut self,
        scratch: &mut [u8],
        out: &mut Vec<Flow>,
        cols: Columns,
    ) -> Result<(), BlockError> {
        self.decode_with(scratch, out, cols, true)
    }

    /// `decode`, leaving the times undecoded (unspecified) unless `times`.
    pub fn decode_with(
        &mut self,
        scratch: &mut [u8],
        out: &mut Vec<Flow>,
        cols: Columns,
        times: bool,
    ) -> Result<(), BlockError> {
        self.load(scratch, cols, times)?;
        let raw = &scratch[..self.raw_len];
        decode_columns(raw, &self.ranges, self.n, self.base_ms, out, cols, times)
            .map_err(|_| BlockError::BadPayload)
    }

    /// Fills `cols` (and the times, with `times`) of `out[j]` from row `rows[j]` of the
    /// block, leaving the other fields as they are. `rows` must be strictly increasing and
    /// below `len()`.
    pub fn decode_rows(
        &mut self,
        scratch: &mut [u8],
        rows: &[u32],
        out: &mut [Flow],
        cols: Columns,
        times: bool,
    ) -> Result<(), BlockError> {
        self.load(scratch, cols, times)?;
        let raw = &scratch[..self.raw_len];
        if times {
            decode_times_at(raw, &self.ranges, self.n, self.base_ms, rows, out)
                .map_err(|_| BlockError::BadPayload)?;
        }
        decode_rows(raw, &self.ranges, self.n, rows, out, cols).map_err(|_| BlockError::BadPayload)
    }

    /// `decode_rows` into `out[rows[j]]` instead of `out[j]` (`out` holds every row of the
    /// block), times excluded.
    pub fn decode_rows_in_place(
        &mut self,
        scratch: &mut [u8],
        rows: &[u32],
        out: &mut [Flow],
        cols: Columns,
    ) -> Result<(), BlockError> {
        self.load(scratch, cols, false)?;
        let raw = &scratch[..self.raw_len];
        decode_rows_at::<true>(raw, &self.ranges, self.n, rows, out, cols).map_err(|_| BlockError::BadPayload)
    }

    /// Keeps the `rows` (increasing, below `len()`) where some column of `sets` holds a value
    /// of its set, reading the stored bytes of those fixed-width columns directly.
    pub fn retain_values(
        &mut self,
        scratch: &mut [u8],
        sets: &[ColumnValues],
        rows: &mut Vec<u32>,
    ) -> Result<(), BlockError> {
        let cols = sets.iter().fold(Columns::NONE, |c, s| c | s.column);
        self.load(scratch, cols, false)?;
        let mut columns: [(&[u8], usize); 4] = [(&[], 1); 4];
        if sets.len() > columns.len() || rows.iter().any(|&r| r as usize >= self.n) {
            return Err(BlockError::BadPayload);
        }
        for (slot, set) in columns.iter_mut().zip(sets) {
            let i =
                (TIMES..COLUMN_COUNT).find(|&i| COLUMNS[i].1 == set.column).ok_or(BlockError::BadPayload)?;
            let width = match COLUMNS[i].0 {
                Kind::Fixed(w @ (1 | 2)) => w,
                _ => return Err(BlockError::BadPayload),
            };
            let col = &scratch[self.ranges[i].clone()];
            if col.len() != width * self.n {
                return Err(BlockError::BadPayload);
            }
            *slot = (col, width);
        }
        let value = |(col, width): (&[u8], usize), r: usize| match width {
            1 => u16::from(col[r]),
            _ => u16::from_le_bytes([col[2 * r], col[2 * r + 1]]),
        };
        match sets {
            [a] => retain_rows(rows, |r| a.has(value(columns[0], r))),
            [a, b] => retain_rows(rows, |r| a.has(value(columns[0], r)) | b.has(value(columns[1], r))),
            _ => retain_rows(rows, |r| sets.iter().zip(columns).any(|(s, c)| s.has(value(c, r)))),
        }
        Ok(())
    }
}

/// Reads the compressed bytes of the columns in `mask` from `file` (payload at `at`) into
/// `buf`, runs of neighbouring columns with one call (gaps up to `READ_GAP` read along).
fn read_columns(
    file: &File,
    at: u64,
    buf: &mut [u8],
    comp: &[Range<usize>; COLUMN_COUNT],
    mask: u32,
) -> Result<(), BlockError> {
    let mut cols = (0..COLUMN_COUNT).filter(|i| mask & (1 << i) != 0).peekable();
    while let Some(first) = cols.next() {
        let mut run = comp[first].clone();
        while let Some(&next) = cols.peek() {
            if comp[next].start > run.end + READ_GAP {
                break;
            }
            run.end = comp[next].end;
            cols.next();
        }
        let dst = buf.get_mut(run.clone()).ok_or(BlockError::BadPayload)?;
        file.read_exact_at(dst, at + run.start as u64).map_err(|e| BlockError::Unreadable(e.kind()))?;
    }
    Ok(())
}

/// `rows.retain(keep)` without a branch per row: every row is written, and the write position
/// moves on only when it is kept (a filter keeps about half the rows unpredictably, and a
/// mispredicted branch costs more than the store).
#[inline]
fn retain_rows(rows: &mut Vec<u32>, keep: impl Fn(usize) -> bool) {
    let mut to = 0;
    for from in 0..rows.len() {
        let r = rows[from];
        rows[to] = r;
        to += usize::from(keep(r as usize));
    }
    rows.truncate(to);
}

/// Decodes column `$i` (all `n` values, exactly filling its bytes) with `$read` when the
/// projection asks for it.
macro_rules! column {
    ($raw:ident, $ranges:ident, $out:ident, $cols:ident, $i:expr, |$c:ident, $f:ident| $read:expr) => {
        if chunks::wanted($i, $cols) {
            let mut $c = Cursor::new(&$raw[$ranges[$i].clone()]);
            for $f in $out.iter_mut() {
                $read;
            }
            if $c.remaining() != 0 {
                return Err(Truncated);
            }
        }
    };
}

/// Decodes fixed-width column `$i` (`$w` bytes per value) with `$set` when the projection
/// asks for it.
macro_rules! fixed {
    ($raw:ident, $ranges:ident, $out:ident, $cols:ident, $i:expr, $w:expr, |$b:ident, $f:ident| $set:expr) => {
        if chunks::wanted($i, $cols) {
            let col = &$raw[$ranges[$i].clone()];
            if col.len() != $w * $out.len() {
                return Err(Truncated);
            }
            for ($f, $b) in $out.iter_mut().zip(col.chunks_exact($w)) {
                $set;
            }
        }
    };
}

/// Every row of the decompressed columns `cols` (and the times) into `out`.
pub(super) fn decode_columns(
    raw: &[u8],
    ranges: &[Range<usize>; COLUMN_COUNT],
    n: usize,
    base_ms: u64,
    out: &mut Vec<Flow>,
    cols: Columns,
    times: bool,
) -> Result<(), Truncated> {
    if cols == Columns::ALL {
        out.clear();
    } else {
        // Fields outside the projection are left as they are: no need to reset them.
        out.truncate(n);
    }
    out.resize(n, Flow::EMPTY);
    if times {
        let mut prev = base_ms;
        column!(raw, ranges, out, cols, 0, |c, f| {
            prev = prev.wrapping_add(unzigzag(c.varint()?) as u64);
            f.received_ms = prev;
        });
        column!(raw, ranges, out, cols, 1, |c, f| f.first_ms =
            f.received_ms.wrapping_sub(unzigzag(c.varint()?) as u64));
        column!(raw, ranges, out, cols, 2, |c, f| f.last_ms =
            f.first_ms.wrapping_add(unzigzag(c.varint()?) as u64));
    }
    let tags = &raw[ranges[chunks::TAGS].clone()];
    if chunks::wanted(chunks::TAGS, cols) && tags.len() != 4 * n {
        return Err(Truncated);
    }
    let set_addr: [fn(&mut Flow, IpAddr); 4] =
        [|f, a| f.exporter = a, |f, a| f.src_addr = a, |f, a| f.dst_addr = a, |f, a| f.next_hop = a];
    for (slot, set) in set_addr.into_iter().enumerate() {
        // Tags are interleaved: flow i's tag for this column is at 4 * i + slot.
        let mut tag = slot;
        column!(raw, ranges, out, cols, 4 + slot, |c, f| {
            set(f, c.addr(tags[tag])?);
            tag += 4;
        });
    }
    column!(raw, ranges, out, cols, 8, |c, f| f.domain = c.varint_u32()?);
    fixed!(raw, ranges, out, cols, 9, 1, |b, f| f.source = FlowSource::from_u8(b[0]).ok_or(Truncated)?);
    fixed!(raw, ranges, out, cols, 10, 2, |b, f| f.src_port = u16::from_le_bytes([b[0], b[1]]));
    fixed!(raw, ranges, out, cols, 11, 2, |b, f| f.dst_port = u16::from_le_bytes([b[0], b[1]]));
    fixed!(raw, ranges, out, cols, 12, 1, |b, f| f.protocol = b[0]);
    fixed!(raw, ranges, out, cols, 13, 1, |b, f| f.tcp_flags = b[0]);
    fixed!(raw, ranges, out, cols, 14, 1, |b, f| f.tos = b[0]);
    fixed!(raw, ranges, out, cols, 15, 1, |b, f| f.src_mask = b[0]);
    fixed!(raw, ranges, out, cols, 16, 1, |b, f| f.dst_mask = b[0]);
    column!(raw, ranges, out, cols, 17, |c, f| f.in_if = c.varint_u32()?);
    column!(raw, ranges, out, cols, 18, |c, f| f.out_if = c.varint_u32()?);
    column!(raw, ranges, out, cols, 19, |c, f| f.src_as = c.varint_u32()?);
    column!(raw, ranges, out, cols, 20, |c, f| f.dst_as = c.varint_u32()?);
    column!(raw, ranges, out, cols, 21, |c, f| f.src_vlan = c.varint_u16()?);
    column!(raw, ranges, out, cols, 22, |c, f| f.dst_vlan = c.varint_u16()?);
    fixed!(raw, ranges, out, cols, 23, 6, |b, f| f.src_mac.copy_from_slice(b));
    fixed!(raw, ranges, out, cols, 24, 6, |b, f| f.dst_mac.copy_from_slice(b));
    column!(raw, ranges, out, cols, 25, |c, f| f.packets = c.varint()?);
    column!(raw, ranges, out, cols, 26, |c, f| f.bytes = c.varint()?);
    column!(raw, ranges, out, cols, 27, |c, f| f.sampling = c.varint_u32()?);
    Ok(())
}

/// Steps column cursor `c` of kind `kind` from row `from` to row `to`.
#[inline]
fn skip_rows(c: &mut Cursor, kind: Kind, tags: &[u8], from: usize, to: usize) -> Result<(), Truncated> {
    match kind {
        Kind::Varint => c.skip_varints(to - from),
        Kind::Fixed(w) => c.skip(w * (to - from)),
        Kind::Addr(slot) => c.skip(chunks::addr_bytes(&tags[4 * from..4 * to], slot)?),
        Kind::Tags => Ok(()),
    }
}

/// Reads row `row`'s value of column `i` (not a time column) into `f`.
#[inline]
fn read_value(i: usize, c: &mut Cursor, tags: &[u8], row: usize, f: &mut Flow) -> Result<(), Truncated> {
    match i {
        4..=7 => {
            let a = c.addr(tags[4 * row + i - 4])?;
            match i {
                4 => f.exporter = a,
                5 => f.src_addr = a,
                6 => f.dst_addr = a,
                _ => f.next_hop = a,
            }
        }
        8 => f.domain = c.varint_u32()?,
        9 => f.source = FlowSource::from_u8(c.u8()?).ok_or(Truncated)?,
        10 => f.src_port = c.u16()?,
        11 => f.dst_port = c.u16()?,
        12 => f.protocol = c.u8()?,
        13 => f.tcp_flags = c.u8()?,
        14 => f.tos = c.u8()?,
        15 => f.src_mask = c.u8()?,
        16 => f.dst_mask = c.u8()?,
        17 => f.in_if = c.varint_u32()?,
        18 => f.out_if = c.varint_u32()?,
        19 => f.src_as = c.varint_u32()?,
        20 => f.dst_as = c.varint_u32()?,
        21 => f.src_vlan = c.varint_u16()?,
        22 => f.dst_vlan = c.varint_u16()?,
        23 => f.src_mac.copy_from_slice(c.bytes(6)?),
        24 => f.dst_mac.copy_from_slice(c.bytes(6)?),
        25 => f.packets = c.varint()?,
        26 => f.bytes = c.varint()?,
        27 => f.sampling = c.varint_u32()?,
        _ => return Err(Truncated),
    }
    Ok(())
}

/// The times of rows `rows` into `out`: received times are deltas from the previous row, so
/// every row up to the last one asked for is summed; first / last are per row.
fn decode_times_at(
    raw: &[u8],
    ranges: &[Range<usize>; COLUMN_COUNT],
    n: usize,
    base_ms: u64,
    rows: &[u32],
    out: &mut [Flow],
) -> Result<(), Truncated> {
    check_rows(rows, out, n)?;
    let mut c = Cursor::new(&raw[ranges[0].clone()]);
    let (mut prev, mut at) = (base_ms, 0usize);
    for (f, &row) in out.iter_mut().zip(rows) {
        while at <= row as usize {
            prev = prev.wrapping_add(unzigzag(c.varint()?) as u64);
            at += 1;
        }
        f.received_ms = prev;
    }
    c.skip_varints(n - at)?;
    if c.remaining() != 0 {
        return Err(Truncated);
    }
    for i in 1..TIMES {
        let mut c = Cursor::new(&raw[ranges[i].clone()]);
        let mut at = 0;
        for (f, &row) in out.iter_mut().zip(rows) {
            c.skip_varints(row as usize - at)?;
            let d = unzigzag(c.varint()?) as u64;
            if i == 1 {
                f.first_ms = f.received_ms.wrapping_sub(d);
            } else {
                f.last_ms = f.first_ms.wrapping_add(d);
            }
            at = row as usize + 1;
        }
        c.skip_varints(n - at)?;
        if c.remaining() != 0 {
            return Err(Truncated);
        }
    }
    Ok(())
}

fn check_rows(rows: &[u32], out: &[Flow], n: usize) -> Result<(), Truncated> {
    if rows.len() != out.len() || !rows_within(rows, n) {
        return Err(Truncated);
    }
    Ok(())
}

/// Row numbers strictly increasing and below the block's `n` rows.
fn rows_within(rows: &[u32], n: usize) -> bool {
    rows.windows(2).all(|w| w[0] < w[1]) && rows.last().is_none_or(|&r| (r as usize) < n)
}

/// `out[j]` gets the values of columns `cols` (times excluded) at row `rows[j]`. Each
/// column is still checked to exactly fill its bytes, as a full decode checks it.
pub(super) fn decode_rows(
    raw: &[u8],
    ranges: &[Range<usize>; COLUMN_COUNT],
    n: usize,
    rows: &[u32],
    out: &mut [Flow],
    cols: Columns,
) -> Result<(), Truncated> {
    if rows.len() != out.len() {
        return Err(Truncated);
    }
    decode_rows_at::<false>(raw, ranges, n, rows, out, cols)
}

/// `decode_rows`, writing row `rows[j]` to `out[rows[j]]` when `IN_PLACE` (`out` then
/// holds every row), to `out[j]` otherwise.
fn decode_rows_at<const IN_PLACE: bool>(
    raw: &[u8],
    ranges: &[Range<usize>; COLUMN_COUNT],
    n: usize,
    rows: &[u32],
    out: &mut [Flow],
    cols: Columns,
) -> Result<(), Truncated> {
    let needed = if IN_PLACE { n } else { rows.len() };
    if out.len() < needed || !rows_within(rows, n) {
        return Err(Truncated);
    }
    let tags = &raw[ranges[chunks::TAGS].clone()];
    if chunks::wanted(chunks::TAGS, cols) && tags.len() != 4 * n {
        return Err(Truncated);
    }
    for (i, &(kind, _)) in COLUMNS.iter().enumerate().skip(TIMES) {
        if i == chunks::TAGS || !chunks::wanted(i, cols) {
            continue;
        }
        let mut c = Cursor::new(&raw[ranges[i].clone()]);
        let mut at = 0;
        for (j, &row) in rows.iter().enumerate() {
            let row = row as usize;
            skip_rows(&mut c, kind, tags, at, row)?;
            read_value(i, &mut c, tags, row, &mut out[if IN_PLACE { row } else { j }])?;
            at = row + 1;
        }
        skip_rows(&mut c, kind, tags, at, n)?;
        if c.remaining() != 0 {
            return Err(Truncated);
        }
    }
    Ok(())
}
