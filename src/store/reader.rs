//! Decoding the blocks a scan reads (see `blocks` for finding and reading them): which
//! blocks and columns it wants, and the row filter applied while decoding.

use crate::flow::Flow;

use super::columns::Columns;
use super::segment::{BlockError, BlockHeader, BlockStats, BlockView};

/// Optional block-skipping constraints a scan may use (all must hold for a flow to matter),
/// and the columns it reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanHint {
    /// Columns decoded into the flows handed to the scan; the other fields hold unspecified
    /// values (default: all).
    pub columns: Columns,
    /// Only flows with this IP protocol.
    pub protocol: Option<u8>,
    /// Only flows with this source or destination port.
    pub port: Option<u16>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

impl ScanHint {
    pub fn may_match(&self, s: &BlockStats) -> bool {
        let in_src = |p: u16| (s.min_src_port..=s.max_src_port).contains(&p);
        let in_dst = |p: u16| (s.min_dst_port..=s.max_dst_port).contains(&p);
        self.protocol.is_none_or(|p| s.has_protocol(p))
            && self.port.is_none_or(|p| in_src(p) || in_dst(p))
            && self.src_port.is_none_or(in_src)
            && self.dst_port.is_none_or(in_dst)
    }
}

/// A row filter a scan applies while decoding, in stages (the terms of a top-level `and`):
/// each stage decodes only its own columns, and only for the rows the stages before it kept.
/// The scan's other columns are decoded for the rows the last stage keeps.
#[derive(Clone, Copy)]
pub struct RowFilter<'a> {
    /// Whether some stage reads the times (otherwise they are decoded only for kept rows when
    /// the block lies inside the window).
    pub times: bool,
    pub stages: &'a [StageTest<'a>],
}

/// How a stage of a `RowFilter` decides which rows stay.
#[derive(Clone, Copy)]
pub enum StageTest<'a> {
    /// Rows where some listed column holds a value of its set: tested on the stored column
    /// bytes, no row decoded.
    Values(&'a [ColumnValues]),
    /// Rows `pred` keeps, given the flows with `columns` (what it reads) decoded.
    Rows { columns: Columns, pred: &'a dyn RowPredicate },
}

/// A set of values of one fixed-width stored column of at most 16 bits (protocol, ports,
/// TCP flags, ToS, masks, source): bit v of `bits` is set when value v is in the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnValues {
    /// One column.
    pub column: Columns,
    pub bits: Box<[u64]>,
}

impl ColumnValues {
    #[inline]
    pub fn has(&self, v: u16) -> bool {
        self.bits.get(usize::from(v >> 6)).is_some_and(|w| w >> (v & 63) & 1 != 0)
    }
}

/// Keeps the indexes of `rows` (increasing, into `flows`) whose flow matches.
pub trait RowPredicate: Sync {
    fn retain(&self, flows: &[Flow], rows: &mut Vec<u32>);
}

/// Reusable per-thread buffers.
#[derive(Default)]
pub struct ReadBuffers {
    /// A block's compressed payload (format 3: the parts of it read).
    pub(super) payload: Vec<u8>,
    pub(super) scratch: Vec<u8>,
    pub flows: Vec<Flow>,
    /// Rows of the current block a `RowFilter` kept.
    pub(super) rows: Vec<u32>,
}

/// The buffers a block's decode writes to, while a `BlockView` borrows the payload.
pub(super) struct DecodeBuffers<'b> {
    pub scratch: &'b mut Vec<u8>,
    pub flows: &'b mut Vec<Flow>,
    pub rows: &'b mut Vec<u32>,
}

/// What reading one segment found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentOutcome {
    pub blocks_read: u64,
    pub blocks_skipped: u64,
    pub flows_read: u64,
    /// 1 when the file ends in a partial or corrupt block (everything after it is ignored).
    pub torn_blocks: u64,
    /// Bytes up to the end of the last good block (where a writer may append).
    pub valid_len: u64,
}

/// Decodes `columns` of every flow of a block in [from_ms, to_ms) into `bufs.flows`;
/// returns how many there are (twice: in the window, and handed to the scan).
pub(super) fn decode_all(
    hdr: &BlockHeader,
    view: &mut BlockView,
    bufs: &mut DecodeBuffers,
    columns: Columns,
    from_ms: u64,
    to_ms: u64,
) -> Result<(u64, usize), BlockError> {
    view.decode(bufs.scratch, bufs.flows, columns)?;
    let s = &hdr.stats;
    if s.min_received_ms < from_ms || s.max_received_ms >= to_ms {
        bufs.flows.retain(|fl| fl.received_ms >= from_ms && fl.received_ms < to_ms);
    }
    Ok((bufs.flows.len() as u64, bufs.flows.len()))
}

/// Late materialisation: runs the filter's stages (each decoding its columns for the rows
/// still in, or testing stored bytes directly), then decodes the other `columns` for the
/// rows kept only (not at all, their bytes not even decompressed, when none is kept).
/// Returns the block's flows in the window and how many were kept: the first that many of
/// `bufs.flows` (the rest of it holds unspecified rows, left for the next block to reuse
/// rather than written over with empty ones).
pub(super) fn decode_selected(
    hdr: &BlockHeader,
    view: &mut BlockView,
    bufs: &mut DecodeBuffers,
    columns: Columns,
    sel: &RowFilter,
    from_ms: u64,
    to_ms: u64,
) -> Result<(u64, usize), BlockError> {
    let s = &hdr.stats;
    let whole = s.min_received_ms >= from_ms && s.max_received_ms < to_ms;
    // Times first only when the window or the filter needs them.
    let times_first = !whole || sel.times;
    view.decode_with(bufs.scratch, bufs.flows, Columns::NONE, times_first)?;
    let rows = &mut *bufs.rows;
    rows.clear();
    if whole {
        rows.extend(0..bufs.flows.len() as u32);
    } else {
        let inside = |(_, fl): &(usize, &Flow)| fl.received_ms >= from_ms && fl.received_ms < to_ms;
        rows.extend(bufs.flows.iter().enumerate().filter(inside).map(|(i, _)| i as u32));
    }
    let in_window = rows.len() as u64;
    // Columns decoded into the rows still in (a stage's rows are a subset of the previous one's).
    let mut decoded = Columns::NONE;
    for stage in sel.stages {
        if rows.is_empty() {
            break;
        }
        match *stage {
            StageTest::Values(sets) => view.retain_values(bufs.scratch, sets, rows)?,
            StageTest::Rows { columns, pred } => {
                let need = columns.without(decoded);
                if need != Columns::NONE {
                    view.decode_rows_in_place(bufs.scratch, rows, bufs.flows, need)?;
                    decoded = decoded | need;
                }
                pred.retain(bufs.flows, rows);
            }
        }
    }
    for (j, &i) in rows.iter().enumerate() {
        bufs.flows[j] = bufs.flows[i as usize];
    }
    let kept = &mut bufs.flows[..rows.len()];
    let rest = columns.without(decoded);
    if !rows.is_empty() && (rest != Columns::NONE || !times_first) {
        view.decode_rows(bufs.scratch, rows, kept, rest, !times_first)?;
    }
    Ok((in_window, rows.len()))
}
