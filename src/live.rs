//! What the running collector publishes every few seconds for the web page,
//! `wvnr status` and `/metrics`: the open bucket's partial counters, the
//! exporters and the workers. Written by the collector, read by everyone else.

use std::net::IpAddr;
use std::sync::RwLock;

use serde::Serialize;

use crate::rollup::BucketRollup;

#[derive(Clone, Debug, Default, Serialize)]
pub struct ExporterStatus {
    pub address: Option<IpAddr>,
    /// Name of the configured source it arrives on.
    pub source: String,
    /// "netflow-v5", "netflow-v9", "ipfix", "sflow".
    pub protocol: String,
    pub datagrams: u64,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Flows per second over the last publish interval.
    pub flow_rate: f64,
    pub templates: u64,
    /// Sampling interval announced by the exporter; None = never announced.
    pub sampling: Option<u32>,
    pub missing_flows: u64,
    pub missing_datagrams: u64,
    pub decode_errors: u64,
    /// UTC ms.
    pub last_seen_ms: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkerStatus {
    pub id: u32,
    pub datagrams: u64,
    pub flows: u64,
    /// Datagrams the kernel dropped because this worker's socket buffer was full (SO_RXQ_OVFL).
    pub kernel_drops: u64,
    /// Receive buffer size the kernel granted, bytes.
    pub rcvbuf: u64,
    /// Datagrams dropped by the collector: unlisted exporter on a shared port,
    /// wrong protocol for the port, or truncated (larger than a receive slot).
    pub dropped: u64,
    /// Flows that could not be written to the store.
    pub store_errors: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveSnapshot {
    /// UTC ms of this snapshot.
    pub updated_ms: u64,
    pub started_ms: u64,
    /// Partial rollups of the open bucket, one per profile.
    pub open_buckets: Vec<BucketRollup>,
    pub exporters: Vec<ExporterStatus>,
    pub workers: Vec<WorkerStatus>,
}

/// Shared between the collector (writer) and readers; a whole snapshot is swapped at once.
#[derive(Default)]
pub struct LiveStatus {
    snapshot: RwLock<LiveSnapshot>,
}

impl LiveStatus {
    pub fn publish(&self, snapshot: LiveSnapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }

    pub fn snapshot(&self) -> LiveSnapshot {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
