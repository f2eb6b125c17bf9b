//! The sFlow v5 encoder: one flow sample per `Flow` (see the module docs of
//! `wire::sflow` for the mapping), counter samples now and then, per-agent
//! datagram sequence numbers and per-source sample sequence numbers and pools.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;

use super::record::InterfaceCounters;
use super::view::{counter_format, flow_format, header_protocol, sample_format};
use crate::flow::{proto, Flow, FlowSource};
use crate::wire::inner::{emit_headers, ip_header_len, l2_header_len, transport_header_len};
use crate::wire::{EncoderConfig, FlowEncoder};

/// Datagrams stay under this many bytes (room for IP/UDP headers in a 1500 MTU).
pub const MAX_DATAGRAM: usize = 1400;
/// Smallest flow sample we write: compact sample header + raw Ethernet/IPv4/UDP header record.
const MIN_FLOW_SAMPLE: usize = 8 + 32 + 8 + 16 + 44;
/// Largest datagram header (IPv6 agent).
const MAX_DATAGRAM_HEADER: usize = 40;
/// Sources (data source ids) the encoder keeps sequence numbers for; beyond it flows share source 0.
pub const MAX_SOURCES: usize = 4096;
/// Every this many datagrams, a generic interface counter sample rides along.
pub const COUNTERS_EVERY: u64 = 16;
/// The FCS a real Ethernet frame carries: in `frame_length`, stripped from the header bytes.
const FCS_LEN: u32 = 4;

/// The frame length one sampled packet of `flow` gets: the flow's mean
/// packet size, at least the headers the encoder writes (Ethernet, VLAN tag,
/// IP, transport, FCS) and at most 65535.
pub fn sampled_frame_len(flow: &Flow) -> u32 {
    let min =
        (l2_header_len(flow) + ip_header_len(flow) + transport_header_len(flow.protocol)) as u32 + FCS_LEN;
    let mean = flow.bytes / flow.packets.max(1);
    mean.clamp(u64::from(min), u64::from(u16::MAX)) as u32
}

