//! Decoding the blocks a scan reads (see `blocks` for finding and reading them): which
//! blocks and columns it wants, and the row filter applied while decoding.

use crate::flow::Flow;

use super::columns::Columns;
use super::segment::{BlockError, BlockHeader, BlockStats, BlockView, BLOCK_HEADER_LEN};

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

/// A row filter a scan applies while decoding: only `columns` (and the times) are decoded
/// to evaluate `keep`, and the scan's other columns only for the rows it keeps.
#[derive(Clone, Copy)]
pub struct RowFilter<'a> {
    pub columns: Columns,
    /// Whether `keep` reads the times (otherwise they are decoded only for kept rows when the
    /// block lies inside the window).
    pub times: bool,
    /// Keeps the indexes of `rows` (increasing, into the flows) whose flow matches.
    pub keep: &'a (dyn Fn(&[Flow], &mut Vec<u32>) + Sync),
}

/// Reusable per-thread buffers.
#[derive(Default)]
pub struct ReadBuffers {
    pub(super) payload: Vec<u8>,
    scratch: Vec<u8>,
    pub flows: Vec<Flow>,
    /// Rows of the current block a `RowFilter` kept.
    rows: Vec<u32>,
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
/// returns how many there are.
pub(super) fn decode_all(
    hdr: &BlockHeader,
    hb: &[u8; BLOCK_HEADER_LEN],
    bufs: &mut ReadBuffers,
    columns: Columns,
    from_ms: u64,
    to_ms: u64,
) -> Result<u64, BlockError> {
    let mut view = BlockView::open(hdr, hb, &bufs.payload, &mut bufs.scratch)?;
    view.decode(&mut bufs.scratch, &mut bufs.flows, columns)?;
    let s = &hdr.stats;
    if s.min_received_ms < from_ms || s.max_received_ms >= to_ms {
        bufs.flows.retain(|fl| fl.received_ms >= from_ms && fl.received_ms < to_ms);
    }
    Ok(bufs.flows.len() as u64)
}

/// Late materialisation: decodes the filter's columns, keeps the flows in the window it
/// accepts, and decodes the other `columns` for those rows only (not at all, their bytes not
/// even decompressed, when none is kept). Returns the block's flows in the window.
pub(super) fn decode_selected(
    hdr: &BlockHeader,
    hb: &[u8; BLOCK_HEADER_LEN],
    bufs: &mut ReadBuffers,
    columns: Columns,
    sel: &RowFilter,
    from_ms: u64,
    to_ms: u64,
) -> Result<u64, BlockError> {
    let s = &hdr.stats;
    let whole = s.min_received_ms >= from_ms && s.max_received_ms < to_ms;
    // Times first only when the window or the filter needs them.
    let times_first = !whole || sel.times;
    let mut view = BlockView::open(hdr, hb, &bufs.payload, &mut bufs.scratch)?;
    view.decode_with(&mut bufs.scratch, &mut bufs.flows, sel.columns, times_first)?;
    let rows = &mut bufs.rows;
    rows.clear();
    if whole {
        rows.extend(0..bufs.flows.len() as u32);
    } else {
        let inside = |(_, fl): &(usize, &Flow)| fl.received_ms >= from_ms && fl.received_ms < to_ms;
        rows.extend(bufs.flows.iter().enumerate().filter(inside).map(|(i, _)| i as u32));
    }
    let in_window = rows.len() as u64;
    (sel.keep)(&bufs.flows, rows);
    for (j, &i) in rows.iter().enumerate() {
        bufs.flows[j] = bufs.flows[i as usize];
    }
    bufs.flows.truncate(rows.len());
    let rest = columns.without(sel.columns);
    if !rows.is_empty() && (rest != Columns::NONE || !times_first) {
        view.decode_rows(&mut bufs.scratch, rows, &mut bufs.flows, rest, !times_first)?;
    }
    Ok(in_window)
}
