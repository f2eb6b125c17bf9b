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
const MAX_SOURCES: usize = 4096;
/// Every this many datagrams, a generic interface counter sample rides along.
const COUNTERS_EVERY: u64 = 16;
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
        if self.sources.contains_key(&in_if) || self.sources.len() < MAX_SOURCES {
            in_if
        } else {
            0
        }
    }

    fn write_counter_sample(&mut self, source_id: u32, out: &mut Vec<u8>) -> bool {
        let Some(src) = self.sources.get_mut(&source_id) else { return false };
        src.counter_seq = src.counter_seq.wrapping_add(1);
        let compact = source_id <= 0x00ff_ffff;
        let start =
            begin(out, if compact { sample_format::COUNTERS } else { sample_format::EXPANDED_COUNTERS });
        put(out, src.counter_seq);
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
            if_in_octets: src.in_octets,
            if_in_ucast_pkts: src.in_packets,
            ..InterfaceCounters::default()
        }
        .emit(out);
        end(out, rec);
        end(out, start);
        true
    }

    /// Appends one flow sample for `f` (already `as_sampled`) with sequence
    /// number `seq` and pool `pool` of source `source_id`.
    fn write_flow_sample(f: &Flow, source_id: u32, seq: u32, pool: u32, out: &mut Vec<u8>) {
        let expanded = source_id > 0x00ff_ffff || f.in_if >= 0x3fff_ffff || f.out_if >= 0x3fff_ffff;
        let start = begin(out, if expanded { sample_format::EXPANDED_FLOW } else { sample_format::FLOW });
        put(out, seq);
        if expanded {
            put(out, 0);
            put(out, source_id);
        } else {
            put(out, source_id);
        }
        put(out, f.sampling);
        put(out, pool);
        put(out, 0); // drops
        if expanded {
            put(out, 0);
            put(out, f.in_if);
            put(out, 0);
            put(out, f.out_if);
        } else {
            put(out, f.in_if);
            put(out, f.out_if);
        }
        let has_switch = f.src_vlan != 0 || f.dst_vlan != 0;
        let has_router = !f.next_hop.is_unspecified() || f.src_mask != 0 || f.dst_mask != 0;
        let has_gateway = f.src_as != 0 || f.dst_as != 0;
        put(out, 1 + u32::from(has_switch) + u32::from(has_router) + u32::from(has_gateway));

        let frame_len = (f.bytes / u64::from(f.sampling)) as u32;
        let ip_len = (frame_len - l2_header_len(f) as u32 - FCS_LEN) as u16;
        let rec = begin(out, flow_format::RAW_HEADER);
        put(out, header_protocol::ETHERNET);
        put(out, frame_len);
        put(out, FCS_LEN);
        let len_at = out.len();
        put(out, 0);
        let n = emit_headers(f, ip_len, out);
        out[len_at..len_at + 4].copy_from_slice(&(n as u32).to_be_bytes());
        pad(out);
        end(out, rec);

        if has_switch {
            let rec = begin(out, flow_format::EXTENDED_SWITCH);
            for w in [u32::from(f.src_vlan), 0, u32::from(f.dst_vlan), 0] {
                put(out, w);
            }
            end(out, rec);
        }
        if has_router {
            let rec = begin(out, flow_format::EXTENDED_ROUTER);
            put_address(out, f.next_hop);
            put(out, u32::from(f.src_mask));
            put(out, u32::from(f.dst_mask));
            end(out, rec);
        }
        if has_gateway {
            let rec = begin(out, flow_format::EXTENDED_GATEWAY);
            put_address(out, f.next_hop);
            put(out, 0); // this router's AS: not in a Flow
            put(out, f.src_as);
            put(out, 0); // src peer AS
            if f.dst_as != 0 {
                for w in [1, 2, 1, f.dst_as] {
                    put(out, w); // one AS_SEQUENCE segment of one AS
                }
            } else {
                put(out, 0);
            }
            put(out, 0); // communities
            put(out, 0); // local pref
            end(out, rec);
        }
        end(out, start);
    }
}

#[inline]
fn put(out: &mut Vec<u8>, w: u32) {
    out.extend_from_slice(&w.to_be_bytes());
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

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Starts an enterprise-0 entry (`data_format`, length placeholder); returns where it began.
fn begin(out: &mut Vec<u8>, format: u32) -> usize {
    let at = out.len();
    put(out, format);
    put(out, 0);
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
            let src = self.sources.entry(id).or_default();
            let (seq, pool) = (src.sample_seq.wrapping_add(1), src.sample_pool.wrapping_add(rate));
            let mark = out.len();
            Self::write_flow_sample(&f, id, seq, pool, out);
            if out.len() > MAX_DATAGRAM && taken > 0 {
                out.truncate(mark);
                break;
            }
            let src = self.sources.get_mut(&id).expect("source inserted above");
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
