//! Datagram → `Flow`s: version dispatch, template caches, sampling, sequence tracking.
//!
//! One [`Decoder`] per worker: it owns the state of the exporters that worker
//! sees (no locks). Every table keyed by exporter input is capped
//! ([`DecoderConfig`]); what a cap drops is counted in [`DecodeStats`].

mod emit;
mod exporter;
pub mod sflow;
pub mod stats;
mod template;
mod templated;
mod v5;

use std::net::{IpAddr, SocketAddr};

use hashbrown::HashMap;

use self::emit::{Batch, Emit, Sink};
use self::exporter::Exporter;
use self::sflow::SflowDecoder;
pub use self::stats::{DatagramOutcome, DecodeStats};
use self::templated::Ctx;
use crate::flow::{Flow, FlowSource};
use crate::wire::{self, WireError};

/// Limits and overrides for one decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Exporters (address + protocol) remembered; the least recently seen is evicted beyond this.
    pub max_exporters: usize,
    /// v9 source ids / IPFIX observation domains / v5 engines per exporter.
    pub max_domains_per_exporter: usize,
    /// Templates per exporter; the least recently used is evicted beyond this.
    pub max_templates_per_exporter: usize,
    /// Data sets held per exporter while their template has not arrived.
    pub max_pending_sets: usize,
    /// Bytes of held data sets per exporter.
    pub max_pending_bytes: usize,
    /// Held data sets older than this (by receive time) are dropped.
    pub pending_max_age_ms: u64,
    /// Sampling interval per exporter address that replaces what the exporter announces.
    pub sampling_override: Vec<(IpAddr, u32)>,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_exporters: 4096,
            max_domains_per_exporter: 64,
            max_templates_per_exporter: 256,
            max_pending_sets: 64,
            max_pending_bytes: 256 * 1024,
            pending_max_age_ms: 60_000,
            sampling_override: Vec::new(),
        }
    }
}

/// What the decoder knows about one exporter (for `status`, the web page, `decode --summary`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExporterInfo {
    pub address: IpAddr,
    #[serde(serialize_with = "source_name")]
    pub protocol: FlowSource,
    /// v9 source ids, IPFIX observation domains, v5 engine (type << 8 | id).
    pub domains: Vec<u32>,
    pub datagrams: u64,
    pub flows: u64,
    /// Sampling-corrected.
    pub packets: u64,
    /// Sampling-corrected.
    pub bytes: u64,
    pub templates: usize,
    /// Last sampling interval applied to this exporter's flows (None before the first flow).
    pub sampling: Option<u32>,
    pub missing_flows: u64,
    pub missing_datagrams: u64,
    pub decode_errors: u64,
    pub last_seen_ms: u64,
}

fn source_name<S: serde::Serializer>(p: &FlowSource, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}

/// Sizes of the decoder's exporter-keyed tables: the largest per-exporter value of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub exporters: usize,
    pub max_domains: usize,
    pub max_templates: usize,
    pub max_pending_sets: usize,
    pub max_pending_bytes: usize,
    /// Every exporter's held-bytes counter equals the bytes it actually holds.
    pub pending_bytes_consistent: bool,
    pub sflow_agents: usize,
    pub sflow_sources: usize,
}

impl Default for Footprint {
    fn default() -> Self {
        Footprint {
            exporters: 0,
            max_domains: 0,
            max_templates: 0,
            max_pending_sets: 0,
            max_pending_bytes: 0,
            pending_bytes_consistent: true,
            sflow_agents: 0,
            sflow_sources: 0,
        }
    }
}

impl Footprint {
    /// The first cap of `cfg` this footprint exceeds, by name.
    pub fn exceeded(&self, cfg: &DecoderConfig) -> Option<&'static str> {
        let checks = [
            (self.exporters > cfg.max_exporters.max(1), "exporters"),
            (self.max_domains > cfg.max_domains_per_exporter.max(1), "domains per exporter"),
            (self.max_templates > cfg.max_templates_per_exporter.max(1), "templates per exporter"),
            (self.max_pending_sets > cfg.max_pending_sets, "held data sets"),
            (self.max_pending_bytes > cfg.max_pending_bytes, "held bytes"),
            (!self.pending_bytes_consistent, "held-bytes counter"),
            (self.sflow_agents > cfg.max_exporters.max(1), "sflow agents"),
            (self.sflow_sources > cfg.max_exporters.max(1) * sflow::ENTRIES_PER_AGENT, "sflow data sources"),
        ];
        checks.iter().find(|c| c.0).map(|c| c.1)
    }
}

/// NetFlow v5/v9, IPFIX and (through [`SflowDecoder`]) sFlow decoder state of one worker.
pub struct Decoder {
    cfg: DecoderConfig,
    stats: DecodeStats,
    exporters: HashMap<(IpAddr, FlowSource), Exporter>,
    sflow: SflowDecoder,
    sflow_stats: DecodeStats,
}

