//! Templates compiled once into a field layout: for each field we keep what it
//! means (`Kind`), where it sits and how long it is. Fixed-length templates keep
//! only the fields we use, with their offsets; templates with variable-length
//! fields (IPFIX) keep every field and are walked in order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::flow::Flow;
use crate::wire::ie;
use crate::wire::ipfix::read_varlen;
use crate::wire::sets::{Dialect, TemplateRecord};
use crate::wire::WireError;

/// What a template field means to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Skip,
    SrcAddr,
    DstAddr,
    NextHop,
    SrcPort,
    DstPort,
    Protocol,
    TcpFlags,
    Tos,
    SrcMask,
    DstMask,
    InIf,
    OutIf,
    SrcAs,
    DstAs,
    SrcVlan,
    DstVlan,
    SrcMac,
    DstMac,
    Packets,
    Bytes,
    StartUptime,
    EndUptime,
    StartSeconds,
    EndSeconds,
    StartMillis,
    EndMillis,
    StartNtp,
    EndNtp,
    StartDeltaMicros,
    EndDeltaMicros,
    SysInitMillis,
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    SamplerId,
    SamplingInterval,
    PacketInterval,
    PacketSpace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    /// Unsigned integer, reduced-size encoding allowed (1..=8 bytes).
    Uint,
    /// 4-byte IPv4 or 16-byte IPv6 address.
    Addr,
    Mac,
    /// 8-byte dateTimeMilliseconds / NTP timestamp.
    Time64,
}

fn classify(id: u16) -> (Kind, Width) {
    use Kind::*;
    match id {
        ie::SOURCE_IPV4_ADDRESS | ie::SOURCE_IPV6_ADDRESS => (SrcAddr, Width::Addr),
        ie::DESTINATION_IPV4_ADDRESS | ie::DESTINATION_IPV6_ADDRESS => (DstAddr, Width::Addr),
        ie::IP_NEXT_HOP_IPV4_ADDRESS | ie::IP_NEXT_HOP_IPV6_ADDRESS => (NextHop, Width::Addr),
        ie::SOURCE_TRANSPORT_PORT => (SrcPort, Width::Uint),
        ie::DESTINATION_TRANSPORT_PORT => (DstPort, Width::Uint),
        ie::PROTOCOL_IDENTIFIER => (Protocol, Width::Uint),
        ie::TCP_CONTROL_BITS => (TcpFlags, Width::Uint),
        ie::IP_CLASS_OF_SERVICE => (Tos, Width::Uint),
        ie::SOURCE_IPV4_PREFIX_LENGTH | ie::SOURCE_IPV6_PREFIX_LENGTH => (SrcMask, Width::Uint),
        ie::DESTINATION_IPV4_PREFIX_LENGTH | ie::DESTINATION_IPV6_PREFIX_LENGTH => (DstMask, Width::Uint),
        ie::INGRESS_INTERFACE => (InIf, Width::Uint),
        ie::EGRESS_INTERFACE => (OutIf, Width::Uint),
        ie::BGP_SOURCE_AS_NUMBER => (SrcAs, Width::Uint),
        ie::BGP_DESTINATION_AS_NUMBER => (DstAs, Width::Uint),
        ie::VLAN_ID => (SrcVlan, Width::Uint),
        ie::POST_VLAN_ID => (DstVlan, Width::Uint),
        ie::SOURCE_MAC_ADDRESS => (SrcMac, Width::Mac),
        ie::DESTINATION_MAC_ADDRESS => (DstMac, Width::Mac),
        ie::PACKET_DELTA_COUNT | ie::PACKET_TOTAL_COUNT => (Packets, Width::Uint),
        ie::OCTET_DELTA_COUNT | ie::OCTET_TOTAL_COUNT => (Bytes, Width::Uint),
        ie::FLOW_START_SYS_UP_TIME => (StartUptime, Width::Uint),
        ie::FLOW_END_SYS_UP_TIME => (EndUptime, Width::Uint),
        ie::FLOW_START_SECONDS => (StartSeconds, Width::Uint),
        ie::FLOW_END_SECONDS => (EndSeconds, Width::Uint),
        ie::FLOW_START_MILLISECONDS => (StartMillis, Width::Time64),
        ie::FLOW_END_MILLISECONDS => (EndMillis, Width::Time64),
        ie::FLOW_START_MICROSECONDS | ie::FLOW_START_NANOSECONDS => (StartNtp, Width::Time64),
        ie::FLOW_END_MICROSECONDS | ie::FLOW_END_NANOSECONDS => (EndNtp, Width::Time64),
        ie::FLOW_START_DELTA_MICROSECONDS => (StartDeltaMicros, Width::Uint),
        ie::FLOW_END_DELTA_MICROSECONDS => (EndDeltaMicros, Width::Uint),
        ie::SYSTEM_INIT_TIME_MILLISECONDS => (SysInitMillis, Width::Time64),
        ie::ICMP_TYPE_CODE_IPV4 | ie::ICMP_TYPE_CODE_IPV6 => (IcmpTypeCode, Width::Uint),
        ie::ICMP_TYPE_IPV4 | ie::ICMP_TYPE_IPV6 => (IcmpType, Width::Uint),
        ie::ICMP_CODE_IPV4 | ie::ICMP_CODE_IPV6 => (IcmpCode, Width::Uint),
        ie::SAMPLER_ID | ie::SELECTOR_ID => (SamplerId, Width::Uint),
        ie::SAMPLING_INTERVAL | ie::SAMPLER_RANDOM_INTERVAL => (SamplingInterval, Width::Uint),
        ie::SAMPLING_PACKET_INTERVAL => (PacketInterval, Width::Uint),
        ie::SAMPLING_PACKET_SPACE => (PacketSpace, Width::Uint),
        _ => (Skip, Width::Uint),
    }
}

