//! Ethernet / IPv4 / IPv6 / UDP parsing for frames the XDP program redirected
//! to AF_XDP: the sender's address and port, the destination port and the
//! UDP payload. Redirected frames skip the kernel's checks, so everything is
//! verified here: lengths, fragments and the UDP checksum.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const ETH_HEADER: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPPROTO_UDP: u8 = 17;
const UDP_HEADER: usize = 8;

/// A UDP datagram found in a frame.
#[derive(Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub payload: &'a [u8],
}

/// Why a frame was not a datagram for the collector (each is counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Truncated or inconsistent headers and lengths.
    Malformed,
    /// Not UDP over IPv4/IPv6, or an IP fragment (the XDP program passes those on).
    NotUdp,
    /// The UDP checksum does not match (or IPv6 without one).
    BadChecksum,
}

/// Parses an Ethernet frame (up to two VLAN tags) down to its UDP payload.
pub fn parse_frame(frame: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    if frame.len() < ETH_HEADER {
        return Err(FrameError::Malformed);
    }
    let mut ethertype = be16(frame, 12);
    let mut offset = ETH_HEADER;
    for _ in 0..2 {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        if frame.len() < offset + 4 {
            return Err(FrameError::Malformed);
        }
        ethertype = be16(frame, offset + 2);
        offset += 4;
    }
    match ethertype {
        ETH_P_IP => parse_ipv4(&frame[offset..]),
        ETH_P_IPV6 => parse_ipv6(&frame[offset..]),
        _ => Err(FrameError::NotUdp),
    }
}

fn parse_ipv4(packet: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return Err(FrameError::Malformed);
    }
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    let total_len = usize::from(be16(packet, 2));
    // Ethernet pads short frames: the IP total length says where the packet ends.
    if header_len < 20 || total_len < header_len || total_len > packet.len() {
        return Err(FrameError::Malformed);
    }
    if packet[9] != IPPROTO_UDP || be16(packet, 6) & 0x3fff != 0 {
        return Err(FrameError::NotUdp);
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    let udp = &packet[header_len..total_len];
    let (sport, dport, segment) = udp_segment(udp)?;
    let checksum = be16(segment, 6);
    // Zero: the IPv4 sender computed no checksum.
    if checksum != 0 {
        let mut sum = Checksum::default();
        sum.add(&packet[12..20]);
        sum.add_u16(u16::from(IPPROTO_UDP));
        sum.add_u16(segment.len() as u16);
        sum.add(segment);
        if sum.fold() != 0xffff {
            return Err(FrameError::BadChecksum);
        }
    }
    Ok(UdpDatagram {
        from: SocketAddr::new(IpAddr::V4(src), sport),
        to: SocketAddr::new(IpAddr::V4(dst), dport),
        payload: &segment[UDP_HEADER..],
    })
}

fn parse_ipv6(packet: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    if packet.len() < 40 || packet[0] >> 4 != 6 {
        return Err(FrameError::Malformed);
    }
    let payload_len = usize::from(be16(packet, 4));
    if 40 + payload_len > packet.len() {
        return Err(FrameError::Malformed);
    }
    // Extension headers (fragments among them) never reach AF_XDP: the program passes them on.
    if packet[6] != IPPROTO_UDP {
        return Err(FrameError::NotUdp);
    }
    let src: [u8; 16] = packet[8..24].try_into().expect("16 bytes");
    let dst: [u8; 16] = packet[24..40].try_into().expect("16 bytes");
    let (sport, dport, segment) = udp_segment(&packet[40..40 + payload_len])?;
    let mut sum = Checksum::default();
    sum.add(&packet[8..40]);
    sum.add_u32(segment.len() as u32);
    sum.add_u16(u16::from(IPPROTO_UDP));
    sum.add(segment);
    // IPv6 makes the checksum mandatory: zero is invalid (RFC 8200 8.1).
    if be16(segment, 6) == 0 || sum.fold() != 0xffff {
        return Err(FrameError::BadChecksum);
    }
    let from = Ipv6Addr::from(src);
    // An IPv4-mapped sender is reported as itself, as the socket path does.
    let from = from.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(from));
    Ok(UdpDatagram {
        from: SocketAddr::new(from, sport),
        to: SocketAddr::new(IpAddr::V6(Ipv6Addr::from(dst)), dport),
        payload: &segment[UDP_HEADER..],
    })
}

