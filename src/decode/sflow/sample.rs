//! One flow sample → one `Flow` (the mapping is documented in `wire::sflow`).

use std::net::{IpAddr, Ipv6Addr};

use crate::flow::{proto, Flow, FlowSource};
use crate::wire::inner::{self, InnerPacket};
use crate::wire::sflow::{
    flow_format, header_protocol, ExtendedGateway, ExtendedRouter, ExtendedSwitch, FlowSample,
    RawPacketHeader, SampledEthernet, SampledIp,
};
use crate::wire::WireError;

/// What the datagram around a sample says.
#[derive(Clone, Copy)]
pub struct Context {
    pub exporter: IpAddr,
    /// The agent address in the datagram header (keys the sequence tables).
    pub agent: IpAddr,
    pub sub_agent: u32,
    pub received_ms: u64,
    pub sampling_override: Option<u32>,
}

/// Builds the flow one flow sample stands for. `Ok(None)`: the sample holds no
/// packet information (no header, Ethernet or IP record) — counted as unsupported.
pub fn flow_from_sample(sample: &FlowSample<'_>, ctx: &Context) -> Result<Option<Flow>, WireError> {
    let mut header: Option<(InnerPacket, u32)> = None; // parsed header, frame length
    let mut ip: Option<SampledIp<'_>> = None;
    let mut ethernet: Option<SampledEthernet<'_>> = None;
    let mut switch: Option<ExtendedSwitch<'_>> = None;
    let mut router: Option<ExtendedRouter> = None;
    let mut gateway: Option<ExtendedGateway> = None;
    for record in sample.records() {
        let record = record?;
        if record.enterprise != 0 {
            continue; // vendor records: skipped by length
        }
        match record.format {
            flow_format::RAW_HEADER => {
                let raw = RawPacketHeader::new_checked(record.body)?;
                let parsed = match raw.header_protocol() {
                    header_protocol::ETHERNET => inner::parse_ethernet(raw.header())?,
                    header_protocol::IPV4 => inner::parse_ipv4(raw.header())?,
                    header_protocol::IPV6 => inner::parse_ipv6(raw.header())?,
                    _ => continue,
                };
                header = Some((parsed, raw.frame_length()));
            }
            flow_format::ETHERNET => ethernet = Some(SampledEthernet::new_checked(record.body)?),
            flow_format::IPV4 => ip = Some(SampledIp::new_checked(record.body, false)?),
            flow_format::IPV6 => ip = Some(SampledIp::new_checked(record.body, true)?),
            flow_format::EXTENDED_SWITCH => switch = Some(ExtendedSwitch::new_checked(record.body)?),
            flow_format::EXTENDED_ROUTER => router = Some(ExtendedRouter::parse(record.body)?),
            flow_format::EXTENDED_GATEWAY => gateway = Some(ExtendedGateway::parse(record.body)?),
            _ => {} // other standard records (user, URL, MPLS, ...): not in a Flow
        }
    }

    let rate = ctx.sampling_override.unwrap_or(sample.sampling_rate()).max(1);
    let mut f = Flow {
        exporter: ctx.exporter,
        domain: ctx.sub_agent,
        source: FlowSource::Sflow,
        first_ms: ctx.received_ms,
        last_ms: ctx.received_ms,
        received_ms: ctx.received_ms,
        in_if: sample.input(),
        out_if: sample.output(),
        sampling: rate,
        packets: u64::from(rate),
        ..Flow::EMPTY
    };

    // Addresses from the header when it has IP, else from an IP data record.
    match (header, ip) {
        (Some((p, _)), _) if p.is_ip || ip.is_none() => apply_packet(&mut f, &p),
        (_, Some(ip)) => {
            f.src_addr = ip.src_addr();
            f.dst_addr = ip.dst_addr();
            f.protocol = ip.protocol() as u8;
            f.tos = ip.tos() as u8;
            match f.protocol {
                proto::TCP => {
                    f.src_port = ip.src_port() as u16;
                    f.dst_port = ip.dst_port() as u16;
                    f.tcp_flags = ip.tcp_flags() as u8 & 0x3f;
                }
                proto::UDP => {
                    f.src_port = ip.src_port() as u16;
                    f.dst_port = ip.dst_port() as u16;
                }
                // The agent puts the ICMP type in src_port and the code in dst_port.
                proto::ICMP | proto::ICMPV6 => {
                    f.dst_port = (ip.src_port() as u16) << 8 | ip.dst_port() as u8 as u16
                }
                _ => {}
            }
        }
        (_, None) => {}
    }
    // The packet size the agent reports, preferring the frame (see `wire::sflow`).
    let size = match (header, ethernet, ip) {
        (Some((_, frame_len)), _, _) => frame_len,
        (None, Some(eth), _) => eth.length(),
        (None, None, Some(ip)) => ip.length(),
        (None, None, None) => return Ok(None),
    };
    if let Some((p, _)) = header {
        f.src_mac = p.src_mac;
        f.dst_mac = p.dst_mac;
        f.src_vlan = p.vlan;
    } else if let Some(eth) = ethernet {
        f.src_mac = eth.src_mac();
        f.dst_mac = eth.dst_mac();
    }
    f.bytes = u64::from(size) * u64::from(rate);

    if let Some(sw) = switch {
        if sw.src_vlan() != 0 {
            f.src_vlan = sw.src_vlan() as u16 & 0x0fff;
        }
        f.dst_vlan = sw.dst_vlan() as u16 & 0x0fff;
    }
    if let Some(gw) = gateway {
        f.src_as = gw.src_as;
        f.dst_as = gw.dst_as;
        f.next_hop = gw.next_hop;
    }
    if let Some(r) = router {
        f.next_hop = r.next_hop;
        f.src_mask = r.src_mask_len.min(128) as u8;
        f.dst_mask = r.dst_mask_len.min(128) as u8;
    }
    if f.next_hop.is_unspecified() && f.is_ipv6() {
        f.next_hop = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    }
    Ok(Some(f))
}

fn apply_packet(f: &mut Flow, p: &InnerPacket) {
    f.src_addr = p.src_addr;
    f.dst_addr = p.dst_addr;
    f.protocol = p.protocol;
    f.tos = p.tos;
    f.src_port = p.src_port;
    f.dst_port = p.dst_port;
    f.tcp_flags = p.tcp_flags;
}
