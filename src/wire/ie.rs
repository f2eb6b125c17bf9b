//! Information elements shared by NetFlow v9 (RFC 3954 §8) and IPFIX
//! (RFC 7012 / IANA registry): the ids below 128 are the same in both, and
//! the ones above that we use have the same meaning in both.
//!
//! The encoders' template layouts and their compiled record writer
//! ([`RecordLayout`]) live here too, so the v9 and IPFIX encoders write exactly
//! the same record bodies.

use crate::flow::Flow;
use std::net::IpAddr;

pub const OCTET_DELTA_COUNT: u16 = 1;
pub const PACKET_DELTA_COUNT: u16 = 2;
pub const PROTOCOL_IDENTIFIER: u16 = 4;
pub const IP_CLASS_OF_SERVICE: u16 = 5;
pub const TCP_CONTROL_BITS: u16 = 6;
pub const SOURCE_TRANSPORT_PORT: u16 = 7;
pub const SOURCE_IPV4_ADDRESS: u16 = 8;
pub const SOURCE_IPV4_PREFIX_LENGTH: u16 = 9;
pub const INGRESS_INTERFACE: u16 = 10;
pub const DESTINATION_TRANSPORT_PORT: u16 = 11;
pub const DESTINATION_IPV4_ADDRESS: u16 = 12;
pub const DESTINATION_IPV4_PREFIX_LENGTH: u16 = 13;
pub const EGRESS_INTERFACE: u16 = 14;
pub const IP_NEXT_HOP_IPV4_ADDRESS: u16 = 15;
pub const BGP_SOURCE_AS_NUMBER: u16 = 16;
pub const BGP_DESTINATION_AS_NUMBER: u16 = 17;
pub const BGP_NEXT_HOP_IPV4_ADDRESS: u16 = 18;
/// v9 LAST_SWITCHED / IPFIX flowEndSysUpTime (ms).
pub const FLOW_END_SYS_UP_TIME: u16 = 21;
/// v9 FIRST_SWITCHED / IPFIX flowStartSysUpTime (ms).
pub const FLOW_START_SYS_UP_TIME: u16 = 22;
pub const SOURCE_IPV6_ADDRESS: u16 = 27;
pub const DESTINATION_IPV6_ADDRESS: u16 = 28;
pub const SOURCE_IPV6_PREFIX_LENGTH: u16 = 29;
pub const DESTINATION_IPV6_PREFIX_LENGTH: u16 = 30;
/// v9 ICMP_TYPE / IPFIX icmpTypeCodeIPv4: type << 8 | code.
pub const ICMP_TYPE_CODE_IPV4: u16 = 32;
/// v9 SAMPLING_INTERVAL / IPFIX samplingInterval (deprecated by RFC 7270, still common).
pub const SAMPLING_INTERVAL: u16 = 34;
/// v9 SAMPLING_ALGORITHM / IPFIX samplingAlgorithm (1 deterministic, 2 random).
pub const SAMPLING_ALGORITHM: u16 = 35;
/// v9 FLOW_SAMPLER_ID / IPFIX samplerId.
pub const SAMPLER_ID: u16 = 48;
pub const SAMPLER_MODE: u16 = 49;
/// v9 FLOW_SAMPLER_RANDOM_INTERVAL / IPFIX samplerRandomInterval.
pub const SAMPLER_RANDOM_INTERVAL: u16 = 50;
pub const SOURCE_MAC_ADDRESS: u16 = 56;
pub const POST_DESTINATION_MAC_ADDRESS: u16 = 57;
pub const VLAN_ID: u16 = 58;
pub const POST_VLAN_ID: u16 = 59;
pub const IP_NEXT_HOP_IPV6_ADDRESS: u16 = 62;
pub const BGP_NEXT_HOP_IPV6_ADDRESS: u16 = 63;
pub const DESTINATION_MAC_ADDRESS: u16 = 80;
pub const POST_SOURCE_MAC_ADDRESS: u16 = 81;
pub const OCTET_TOTAL_COUNT: u16 = 85;
pub const PACKET_TOTAL_COUNT: u16 = 86;
pub const ICMP_TYPE_CODE_IPV6: u16 = 139;
pub const OBSERVATION_DOMAIN_ID: u16 = 149;
pub const FLOW_START_SECONDS: u16 = 150;
pub const FLOW_END_SECONDS: u16 = 151;
pub const FLOW_START_MILLISECONDS: u16 = 152;
pub const FLOW_END_MILLISECONDS: u16 = 153;
pub const FLOW_START_MICROSECONDS: u16 = 154;
pub const FLOW_END_MICROSECONDS: u16 = 155;
pub const FLOW_START_NANOSECONDS: u16 = 156;
pub const FLOW_END_NANOSECONDS: u16 = 157;
pub const FLOW_START_DELTA_MICROSECONDS: u16 = 158;
pub const FLOW_END_DELTA_MICROSECONDS: u16 = 159;
pub const SYSTEM_INIT_TIME_MILLISECONDS: u16 = 160;
pub const ICMP_TYPE_IPV4: u16 = 176;
pub const ICMP_CODE_IPV4: u16 = 177;
pub const ICMP_TYPE_IPV6: u16 = 178;
pub const ICMP_CODE_IPV6: u16 = 179;
pub const SELECTOR_ID: u16 = 302;
pub const SAMPLING_PACKET_INTERVAL: u16 = 305;
pub const SAMPLING_PACKET_SPACE: u16 = 306;

