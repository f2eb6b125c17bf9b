//! NetFlow v9 (RFC 3954): a 20-byte packet header followed by flowsets —
//! template (id 0), options template (id 1) and data (id ≥ 256). Checked
//! header view; the flowsets are walked with [`super::sets`]. The [`Encoder`]
//! emits the v9 side of the shared templates in [`super::ie`].

use super::ie::{self, RecordLayout, TimeFields};
use super::sets::{pad4, Set, SetIter};
use super::{EncoderConfig, FlowEncoder, WireError};
use crate::flow::{Flow, FlowSource};

pub const VERSION: u16 = 9;
pub const HEADER_LEN: usize = 20;
pub const TEMPLATE_FLOWSET_ID: u16 = 0;
pub const OPTIONS_TEMPLATE_FLOWSET_ID: u16 = 1;
/// Scope field type "System" (RFC 3954 §6.1).
pub const SCOPE_SYSTEM: u16 = 1;
/// Datagrams the encoder writes stay at or under this many bytes.
pub const MAX_DATAGRAM: usize = 1464;

type Field = core::ops::Range<usize>;

mod field {
    use super::Field;
    pub const VERSION: Field = 0..2;
    pub const COUNT: Field = 2..4;
    pub const SYS_UPTIME: Field = 4..8;
    pub const UNIX_SECS: Field = 8..12;
    pub const PACKAGE_SEQUENCE: Field = 12..16;
    pub const SOURCE_ID: Field = 16..20;
}

#[inline]
fn be16(b: &[u8], f: Field) -> u16 {
    u16::from_be_bytes([b[f.start], b[f.start + 1]])
}

#[inline]
fn be32(b: &[u8], f: Field) -> u32 {
    u32::from_be_bytes([b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3]])
}

/// A checked view of a v9 export packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks that the header fits and the version is 9.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::VERSION) != VERSION {
            return Err(WireError::BadVersion);
        }
        Ok(Packet { buffer })
    }
    #[inline]
    pub fn version(&self) -> u16 {
        be16(self.buffer.as_ref(), field::VERSION)
    }
    /// "The total number of records in the Export Packet" (template, options and data).
    #[inline]
    pub fn count(&self) -> u16 {
        be16(self.buffer.as_ref(), field::COUNT)
    }
    /// "Time in milliseconds since this device was first booted".
    #[inline]
    pub fn sys_uptime(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SYS_UPTIME)
    }
    /// "Time in seconds since 0000 UTC 1970, at which the Export Packet leaves the Exporter".
    #[inline]
    pub fn unix_secs(&self) -> u32 {
        be32(self.buffer.as_ref(), field::UNIX_SECS)
    }
    /// "Incremental sequence counter of all Export Packets sent from the current Observation Domain".
    #[inline]
    pub fn package_sequence(&self) -> u32 {
        be32(self.buffer.as_ref(), field::PACKAGE_SEQUENCE)
    }
    /// "A 32-bit value that identifies the Exporter Observation Domain".
    #[inline]
    pub fn source_id(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SOURCE_ID)
    }
    /// UTC ms at which the exporter booted, from unix_secs and sys_uptime
    /// (sysUptime-relative times add to this).
    #[inline]
    pub fn boot_ms(&self) -> u64 {
        (u64::from(self.unix_secs()) * 1000).wrapping_sub(u64::from(self.sys_uptime()))
    }
    /// The flowsets after the header.
    #[inline]
    pub fn flowsets(&self) -> SetIter<'_> {
        SetIter::new(&self.buffer.as_ref()[HEADER_LEN..])
    }
}

/// The packet header an emitter chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderRepr {
    pub count: u16,
    pub sys_uptime: u32,
    pub unix_secs: u32,
    pub package_sequence: u32,
    pub source_id: u32,
}

