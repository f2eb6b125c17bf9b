//! Reading and writing packet captures of export traffic: classic pcap (both
//! byte orders, micro- and nanosecond stamps) and pcapng, link types Ethernet,
//! raw IP, Linux cooked (SLL, SLL2) and BSD loopback. Only what the collector
//! needs: the UDP datagrams, who sent them, to which port, and when.

use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::{bail, Context, Result};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Refuse absurd record lengths instead of allocating them (a corrupt file).
const MAX_RECORD: usize = 1 << 20;

/// One UDP datagram found in a capture.
#[derive(Clone, Debug)]
pub struct UdpDatagram {
    /// Capture time, UTC ms.
    pub time_ms: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// What a capture held besides the datagrams we could use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub packets: u64,
    pub udp: u64,
    /// IP fragments (a UDP datagram split by the network); not reassembled.
    pub fragments: u64,
    /// Not UDP, or a link type / header we could not parse.
    pub skipped: u64,
}

enum Format {
    Pcap { big_endian: bool, nanos: bool, linktype: u32 },
    Pcapng { big_endian: bool, interfaces: Vec<(u32, u64)> }, // (linktype, ticks per second)
}

/// Streams UDP datagrams out of a pcap or pcapng file.
pub struct CaptureReader<R: Read> {
    input: R,
    format: Format,
    pub stats: CaptureStats,
    buf: Vec<u8>,
}

impl CaptureReader<BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open capture {}", path.display()))?;
        CaptureReader::new(BufReader::with_capacity(1 << 20, file))
            .with_context(|| format!("{} is not a pcap or pcapng capture", path.display()))
    }
}

