//! The send loop: per exporter, fill a batch of datagrams with the encoder,
//! hand the batch to `sendmmsg` (or the capture), count what went out; the
//! exporters take turns, the token bucket sets the pace.

use std::io::BufWriter;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use super::pace::{pause, TokenBucket};
use super::pool::FlowPool;
use super::replay::Replay;
use super::rng::derive_seed;
use super::send::{thread_cpu_time, BatchSender};
use super::totals::{ExporterTotals, Totals};
use super::traffic::{Traffic, TrafficConfig};
use super::{as_carried, protocol_name, GenConfig, Rate, DEFAULT_SEEDED_START_MS, NOMINAL_CAPTURE_RATE};
use crate::flow::{Counters, Flow, FlowSource};
use crate::pcap::CaptureWriter;
use crate::wire::sflow::Encoder as SflowEncoder;
use crate::wire::{EncoderConfig, FlowEncoder};

/// Builds the encoder of exporter `index` (the default is `crate::wire::encoder`).
pub type EncoderFactory = dyn Fn(u32, FlowSource, EncoderConfig) -> Box<dyn FlowEncoder>;

/// Longest single sleep, so that `stop` is noticed promptly.
const MAX_PAUSE: Duration = Duration::from_millis(50);
/// Exporters' uptime at the start of the run (v5/v9 carry times relative to boot).
const UPTIME_AT_START_MS: u64 = 86_400_000;
/// Smallest flow pool of one exporter (when the pool is on).
const MIN_POOL_PER_EXPORTER: usize = 256;

struct Exporter {
    source: SocketAddr,
    encoder: Box<dyn FlowEncoder>,
    flows: Feed,
    /// Fresh flows generated but not yet taken by the encoder (a datagram may take fewer than offered).
    pending: Vec<Flow>,
    sender: Option<BatchSender>,
    totals: ExporterTotals,
}

impl Exporter {
    /// What it sent so far. A replay counts the packets and bytes of what it
    /// handed out itself (from running sums over its pool): read here, when
    /// totals are asked for, not per batch.
    fn totals(&self) -> ExporterTotals {
        let mut t = self.totals.clone();
        if let Feed::Records(replay) = &self.flows {
            let sent = replay.sent();
            t.packets += sent.packets;
            t.bytes += sent.bytes;
        }
        t
    }
}

/// Where an exporter's flows come from.
enum Feed {
    /// A fresh draw from the model for every flow.
    Fresh(Traffic),
    /// Pre-drawn flows, replayed (see `pool.rs`); already in the protocol's view.
    Pool(FlowPool),
    /// The pool pre-encoded by the protocol's own encoder (`replay`): what the
    /// default encoders use; the flows are not encoded per send.
    Records(Box<Replay>),
}

enum Sink {
    Udp,
    Capture(CaptureWriter<BufWriter<std::fs::File>>),
}

/// The export clock: wall time when sending; for captures a virtual clock that
/// advances 1/rate per datagram (or per flow, for a flow rate).
enum Clock {
    Wall,
    Virtual {
        start_ms: u64,
        /// Milliseconds per unit (datagram or flow).
        step_ms: f64,
        /// Units so far.
        units: u64,
        per_flow: bool,
        /// Nothing is exported at or after this time (the capture's duration).
        end_ms: Option<u64>,
    },
}

impl Clock {
    fn now_ms(&self) -> u64 {
        match self {
            Clock::Wall => {
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
            }
            Clock::Virtual { start_ms, step_ms, units, .. } => start_ms + (*units as f64 * step_ms) as u64,
        }
    }
}

/// One generator run. Build with [`Generator::new`], then [`Generator::run`] once.
pub struct Generator {
    cfg: GenConfig,
    exporters: Vec<Exporter>,
    sink: Sink,
    clock: Clock,
    /// One datagram buffer per batch slot, reused.
    bufs: Vec<Vec<u8>>,
    /// Per batch slot: the flows that datagram carries (counted once it is out).
    slots: Vec<Counters>,
}

impl Generator {
    /// Validates `cfg`, binds the exporters' sockets (or creates the capture).
    /// The flow pool is pre-encoded once by the protocol's encoder and replayed
    /// from those records (`replay`): the same bytes as encoding each flow.
    pub fn new(cfg: GenConfig) -> Result<Generator> {
        Generator::build(cfg, None)
    }

    /// Like `new`, with the encoders built by `factory` (tests use their own);
    /// every flow goes through its encoder.
    pub fn with_encoders(cfg: GenConfig, factory: &EncoderFactory) -> Result<Generator> {
        Generator::build(cfg, Some(factory))
    }

