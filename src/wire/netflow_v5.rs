//! NetFlow v5 (Cisco): a 24-byte header followed by `count` fixed 48-byte
//! IPv4 flow records. Checked views for decoding, `Repr`s and an [`Encoder`]
//! for emitting.

use std::net::{IpAddr, Ipv4Addr};

use super::{EncoderConfig, FlowEncoder, WireError};
use crate::flow::{Flow, FlowSource};

pub const VERSION: u16 = 5;
pub const HEADER_LEN: usize = 24;
pub const RECORD_LEN: usize = 48;
/// Cisco's limit, and what keeps a datagram at 24 + 30 × 48 = 1464 bytes.
pub const MAX_RECORDS: usize = 30;
/// RFC 6793 AS_TRANS: what a 16-bit AS field carries for a 32-bit AS.
pub const AS_TRANS: u16 = 23456;

type Field = core::ops::Range<usize>;

mod field {
    use super::Field;
    pub const VERSION: Field = 0..2;
    pub const COUNT: Field = 2..4;
    pub const SYS_UPTIME: Field = 4..8;
    pub const UNIX_SECS: Field = 8..12;
    pub const UNIX_NSECS: Field = 12..16;
    pub const FLOW_SEQUENCE: Field = 16..20;
    pub const ENGINE_TYPE: usize = 20;
    pub const ENGINE_ID: usize = 21;
    pub const SAMPLING_INTERVAL: Field = 22..24;

    pub const SRCADDR: Field = 0..4;
    pub const DSTADDR: Field = 4..8;
    pub const NEXTHOP: Field = 8..12;
    pub const INPUT: Field = 12..14;
    pub const OUTPUT: Field = 14..16;
    pub const D_PKTS: Field = 16..20;
    pub const D_OCTETS: Field = 20..24;
    pub const FIRST: Field = 24..28;
    pub const LAST: Field = 28..32;
    pub const SRCPORT: Field = 32..34;
    pub const DSTPORT: Field = 34..36;
    pub const TCP_FLAGS: usize = 37;
    pub const PROT: usize = 38;
    pub const TOS: usize = 39;
    pub const SRC_AS: Field = 40..42;
    pub const DST_AS: Field = 42..44;
    pub const SRC_MASK: usize = 44;
    pub const DST_MASK: usize = 45;
}

#[inline]
fn be16(b: &[u8], f: Field) -> u16 {
    u16::from_be_bytes([b[f.start], b[f.start + 1]])
}

#[inline]
fn be32(b: &[u8], f: Field) -> u32 {
    u32::from_be_bytes([b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3]])
}

#[inline]
fn ipv4(b: &[u8], f: Field) -> Ipv4Addr {
    Ipv4Addr::new(b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3])
}

/// A checked view of a whole v5 datagram.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the version, that the header fits and that the `count` (≥ 1) records
    /// it announces follow it (trailing bytes are allowed).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::VERSION) != VERSION {
            return Err(WireError::BadVersion);
        }
        let count = usize::from(be16(b, field::COUNT));
        if count == 0 {
            return Err(WireError::BadLength);
        }
        if b.len() < HEADER_LEN + count * RECORD_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    /// "Export format version number" (5).
    #[inline]
    pub fn version(&self) -> u16 {
        be16(self.buffer.as_ref(), field::VERSION)
    }
    /// "Number of flows exported in this packet (1-30)".
    #[inline]
    pub fn count(&self) -> u16 {
        be16(self.buffer.as_ref(), field::COUNT)
    }
    /// "Current time in milliseconds since the export device booted".
    #[inline]
    pub fn sys_uptime(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SYS_UPTIME)
    }
    /// "Current count of seconds since 0000 UTC 1970".
    #[inline]
    pub fn unix_secs(&self) -> u32 {
        be32(self.buffer.as_ref(), field::UNIX_SECS)
    }
    /// "Residual nanoseconds since 0000 UTC 1970".
    #[inline]
    pub fn unix_nsecs(&self) -> u32 {
        be32(self.buffer.as_ref(), field::UNIX_NSECS)
    }
    /// "Sequence counter of total flows seen".
    #[inline]
    pub fn flow_sequence(&self) -> u32 {
        be32(self.buffer.as_ref(), field::FLOW_SEQUENCE)
    }
    #[inline]
    pub fn engine_type(&self) -> u8 {
        self.buffer.as_ref()[field::ENGINE_TYPE]
    }
    #[inline]
    pub fn engine_id(&self) -> u8 {
        self.buffer.as_ref()[field::ENGINE_ID]
    }
    /// "First two bits hold the sampling mode; remaining 14 bits hold value of sampling interval".
    #[inline]
    pub fn sampling_interval(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SAMPLING_INTERVAL) & 0x3fff
    }
    #[inline]
    pub fn sampling_mode(&self) -> u8 {
        (be16(self.buffer.as_ref(), field::SAMPLING_INTERVAL) >> 14) as u8
    }
    /// Export time in UTC ms (unix_secs + unix_nsecs).
    #[inline]
    pub fn export_ms(&self) -> u64 {
        u64::from(self.unix_secs()) * 1000 + u64::from(self.unix_nsecs() / 1_000_000)
    }
    /// The `count` flow records in order (one bounds check for all of them).
    #[inline]
    pub fn records(&self) -> impl Iterator<Item = FlowRecord<&[u8; RECORD_LEN]>> {
        self.record_bytes().iter().map(FlowRecord::new)
    }
    /// The `count` records as fixed-size arrays: a loop over them reads every
    /// field at a fixed offset, with no bounds check per field.
    #[inline]
    pub fn record_bytes(&self) -> &[[u8; RECORD_LEN]] {
        let n = usize::from(self.count());
        let body = self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default();
        let (chunks, _) = body.as_chunks::<RECORD_LEN>();
        &chunks[..n.min(chunks.len())]
    }
    /// The `i`-th flow record; `None` past `count`.
    #[inline]
    pub fn record(&self, i: usize) -> Option<FlowRecord<&[u8; RECORD_LEN]>> {
        if i >= usize::from(self.count()) {
            return None;
        }
        let start = HEADER_LEN + i * RECORD_LEN;
        // A fixed-size array: the accessors compile without bounds checks.
        let buffer: &[u8; RECORD_LEN] =
            self.buffer.as_ref().get(start..start + RECORD_LEN)?.try_into().ok()?;
        Some(FlowRecord { buffer })
    }
}