impl HeaderRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> HeaderRepr {
        HeaderRepr {
            count: p.count(),
            sys_uptime: p.sys_uptime(),
            unix_secs: p.unix_secs(),
            package_sequence: p.package_sequence(),
            source_id: p.source_id(),
        }
    }

    /// Writes the header over the first 20 bytes of `out`.
    pub fn write(&self, out: &mut [u8]) {
        out[field::VERSION].copy_from_slice(&VERSION.to_be_bytes());
        out[field::COUNT].copy_from_slice(&self.count.to_be_bytes());
        out[field::SYS_UPTIME].copy_from_slice(&self.sys_uptime.to_be_bytes());
        out[field::UNIX_SECS].copy_from_slice(&self.unix_secs.to_be_bytes());
        out[field::PACKAGE_SEQUENCE].copy_from_slice(&self.package_sequence.to_be_bytes());
        out[field::SOURCE_ID].copy_from_slice(&self.source_id.to_be_bytes());
    }
}

/// Appends a template flowset holding one template record per `(id, fields)`.
pub fn emit_template_flowset(out: &mut Vec<u8>, templates: &[(u16, &[(u16, u16)])]) {
    let start = out.len();
    ie::put_u16(out, TEMPLATE_FLOWSET_ID);
    ie::put_u16(out, 0);
    for (id, fields) in templates {
        ie::put_u16(out, *id);
        ie::put_u16(out, fields.len() as u16);
        for &(t, l) in fields.iter() {
            ie::put_u16(out, t);
            ie::put_u16(out, l);
        }
    }
    pad4(out, start);
    let len = (out.len() - start) as u16;
    ie::patch_u16(out, start + 2, len);
}

/// Appends an options template flowset (scope fields, then option fields).
pub fn emit_options_template_flowset(
    out: &mut Vec<u8>,
    id: u16,
    scope: &[(u16, u16)],
    options: &[(u16, u16)],
) {
    let start = out.len();
    ie::put_u16(out, OPTIONS_TEMPLATE_FLOWSET_ID);
    ie::put_u16(out, 0);
    ie::put_u16(out, id);
    ie::put_u16(out, (scope.len() * 4) as u16);
    ie::put_u16(out, (options.len() * 4) as u16);
    for &(t, l) in scope.iter().chain(options) {
        ie::put_u16(out, t);
        ie::put_u16(out, l);
    }
    pad4(out, start);
    let len = (out.len() - start) as u16;
    ie::patch_u16(out, start + 2, len);
}

/// Returns the set when it is a data flowset (id ≥ 256).
#[inline]
pub fn as_data(set: &Set<'_>) -> Option<u16> {
    (set.id >= 256).then_some(set.id)
}

const SAMPLER_SCOPE: [(u16, u16); 1] = [(SCOPE_SYSTEM, 4)];
/// The interval is announced twice: samplingInterval/samplingAlgorithm (what most
/// collectors read) and samplingPacketInterval/samplingPacketSpace (RFC 5477; what
/// nfdump 1.7 reads: it ignores a lone samplingInterval).
const SAMPLER_OPTIONS: [(u16, u16); 4] = [
    (ie::SAMPLING_INTERVAL, 4),
    (ie::SAMPLING_ALGORITHM, 1),
    (ie::SAMPLING_PACKET_INTERVAL, 4),
    (ie::SAMPLING_PACKET_SPACE, 4),
];

/// NetFlow v9 exporter with two templates (IPv4 256, IPv6 257) and, when
/// sampling, an options template (258) whose record announces the interval
/// (SAMPLING_INTERVAL / SAMPLING_ALGORITHM, scope System). Templates go in the
/// first packet and every `template_every` packets; `package_sequence` counts
/// packets sent before.
pub struct Encoder {
    cfg: EncoderConfig,
    v4: Vec<(u16, u16)>,
    v6: Vec<(u16, u16)>,
    v4_record: RecordLayout,
    v6_record: RecordLayout,
    packets_sent: u32,
    max_flows: usize,
}

