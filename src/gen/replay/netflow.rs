//! Replay of NetFlow v5, v9 and IPFIX from pre-encoded records: fixed-layout
//! records, so a datagram is its header, (v9/IPFIX) the template block when
//! due and one set per run of same-family records, each run copied from the
//! pool in one piece, then re-timed and its ports moved in place.

use super::records::{prefetch_ahead, Patches, Records};
use crate::flow::Flow;
use crate::wire::ie::{self, RecordLayout, TimeFields};
use crate::wire::{ipfix, netflow_v5, netflow_v9, EncoderConfig, FlowEncoder};

/// Byte offsets in a v5 flow record (RFC-less, Cisco's layout; a test holds
/// them to `netflow_v5::FlowRecord`'s accessors).
pub(super) const V5_RECORD: Patches = Patches {
    size: netflow_v5::RECORD_LEN,
    first_at: 24,
    last_at: 28,
    time_len: 4,
    ports_at: 32,
    protocol_at: 38,
};

/// The patches of the v9 and IPFIX records (`ie::RecordLayout`): addresses
/// (3 × 4 or 16), masks 2, ports 4, protocol; the times last. A test holds
/// them to `patches(layout)`, which reads them off the templates.
pub(super) const V9_V4: Patches = layout_patches(false, 4);
pub(super) const V9_V6: Patches = layout_patches(true, 4);
pub(super) const IPFIX_V4: Patches = layout_patches(false, 8);
pub(super) const IPFIX_V6: Patches = layout_patches(true, 8);

const fn layout_patches(ipv6: bool, time_len: usize) -> Patches {
    let times = if time_len == 4 { TimeFields::SysUpTime } else { TimeFields::Milliseconds };
    let size = RecordLayout { ipv6, times }.size();
    let ports_at = if ipv6 { 3 * 16 + 2 } else { 3 * 4 + 2 };
    Patches {
        size,
        first_at: size - 2 * time_len,
        last_at: size - time_len,
        time_len,
        ports_at,
        protocol_at: ports_at + 4,
    }
}

pub struct V5 {
    records: Records,
    /// The header fields that do not change (engine, sampling), as the encoder writes them.
    header: netflow_v5::HeaderRepr,
    boot_ms: u64,
    flow_sequence: u32,
}

impl V5 {
    /// None when a flow is IPv6 (v5 skips those: the flow encoder handles that).
    pub fn new(cfg: &EncoderConfig, flows: &[Flow], base_ms: u64, exact_from_ms: u64) -> Option<V5> {
        if flows.iter().any(Flow::is_ipv6) {
            return None;
        }
        // The constant header fields, from the encoder itself.
        let mut probe = Vec::new();
        netflow_v5::Encoder::new(cfg.clone()).encode(&flows[..1], base_ms, &mut probe);
        let header = netflow_v5::HeaderRepr::parse(&netflow_v5::Packet::new_checked(&probe[..]).ok()?);
        let records = Records::new(flows, base_ms, exact_from_ms, |f, out| {
            netflow_v5::RecordRepr::from_flow(f, cfg.boot_ms, cfg.sampling).emit(out)
        });
        Some(V5 { records, header, boot_ms: cfg.boot_ms, flow_sequence: 0 })
    }

    pub fn max_flows_per_datagram(&self) -> usize {
        netflow_v5::MAX_RECORDS
    }

    pub fn encode(&mut self, now_ms: u64, out: &mut Vec<u8>) -> usize {
        out.clear();
        out.extend_from_slice(&[0; netflow_v5::HEADER_LEN]);
        let shift = self.records.time_shift(now_ms);
        let mut taken = 0;
        while taken < netflow_v5::MAX_RECORDS {
            let s = self.records.segment(netflow_v5::MAX_RECORDS - taken);
            let at = out.len();
            let src = self.records.range(s.start, s.end);
            out.extend_from_slice(src);
            V5_RECORD.apply(src, &mut out[at..], shift, s.port_shift);
            taken += s.end - s.start;
            self.records.advance(s.end - s.start);
        }
        let count = taken as u16;
        let header = netflow_v5::HeaderRepr {
            count,
            sys_uptime: now_ms.wrapping_sub(self.boot_ms) as u32,
            unix_secs: (now_ms / 1000) as u32,
            unix_nsecs: ((now_ms % 1000) * 1_000_000) as u32,
            flow_sequence: self.flow_sequence,
            ..self.header
        };
        let head: &mut [u8; netflow_v5::HEADER_LEN] =
            (&mut out[..netflow_v5::HEADER_LEN]).try_into().expect("header");
        header.write(head);
        self.flow_sequence = self.flow_sequence.wrapping_add(u32::from(count));
        self.records.prefetch();
        taken
    }