/// A view of one 48-byte flow record (always exactly `RECORD_LEN` bytes).
#[derive(Debug, Clone, Copy)]
pub struct FlowRecord<T: AsRef<[u8]>> {
    buffer: T,
}

impl<'a> FlowRecord<&'a [u8; RECORD_LEN]> {
    /// A view of a record already known to be whole (no check needed).
    #[inline]
    pub const fn new(buffer: &'a [u8; RECORD_LEN]) -> FlowRecord<&'a [u8; RECORD_LEN]> {
        FlowRecord { buffer }
    }
}

impl<T: AsRef<[u8]>> FlowRecord<T> {
    pub fn new_checked(buffer: T) -> Result<FlowRecord<T>, WireError> {
        if buffer.as_ref().len() < RECORD_LEN {
            return Err(WireError::Truncated);
        }
        Ok(FlowRecord { buffer })
    }
    #[inline]
    pub fn srcaddr(&self) -> Ipv4Addr {
        ipv4(self.buffer.as_ref(), field::SRCADDR)
    }
    #[inline]
    pub fn dstaddr(&self) -> Ipv4Addr {
        ipv4(self.buffer.as_ref(), field::DSTADDR)
    }
    #[inline]
    pub fn nexthop(&self) -> Ipv4Addr {
        ipv4(self.buffer.as_ref(), field::NEXTHOP)
    }
    /// "SNMP index of input interface".
    #[inline]
    pub fn input(&self) -> u16 {
        be16(self.buffer.as_ref(), field::INPUT)
    }
    #[inline]
    pub fn output(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OUTPUT)
    }
    /// "Packets in the flow".
    #[inline]
    pub fn d_pkts(&self) -> u32 {
        be32(self.buffer.as_ref(), field::D_PKTS)
    }
    /// "Total number of Layer 3 bytes in the packets of the flow".
    #[inline]
    pub fn d_octets(&self) -> u32 {
        be32(self.buffer.as_ref(), field::D_OCTETS)
    }
    /// "SysUptime at start of flow".
    #[inline]
    pub fn first(&self) -> u32 {
        be32(self.buffer.as_ref(), field::FIRST)
    }
    /// "SysUptime at the time the last packet of the flow was received".
    #[inline]
    pub fn last(&self) -> u32 {
        be32(self.buffer.as_ref(), field::LAST)
    }
    #[inline]
    pub fn srcport(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRCPORT)
    }
    #[inline]
    pub fn dstport(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DSTPORT)
    }
    #[inline]
    pub fn tcp_flags(&self) -> u8 {
        self.buffer.as_ref()[field::TCP_FLAGS]
    }
    #[inline]
    pub fn prot(&self) -> u8 {
        self.buffer.as_ref()[field::PROT]
    }
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    #[inline]
    pub fn src_as(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_AS)
    }
    #[inline]
    pub fn dst_as(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_AS)
    }
    #[inline]
    pub fn src_mask(&self) -> u8 {
        self.buffer.as_ref()[field::SRC_MASK]
    }
    #[inline]
    pub fn dst_mask(&self) -> u8 {
        self.buffer.as_ref()[field::DST_MASK]
    }
}