impl Decoder {
    pub fn new(cfg: DecoderConfig) -> Decoder {
        let sflow = SflowDecoder::new(cfg.max_exporters);
        Decoder {
            cfg,
            stats: DecodeStats::default(),
            exporters: HashMap::new(),
            sflow,
            sflow_stats: DecodeStats::default(),
        }
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// Decodes one datagram from `exporter`, received at `received_ms` (UTC ms),
    /// sniffing its protocol. Each flow goes to `sink`. Never panics.
    ///
    /// Generic over the sink so a closure is inlined into the record loop (no
    /// indirect call per flow); `&mut dyn FnMut(&Flow)` works too.
    pub fn decode<S: FnMut(&Flow) + ?Sized>(
        &mut self,
        datagram: &[u8],
        exporter: SocketAddr,
        received_ms: u64,
        sink: &mut S,
    ) -> DatagramOutcome {
        self.sniff_and_decode(datagram, exporter, received_ms, &mut Sink(sink))
    }

    /// Like [`Decoder::decode`], appending the datagram's flows to `batch` (which the
    /// caller clears and reuses: once it has grown, decoding allocates nothing).
    pub fn decode_into(
        &mut self,
        datagram: &[u8],
        exporter: SocketAddr,
        received_ms: u64,
        batch: &mut Vec<Flow>,
    ) -> DatagramOutcome {
        self.decode_batched(datagram, exporter, received_ms, batch, usize::MAX, &mut |_: &mut Vec<Flow>| {})
    }

    /// Like [`Decoder::decode_into`], handing `batch` to `full` each time it holds
    /// `max` flows (`full` takes them and leaves it empty), so a datagram with many
    /// flows never makes the batch longer than `max`. NetFlow v5 records are
    /// written into the batch directly, with no per-flow call: the worker's path.
    pub fn decode_batched<F: FnMut(&mut Vec<Flow>) + ?Sized>(
        &mut self,
        datagram: &[u8],
        exporter: SocketAddr,
        received_ms: u64,
        batch: &mut Vec<Flow>,
        max: usize,
        full: &mut F,
    ) -> DatagramOutcome {
        let max = max.max(1);
        self.sniff_and_decode(datagram, exporter, received_ms, &mut Batch { batch, max, full })
    }

    /// Like [`Decoder::decode`] with the protocol forced (a datagram of another
    /// version is counted as `BadVersion`).
    pub fn decode_as<S: FnMut(&Flow) + ?Sized>(
        &mut self,
        protocol: FlowSource,
        datagram: &[u8],
        exporter: SocketAddr,
        received_ms: u64,
        sink: &mut S,
    ) -> DatagramOutcome {
        self.decode_emit(protocol, datagram, exporter, received_ms, &mut Sink(sink))
    }

    #[inline]
    fn sniff_and_decode<E: Emit + ?Sized>(
        &mut self,
        datagram: &[u8],
        exporter: SocketAddr,
        received_ms: u64,
        emit: &mut E,
    ) -> DatagramOutcome {
        match wire::sniff(datagram) {
            Some(p) => self.decode_emit(p, datagram, exporter, received_ms, emit),
            None => {
                self.stats.datagrams += 1;
                self.stats.bad_datagrams += 1;
                let e = if datagram.len() < 4 { WireError::Truncated } else { WireError::BadVersion };
                self.stats.error(e);
                DatagramOutcome { error: Some(e), ..DatagramOutcome::default() }
            }
        }
    }

    fn decode_emit<E: Emit + ?Sized>(
        &mut self,
        protocol: FlowSource,
        datagram: &[u8],
        exporter: SocketAddr,
        received_ms: u64,
        emit: &mut E,
    ) -> DatagramOutcome {
        let ip = exporter.ip();
        let sampling_override =
            self.cfg.sampling_override.iter().find(|(a, _)| *a == ip).map(|&(_, s)| s.max(1));
        let mut sink = |f: &Flow| emit.flow(f);
        if protocol == FlowSource::Sflow {
            return self.decode_sflow(datagram, ip, received_ms, sampling_override, &mut sink);
        }
        self.stats.datagrams += 1;
        let ex = exporter_slot(&mut self.exporters, &mut self.stats, &self.cfg, ip, protocol);
        ex.datagrams += 1;
        ex.last_seen_ms = ex.last_seen_ms.max(received_ms);
        ex.sampling_override = sampling_override;
        let ctx = Ctx { exporter: ip, source: protocol, received_ms, sampling_override };
        let out = match protocol {
            FlowSource::NetflowV5 => {
                match v5::decode(datagram, ex, &ctx, self.cfg.max_domains_per_exporter, emit) {
                    Ok(o) => o,
                    Err(e) => {
                        self.stats.error(e);
                        DatagramOutcome { error: Some(e), ..DatagramOutcome::default() }
                    }
                }
            }
            _ => templated::decode(datagram, ex, &self.cfg, &mut self.stats, &ctx, &mut sink),
        };
        if out.error.is_some() {
            ex.errors += 1;
            if out.flows == 0 {
                self.stats.bad_datagrams += 1;
            }
        }
        self.stats.flows += out.flows as u64;
        self.stats.missing_flows += out.missing_flows;
        self.stats.missing_datagrams += out.missing_datagrams;
        out
    }

    fn decode_sflow<S: FnMut(&Flow) + ?Sized>(
        &mut self,
        datagram: &[u8],
        ip: IpAddr,
        received_ms: u64,
        sampling_override: Option<u32>,
        sink: &mut S,
    ) -> DatagramOutcome {
        let ex = exporter_slot(&mut self.exporters, &mut self.stats, &self.cfg, ip, FlowSource::Sflow);
        let mut tally = templated::Tally::default();
        self.sflow_stats = DecodeStats::default();
        let out = self.sflow.decode(
            datagram,
            ip,
            received_ms,
            sampling_override,
            &mut self.sflow_stats,
            &mut |f| {
                tally.add(f);
                sink(f);
            },
        );
        ex.datagrams += 1;
        ex.last_seen_ms = ex.last_seen_ms.max(received_ms);
        templated::credit_exporter(ex, &out, &tally);
        if out.error.is_some() {
            ex.errors += 1;
        }
        // The sFlow decoder may or may not count datagrams / flows / sequence gaps
        // itself: count what it left out, once.
        let s = &mut self.sflow_stats;
        if s.datagrams == 0 {
            s.datagrams = 1;
            if out.error.is_some() && out.flows == 0 && s.bad_datagrams == 0 {
                s.bad_datagrams = 1;
            }
        }
        if s.flows == 0 {
            s.flows = tally.flows;
        }
        if s.missing_flows == 0 {
            s.missing_flows = out.missing_flows;
        }
        if s.missing_datagrams == 0 {
            s.missing_datagrams = out.missing_datagrams;
        }
        self.stats.merge(s);
        out
    }

    /// Drops every data set still waiting for its template, counting each as
    /// `pending_dropped` and an `UnknownTemplate` error (call at the end of a capture).
    pub fn flush_pending(&mut self) {
        for ex in self.exporters.values_mut() {
            templated::drop_all_pending(ex, &mut self.stats);
        }
    }

    /// How much exporter-controlled state the decoder holds now (for the fuzz
    /// targets' and tests' bounded-memory checks).
    pub fn footprint(&self) -> Footprint {
        let mut f = Footprint { exporters: self.exporters.len(), ..Footprint::default() };
        for e in self.exporters.values() {
            f.max_domains = f.max_domains.max(e.domains.len());
            f.max_templates = f.max_templates.max(e.templates.len());
            f.max_pending_sets = f.max_pending_sets.max(e.pending.len());
            f.max_pending_bytes = f.max_pending_bytes.max(e.pending_bytes);
            let held: usize = e.pending.iter().map(|p| p.data.len()).sum();
            f.pending_bytes_consistent &= held == e.pending_bytes;
        }
        f.sflow_agents = self.sflow.agent_count();
        f.sflow_sources = self.sflow.source_count();
        f
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// One entry per exporter (address + protocol), ordered by address then protocol.
    pub fn exporters(&self) -> Vec<ExporterInfo> {
        let mut v: Vec<ExporterInfo> = self
            .exporters
            .values()
            .map(|e| {
                let mut domains: Vec<u32> = e.domains.iter().map(|d| d.id).collect();
                domains.sort_unstable();
                ExporterInfo {
                    address: e.address,
                    protocol: e.protocol,
                    domains,
                    datagrams: e.datagrams,
                    flows: e.flows,
                    packets: e.packets,
                    bytes: e.bytes,
                    templates: e.templates.len(),
                    sampling: e.sampling,
                    missing_flows: e.missing_flows,
                    missing_datagrams: e.missing_datagrams,
                    decode_errors: e.errors,
                    last_seen_ms: e.last_seen_ms,
                }
            })
            .collect();
        v.sort_by_key(|e| (e.address, e.protocol));
        v
    }
}

/// The exporter's state, created on first sight; at the cap the least recently
/// seen exporter is evicted (counted).
fn exporter_slot<'a>(
    exporters: &'a mut HashMap<(IpAddr, FlowSource), Exporter>,
    stats: &mut DecodeStats,
    cfg: &DecoderConfig,
    ip: IpAddr,
    protocol: FlowSource,
) -> &'a mut Exporter {
    let key = (ip, protocol);
    // Below the cap (the usual case) one hash lookup: no contains_key first.
    if exporters.len() >= cfg.max_exporters.max(1) && !exporters.contains_key(&key) {
        let victim = exporters.iter().min_by_key(|(_, e)| e.last_seen_ms).map(|(k, _)| *k);
        if let Some(k) = victim {
            exporters.remove(&k);
            stats.exporters_evicted += 1;
            stats.error(WireError::CapacityExceeded);
        }
    }
    exporters.entry(key).or_insert_with(|| Exporter::new(ip, protocol))
}

#[cfg(test)]
mod tests;