    fn build(cfg: GenConfig, factory: Option<&EncoderFactory>) -> Result<Generator> {
        cfg.validate()?;
        let seed = cfg.seed_or_clock();
        let (sink, clock) = match &cfg.pcap {
            Some(path) => {
                let start_ms = cfg.start_ms.unwrap_or_else(|| match cfg.seed {
                    Some(_) => DEFAULT_SEEDED_START_MS,
                    None => Clock::Wall.now_ms(),
                });
                let (per_s, per_flow) = match cfg.rate {
                    Some(Rate::Datagrams(r)) => (r, false),
                    Some(Rate::Flows(r)) => (r, true),
                    None => (NOMINAL_CAPTURE_RATE, false),
                };
                let end_ms = cfg.duration.map(|d| start_ms + d.as_millis() as u64);
                let writer = CaptureWriter::create(path)?;
                let clock = Clock::Virtual { start_ms, step_ms: 1000.0 / per_s, units: 0, per_flow, end_ms };
                (Sink::Capture(writer), clock)
            }
            None => (Sink::Udp, Clock::Wall),
        };
        let boot_base = clock.now_ms().saturating_sub(UPTIME_AT_START_MS);
        let mut exporters = Vec::with_capacity(cfg.exporters as usize);
        for i in 0..cfg.exporters {
            let ip = cfg.exporter_ip(i);
            let domain = i + 1;
            let (sender, source) = match sink {
                Sink::Udp => {
                    let mut tx = BatchSender::bind(SocketAddr::new(ip, 0), cfg.target)
                        .with_context(|| format!("cannot bind exporter socket on {ip}"))?;
                    tx.set_segmentation(cfg.gso);
                    let local = tx.local_addr();
                    (Some(tx), local)
                }
                // A capture has no sockets: fixed source ports keep it reproducible.
                Sink::Capture(_) => (None, SocketAddr::new(ip, 40_000 + (i % 20_000) as u16)),
            };
            let ecfg = EncoderConfig {
                domain,
                sampling: cfg.sampling,
                template_every: cfg.template_every,
                // Exporters booted a day (plus a few minutes each) before the run.
                boot_ms: boot_base.saturating_sub(i as u64 * 61_000),
                agent: ip,
            };
            let encoder = match factory {
                Some(factory) => factory(i, cfg.protocol, ecfg.clone()),
                None => crate::wire::encoder(cfg.protocol, ecfg.clone()),
            };
            if encoder.max_flows_per_datagram() == 0 {
                bail!("the {} encoder carries no flows per datagram", protocol_name(cfg.protocol));
            }
            let mut traffic = Traffic::new(TrafficConfig {
                scenario: cfg.scenario,
                ipv6_fraction: cfg.ipv6_fraction,
                sampling: cfg.sampling,
                seed: derive_seed(seed, i as u64),
                exporter: source.ip(),
                domain,
                source: cfg.protocol,
            });
            let flows = match cfg.pool_flows {
                0 => Feed::Fresh(traffic),
                total => {
                    // No bigger than a counted run can use.
                    let needed = cfg.count.map_or(usize::MAX, |c| {
                        (c as usize).saturating_mul(encoder.max_flows_per_datagram()) / cfg.exporters as usize
                            + 1
                    });
                    let size = (total / cfg.exporters as usize).max(MIN_POOL_PER_EXPORTER).min(needed);
                    let carry = |f| as_carried(cfg.protocol, f, cfg.sampling);
                    let now_ms = clock.now_ms();
                    // v9 and IPFIX: one data set per template in each datagram (see
                    // `group_families`), kept aligned pass after pass.
                    let per_datagram = encoder.max_flows_per_datagram();
                    let templated = matches!(cfg.protocol, FlowSource::NetflowV9 | FlowSource::Ipfix);
                    // (A pool smaller than one datagram stays as small: it wraps inside one.)
                    let size = if templated && size > per_datagram {
                        size.next_multiple_of(per_datagram)
                    } else {
                        size
                    };
                    let mut pool = FlowPool::new(&mut traffic, size, now_ms, carry);
                    if templated {
                        pool.group_families(per_datagram);
                    } else if cfg.protocol == FlowSource::Sflow {
                        // Samples of one length side by side (`order_by_size`). Only an
                        // ordering key: the datagrams' bytes come from the replay or encoder.
                        let mut sample = Vec::new();
                        pool.order_by_size(|f| {
                            sample.clear();
                            SflowEncoder::write_flow_sample(f, f.in_if, 0, 0, &mut sample);
                            sample.len()
                        });
                    }
                    match factory {
                        None => match Replay::new(cfg.protocol, &ecfg, &mut pool, now_ms) {
                            Some(replay) => Feed::Records(Box::new(replay)),
                            None => Feed::Pool(pool),
                        },
                        Some(_) => Feed::Pool(pool),
                    }
                }
            };
            let totals = ExporterTotals {
                address: source.ip().to_string(),
                port: if sender.is_some() { source.port() } else { 0 },
                domain,
                ..ExporterTotals::default()
            };
            let pending = Vec::with_capacity(encoder.max_flows_per_datagram());
            exporters.push(Exporter { source, encoder, flows, pending, sender, totals });
        }
        let bufs = (0..cfg.batch).map(|_| Vec::with_capacity(2048)).collect();
        let slots = vec![Counters::default(); cfg.batch];
        Ok(Generator { cfg, exporters, sink, clock, bufs, slots })
    }