/// Length value that marks a variable-length field in an IPFIX template (RFC 7011 §7).
pub const VARIABLE_LENGTH: u16 = 65535;

/// Template ids the encoders use (data set ids must be ≥ 256).
pub const TEMPLATE_IPV4: u16 = 256;
pub const TEMPLATE_IPV6: u16 = 257;
pub const TEMPLATE_SAMPLER: u16 = 258;

/// How an encoder writes flow start / end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeFields {
    /// v9: FIRST_SWITCHED / LAST_SWITCHED, 4-byte ms relative to the exporter's boot.
    SysUpTime,
    /// IPFIX: flowStartMilliseconds / flowEndMilliseconds, 8-byte absolute ms.
    Milliseconds,
}

const COMMON_TAIL: [(u16, u16); 14] = [
    (SOURCE_TRANSPORT_PORT, 2),
    (DESTINATION_TRANSPORT_PORT, 2),
    (PROTOCOL_IDENTIFIER, 1),
    (TCP_CONTROL_BITS, 1),
    (IP_CLASS_OF_SERVICE, 1),
    (INGRESS_INTERFACE, 4),
    (EGRESS_INTERFACE, 4),
    (BGP_SOURCE_AS_NUMBER, 4),
    (BGP_DESTINATION_AS_NUMBER, 4),
    (VLAN_ID, 2),
    (POST_VLAN_ID, 2),
    (SOURCE_MAC_ADDRESS, 6),
    (DESTINATION_MAC_ADDRESS, 6),
    (PACKET_DELTA_COUNT, 8),
];

/// The (element id, length) list of the encoders' template for one address family.
pub fn encoder_template(ipv6: bool, times: TimeFields) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = if ipv6 {
        vec![
            (SOURCE_IPV6_ADDRESS, 16),
            (DESTINATION_IPV6_ADDRESS, 16),
            (IP_NEXT_HOP_IPV6_ADDRESS, 16),
            (SOURCE_IPV6_PREFIX_LENGTH, 1),
            (DESTINATION_IPV6_PREFIX_LENGTH, 1),
        ]
    } else {
        vec![
            (SOURCE_IPV4_ADDRESS, 4),
            (DESTINATION_IPV4_ADDRESS, 4),
            (IP_NEXT_HOP_IPV4_ADDRESS, 4),
            (SOURCE_IPV4_PREFIX_LENGTH, 1),
            (DESTINATION_IPV4_PREFIX_LENGTH, 1),
        ]
    };
    v.extend_from_slice(&COMMON_TAIL);
    v.push((OCTET_DELTA_COUNT, 8));
    match times {
        TimeFields::SysUpTime => {
            v.push((FLOW_START_SYS_UP_TIME, 4));
            v.push((FLOW_END_SYS_UP_TIME, 4));
        }
        TimeFields::Milliseconds => {
            v.push((FLOW_START_MILLISECONDS, 8));
            v.push((FLOW_END_MILLISECONDS, 8));
        }
    }
    v
}

