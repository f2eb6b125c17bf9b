//! The per-core loop: read a batch with recvmmsg, decode each datagram, count
//! every flow into this worker's own tables and append it to this worker's own
//! segment. Nothing on this path is shared or locked; every ~2 s the tables go
//! to the merge over a bounded channel, and every second the segment is flushed.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::Sender;
use hashbrown::HashMap;
use mio::{Events, Interest, Poll, Token};

use crate::aggregate::{Aggregator, WORKER_TOP_CAP};
use crate::channels::{ProfileRegistry, ProfileSet};
use crate::decode::{Decoder, DecoderConfig, ExporterInfo};
use crate::ingest::udp::{into_mio, CollectorSocket, RecvBatch};
use crate::live::{ExporterStatus, WorkerStatus};
use crate::merge::{now_ms, WorkerMessage};
pub use crate::pipeline::resample;
use crate::pipeline::FlowPath;
use crate::sources::{PortSources, SourceRouter};
use crate::store::FlowWriter;

/// How long a worker lets datagrams queue after a read that did not fill its batch
/// (at most this much added latency; the socket buffer holds far more).
const COALESCE: Duration = Duration::from_micros(500);

/// Batches read from one socket before the worker looks at its clock again. A flood that
/// never lets the socket run dry must not stop flushes, hand-overs or a requested stop.
pub(crate) const BATCHES_PER_TURN: usize = 64;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub id: u32,
    pub batch: usize,
    pub flush_every: Duration,
    pub handover_every: Duration,
    /// Core to pin this thread to.
    pub pin_core: Option<usize>,
}

/// One bound socket of this worker and the index of its port in the router.
pub struct WorkerSocket {
    pub socket: CollectorSocket,
    pub port_index: usize,
}

pub struct Worker {
    cfg: WorkerConfig,
    sockets: Vec<mio::net::UdpSocket>,
    port_of_socket: Vec<usize>,
    /// Cumulative kernel drops per socket (SO_RXQ_OVFL).
    socket_drops: Vec<u64>,
    rcvbuf: u64,
    /// Decode → aggregate → store.
    path: FlowPath,
    registry: Arc<ProfileRegistry>,
    set: Arc<ProfileSet>,
    router: Arc<SourceRouter>,
    tx: Sender<WorkerMessage>,
    /// Exporter → source it was last routed to (bounded like the decoder's exporter table).
    exporter_source: HashMap<IpAddr, usize>,
    max_exporters: usize,
    status: WorkerStatus,
    /// AF_XDP capture: this worker's receive queue (src/ingest/xdp_worker.rs).
    #[cfg(feature = "xdp")]
    xdp: Option<crate::ingest::xdp::XdpQueue>,
}

