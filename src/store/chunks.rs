//! The columns of a block payload and where each one lies.
//!
//! Format 3 (`WVB3`) compresses every column on its own behind a directory of
//! (raw length, compressed length, CRC32) entries, so a scan reads, checks and
//! decompresses only the columns it needs. Format 2 (`WVB2`, still read) had the same
//! directory without the CRCs (one CRC over the whole payload). Format 1 (`WVB1`, still
//! read) compressed all columns as one stream; its columns are found by stepping through
//! the decompressed payload.

use std::ops::Range;

use super::codec::{Cursor, Truncated};
use super::columns::Columns;

/// How a column stores its `n` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Varint,
    /// `width` bytes per flow.
    Fixed(usize),
    /// 4 family tags per flow (one per address column).
    Tags,
    /// Addresses of tag slot `i`: 4 or 16 bytes each, as the tags say.
    Addr(usize),
}

pub const COLUMN_COUNT: usize = 28;
pub const TAGS: usize = 3;
/// Bytes of one format 2 directory entry (raw length, compressed length; u32 LE each).
pub const DIR_ENTRY_LEN: usize = 8;
/// Bytes of one format 3 directory entry (raw length, compressed length, CRC32 of the
/// compressed bytes; u32 LE each).
pub const DIR_ENTRY_LEN_V3: usize = 12;

/// Every column in payload order, with the projection bit that asks for it
/// (`NONE`: always read). docs/storage.md lists them.
pub const COLUMNS: [(Kind, Columns); COLUMN_COUNT] = [
    (Kind::Varint, Columns::NONE), // received_ms
    (Kind::Varint, Columns::NONE), // first_ms
    (Kind::Varint, Columns::NONE), // last_ms
    (Kind::Tags, Columns::NONE),   // read when an address column is
    (Kind::Addr(0), Columns::EXPORTER),
    (Kind::Addr(1), Columns::SRC_ADDR),
    (Kind::Addr(2), Columns::DST_ADDR),
    (Kind::Addr(3), Columns::NEXT_HOP),
    (Kind::Varint, Columns::DOMAIN),
    (Kind::Fixed(1), Columns::SOURCE),
    (Kind::Fixed(2), Columns::SRC_PORT),
    (Kind::Fixed(2), Columns::DST_PORT),
    (Kind::Fixed(1), Columns::PROTOCOL),
    (Kind::Fixed(1), Columns::TCP_FLAGS),
    (Kind::Fixed(1), Columns::TOS),
    (Kind::Fixed(1), Columns::SRC_MASK),
    (Kind::Fixed(1), Columns::DST_MASK),
    (Kind::Varint, Columns::IN_IF),
    (Kind::Varint, Columns::OUT_IF),
    (Kind::Varint, Columns::SRC_AS),
    (Kind::Varint, Columns::DST_AS),
    (Kind::Varint, Columns::SRC_VLAN),
    (Kind::Varint, Columns::DST_VLAN),
    (Kind::Fixed(6), Columns::SRC_MAC),
    (Kind::Fixed(6), Columns::DST_MAC),
    (Kind::Varint, Columns::PACKETS),
    (Kind::Varint, Columns::BYTES),
    (Kind::Varint, Columns::SAMPLING),
];

const ADDRESSES: Columns =
    Columns::EXPORTER.union(Columns::SRC_ADDR).union(Columns::DST_ADDR).union(Columns::NEXT_HOP);

/// Whether column `i` must be read under projection `cols`.
pub fn wanted(i: usize, cols: Columns) -> bool {
    match COLUMNS[i] {
        (Kind::Tags, _) => cols.intersects(ADDRESSES),
        (_, bit) => cols.contains(bit),
    }
}

/// Format 1: the byte range of every column of a decompressed payload of `n` flows.
pub fn split_v1(raw: &[u8], n: usize) -> Result<[Range<usize>; COLUMN_COUNT], Truncated> {
    let mut ranges: [Range<usize>; COLUMN_COUNT] = std::array::from_fn(|_| 0..0);
    let mut c = Cursor::new(raw);
    let mut tags: &[u8] = &[];
    for (i, (kind, _)) in COLUMNS.iter().enumerate() {
        let start = raw.len() - c.remaining();
        match *kind {
            Kind::Varint => c.skip_varints(n)?,
            Kind::Fixed(w) => c.skip(w * n)?,
            Kind::Tags => tags = c.bytes(4 * n)?,
            Kind::Addr(slot) => c.skip(addr_bytes(tags, slot)?)?,
        }
        ranges[i] = start..raw.len() - c.remaining();
    }
    if c.remaining() != 0 {
        return Err(Truncated);
    }
    Ok(ranges)
}