/// The header fields an emitter chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderRepr {
    pub count: u16,
    pub sys_uptime: u32,
    pub unix_secs: u32,
    pub unix_nsecs: u32,
    pub flow_sequence: u32,
    pub engine_type: u8,
    pub engine_id: u8,
    /// Mode in the top 2 bits, interval in the low 14.
    pub sampling: u16,
}

impl HeaderRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> HeaderRepr {
        HeaderRepr {
            count: p.count(),
            sys_uptime: p.sys_uptime(),
            unix_secs: p.unix_secs(),
            unix_nsecs: p.unix_nsecs(),
            flow_sequence: p.flow_sequence(),
            engine_type: p.engine_type(),
            engine_id: p.engine_id(),
            sampling: be16(p.buffer.as_ref(), field::SAMPLING_INTERVAL),
        }
    }

    /// Appends the 24-byte header.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let mut head = [0u8; HEADER_LEN];
        self.write(&mut head);
        out.extend_from_slice(&head);
    }

    /// Writes the 24-byte header into `b`.
    pub fn write(&self, b: &mut [u8; HEADER_LEN]) {
        b[field::VERSION].copy_from_slice(&VERSION.to_be_bytes());
        b[field::COUNT].copy_from_slice(&self.count.to_be_bytes());
        b[field::SYS_UPTIME].copy_from_slice(&self.sys_uptime.to_be_bytes());
        b[field::UNIX_SECS].copy_from_slice(&self.unix_secs.to_be_bytes());
        b[field::UNIX_NSECS].copy_from_slice(&self.unix_nsecs.to_be_bytes());
        b[field::FLOW_SEQUENCE].copy_from_slice(&self.flow_sequence.to_be_bytes());
        b[field::ENGINE_TYPE] = self.engine_type;
        b[field::ENGINE_ID] = self.engine_id;
        b[field::SAMPLING_INTERVAL].copy_from_slice(&self.sampling.to_be_bytes());
    }
}

/// One record's fields, as written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordRepr {
    pub srcaddr: [u8; 4],
    pub dstaddr: [u8; 4],
    pub nexthop: [u8; 4],
    pub input: u16,
    pub output: u16,
    pub d_pkts: u32,
    pub d_octets: u32,
    pub first: u32,
    pub last: u32,
    pub srcport: u16,
    pub dstport: u16,
    pub tcp_flags: u8,
    pub prot: u8,
    pub tos: u8,
    pub src_as: u16,
    pub dst_as: u16,
    pub src_mask: u8,
    pub dst_mask: u8,
}

fn v4_octets(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(|a| a.octets()).unwrap_or([0; 4]),
    }
}

fn as16(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS)
}

impl RecordRepr {
    pub fn parse<T: AsRef<[u8]>>(r: &FlowRecord<T>) -> RecordRepr {
        RecordRepr {
            srcaddr: r.srcaddr().octets(),
            dstaddr: r.dstaddr().octets(),
            nexthop: r.nexthop().octets(),
            input: r.input(),
            output: r.output(),
            d_pkts: r.d_pkts(),
            d_octets: r.d_octets(),
            first: r.first(),
            last: r.last(),
            srcport: r.srcport(),
            dstport: r.dstport(),
            tcp_flags: r.tcp_flags(),
            prot: r.prot(),
            tos: r.tos(),
            src_as: r.src_as(),
            dst_as: r.dst_as(),
            src_mask: r.src_mask(),
            dst_mask: r.dst_mask(),
        }
    }

    /// The record an exporter booted at `boot_ms` with 1-in-`sampling` sampling
    /// writes for `f`: counters divided by the sampling rate (saturating at 32 bits),
    /// 32-bit ASes as AS_TRANS, interface indexes above 65535 as 65535.
    pub fn from_flow(f: &Flow, boot_ms: u64, sampling: u32) -> RecordRepr {
        let s = u64::from(sampling.max(1));
        // Unsampled is the common case: skip two 64-bit divisions per record.
        let sat32 = |v: u64| u32::try_from(if s == 1 { v } else { v / s }).unwrap_or(u32::MAX);
        RecordRepr {
            srcaddr: v4_octets(f.src_addr),
            dstaddr: v4_octets(f.dst_addr),
            nexthop: v4_octets(f.next_hop),
            input: u16::try_from(f.in_if).unwrap_or(u16::MAX),
            output: u16::try_from(f.out_if).unwrap_or(u16::MAX),
            d_pkts: sat32(f.packets),
            d_octets: sat32(f.bytes),
            first: f.first_ms.wrapping_sub(boot_ms) as u32,
            last: f.last_ms.wrapping_sub(boot_ms) as u32,
            srcport: f.src_port,
            dstport: f.dst_port,
            tcp_flags: f.tcp_flags,
            prot: f.protocol,
            tos: f.tos,
            src_as: as16(f.src_as),
            dst_as: as16(f.dst_as),
            src_mask: f.src_mask,
            dst_mask: f.dst_mask,
        }
    }