/// One compiled field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub kind: Kind,
    /// Offset in the record (fixed-length templates only).
    pub offset: u16,
    /// Length; `ie::VARIABLE_LENGTH` for a variable-length field.
    pub len: u16,
}

/// A template compiled for decoding.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub fields: Box<[Field]>,
    /// Bytes of the fixed-length fields (the whole record when `variable == 0`).
    pub fixed_len: usize,
    /// Number of variable-length fields.
    pub variable: u16,
    /// An options template (sampler, system init time, …).
    pub options: bool,
    /// Whether the template carries IPv6 addresses (absent addresses are then `::`).
    pub ipv6: bool,
    /// The template's raw field specifiers, to tell a refresh from a change.
    raw: Box<[u8]>,
    /// LRU clock value of the last use.
    pub last_used: u64,
}

impl Template {
    /// Compiles a template record (not a withdrawal). `raw` is the record's field
    /// specifier bytes, kept to recognize identical refreshes.
    pub fn compile(rec: &TemplateRecord<'_>, raw: &[u8]) -> Result<Template, WireError> {
        let mut fields = Vec::with_capacity(usize::from(rec.field_count));
        let mut fixed_len = 0usize;
        let mut variable = 0u16;
        let mut ipv6 = false;
        for (i, spec) in rec.fields().enumerate() {
            let scope = i < usize::from(rec.scope_field_count);
            // Scope fields matter only when they name a sampler (v9 scope types 1..5
            // are not element ids and must not be read as such).
            let (mut kind, width) = match (spec.enterprise, scope, spec.id) {
                (0, true, ie::SAMPLER_ID | ie::SELECTOR_ID) => (Kind::SamplerId, Width::Uint),
                (0, false, id) => classify(id),
                _ => (Kind::Skip, Width::Uint),
            };
            if spec.len == ie::VARIABLE_LENGTH && rec.dialect() == Dialect::V9 {
                // v9 has no variable-length fields: such a record could never fit.
                return Err(WireError::BadTemplate);
            }
            if spec.len == ie::VARIABLE_LENGTH {
                variable += 1;
                kind = Kind::Skip;
            } else {
                let ok = match width {
                    Width::Uint => (1..=8).contains(&spec.len),
                    Width::Addr => spec.len == 4 || spec.len == 16,
                    Width::Mac => spec.len == 6,
                    Width::Time64 => spec.len == 8,
                };
                if !ok {
                    kind = Kind::Skip;
                }
                if width == Width::Addr && spec.len == 16 && matches!(kind, Kind::SrcAddr | Kind::DstAddr) {
                    ipv6 = true;
                }
            }
            fields.push(Field { kind, offset: fixed_len.min(u16::MAX as usize) as u16, len: spec.len });
            if spec.len != ie::VARIABLE_LENGTH {
                fixed_len += usize::from(spec.len);
            }
        }
        // A record must use at least one byte, or a data set would never end.
        if fixed_len + usize::from(variable) == 0 || fixed_len > usize::from(u16::MAX) {
            return Err(WireError::BadTemplate);
        }
        if variable == 0 {
            fields.retain(|f| f.kind != Kind::Skip);
        }
        Ok(Template {
            fields: fields.into_boxed_slice(),
            fixed_len,
            variable,
            options: rec.scope_field_count > 0,
            ipv6,
            raw: raw.into(),
            last_used: 0,
        })
    }

