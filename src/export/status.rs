//! What the exporter has done and what it still owes: one snapshot, written by the export
//! thread, read by `wvnr serve`'s web API (`/api/export`, `/metrics`) and so by `wvnr status`.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The exporter's state, replaced as a whole after every step of the export thread.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExportStatus {
    /// The url in use (or tried last).
    pub url: String,
    /// What this exporter ships.
    pub rollups_enabled: bool,
    pub raw_flows_enabled: bool,
    /// The last round reached ClickHouse and shipped everything due.
    pub healthy: bool,
    pub server_version: Option<String>,
    pub last_success_unix_s: Option<u64>,
    pub last_error: Option<String>,
    pub last_error_unix_s: Option<u64>,
    /// Rounds that failed (each followed by a backoff wait).
    pub errors: u64,
    /// Rounds that failed since the last success (0 while healthy).
    pub consecutive_failures: u64,
    /// Current wait before the next scheduled try, seconds (0 while healthy). While it runs,
    /// the server is probed every second and the backlog ships as soon as it answers.
    pub retry_in_s: u64,
    /// Backlogs shipped the moment a probe found ClickHouse back, before the backoff ran out.
    pub catchups: u64,
    pub rollup_buckets_shipped: u64,
    pub rollup_rows_shipped: u64,
    pub raw_rows_shipped: u64,
    /// Bytes of the store's segments (compressed, as stored) consumed by shipped rows.
    pub raw_bytes_shipped: u64,
    /// Closed buckets (per profile) whose rollups are not shipped yet, and their rows.
    pub rollup_backlog_buckets: u64,
    pub rollup_backlog_rows: u64,
    pub oldest_rollup_backlog_age_s: Option<u64>,
    /// Raw flow segments with data not shipped yet, those bytes (compressed, as stored) and rows.
    pub raw_backlog_segments: u64,
    pub raw_backlog_bytes: u64,
    pub raw_backlog_rows: u64,
    pub oldest_raw_backlog_age_s: Option<u64>,
    /// Deleted by the store's retention (or skipped by `spool_max_bytes`) before shipping.
    pub dropped_rollup_buckets: u64,
    pub dropped_rollup_rows: u64,
    pub dropped_raw_segments: u64,
    pub dropped_raw_bytes: u64,
    pub dropped_raw_rows: u64,
    /// Closed segments ending in a torn or corrupt block (ignored, as the store's reader does).
    pub corrupt_tails_skipped: u64,
    /// Segments that got shorter than what was shipped (re-read from the start).
    pub raw_rewinds: u64,
    pub partitions_dropped: u64,
    /// When this snapshot was taken (Unix seconds).
    pub updated_unix_s: u64,
}

/// One table kind's share of the status, the shape `/api/export`, `/metrics` and
/// `wvnr status` report per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindStatus {
    /// "raw_flows" or "rollups".
    pub kind: &'static str,
    pub enabled: bool,
    pub shipped_rows: u64,
    pub pending_rows: u64,
    /// Bytes of the spool not shipped yet (raw flows: compressed segment bytes; rollups: none
    /// counted, their files are small and shared with the web).
    pub pending_bytes: Option<u64>,
    /// Segments (raw flows) or buckets (rollups) with rows not shipped yet.
    pub pending_units: u64,
    pub oldest_pending_age_s: Option<u64>,
    /// Deleted by retention or skipped by the spool cap before they could be shipped.
    pub dropped_rows: u64,
    pub dropped_bytes: Option<u64>,
}

impl ExportStatus {
    /// "ok", "retrying" (the last round failed) or "starting" (no round finished yet).
    pub fn state(&self) -> &'static str {
        if self.healthy {
            "ok"
        } else if self.errors > 0 {
            "retrying"
        } else {
            "starting"
        }
    }

    /// Raw flows first, then rollups.
    pub fn kinds(&self) -> [KindStatus; 2] {
        [
            KindStatus {
                kind: "raw_flows",
                enabled: self.raw_flows_enabled,
                shipped_rows: self.raw_rows_shipped,
                pending_rows: self.raw_backlog_rows,
                pending_bytes: Some(self.raw_backlog_bytes),
                pending_units: self.raw_backlog_segments,
                oldest_pending_age_s: self.oldest_raw_backlog_age_s,
                dropped_rows: self.dropped_raw_rows,
                dropped_bytes: Some(self.dropped_raw_bytes),
            },
            KindStatus {
                kind: "rollups",
                enabled: self.rollups_enabled,
                shipped_rows: self.rollup_rows_shipped,
                pending_rows: self.rollup_backlog_rows,
                pending_bytes: None,
                pending_units: self.rollup_backlog_buckets,
                oldest_pending_age_s: self.oldest_rollup_backlog_age_s,
                dropped_rows: self.dropped_rollup_rows,
                dropped_bytes: None,
            },
        ]
    }
}

/// A shared, cheap-to-clone reader of the exporter's latest status.
#[derive(Clone, Debug, Default)]
pub struct StatusHandle(Arc<Mutex<ExportStatus>>);

impl StatusHandle {
    pub fn new(initial: ExportStatus) -> StatusHandle {
        StatusHandle(Arc::new(Mutex::new(initial)))
    }

    pub fn snapshot(&self) -> ExportStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn publish(&self, st: &ExportStatus) {
        let mut st = st.clone();
        st.updated_unix_s = super::now_ms() / 1000;
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = st;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_state() {
        let mut st = ExportStatus {
            raw_flows_enabled: true,
            raw_rows_shipped: 10,
            raw_backlog_rows: 5,
            raw_backlog_bytes: 300,
            rollup_backlog_buckets: 2,
            rollup_backlog_rows: 40,
            dropped_raw_rows: 7,
            ..Default::default()
        };
        assert_eq!(st.state(), "starting");
        let [raw, rollups] = st.kinds();
        assert_eq!((raw.kind, raw.enabled, raw.shipped_rows, raw.pending_rows), ("raw_flows", true, 10, 5));
        assert_eq!((raw.pending_bytes, raw.dropped_rows), (Some(300), 7));
        assert_eq!((rollups.enabled, rollups.pending_units, rollups.pending_rows), (false, 2, 40));
        st.errors = 1;
        assert_eq!(st.state(), "retrying");
        st.healthy = true;
        assert_eq!(st.state(), "ok");
        let h = StatusHandle::new(st);
        assert_eq!(h.clone().snapshot().raw_rows_shipped, 10);
    }
}