/// Total bytes of the addresses of tag slot `slot`.
pub fn addr_bytes(tags: &[u8], slot: usize) -> Result<usize, Truncated> {
    let mut len = 0;
    for t in tags.iter().skip(slot).step_by(4) {
        len += match t {
            4 => 4,
            6 => 16,
            _ => return Err(Truncated),
        };
    }
    Ok(len)
}

/// Per column: its range in the decompressed payload, and its compressed range in the payload.
pub type Directory = [(Range<usize>, Range<usize>); COLUMN_COUNT];

/// Format 2: the directory at the start of a payload, checked against the header's totals.
pub fn parse_directory(payload: &[u8], raw_len: usize) -> Result<Directory, Truncated> {
    parse_entries(payload, DIR_ENTRY_LEN, raw_len, payload.len()).map(|(dir, _)| dir)
}

/// Format 3: the directory `dir` (its first `COLUMN_COUNT * DIR_ENTRY_LEN_V3` bytes) of a
/// payload of `payload_len` bytes, checked against the header's totals, and each column's CRC.
pub fn parse_directory_v3(
    dir: &[u8],
    raw_len: usize,
    payload_len: usize,
) -> Result<(Directory, [u32; COLUMN_COUNT]), Truncated> {
    parse_entries(dir, DIR_ENTRY_LEN_V3, raw_len, payload_len)
}

fn parse_entries(
    dir: &[u8],
    entry_len: usize,
    raw_len: usize,
    payload_len: usize,
) -> Result<(Directory, [u32; COLUMN_COUNT]), Truncated> {
    let dir_len = COLUMN_COUNT * entry_len;
    let dir = dir.get(..dir_len).ok_or(Truncated)?;
    let mut out: Directory = std::array::from_fn(|_| (0..0, 0..0));
    let mut crcs = [0u32; COLUMN_COUNT];
    let (mut raw_at, mut comp_at) = (0usize, dir_len);
    for (i, e) in dir.chunks_exact(entry_len).enumerate() {
        let raw = u32::from_le_bytes([e[0], e[1], e[2], e[3]]) as usize;
        let comp = u32::from_le_bytes([e[4], e[5], e[6], e[7]]) as usize;
        if entry_len == DIR_ENTRY_LEN_V3 {
            crcs[i] = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
        }
        out[i] = (raw_at..raw_at + raw, comp_at..comp_at + comp);
        raw_at += raw;
        comp_at += comp;
    }
    if raw_at != raw_len || comp_at != payload_len {
        return Err(Truncated);
    }
    Ok((out, crcs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_projection_bit_names_one_column() {
        let bits: Vec<Columns> = COLUMNS.iter().map(|c| c.1).filter(|b| *b != Columns::NONE).collect();
        assert_eq!(bits.len(), 24);
        let all = bits.iter().fold(Columns::NONE, |acc, b| {
            assert!(!acc.intersects(*b), "{b:?} twice");
            acc | *b
        });
        assert_eq!(all, Columns::ALL);
        assert!(wanted(TAGS, Columns::DST_ADDR) && !wanted(TAGS, Columns::DST_PORT));
        assert!((0..3).all(|i| wanted(i, Columns::NONE)));
    }

    #[test]
    fn directory_must_add_up() {
        let mut p = vec![0u8; COLUMN_COUNT * DIR_ENTRY_LEN];
        p[0..4].copy_from_slice(&5u32.to_le_bytes());
        p[4..8].copy_from_slice(&3u32.to_le_bytes());
        p.extend_from_slice(&[1, 2, 3]);
        let d = parse_directory(&p, 5).unwrap();
        assert_eq!(d[0], (0..5, COLUMN_COUNT * DIR_ENTRY_LEN..COLUMN_COUNT * DIR_ENTRY_LEN + 3));
        assert!(parse_directory(&p, 6).is_err());
        assert!(parse_directory(&p[..p.len() - 1], 5).is_err());
        assert!(parse_directory(&p[..10], 5).is_err());
    }
}
