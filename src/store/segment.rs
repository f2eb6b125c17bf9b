//! The segment file format: a 16-byte file header, then self-contained blocks.
//!
//! A block is an 80-byte header (column statistics, lengths, CRC32) followed by
//! an lz4-compressed payload holding up to `MAX_BLOCK_FLOWS` flows column by
//! column. See docs/storage.md for the byte layout.

use std::net::IpAddr;

use crate::flow::{Flow, FlowSource};

use super::codec::{put_addr, put_varint, unzigzag, zigzag, Cursor, Truncated};

pub const FILE_MAGIC: &[u8; 8] = b"WVNRSEG1";
pub const FILE_HEADER_LEN: usize = 16;
pub const BLOCK_MAGIC: &[u8; 4] = b"WVB1";
pub const BLOCK_HEADER_LEN: usize = 80;
/// Writers cut a block at this many flows (or at each flush).
pub const BLOCK_FLOWS: usize = 8192;
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
}

impl BlockHeader {
    pub fn parse(h: &[u8; BLOCK_HEADER_LEN]) -> Result<BlockHeader, BlockError> {
        if &h[0..4] != BLOCK_MAGIC {
            return Err(BlockError::BadHeader);
        }
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
        let hdr = BlockHeader { stats, raw_len: u32_at(8), comp_len: u32_at(12), crc: u32_at(76) };
        let max_raw = stats.flows.saturating_mul(MAX_FLOW_BYTES);
        if stats.flows == 0
            || stats.flows > MAX_BLOCK_FLOWS
            || hdr.raw_len > max_raw
            || hdr.comp_len as usize > lz4_flex::block::get_maximum_output_size(hdr.raw_len as usize)
        {
            return Err(BlockError::BadHeader);
        }
        Ok(hdr)
    }

    fn write(&self, h: &mut [u8; BLOCK_HEADER_LEN]) {
        h[0..4].copy_from_slice(BLOCK_MAGIC);
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

/// CRC32 over the header (without its CRC field) and the payload.
pub fn block_crc(header: &[u8; BLOCK_HEADER_LEN], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..76]);
    h.update(payload);
    h.finalize()
}

/// Encodes blocks, reusing its buffers between calls.
#[derive(Default)]
pub struct BlockEncoder {
    raw: Vec<u8>,
    tags: Vec<u8>,
    addrs: [Vec<u8>; 4],
    out: Vec<u8>,
}

impl BlockEncoder {
    /// The complete block (header + compressed payload) for `flows` (1..=MAX_BLOCK_FLOWS of them).
    pub fn encode(&mut self, flows: &[Flow]) -> &[u8] {
        debug_assert!(!flows.is_empty() && flows.len() <= MAX_BLOCK_FLOWS as usize);
        let stats = BlockStats::of(flows);
        self.encode_columns(flows, stats.min_received_ms);
        let max = lz4_flex::block::get_maximum_output_size(self.raw.len());
        // Grown, never shrunk: zeroing half a megabyte per block showed up in profiles.
        if self.out.len() < BLOCK_HEADER_LEN + max {
            self.out.resize(BLOCK_HEADER_LEN + max, 0);
        }
        let comp_len = lz4_flex::block::compress_into(&self.raw, &mut self.out[BLOCK_HEADER_LEN..])
            .expect("output sized by get_maximum_output_size");
        let block_len = BLOCK_HEADER_LEN + comp_len;
        let mut header =
            BlockHeader { stats, raw_len: self.raw.len() as u32, comp_len: comp_len as u32, crc: 0 };
        let mut h = [0u8; BLOCK_HEADER_LEN];
        header.write(&mut h);
        header.crc = block_crc(&h, &self.out[BLOCK_HEADER_LEN..block_len]);
        header.write(&mut h);
        self.out[..BLOCK_HEADER_LEN].copy_from_slice(&h);
        &self.out[..block_len]
    }

