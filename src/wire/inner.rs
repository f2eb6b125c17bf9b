//! The packet inside an export: the sampled header an sFlow agent copies from
//! a frame (Ethernet, 802.1Q / QinQ tags, IPv4, IPv6 with extension headers,
//! TCP, UDP, ICMP, ICMPv6), parsed with bounds checks into one `Copy` summary,
//! and the reverse: a real header built from a `Flow` for the encoder.
//!
//! Sampled headers are cut short on purpose (typically 128 bytes), so a header
//! that ends inside the transport layer is normal: the summary then carries the
//! addresses without ports. Only an Ethernet or IP header that is itself cut
//! short is an error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;
use crate::flow::{proto, Flow};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tag some switches still send.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

const ETHERNET_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const IPV4_MIN_LEN: usize = 20;
const IPV6_LEN: usize = 40;
/// More stacked tags than this is not a real frame.
const MAX_VLAN_TAGS: usize = 2;
/// Extension headers walked before giving up on finding the transport header.
const MAX_IPV6_EXTENSIONS: usize = 8;

/// What the collector keeps from a sampled packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerPacket {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Outer 802.1Q VLAN id (0: untagged).
    pub vlan: u16,
    /// Inner (customer) VLAN id of a QinQ frame (0: none).
    pub inner_vlan: u16,
    /// Ethertype after the tags.
    pub ethertype: u16,
    /// Bytes of layer-2 header before the IP header (Ethernet + tags).
    pub l2_len: u16,
    /// True when an IPv4 or IPv6 header was parsed; the fields below are meaningful only then.
    pub is_ip: bool,
    pub src_addr: IpAddr,
    pub dst_addr: IpAddr,
    pub protocol: u8,
    /// IPv4 TOS byte / IPv6 traffic class.
    pub tos: u8,
    /// IP packet length the IP header declares (IPv4 total length, IPv6 40 + payload length).
    pub ip_len: u32,
    pub src_port: u16,
    /// Destination port; for ICMP and ICMPv6 `type << 8 | code` (see `Flow`).
    pub dst_port: u16,
    pub tcp_flags: u8,
}

impl InnerPacket {
    pub const EMPTY: InnerPacket = InnerPacket {
        src_mac: [0; 6],
        dst_mac: [0; 6],
        vlan: 0,
        inner_vlan: 0,
        ethertype: 0,
        l2_len: 0,
        is_ip: false,
        src_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        protocol: 0,
        tos: 0,
        ip_len: 0,
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
    };
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Parses an Ethernet frame prefix (with up to two VLAN tags) and what follows.
pub fn parse_ethernet(frame: &[u8]) -> Result<InnerPacket, WireError> {
    if frame.len() < ETHERNET_LEN {
        return Err(WireError::Truncated);
    }
    let mut p = InnerPacket::EMPTY;
    p.dst_mac.copy_from_slice(&frame[0..6]);
    p.src_mac.copy_from_slice(&frame[6..12]);
    let mut ethertype = be16(frame, 12);
    let mut at = ETHERNET_LEN;
    let mut tags = 0;
    while matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
        if tags == MAX_VLAN_TAGS || frame.len() < at + VLAN_TAG_LEN {
            return Err(WireError::Truncated);
        }
        let vid = be16(frame, at) & 0x0fff;
        if tags == 0 {
            p.vlan = vid;
        } else {
            p.inner_vlan = vid;
        }
        ethertype = be16(frame, at + 2);
        at += VLAN_TAG_LEN;
        tags += 1;
    }
    p.ethertype = ethertype;
    p.l2_len = at as u16;
    match ethertype {
        ETHERTYPE_IPV4 => parse_ipv4_into(&frame[at..], &mut p)?,
        ETHERTYPE_IPV6 => parse_ipv6_into(&frame[at..], &mut p)?,
        _ => {}
    }
    Ok(p)
}

/// Parses a packet that starts with an IPv4 header (sFlow header protocol 11).
pub fn parse_ipv4(packet: &[u8]) -> Result<InnerPacket, WireError> {
    let mut p = InnerPacket { ethertype: ETHERTYPE_IPV4, ..InnerPacket::EMPTY };
    parse_ipv4_into(packet, &mut p)?;
    Ok(p)
}