#[cfg(feature = "xdp")]
#[path = "ingest/xdp_worker.rs"]
mod xdp_worker;

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: WorkerConfig,
        sockets: Vec<WorkerSocket>,
        decoder_cfg: DecoderConfig,
        max_exporters: usize,
        writer: FlowWriter,
        registry: Arc<ProfileRegistry>,
        router: Arc<SourceRouter>,
        tx: Sender<WorkerMessage>,
    ) -> Worker {
        let set = registry.current();
        let rcvbuf = sockets.iter().map(|s| s.socket.rcvbuf as u64).min().unwrap_or(0);
        let port_of_socket: Vec<usize> = sockets.iter().map(|s| s.port_index).collect();
        let socket_drops = vec![0; port_of_socket.len()];
        let sockets = sockets.into_iter().map(|s| into_mio(s.socket.socket)).collect();
        Worker {
            status: WorkerStatus { id: cfg.id, rcvbuf, ..Default::default() },
            path: FlowPath::new(
                Decoder::new(decoder_cfg),
                Aggregator::new(set.shape.clone(), WORKER_TOP_CAP),
                writer,
            ),
            cfg,
            sockets,
            port_of_socket,
            socket_drops,
            rcvbuf,
            registry,
            set,
            router,
            tx,
            exporter_source: HashMap::new(),
            max_exporters,
            #[cfg(feature = "xdp")]
            xdp: None,
        }
    }

    /// Runs until `stop` is set; then flushes the store and hands over the last tables.
    pub fn run(mut self, stop: &AtomicBool) -> Result<()> {
        if let Some(core) = self.cfg.pin_core {
            crate::ingest::pin_to_core(core);
        }
        let mut poll = Poll::new().context("cannot create a poll instance")?;
        for (i, s) in self.sockets.iter_mut().enumerate() {
            poll.registry().register(s, Token(i), Interest::READABLE).context("cannot register a socket")?;
        }
        #[cfg(feature = "xdp")]
        let mut xdp = self.register_xdp(&poll)?;
        let mut events = Events::with_capacity(64);
        let mut batch = RecvBatch::new(self.cfg.batch);
        let mut last_flush = Instant::now();
        let mut last_handover = Instant::now();
        // Sockets left with data at the end of a turn (epoll is edge-triggered: no new event
        // comes for data that was already there).
        let mut backlog: Vec<usize> = Vec::new();
        let mut ready: Vec<usize> = Vec::new();
        #[allow(unused_mut)] // only the xdp build sets it
        let mut xdp_more = false;
        while !stop.load(Ordering::Relaxed) {
            let wait =
                if backlog.is_empty() && !xdp_more { Duration::from_millis(100) } else { Duration::ZERO };
            if let Err(e) = poll.poll(&mut events, Some(wait)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e).context("poll failed");
                }
            }
            ready.clear();
            ready.append(&mut backlog);
            ready.extend(events.iter().map(|ev| ev.token().0));
            ready.sort_unstable();
            ready.dedup();
            let mut received = 0;
            for &i in &ready {
                let (n, more) = self.drain_socket(i, &mut batch);
                received += n;
                if more {
                    backlog.push(i);
                }
            }
            if backlog.is_empty() && received > 0 && received < self.cfg.batch {
                // The queue ran dry before a full batch: let datagrams gather for a moment
                // rather than paying a wake-up, an epoll_wait and an empty recvmmsg for
                // every one or two of them. Full batches (high rates) never wait.
                std::thread::sleep(COALESCE);
            }
            #[cfg(feature = "xdp")]
            {
                xdp_more = self.drain_xdp(&mut xdp, false);
            }
            if last_flush.elapsed() >= self.cfg.flush_every {
                self.flush_store();
                last_flush = Instant::now();
            }
            if last_handover.elapsed() >= self.cfg.handover_every {
                self.hand_over(false);
                last_handover = Instant::now();
            }
        }
        // Read what is already queued so a clean stop loses nothing the kernel accepted
        // (bounded: a flood that goes on must not keep the worker from stopping).
        for i in 0..self.sockets.len() {
            for _ in 0..64 {
                if !self.drain_socket(i, &mut batch).1 {
                    break;
                }
            }
        }
        #[cfg(feature = "xdp")]
        let _ = self.drain_xdp(&mut xdp, true);
        self.flush_store();
        self.hand_over(true);
        self.path.writer.finish().context("cannot close the store's segment files")?;
        Ok(())
    }

    /// Reads socket `index` until it is empty or `BATCHES_PER_TURN` batches were read:
    /// (datagrams read, whether it may hold more).
    fn drain_socket(&mut self, index: usize, batch: &mut RecvBatch) -> (usize, bool) {
        let Some(&port_index) = self.port_of_socket.get(index) else { return (0, false) };
        let mut read = 0;
        // A cheap Arc clone keeps the port's routing table borrowable while `self` is mutated.
        let router = self.router.clone();
        let port = &router.ports[port_index];
        for _ in 0..BATCHES_PER_TURN {
            let n = match batch.recv(&self.sockets[index]) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(worker = self.cfg.id, "recvmmsg failed: {e}");
                    0
                }
            };
            if n == 0 {
                return (read, false);
            }
            read += n;
            if batch.kernel_drops > 0 {
                self.socket_drops[index] = self.socket_drops[index].max(batch.kernel_drops as u64);
                self.status.kernel_drops = self.socket_drops.iter().sum();
            }
            self.refresh_profiles();
            let received_ms = now_ms();
            for i in 0..n {
                let (bytes, from, truncated) = batch.datagram(i);
                self.handle_datagram(port, bytes, from, truncated, received_ms);
            }
        }
        (read, true)
    }

    /// Routes one datagram to its source, decodes it and counts its flows: the
    /// same for the socket and the AF_XDP path.
    fn handle_datagram(
        &mut self,
        port: &PortSources,
        bytes: &[u8],
        from: Option<SocketAddr>,
        truncated: bool,
        received_ms: u64,
    ) {
        self.status.datagrams += 1;
        let Some(from) = from else {
            self.status.dropped += 1;
            return;
        };
        if truncated {
            self.status.dropped += 1;
            return;
        }
        let Some(source) = port.route(from.ip()) else {
            self.status.dropped += 1;
            return;
        };
        match crate::wire::sniff(bytes) {
            Some(p) if !SourceRouter::accepts(port.protocol, p) => {
                self.status.dropped += 1;
                return;
            }
            _ => {}
        }
        if self.exporter_source.len() < self.max_exporters || self.exporter_source.contains_key(&from.ip()) {
            self.exporter_source.insert(from.ip(), source);
        }
        let sampling = self.router.sources[source].sampling;
        let profiles = &self.set.compiled;
        self.path.datagram(bytes, from, received_ms, source, sampling, profiles, &mut self.status);
    }

    fn refresh_profiles(&mut self) {
        if self.registry.generation() != self.set.generation {
            let next = self.registry.current();
            let old = self.path.agg.reshape(next.shape.clone());
            let old_shape = self.set.shape.clone();
            self.set = next;
            if !old.is_empty() {
                let _ = self.tx.send(WorkerMessage::Tables { shape: old_shape, tables: old });
            }
        }
    }

    fn flush_store(&mut self) {
        if let Err(e) = self.path.writer.flush() {
            self.status.store_errors += 1;
            tracing::error!(worker = self.cfg.id, "cannot flush flows to the store: {e:#}");
        }
    }

    /// Sends the tables and the status to the merge. A full channel means the merge
    /// is behind: wait for it (bounded memory) unless stopping.
    fn hand_over(&mut self, last: bool) {
        let tables = self.path.agg.take();
        if !tables.is_empty() {
            let _ = self.tx.send(WorkerMessage::Tables { shape: self.set.shape.clone(), tables });
        }
        self.status.rcvbuf = self.rcvbuf;
        let exporters = self.exporter_statuses();
        let msg = WorkerMessage::Status {
            status: self.status.clone(),
            exporters,
            decode: self.path.decoder.stats().clone(),
        };
        if last {
            let _ = self.tx.send(msg);
        } else {
            let _ = self.tx.try_send(msg);
        }
    }

    fn exporter_statuses(&self) -> Vec<ExporterStatus> {
        self.path
            .decoder
            .exporters()
            .into_iter()
            .map(|info| {
                let source = self
                    .exporter_source
                    .get(&info.address)
                    .and_then(|&i| self.router.sources.get(i))
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                exporter_status(&info, source)
            })
            .collect()
    }
}

fn exporter_status(info: &ExporterInfo, source: String) -> ExporterStatus {
    ExporterStatus {
        address: Some(info.address),
        source,
        protocol: info.protocol.as_str().to_string(),
        datagrams: info.datagrams,
        flows: info.flows,
        packets: info.packets,
        bytes: info.bytes,
        flow_rate: 0.0,
        templates: info.templates as u64,
        sampling: info.sampling,
        missing_flows: info.missing_flows,
        missing_datagrams: info.missing_datagrams,
        decode_errors: info.decode_errors,
        last_seen_ms: info.last_seen_ms,
    }
}