impl Encoder {
    pub fn new(cfg: EncoderConfig) -> Self {
        let v4_record = RecordLayout { ipv6: false, times: TimeFields::SysUpTime };
        let v6_record = RecordLayout { ipv6: true, times: TimeFields::SysUpTime };
        let (v4, v6) = (v4_record.template(), v6_record.template());
        // Worst case: every template, then flows alternating families, each in its
        // own data flowset (4-byte header + up to 3 bytes of padding).
        let templates = 4 + 2 * 4 + 4 * (v4.len() + v6.len());
        // Options template and options data flowsets, each padded to 4 bytes.
        let sampler_len = ie::record_len(&SAMPLER_SCOPE) + ie::record_len(&SAMPLER_OPTIONS);
        let options = (4 + 6 + 4 * (SAMPLER_SCOPE.len() + SAMPLER_OPTIONS.len())).next_multiple_of(4)
            + (4 + sampler_len).next_multiple_of(4);
        let room = MAX_DATAGRAM - HEADER_LEN - templates - options;
        let max_flows = room / (ie::record_len(&v6) + 7);
        Encoder { cfg, v4, v6, v4_record, v6_record, packets_sent: 0, max_flows }
    }

    fn templates_due(&self) -> bool {
        self.packets_sent == 0
            || (self.cfg.template_every > 0 && self.packets_sent.is_multiple_of(self.cfg.template_every))
    }
}

impl FlowEncoder for Encoder {
    fn protocol(&self) -> FlowSource {
        FlowSource::NetflowV9
    }

    fn max_flows_per_datagram(&self) -> usize {
        self.max_flows
    }

