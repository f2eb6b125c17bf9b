//! The ClickHouse exporter's state for the web: `/api/export` (JSON, read by `wvnr status`)
//! and the `wvnr_export_*` families of `/metrics`. Without `[export.clickhouse]` both say
//! only that export is off.

use std::fmt::Write;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::export::{ExportStatus, KindStatus};

use super::WebState;

#[derive(Serialize)]
pub struct ExportReport {
    pub enabled: bool,
    /// "ok", "retrying", "starting" or "off".
    pub state: &'static str,
    /// Everything the exporter counts (absent when export is off).
    pub status: Option<ExportStatus>,
    /// The same, per table kind: raw_flows, rollups.
    pub kinds: Vec<KindStatus>,
}

pub fn report(status: Option<ExportStatus>) -> ExportReport {
    match status {
        Some(st) => {
            ExportReport { enabled: true, state: st.state(), kinds: st.kinds().to_vec(), status: Some(st) }
        }
        None => ExportReport { enabled: false, state: "off", status: None, kinds: Vec::new() },
    }
}

pub async fn export(State(state): State<WebState>) -> Json<ExportReport> {
    Json(report(state.export.as_ref().map(|h| h.snapshot())))
}

/// The `wvnr_export_*` metric families (Prometheus text format).
pub fn metrics(status: Option<&ExportStatus>) -> String {
    let mut out = String::new();
    let head = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    head(&mut out, "wvnr_export_enabled", "gauge", "1 when [export.clickhouse] is configured.");
    let Some(st) = status else {
        out.push_str("wvnr_export_enabled 0\n");
        return out;
    };
    out.push_str("wvnr_export_enabled 1\n");
    let opt = |v: Option<u64>| v.map_or(f64::NAN, |v| v as f64);
    let scalars: [(&str, &str, &str, f64); 7] = [
        (
            "wvnr_export_up",
            "gauge",
            "1 when the last round reached ClickHouse and shipped everything due.",
            f64::from(u8::from(st.healthy)),
        ),
        ("wvnr_export_errors_total", "counter", "Shipping rounds that failed.", st.errors as f64),
        (
            "wvnr_export_consecutive_failures",
            "gauge",
            "Rounds failed since the last success (0 while up).",
            st.consecutive_failures as f64,
        ),
        (
            "wvnr_export_retry_in_seconds",
            "gauge",
            "Wait before the next scheduled retry (0 while up).",
            st.retry_in_s as f64,
        ),
        (
            "wvnr_export_catchups_total",
            "counter",
            "Backlogs shipped as soon as a probe found ClickHouse back.",
            st.catchups as f64,
        ),
        (
            "wvnr_export_last_success_seconds",
            "gauge",
            "When a round last succeeded (Unix seconds; NaN = never).",
            opt(st.last_success_unix_s),
        ),
        (
            "wvnr_export_last_error_seconds",
            "gauge",
            "When a round last failed (Unix seconds; NaN = never).",
            opt(st.last_error_unix_s),
        ),
    ];
    for (name, kind, help, v) in scalars {
        head(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }
    type KindField = fn(&KindStatus) -> Option<f64>;
    let per_kind: [(&str, &str, &str, KindField); 6] = [
        ("wvnr_export_shipped_rows_total", "counter", "Rows inserted into ClickHouse.", |k| {
            Some(k.shipped_rows as f64)
        }),
        ("wvnr_export_pending_rows", "gauge", "Rows stored but not shipped yet (the backlog).", |k| {
            Some(k.pending_rows as f64)
        }),
        (
            "wvnr_export_pending_bytes",
            "gauge",
            "Bytes of stored segments not shipped yet (raw flows).",
            |k| k.pending_bytes.map(|b| b as f64),
        ),
        (
            "wvnr_export_oldest_pending_age_seconds",
            "gauge",
            "Age of the oldest unshipped data (0 = none).",
            |k| Some(k.oldest_pending_age_s.unwrap_or(0) as f64),
        ),
        (
            "wvnr_export_dropped_rows_total",
            "counter",
            "Rows deleted by retention or skipped by spool_max_bytes before shipping.",
            |k| Some(k.dropped_rows as f64),
        ),
        (
            "wvnr_export_dropped_bytes_total",
            "counter",
            "Segment bytes deleted or skipped before shipping (raw flows).",
            |k| k.dropped_bytes.map(|b| b as f64),
        ),
    ];
    let kinds = st.kinds();
    for (name, kind, help, value) in per_kind {
        head(&mut out, name, kind, help);
        for k in kinds.iter().filter(|k| k.enabled) {
            if let Some(v) = value(k) {
                let _ = writeln!(out, "{name}{{kind=\"{}\"}} {v}", k.kind);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_per_kind_and_off() {
        assert_eq!(metrics(None).lines().last(), Some("wvnr_export_enabled 0"));
        let st = ExportStatus {
            raw_flows_enabled: true,
            rollups_enabled: true,
            healthy: false,
            errors: 3,
            raw_rows_shipped: 1000,
            raw_backlog_rows: 250,
            raw_backlog_bytes: 4096,
            rollup_rows_shipped: 77,
            dropped_raw_rows: 9,
            ..Default::default()
        };
        let text = metrics(Some(&st));
        for line in [
            "wvnr_export_up 0",
            "wvnr_export_errors_total 3",
            "wvnr_export_last_success_seconds NaN",
            "wvnr_export_shipped_rows_total{kind=\"raw_flows\"} 1000",
            "wvnr_export_shipped_rows_total{kind=\"rollups\"} 77",
            "wvnr_export_pending_rows{kind=\"raw_flows\"} 250",
            "wvnr_export_pending_bytes{kind=\"raw_flows\"} 4096",
            "wvnr_export_dropped_rows_total{kind=\"raw_flows\"} 9",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // Rollups have no byte count; every sample's family is typed.
        assert!(!text.contains("wvnr_export_pending_bytes{kind=\"rollups\"}"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
        }
        let r = report(Some(st));
        assert_eq!((r.enabled, r.state, r.kinds.len()), (true, "retrying", 2));
        assert_eq!(report(None).state, "off");
    }
}