/// Sum of the field lengths of a template list.
pub fn record_len(fields: &[(u16, u16)]) -> usize {
    fields.iter().map(|&(_, l)| l as usize).sum()
}

/// One of the encoders' data record layouts (the template they announce),
/// compiled to fixed offsets: [`RecordLayout::write_records`] sizes the region
/// once and writes every field at a constant offset, instead of appending
/// field by field. The field order is [`encoder_template`]'s; a unit test holds them
/// together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLayout {
    pub ipv6: bool,
    pub times: TimeFields,
}

impl RecordLayout {
    /// Bytes of one data record.
    pub const fn size(&self) -> usize {
        let addrs = if self.ipv6 { 3 * 16 } else { 3 * 4 };
        let times = match self.times {
            TimeFields::SysUpTime => 2 * 4,
            TimeFields::Milliseconds => 2 * 8,
        };
        // masks 2, ports 4, protocol/flags/tos 3, interfaces 8, ASes 8, VLANs 4, MACs 12, counters 16
        addrs + 2 + 4 + 3 + 8 + 8 + 4 + 12 + 16 + times
    }

    /// The template's (element id, length) list.
    pub fn template(&self) -> Vec<(u16, u16)> {
        encoder_template(self.ipv6, self.times)
    }

    /// Appends the data record of `flow`: counters divided by `sampling` (the
    /// exporter reports sampled counts), sysUpTime times relative to `boot_ms`.
    /// An address of the other family is written mapped (v4-mapped IPv6, or the
    /// IPv4 of a v4-mapped IPv6 address, else 0.0.0.0).
    #[inline]
    pub fn write_record(&self, out: &mut Vec<u8>, flow: &Flow, boot_ms: u64, sampling: u32) {
        self.write_records(out, std::slice::from_ref(flow), boot_ms, sampling);
    }

    /// Appends the data records of `flows`, one after the other (see `write_record`).
    pub fn write_records(&self, out: &mut Vec<u8>, flows: &[Flow], boot_ms: u64, sampling: u32) {
        match (self.ipv6, self.times) {
            (false, TimeFields::SysUpTime) => write_records::<false, false>(out, flows, boot_ms, sampling),
            (true, TimeFields::SysUpTime) => write_records::<true, false>(out, flows, boot_ms, sampling),
            (false, TimeFields::Milliseconds) => write_records::<false, true>(out, flows, boot_ms, sampling),
            (true, TimeFields::Milliseconds) => write_records::<true, true>(out, flows, boot_ms, sampling),
        }
    }
}

#[inline]
fn v4_octets(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(0.into()).octets(),
    }
}

#[inline]
fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(v6) => v6.octets(),
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
    }
}