    pub(super) fn records(&self) -> &Records {
        &self.records
    }
}

/// NetFlow v9 or IPFIX: the same records (`ie::RecordLayout`), different
/// headers, times and set padding.
pub struct Templated {
    ipfix: bool,
    records: Records,
    /// Per record: where its run of same-family records ends (within the first
    /// pass; one copy per run), shifted left by one, or 1 for IPv6.
    runs: Vec<u32>,
    /// The template (and sampler options) sets, as the encoder writes them, and
    /// the records they count (v9 header count; IPFIX sequence number).
    templates: Vec<u8>,
    template_records: u32,
    template_every: u32,
    boot_ms: u64,
    domain: u32,
    max_flows: usize,
    /// Datagrams sent (v9 package sequence), data records sent (IPFIX sequence).
    sent: u32,
    records_sent: u32,
}

impl Templated {
    pub fn new(
        ipfix: bool,
        cfg: &EncoderConfig,
        flows: &[Flow],
        base_ms: u64,
        exact_from_ms: u64,
    ) -> Templated {
        let times = if ipfix { TimeFields::Milliseconds } else { TimeFields::SysUpTime };
        let layouts = [RecordLayout { ipv6: false, times }, RecordLayout { ipv6: true, times }];
        let sampling = cfg.sampling.max(1);
        let records = Records::new(flows, base_ms, exact_from_ms, |f, out| {
            layouts[usize::from(f.is_ipv6())].write_record(out, f, cfg.boot_ms, sampling)
        });
        let mut runs = vec![0u32; flows.len()];
        let mut end = flows.len();
        for i in (0..flows.len()).rev() {
            if i + 1 < flows.len() && flows[i].is_ipv6() != flows[i + 1].is_ipv6() {
                end = i + 1;
            }
            runs[i] = (end as u32) << 1 | u32::from(flows[i].is_ipv6());
        }
        // The template block: what a fresh encoder writes after its header in its
        // first datagram, given no flows; and the records it counts.
        let protocol =
            if ipfix { crate::flow::FlowSource::Ipfix } else { crate::flow::FlowSource::NetflowV9 };
        let mut scratch = crate::wire::encoder(protocol, cfg.clone());
        let mut first = Vec::new();
        let max_flows = scratch.max_flows_per_datagram();
        scratch.encode(&[], base_ms, &mut first);
        let header_len = if ipfix { ipfix::HEADER_LEN } else { netflow_v9::HEADER_LEN };
        let template_records = if ipfix {
            let mut second = Vec::new();
            scratch.encode(&[], base_ms, &mut second);
            u32::from_be_bytes(second[8..12].try_into().expect("IPFIX header"))
        } else {
            u32::from(u16::from_be_bytes([first[2], first[3]]))
        };
        Templated {
            ipfix,
            records,
            runs,
            templates: first[header_len..].to_vec(),
            template_records,
            template_every: cfg.template_every,
            boot_ms: cfg.boot_ms,
            domain: cfg.domain,
            max_flows,
            sent: 0,
            records_sent: 0,
        }
    }

    pub fn max_flows_per_datagram(&self) -> usize {
        self.max_flows
    }

    fn templates_due(&self) -> bool {
        self.sent == 0 || (self.template_every > 0 && self.sent.is_multiple_of(self.template_every))
    }

    /// Closes the set begun at `start`: v9 pads it to 4 bytes; both write its length.
    #[inline]
    fn close_set(&self, out: &mut Vec<u8>, start: usize) {
        if !self.ipfix {
            out.resize(start + (out.len() - start).next_multiple_of(4), 0);
        }
        let len = (out.len() - start) as u16;
        ie::patch_u16(out, start + 2, len);
    }

