//! Drill-down: top-N tables of a time slot. One dimension per request (also as CSV), or
//! several from a single scan of the window (`dimensions=`), which is what the page asks for.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::flow::Counters;
use crate::query::{Mode, OrderBy, Query, StatRow};
use crate::rollup::Dimension;

use super::api::{run_query, MAX_TOP};
use super::error::{ApiError, ApiResult};
use super::flows::{protocol_name, Csv};
use super::params::{now_s, stat_field, Params};
use super::WebState;

#[derive(Serialize)]
pub struct TopRow {
    pub key: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Averages over the window.
    pub pps: f64,
    pub bps: f64,
    /// Bytes per packet.
    pub bpp: f64,
}

#[derive(Serialize)]
pub struct Drilldown {
    pub from: u64,
    pub to: u64,
    pub dimension: &'static str,
    pub order: OrderBy,
    pub filter: String,
    pub total: Counters,
    pub rows: Vec<TopRow>,
}

#[derive(Serialize)]
pub struct DrillTable {
    pub dimension: &'static str,
    /// Distinct values in the window (before the top-N cut).
    pub groups: u64,
    pub rows: Vec<TopRow>,
}

/// The answer to `dimensions=a,b,...`: one table per dimension, in the order asked.
#[derive(Serialize)]
pub struct MultiDrilldown {
    pub from: u64,
    pub to: u64,
    pub order: OrderBy,
    pub filter: String,
    pub total: Counters,
    pub tables: Vec<DrillTable>,
}

fn top_rows(dimension: Dimension, rows: Vec<StatRow>, secs: f64) -> Vec<TopRow> {
    rows.into_iter()
        .map(|r| TopRow {
            // Protocol numbers as nfdump names them (TCP, UDP, ICMP...).
            key: match (dimension, r.key.parse::<u8>()) {
                (Dimension::Protocol, Ok(p)) => protocol_name(p),
                _ => r.key,
            },
            flows: r.counters.flows,
            packets: r.counters.packets,
            bytes: r.counters.bytes,
            pps: r.counters.packets as f64 / secs,
            bps: r.counters.bytes as f64 * 8.0 / secs,
            bpp: if r.counters.packets == 0 {
                0.0
            } else {
                r.counters.bytes as f64 / r.counters.packets as f64
            },
        })
        .collect()
}

pub async fn drilldown(State(state): State<WebState>, params: Params) -> ApiResult<Response> {
    let (from, to) = params.window(now_s(), 300)?;
    let order = params.order()?;
    let limit = params.limit("limit", 10, MAX_TOP)?;
    let filter = params.filter()?;
    let csv = params.csv()?;
    let filter_text = filter.source().to_string();
    let secs = (to - from) as f64;
    let (from_ms, to_ms) = (from * 1000, to * 1000);
    if let Some(dimensions) = params.dimensions()? {
        if csv {
            return Err(ApiError::bad("format=csv takes one dimension: use dimension=NAME"));
        }
        let stats = dimensions.iter().map(|d| (stat_field(*d), order)).collect();
        let out =
            run_query(&state, Query { from_ms, to_ms, filter, mode: Mode::Stats { stats, limit } }).await?;
        let tables = dimensions
            .iter()
            .zip(out.tables)
            .map(|(d, t)| DrillTable {
                dimension: d.as_str(),
                groups: t.groups,
                rows: top_rows(*d, t.rows, secs),
            })
            .collect();
        let body = MultiDrilldown { from, to, order, filter: filter_text, total: out.total, tables };
        return Ok(Json(body).into_response());
    }
    let dimension = params.dimension()?;
    let mode = Mode::Stat { field: stat_field(dimension), order, limit };
    let out = run_query(&state, Query { from_ms, to_ms, filter, mode }).await?;
    let rows = top_rows(dimension, out.rows, secs);
    if csv {
        let mut doc = Csv::default();
        doc.row([dimension.as_str(), "flows", "packets", "bytes", "pps", "bps", "bpp"]);
        for r in &rows {
            doc.row([
                r.key.clone(),
                r.flows.to_string(),
                r.packets.to_string(),
                r.bytes.to_string(),
                format!("{:.3}", r.pps),
                format!("{:.3}", r.bps),
                format!("{:.1}", r.bpp),
            ]);
        }
        return Ok(doc.into_response(&format!("top-{}-{from}-{to}.csv", dimension.as_str())));
    }
    let body = Drilldown {
        from,
        to,
        dimension: dimension.as_str(),
        order,
        filter: filter_text,
        total: out.total,
        rows,
    };
    Ok(Json(body).into_response())
}