    /// Appends the 48-byte record.
    #[inline]
    pub fn emit(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + RECORD_LEN, 0);
        self.write(&mut out[at..]);
    }

    /// Writes the 48-byte record over the first 48 bytes of `b` (at fixed
    /// offsets; the pad bytes are left as they are, zero in a fresh buffer).
    #[inline]
    pub fn write(&self, b: &mut [u8]) {
        let b: &mut [u8; RECORD_LEN] = (&mut b[..RECORD_LEN]).try_into().expect("48 bytes");
        b[field::SRCADDR].copy_from_slice(&self.srcaddr);
        b[field::DSTADDR].copy_from_slice(&self.dstaddr);
        b[field::NEXTHOP].copy_from_slice(&self.nexthop);
        b[field::INPUT].copy_from_slice(&self.input.to_be_bytes());
        b[field::OUTPUT].copy_from_slice(&self.output.to_be_bytes());
        b[field::D_PKTS].copy_from_slice(&self.d_pkts.to_be_bytes());
        b[field::D_OCTETS].copy_from_slice(&self.d_octets.to_be_bytes());
        b[field::FIRST].copy_from_slice(&self.first.to_be_bytes());
        b[field::LAST].copy_from_slice(&self.last.to_be_bytes());
        b[field::SRCPORT].copy_from_slice(&self.srcport.to_be_bytes());
        b[field::DSTPORT].copy_from_slice(&self.dstport.to_be_bytes());
        b[field::TCP_FLAGS] = self.tcp_flags;
        b[field::PROT] = self.prot;
        b[field::TOS] = self.tos;
        b[field::SRC_AS].copy_from_slice(&self.src_as.to_be_bytes());
        b[field::DST_AS].copy_from_slice(&self.dst_as.to_be_bytes());
        b[field::SRC_MASK] = self.src_mask;
        b[field::DST_MASK] = self.dst_mask;
    }
}

/// NetFlow v5 exporter: keeps `flow_sequence` (flows sent before this
/// datagram), writes the sampling interval into the header.
///
/// v5 cannot carry IPv6: IPv6 flows are consumed (counted in the returned
/// number) but not written, and counted in [`Encoder::skipped_ipv6`]. When every
/// consumed flow was IPv6, `out` is left empty and nothing should be sent.
pub struct Encoder {
    cfg: EncoderConfig,
    flow_sequence: u32,
    skipped_ipv6: u64,
}

impl Encoder {
    pub fn new(cfg: EncoderConfig) -> Self {
        Encoder { cfg, flow_sequence: 0, skipped_ipv6: 0 }
    }

    /// IPv6 flows given to `encode` and dropped because v5 cannot carry them.
    pub fn skipped_ipv6(&self) -> u64 {
        self.skipped_ipv6
    }

    /// The header sampling field: deterministic mode (1) with the 14-bit interval
    /// (intervals above 16383 are clamped), or 0 when unsampled.
    fn sampling_field(&self) -> u16 {
        match self.cfg.sampling {
            0 | 1 => 0,
            s => (1 << 14) | (s.min(0x3fff) as u16),
        }
    }
}

impl FlowEncoder for Encoder {
    fn protocol(&self) -> FlowSource {
        FlowSource::NetflowV5
    }

    fn max_flows_per_datagram(&self) -> usize {
        MAX_RECORDS
    }