/// Parses a packet that starts with an IPv6 header (sFlow header protocol 12).
pub fn parse_ipv6(packet: &[u8]) -> Result<InnerPacket, WireError> {
    let mut p = InnerPacket { ethertype: ETHERTYPE_IPV6, ..InnerPacket::EMPTY };
    parse_ipv6_into(packet, &mut p)?;
    Ok(p)
}

fn parse_ipv4_into(b: &[u8], p: &mut InnerPacket) -> Result<(), WireError> {
    if b.len() < IPV4_MIN_LEN {
        return Err(WireError::Truncated);
    }
    if b[0] >> 4 != 4 {
        return Err(WireError::BadVersion);
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    if ihl < IPV4_MIN_LEN {
        return Err(WireError::BadLength);
    }
    p.is_ip = true;
    p.tos = b[1];
    p.ip_len = u32::from(be16(b, 2));
    p.protocol = b[9];
    p.src_addr = IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]));
    p.dst_addr = IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19]));
    // Only the first fragment carries the transport header.
    let fragment_offset = be16(b, 6) & 0x1fff;
    if fragment_offset == 0 && b.len() > ihl {
        parse_transport(&b[ihl..], p);
    }
    Ok(())
}

fn parse_ipv6_into(b: &[u8], p: &mut InnerPacket) -> Result<(), WireError> {
    if b.len() < IPV6_LEN {
        return Err(WireError::Truncated);
    }
    if b[0] >> 4 != 6 {
        return Err(WireError::BadVersion);
    }
    p.is_ip = true;
    p.tos = (b[0] << 4) | (b[1] >> 4);
    p.ip_len = IPV6_LEN as u32 + u32::from(be16(b, 4));
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&b[8..24]);
    dst.copy_from_slice(&b[24..40]);
    p.src_addr = IpAddr::V6(Ipv6Addr::from(src));
    p.dst_addr = IpAddr::V6(Ipv6Addr::from(dst));
    let mut next = b[6];
    let mut at = IPV6_LEN;
    for _ in 0..MAX_IPV6_EXTENSIONS {
        let ext_len = match next {
            // Hop-by-hop, routing, destination options: (len + 1) * 8 bytes.
            0 | 43 | 60 => match b.get(at + 1) {
                Some(&l) => (usize::from(l) + 1) * 8,
                None => break,
            },
            // Fragment header: fixed 8 bytes; a non-first fragment has no transport header.
            44 => {
                if b.len() < at + 8 {
                    break;
                }
                if be16(b, at + 2) & 0xfff8 != 0 {
                    p.protocol = b[at];
                    return Ok(());
                }
                8
            }
            // Authentication header: (len + 2) * 4 bytes.
            51 => match b.get(at + 1) {
                Some(&l) => (usize::from(l) + 2) * 4,
                None => break,
            },
            _ => break,
        };
        match b.get(at) {
            Some(&n) => next = n,
            None => break,
        }
        at += ext_len;
    }
    p.protocol = next;
    if at < b.len() {
        parse_transport(&b[at..], p);
    }
    Ok(())
}

/// Ports, flags and ICMP type/code; a transport header cut short leaves them 0.
fn parse_transport(b: &[u8], p: &mut InnerPacket) {
    match p.protocol {
        proto::TCP if b.len() >= 14 => {
            p.src_port = be16(b, 0);
            p.dst_port = be16(b, 2);
            p.tcp_flags = b[13] & 0x3f;
        }
        proto::UDP if b.len() >= 4 => {
            p.src_port = be16(b, 0);
            p.dst_port = be16(b, 2);
        }
        proto::ICMP | proto::ICMPV6 if b.len() >= 2 => {
            p.dst_port = u16::from(b[0]) << 8 | u16::from(b[1]);
        }
        _ => {}
    }
}

/// Bytes of transport header `emit_headers` writes for `protocol`.
pub fn transport_header_len(protocol: u8) -> usize {
    match protocol {
        proto::TCP => 20,
        proto::UDP | proto::ICMP | proto::ICMPV6 => 8,
        _ => 0,
    }
}

/// Bytes of IP header `emit_headers` writes for `flow`.
pub fn ip_header_len(flow: &Flow) -> usize {
    if flow.is_ipv6() {
        IPV6_LEN
    } else {
        IPV4_MIN_LEN
    }
}

/// Bytes of Ethernet header (with a VLAN tag when `flow.src_vlan != 0`).
pub fn l2_header_len(flow: &Flow) -> usize {
    if flow.src_vlan != 0 {
        ETHERNET_LEN + VLAN_TAG_LEN
    } else {
        ETHERNET_LEN
    }
}

