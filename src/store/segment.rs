//! The segment file format: a 16-byte file header, then self-contained blocks.
//!
//! A block is an 80-byte header (column statistics, lengths, CRC32) followed by
//! a payload holding up to `MAX_BLOCK_FLOWS` flows column by column, each column
//! lz4-compressed on its own with its own CRC32 (`chunks`), so a scan reads only the
//! columns it needs. See docs/storage.md for the byte layout.

mod decode;

use std::net::IpAddr;

use crate::flow::Flow;

use super::chunks::{COLUMN_COUNT, DIR_ENTRY_LEN, DIR_ENTRY_LEN_V3};
use super::codec::{put_addr, put_varint, zigzag};
use super::columns::Columns;

pub use decode::BlockView;

pub const FILE_MAGIC: &[u8; 8] = b"WVNRSEG1";
pub const FILE_HEADER_LEN: usize = 16;
/// Blocks this version writes: every column compressed and checksummed on its own (see `chunks`).
pub const BLOCK_MAGIC: &[u8; 4] = b"WVB3";
/// Blocks of format 2 (columns compressed on their own, one CRC over the payload), still read.
pub const BLOCK_MAGIC_V2: &[u8; 4] = b"WVB2";
/// Blocks of format 1 (one LZ4 stream for all columns), still read.
pub const BLOCK_MAGIC_V1: &[u8; 4] = b"WVB1";
pub const BLOCK_HEADER_LEN: usize = 80;
/// Writers cut a block at this many flows (or at each flush).
pub const BLOCK_FLOWS: usize = 2048;
/// Readers refuse blocks claiming more than this: a corrupt header must not make us allocate gigabytes.
pub const MAX_BLOCK_FLOWS: u32 = 65_536;
/// Largest raw payload a valid block can have (every column at its widest), with margin.
const MAX_FLOW_BYTES: u32 = 200;

/// The file header: magic and the bucket start (UTC seconds).
pub fn file_header(bucket: u64) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..8].copy_from_slice(FILE_MAGIC);
    h[8..].copy_from_slice(&bucket.to_le_bytes());
    h
}

pub fn parse_file_header(h: &[u8]) -> Option<u64> {
    if h.len() < FILE_HEADER_LEN || &h[..8] != FILE_MAGIC {
        return None;
    }
    Some(u64::from_le_bytes(h[8..16].try_into().ok()?))
}

/// Per-block column statistics, kept in the block header so scans can skip blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockStats {
    pub flows: u32,
    pub min_received_ms: u64,
    pub max_received_ms: u64,
    pub min_src_port: u16,
    pub max_src_port: u16,
    pub min_dst_port: u16,
    pub max_dst_port: u16,
    /// Bit p set when some flow has protocol p.
    pub protocols: [u8; 32],
}

impl BlockStats {
    fn of(flows: &[Flow]) -> BlockStats {
        let mut s = BlockStats {
            flows: flows.len() as u32,
            min_received_ms: u64::MAX,
            max_received_ms: 0,
            min_src_port: u16::MAX,
            max_src_port: 0,
            min_dst_port: u16::MAX,
            max_dst_port: 0,
            protocols: [0; 32],
        };
        for f in flows {
            s.min_received_ms = s.min_received_ms.min(f.received_ms);
            s.max_received_ms = s.max_received_ms.max(f.received_ms);
            s.min_src_port = s.min_src_port.min(f.src_port);
            s.max_src_port = s.max_src_port.max(f.src_port);
            s.min_dst_port = s.min_dst_port.min(f.dst_port);
            s.max_dst_port = s.max_dst_port.max(f.dst_port);
            s.protocols[(f.protocol >> 3) as usize] |= 1 << (f.protocol & 7);
        }
        s
    }

    pub fn has_protocol(&self, p: u8) -> bool {
        self.protocols[(p >> 3) as usize] & (1 << (p & 7)) != 0
    }

    /// Whether some flow of the block may have `received_ms` in [from, to).
    pub fn overlaps(&self, from_ms: u64, to_ms: u64) -> bool {
        self.flows > 0 && self.max_received_ms >= from_ms && self.min_received_ms < to_ms
    }
}

