//! Export to ClickHouse for users who outgrow one machine: each closed bucket's rollups
//! and, optionally, every raw flow go over HTTP (RowBinary) into ReplacingMergeTree
//! tables, idempotent per (collector, bucket, key) and per (collector, segment, row).
//!
//! The store is the spool: flows and rollups are durable there already, so the exporter
//! only keeps a watermark (what it shipped) and retries with backoff while ClickHouse
//! is down. It runs on its own thread, never on a worker. See docs/scale-out.md.

pub mod cli;
pub mod clickhouse;
pub mod config;
pub mod schema;
pub mod segments;
mod ship;
pub mod status;
pub mod watermark;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
pub use config::{ClickhouseConfig, ExportSection};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
pub use ship::{rollup_row_count, rollup_rows};
pub use status::{ExportStatus, KindStatus, StatusHandle};

use crate::store::Store;
use clickhouse::Sink;
use schema::ServerFeatures;
use ship::Shipper;

/// How often old partitions are dropped on servers without TTL.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// While ClickHouse is down: how often the server is probed (and the backlog measured).
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The exporter component: inert until `start`.
pub struct Exporter {
    cfg: ClickhouseConfig,
    store: Arc<Store>,
    collector_id: String,
    site: String,
}

impl Exporter {
    /// `collector_id` and `site` label every row (see `ClickhouseConfig::collector`).
    pub fn new(cfg: ClickhouseConfig, store: Arc<Store>, collector_id: &str, site: &str) -> Exporter {
        Exporter { cfg, store, collector_id: collector_id.to_string(), site: site.to_string() }
    }

    /// Validates the config and starts the export thread.
    pub fn start(self) -> Result<ExportHandle> {
        self.cfg.validate()?;
        let sink = Sink::new(&self.cfg)?;
        let status = StatusHandle::new(ExportStatus {
            url: sink.url().to_string(),
            rollups_enabled: self.cfg.rollups,
            raw_flows_enabled: self.cfg.raw_flows,
            ..Default::default()
        });
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
        let st = status.clone();
        let thread = std::thread::Builder::new()
            .name("wvnr-export".into())
            .spawn(move || run(self, sink, st, stop_rx))
            .context("cannot start the export thread")?;
        Ok(ExportHandle { status, stop_tx, thread: Some(thread) })
    }
}

/// A running exporter.
pub struct ExportHandle {
    status: StatusHandle,
    stop_tx: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl ExportHandle {
    pub fn status(&self) -> ExportStatus {
        self.status.snapshot()
    }

    /// A reader of the status that outlives borrows of the handle (for the web API).
    pub fn status_handle(&self) -> StatusHandle {
        self.status.clone()
    }

    /// Stops after a last shipping round (bounded by the request timeout); what is still
    /// unshipped goes at the next start, from the watermark.
    pub fn stop(mut self) -> ExportStatus {
        self.shutdown();
        self.status()
    }

    fn shutdown(&mut self) {
        let _ = self.stop_tx.try_send(());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("export thread panicked");
            }
        }
    }
}

impl Drop for ExportHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Round {
    features: Option<ServerFeatures>,
    last_retention: Option<Instant>,
}

