//! Starts and stops the collector: binds every worker's sockets (so a port in
//! use fails before anything runs), starts the workers and the merge, and
//! restores the open bucket and missing rollups from the stored raw flows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::channels::ProfileRegistry;
use crate::config::Config;
use crate::decode::DecoderConfig;
use crate::ingest::udp::{bind_collector_socket, claim_port};
use crate::live::LiveStatus;
use crate::merge::{now_ms, rebuild_missing_rollups, seed_open_bucket, MergeConfig, Merger, WorkerMessage};
use crate::profile::Profiles;
use crate::sources::SourceRouter;
use crate::store::Store;
use crate::worker::{Worker, WorkerConfig, WorkerSocket};

/// How far back a start looks for buckets with flows but no rollup.
const REBUILD_WINDOW_S: u64 = 2 * 86400;

pub struct Collector {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Result<()>>>,
    merger: Option<JoinHandle<Merger>>,
    pub live: Arc<LiveStatus>,
    pub store: Arc<Store>,
    pub registry: Arc<ProfileRegistry>,
    /// The UDP ports actually bound (port 0 in the config becomes a real one).
    pub ports: Vec<u16>,
    /// Workers with this id or above read AF_XDP queues.
    first_xdp_worker: u32,
    /// The attached XDP program: detached once the workers have stopped.
    #[cfg(feature = "xdp")]
    xdp_program: Option<crate::ingest::xdp::XdpProgram>,
}

/// What a finished collector did.
#[derive(Debug, Default)]
pub struct CollectorSummary {
    pub rollups_written: u64,
    pub flows: u64,
    pub datagrams: u64,
    /// Of `datagrams`, those read through AF_XDP (the rest came through the UDP sockets).
    pub xdp_datagrams: u64,
    pub kernel_drops: u64,
}

impl Collector {
    pub fn start(cfg: &Config, store: Arc<Store>, profiles: &Profiles) -> Result<Collector> {
        cfg.validate()?;
        let sources = cfg.effective_sources();
        let mut router = SourceRouter::new(&sources);
        let registry = Arc::new(ProfileRegistry::new(profiles, sources.clone())?);
        let live = Arc::new(LiveStatus::default());
        let n_workers = cfg.worker_count();

        // Bind every (worker, port) socket first: a port in use stops the start with one clear line.
        let mut per_worker: Vec<Vec<WorkerSocket>> = (0..n_workers).map(|_| Vec::new()).collect();
        let mut bound_ports = Vec::new();
        for (pi, port) in router.ports.iter_mut().enumerate() {
            let mut addr = SocketAddr::new(cfg.collector.listen, port.port);
            addr.set_port(claim_port(addr)?);
            for sockets in per_worker.iter_mut() {
                let s = bind_collector_socket(addr, cfg.collector.rcvbuf)?;
                // Port 0: the first bind picks a port, the other workers join it.
                addr = s.socket.local_addr().context("local address")?;
                sockets.push(WorkerSocket { socket: s, port_index: pi });
            }
            port.port = addr.port();
            bound_ports.push(addr.port());
        }
        let granted = per_worker.first().and_then(|s| s.first()).map(|s| s.socket.rcvbuf).unwrap_or(0);
        if granted < cfg.collector.rcvbuf {
            tracing::warn!(
                "socket receive buffer capped by the kernel at {granted} bytes (asked {}); \
                 raise it with: sysctl -w net.core.rmem_max={}",
                cfg.collector.rcvbuf,
                cfg.collector.rcvbuf
            );
        }
        let router = Arc::new(router);

        let mut merger = Merger::new(MergeConfig::default(), store.clone(), live.clone(), registry.clone());
        let set = registry.current();
        let now = now_ms();
        let seed =
            seed_open_bucket(&store, &set, &router, now).context("cannot read the open bucket's flows")?;
        let seeded: u64 = seed.iter().map(|t| t.total.flows).sum();
        if seeded > 0 {
            tracing::info!(
                "restart mid-bucket: {seeded} flows already stored in the open bucket counted again"
            );
        }
        merger.add_tables(&set.shape, seed);
        {
            // Buckets with flows but no rollup (crash, backfill, ingest): rebuilt in the background.
            let (store, router, set) = (store.clone(), router.clone(), set.clone());
            let open = crate::flow::bucket_start(now);
            std::thread::Builder::new().name("wvnr-rebuild".into()).spawn(move || {
                match rebuild_missing_rollups(
                    &store,
                    &set,
                    &router,
                    open.saturating_sub(REBUILD_WINDOW_S),
                    open,
                ) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("rebuilt the rollups of {n} buckets from stored flows"),
                    Err(e) => tracing::error!("cannot rebuild rollups: {e:#}"),
                }
            })?;
        }