    fn encode_columns(&mut self, flows: &[Flow], base_ms: u64) {
        let raw = &mut self.raw;
        raw.clear();
        raw.reserve(flows.len() * MAX_FLOW_BYTES as usize);
        let mut prev = base_ms;
        for f in flows {
            put_varint(raw, zigzag(f.received_ms.wrapping_sub(prev) as i64));
            prev = f.received_ms;
        }
        for f in flows {
            put_varint(raw, zigzag(f.received_ms.wrapping_sub(f.first_ms) as i64));
        }
        for f in flows {
            put_varint(raw, zigzag(f.last_ms.wrapping_sub(f.first_ms) as i64));
        }
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
        for a in &self.addrs {
            raw.extend_from_slice(a);
        }
        for f in flows {
            put_varint(raw, u64::from(f.domain));
        }
        raw.extend(flows.iter().map(|f| f.source as u8));
        for f in flows {
            raw.extend_from_slice(&f.src_port.to_le_bytes());
        }
        for f in flows {
            raw.extend_from_slice(&f.dst_port.to_le_bytes());
        }
        raw.extend(flows.iter().map(|f| f.protocol));
        raw.extend(flows.iter().map(|f| f.tcp_flags));
        raw.extend(flows.iter().map(|f| f.tos));
        raw.extend(flows.iter().map(|f| f.src_mask));
        raw.extend(flows.iter().map(|f| f.dst_mask));
        for col in [|f: &Flow| f.in_if, |f: &Flow| f.out_if, |f: &Flow| f.src_as, |f: &Flow| f.dst_as] {
            for f in flows {
                put_varint(raw, u64::from(col(f)));
            }
        }
        for f in flows {
            put_varint(raw, u64::from(f.src_vlan));
        }
        for f in flows {
            put_varint(raw, u64::from(f.dst_vlan));
        }
        for f in flows {
            raw.extend_from_slice(&f.src_mac);
        }
        for f in flows {
            raw.extend_from_slice(&f.dst_mac);
        }
        for f in flows {
            put_varint(raw, f.packets);
        }
        for f in flows {
            put_varint(raw, f.bytes);
        }
        for f in flows {
            put_varint(raw, u64::from(f.sampling));
        }
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
    if payload.len() != header.comp_len as usize {
        return Err(BlockError::BadHeader);
    }
    if block_crc(header_bytes, payload) != header.crc {
        return Err(BlockError::BadChecksum);
    }
    scratch.clear();
    scratch.resize(header.raw_len as usize, 0);
    match lz4_flex::block::decompress_into(payload, scratch) {
        Ok(n) if n == header.raw_len as usize => {}
        _ => return Err(BlockError::BadPayload),
    }
    decode_columns(scratch, header.stats.flows as usize, header.stats.min_received_ms, out)
        .map_err(|_| BlockError::BadPayload)
}

fn decode_columns(raw: &[u8], n: usize, base_ms: u64, out: &mut Vec<Flow>) -> Result<(), Truncated> {
    out.clear();
    out.resize(n, Flow::EMPTY);
    let mut c = Cursor::new(raw);
    let mut prev = base_ms;
    for f in out.iter_mut() {
        prev = prev.wrapping_add(unzigzag(c.varint()?) as u64);
        f.received_ms = prev;
    }
    for f in out.iter_mut() {
        f.first_ms = f.received_ms.wrapping_sub(unzigzag(c.varint()?) as u64);
    }
    for f in out.iter_mut() {
        f.last_ms = f.first_ms.wrapping_add(unzigzag(c.varint()?) as u64);
    }
    let tags = c.bytes(4 * n)?;
    for col in 0..4 {
        for (i, f) in out.iter_mut().enumerate() {
            let a = c.addr(tags[4 * i + col])?;
            match col {
                0 => f.exporter = a,
                1 => f.src_addr = a,
                2 => f.dst_addr = a,
                _ => f.next_hop = a,
            }
        }
    }
    for f in out.iter_mut() {
        f.domain = c.varint_u32()?;
    }
    for f in out.iter_mut() {
        f.source = FlowSource::from_u8(c.u8()?).ok_or(Truncated)?;
    }
    for f in out.iter_mut() {
        f.src_port = c.u16()?;
    }
    for f in out.iter_mut() {
        f.dst_port = c.u16()?;
    }
    for f in out.iter_mut() {
        f.protocol = c.u8()?;
    }
    for f in out.iter_mut() {
        f.tcp_flags = c.u8()?;
    }
    for f in out.iter_mut() {
        f.tos = c.u8()?;
    }
    for f in out.iter_mut() {
        f.src_mask = c.u8()?;
    }
    for f in out.iter_mut() {
        f.dst_mask = c.u8()?;
    }
    for f in out.iter_mut() {
        f.in_if = c.varint_u32()?;
    }
    for f in out.iter_mut() {
        f.out_if = c.varint_u32()?;
    }
    for f in out.iter_mut() {
        f.src_as = c.varint_u32()?;
    }
    for f in out.iter_mut() {
        f.dst_as = c.varint_u32()?;
    }
    for f in out.iter_mut() {
        f.src_vlan = c.varint_u16()?;
    }
    for f in out.iter_mut() {
        f.dst_vlan = c.varint_u16()?;
    }
    for f in out.iter_mut() {
        f.src_mac.copy_from_slice(c.bytes(6)?);
    }
    for f in out.iter_mut() {
        f.dst_mac.copy_from_slice(c.bytes(6)?);
    }
    for f in out.iter_mut() {
        f.packets = c.varint()?;
    }
    for f in out.iter_mut() {
        f.bytes = c.varint()?;
    }
    for f in out.iter_mut() {
        f.sampling = c.varint_u32()?;
    }
    if c.remaining() != 0 {
        return Err(Truncated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
