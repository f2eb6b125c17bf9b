//! IPFIX (RFC 7011): a 16-byte message header followed by sets — template
//! (id 2), options template (id 3) and data (id ≥ 256). Checked header view;
//! sets and template records are walked with [`super::sets`]; variable-length
//! field values with [`read_varlen`]. The [`Encoder`] emits the shared
//! templates in [`super::ie`] with absolute millisecond timestamps.

use super::ie::{self, RecordLayout, TimeFields};
use super::sets::SetIter;
use super::{EncoderConfig, FlowEncoder, WireError};
use crate::flow::{Flow, FlowSource};

pub const VERSION: u16 = 10;
pub const HEADER_LEN: usize = 16;
pub const TEMPLATE_SET_ID: u16 = 2;
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 3;
/// Datagrams the encoder writes stay at or under this many bytes.
pub const MAX_DATAGRAM: usize = 1464;

type Field = core::ops::Range<usize>;

mod field {
    use super::Field;
    pub const VERSION: Field = 0..2;
    pub const LENGTH: Field = 2..4;
    pub const EXPORT_TIME: Field = 4..8;
    pub const SEQUENCE_NUMBER: Field = 8..12;
    pub const OBSERVATION_DOMAIN_ID: Field = 12..16;
}

#[inline]
fn be16(b: &[u8], f: Field) -> u16 {
    u16::from_be_bytes([b[f.start], b[f.start + 1]])
}

#[inline]
fn be32(b: &[u8], f: Field) -> u32 {
    u32::from_be_bytes([b[f.start], b[f.start + 1], b[f.start + 2], b[f.start + 3]])
}

/// A checked view of one IPFIX message.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the version and that the message length is at least the header and
    /// no more than the datagram holds (bytes after it are ignored).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, field::VERSION) != VERSION {
            return Err(WireError::BadVersion);
        }
        let len = usize::from(be16(b, field::LENGTH));
        if len < HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if len > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }
    #[inline]
    pub fn version(&self) -> u16 {
        be16(self.buffer.as_ref(), field::VERSION)
    }
    /// "Total length of the IPFIX Message, measured in octets, including Message Header and Set(s)".
    #[inline]
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }
    /// "Time at which the IPFIX Message Header leaves the Exporter", seconds since the epoch.
    #[inline]
    pub fn export_time(&self) -> u32 {
        be32(self.buffer.as_ref(), field::EXPORT_TIME)
    }
    /// "Incremental sequence counter modulo 2^32 of all IPFIX Data Records sent in the
    /// current stream from the current Observation Domain".
    #[inline]
    pub fn sequence_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQUENCE_NUMBER)
    }
    #[inline]
    pub fn observation_domain_id(&self) -> u32 {
        be32(self.buffer.as_ref(), field::OBSERVATION_DOMAIN_ID)
    }
    /// The sets between the header and `length`.
    #[inline]
    pub fn sets(&self) -> SetIter<'_> {
        SetIter::new(&self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())])
    }
}

/// Reads the length prefix of a variable-length field value (RFC 7011 §7):
/// one byte, or 255 followed by two bytes. Returns (prefix bytes, value length).
#[inline]
pub fn read_varlen(b: &[u8]) -> Option<(usize, usize)> {
    match *b.first()? {
        255 => {
            let hi = *b.get(1)?;
            let lo = *b.get(2)?;
            Some((3, usize::from(u16::from_be_bytes([hi, lo]))))
        }
        n => Some((1, usize::from(n))),
    }
}

/// The message header an emitter chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderRepr {
    pub length: u16,
    pub export_time: u32,
    pub sequence_number: u32,
    pub observation_domain_id: u32,
}

impl HeaderRepr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> HeaderRepr {
        HeaderRepr {
            length: p.length(),
            export_time: p.export_time(),
            sequence_number: p.sequence_number(),
            observation_domain_id: p.observation_domain_id(),
        }
    }

    /// Writes the header over the first 16 bytes of `out`.
    pub fn write(&self, out: &mut [u8]) {
        out[field::VERSION].copy_from_slice(&VERSION.to_be_bytes());
        out[field::LENGTH].copy_from_slice(&self.length.to_be_bytes());
        out[field::EXPORT_TIME].copy_from_slice(&self.export_time.to_be_bytes());
        out[field::SEQUENCE_NUMBER].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[field::OBSERVATION_DOMAIN_ID].copy_from_slice(&self.observation_domain_id.to_be_bytes());
    }
}