    /// True when `raw` is the same field list this template was compiled from.
    #[inline]
    pub fn same_as(&self, raw: &[u8]) -> bool {
        *self.raw == *raw
    }

    /// Smallest record: every variable-length field at least its 1-byte length prefix.
    #[inline]
    pub fn min_len(&self) -> usize {
        self.fixed_len + usize::from(self.variable)
    }

    /// Decodes the record at the front of `data` into `flow` and `x`; returns the
    /// record length, `None` when the record runs past the end. Like `walk` with
    /// `apply`, written out so `apply` inlines into the record loop (a closure call
    /// per field cost more than the field itself).
    #[inline(always)]
    pub fn read(&self, data: &[u8], flow: &mut Flow, x: &mut Extra) -> Option<usize> {
        if self.variable == 0 {
            let rec = data.get(..self.fixed_len)?;
            for fld in self.fields.iter() {
                let at = usize::from(fld.offset);
                if let Some(v) = rec.get(at..at + usize::from(fld.len)) {
                    apply(fld.kind, v, flow, x);
                }
            }
            return Some(self.fixed_len);
        }
        self.walk(data, |k, b| apply(k, b, flow, x))
    }

    /// Calls `f` for each used field of the record at the front of `data`, and
    /// returns the record length. `None` when a variable-length field runs past
    /// the end (the rest of the set is unusable).
    #[inline]
    pub fn walk(&self, data: &[u8], mut f: impl FnMut(Kind, &[u8])) -> Option<usize> {
        if self.variable == 0 {
            let rec = data.get(..self.fixed_len)?;
            for fld in self.fields.iter() {
                let at = usize::from(fld.offset);
                f(fld.kind, &rec[at..at + usize::from(fld.len)]);
            }
            return Some(self.fixed_len);
        }
        let mut at = 0usize;
        for fld in self.fields.iter() {
            let (start, len) = if fld.len == ie::VARIABLE_LENGTH {
                let (prefix, len) = read_varlen(data.get(at..)?)?;
                (at + prefix, len)
            } else {
                (at, usize::from(fld.len))
            };
            let value = data.get(start..start + len)?;
            if fld.kind != Kind::Skip {
                f(fld.kind, value);
            }
            at = start + len;
        }
        Some(at)
    }
}

/// A big-endian unsigned integer of 1..=8 bytes (reduced-size encoding); the
/// common widths are single loads, not a byte loop.
#[inline(always)]
pub(crate) fn uint(b: &[u8]) -> u64 {
    match *b {
        [x] => u64::from(x),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
    }
}

#[inline(always)]
fn addr(b: &[u8]) -> IpAddr {
    match *b {
        [a, b, c, d] => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        _ => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            IpAddr::V6(Ipv6Addr::from(o))
        }
    }
}

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// RFC 7011 §6.1.9/10: NTP-format timestamp (32-bit seconds since 1900, 32-bit fraction) to UTC ms.
#[inline]
pub(crate) fn ntp_to_ms(v: u64) -> u64 {
    let secs = (v >> 32).saturating_sub(NTP_UNIX_OFFSET);
    let frac_ms = ((v & 0xffff_ffff) * 1000) >> 32;
    secs * 1000 + frac_ms
}

