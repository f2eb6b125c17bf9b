//! Checked views over sFlow v5 flow and counter records (sFlow v5
//! specification, "Flow Data" and "Counter Data" sections). Each is checked
//! against the record body its sample gives it: too short is `BadLength`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::view::{address_at, u32_at, u64_at};
use crate::wire::WireError;

/// Raw packet header record (format 1).
#[derive(Clone, Copy, Debug)]
pub struct RawPacketHeader<'a> {
    buf: &'a [u8],
}

impl<'a> RawPacketHeader<'a> {
    pub fn new_checked(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 16 || u32_at(body, 12) as usize > body.len() - 16 {
            return Err(WireError::BadLength);
        }
        Ok(RawPacketHeader { buf: body })
    }
    /// 1 = Ethernet, 11 = IPv4, 12 = IPv6, others not parsed.
    #[inline]
    pub fn header_protocol(&self) -> u32 {
        u32_at(self.buf, 0)
    }
    /// "Original length of packet before sampling" (layer 2 protocols include the FCS).
    #[inline]
    pub fn frame_length(&self) -> u32 {
        u32_at(self.buf, 4)
    }
    /// "The number of octets removed from the packet before extracting the header octets".
    #[inline]
    pub fn stripped(&self) -> u32 {
        u32_at(self.buf, 8)
    }
    #[inline]
    pub fn header(&self) -> &'a [u8] {
        &self.buf[16..16 + u32_at(self.buf, 12) as usize]
    }
}

/// Ethernet frame data record (format 2).
#[derive(Clone, Copy, Debug)]
pub struct SampledEthernet<'a> {
    buf: &'a [u8],
}

impl<'a> SampledEthernet<'a> {
    pub fn new_checked(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 24 {
            return Err(WireError::BadLength);
        }
        Ok(SampledEthernet { buf: body })
    }
    /// "The length of the MAC packet received on the network".
    #[inline]
    pub fn length(&self) -> u32 {
        u32_at(self.buf, 0)
    }
    #[inline]
    pub fn src_mac(&self) -> [u8; 6] {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buf[4..10]);
        m
    }
    #[inline]
    pub fn dst_mac(&self) -> [u8; 6] {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buf[12..18]);
        m
    }
    #[inline]
    pub fn ethertype(&self) -> u32 {
        u32_at(self.buf, 20)
    }
}

/// IPv4 data (format 3) or IPv6 data (format 4): the packet already parsed by the agent.
#[derive(Clone, Copy, Debug)]
pub struct SampledIp<'a> {
    buf: &'a [u8],
    v6: bool,
}

impl<'a> SampledIp<'a> {
    pub fn new_checked(body: &'a [u8], v6: bool) -> Result<Self, WireError> {
        if body.len() < if v6 { 56 } else { 32 } {
            return Err(WireError::BadLength);
        }
        Ok(SampledIp { buf: body, v6 })
    }
    #[inline]
    fn after_addrs(&self) -> usize {
        if self.v6 {
            40
        } else {
            16
        }
    }
    /// "The length of the IP packet excluding lower layer encapsulations".
    #[inline]
    pub fn length(&self) -> u32 {
        u32_at(self.buf, 0)
    }
    #[inline]
    pub fn protocol(&self) -> u32 {
        u32_at(self.buf, 4)
    }
    #[inline]
    pub fn src_addr(&self) -> IpAddr {
        self.addr(8)
    }
    #[inline]
    pub fn dst_addr(&self) -> IpAddr {
        self.addr(if self.v6 { 24 } else { 12 })
    }
    fn addr(&self, at: usize) -> IpAddr {
        let b = self.buf;
        if self.v6 {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
        }
    }
    #[inline]
    pub fn src_port(&self) -> u32 {
        u32_at(self.buf, self.after_addrs())
    }
    #[inline]
    pub fn dst_port(&self) -> u32 {
        u32_at(self.buf, self.after_addrs() + 4)
    }
    #[inline]
    pub fn tcp_flags(&self) -> u32 {
        u32_at(self.buf, self.after_addrs() + 8)
    }
    /// IPv4 TOS / IPv6 priority.
    #[inline]
    pub fn tos(&self) -> u32 {
        u32_at(self.buf, self.after_addrs() + 12)
    }
}

/// Extended switch data (format 1001): 802.1Q VLAN ids and priorities.
#[derive(Clone, Copy, Debug)]
pub struct ExtendedSwitch<'a> {
    buf: &'a [u8],
}

impl<'a> ExtendedSwitch<'a> {
    pub fn new_checked(body: &'a [u8]) -> Result<Self, WireError> {
        if body.len() < 16 {
            return Err(WireError::BadLength);
        }
        Ok(ExtendedSwitch { buf: body })
    }
    #[inline]
    pub fn src_vlan(&self) -> u32 {
        u32_at(self.buf, 0)
    }
    #[inline]
    pub fn src_priority(&self) -> u32 {
        u32_at(self.buf, 4)
    }
    #[inline]
    pub fn dst_vlan(&self) -> u32 {
        u32_at(self.buf, 8)
    }
    #[inline]
    pub fn dst_priority(&self) -> u32 {
        u32_at(self.buf, 12)
    }
}

/// Extended router data (format 1002): next hop and prefix lengths.
#[derive(Clone, Copy, Debug)]
pub struct ExtendedRouter {
    pub next_hop: IpAddr,
    pub src_mask_len: u32,
    pub dst_mask_len: u32,
}

