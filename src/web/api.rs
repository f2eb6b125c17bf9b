//! The JSON (and CSV) API every page reads: overview series, drill-down
//! top-N tables, flow listings, exporters and status.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::flow::Counters;
use crate::live::{ExporterStatus, WorkerStatus};
use crate::query::{execute, Mode, Query, QueryOutput};
use crate::store::StoreUsage;

use super::channels::{channel_metas, profile_names};
use super::error::{ApiError, ApiResult};
use super::flows::{Csv, FlowRow};
use super::overview::{self, OverviewInput};
use super::params::{now_ms, now_s, Params, Unit};
use super::WebState;

/// Largest top-N table and flow listing one request may ask for.
pub(super) const MAX_TOP: usize = 1000;
const MAX_FLOWS: usize = 10_000;
/// An exporter not heard from for this long is flagged stale.
const STALE_MS: u64 = 5 * 60 * 1000;

pub async fn overview(State(state): State<WebState>, params: Params) -> ApiResult<Response> {
    let profile = params.profile()?.to_string();
    let unit = params.unit()?;
    let (from, to) = params.window(now_s(), 86_400)?;
    let csv = params.csv()?;
    let channels = channel_metas(&state, &profile)
        .ok_or_else(|| ApiError::NotFound(format!("no profile {profile:?}")))?;
    let snapshot = state.live.snapshot();
    let (_, start, stop) = overview::aligned(from, to);
    let store = state.store.clone();
    let p = profile.clone();
    let rollups = tokio::task::spawn_blocking(move || store.rollups_shared(&p, start, stop))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("rollup read failed: {e}")))?;
    let open =
        snapshot.open_buckets.iter().find(|r| r.profile == profile).map(|r| (r, snapshot.updated_ms / 1000));
    let out = overview::build(OverviewInput {
        profile: &profile,
        channels,
        rollups: &rollups,
        open,
        from_s: from,
        to_s: to,
        now_s: now_s(),
        unit,
    });
    if !csv {
        return Ok(Json(out).into_response());
    }
    let mut doc = Csv::default();
    let mut header = vec!["time".to_string(), "seconds".to_string()];
    header.extend(out.channels.iter().map(|c| c.meta.name.clone()));
    header.push("total".into());
    doc.row(header);
    for (i, t) in out.points.iter().enumerate() {
        let mut row = vec![rfc3339(*t), out.seconds[i].to_string()];
        row.extend(out.channels.iter().map(|c| c.values[i].to_string()));
        row.push(out.total.values[i].to_string());
        doc.row(row);
    }
    let unit = match unit {
        Unit::Bits => "bps",
        Unit::Packets => "pps",
        Unit::Flows => "fps",
    };
    Ok(doc.into_response(&format!("{profile}-{from}-{to}-{unit}.csv")))
}

#[derive(Serialize)]
pub struct FlowList {
    pub from: u64,
    pub to: u64,
    pub filter: String,
    /// Totals of every flow the filter matched, listed or not.
    pub total: Counters,
    pub flows: Vec<FlowRow>,
}

pub async fn flows(State(state): State<WebState>, params: Params) -> ApiResult<Response> {
    let (from, to) = params.window(now_s(), 300)?;
    let limit = params.limit("limit", 100, MAX_FLOWS)?;
    let filter = params.filter()?;
    let csv = params.csv()?;
    let filter_text = filter.source().to_string();
    let out = run_query(
        &state,
        Query { from_ms: from * 1000, to_ms: to * 1000, filter, mode: Mode::List { limit } },
    )
    .await?;
    let rows: Vec<FlowRow> = out.flows.iter().take(limit).map(FlowRow::from_flow).collect();
    if csv {
        let mut doc = Csv::default();
        doc.row(FlowRow::CSV_HEADER);
        rows.iter().for_each(|r| doc.row(r.csv_fields()));
        return Ok(doc.into_response(&format!("flows-{from}-{to}.csv")));
    }
    Ok(Json(FlowList { from, to, filter: filter_text, total: out.total, flows: rows }).into_response())
}

pub(super) async fn run_query(state: &WebState, q: Query) -> ApiResult<QueryOutput> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || execute(&store, &q))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("query task failed: {e}")))?
        .map_err(ApiError::Internal)
}

#[derive(Serialize)]
pub struct ExporterView {
    #[serde(flatten)]
    pub status: ExporterStatus,
    /// The exporter never announced a sampling rate: its counts may be sampled and uncorrected.
    pub sampling_unknown: bool,
    /// Not heard from for five minutes.
    pub stale: bool,
}

#[derive(Serialize)]
pub struct Retention {
    pub max_age_secs: Option<u64>,
    pub max_bytes: Option<u64>,
}

#[derive(Serialize)]
pub struct Exporters {
    pub updated_ms: u64,
    pub exporters: Vec<ExporterView>,
    pub workers: Vec<WorkerStatus>,
    pub kernel_drops: u64,
    pub storage: StoreUsage,
    pub retention: Retention,
}