/// A parsed block header. `comp_len` bytes of payload follow it.
#[derive(Clone, Copy, Debug)]
pub struct BlockHeader {
    /// 1, 2 or 3 (the magic).
    pub version: u8,
    pub stats: BlockStats,
    pub raw_len: u32,
    pub comp_len: u32,
    pub crc: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// Not a block header (wrong magic, impossible lengths).
    BadHeader,
    /// CRC32 over header and payload does not match.
    BadChecksum,
    /// Checksum fine but the payload does not decode (written by a buggy or newer writer).
    BadPayload,
    /// Reading the block's bytes from its file failed (format 3 reads columns on demand).
    Unreadable(std::io::ErrorKind),
}

impl BlockHeader {
    pub fn parse(h: &[u8; BLOCK_HEADER_LEN]) -> Result<BlockHeader, BlockError> {
        let version = match &h[0..4] {
            m if m == BLOCK_MAGIC => 3,
            m if m == BLOCK_MAGIC_V2 => 2,
            m if m == BLOCK_MAGIC_V1 => 1,
            _ => return Err(BlockError::BadHeader),
        };
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or([0; 8]));
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let mut protocols = [0u8; 32];
        protocols.copy_from_slice(&h[40..72]);
        let stats = BlockStats {
            flows: u32_at(4),
            min_received_ms: u64_at(16),
            max_received_ms: u64_at(24),
            min_src_port: u16_at(32),
            max_src_port: u16_at(34),
            min_dst_port: u16_at(36),
            max_dst_port: u16_at(38),
            protocols,
        };
        let hdr = BlockHeader { version, stats, raw_len: u32_at(8), comp_len: u32_at(12), crc: u32_at(76) };
        let max_raw = stats.flows.saturating_mul(MAX_FLOW_BYTES);
        // Formats 2 and 3: a directory, and per column at most LZ4's worst case.
        let overhead = match version {
            3 => COLUMN_COUNT * (DIR_ENTRY_LEN_V3 + 32),
            2 => COLUMN_COUNT * (DIR_ENTRY_LEN + 32),
            _ => 0,
        };
        if stats.flows == 0
            || stats.flows > MAX_BLOCK_FLOWS
            || hdr.raw_len > max_raw
            || hdr.comp_len as usize
                > lz4_flex::block::get_maximum_output_size(hdr.raw_len as usize) + overhead
        {
            return Err(BlockError::BadHeader);
        }
        Ok(hdr)
    }

    fn write(&self, h: &mut [u8; BLOCK_HEADER_LEN]) {
        h[0..4].copy_from_slice(match self.version {
            1 => BLOCK_MAGIC_V1,
            2 => BLOCK_MAGIC_V2,
            _ => BLOCK_MAGIC,
        });
        h[4..8].copy_from_slice(&self.stats.flows.to_le_bytes());
        h[8..12].copy_from_slice(&self.raw_len.to_le_bytes());
        h[12..16].copy_from_slice(&self.comp_len.to_le_bytes());
        h[16..24].copy_from_slice(&self.stats.min_received_ms.to_le_bytes());
        h[24..32].copy_from_slice(&self.stats.max_received_ms.to_le_bytes());
        h[32..34].copy_from_slice(&self.stats.min_src_port.to_le_bytes());
        h[34..36].copy_from_slice(&self.stats.max_src_port.to_le_bytes());
        h[36..38].copy_from_slice(&self.stats.min_dst_port.to_le_bytes());
        h[38..40].copy_from_slice(&self.stats.max_dst_port.to_le_bytes());
        h[40..72].copy_from_slice(&self.stats.protocols);
        h[72..76].copy_from_slice(&0u32.to_le_bytes()); // reserved (flags)
        h[76..80].copy_from_slice(&self.crc.to_le_bytes());
    }
}

/// The header's CRC32: over the header (without its CRC field) and `covered`, which is the
/// whole payload in formats 1 and 2 and the column directory in format 3 (whose columns
/// carry their own CRCs).
pub fn block_crc(header: &[u8; BLOCK_HEADER_LEN], covered: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..76]);
    h.update(covered);
    h.finalize()
}

/// Encodes blocks, reusing its buffers between calls.
#[derive(Default)]
pub struct BlockEncoder {
    raw: Vec<u8>,
    /// End offset in `raw` of each column.
    ends: Vec<usize>,
    tags: Vec<u8>,
    addrs: [Vec<u8>; 4],
    out: Vec<u8>,
}