    /// Where exporter `i` sends from (its bound socket address; the capture's source).
    pub fn exporter_addr(&self, i: usize) -> Option<SocketAddr> {
        self.exporters.get(i).map(|e| e.source)
    }

    /// Sends until the count, the duration, or `stop` becomes true; calls
    /// `progress` about every `progress_every` with the totals so far; returns the
    /// exact totals. A send error ends the run with an error.
    pub fn run(mut self, stop: &AtomicBool, mut progress: impl FnMut(&Totals)) -> Result<Totals> {
        let started = Instant::now();
        let cpu_started = thread_cpu_time();
        let flows_per_datagram = self.exporters[0].encoder.max_flows_per_datagram() as f64;
        // Token cost of one datagram, in the rate's unit.
        let (rate, cost) = match self.cfg.rate {
            Some(Rate::Datagrams(r)) => (Some(r), 1.0),
            Some(Rate::Flows(r)) => (Some(r), flows_per_datagram),
            None => (None, 1.0),
        };
        let paced = rate.is_some() && (matches!(self.sink, Sink::Udp) || self.cfg.pace_capture);
        // Bursts of at most ~1 ms of traffic: small batches at low rates, full ones at high rates.
        let batch = match rate {
            Some(r) if paced => ((r / cost / 1000.0) as usize).clamp(1, self.cfg.batch),
            _ => self.cfg.batch,
        };
        let mut bucket = rate.filter(|_| paced).map(|r| TokenBucket::new(r, batch as f64 * cost, started));
        let deadline = self.cfg.duration.map(|d| started + d);
        let count = self.cfg.count;
        let mut sent = 0u64;
        let mut turn = 0usize;
        let mut last_progress = started;
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            let remaining = count.map_or(u64::MAX, |c| c - sent);
            if remaining == 0 || deadline.is_some_and(|d| now >= d && matches!(self.clock, Clock::Wall)) {
                break;
            }
            let mut n = (batch as u64).min(remaining) as usize;
            if let Some(b) = bucket.as_mut() {
                let allowed = (b.available(now) as f64 / cost) as usize;
                if allowed == 0 {
                    pause(b.wait_for(cost, now).min(MAX_PAUSE));
                    continue;
                }
                n = n.min(allowed);
            }
            let (built, flows) = self.send_batch(turn, n)?;
            if let Some(b) = bucket.as_mut() {
                b.take(if matches!(self.cfg.rate, Some(Rate::Flows(_))) {
                    flows as f64
                } else {
                    built as f64
                });
            }
            sent += built as u64;
            if built < n {
                break; // the capture's export clock reached its end
            }
            turn = (turn + 1) % self.exporters.len();
            if now.duration_since(last_progress) >= self.cfg.progress_every {
                last_progress = now;
                progress(&self.totals(started, cpu_started));
            }
        }
        if let Sink::Capture(writer) = std::mem::replace(&mut self.sink, Sink::Udp) {
            writer.finish().context("cannot finish the capture")?;
        }
        Ok(self.totals(started, cpu_started))
    }

    /// Encodes up to `n` datagrams of exporter `turn` (fewer when a capture's
    /// clock reaches its end) and sends or writes them; returns (datagrams, flows).
    fn send_batch(&mut self, turn: usize, n: usize) -> Result<(usize, u64)> {
        let protocol = self.cfg.protocol;
        let sampling = self.cfg.sampling;
        let ex = &mut self.exporters[turn];
        let max = ex.encoder.max_flows_per_datagram();
        let mut flows = 0u64;
        let wall_ms = match self.clock {
            Clock::Wall => self.clock.now_ms(),
            Clock::Virtual { .. } => 0,
        };
        // The common case at full speed — replayed records, the wall clock, a
        // socket — without the per-datagram checks the other cases need.
        if let (Feed::Records(replay), Clock::Wall, Some(tx)) = (&mut ex.flows, &self.clock, &mut ex.sender) {
            let mut payload = 0u64;
            for buf in &mut self.bufs[..n] {
                flows += replay.encode(wall_ms, buf) as u64;
                payload += buf.len() as u64;
            }
            tx.send_all(&self.bufs[..n]).with_context(|| format!("cannot send to {}", self.cfg.target))?;
            let t = &mut ex.totals;
            t.datagrams += n as u64;
            t.flows += flows;
            t.payload_bytes += payload;
            return Ok((n, flows));
        }
        let mut built = 0;
        while built < n {
            let i = built;
            let now_ms = match self.clock {
                Clock::Wall => wall_ms,
                Clock::Virtual { end_ms, .. } => {
                    let now = self.clock.now_ms();
                    if end_ms.is_some_and(|end| now >= end) {
                        break;
                    }
                    now
                }
            };
            let (buf, slot) = (&mut self.bufs[i], &mut self.slots[i]);
            let taken = match &mut ex.flows {
                // Packets and bytes are counted per batch, below.
                Feed::Records(replay) => {
                    let taken = replay.encode(now_ms, buf);
                    *slot = Counters { flows: taken as u64, packets: 0, bytes: 0 };
                    taken
                }
                // The pool hands the encoder its flows where they lie.
                Feed::Pool(pool) => {
                    let taken = encode_flows(&mut *ex.encoder, pool.window(max, now_ms), now_ms, buf, slot)?;
                    pool.advance(taken);
                    taken
                }
                Feed::Fresh(traffic) => {
                    while ex.pending.len() < max {
                        ex.pending.push(as_carried(protocol, traffic.next_flow(now_ms), sampling));
                    }
                    let taken = encode_flows(&mut *ex.encoder, &ex.pending, now_ms, buf, slot)?;
                    ex.pending.drain(..taken);
                    taken
                }
            };
            flows += taken as u64;
            if let Clock::Virtual { units, per_flow, .. } = &mut self.clock {
                *units += if *per_flow { taken as u64 } else { 1 };
            }
            built += 1;
            if let Sink::Capture(w) = &mut self.sink {
                w.write_udp(now_ms, ex.source, self.cfg.target, &self.bufs[i])?;
            }
        }
        if let Some(tx) = ex.sender.as_mut() {
            tx.send_all(&self.bufs[..built])
                .with_context(|| format!("cannot send to {}", self.cfg.target))?;
        }
        let t = &mut ex.totals;
        for (slot, buf) in self.slots[..built].iter().zip(&self.bufs[..built]) {
            t.datagrams += 1;
            t.flows += slot.flows;
            t.packets += slot.packets;
            t.bytes += slot.bytes;
            t.payload_bytes += buf.len() as u64;
        }
        Ok((built, flows))
    }

    fn totals(&self, started: Instant, cpu_started: Duration) -> Totals {
        let elapsed_s = match self.clock {
            Clock::Wall => started.elapsed().as_secs_f64(),
            Clock::Virtual { step_ms, units, .. } => units as f64 * step_ms / 1000.0,
        };
        let mut t = Totals {
            protocol: protocol_name(self.cfg.protocol).to_string(),
            target: match &self.cfg.pcap {
                Some(p) => p.display().to_string(),
                None => self.cfg.target.to_string(),
            },
            exporters: self.exporters.iter().map(Exporter::totals).collect(),
            // A capture has no senders.
            gso: self.exporters.iter().all(|e| e.sender.as_ref().is_some_and(BatchSender::segmentation)),
            ..Totals::default()
        };
        t.payload_bytes = self.exporters.iter().map(|e| e.totals.payload_bytes).sum();
        t.sum_up(elapsed_s);
        t.cpu_s = thread_cpu_time().saturating_sub(cpu_started).as_secs_f64();
        t
    }
}

/// Encodes a prefix of `offered` into `buf`, counts it into `slot`; returns how many flows it took.
fn encode_flows(
    encoder: &mut dyn FlowEncoder,
    offered: &[Flow],
    now_ms: u64,
    buf: &mut Vec<u8>,
    slot: &mut Counters,
) -> Result<usize> {
    let taken = encoder.encode(offered, now_ms, buf);
    if taken == 0 || taken > offered.len() {
        bail!("the {} encoder took {taken} of {} flows", protocol_name(encoder.protocol()), offered.len());
    }
    *slot = Counters::default();
    for f in &offered[..taken] {
        slot.add_flow(f);
    }
    Ok(taken)
}

#[cfg(test)]
#[path = "generator_tests.rs"]
mod tests;