fn u32_at(b: &[u8], big: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn u16_at(b: &[u8], big: bool) -> u16 {
    if big {
        u16::from_be_bytes([b[0], b[1]])
    } else {
        u16::from_le_bytes([b[0], b[1]])
    }
}

impl<R: Read> CaptureReader<R> {
    pub fn new(mut input: R) -> Result<Self> {
        let mut magic = [0u8; 4];
        input.read_exact(&mut magic).context("capture is empty")?;
        let format = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => Self::pcap_header(&mut input, false, false)?,
            [0xa1, 0xb2, 0xc3, 0xd4] => Self::pcap_header(&mut input, true, false)?,
            [0x4d, 0x3c, 0xb2, 0xa1] => Self::pcap_header(&mut input, false, true)?,
            [0xa1, 0xb2, 0x3c, 0x4d] => Self::pcap_header(&mut input, true, true)?,
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                let mut reader = CaptureReader {
                    input,
                    format: Format::Pcapng { big_endian: false, interfaces: Vec::new() },
                    stats: CaptureStats::default(),
                    buf: Vec::new(),
                };
                reader.pcapng_section_header()?;
                return Ok(reader);
            }
            _ => bail!("unknown capture magic {:02x?}", magic),
        };
        Ok(CaptureReader { input, format, stats: CaptureStats::default(), buf: Vec::new() })
    }

    fn pcap_header(input: &mut R, big: bool, nanos: bool) -> Result<Format> {
        let mut rest = [0u8; 20];
        input.read_exact(&mut rest).context("pcap header truncated")?;
        Ok(Format::Pcap { big_endian: big, nanos, linktype: u32_at(&rest[16..20], big) & 0xffff })
    }

    /// Called with the block type already consumed.
    fn pcapng_section_header(&mut self) -> Result<()> {
        let mut head = [0u8; 8];
        self.input.read_exact(&mut head).context("pcapng section header truncated")?;
        let big = match head[4..8] {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => bail!("pcapng byte-order magic is wrong"),
        };
        let len = u32_at(&head[0..4], big) as usize;
        if !(28..=MAX_RECORD).contains(&len) || !len.is_multiple_of(4) {
            bail!("pcapng section header length {len} is invalid");
        }
        let mut rest = vec![0u8; len - 12];
        self.input.read_exact(&mut rest).context("pcapng section header truncated")?;
        self.format = Format::Pcapng { big_endian: big, interfaces: Vec::new() };
        Ok(())
    }

    /// The next UDP datagram, or `None` at the end of the capture. A truncated
    /// final record ends the capture quietly (a capture cut off by a kill).
    pub fn next_datagram(&mut self) -> Result<Option<UdpDatagram>> {
        loop {
            let (linktype, time_ms) = match self.next_frame()? {
                Some(v) => v,
                None => return Ok(None),
            };
            self.stats.packets += 1;
            if let Some(d) = parse_frame(linktype, &self.buf, time_ms, &mut self.stats) {
                self.stats.udp += 1;
                return Ok(Some(d));
            }
        }
    }

    /// Reads the next packet's bytes into `self.buf`; returns its link type and time.
    fn next_frame(&mut self) -> Result<Option<(u32, u64)>> {
        match &mut self.format {
            Format::Pcap { big_endian, nanos, linktype } => {
                let (big, nanos, linktype) = (*big_endian, *nanos, *linktype);
                let mut head = [0u8; 16];
                if !read_or_eof(&mut self.input, &mut head)? {
                    return Ok(None);
                }
                let secs = u32_at(&head[0..4], big) as u64;
                let frac = u32_at(&head[4..8], big) as u64;
                let caplen = u32_at(&head[8..12], big) as usize;
                if caplen > MAX_RECORD {
                    bail!("pcap record length {caplen} is corrupt");
                }
                self.buf.resize(caplen, 0);
                if !read_or_eof(&mut self.input, &mut self.buf)? {
                    return Ok(None);
                }
                let ms = secs * 1000 + if nanos { frac / 1_000_000 } else { frac / 1000 };
                Ok(Some((linktype, ms)))
            }
            Format::Pcapng { .. } => self.next_pcapng_frame(),
        }
    }

    fn next_pcapng_frame(&mut self) -> Result<Option<(u32, u64)>> {
        loop {
            let big = match &self.format {
                Format::Pcapng { big_endian, .. } => *big_endian,
                _ => unreachable!("only called for pcapng"),
            };
            let mut head = [0u8; 8];
            if !read_or_eof(&mut self.input, &mut head)? {
                return Ok(None);
            }
            if head[0..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                // A new section: its header carries its own byte order.
                let mut hdr = [0u8; 4];
                hdr.copy_from_slice(&head[4..8]);
                let mut chained = io::Cursor::new(hdr.to_vec()).chain(&mut self.input);
                let mut rest = [0u8; 8];
                chained.read_exact(&mut rest[..4])?;
                chained.read_exact(&mut rest[4..8])?;
                let big2 = match rest[4..8] {
                    [0x1a, 0x2b, 0x3c, 0x4d] => true,
                    [0x4d, 0x3c, 0x2b, 0x1a] => false,
                    _ => bail!("pcapng byte-order magic is wrong"),
                };
                let len = u32_at(&rest[0..4], big2) as usize;
                if !(28..=MAX_RECORD).contains(&len) {
                    bail!("pcapng section header length {len} is invalid");
                }
                let mut skip = vec![0u8; len - 12];
                self.input.read_exact(&mut skip)?;
                self.format = Format::Pcapng { big_endian: big2, interfaces: Vec::new() };
                continue;
            }
            let block_type = u32_at(&head[0..4], big);
            let len = u32_at(&head[4..8], big) as usize;
            if !(12..=MAX_RECORD).contains(&len) || !len.is_multiple_of(4) {
                bail!("pcapng block length {len} is corrupt");
            }
            self.buf.resize(len - 8, 0);
            if !read_or_eof(&mut self.input, &mut self.buf)? {
                return Ok(None);
            }
            let body_len = len - 12;
            let Format::Pcapng { interfaces, .. } = &mut self.format else { unreachable!() };
            match block_type {
                1 if body_len >= 8 => {
                    // Interface description: link type, then options (if_tsresol).
                    let linktype = u16_at(&self.buf[0..2], big) as u32;
                    let mut ticks = 1_000_000u64;
                    let mut opts = &self.buf[8..body_len];
                    while opts.len() >= 4 {
                        let code = u16_at(&opts[0..2], big);
                        let olen = u16_at(&opts[2..4], big) as usize;
                        let padded = (olen + 3) & !3;
                        if code == 0 || opts.len() < 4 + olen {
                            break;
                        }
                        if code == 9 && olen >= 1 {
                            let r = opts[4];
                            ticks = if r & 0x80 != 0 {
                                1u64.checked_shl((r & 0x7f) as u32).unwrap_or(1_000_000)
                            } else {
                                10u64.checked_pow(r as u32).unwrap_or(1_000_000)
                            };
                        }
                        opts = &opts[(4 + padded).min(opts.len())..];
                    }
                    interfaces.push((linktype, ticks.max(1)));
                }
                6 if body_len >= 20 => {
                    // Enhanced packet block.
                    let iface = u32_at(&self.buf[0..4], big) as usize;
                    let ts =
                        ((u32_at(&self.buf[4..8], big) as u64) << 32) | u32_at(&self.buf[8..12], big) as u64;
                    let caplen = u32_at(&self.buf[12..16], big) as usize;
                    let Some(&(linktype, ticks)) = interfaces.get(iface) else {
                        self.stats.skipped += 1;
                        continue;
                    };
                    if 20 + caplen > body_len {
                        bail!("pcapng packet length {caplen} exceeds its block");
                    }
                    let ms = (ts as u128 * 1000 / ticks as u128) as u64;
                    self.buf.copy_within(20..20 + caplen, 0);
                    self.buf.truncate(caplen);
                    return Ok(Some((linktype, ms)));
                }
                3 if body_len >= 4 => {
                    // Simple packet block: interface 0, no time stamp.
                    let Some(&(linktype, _)) = interfaces.first() else { continue };
                    let orig = u32_at(&self.buf[0..4], big) as usize;
                    let caplen = orig.min(body_len - 4);
                    self.buf.copy_within(4..4 + caplen, 0);
                    self.buf.truncate(caplen);
                    return Ok(Some((linktype, 0)));
                }
                _ => {} // statistics, name resolution, custom blocks: not needed
            }
        }
    }
}