    pub fn encode(&mut self, now_ms: u64, out: &mut Vec<u8>) -> usize {
        let header_len = if self.ipfix { ipfix::HEADER_LEN } else { netflow_v9::HEADER_LEN };
        out.clear();
        out.resize(header_len, 0);
        let mut records = 0u32;
        if self.templates_due() {
            out.extend_from_slice(&self.templates);
            records += self.template_records;
        }
        let shift = self.records.time_shift(now_ms);
        let mut taken = 0;
        // The open set: (IPv6?, where it began). A run may continue across the end of a pass.
        let mut set: Option<(bool, usize)> = None;
        while taken < self.max_flows {
            let s = self.records.segment(self.max_flows - taken);
            let mut i = s.start;
            while i < s.end {
                let (run, ipv6) = (self.runs[i] as usize >> 1, self.runs[i] & 1 == 1);
                let run_end = run.min(s.end);
                let id = if ipv6 { ie::TEMPLATE_IPV6 } else { ie::TEMPLATE_IPV4 };
                if set.map(|(v6, _)| v6) != Some(ipv6) {
                    if let Some((_, start)) = set {
                        self.close_set(out, start);
                    }
                    set = Some((ipv6, out.len()));
                    out.extend_from_slice(&id.to_be_bytes());
                    out.extend_from_slice(&[0, 0]);
                }
                let at = out.len();
                let src = self.records.range(i, run_end);
                out.extend_from_slice(src);
                // Constant offsets per layout: the patch loop compiles to fixed-offset code.
                let dst = &mut out[at..];
                match (self.ipfix, ipv6) {
                    (false, false) => V9_V4.apply(src, dst, shift, s.port_shift),
                    (false, true) => V9_V6.apply(src, dst, shift, s.port_shift),
                    (true, false) => IPFIX_V4.apply(src, dst, shift, s.port_shift),
                    (true, true) => IPFIX_V6.apply(src, dst, shift, s.port_shift),
                }
                i = run_end;
            }
            taken += s.end - s.start;
            self.records.advance(s.end - s.start);
        }
        if let Some((_, start)) = set {
            self.close_set(out, start);
        }
        records += taken as u32;
        if self.ipfix {
            ipfix::HeaderRepr {
                length: out.len() as u16,
                export_time: (now_ms / 1000) as u32,
                sequence_number: self.records_sent,
                observation_domain_id: self.domain,
            }
            .write(&mut out[..header_len]);
        } else {
            // As the encoder: the export time is the whole second of unix_secs.
            let export_ms = now_ms - now_ms % 1000;
            netflow_v9::HeaderRepr {
                count: records as u16,
                sys_uptime: export_ms.wrapping_sub(self.boot_ms) as u32,
                unix_secs: (now_ms / 1000) as u32,
                package_sequence: self.sent,
                source_id: self.domain,
            }
            .write(&mut out[..header_len]);
        }
        self.sent = self.sent.wrapping_add(1);
        self.records_sent = self.records_sent.wrapping_add(records);
        self.records.prefetch();
        prefetch_ahead(&self.runs, self.records.next());
        taken
    }

    pub(super) fn records(&self) -> &Records {
        &self.records
    }
}

/// The patch offsets of a layout, from its template.
#[cfg(test)]
pub(super) fn patches(layout: RecordLayout) -> Patches {
    let template = layout.template();
    let at = |id: u16| {
        let i = template.iter().position(|&(e, _)| e == id).expect("element in the encoders' template");
        ie::record_len(&template[..i])
    };
    let (first, last, time_len) = match layout.times {
        TimeFields::SysUpTime => (ie::FLOW_START_SYS_UP_TIME, ie::FLOW_END_SYS_UP_TIME, 4),
        TimeFields::Milliseconds => (ie::FLOW_START_MILLISECONDS, ie::FLOW_END_MILLISECONDS, 8),
    };
    let ports_at = at(ie::SOURCE_TRANSPORT_PORT);
    assert_eq!(at(ie::DESTINATION_TRANSPORT_PORT), ports_at + 2, "ports side by side");
    Patches {
        size: layout.size(),
        first_at: at(first),
        last_at: at(last),
        time_len,
        ports_at,
        protocol_at: at(ie::PROTOCOL_IDENTIFIER),
    }
}