        #[cfg(feature = "xdp")]
        let (xdp_program, xdp_queues) = match cfg.collector.capture.as_str() {
            "xdp" => {
                let capture = start_xdp(cfg, &bound_ports)?;
                (Some(capture.program), capture.queues)
            }
            _ => (None, Vec::new()),
        };
        #[cfg(feature = "xdp")]
        let n_xdp = xdp_queues.len();
        #[cfg(not(feature = "xdp"))]
        let n_xdp = 0;
        let (tx, rx) = crossbeam_channel::bounded::<WorkerMessage>((n_workers + n_xdp) * 16);
        let stop = Arc::new(AtomicBool::new(false));
        let decoder_cfg = DecoderConfig {
            max_exporters: cfg.decoder.max_exporters,
            max_templates_per_exporter: cfg.decoder.max_templates,
            ..DecoderConfig::default()
        };
        // Socket workers and AF_XDP workers alike: store id `id`, pinned to core `core` when
        // pinning is on, reading `sockets` (none for an AF_XDP worker).
        let new_worker = |id: u32, core: usize, sockets: Vec<WorkerSocket>| -> Result<Worker> {
            let wcfg = WorkerConfig {
                id,
                batch: cfg.collector.batch,
                flush_every: Duration::from_millis(cfg.store.flush_ms.max(10)),
                handover_every: Duration::from_secs(2),
                pin_core: cfg.collector.pin_workers.then_some(core),
            };
            let writer = store.writer(id).context("cannot open the store for writing")?;
            Ok(Worker::new(
                wcfg,
                sockets,
                decoder_cfg.clone(),
                cfg.decoder.max_exporters,
                writer,
                registry.clone(),
                router.clone(),
                tx.clone(),
            ))
        };
        let mut workers = Vec::with_capacity(n_workers + n_xdp);
        let mut spawn = |name: String, worker: Worker| -> Result<()> {
            let stop = stop.clone();
            workers.push(std::thread::Builder::new().name(name).spawn(move || worker.run(&stop))?);
            Ok(())
        };
        for (id, sockets) in per_worker.into_iter().enumerate() {
            spawn(format!("wvnr-worker-{id}"), new_worker(id as u32, id, sockets)?)?;
        }
        #[cfg(feature = "xdp")]
        for (i, queue) in xdp_queues.into_iter().enumerate() {
            let worker = new_worker((n_workers + i) as u32, i, Vec::new())?.with_xdp(queue);
            spawn(format!("wvnr-xdp-{i}"), worker)?;
        }
        drop(tx);
        let merger = std::thread::Builder::new().name("wvnr-merge".into()).spawn(move || merger.run(rx))?;
        tracing::info!(
            "collector: {n_workers} workers on UDP {:?} ({}), data in {}",
            bound_ports,
            cfg.collector.listen,
            store.dir().display()
        );
        Ok(Collector {
            stop,
            workers,
            merger: Some(merger),
            live,
            store,
            registry,
            ports: bound_ports,
            first_xdp_worker: n_workers as u32,
            #[cfg(feature = "xdp")]
            xdp_program,
        })
    }

    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Stops the workers (they read what is queued, flush and hand over), then the merge.
    pub fn stop(mut self) -> Result<CollectorSummary> {
        self.stop.store(true, Ordering::Relaxed);
        let mut first_error = None;
        for w in self.workers.drain(..) {
            match w.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(_) => first_error = first_error.or(Some(anyhow!("a worker thread panicked"))),
            }
        }
        #[cfg(feature = "xdp")]
        drop(self.xdp_program.take());
        let merger =
            self.merger.take().expect("stop runs once").join().map_err(|_| anyhow!("the merge panicked"))?;
        let snapshot = self.live.snapshot();
        let summary = CollectorSummary {
            rollups_written: merger.rollups_written,
            flows: snapshot.workers.iter().map(|w| w.flows).sum(),
            datagrams: snapshot.workers.iter().map(|w| w.datagrams).sum(),
            xdp_datagrams: snapshot
                .workers
                .iter()
                .filter(|w| w.id >= self.first_xdp_worker)
                .map(|w| w.datagrams)
                .sum(),
            kernel_drops: snapshot.workers.iter().map(|w| w.kernel_drops).sum(),
        };
        match first_error {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }
}

/// Attaches the XDP program to [collector].interface and binds one AF_XDP socket
/// per receive queue, saying in the log how it runs.
#[cfg(feature = "xdp")]
fn start_xdp(cfg: &Config, ports: &[u16]) -> Result<crate::ingest::xdp::XdpCapture> {
    use crate::ingest::xdp::{AttachMode, XdpCapture};
    let interface = cfg.collector.interface.as_deref().unwrap_or_default();
    let mode = AttachMode::parse(&cfg.collector.xdp_mode)?;
    let capture = XdpCapture::start(interface, mode, ports, cfg.collector.listen, cfg.collector.batch)?;
    let zero_copy = capture.queues.iter().filter(|q| q.zero_copy).count();
    let sockets = match zero_copy {
        0 => "copy mode (the driver offers no zero-copy)".to_string(),
        n if n == capture.queues.len() => "zero-copy".to_string(),
        n => format!("zero-copy on {n}, copy mode on the rest"),
    };
    tracing::info!(
        "AF_XDP on {interface}: XDP program attached in {} mode, {} receive queue(s), one socket each in {sockets}; \
         fragments and other traffic go on to the UDP sockets",
        capture.program.mode,
        capture.queues.len(),
    );
    Ok(capture)
}