/// A flow time as the record gave it, resolved once the record is complete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Time {
    #[default]
    None,
    /// UTC ms.
    Abs(u64),
    /// ms since the exporter booted (v9 sysUptime / IPFIX flowStart/EndSysUpTime).
    Uptime(u32),
    /// µs before the message's export time.
    DeltaMicros(u64),
}

/// Per-record values that are not `Flow` fields, or that need context to resolve.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Extra {
    pub start: Time,
    pub end: Time,
    pub sys_init_ms: Option<u64>,
    pub sampler_id: Option<u32>,
    pub sampling_interval: Option<u32>,
    pub packet_interval: Option<u32>,
    pub packet_space: Option<u32>,
    pub icmp_type_code: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

impl Extra {
    /// The sampling interval an options (or data) record announces, if any:
    /// RFC 5477 packet interval/space wins over the older samplingInterval.
    pub fn announced_interval(&self) -> Option<u32> {
        match (self.packet_interval, self.packet_space) {
            (Some(i), Some(s)) if i > 0 => {
                let total = u64::from(i) + u64::from(s);
                Some(u32::try_from(total / u64::from(i)).unwrap_or(u32::MAX).max(1))
            }
            _ => self.sampling_interval.filter(|&v| v > 0),
        }
    }
}

/// Stores one field value into the flow or the extras. Always inlined into the
/// record loop: a call per field was a quarter of the v9/IPFIX decode time.
#[inline(always)]
pub(crate) fn apply(kind: Kind, b: &[u8], flow: &mut Flow, x: &mut Extra) {
    match kind {
        Kind::Skip => {}
        Kind::SrcAddr => flow.src_addr = addr(b),
        Kind::DstAddr => flow.dst_addr = addr(b),
        Kind::NextHop => flow.next_hop = addr(b),
        Kind::SrcPort => flow.src_port = uint(b) as u16,
        Kind::DstPort => flow.dst_port = uint(b) as u16,
        Kind::Protocol => flow.protocol = uint(b) as u8,
        Kind::TcpFlags => flow.tcp_flags = uint(b) as u8,
        Kind::Tos => flow.tos = uint(b) as u8,
        Kind::SrcMask => flow.src_mask = uint(b) as u8,
        Kind::DstMask => flow.dst_mask = uint(b) as u8,
        Kind::InIf => flow.in_if = uint(b) as u32,
        Kind::OutIf => flow.out_if = uint(b) as u32,
        Kind::SrcAs => flow.src_as = uint(b) as u32,
        Kind::DstAs => flow.dst_as = uint(b) as u32,
        Kind::SrcVlan => flow.src_vlan = uint(b) as u16,
        Kind::DstVlan => flow.dst_vlan = uint(b) as u16,
        Kind::SrcMac => flow.src_mac.copy_from_slice(b),
        Kind::DstMac => flow.dst_mac.copy_from_slice(b),
        Kind::Packets => flow.packets = uint(b),
        Kind::Bytes => flow.bytes = uint(b),
        Kind::StartUptime => x.start = Time::Uptime(uint(b) as u32),
        Kind::EndUptime => x.end = Time::Uptime(uint(b) as u32),
        Kind::StartSeconds => x.start = Time::Abs(uint(b).saturating_mul(1000)),
        Kind::EndSeconds => x.end = Time::Abs(uint(b).saturating_mul(1000)),
        Kind::StartMillis => x.start = Time::Abs(uint(b)),
        Kind::EndMillis => x.end = Time::Abs(uint(b)),
        Kind::StartNtp => x.start = Time::Abs(ntp_to_ms(uint(b))),
        Kind::EndNtp => x.end = Time::Abs(ntp_to_ms(uint(b))),
        Kind::StartDeltaMicros => x.start = Time::DeltaMicros(uint(b)),
        Kind::EndDeltaMicros => x.end = Time::DeltaMicros(uint(b)),
        Kind::SysInitMillis => x.sys_init_ms = Some(uint(b)),
        Kind::IcmpTypeCode => x.icmp_type_code = Some(uint(b) as u16),
        Kind::IcmpType => x.icmp_type = Some(uint(b) as u8),
        Kind::IcmpCode => x.icmp_code = Some(uint(b) as u8),
        Kind::SamplerId => x.sampler_id = Some(uint(b) as u32),
        Kind::SamplingInterval => x.sampling_interval = Some(uint(b) as u32),
        Kind::PacketInterval => x.packet_interval = Some(uint(b) as u32),
        Kind::PacketSpace => x.packet_space = Some(uint(b) as u32),
    }
}