/// The UDP header's ports and the segment (header + payload) its length field covers.
fn udp_segment(bytes: &[u8]) -> Result<(u16, u16, &[u8]), FrameError> {
    if bytes.len() < UDP_HEADER {
        return Err(FrameError::Malformed);
    }
    let len = usize::from(be16(bytes, 4));
    if len < UDP_HEADER || len > bytes.len() {
        return Err(FrameError::Malformed);
    }
    Ok((be16(bytes, 0), be16(bytes, 2), &bytes[..len]))
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The Internet checksum (RFC 1071): a ones' complement sum of 16-bit words.
#[derive(Default)]
struct Checksum {
    sum: u64,
}

impl Checksum {
    /// Adds `bytes` as big-endian 16-bit words; an odd last byte is padded with zero.
    /// Every call but the last must pass an even number of bytes.
    fn add(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(2);
        for w in &mut words {
            self.sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            self.sum += u64::from(*last) << 8;
        }
    }

    fn add_u16(&mut self, v: u16) {
        self.sum += u64::from(v);
    }

    fn add_u32(&mut self, v: u32) {
        self.sum += u64::from(v >> 16) + u64::from(v & 0xffff);
    }

    /// The folded 16-bit sum: 0xffff when a packet's stored checksum is right.
    fn fold(&self) -> u16 {
        let mut s = self.sum;
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn v4_frame(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
            .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
            .udp(40000, 2055);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn v6_frame(payload: &[u8]) -> Vec<u8> {
        let mut src = [0u8; 16];
        src[0] = 0xfd;
        src[15] = 1;
        let mut dst = src;
        dst[15] = 2;
        let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC).ipv6(src, dst, 64).udp(40001, 4739);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn ipv4_datagram_with_its_sender_and_payload() {
        let frame = v4_frame(b"hello collector");
        let d = parse_frame(&frame).unwrap();
        assert_eq!(d.from, "198.18.0.1:40000".parse().unwrap());
        assert_eq!(d.to, "198.18.0.2:2055".parse().unwrap());
        assert_eq!(d.payload, b"hello collector");
    }

    #[test]
    fn odd_length_payload_and_ethernet_padding() {
        let mut frame = v4_frame(b"abc");
        frame.extend_from_slice(&[0u8; 20]); // padding to the 60-byte minimum and beyond
        assert_eq!(parse_frame(&frame).unwrap().payload, b"abc");
    }

    #[test]
    fn ipv6_datagram() {
        let frame = v6_frame(&[7u8; 101]);
        let d = parse_frame(&frame).unwrap();
        assert_eq!(d.from.to_string(), "[fd00::1]:40001");
        assert_eq!(d.to.port(), 4739);
        assert_eq!(d.payload, &[7u8; 101][..]);
    }

    #[test]
    fn vlan_tags_are_skipped() {
        let plain = v4_frame(b"tagged");
        for tags in [&[0x81, 0x00, 0x00, 0x0a][..], &[0x88, 0xa8, 0x00, 0x0b, 0x81, 0x00, 0x00, 0x0c][..]] {
            let mut frame = plain[..12].to_vec();
            frame.extend_from_slice(tags);
            frame.extend_from_slice(&plain[12..]);
            assert_eq!(parse_frame(&frame).unwrap().payload, b"tagged");
        }
    }

    #[test]
    fn checksums_are_verified() {
        let mut frame = v4_frame(b"payload!");
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert_eq!(parse_frame(&frame), Err(FrameError::BadChecksum));
        // A zero checksum means "none" over IPv4 ...
        let udp_checksum_at = ETH_HEADER + 20 + 6;
        frame[udp_checksum_at..udp_checksum_at + 2].copy_from_slice(&[0, 0]);
        assert!(parse_frame(&frame).is_ok());
        // ... and is invalid over IPv6.
        let mut v6 = v6_frame(b"payload!");
        let at = ETH_HEADER + 40 + 6;
        v6[at..at + 2].copy_from_slice(&[0, 0]);
        assert_eq!(parse_frame(&v6), Err(FrameError::BadChecksum));
        let mut v6 = v6_frame(b"payload!");
        let last = v6.len() - 1;
        v6[last] ^= 0x80;
        assert_eq!(parse_frame(&v6), Err(FrameError::BadChecksum));
    }

    #[test]
    fn fragments_and_other_protocols_are_not_udp() {
        let mut frame = v4_frame(b"fragment");
        frame[ETH_HEADER + 6] = 0x20; // more fragments
        assert_eq!(parse_frame(&frame), Err(FrameError::NotUdp));
        let mut arp = v4_frame(b"x");
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_frame(&arp), Err(FrameError::NotUdp));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for frame in [v4_frame(b"some payload bytes"), v6_frame(b"some payload bytes")] {
            for len in 0..frame.len() {
                assert!(parse_frame(&frame[..len]).is_err(), "length {len}");
            }
        }
        // Lengths that lie: an IP total length or a UDP length beyond the frame.
        let mut frame = v4_frame(b"lies");
        frame[ETH_HEADER + 2] = 0xff;
        assert_eq!(parse_frame(&frame), Err(FrameError::Malformed));
        let mut frame = v4_frame(b"lies");
        frame[ETH_HEADER + 20 + 4] = 0xff;
        assert_eq!(parse_frame(&frame), Err(FrameError::Malformed));
        let mut frame = v4_frame(b"lies");
        frame[ETH_HEADER] = 0x44; // IHL 4
        assert_eq!(parse_frame(&frame), Err(FrameError::Malformed));
    }
}