/// `read_exact`, but a clean or torn end of file gives `false`.
fn read_or_eof<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<bool> {
    match input.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn parse_frame(linktype: u32, frame: &[u8], time_ms: u64, stats: &mut CaptureStats) -> Option<UdpDatagram> {
    let sliced = match linktype {
        LINKTYPE_ETHERNET => SlicedPacket::from_ethernet(frame).ok(),
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => SlicedPacket::from_ip(frame).ok(),
        LINKTYPE_LINUX_SLL if frame.len() >= 16 => SlicedPacket::from_ip(&frame[16..]).ok(),
        LINKTYPE_LINUX_SLL2 if frame.len() >= 20 => SlicedPacket::from_ip(&frame[20..]).ok(),
        LINKTYPE_NULL if frame.len() >= 4 => SlicedPacket::from_ip(&frame[4..]).ok(),
        _ => None,
    };
    let Some(sliced) = sliced else {
        stats.skipped += 1;
        return None;
    };
    let (src_ip, dst_ip, fragmented): (IpAddr, IpAddr, bool) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
            v4.is_payload_fragmented(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
            v6.is_payload_fragmented(),
        ),
        _ => {
            stats.skipped += 1;
            return None;
        }
    };
    if fragmented {
        stats.fragments += 1;
        return None;
    }
    match &sliced.transport {
        Some(TransportSlice::Udp(udp)) => Some(UdpDatagram {
            time_ms,
            src: SocketAddr::new(src_ip, udp.source_port()),
            dst: SocketAddr::new(dst_ip, udp.destination_port()),
            payload: udp.payload().to_vec(),
        }),
        _ => {
            stats.skipped += 1;
            None
        }
    }
}