/// How to turn the record's times into UTC ms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeBase {
    /// The message's export time, UTC ms.
    pub export_ms: u64,
    /// v9: the header's sysUptime (uptime-relative times are relative to it and
    /// `export_ms`); IPFIX: None.
    pub sys_uptime: Option<u32>,
    /// IPFIX: systemInitTimeMilliseconds known for the domain (options data).
    pub sys_init_ms: Option<u64>,
}

impl TimeBase {
    #[inline]
    fn resolve(&self, t: Time, sys_init_in_record: Option<u64>) -> Option<u64> {
        match t {
            Time::None => None,
            Time::Abs(ms) => Some(ms),
            Time::DeltaMicros(us) => Some(self.export_ms.saturating_sub(us / 1000)),
            Time::Uptime(up) => match self.sys_uptime {
                // Signed distance from the header's uptime: survives the 49.7-day
                // wrap and exporters whose flow times run slightly ahead of it.
                Some(now_up) => {
                    let behind = now_up.wrapping_sub(up) as i32;
                    Some((self.export_ms as i64 - i64::from(behind)).max(0) as u64)
                }
                // A 32-bit uptime after systemInitTime is ambiguous past 49.7 days:
                // take the reading within ±24.8 days of the export time (this also
                // fixes softflowd -r, whose init time is wall clock but uptimes are
                // from the capture).
                None => sys_init_in_record.or(self.sys_init_ms).map(|init| {
                    const WRAP: i128 = 1 << 32;
                    let export = i128::from(self.export_ms);
                    let mut off = (i128::from(init) + i128::from(up) - export).rem_euclid(WRAP);
                    if off > WRAP / 2 {
                        off -= WRAP;
                    }
                    (export + off).max(0) as u64
                }),
            },
        }
    }
}