/// The export thread. Every tick it measures the backlog from the store (reachable server
/// or not); it ships every `interval_s` while ClickHouse answers. After a failed round it
/// waits with a doubling backoff, probing the server every second meanwhile: the moment
/// a probe answers after failing, the whole backlog ships (the catch-up round).
fn run(ex: Exporter, mut sink: Sink, status: StatusHandle, stop: Receiver<()>) {
    // Linux nice is per thread; threads this one starts (the runtime's) inherit it.
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), ex.cfg.nice) {
        tracing::warn!("export: cannot set the thread's nice value to {}: {e}", ex.cfg.nice);
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("export: cannot start its runtime: {e}");
            return;
        }
    };
    let interval = Duration::from_secs(ex.cfg.interval_s.max(1));
    let max_backoff = Duration::from_secs(ex.cfg.retry_max_s.max(1));
    let mut shipper =
        Shipper::new(ex.cfg.clone(), ex.store.clone(), ex.collector_id, ex.site, now_ms() / 1000);
    let mut round = Round { features: None, last_retention: None };
    let mut st = status.snapshot();
    let mut backoff = Duration::ZERO;
    let mut next_try = Instant::now();
    // The last round failed.
    let mut down = false;
    // A probe failed since the last probe-triggered round: the next answer means "back".
    let mut probe_armed = false;
    let mut stopping = false;
    loop {
        let mut catch_up = false;
        if down && !stopping && Instant::now() < next_try {
            if rt.block_on(sink.ping()) {
                catch_up = probe_armed;
            } else {
                probe_armed = true;
            }
        }
        let attempt = stopping || catch_up || Instant::now() >= next_try;
        // After an outage, look back from the floor: everything sealed meanwhile is due.
        let planned = shipper.plan(now_ms(), attempt && down, &mut st);
        if attempt {
            let res =
                planned.and_then(|()| rt.block_on(one_round(&mut shipper, &mut sink, &mut round, &mut st)));
            match res {
                Ok(()) => {
                    if down {
                        st.catchups += u64::from(catch_up);
                        tracing::info!(url = %sink.url(), "export: ClickHouse reachable again, backlog shipped");
                    }
                    down = false;
                    backoff = Duration::ZERO;
                    next_try = Instant::now() + interval;
                    st.healthy = true;
                    st.consecutive_failures = 0;
                    st.last_success_unix_s = Some(now_ms() / 1000);
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), max_backoff);
                    // One line per failed round: at most one per backoff period.
                    tracing::warn!(retry_in_s = backoff.as_secs(), "export: {e:#}");
                    down = true;
                    if catch_up {
                        // It answered probes but the round failed: wait for the backoff.
                        probe_armed = false;
                    }
                    next_try = Instant::now() + backoff;
                    st.healthy = false;
                    st.errors += 1;
                    st.consecutive_failures += 1;
                    st.last_error = Some(format!("{e:#}"));
                    st.last_error_unix_s = Some(now_ms() / 1000);
                    // A restarted server may be a new one: look at its version (and schema) again,
                    // over new connections (a pooled one to the old process can hang a request).
                    round.features = None;
                    shipper.force_full_pass = true;
                    match Sink::new(&shipper.cfg) {
                        Ok(fresh) => sink = fresh,
                        Err(e) => tracing::warn!("export: {e:#}"),
                    }
                }
            }
        }
        st.url = sink.url().to_string();
        st.retry_in_s = if down {
            next_try.saturating_duration_since(Instant::now()).as_secs_f64().ceil() as u64
        } else {
            0
        };
        status.publish(&st);
        if stopping {
            return;
        }
        let wait = if down { PROBE_EVERY } else { next_try.saturating_duration_since(Instant::now()) };
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stop: one last round when healthy (ships the bucket that just closed), else done.
            _ if !down => stopping = true,
            _ => return,
        }
    }
}

async fn one_round(
    sh: &mut Shipper,
    sink: &mut Sink,
    round: &mut Round,
    st: &mut ExportStatus,
) -> Result<()> {
    let features = match round.features {
        Some(f) => f,
        None => {
            let f = if sh.cfg.create_schema {
                sink.init_schema(&sh.cfg).await?
            } else {
                sink.server_features().await?
            };
            st.server_version = Some(format!("{}.{}", f.major, f.minor));
            round.features = Some(f);
            f
        }
    };
    let now = now_ms();
    if sh.cfg.rollups {
        sh.ship_rollups(sink, now, st).await?;
    }
    if sh.cfg.raw_flows {
        sh.ship_raw(sink, now, st).await?;
    }
    if let (Some(days), false) = (sh.cfg.retention_days, features.ttl) {
        if round.last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
            st.partitions_dropped += sink.drop_old_partitions(&sh.cfg, days, now / 1000).await?;
            round.last_retention = Some(Instant::now());
        }
    }
    Ok(())
}

/// Creates the database and tables (IF NOT EXISTS; safe to run any number of times).
pub fn init_schema(cfg: &ClickhouseConfig) -> Result<ServerFeatures> {
    let mut sink = Sink::new(cfg)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(sink.init_schema(cfg))
}