impl BlockEncoder {
    /// The complete block (header + directory + compressed columns) for `flows`
    /// (1..=MAX_BLOCK_FLOWS of them).
    pub fn encode(&mut self, flows: &[Flow]) -> &[u8] {
        debug_assert!(!flows.is_empty() && flows.len() <= MAX_BLOCK_FLOWS as usize);
        let stats = BlockStats::of(flows);
        self.encode_columns(flows, stats.min_received_ms);
        debug_assert_eq!(self.ends.len(), COLUMN_COUNT);
        let dir_at = BLOCK_HEADER_LEN;
        let dir_end = dir_at + COLUMN_COUNT * DIR_ENTRY_LEN_V3;
        let mut at = dir_end;
        let max = lz4_flex::block::get_maximum_output_size(self.raw.len()) + COLUMN_COUNT * 32;
        // Grown, never shrunk: zeroing half a megabyte per block showed up in profiles.
        if self.out.len() < at + max {
            self.out.resize(at + max, 0);
        }
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            let n = lz4_flex::block::compress_into(&self.raw[start..end], &mut self.out[at..])
                .expect("output sized by get_maximum_output_size per column");
            let crc = crc32fast::hash(&self.out[at..at + n]);
            let e = dir_at + i * DIR_ENTRY_LEN_V3;
            self.out[e..e + 4].copy_from_slice(&((end - start) as u32).to_le_bytes());
            self.out[e + 4..e + 8].copy_from_slice(&(n as u32).to_le_bytes());
            self.out[e + 8..e + 12].copy_from_slice(&crc.to_le_bytes());
            at += n;
            start = end;
        }
        let block_len = at;
        let comp_len = (block_len - BLOCK_HEADER_LEN) as u32;
        let mut header = BlockHeader { version: 3, stats, raw_len: self.raw.len() as u32, comp_len, crc: 0 };
        let mut h = [0u8; BLOCK_HEADER_LEN];
        header.write(&mut h);
        header.crc = block_crc(&h, &self.out[dir_at..dir_end]);
        header.write(&mut h);
        self.out[..BLOCK_HEADER_LEN].copy_from_slice(&h);
        &self.out[..block_len]
    }

    /// Writes the columns one after another into `raw` (the order of `chunks::COLUMNS`),
    /// noting where each ends.
    fn encode_columns(&mut self, flows: &[Flow], base_ms: u64) {
        let (raw, ends) = (&mut self.raw, &mut self.ends);
        raw.clear();
        ends.clear();
        raw.reserve(flows.len() * MAX_FLOW_BYTES as usize);
        let varints = |raw: &mut Vec<u8>, ends: &mut Vec<usize>, v: &dyn Fn(&Flow) -> u64| {
            flows.iter().for_each(|f| put_varint(raw, v(f)));
            ends.push(raw.len());
        };
        let fixed = |raw: &mut Vec<u8>, ends: &mut Vec<usize>, v: &dyn Fn(&Flow, &mut Vec<u8>)| {
            flows.iter().for_each(|f| v(f, raw));
            ends.push(raw.len());
        };
        let mut prev = base_ms;
        for f in flows {
            put_varint(raw, zigzag(f.received_ms.wrapping_sub(prev) as i64));
            prev = f.received_ms;
        }
        ends.push(raw.len());
        varints(raw, ends, &|f| zigzag(f.received_ms.wrapping_sub(f.first_ms) as i64));
        varints(raw, ends, &|f| zigzag(f.last_ms.wrapping_sub(f.first_ms) as i64));
        self.tags.clear();
        for a in &mut self.addrs {
            a.clear();
        }
        for f in flows {
            let cols: [&IpAddr; 4] = [&f.exporter, &f.src_addr, &f.dst_addr, &f.next_hop];
            for (i, addr) in cols.into_iter().enumerate() {
                // Tags are interleaved per flow (4 bytes per flow); lz4 folds the repeats.
                put_addr(&mut self.tags, &mut self.addrs[i], addr);
            }
        }
        raw.extend_from_slice(&self.tags);
        ends.push(raw.len());
        for a in &self.addrs {
            raw.extend_from_slice(a);
            ends.push(raw.len());
        }
        varints(raw, ends, &|f| u64::from(f.domain));
        fixed(raw, ends, &|f, r| r.push(f.source as u8));
        fixed(raw, ends, &|f, r| r.extend_from_slice(&f.src_port.to_le_bytes()));
        fixed(raw, ends, &|f, r| r.extend_from_slice(&f.dst_port.to_le_bytes()));
        fixed(raw, ends, &|f, r| r.push(f.protocol));
        fixed(raw, ends, &|f, r| r.push(f.tcp_flags));
        fixed(raw, ends, &|f, r| r.push(f.tos));
        fixed(raw, ends, &|f, r| r.push(f.src_mask));
        fixed(raw, ends, &|f, r| r.push(f.dst_mask));
        varints(raw, ends, &|f| u64::from(f.in_if));
        varints(raw, ends, &|f| u64::from(f.out_if));
        varints(raw, ends, &|f| u64::from(f.src_as));
        varints(raw, ends, &|f| u64::from(f.dst_as));
        varints(raw, ends, &|f| u64::from(f.src_vlan));
        varints(raw, ends, &|f| u64::from(f.dst_vlan));
        fixed(raw, ends, &|f, r| r.extend_from_slice(&f.src_mac));
        fixed(raw, ends, &|f, r| r.extend_from_slice(&f.dst_mac));
        varints(raw, ends, &|f| f.packets);
        varints(raw, ends, &|f| f.bytes);
        varints(raw, ends, &|f| u64::from(f.sampling));
    }
}