pub async fn exporters(State(state): State<WebState>) -> ApiResult<Json<Exporters>> {
    let snapshot = state.live.snapshot();
    let usage = usage(&state).await?;
    let mut exporters: Vec<ExporterView> = snapshot
        .exporters
        .into_iter()
        .map(|e| ExporterView {
            sampling_unknown: e.sampling.is_none(),
            stale: snapshot.updated_ms.saturating_sub(e.last_seen_ms) > STALE_MS,
            status: e,
        })
        .collect();
    exporters.sort_by(|a, b| b.status.flow_rate.total_cmp(&a.status.flow_rate));
    Ok(Json(Exporters {
        updated_ms: snapshot.updated_ms,
        exporters,
        kernel_drops: snapshot.workers.iter().map(|w| w.kernel_drops).sum(),
        workers: snapshot.workers,
        storage: usage,
        retention: retention(&state),
    }))
}

#[derive(Serialize)]
pub struct Status {
    pub version: &'static str,
    pub now_ms: u64,
    pub started_ms: u64,
    /// When the collector last published its live status (0 = never).
    pub updated_ms: u64,
    pub profiles: Vec<String>,
    pub exporters: usize,
    pub workers: usize,
    pub kernel_drops: u64,
    pub editable: bool,
    pub storage: StoreUsage,
    pub retention: Retention,
}

pub async fn status(State(state): State<WebState>) -> ApiResult<Json<Status>> {
    let snapshot = state.live.snapshot();
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION"),
        now_ms: now_ms(),
        started_ms: snapshot.started_ms,
        updated_ms: snapshot.updated_ms,
        profiles: profile_names(&state),
        exporters: snapshot.exporters.len(),
        workers: snapshot.workers.len(),
        kernel_drops: snapshot.workers.iter().map(|w| w.kernel_drops).sum(),
        editable: state.admin_token.is_some(),
        storage: usage(&state).await?,
        retention: retention(&state),
    }))
}

pub async fn usage(state: &WebState) -> ApiResult<StoreUsage> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.usage())
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("usage task failed: {e}")))
}

fn retention(state: &WebState) -> Retention {
    let cfg = state.store.config();
    Retention { max_age_secs: cfg.max_age_secs, max_bytes: cfg.max_bytes }
}

fn rfc3339(t: u64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0).map(|d| d.to_rfc3339()).unwrap_or_else(|| t.to_string())
}

/// One route of the API, as `GET /api` lists it.
#[derive(Serialize)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub params: &'static str,
    pub description: &'static str,
}

const WINDOW: &str = "range=1h|6h|24h|7d|30d or from=&to= (Unix seconds or RFC 3339)";

pub const ROUTES: &[RouteDoc] = &[
    RouteDoc { method: "GET", path: "/api", params: "", description: "this list" },
    RouteDoc {
        method: "GET",
        path: "/api/status",
        params: "",
        description: "collector status, storage, retention",
    },
    RouteDoc { method: "GET", path: "/api/profiles", params: "", description: "profiles and their channels" },
    RouteDoc {
        method: "GET",
        path: "/api/overview",
        params: "profile= unit=bits|packets|flows window format=json|csv",
        description: "per-channel rate series of a profile (at most 600 points)",
    },
    RouteDoc {
        method: "GET",
        path: "/api/drilldown",
        params: "dimension= | dimensions=a,b,...|all; order= limit= filter= window format=json|csv",
        description: "top-N table of one dimension (CSV too), or of several from one scan",
    },
    RouteDoc {
        method: "GET",
        path: "/api/flows",
        params: "filter= limit= window format=json|csv",
        description: "flow listing over a window",
    },
    RouteDoc {
        method: "GET",
        path: "/api/exporters",
        params: "",
        description: "exporters, workers (kernel drops), storage",
    },
    RouteDoc {
        method: "GET",
        path: "/api/export",
        params: "",
        description: "ClickHouse export: state, backlog, shipped and dropped rows per table kind",
    },
    RouteDoc {
        method: "POST",
        path: "/api/profiles/{profile}/channels",
        params: "JSON {name, colour, filter?, sign?, order?}; X-Wvnr-Token",
        description: "add a channel",
    },
    RouteDoc {
        method: "PATCH",
        path: "/api/profiles/{profile}/channels/{channel}",
        params: "JSON {colour?, filter?, sign?, order?}; X-Wvnr-Token",
        description: "change a channel",
    },
    RouteDoc {
        method: "DELETE",
        path: "/api/profiles/{profile}/channels/{channel}",
        params: "X-Wvnr-Token",
        description: "delete a channel",
    },
    RouteDoc { method: "GET", path: "/metrics", params: "", description: "Prometheus text format" },
    RouteDoc { method: "GET", path: "/healthz", params: "", description: "liveness" },
];

#[derive(Serialize)]
pub struct Index {
    pub window: &'static str,
    pub routes: &'static [RouteDoc],
}

pub async fn index() -> Json<Index> {
    Json(Index { window: WINDOW, routes: ROUTES })
}