    fn encode(&mut self, flows: &[Flow], now_ms: u64, out: &mut Vec<u8>) -> usize {
        out.clear();
        out.reserve(MAX_DATAGRAM);
        out.resize(HEADER_LEN, 0);
        let n = flows.len().min(self.max_flows);
        let mut records = 0u16;
        let sampling = self.cfg.sampling.max(1);
        if self.templates_due() {
            emit_template_flowset(out, &[(ie::TEMPLATE_IPV4, &self.v4), (ie::TEMPLATE_IPV6, &self.v6)]);
            records += 2;
            if sampling > 1 {
                emit_options_template_flowset(out, ie::TEMPLATE_SAMPLER, &SAMPLER_SCOPE, &SAMPLER_OPTIONS);
                let start = out.len();
                ie::put_u16(out, ie::TEMPLATE_SAMPLER);
                ie::put_u16(out, 0);
                ie::put_u32(out, 0); // scope System: the exporter itself
                ie::put_u32(out, sampling);
                out.push(1); // deterministic
                ie::put_u32(out, 1);
                ie::put_u32(out, sampling - 1);
                pad4(out, start);
                let len = (out.len() - start) as u16;
                ie::patch_u16(out, start + 2, len);
                records += 2;
            }
        }
        let mut i = 0;
        while i < n {
            let ipv6 = flows[i].is_ipv6();
            let (id, layout) =
                if ipv6 { (ie::TEMPLATE_IPV6, self.v6_record) } else { (ie::TEMPLATE_IPV4, self.v4_record) };
            let start = out.len();
            ie::put_u16(out, id);
            ie::put_u16(out, 0);
            let run = flows[i..n].iter().take_while(|f| f.is_ipv6() == ipv6).count();
            layout.write_records(out, &flows[i..i + run], self.cfg.boot_ms, sampling);
            records += run as u16;
            i += run;
            pad4(out, start);
            let len = (out.len() - start) as u16;
            ie::patch_u16(out, start + 2, len);
        }
        // unix_secs has no sub-second part: take the export time as the whole
        // second so that unix_secs*1000 - sys_uptime gives boot_ms exactly.
        let export_ms = now_ms - now_ms % 1000;
        let header = HeaderRepr {
            count: records,
            sys_uptime: export_ms.wrapping_sub(self.cfg.boot_ms) as u32,
            unix_secs: (now_ms / 1000) as u32,
            package_sequence: self.packets_sent,
            source_id: self.cfg.domain,
        };
        header.write(&mut out[..HEADER_LEN]);
        self.packets_sent = self.packets_sent.wrapping_add(1);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::super::sets::{parse_template, Dialect};
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn cfg(sampling: u32, template_every: u32) -> EncoderConfig {
        EncoderConfig {
            domain: 7,
            sampling,
            template_every,
            boot_ms: 1_000_000,
            agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    #[test]
    fn header_view() {
        let b = [0, 9, 0, 3, 0, 0, 0x27, 0x10, 0, 0, 0x01, 0x00, 0, 0, 0, 5, 0, 0, 0, 42];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.version(), p.count(), p.sys_uptime()), (9, 3, 10_000));
        assert_eq!((p.unix_secs(), p.package_sequence(), p.source_id()), (256, 5, 42));
        assert_eq!(p.boot_ms(), 256_000 - 10_000);
        assert_eq!(p.flowsets().count(), 0);
        assert_eq!(Packet::new_checked(&b[..19]).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn encoder_layout_templates_and_sequence() {
        let mut e = Encoder::new(cfg(10, 2));
        assert!(e.max_flows_per_datagram() >= 8);
        let v4 = Flow { packets: 10, bytes: 1000, first_ms: 1_000_100, last_ms: 1_000_900, ..Flow::EMPTY };
        let v6 = Flow { src_addr: "2001:db8::1".parse().unwrap(), dst_addr: "::2".parse().unwrap(), ..v4 };
        let flows: Vec<Flow> = (0..40).map(|i| if i % 2 == 0 { v4 } else { v6 }).collect();
        let mut out = Vec::new();
        let n = e.encode(&flows, 1_005_500, &mut out);
        assert_eq!(n, e.max_flows_per_datagram());
        assert!(out.len() <= MAX_DATAGRAM, "{}", out.len());
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!(p.count() as usize, n + 4);
        assert_eq!((p.package_sequence(), p.source_id(), p.boot_ms()), (0, 7, 1_000_000));
        let sets: Vec<_> = p.flowsets().map(|s| s.unwrap()).collect();
        assert_eq!(sets[0].id, TEMPLATE_FLOWSET_ID);
        let (t, used) = parse_template(sets[0].body, Dialect::V9, false).unwrap();
        assert_eq!((t.template_id, t.field_count as usize), (256, e.v4.len()));
        let (t6, _) = parse_template(&sets[0].body[used..], Dialect::V9, false).unwrap();
        assert_eq!(t6.template_id, 257);
        assert_eq!(sets[1].id, OPTIONS_TEMPLATE_FLOWSET_ID);
        assert_eq!(sets[2].id, 258);
        assert_eq!(&sets[2].body[4..9], &[0, 0, 0, 10, 1]);
        assert!(sets[3..].iter().all(|s| s.id == 256 || s.id == 257));
        assert!(sets[3..].iter().all(|s| (s.body.len() + 4) % 4 == 0));
        // Second packet: no templates; third: templates again.
        e.encode(&flows[..1], 1_006_000, &mut out);
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!((p.package_sequence(), p.count()), (1, 1));
        e.encode(&flows[..1], 1_006_000, &mut out);
        assert_eq!(Packet::new_checked(&out[..]).unwrap().count(), 5);
    }

    #[test]
    fn unsampled_encoder_sends_no_options() {
        let mut e = Encoder::new(cfg(1, 0));
        let mut out = Vec::new();
        e.encode(&[Flow::EMPTY], 2_000_000, &mut out);
        let p = Packet::new_checked(&out[..]).unwrap();
        let ids: Vec<u16> = p.flowsets().map(|s| s.unwrap().id).collect();
        assert_eq!(ids, vec![0, 256]);
        e.encode(&[Flow::EMPTY], 2_000_000, &mut out);
        let ids: Vec<u16> =
            Packet::new_checked(&out[..]).unwrap().flowsets().map(|s| s.unwrap().id).collect();
        assert_eq!(ids, vec![256]);
    }
}