fn put_spec(out: &mut Vec<u8>, id: u16, len: u16) {
    ie::put_u16(out, id);
    ie::put_u16(out, len);
}

/// Appends a template set holding one template record per `(id, fields)` (IANA elements).
pub fn emit_template_set(out: &mut Vec<u8>, templates: &[(u16, &[(u16, u16)])]) {
    let start = out.len();
    ie::put_u16(out, TEMPLATE_SET_ID);
    ie::put_u16(out, 0);
    for (id, fields) in templates {
        ie::put_u16(out, *id);
        ie::put_u16(out, fields.len() as u16);
        for &(t, l) in fields.iter() {
            put_spec(out, t, l);
        }
    }
    let len = (out.len() - start) as u16;
    ie::patch_u16(out, start + 2, len);
}

/// Appends an options template set with one record (scope fields first).
pub fn emit_options_template_set(out: &mut Vec<u8>, id: u16, scope: &[(u16, u16)], options: &[(u16, u16)]) {
    let start = out.len();
    ie::put_u16(out, OPTIONS_TEMPLATE_SET_ID);
    ie::put_u16(out, 0);
    ie::put_u16(out, id);
    ie::put_u16(out, (scope.len() + options.len()) as u16);
    ie::put_u16(out, scope.len() as u16);
    for &(t, l) in scope.iter().chain(options) {
        put_spec(out, t, l);
    }
    let len = (out.len() - start) as u16;
    ie::patch_u16(out, start + 2, len);
}

const SAMPLER_SCOPE: [(u16, u16); 1] = [(ie::OBSERVATION_DOMAIN_ID, 4)];
/// Scope + option field bytes of one sampler options record.
const SAMPLER_RECORD_LEN: usize = 4 + 4 + 1 + 4 + 4;

/// The interval is announced twice: samplingInterval/samplingAlgorithm (what most
/// collectors read) and samplingPacketInterval/samplingPacketSpace (RFC 5477; what
/// nfdump 1.7 reads: it ignores a lone samplingInterval).
const SAMPLER_OPTIONS: [(u16, u16); 4] = [
    (ie::SAMPLING_INTERVAL, 4),
    (ie::SAMPLING_ALGORITHM, 1),
    (ie::SAMPLING_PACKET_INTERVAL, 4),
    (ie::SAMPLING_PACKET_SPACE, 4),
];

/// IPFIX exporter with two templates (IPv4 256, IPv6 257, flowStart/EndMilliseconds)
/// and, when sampling, an options template (258, scope observationDomainId) whose
/// record carries samplingInterval / samplingAlgorithm. Templates go in the first
/// message and every `template_every` messages; the sequence number counts data
/// records (options data records included, RFC 7011 §3.1) sent before.
pub struct Encoder {
    cfg: EncoderConfig,
    v4: Vec<(u16, u16)>,
    v6: Vec<(u16, u16)>,
    v4_record: RecordLayout,
    v6_record: RecordLayout,
    messages_sent: u32,
    records_sent: u32,
    max_flows: usize,
}

impl Encoder {
    pub fn new(cfg: EncoderConfig) -> Self {
        let v4_record = RecordLayout { ipv6: false, times: TimeFields::Milliseconds };
        let v6_record = RecordLayout { ipv6: true, times: TimeFields::Milliseconds };
        let (v4, v6) = (v4_record.template(), v6_record.template());
        let templates = 4 + 2 * 4 + 4 * (v4.len() + v6.len());
        let sampler_len = ie::record_len(&SAMPLER_SCOPE) + ie::record_len(&SAMPLER_OPTIONS);
        let options = 4 + 6 + 4 * (SAMPLER_SCOPE.len() + SAMPLER_OPTIONS.len()) + 4 + sampler_len;
        let room = MAX_DATAGRAM - HEADER_LEN - templates - options;
        // Worst case: flows alternate families, each run in its own data set.
        let max_flows = room / (ie::record_len(&v6) + 4);
        Encoder { cfg, v4, v6, v4_record, v6_record, messages_sent: 0, records_sent: 0, max_flows }
    }

    fn templates_due(&self) -> bool {
        self.messages_sent == 0
            || (self.cfg.template_every > 0 && self.messages_sent.is_multiple_of(self.cfg.template_every))
    }
}

impl FlowEncoder for Encoder {
    fn protocol(&self) -> FlowSource {
        FlowSource::Ipfix
    }

