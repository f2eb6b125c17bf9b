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
pub mod watermark;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde::Serialize;

pub use config::{ClickhouseConfig, ExportSection};
pub use ship::rollup_rows;

use crate::store::Store;
use clickhouse::Sink;
use schema::ServerFeatures;
use ship::Shipper;

/// How often old partitions are dropped on servers without TTL.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// What the exporter has done and what it still owes (for `wvnr status` and /metrics).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExportStatus {
    /// The url in use (or tried last).
    pub url: String,
    /// The last round reached ClickHouse and shipped everything due.
    pub healthy: bool,
    pub server_version: Option<String>,
    pub last_success_unix_s: Option<u64>,
    pub last_error: Option<String>,
    /// Rounds that failed (each followed by a backoff wait).
    pub errors: u64,
    /// Current wait before the next try, seconds (0 while healthy).
    pub retry_in_s: u64,
    pub rollup_buckets_shipped: u64,
    pub rollup_rows_shipped: u64,
    pub raw_rows_shipped: u64,
    /// Closed buckets (per profile) whose rollups are not shipped yet.
    pub rollup_backlog_buckets: u64,
    pub oldest_rollup_backlog_age_s: Option<u64>,
    /// Raw flow segments with data not shipped yet, and those bytes (compressed, as stored).
    pub raw_backlog_segments: u64,
    pub raw_backlog_bytes: u64,
    pub oldest_raw_backlog_age_s: Option<u64>,
    /// Deleted by the store's retention (or skipped by `spool_max_bytes`) before shipping.
    pub dropped_rollup_buckets: u64,
    pub dropped_raw_segments: u64,
    pub dropped_raw_bytes: u64,
    /// Closed segments ending in a torn or corrupt block (ignored, as the store's reader does).
    pub corrupt_tails_skipped: u64,
    /// Segments that got shorter than what was shipped (re-read from the start).
    pub raw_rewinds: u64,
    pub partitions_dropped: u64,
}

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
        let status = Arc::new(Mutex::new(ExportStatus { url: sink.url().to_string(), ..Default::default() }));
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
    status: Arc<Mutex<ExportStatus>>,
    stop_tx: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl ExportHandle {
    pub fn status(&self) -> ExportStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Round {
    features: Option<ServerFeatures>,
    last_retention: Option<Instant>,
}

fn run(ex: Exporter, mut sink: Sink, status: Arc<Mutex<ExportStatus>>, stop: Receiver<()>) {
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
    let mut backoff = Duration::ZERO;
    let mut stopping = false;
    loop {
        let mut st = status.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let res = rt.block_on(one_round(&mut shipper, &mut sink, &mut round, &mut st));
        st.url = sink.url().to_string();
        match res {
            Ok(()) => {
                if !st.healthy && st.errors > 0 {
                    tracing::info!(url = %st.url, "export: ClickHouse reachable again, backlog shipped");
                }
                backoff = Duration::ZERO;
                st.healthy = true;
                st.last_error = None;
                st.last_success_unix_s = Some(now_ms() / 1000);
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), max_backoff);
                // One line per failed round: at most one per backoff period.
                tracing::warn!(retry_in_s = backoff.as_secs(), "export: {e:#}");
                st.healthy = false;
                st.errors += 1;
                st.last_error = Some(format!("{e:#}"));
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
        st.retry_in_s = backoff.as_secs();
        *status.lock().unwrap_or_else(|e| e.into_inner()) = st;
        if stopping {
            return;
        }
        let wait = if backoff.is_zero() { interval } else { backoff };
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stop: one last round when healthy (ships the bucket that just closed), else done.
            _ if backoff.is_zero() => stopping = true,
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