/// Writes UDP datagrams as a classic pcap with Ethernet framing (what
/// tshark, softflowd, tcpreplay and nfdump's tools all read).
pub struct CaptureWriter<W: Write> {
    out: W,
    frame: Vec<u8>,
}

impl CaptureWriter<io::BufWriter<std::fs::File>> {
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create capture {}", path.display()))?;
        Ok(CaptureWriter::new(io::BufWriter::with_capacity(1 << 20, file))?)
    }
}

impl<W: Write> CaptureWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut head = Vec::with_capacity(24);
        head.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        head.extend_from_slice(&2u16.to_le_bytes());
        head.extend_from_slice(&4u16.to_le_bytes());
        head.extend_from_slice(&0i32.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        head.extend_from_slice(&65535u32.to_le_bytes());
        head.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&head)?;
        Ok(CaptureWriter { out, frame: Vec::with_capacity(2048) })
    }

    /// Appends one UDP datagram from `src` to `dst` (same address family) at `time_ms`.
    pub fn write_udp(
        &mut self,
        time_ms: u64,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> Result<()> {
        let builder = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let builder = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => builder.ipv4(s.octets(), d.octets(), 64),
            (IpAddr::V6(s), IpAddr::V6(d)) => builder.ipv6(s.octets(), d.octets(), 64),
            _ => bail!("capture: {src} and {dst} are not the same address family"),
        };
        let builder = builder.udp(src.port(), dst.port());
        self.frame.clear();
        builder.write(&mut self.frame, payload).map_err(|e| {
            anyhow::anyhow!("capture: cannot build a frame for a {}-byte datagram: {e}", payload.len())
        })?;
        let mut head = [0u8; 16];
        head[0..4].copy_from_slice(&((time_ms / 1000) as u32).to_le_bytes());
        head[4..8].copy_from_slice(&(((time_ms % 1000) * 1000) as u32).to_le_bytes());
        head[8..12].copy_from_slice(&(self.frame.len() as u32).to_le_bytes());
        head[12..16].copy_from_slice(&(self.frame.len() as u32).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.frame)?;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_back_v4_and_v6() {
        let mut w = CaptureWriter::new(Vec::new()).unwrap();
        let a: SocketAddr = "127.0.0.5:4000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2055".parse().unwrap();
        let c: SocketAddr = "[::1]:5000".parse().unwrap();
        let d: SocketAddr = "[::1]:6343".parse().unwrap();
        w.write_udp(1_700_000_000_123, a, b, b"hello").unwrap();
        w.write_udp(1_700_000_001_456, c, d, &[1, 2, 3]).unwrap();
        assert!(w.write_udp(0, a, d, b"x").is_err());
        let bytes = w.finish().unwrap();

        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        let one = r.next_datagram().unwrap().unwrap();
        assert_eq!(
            (one.time_ms, one.src, one.dst, &one.payload[..]),
            (1_700_000_000_123, a, b, &b"hello"[..])
        );
        let two = r.next_datagram().unwrap().unwrap();
        assert_eq!((two.src, two.dst, &two.payload[..]), (c, d, &[1u8, 2, 3][..]));
        assert!(r.next_datagram().unwrap().is_none());
        assert_eq!(r.stats.udp, 2);
    }

    #[test]
    fn torn_tail_ends_quietly() {
        let mut w = CaptureWriter::new(Vec::new()).unwrap();
        let a: SocketAddr = "127.0.0.5:4000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2055".parse().unwrap();
        w.write_udp(1000, a, b, b"one").unwrap();
        w.write_udp(2000, a, b, b"two").unwrap();
        let bytes = w.finish().unwrap();
        for cut in 24..bytes.len() {
            let mut r = CaptureReader::new(&bytes[..cut]).unwrap();
            let mut n = 0;
            while let Some(_d) = r.next_datagram().unwrap() {
                n += 1;
            }
            assert!(n <= 2);
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = CaptureReader::new(&b"not a capture at all"[..]).err().unwrap();
        assert!(err.to_string().contains("unknown capture magic"), "{err}");
    }
}