/// Decodes a block's payload (already read, `comp_len` bytes) into `out`, replacing its contents.
/// `scratch` is a reusable decompression buffer.
pub fn decode_block(
    header: &BlockHeader,
    header_bytes: &[u8; BLOCK_HEADER_LEN],
    payload: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<Flow>,
) -> Result<(), BlockError> {
    decode_block_columns(header, header_bytes, payload, scratch, out, Columns::ALL)
}

/// `decode_block`, decoding only `columns` (and the times): the other fields of `out` keep
/// whatever values they had (unspecified). Format 2 blocks decompress only those columns.
pub fn decode_block_columns(
    header: &BlockHeader,
    header_bytes: &[u8; BLOCK_HEADER_LEN],
    payload: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<Flow>,
    columns: Columns,
) -> Result<(), BlockError> {
    BlockView::open(header, header_bytes, payload, scratch)?.decode(scratch, out, columns)
}

#[cfg(test)]
mod tests {
    use super::decode::{decode_columns, decode_rows};
    use super::*;
    use crate::flow::FlowSource;
    use crate::store::chunks;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn sample(i: u64) -> Flow {
        Flow {
            exporter: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            domain: i as u32,
            source: if i.is_multiple_of(2) { FlowSource::Ipfix } else { FlowSource::Sflow },
            first_ms: 1_795_946_700_000 + i * 7,
            last_ms: 1_795_946_700_000 + i * 9,
            received_ms: 1_795_946_700_000 + i * 11 - (i % 3) * 5,
            src_addr: if i.is_multiple_of(5) {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16))
            } else {
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32))
            },
            dst_addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, (i % 250) as u8)),
            src_port: (i * 31) as u16,
            dst_port: 443,
            protocol: (i % 256) as u8,
            tcp_flags: 0x1b,
            in_if: 3,
            out_if: u32::MAX,
            src_as: 65000,
            src_mac: [1, 2, 3, 4, 5, i as u8],
            packets: i * 3 + 1,
            bytes: u64::MAX - i,
            sampling: 100,
            ..Flow::EMPTY
        }
    }

    fn split(block: &[u8]) -> ([u8; BLOCK_HEADER_LEN], &[u8]) {
        let mut h = [0u8; BLOCK_HEADER_LEN];
        h.copy_from_slice(&block[..BLOCK_HEADER_LEN]);
        (h, &block[BLOCK_HEADER_LEN..])
    }

    #[test]
    fn block_round_trip_keeps_every_field() {
        let flows: Vec<Flow> = (0..1000).map(sample).collect();
        let mut enc = BlockEncoder::default();
        let block = enc.encode(&flows).to_vec();
        let (h, payload) = split(&block);
        let hdr = BlockHeader::parse(&h).unwrap();
        assert_eq!(hdr.stats.flows, 1000);
        assert!(hdr.stats.has_protocol(6) && hdr.stats.has_protocol(255));
        assert_eq!(hdr.stats.min_received_ms, flows.iter().map(|f| f.received_ms).min().unwrap());
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        decode_block(&hdr, &h, payload, &mut scratch, &mut out).unwrap();
        assert_eq!(out, flows);
    }

    #[test]
    fn projected_columns_decode_the_same_values() {
        let flows: Vec<Flow> = (0..1000).map(sample).collect();
        let mut enc = BlockEncoder::default();
        let block = enc.encode(&flows).to_vec();
        let (h, payload) = split(&block);
        let hdr = BlockHeader::parse(&h).unwrap();
        let projections = [
            Columns::NONE,
            Columns::DST_PORT | Columns::BYTES | Columns::PACKETS,
            Columns::SRC_ADDR | Columns::NEXT_HOP | Columns::SAMPLING,
            Columns::EXPORTER | Columns::DST_MAC | Columns::SRC_VLAN | Columns::TOS,
        ];
        for cols in projections {
            let (mut scratch, mut out) = (Vec::new(), Vec::new());
            decode_block_columns(&hdr, &h, payload, &mut scratch, &mut out, cols).unwrap();
            let want: Vec<Flow> = flows
                .iter()
                .map(|f| {
                    let pick = |c: Columns| cols.contains(c);
                    let e = Flow::EMPTY;
                    Flow {
                        received_ms: f.received_ms,
                        first_ms: f.first_ms,
                        last_ms: f.last_ms,
                        exporter: if pick(Columns::EXPORTER) { f.exporter } else { e.exporter },
                        src_addr: if pick(Columns::SRC_ADDR) { f.src_addr } else { e.src_addr },
                        next_hop: if pick(Columns::NEXT_HOP) { f.next_hop } else { e.next_hop },
                        dst_port: if pick(Columns::DST_PORT) { f.dst_port } else { 0 },
                        packets: if pick(Columns::PACKETS) { f.packets } else { 0 },
                        bytes: if pick(Columns::BYTES) { f.bytes } else { 0 },
                        sampling: if pick(Columns::SAMPLING) { f.sampling } else { 1 },
                        dst_mac: if pick(Columns::DST_MAC) { f.dst_mac } else { [0; 6] },
                        src_vlan: if pick(Columns::SRC_VLAN) { f.src_vlan } else { 0 },
                        tos: if pick(Columns::TOS) { f.tos } else { 0 },
                        ..e
                    }
                })
                .collect();
            assert_eq!(out, want, "{cols:?}");
        }
        // A column cut short is refused whatever the projection skips.
        let mut ranges = chunks::parse_directory_v3(payload, hdr.raw_len as usize, payload.len())
            .unwrap()
            .0
            .map(|(r, _)| r);
        ranges[0].end -= 1;
        let raw = vec![0u8; hdr.raw_len as usize];
        let mut out = Vec::new();
        for cols in projections {
            assert!(
                decode_columns(&raw, &ranges, 1000, hdr.stats.min_received_ms, &mut out, cols, true).is_err()
            );
        }
    }

    /// Decoding the filter's columns for every row, then the rest for some rows only, gives
    /// those rows exactly as a full decode does, in both formats.
    #[test]
    fn late_materialisation_equals_a_full_decode() {
        let flows: Vec<Flow> = (0..1000).map(sample).collect();
        let mut enc = BlockEncoder::default();
        let v2 = enc.encode(&flows).to_vec();
        let (h2, p2) = split(&v2);
        let hdr2 = BlockHeader::parse(&h2).unwrap();
        let p1 = lz4_flex::block::compress(&enc.raw);
        let (hdr1, h1) = reseal(hdr2, 1, &p1);
        let selections: [Vec<u32>; 4] =
            [vec![], vec![0], vec![999], (0..1000).filter(|i| i % 7 == 3 || i % 11 == 0).collect()];
        for (hdr, h, payload) in [(&hdr2, &h2, p2), (&hdr1, &h1, &p1[..])] {
            for rows in &selections {
                let first = Columns::PROTOCOL | Columns::DST_PORT;
                let mut scratch = Vec::new();
                let mut view = BlockView::open(hdr, h, payload, &mut scratch).unwrap();
                let mut out = Vec::new();
                view.decode(&mut scratch, &mut out, first).unwrap();
                let mut picked: Vec<Flow> = rows.iter().map(|&r| out[r as usize]).collect();
                assert!(picked.iter().zip(rows).all(|(f, &r)| f.dst_port == flows[r as usize].dst_port));
                view.decode_rows(&mut scratch, rows, &mut picked, Columns::ALL.without(first), false)
                    .unwrap();
                let want: Vec<Flow> = rows.iter().map(|&r| flows[r as usize]).collect();
                assert_eq!(picked, want, "v{} rows {:?}", hdr.version, &rows[..rows.len().min(3)]);
                // The filter's columns without the times, the times with the rest.
                let mut view = BlockView::open(hdr, h, payload, &mut scratch).unwrap();
                let mut untimed = vec![Flow::EMPTY; 3];
                view.decode_with(&mut scratch, &mut untimed, first, false).unwrap();
                assert!(untimed.iter().all(|f| f.received_ms == 0 && f.last_ms == 0));
                let mut picked: Vec<Flow> = rows.iter().map(|&r| untimed[r as usize]).collect();
                view.decode_rows(&mut scratch, rows, &mut picked, Columns::ALL.without(first), true).unwrap();
                assert_eq!(picked, want, "v{} untimed", hdr.version);
                // Rows out of order or out of range are refused, not a panic.
                let mut two = vec![Flow::EMPTY; 2];
                assert!(view.decode_rows(&mut scratch, &[5, 5], &mut two, Columns::BYTES, true).is_err());
                assert!(view.decode_rows(&mut scratch, &[5, 1000], &mut two, Columns::BYTES, false).is_err());
            }
        }
        // A column cut short is refused by the row decode too, whichever rows are asked for.
        let mut ranges =
            chunks::parse_directory_v3(p2, hdr2.raw_len as usize, p2.len()).unwrap().0.map(|(r, _)| r);
        ranges[26].end -= 1;
        let raw = vec![0u8; hdr2.raw_len as usize];
        let mut one = [Flow::EMPTY];
        assert!(decode_rows(&raw, &ranges, 1000, &[3], &mut one, Columns::BYTES).is_err());
    }

    /// Blocks written before per-column compression (one LZ4 stream) still read, projected or not.
    #[test]
    fn format_1_blocks_still_read() {
        let flows: Vec<Flow> = (0..700).map(sample).collect();
        let mut enc = BlockEncoder::default();
        let v2 = enc.encode(&flows).to_vec();
        let payload = lz4_flex::block::compress(&enc.raw);
        let (h2, _) = split(&v2);
        let (_, h) = reseal(BlockHeader::parse(&h2).unwrap(), 1, &payload);
        assert_eq!(&h[..4], b"WVB1");
        let parsed = BlockHeader::parse(&h).unwrap();
        assert_eq!(parsed.version, 1);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        decode_block(&parsed, &h, &payload, &mut scratch, &mut out).unwrap();
        assert_eq!(out, flows);
        let mut projected = Vec::new();
        decode_block_columns(&parsed, &h, &payload, &mut scratch, &mut projected, Columns::DST_PORT).unwrap();
        assert!(projected
            .iter()
            .zip(&flows)
            .all(|(a, b)| a.dst_port == b.dst_port && a.last_ms == b.last_ms));
    }

    /// A format 3 block as format 2 wrote it: the same columns behind a directory without
    /// CRCs, and the header's CRC over the whole payload.
    fn as_format_2(block: &[u8]) -> ([u8; BLOCK_HEADER_LEN], Vec<u8>) {
        let (h3, p3) = split(block);
        let hdr3 = BlockHeader::parse(&h3).unwrap();
        let (dir, _) = chunks::parse_directory_v3(p3, hdr3.raw_len as usize, p3.len()).unwrap();
        let mut payload = Vec::new();
        for (raw, comp) in &dir {
            payload.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            payload.extend_from_slice(&(comp.len() as u32).to_le_bytes());
        }
        for (_, comp) in &dir {
            payload.extend_from_slice(&p3[comp.clone()]);
        }
        (reseal(hdr3, 2, &payload).1, payload)
    }

    /// `hdr` as the header of a format 1 or 2 block with `payload` (its CRC over all of it).
    fn reseal(mut hdr: BlockHeader, version: u8, payload: &[u8]) -> (BlockHeader, [u8; BLOCK_HEADER_LEN]) {
        hdr.version = version;
        hdr.comp_len = payload.len() as u32;
        let mut h = [0u8; BLOCK_HEADER_LEN];
        hdr.write(&mut h);
        hdr.crc = block_crc(&h, payload);
        hdr.write(&mut h);
        (hdr, h)
    }

    #[test]
    fn format_2_blocks_still_read() {
        let flows: Vec<Flow> = (0..700).map(sample).collect();
        let block = BlockEncoder::default().encode(&flows).to_vec();
        assert_eq!(&block[..4], b"WVB3");
        let (h, payload) = as_format_2(&block);
        assert_eq!(&h[..4], b"WVB2");
        let parsed = BlockHeader::parse(&h).unwrap();
        assert_eq!(parsed.version, 2);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        decode_block(&parsed, &h, &payload, &mut scratch, &mut out).unwrap();
        assert_eq!(out, flows);
        // Its one CRC covers every column, read or not.
        let mut bad = payload.clone();
        *bad.last_mut().unwrap() ^= 1;
        let res = decode_block_columns(&parsed, &h, &bad, &mut scratch, &mut out, Columns::DST_PORT);
        assert_eq!(res, Err(BlockError::BadChecksum));
    }

    /// Format 3 read from a file reads only the columns asked for: each is checked by its own
    /// CRC when read, so a damaged column fails the scans that read it and no other.
    #[test]
    fn format_3_reads_and_checks_columns_on_demand() {
        use std::io::Write;
        let flows: Vec<Flow> = (0..1500).map(sample).collect();
        let mut block = BlockEncoder::default().encode(&flows).to_vec();
        let (h, payload) = split(&block);
        let hdr = BlockHeader::parse(&h).unwrap();
        let (dir, _) = chunks::parse_directory_v3(payload, hdr.raw_len as usize, payload.len()).unwrap();
        let write = |bytes: &[u8]| {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(bytes).unwrap();
            f
        };
        let read = |file: &std::fs::File, cols: Columns| {
            let (mut buf, mut scratch, mut out) = (Vec::new(), Vec::new(), Vec::new());
            let mut view =
                BlockView::open_file(&hdr, &h, file, BLOCK_HEADER_LEN as u64, &mut buf, &mut scratch)?;
            view.decode(&mut scratch, &mut out, cols).map(|_| out)
        };
        let file = write(&block);
        assert_eq!(read(&file, Columns::ALL).unwrap(), flows);
        let ports = read(&file, Columns::DST_PORT).unwrap();
        assert!(ports.iter().zip(&flows).all(|(a, b)| a.dst_port == b.dst_port && a.last_ms == b.last_ms));
        // Damage the `bytes` column (26): scans of other columns still read the block.
        let at = BLOCK_HEADER_LEN + dir[26].1.start + 3;
        block[at] ^= 0x10;
        let file = write(&block);
        assert!(read(&file, Columns::DST_PORT).is_ok());
        assert_eq!(read(&file, Columns::BYTES).unwrap_err(), BlockError::BadChecksum);
        assert_eq!(read(&file, Columns::ALL).unwrap_err(), BlockError::BadChecksum);
        // A file cut inside the payload: the columns past the cut cannot be read.
        block[at] ^= 0x10;
        let file = write(&block[..BLOCK_HEADER_LEN + dir[20].1.start]);
        assert!(read(&file, Columns::DST_PORT).is_ok());
        assert_eq!(
            read(&file, Columns::BYTES).unwrap_err(),
            BlockError::Unreadable(std::io::ErrorKind::UnexpectedEof)
        );
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let flows: Vec<Flow> = (0..50).map(sample).collect();
        let block = BlockEncoder::default().encode(&flows).to_vec();
        for i in 0..block.len() {
            let mut b = block.clone();
            b[i] ^= 0x40;
            let (h, payload) = split(&b);
            let res = BlockHeader::parse(&h).and_then(|hdr| {
                decode_block(&hdr, &h, payload, &mut Vec::new(), &mut Vec::new()).map(|_| ())
            });
            assert!(res.is_err(), "flip at {i} not detected");
        }
    }
}