impl ExtendedRouter {
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let (next_hop, n) = address_at(body, 0, WireError::BadLength)?;
        if body.len() < n + 8 {
            return Err(WireError::BadLength);
        }
        Ok(ExtendedRouter { next_hop, src_mask_len: u32_at(body, n), dst_mask_len: u32_at(body, n + 4) })
    }
}

/// Extended gateway data (format 1003): BGP next hop, AS numbers, AS path.
#[derive(Clone, Copy, Debug)]
pub struct ExtendedGateway {
    pub next_hop: IpAddr,
    /// "Autonomous system number of router".
    pub router_as: u32,
    pub src_as: u32,
    pub src_peer_as: u32,
    /// The last AS of the destination AS path (the origin of the route), 0 for an empty path.
    pub dst_as: u32,
}

impl ExtendedGateway {
    /// Walks the AS path and communities, checking every count against the body.
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let (next_hop, mut at) = address_at(body, 0, WireError::BadLength)?;
        let need =
            |at: usize, n: usize| if body.len() >= at + n { Ok(()) } else { Err(WireError::BadLength) };
        need(at, 16)?;
        let router_as = u32_at(body, at);
        let src_as = u32_at(body, at + 4);
        let src_peer_as = u32_at(body, at + 8);
        let segments = u32_at(body, at + 12);
        at += 16;
        let mut dst_as = 0;
        for _ in 0..segments {
            need(at, 8)?;
            let count = u32_at(body, at + 4) as usize;
            at += 8;
            // `count` comes from the wire: compare before multiplying can overflow.
            if count > (body.len() - at) / 4 {
                return Err(WireError::BadLength);
            }
            if count > 0 {
                dst_as = u32_at(body, at + (count - 1) * 4);
            }
            at += count * 4;
        }
        need(at, 4)?;
        let communities = u32_at(body, at) as usize;
        at += 4;
        if communities > (body.len() - at) / 4 || body.len() - at - communities * 4 < 4 {
            return Err(WireError::BadLength); // communities, then localpref
        }
        Ok(ExtendedGateway { next_hop, router_as, src_as, src_peer_as, dst_as })
    }
}

/// Generic interface counters (counter record format 1), RFC 2233 names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub if_index: u32,
    pub if_type: u32,
    pub if_speed: u64,
    pub if_direction: u32,
    pub if_status: u32,
    pub if_in_octets: u64,
    pub if_in_ucast_pkts: u32,
    pub if_in_multicast_pkts: u32,
    pub if_in_broadcast_pkts: u32,
    pub if_in_discards: u32,
    pub if_in_errors: u32,
    pub if_in_unknown_protos: u32,
    pub if_out_octets: u64,
    pub if_out_ucast_pkts: u32,
    pub if_out_multicast_pkts: u32,
    pub if_out_broadcast_pkts: u32,
    pub if_out_discards: u32,
    pub if_out_errors: u32,
    pub if_promiscuous_mode: u32,
}

impl InterfaceCounters {
    pub const LEN: usize = 88;

    pub fn parse(b: &[u8]) -> Result<Self, WireError> {
        if b.len() < Self::LEN {
            return Err(WireError::BadLength);
        }
        Ok(InterfaceCounters {
            if_index: u32_at(b, 0),
            if_type: u32_at(b, 4),
            if_speed: u64_at(b, 8),
            if_direction: u32_at(b, 16),
            if_status: u32_at(b, 20),
            if_in_octets: u64_at(b, 24),
            if_in_ucast_pkts: u32_at(b, 32),
            if_in_multicast_pkts: u32_at(b, 36),
            if_in_broadcast_pkts: u32_at(b, 40),
            if_in_discards: u32_at(b, 44),
            if_in_errors: u32_at(b, 48),
            if_in_unknown_protos: u32_at(b, 52),
            if_out_octets: u64_at(b, 56),
            if_out_ucast_pkts: u32_at(b, 64),
            if_out_multicast_pkts: u32_at(b, 68),
            if_out_broadcast_pkts: u32_at(b, 72),
            if_out_discards: u32_at(b, 76),
            if_out_errors: u32_at(b, 80),
            if_promiscuous_mode: u32_at(b, 84),
        })
    }

    /// Appends the 88-byte XDR form.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let words32 =
            |out: &mut Vec<u8>, ws: &[u32]| ws.iter().for_each(|w| out.extend_from_slice(&w.to_be_bytes()));
        words32(out, &[self.if_index, self.if_type]);
        out.extend_from_slice(&self.if_speed.to_be_bytes());
        words32(out, &[self.if_direction, self.if_status]);
        out.extend_from_slice(&self.if_in_octets.to_be_bytes());
        words32(
            out,
            &[
                self.if_in_ucast_pkts,
                self.if_in_multicast_pkts,
                self.if_in_broadcast_pkts,
                self.if_in_discards,
                self.if_in_errors,
                self.if_in_unknown_protos,
            ],
        );
        out.extend_from_slice(&self.if_out_octets.to_be_bytes());
        words32(
            out,
            &[
                self.if_out_ucast_pkts,
                self.if_out_multicast_pkts,
                self.if_out_broadcast_pkts,
                self.if_out_discards,
                self.if_out_errors,
                self.if_promiscuous_mode,
            ],
        );
    }
}
