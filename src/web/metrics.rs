//! `/metrics` in the Prometheus text exposition format (version 0.0.4):
//! exporter, worker and decoder counters from the live status, store usage.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::live::LiveSnapshot;
use crate::store::StoreUsage;

use super::api::usage;
use super::error::ApiResult;
use super::WebState;

pub async fn metrics(State(state): State<WebState>) -> ApiResult<impl IntoResponse> {
    let snapshot = state.live.snapshot();
    let usage = usage(&state).await?;
    let mut body = render(&snapshot, &usage);
    body.push_str(&super::export_api::metrics(state.export.as_ref().map(|h| h.snapshot()).as_ref()));
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body))
}

/// Escapes a label value: backslash, double quote and newline.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
    }
}

pub fn render(s: &LiveSnapshot, usage: &StoreUsage) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    type ExporterField = fn(&crate::live::ExporterStatus) -> f64;
    let exporter_metrics: [(&str, &str, &str, ExporterField); 10] = [
        ("wvnr_exporter_datagrams_total", "counter", "Export datagrams received.", |e| e.datagrams as f64),
        ("wvnr_exporter_flows_total", "counter", "Flow records decoded.", |e| e.flows as f64),
        ("wvnr_exporter_packets_total", "counter", "Packets the flows describe (sampling-corrected).", |e| {
            e.packets as f64
        }),
        ("wvnr_exporter_bytes_total", "counter", "Bytes the flows describe (sampling-corrected).", |e| {
            e.bytes as f64
        }),
        ("wvnr_exporter_flow_rate", "gauge", "Flows per second over the last publish interval.", |e| {
            e.flow_rate
        }),
        ("wvnr_exporter_templates", "gauge", "Templates known for the exporter.", |e| e.templates as f64),
        (
            "wvnr_exporter_sampling_interval",
            "gauge",
            "Announced sampling interval (0 = never announced).",
            |e| e.sampling.unwrap_or(0) as f64,
        ),
        ("wvnr_exporter_missing_flows_total", "counter", "Flows the sequence numbers say were lost.", |e| {
            e.missing_flows as f64
        }),
        ("wvnr_exporter_decode_errors_total", "counter", "Datagrams or sets that failed to decode.", |e| {
            e.decode_errors as f64
        }),
        (
            "wvnr_exporter_last_seen_seconds",
            "gauge",
            "When the exporter was last heard from (Unix seconds).",
            |e| e.last_seen_ms as f64 / 1000.0,
        ),
    ];
    for (name, kind, help, value) in exporter_metrics {
        f.head(name, kind, help);
        for e in &s.exporters {
            let addr = e.address.map(|a| a.to_string()).unwrap_or_default();
            let labels = format!(
                "exporter=\"{}\",source=\"{}\",protocol=\"{}\"",
                label(&addr),
                label(&e.source),
                label(&e.protocol)
            );
            f.sample(name, &labels, value(e));
        }
    }
    f.head(
        "wvnr_exporter_missing_datagrams_total",
        "counter",
        "Datagrams the sequence numbers say were lost.",
    );
    for e in &s.exporters {
        let addr = e.address.map(|a| a.to_string()).unwrap_or_default();
        let labels = format!("exporter=\"{}\",source=\"{}\"", label(&addr), label(&e.source));
        f.sample("wvnr_exporter_missing_datagrams_total", &labels, e.missing_datagrams as f64);
    }
    type WorkerField = fn(&crate::live::WorkerStatus) -> f64;
    let worker_metrics: [(&str, &str, &str, WorkerField); 6] = [
        ("wvnr_worker_datagrams_total", "counter", "Datagrams a worker received.", |w| w.datagrams as f64),
        ("wvnr_worker_flows_total", "counter", "Flows a worker decoded.", |w| w.flows as f64),
        ("wvnr_worker_kernel_drops_total", "counter", "Datagrams the kernel dropped (SO_RXQ_OVFL).", |w| {
            w.kernel_drops as f64
        }),
        (
            "wvnr_worker_dropped_total",
            "counter",
            "Datagrams the collector dropped (unlisted exporter, wrong protocol, truncated).",
            |w| w.dropped as f64,
        ),
        ("wvnr_worker_store_errors_total", "counter", "Flows that could not be written to the store.", |w| {
            w.store_errors as f64
        }),
        ("wvnr_worker_rcvbuf_bytes", "gauge", "Receive buffer size the kernel granted.", |w| w.rcvbuf as f64),
    ];
    for (name, kind, help, value) in worker_metrics {
        f.head(name, kind, help);
        for w in &s.workers {
            f.sample(name, &format!("worker=\"{}\"", w.id), value(w));
        }
    }
    let store: [(&str, &str, f64); 3] = [
        ("wvnr_store_bytes", "Bytes the store uses on disk.", usage.bytes as f64),
        ("wvnr_store_segments", "Flow segment files in the store.", usage.segments as f64),
        ("wvnr_store_buckets", "5-minute buckets in the store.", usage.buckets as f64),
    ];
    for (name, help, v) in store {
        f.head(name, "gauge", help);
        f.sample(name, "", v);
    }
    if let Some(oldest) = usage.oldest_bucket {
        f.head(
            "wvnr_store_oldest_bucket_seconds",
            "gauge",
            "Start of the oldest stored bucket (Unix seconds).",
        );
        f.sample("wvnr_store_oldest_bucket_seconds", "", oldest as f64);
    }
    if let Some(newest) = usage.newest_bucket {
        f.head(
            "wvnr_store_newest_bucket_seconds",
            "gauge",
            "Start of the newest stored bucket (Unix seconds).",
        );
        f.sample("wvnr_store_newest_bucket_seconds", "", newest as f64);
    }
    f.head(
        "wvnr_live_updated_seconds",
        "gauge",
        "When the collector last published its status (Unix seconds).",
    );
    f.sample("wvnr_live_updated_seconds", "", s.updated_ms as f64 / 1000.0);
    f.head("wvnr_start_time_seconds", "gauge", "When the collector started (Unix seconds).");
    f.sample("wvnr_start_time_seconds", "", s.started_ms as f64 / 1000.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{ExporterStatus, WorkerStatus};

    #[test]
    fn renders_labels_escaped_and_every_family_typed() {
        let s = LiveSnapshot {
            exporters: vec![ExporterStatus {
                address: Some("127.0.0.9".parse().unwrap()),
                source: "a\"b\\c\nd".into(),
                protocol: "ipfix".into(),
                flows: 42,
                ..Default::default()
            }],
            workers: vec![WorkerStatus { id: 3, kernel_drops: 7, ..Default::default() }],
            ..Default::default()
        };
        let text = render(&s, &StoreUsage { bytes: 1234, ..Default::default() });
        assert!(text.contains(
            "wvnr_exporter_flows_total{exporter=\"127.0.0.9\",source=\"a\\\"b\\\\c\\nd\",protocol=\"ipfix\"} 42\n"
        ));
        assert!(text.contains("wvnr_worker_kernel_drops_total{worker=\"3\"} 7\n"));
        assert!(text.contains("wvnr_store_bytes 1234\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
        }
    }
}