/// The records of [`encoder_template`]`(V6, if MS { Milliseconds } else { SysUpTime })`:
/// the region is sized once, then each record is written at offsets the
/// compiler knows (no per-field growth, no bounds checks per field).
fn write_records<const V6: bool, const MS: bool>(
    out: &mut Vec<u8>,
    flows: &[Flow],
    boot_ms: u64,
    sampling: u32,
) {
    let times = if MS { TimeFields::Milliseconds } else { TimeFields::SysUpTime };
    let len = RecordLayout { ipv6: V6, times }.size();
    let sampling = u64::from(sampling.max(1));
    // Unsampled is the common case: skip two 64-bit divisions per record.
    let scale = |v: u64| if sampling == 1 { v } else { v / sampling };
    let start = out.len();
    out.resize(start + len * flows.len(), 0);
    for (r, f) in out[start..].chunks_exact_mut(len).zip(flows) {
        let mut at = 0;
        macro_rules! put {
            ($bytes:expr) => {{
                let bytes: &[u8] = &$bytes;
                r[at..at + bytes.len()].copy_from_slice(bytes);
                at += bytes.len();
            }};
        }
        if V6 {
            put!(v6_octets(f.src_addr));
            put!(v6_octets(f.dst_addr));
            put!(v6_octets(f.next_hop));
        } else {
            put!(v4_octets(f.src_addr));
            put!(v4_octets(f.dst_addr));
            put!(v4_octets(f.next_hop));
        }
        put!([f.src_mask, f.dst_mask]);
        // COMMON_TAIL
        put!(f.src_port.to_be_bytes());
        put!(f.dst_port.to_be_bytes());
        put!([f.protocol, f.tcp_flags, f.tos]);
        put!(f.in_if.to_be_bytes());
        put!(f.out_if.to_be_bytes());
        put!(f.src_as.to_be_bytes());
        put!(f.dst_as.to_be_bytes());
        put!(f.src_vlan.to_be_bytes());
        put!(f.dst_vlan.to_be_bytes());
        put!(f.src_mac);
        put!(f.dst_mac);
        put!(scale(f.packets).to_be_bytes());
        put!(scale(f.bytes).to_be_bytes());
        if MS {
            put!(f.first_ms.to_be_bytes());
            put!(f.last_ms.to_be_bytes());
        } else {
            put!((f.first_ms.wrapping_sub(boot_ms) as u32).to_be_bytes());
            put!((f.last_ms.wrapping_sub(boot_ms) as u32).to_be_bytes());
        }
        debug_assert_eq!(at, len);
    }
}