    fn max_flows_per_datagram(&self) -> usize {
        self.max_flows
    }

    fn encode(&mut self, flows: &[Flow], now_ms: u64, out: &mut Vec<u8>) -> usize {
        out.clear();
        out.reserve(MAX_DATAGRAM);
        out.resize(HEADER_LEN, 0);
        let n = flows.len().min(self.max_flows);
        let mut records = 0u32;
        let sampling = self.cfg.sampling.max(1);
        if self.templates_due() {
            emit_template_set(out, &[(ie::TEMPLATE_IPV4, &self.v4), (ie::TEMPLATE_IPV6, &self.v6)]);
            if sampling > 1 {
                emit_options_template_set(out, ie::TEMPLATE_SAMPLER, &SAMPLER_SCOPE, &SAMPLER_OPTIONS);
                let start = out.len();
                ie::put_u16(out, ie::TEMPLATE_SAMPLER);
                ie::put_u16(out, (4 + SAMPLER_RECORD_LEN) as u16);
                ie::put_u32(out, self.cfg.domain);
                ie::put_u32(out, sampling);
                out.push(1); // deterministic
                ie::put_u32(out, 1);
                ie::put_u32(out, sampling - 1);
                debug_assert_eq!(out.len() - start, 4 + SAMPLER_RECORD_LEN);
                records += 1;
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
            records += run as u32;
            i += run;
            let len = (out.len() - start) as u16;
            ie::patch_u16(out, start + 2, len);
        }
        let header = HeaderRepr {
            length: out.len() as u16,
            export_time: (now_ms / 1000) as u32,
            sequence_number: self.records_sent,
            observation_domain_id: self.cfg.domain,
        };
        header.write(&mut out[..HEADER_LEN]);
        self.messages_sent = self.messages_sent.wrapping_add(1);
        self.records_sent = self.records_sent.wrapping_add(records);
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
            domain: 99,
            sampling,
            template_every,
            boot_ms: 0,
            agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    #[test]
    fn header_view_and_length_checks() {
        let mut b = [0, 10, 0, 16, 0x65, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.version(), p.length(), p.export_time()), (10, 16, 0x6500_0000));
        assert_eq!((p.sequence_number(), p.observation_domain_id()), (9, 1));
        assert_eq!(p.sets().count(), 0);
        b[3] = 20;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::Truncated);
        b[3] = 8;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), WireError::BadLength);
    }

    #[test]
    fn varlen_prefixes() {
        assert_eq!(read_varlen(&[5, 1, 2]), Some((1, 5)));
        assert_eq!(read_varlen(&[255, 1, 0]), Some((3, 256)));
        assert_eq!(read_varlen(&[255, 1]), None);
        assert_eq!(read_varlen(&[]), None);
    }

    #[test]
    fn encoder_sequence_counts_data_records() {
        let mut e = Encoder::new(cfg(4, 0));
        let v4 = Flow { packets: 8, bytes: 800, first_ms: 1_700_000_000_123, ..Flow::EMPTY };
        let v6 = Flow { src_addr: "2001:db8::1".parse().unwrap(), ..v4 };
        let flows: Vec<Flow> = (0..30).map(|i| if i % 2 == 0 { v4 } else { v6 }).collect();
        let mut out = Vec::new();
        let n = e.encode(&flows, 1_700_000_001_000, &mut out);
        assert_eq!(n, e.max_flows_per_datagram());
        assert!(out.len() <= MAX_DATAGRAM, "{}", out.len());
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!((p.length() as usize, p.sequence_number(), p.observation_domain_id()), (out.len(), 0, 99));
        let sets: Vec<_> = p.sets().map(|s| s.unwrap()).collect();
        assert_eq!((sets[0].id, sets[1].id, sets[2].id), (2, 3, 258));
        let (t, _) = parse_template(sets[1].body, Dialect::Ipfix, true).unwrap();
        assert_eq!((t.template_id, t.field_count, t.scope_field_count), (258, 5, 1));
        assert_eq!(&sets[2].body[4..9], &[0, 0, 0, 4, 1]);
        e.encode(&flows[..3], 1_700_000_002_000, &mut out);
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!(p.sequence_number() as usize, n + 1);
        let ids: Vec<u16> = p.sets().map(|s| s.unwrap().id).collect();
        assert_eq!(ids, vec![256, 257, 256]);
    }
}