    fn encode(&mut self, flows: &[Flow], now_ms: u64, out: &mut Vec<u8>) -> usize {
        out.clear();
        // Which flows this datagram takes: up to 30 IPv4 ones, and the IPv6 ones among them.
        let mut taken = 0;
        let mut count = 0usize;
        for f in flows {
            if count == MAX_RECORDS {
                break;
            }
            taken += 1;
            count += usize::from(!f.is_ipv6());
        }
        self.skipped_ipv6 += (taken - count) as u64;
        if count == 0 {
            return taken;
        }
        // Sized once; each record is written in place at its fixed offset.
        out.resize(HEADER_LEN + count * RECORD_LEN, 0);
        let v4 = flows[..taken].iter().filter(|f| !f.is_ipv6());
        for (f, b) in v4.zip(out[HEADER_LEN..].chunks_exact_mut(RECORD_LEN)) {
            RecordRepr::from_flow(f, self.cfg.boot_ms, self.cfg.sampling).write(b);
        }
        let header = HeaderRepr {
            count: count as u16,
            sys_uptime: now_ms.wrapping_sub(self.cfg.boot_ms) as u32,
            unix_secs: (now_ms / 1000) as u32,
            unix_nsecs: ((now_ms % 1000) * 1_000_000) as u32,
            flow_sequence: self.flow_sequence,
            engine_type: (self.cfg.domain >> 8) as u8,
            engine_id: self.cfg.domain as u8,
            sampling: self.sampling_field(),
        };
        // The header goes in front once the record count is known.
        let mut head = [0u8; HEADER_LEN];
        header.write(&mut head);
        out[..HEADER_LEN].copy_from_slice(&head);
        self.flow_sequence = self.flow_sequence.wrapping_add(count as u32);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(sampling: u32) -> EncoderConfig {
        EncoderConfig {
            domain: 0x0102,
            sampling,
            template_every: 0,
            boot_ms: 1_000_000,
            agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    #[test]
    fn header_fields_from_bytes() {
        let mut b = [0u8; HEADER_LEN + RECORD_LEN];
        b[..24].copy_from_slice(&[
            0, 5, 0, 1, 0, 0, 0x03, 0xe8, 0x65, 0, 0, 0, 0x1d, 0xcd, 0x65, 0, 0, 0, 0, 7, 1, 2, 0x40, 10,
        ]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.count(), 1);
        assert_eq!(p.sys_uptime(), 1000);
        assert_eq!(p.unix_secs(), 0x6500_0000);
        assert_eq!(p.unix_nsecs(), 500_000_000);
        assert_eq!(p.export_ms(), 0x6500_0000u64 * 1000 + 500);
        assert_eq!(p.flow_sequence(), 7);
        assert_eq!((p.engine_type(), p.engine_id()), (1, 2));
        assert_eq!((p.sampling_mode(), p.sampling_interval()), (1, 10));
        assert!(p.record(0).is_some() && p.record(1).is_none());
    }

    #[test]
    fn checks_reject_bad_input() {
        assert_eq!(Packet::new_checked(&[0u8, 5][..]).unwrap_err(), WireError::Truncated);
        let mut b = [0u8; HEADER_LEN];
        b[1] = 9;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadVersion);
        b[1] = 5;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadLength);
        b[3] = 2; // two records claimed, none present
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn encoder_writes_sequence_sampling_and_skips_ipv6() {
        let mut e = Encoder::new(cfg(10));
        let v4 = Flow {
            src_addr: Ipv4Addr::new(10, 0, 0, 1).into(),
            packets: 20,
            bytes: 2000,
            first_ms: 1_000_500,
            last_ms: 1_001_500,
            src_as: 70000,
            ..Flow::EMPTY
        };
        let v6 = Flow { src_addr: "2001:db8::1".parse().unwrap(), ..Flow::EMPTY };
        let mut out = Vec::new();
        assert_eq!(e.encode(&[v4, v6, v4], 1_002_000, &mut out), 3);
        assert_eq!(e.skipped_ipv6(), 1);
        assert_eq!(out.len(), HEADER_LEN + 2 * RECORD_LEN);
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!((p.count(), p.flow_sequence(), p.sampling_interval()), (2, 0, 10));
        assert_eq!(p.sys_uptime(), 2000);
        let r = p.record(0).unwrap();
        assert_eq!((r.d_pkts(), r.d_octets(), r.first(), r.last()), (2, 200, 500, 1500));
        assert_eq!(r.src_as(), AS_TRANS);
        assert_eq!(e.encode(&[v4], 1_003_000, &mut out), 1);
        assert_eq!(Packet::new_checked(&out[..]).unwrap().flow_sequence(), 2);
        assert_eq!(e.encode(&[v6], 1_003_000, &mut out), 1);
        assert!(out.is_empty());
    }

    #[test]
    fn encoder_caps_at_thirty_records() {
        let mut e = Encoder::new(cfg(1));
        let flows = vec![Flow::EMPTY; 45];
        let mut out = Vec::new();
        assert_eq!(e.encode(&flows, 1_002_000, &mut out), 30);
        assert_eq!(out.len(), 1464);
    }
}