/// Appends a big-endian u16 / u32 (emit helpers).
#[inline]
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[inline]
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Overwrites a big-endian u16 at `at` (set lengths known only after the body).
#[inline]
pub fn patch_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_lengths() {
        assert_eq!(record_len(&encoder_template(false, TimeFields::SysUpTime)), 77);
        assert_eq!(record_len(&encoder_template(true, TimeFields::SysUpTime)), 113);
        assert_eq!(record_len(&encoder_template(false, TimeFields::Milliseconds)), 85);
        assert_eq!(record_len(&encoder_template(true, TimeFields::Milliseconds)), 121);
    }

    fn test_flow() -> Flow {
        Flow {
            src_addr: "10.1.2.3".parse().unwrap(),
            dst_addr: "::ffff:192.0.2.9".parse().unwrap(),
            next_hop: "2001:db8::1".parse().unwrap(),
            src_port: 0x1122,
            dst_port: 0x3344,
            protocol: 6,
            tcp_flags: 0x1b,
            tos: 0x28,
            src_mask: 24,
            dst_mask: 16,
            in_if: 0x0101_0202,
            out_if: 0x0303_0404,
            src_as: 65001,
            dst_as: 4_200_000_000,
            src_vlan: 0x0a0b,
            dst_vlan: 0x0c0d,
            src_mac: [1, 2, 3, 4, 5, 6],
            dst_mac: [7, 8, 9, 10, 11, 12],
            packets: 30,
            bytes: 3000,
            first_ms: 10_500,
            last_ms: 12_000,
            ..Flow::EMPTY
        }
    }

    /// Reads field `ie` of a record back by the template's offsets (big-endian).
    fn field(record: &[u8], template: &[(u16, u16)], ie: u16) -> Vec<u8> {
        let mut at = 0;
        for &(id, len) in template {
            let len = usize::from(len);
            if id == ie {
                return record[at..at + len].to_vec();
            }
            at += len;
        }
        panic!("no element {ie} in the template");
    }

    #[test]
    fn records_follow_their_templates() {
        let f = test_flow();
        for ipv6 in [false, true] {
            for times in [TimeFields::SysUpTime, TimeFields::Milliseconds] {
                let layout = RecordLayout { ipv6, times };
                let t = layout.template();
                assert_eq!(record_len(&t), layout.size());
                let mut out = vec![0xee];
                layout.write_record(&mut out, &f, 10_000, 10);
                assert_eq!(out.len(), 1 + layout.size());
                let r = &out[1..];
                let (src, dst, hop) = if ipv6 {
                    let v6 = |a: &str| a.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec();
                    (v6("::ffff:10.1.2.3"), v6("::ffff:192.0.2.9"), v6("2001:db8::1"))
                } else {
                    (vec![10, 1, 2, 3], vec![192, 0, 2, 9], vec![0, 0, 0, 0])
                };
                let (s, d, h, sm, dm) = if ipv6 {
                    (SOURCE_IPV6_ADDRESS, DESTINATION_IPV6_ADDRESS, IP_NEXT_HOP_IPV6_ADDRESS, 29, 30)
                } else {
                    (SOURCE_IPV4_ADDRESS, DESTINATION_IPV4_ADDRESS, IP_NEXT_HOP_IPV4_ADDRESS, 9, 13)
                };
                assert_eq!(field(r, &t, s), src);
                assert_eq!(field(r, &t, d), dst);
                assert_eq!(field(r, &t, h), hop);
                assert_eq!((field(r, &t, sm), field(r, &t, dm)), (vec![24], vec![16]));
                assert_eq!(field(r, &t, SOURCE_TRANSPORT_PORT), [0x11, 0x22]);
                assert_eq!(field(r, &t, DESTINATION_TRANSPORT_PORT), [0x33, 0x44]);
                assert_eq!(field(r, &t, PROTOCOL_IDENTIFIER), [6]);
                assert_eq!(field(r, &t, TCP_CONTROL_BITS), [0x1b]);
                assert_eq!(field(r, &t, IP_CLASS_OF_SERVICE), [0x28]);
                assert_eq!(field(r, &t, INGRESS_INTERFACE), [1, 1, 2, 2]);
                assert_eq!(field(r, &t, EGRESS_INTERFACE), [3, 3, 4, 4]);
                assert_eq!(field(r, &t, BGP_SOURCE_AS_NUMBER), 65001u32.to_be_bytes());
                assert_eq!(field(r, &t, BGP_DESTINATION_AS_NUMBER), 4_200_000_000u32.to_be_bytes());
                assert_eq!(field(r, &t, VLAN_ID), [0x0a, 0x0b]);
                assert_eq!(field(r, &t, POST_VLAN_ID), [0x0c, 0x0d]);
                assert_eq!(field(r, &t, SOURCE_MAC_ADDRESS), [1, 2, 3, 4, 5, 6]);
                assert_eq!(field(r, &t, DESTINATION_MAC_ADDRESS), [7, 8, 9, 10, 11, 12]);
                // Sampled counts: the exporter reports 1 in 10.
                assert_eq!(field(r, &t, PACKET_DELTA_COUNT), 3u64.to_be_bytes());
                assert_eq!(field(r, &t, OCTET_DELTA_COUNT), 300u64.to_be_bytes());
                match times {
                    TimeFields::SysUpTime => {
                        assert_eq!(field(r, &t, FLOW_START_SYS_UP_TIME), 500u32.to_be_bytes());
                        assert_eq!(field(r, &t, FLOW_END_SYS_UP_TIME), 2000u32.to_be_bytes());
                    }
                    TimeFields::Milliseconds => {
                        assert_eq!(field(r, &t, FLOW_START_MILLISECONDS), 10_500u64.to_be_bytes());
                        assert_eq!(field(r, &t, FLOW_END_MILLISECONDS), 12_000u64.to_be_bytes());
                    }
                }
            }
        }
    }
}