/// `flow` as sFlow carries it when one packet in `sampling` is sampled: one
/// sampled packet whose frame length F is the flow's mean packet size
/// (`sampled_frame_len`), so `packets = sampling`, `bytes = F × sampling`
/// (frame length, as sfacctd and nfdump count sFlow bytes), `sampling = max(sampling, 1)`, `first_ms = last_ms` (one packet),
/// `source = Sflow`. What the header cannot carry is normalized: an IPv6 flow
/// with an IPv4 address gets its v4-mapped form, an unspecified next hop takes
/// the flow's family, VLAN ids keep 12 bits, prefix lengths at most 128, ports exist only for TCP and UDP
/// (ICMP: `dst_port = type << 8 | code`, `src_port = 0`), TCP flags only for TCP.
///
/// An IPv6 flow whose protocol is an extension header number (0, 43, 44, 51,
/// 60) is not a real flow and does not survive the trip.
///
/// The decoder also sets `exporter` (the datagram's source address), `domain`
/// (the encoder's sub-agent id) and `first_ms = last_ms = received_ms`; this
/// function leaves those to the caller.
pub fn as_sampled(flow: &Flow, sampling: u32) -> Flow {
    let rate = sampling.max(1);
    let mut f = *flow;
    if f.is_ipv6() {
        f.src_addr = IpAddr::V6(to_v6(f.src_addr));
        f.dst_addr = IpAddr::V6(to_v6(f.dst_addr));
    }
    if f.next_hop.is_unspecified() {
        f.next_hop =
            if f.is_ipv6() { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
    }
    match f.protocol {
        proto::TCP => f.tcp_flags &= 0x3f,
        proto::UDP => f.tcp_flags = 0,
        proto::ICMP | proto::ICMPV6 => {
            f.src_port = 0;
            f.tcp_flags = 0;
        }
        _ => {
            f.src_port = 0;
            f.dst_port = 0;
            f.tcp_flags = 0;
        }
    }
    f.src_vlan &= 0x0fff;
    f.dst_vlan &= 0x0fff;
    f.src_mask = f.src_mask.min(128);
    f.dst_mask = f.dst_mask.min(128);
    let len = u64::from(sampled_frame_len(&f));
    f.packets = u64::from(rate);
    f.bytes = len * u64::from(rate);
    f.sampling = rate;
    f.first_ms = f.last_ms;
    f.source = FlowSource::Sflow;
    f
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Per data source state: what a real agent's sampler keeps.
#[derive(Clone, Copy, Default)]
struct Source {
    sample_seq: u32,
    sample_pool: u32,
    counter_seq: u32,
    in_octets: u64,
    in_packets: u32,
}

/// sFlow v5 encoder for one agent / sub-agent.
pub struct Encoder {
    cfg: EncoderConfig,
    datagram_seq: u32,
    datagrams: u64,
    sources: HashMap<u32, Source>,
}

impl Encoder {
    pub fn new(cfg: EncoderConfig) -> Self {
        Encoder { cfg, datagram_seq: 0, datagrams: 0, sources: HashMap::new() }
    }

    /// The data source (ifIndex) a flow is sampled on: its input interface,
    /// or the shared source 0 once `MAX_SOURCES` are known.
    fn source_id(&self, in_if: u32) -> u32 {
        if self.sources.len() < MAX_SOURCES || self.sources.contains_key(&in_if) {
            in_if
        } else {
            0
        }
    }

    fn write_counter_sample(&mut self, source_id: u32, out: &mut Vec<u8>) -> bool {
        let Some(src) = self.sources.get_mut(&source_id) else { return false };
        src.counter_seq = src.counter_seq.wrapping_add(1);
        Self::write_counters(source_id, src.counter_seq, src.in_octets, src.in_packets, out);
        true
    }

    /// Appends the counter sample (generic interface counters) of source
    /// `source_id` with sequence number `seq`, as `encode` writes it every
    /// `COUNTERS_EVERY` datagrams (public for the generator's pre-encoded replay).
    pub fn write_counters(source_id: u32, seq: u32, in_octets: u64, in_packets: u32, out: &mut Vec<u8>) {
        let compact = source_id <= 0x00ff_ffff;
        let start =
            begin(out, if compact { sample_format::COUNTERS } else { sample_format::EXPANDED_COUNTERS });
        put(out, seq);
        if compact {
            put(out, source_id);
        } else {
            put(out, 0);
            put(out, source_id);
        }
        put(out, 1);
        let rec = begin(out, counter_format::GENERIC_INTERFACE);
        InterfaceCounters {
            if_index: source_id,
            if_type: 6, // ethernetCsmacd
            if_speed: 10_000_000_000,
            if_direction: 1, // full duplex
            if_status: 3,    // admin up, oper up
            if_in_octets: in_octets,
            if_in_ucast_pkts: in_packets,
            ..InterfaceCounters::default()
        }
        .emit(out);
        end(out, rec);
        end(out, start);
    }

    /// Appends one flow sample for `f` (already `as_sampled`) with sequence
    /// number `seq` and pool `pool` of source `source_id` (public for the
    /// generator's pre-encoded replay).
    pub fn write_flow_sample(f: &Flow, source_id: u32, seq: u32, pool: u32, out: &mut Vec<u8>) {
        let expanded = source_id > 0x00ff_ffff || f.in_if >= 0x3fff_ffff || f.out_if >= 0x3fff_ffff;
        let has_switch = f.src_vlan != 0 || f.dst_vlan != 0;
        let has_router = !f.next_hop.is_unspecified() || f.src_mask != 0 || f.dst_mask != 0;
        let has_gateway = f.src_as != 0 || f.dst_as != 0;
        let records = 1 + u32::from(has_switch) + u32::from(has_router) + u32::from(has_gateway);
        let start = out.len();
        // Sample header (its length is filled in at the end).
        if expanded {
            let (format, drops) = (sample_format::EXPANDED_FLOW, 0);
            put_words(out, [format, 0, seq, 0, source_id, f.sampling, pool, drops, 0, f.in_if, 0, f.out_if]);
        } else {
            let (format, drops) = (sample_format::FLOW, 0);
            put_words(out, [format, 0, seq, source_id, f.sampling, pool, drops, f.in_if, f.out_if]);
        }
        put_words(out, [records]);

        // Raw packet header record: Ethernet, IP and transport headers, padded to 4 bytes.
        let frame_len = (f.bytes / u64::from(f.sampling)) as u32;
        let ip_len = (frame_len - l2_header_len(f) as u32 - FCS_LEN) as u16;
        let rec = out.len();
        put_words(out, [flow_format::RAW_HEADER, 0, header_protocol::ETHERNET, frame_len, FCS_LEN, 0]);
        let n = emit_headers(f, ip_len, out);
        out[rec + 20..rec + 24].copy_from_slice(&(n as u32).to_be_bytes());
        out.resize(out.len().next_multiple_of(4), 0);
        end(out, rec);

        if has_switch {
            let (src, dst) = (u32::from(f.src_vlan), u32::from(f.dst_vlan));
            put_words(out, [flow_format::EXTENDED_SWITCH, 16, src, 0, dst, 0]);
        }
        if has_router {
            let rec = out.len();
            put_words(out, [flow_format::EXTENDED_ROUTER, 0]);
            put_address(out, f.next_hop);
            put_words(out, [u32::from(f.src_mask), u32::from(f.dst_mask)]);
            end(out, rec);
        }
        if has_gateway {
            let rec = out.len();
            put_words(out, [flow_format::EXTENDED_GATEWAY, 0]);
            put_address(out, f.next_hop);
            // This router's AS (not in a Flow), source AS, source peer AS.
            put_words(out, [0, f.src_as, 0]);
            if f.dst_as != 0 {
                put_words(out, [1, 2, 1, f.dst_as]); // one AS_SEQUENCE segment of one AS
            } else {
                put_words(out, [0]);
            }
            put_words(out, [0, 0]); // communities, local pref
            end(out, rec);
        }
        end(out, start);
    }
}

#[inline]
fn put(out: &mut Vec<u8>, w: u32) {
    out.extend_from_slice(&w.to_be_bytes());
}

/// Appends XDR words: one length check and one resize for the group.
#[inline]
fn put_words<const N: usize>(out: &mut Vec<u8>, words: [u32; N]) {
    let at = out.len();
    out.resize(at + 4 * N, 0);
    for (chunk, w) in out[at..].chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
}

fn put_address(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            put(out, 1);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            put(out, 2);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// Starts an enterprise-0 entry (`data_format`, length placeholder); returns where it began.
fn begin(out: &mut Vec<u8>, format: u32) -> usize {
    let at = out.len();
    put_words(out, [format, 0]);
    at
}

/// Fills in the length of the entry begun at `at`.
fn end(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 8) as u32;
    out[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
}

impl FlowEncoder for Encoder {
    fn protocol(&self) -> FlowSource {
        FlowSource::Sflow
    }

    fn max_flows_per_datagram(&self) -> usize {
        (MAX_DATAGRAM - MAX_DATAGRAM_HEADER) / MIN_FLOW_SAMPLE
    }

    fn encode(&mut self, flows: &[Flow], now_ms: u64, out: &mut Vec<u8>) -> usize {
        out.clear();
        out.reserve(MAX_DATAGRAM + 512);
        let rate = self.cfg.sampling.max(1);
        self.datagram_seq = self.datagram_seq.wrapping_add(1);
        self.datagrams += 1;
        put(out, 5);
        put_address(out, self.cfg.agent);
        put(out, self.cfg.domain);
        put(out, self.datagram_seq);
        put(out, now_ms.saturating_sub(self.cfg.boot_ms) as u32);
        let count_at = out.len();
        put(out, 0);
        let mut samples = 0u32;
        if self.datagrams.is_multiple_of(COUNTERS_EVERY) {
            if let Some(first) = flows.first() {
                let id = self.source_id(first.in_if);
                samples += u32::from(self.write_counter_sample(id, out));
            }
        }
        let mut taken = 0;
        for flow in flows.iter().take(self.max_flows_per_datagram()) {
            let f = as_sampled(flow, rate);
            let id = self.source_id(f.in_if);
            // One lookup per sample (a source is known from its first sample on,
            // even when that sample does not fit this datagram).
            let src = self.sources.entry(id).or_default();
            let (seq, pool) = (src.sample_seq.wrapping_add(1), src.sample_pool.wrapping_add(rate));
            let mark = out.len();
            Self::write_flow_sample(&f, id, seq, pool, out);
            if out.len() > MAX_DATAGRAM && taken > 0 {
                out.truncate(mark);
                break;
            }
            src.sample_seq = seq;
            src.sample_pool = pool;
            src.in_octets = src.in_octets.wrapping_add(f.bytes);
            src.in_packets = src.in_packets.wrapping_add(rate);
            samples += 1;
            taken += 1;
        }
        out[count_at..count_at + 4].copy_from_slice(&samples.to_be_bytes());
        taken
    }
}
