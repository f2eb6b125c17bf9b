//! Information elements shared by NetFlow v9 (RFC 3954 §8) and IPFIX
//! (RFC 7012 / IANA registry): the ids below 128 are the same in both, and
//! the ones above that we use have the same meaning in both.
//!
//! The encoders' template layouts and the per-field writer live here too, so
//! the v9 and IPFIX encoders write exactly the same record bodies.

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

fn put_addr(out: &mut Vec<u8>, a: IpAddr, len: u16) {
    match (a, len) {
        (IpAddr::V4(v4), 4) => out.extend_from_slice(&v4.octets()),
        (IpAddr::V6(v6), 16) => out.extend_from_slice(&v6.octets()),
        (IpAddr::V6(v6), 4) => out.extend_from_slice(&v6.to_ipv4_mapped().unwrap_or(0.into()).octets()),
        (IpAddr::V4(v4), 16) => out.extend_from_slice(&v4.to_ipv6_mapped().octets()),
        _ => out.resize(out.len() + usize::from(len), 0),
    }
}

/// Writes one field of `flow` as element `ie` of `len` bytes. Counters are
/// divided by `sampling` (the exporter reports sampled counts); sysUpTime
/// times are relative to `boot_ms`. Unknown elements are written as zeros.
pub fn put_field(out: &mut Vec<u8>, ie: u16, len: u16, flow: &Flow, boot_ms: u64, sampling: u32) {
    let sampling = u64::from(sampling.max(1));
    let uint = |out: &mut Vec<u8>, v: u64| {
        let bytes = v.to_be_bytes();
        let len = usize::from(len).min(8);
        out.extend_from_slice(&bytes[8 - len..]);
    };
    match ie {
        SOURCE_IPV4_ADDRESS | SOURCE_IPV6_ADDRESS => put_addr(out, flow.src_addr, len),
        DESTINATION_IPV4_ADDRESS | DESTINATION_IPV6_ADDRESS => put_addr(out, flow.dst_addr, len),
        IP_NEXT_HOP_IPV4_ADDRESS | IP_NEXT_HOP_IPV6_ADDRESS => put_addr(out, flow.next_hop, len),
        SOURCE_TRANSPORT_PORT => uint(out, flow.src_port.into()),
        DESTINATION_TRANSPORT_PORT => uint(out, flow.dst_port.into()),
        PROTOCOL_IDENTIFIER => uint(out, flow.protocol.into()),
        TCP_CONTROL_BITS => uint(out, flow.tcp_flags.into()),
        IP_CLASS_OF_SERVICE => uint(out, flow.tos.into()),
        SOURCE_IPV4_PREFIX_LENGTH | SOURCE_IPV6_PREFIX_LENGTH => uint(out, flow.src_mask.into()),
        DESTINATION_IPV4_PREFIX_LENGTH | DESTINATION_IPV6_PREFIX_LENGTH => uint(out, flow.dst_mask.into()),
        INGRESS_INTERFACE => uint(out, flow.in_if.into()),
        EGRESS_INTERFACE => uint(out, flow.out_if.into()),
        BGP_SOURCE_AS_NUMBER => uint(out, flow.src_as.into()),
        BGP_DESTINATION_AS_NUMBER => uint(out, flow.dst_as.into()),
        VLAN_ID => uint(out, flow.src_vlan.into()),
        POST_VLAN_ID => uint(out, flow.dst_vlan.into()),
        SOURCE_MAC_ADDRESS => out.extend_from_slice(&flow.src_mac),
        DESTINATION_MAC_ADDRESS => out.extend_from_slice(&flow.dst_mac),
        PACKET_DELTA_COUNT => uint(out, flow.packets / sampling),
        OCTET_DELTA_COUNT => uint(out, flow.bytes / sampling),
        FLOW_START_SYS_UP_TIME => uint(out, flow.first_ms.wrapping_sub(boot_ms) as u32 as u64),
        FLOW_END_SYS_UP_TIME => uint(out, flow.last_ms.wrapping_sub(boot_ms) as u32 as u64),
        FLOW_START_MILLISECONDS => uint(out, flow.first_ms),
        FLOW_END_MILLISECONDS => uint(out, flow.last_ms),
        _ => out.resize(out.len() + usize::from(len), 0),
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

    #[test]
    fn put_field_scales_counters_and_relative_times() {
        let f = Flow { packets: 30, bytes: 3000, first_ms: 10_500, ..Flow::EMPTY };
        let mut out = Vec::new();
        put_field(&mut out, PACKET_DELTA_COUNT, 4, &f, 10_000, 10);
        put_field(&mut out, FLOW_START_SYS_UP_TIME, 4, &f, 10_000, 10);
        assert_eq!(out, [0, 0, 0, 3, 0, 0, 1, 244]);
    }
}