/// Completes a record: times, ICMP type/code, address family of absent addresses.
#[inline]
pub(crate) fn finish(flow: &mut Flow, x: &Extra, base: &TimeBase, ipv6: bool) {
    let first = base.resolve(x.start, x.sys_init_ms);
    let last = base.resolve(x.end, x.sys_init_ms);
    match (first, last) {
        (Some(f), Some(l)) => (flow.first_ms, flow.last_ms) = (f, l),
        (Some(f), None) => (flow.first_ms, flow.last_ms) = (f, f),
        (None, Some(l)) => (flow.first_ms, flow.last_ms) = (l, l),
        (None, None) => (flow.first_ms, flow.last_ms) = (base.export_ms, base.export_ms),
    }
    if flow.is_icmp() {
        if let Some(tc) = x.icmp_type_code {
            flow.dst_port = tc;
        } else if x.icmp_type.is_some() || x.icmp_code.is_some() {
            flow.dst_port = u16::from(x.icmp_type.unwrap_or(0)) << 8 | u16::from(x.icmp_code.unwrap_or(0));
        } else if flow.dst_port == 0 && flow.src_port != 0 {
            // Some exporters put type/code in the source port.
            flow.dst_port = flow.src_port;
        }
        flow.src_port = 0;
    }
    if ipv6 {
        let unspecified = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let v4_zero = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        for a in [&mut flow.src_addr, &mut flow.dst_addr, &mut flow.next_hop] {
            if *a == v4_zero {
                *a = unspecified;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sets::parse_template;

    fn template(buf: &[u8], dialect: Dialect) -> Template {
        let (rec, used) = parse_template(buf, dialect, false).unwrap();
        Template::compile(&rec, &buf[..used]).unwrap()
    }

    #[test]
    fn fixed_template_keeps_used_fields_with_offsets() {
        // 256: src v4 (4), enterprise-less unknown 999 (2), packets reduced to 2 bytes.
        let t = template(&[1, 0, 0, 3, 0, 8, 0, 4, 0x03, 0xe7, 0, 2, 0, 2, 0, 2], Dialect::V9);
        assert_eq!(t.fixed_len, 8);
        assert_eq!(t.fields.len(), 2);
        let rec = [10, 0, 0, 1, 0xff, 0xff, 1, 2];
        let mut flow = Flow::EMPTY;
        let mut x = Extra::default();
        assert_eq!(t.walk(&rec, |k, b| apply(k, b, &mut flow, &mut x)), Some(8));
        assert_eq!(flow.src_addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(flow.packets, 258);
        assert_eq!(t.walk(&rec[..7], |_, _| {}), None);
    }

    #[test]
    fn variable_length_fields_are_walked() {
        // IPFIX 256: varlen enterprise field, then protocol (1).
        let buf = [1, 0, 0, 2, 0x80, 5, 0xff, 0xff, 0, 0, 0, 9, 0, 4, 0, 1];
        let t = template(&buf, Dialect::Ipfix);
        assert_eq!((t.variable, t.fixed_len, t.min_len()), (1, 1, 2));
        let mut flow = Flow::EMPTY;
        let mut x = Extra::default();
        let rec = [3, b'a', b'b', b'c', 6];
        assert_eq!(t.walk(&rec, |k, b| apply(k, b, &mut flow, &mut x)), Some(5));
        assert_eq!(flow.protocol, 6);
        let long = [255, 0, 2, b'x', b'y', 17];
        assert_eq!(t.walk(&long, |k, b| apply(k, b, &mut flow, &mut x)), Some(6));
        assert_eq!(flow.protocol, 17);
        assert_eq!(t.walk(&[200, 1], |_, _| {}), None);
    }

    #[test]
    fn zero_length_template_is_refused() {
        let buf = [1, 0, 0, 1, 0, 8, 0, 0];
        let (rec, used) = parse_template(&buf, Dialect::V9, false).unwrap();
        assert_eq!(Template::compile(&rec, &buf[..used]).unwrap_err(), WireError::BadTemplate);
    }

    #[test]
    fn times_resolve_in_every_encoding() {
        let base = TimeBase { export_ms: 1_000_000, sys_uptime: Some(5_000), sys_init_ms: None };
        assert_eq!(base.resolve(Time::Uptime(4_000), None), Some(999_000));
        assert_eq!(base.resolve(Time::Uptime(5_500), None), Some(1_000_500));
        let wrapped = TimeBase { sys_uptime: Some(100), ..base };
        assert_eq!(wrapped.resolve(Time::Uptime(u32::MAX - 99), None), Some(1_000_000 - 200));
        assert_eq!(base.resolve(Time::DeltaMicros(2_000_000), None), Some(998_000));
        let ipfix = TimeBase { export_ms: 100_000, sys_uptime: None, sys_init_ms: Some(50) };
        assert_eq!(ipfix.resolve(Time::Uptime(10), None), Some(60));
        assert_eq!(ipfix.resolve(Time::Uptime(10), Some(1000)), Some(1010));
        // Uptime that wrapped below the init time (softflowd -r): nearest to export time.
        let far = TimeBase { export_ms: 1 << 40, sys_uptime: None, sys_init_ms: Some(1 << 40) };
        assert_eq!(far.resolve(Time::Uptime(u32::MAX - 999), None), Some((1 << 40) - 1000));
        // 2026-01-01T00:00:00.5Z in NTP format.
        let ntp = ((1_767_225_600u64 + NTP_UNIX_OFFSET) << 32) | (1u64 << 31);
        assert_eq!(ntp_to_ms(ntp), 1_767_225_600_500);
    }

    #[test]
    fn icmp_and_sampling_extras() {
        let mut f = Flow { protocol: 1, src_port: 0x0800, ..Flow::EMPTY };
        let base = TimeBase { export_ms: 7, sys_uptime: None, sys_init_ms: None };
        finish(&mut f, &Extra::default(), &base, false);
        assert_eq!((f.src_port, f.dst_port, f.first_ms), (0, 0x0800, 7));
        let x = Extra { packet_interval: Some(1), packet_space: Some(99), ..Extra::default() };
        assert_eq!(x.announced_interval(), Some(100));
        let x = Extra { sampling_interval: Some(64), ..Extra::default() };
        assert_eq!(x.announced_interval(), Some(64));
    }
}
