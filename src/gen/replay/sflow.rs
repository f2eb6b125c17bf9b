//! Replay of sFlow from pre-encoded flow samples: each pooled flow's sample
//! as the encoder writes it, copied whole; per send only the sample's
//! sequence number and pool, the moved ports, and the datagram header change.
//! The per-source sampler state the encoder keeps in a map is kept here in a
//! vector indexed by a source number fixed when the pool is encoded.

use hashbrown::HashMap;

use super::records::{prefetch_ahead, shift_ports, Records};
use crate::flow::{proto, Flow};
use crate::wire::inner::{ip_header_len, l2_header_len};
use crate::wire::sflow::encoder::{COUNTERS_EVERY, MAX_SOURCES};
use crate::wire::sflow::{as_sampled, sample_format, Encoder, MAX_DATAGRAM};
use crate::wire::{EncoderConfig, FlowEncoder};

/// What a replay needs to know of one pre-encoded sample.
#[derive(Clone, Copy)]
struct Sample {
    /// Index into `Sflow::sources`.
    source: u16,
    /// Offset of the sample pool word (after the sequence number at 8).
    pool_at: u8,
    /// Offset of the sampled TCP/UDP ports; 0 for other protocols.
    ports_at: u16,
    /// Frame bytes the sample stands for (the source's input octets grow by it).
    octets: u64,
}

/// One data source's sampler state, as the encoder keeps it.
#[derive(Clone, Copy, Default)]
struct Source {
    id: u32,
    /// The encoder knows a source from its first sample on (even one that did not fit).
    known: bool,
    sample_seq: u32,
    sample_pool: u32,
    counter_seq: u32,
    in_octets: u64,
    in_packets: u32,
}

pub struct Sflow {
    records: Records,
    samples: Vec<Sample>,
    sources: Vec<Source>,
    /// The datagram header as the encoder writes it; sequence, uptime and
    /// sample count are its last three words.
    header: Vec<u8>,
    rate: u32,
    boot_ms: u64,
    max_flows: usize,
    datagram_seq: u32,
    datagrams: u64,
}

impl Sflow {
    pub fn new(cfg: &EncoderConfig, flows: &[Flow], base_ms: u64) -> Sflow {
        let rate = cfg.sampling.max(1);
        let mut header = Vec::new();
        let mut scratch = Encoder::new(cfg.clone());
        scratch.encode(&[], base_ms, &mut header);
        // Sources numbered in the order the encoder meets them (the pool's order), with
        // its cap: once MAX_SOURCES are known, flows of a new one share source 0.
        let mut numbers: HashMap<u32, u16> = HashMap::new();
        let mut sources = Vec::new();
        let mut samples = Vec::with_capacity(flows.len());
        let records = Records::new(flows, base_ms, 0, |flow, out| {
            let f = as_sampled(flow, rate);
            let id = if numbers.len() < MAX_SOURCES || numbers.contains_key(&f.in_if) { f.in_if } else { 0 };
            let source = *numbers.entry(id).or_insert_with(|| {
                sources.push(Source { id, ..Source::default() });
                (sources.len() - 1) as u16
            });
            let at = out.len();
            Encoder::write_flow_sample(&f, id, 0, 0, out);
            let expanded =
                u32::from_be_bytes(out[at..at + 4].try_into().expect("format")) != sample_format::FLOW;
            // Sample header (10 or 13 words), raw header record header (6 words), then the frame.
            let frame_at = if expanded { 13 * 4 } else { 10 * 4 } + 6 * 4;
            let ports_at = match f.protocol {
                proto::TCP | proto::UDP => (frame_at + l2_header_len(&f) + ip_header_len(&f)) as u16,
                _ => 0,
            };
            samples.push(Sample {
                source,
                pool_at: if expanded { 24 } else { 20 },
                ports_at,
                octets: f.bytes,
            });
        });
        Sflow {
            records,
            samples,
            sources,
            header,
            rate,
            boot_ms: cfg.boot_ms,
            max_flows: scratch.max_flows_per_datagram(),
            datagram_seq: 0,
            datagrams: 0,
        }
    }

    pub fn max_flows_per_datagram(&self) -> usize {
        self.max_flows
    }

    pub fn encode(&mut self, now_ms: u64, out: &mut Vec<u8>) -> usize {
        out.clear();
        self.datagram_seq = self.datagram_seq.wrapping_add(1);
        self.datagrams += 1;
        out.extend_from_slice(&self.header);
        let h = self.header.len();
        put(out, h - 12, self.datagram_seq);
        put(out, h - 8, now_ms.saturating_sub(self.boot_ms) as u32);
        let mut count = 0u32;
        if self.datagrams.is_multiple_of(COUNTERS_EVERY) {
            let src = &mut self.sources[usize::from(self.samples[self.records.next()].source)];
            if src.known {
                src.counter_seq = src.counter_seq.wrapping_add(1);
                Encoder::write_counters(src.id, src.counter_seq, src.in_octets, src.in_packets, out);
                count += 1;
            }
        }
        let mut taken = 0;
        while taken < self.max_flows {
            let segment = self.records.segment(self.max_flows - taken);
            // The samples of the segment that fit (the first of a datagram always
            // does), copied in one piece, then patched one by one.
            let base = self.records.offset(segment.start);
            let room = MAX_DATAGRAM.saturating_sub(out.len());
            let mut end = segment.start;
            while end < segment.end
                && (self.records.offset(end + 1) - base <= room || (taken == 0 && end == segment.start))
            {
                end += 1;
            }
            let full = end < segment.end;
            if full {
                // The encoder knows a source from its first sample on, even one that did not fit.
                self.sources[usize::from(self.samples[end].source)].known = true;
            }
            let first = out.len();
            out.extend_from_slice(self.records.range(segment.start, end));
            for i in segment.start..end {
                let sample = self.samples[i];
                let src = &mut self.sources[usize::from(sample.source)];
                src.known = true;
                let (seq, pool) = (src.sample_seq.wrapping_add(1), src.sample_pool.wrapping_add(self.rate));
                let at = first + (self.records.offset(i) - base);
                put(out, at + 8, seq);
                put(out, at + usize::from(sample.pool_at), pool);
                if sample.ports_at != 0 && segment.port_shift != 0 {
                    // Only TCP and UDP samples have ports_at set.
                    let p = at + usize::from(sample.ports_at);
                    let record = self.records.record(i);
                    let ports = record[usize::from(sample.ports_at)..][..4].try_into().expect("4 bytes");
                    out[p..p + 4].copy_from_slice(&shift_ports(ports, proto::TCP, segment.port_shift));
                }
                src.sample_seq = seq;
                src.sample_pool = pool;
                src.in_octets = src.in_octets.wrapping_add(sample.octets);
                src.in_packets = src.in_packets.wrapping_add(self.rate);
            }
            let n = end - segment.start;
            count += n as u32;
            taken += n;
            self.records.advance(n);
            if full {
                break;
            }
        }
        put(out, h - 4, count);
        self.records.prefetch();
        prefetch_ahead(&self.samples, self.records.next());
        taken
    }

    pub(super) fn records(&self) -> &Records {
        &self.records
    }
}

#[inline]
fn put(out: &mut [u8], at: usize, w: u32) {
    out[at..at + 4].copy_from_slice(&w.to_be_bytes());
}