/// Most bytes `emit_headers` ever writes: Ethernet + tag + IPv6 + TCP.
pub const MAX_EMITTED_HEADER: usize = ETHERNET_LEN + VLAN_TAG_LEN + IPV6_LEN + 20;

/// Appends the headers of one packet of `flow` to `out`: Ethernet (MACs from
/// the flow, an 802.1Q tag carrying `src_vlan` when non-zero), IPv4 or IPv6
/// (addresses, TOS, protocol, `ip_len` as the declared IP length), then TCP,
/// UDP, ICMP or ICMPv6 by `flow.protocol` (no payload: the header is the
/// sampled prefix of a longer packet). Returns the bytes written.
///
/// `flow` must have both addresses of one family (see `sflow::as_sampled`);
/// an IPv4 address in an IPv6 flow is written as its v4-mapped form.
pub fn emit_headers(flow: &Flow, ip_len: u16, out: &mut Vec<u8>) -> usize {
    // Built at known offsets in a fixed array, then appended in one copy.
    let mut h = [0u8; MAX_EMITTED_HEADER];
    h[0..6].copy_from_slice(&flow.dst_mac);
    h[6..12].copy_from_slice(&flow.src_mac);
    let mut at = 12;
    if flow.src_vlan != 0 {
        h[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        h[14..16].copy_from_slice(&(flow.src_vlan & 0x0fff).to_be_bytes());
        at = 16;
    }
    let ipv6 = flow.is_ipv6();
    let ethertype = if ipv6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
    h[at..at + 2].copy_from_slice(&ethertype.to_be_bytes());
    at += 2;
    if ipv6 {
        let ip = &mut h[at..at + IPV6_LEN];
        ip[0] = 0x60 | (flow.tos >> 4);
        ip[1] = flow.tos << 4; // and a zero flow label
        ip[4..6].copy_from_slice(&ip_len.saturating_sub(IPV6_LEN as u16).to_be_bytes());
        ip[6] = flow.protocol;
        ip[7] = 64; // hop limit
        ip[8..24].copy_from_slice(&v6_octets(flow.src_addr));
        ip[24..40].copy_from_slice(&v6_octets(flow.dst_addr));
        at += IPV6_LEN;
    } else {
        let ip: &mut [u8; IPV4_MIN_LEN] = (&mut h[at..at + IPV4_MIN_LEN]).try_into().expect("20 bytes");
        ip[0] = 0x45;
        ip[1] = flow.tos;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[6] = 0x40; // id 0, don't fragment
        ip[8] = 64; // ttl
        ip[9] = flow.protocol;
        ip[12..16].copy_from_slice(&v4_octets(flow.src_addr));
        ip[16..20].copy_from_slice(&v4_octets(flow.dst_addr));
        let sum = ipv4_checksum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        at += IPV4_MIN_LEN;
    }
    let l4 = &mut h[at..];
    match flow.protocol {
        proto::TCP => {
            l4[0..2].copy_from_slice(&flow.src_port.to_be_bytes());
            l4[2..4].copy_from_slice(&flow.dst_port.to_be_bytes());
            l4[7] = 1; // sequence 1, acknowledgment 0
            l4[12] = 0x50; // data offset 5
            l4[13] = flow.tcp_flags & 0x3f;
            l4[14..16].copy_from_slice(&[0xff, 0xff]); // window; checksum, urgent 0
        }
        proto::UDP => {
            let udp_len = ip_len.saturating_sub(ip_header_len(flow) as u16);
            l4[0..2].copy_from_slice(&flow.src_port.to_be_bytes());
            l4[2..4].copy_from_slice(&flow.dst_port.to_be_bytes());
            l4[4..6].copy_from_slice(&udp_len.to_be_bytes());
        }
        proto::ICMP | proto::ICMPV6 => {
            l4[0..2].copy_from_slice(&flow.dst_port.to_be_bytes()); // type, code
        }
        _ => {}
    }
    at += transport_header_len(flow.protocol);
    out.extend_from_slice(&h[..at]);
    at
}

fn v4_octets(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(|v| v.octets()).unwrap_or([0; 4]),
    }
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn ipv4_checksum(header: &[u8; IPV4_MIN_LEN]) -> u16 {
    let mut sum: u32 = header.chunks_exact(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_flow() -> Flow {
        Flow {
            src_addr: "10.0.0.1".parse().unwrap(),
            dst_addr: "192.0.2.7".parse().unwrap(),
            src_port: 40000,
            dst_port: 443,
            protocol: proto::TCP,
            tcp_flags: 0x12,
            tos: 0x28,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            ..Flow::EMPTY
        }
    }

    #[test]
    fn emitted_tcp_ipv4_parses_back_and_checks_out() {
        let flow = tcp_flow();
        let mut buf = Vec::new();
        let n = emit_headers(&flow, 1500, &mut buf);
        assert_eq!(n, 14 + 20 + 20);
        assert_eq!(ipv4_checksum(buf[14..34].try_into().unwrap()), 0, "checksum over a valid header is 0");
        let p = parse_ethernet(&buf).unwrap();
        assert!(p.is_ip);
        assert_eq!((p.src_addr, p.dst_addr), (flow.src_addr, flow.dst_addr));
        assert_eq!((p.src_port, p.dst_port, p.tcp_flags, p.tos), (40000, 443, 0x12, 0x28));
        assert_eq!((p.ip_len, p.l2_len, p.src_mac, p.dst_mac), (1500, 14, flow.src_mac, flow.dst_mac));
    }

    #[test]
    fn vlan_tagged_icmpv6_parses_back() {
        let flow = Flow {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            protocol: proto::ICMPV6,
            dst_port: 128 << 8,
            src_vlan: 42,
            tos: 0xb8,
            ..Flow::EMPTY
        };
        let mut buf = Vec::new();
        emit_headers(&flow, 104, &mut buf);
        let p = parse_ethernet(&buf).unwrap();
        assert_eq!((p.vlan, p.l2_len, p.ethertype), (42, 18, ETHERTYPE_IPV6));
        assert_eq!((p.protocol, p.dst_port, p.tos, p.ip_len), (58, 128 << 8, 0xb8, 104));
        assert_eq!(p.dst_addr, flow.dst_addr);
    }

    #[test]
    fn qinq_and_ipv6_extension_headers() {
        // Outer 802.1ad tag 100, inner 802.1Q tag 7, IPv6 with hop-by-hop (8 bytes) then UDP.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0x00, 100, 0x81, 0x00, 0x20, 7, 0x86, 0xdd]);
        let mut ip6 = [0u8; 40];
        ip6[0] = 0x60;
        ip6[4..6].copy_from_slice(&24u16.to_be_bytes());
        ip6[6] = 0; // hop-by-hop
        ip6[23] = 1;
        ip6[39] = 2;
        f.extend_from_slice(&ip6);
        f.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // next = UDP, len 0 → 8 bytes
        f.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 16, 0, 0]);
        let p = parse_ethernet(&f).unwrap();
        assert_eq!((p.vlan, p.inner_vlan, p.l2_len), (100, 7, 22));
        assert_eq!((p.protocol, p.src_port, p.dst_port, p.ip_len), (17, 5000, 53, 64));
    }

    #[test]
    fn cut_short_transport_keeps_addresses_but_cut_ip_is_an_error() {
        let mut buf = Vec::new();
        emit_headers(&tcp_flow(), 60, &mut buf);
        let p = parse_ethernet(&buf[..14 + 20 + 6]).unwrap();
        assert!(p.is_ip && p.src_port == 0 && p.dst_port == 0);
        for cut in 0..14 + 20 {
            assert_eq!(parse_ethernet(&buf[..cut]), Err(WireError::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn non_first_fragment_has_no_ports() {
        let mut buf = Vec::new();
        emit_headers(&tcp_flow(), 60, &mut buf);
        buf[14 + 6] = 0x00;
        buf[14 + 7] = 0x10; // offset 16 * 8
        let p = parse_ethernet(&buf).unwrap();
        assert_eq!((p.protocol, p.src_port, p.dst_port), (6, 0, 0));
    }

    #[test]
    fn non_ip_frame_has_only_macs() {
        let mut f = vec![0xffu8; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x08, 0x06]);
        f.extend_from_slice(&[0; 28]);
        let p = parse_ethernet(&f).unwrap();
        assert!(!p.is_ip);
        assert_eq!((p.ethertype, p.src_mac), (0x0806, [2, 0, 0, 0, 0, 9]));
    }
}
