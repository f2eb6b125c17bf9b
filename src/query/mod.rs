//! SCAFFOLD: the query engine. Only the public shape is fixed here.

use serde::Serialize;

use crate::filter::Filter;
use crate::flow::{Counters, Flow};
use crate::store::Store;

/// What `-s FIELD/ORDER` groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatField {
    SrcIp,
    DstIp,
    Ip,
    SrcPort,
    DstPort,
    Port,
    Proto,
    SrcAs,
    DstAs,
    If,
    InIf,
    OutIf,
    Exporter,
    Record,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderBy {
    Flows,
    Packets,
    Bytes,
    Pps,
    Bps,
    Bpp,
}

#[derive(Clone, Debug)]
pub enum Mode {
    /// Totals only.
    Summary,
    /// `-s field/order -n limit`.
    Stat { field: StatField, order: OrderBy, limit: usize },
    /// Plain flow listing, newest last, at most `limit`.
    List { limit: usize },
}

#[derive(Clone, Debug)]
pub struct Query {
    /// Window on `received_ms`, UTC ms, [from, to).
    pub from_ms: u64,
    pub to_ms: u64,
    pub filter: Filter,
    pub mode: Mode,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatRow {
    pub key: String,
    pub counters: Counters,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct QueryOutput {
    pub total: Counters,
    pub rows: Vec<StatRow>,
    #[serde(skip)]
    pub flows: Vec<Flow>,
}

pub fn execute(_store: &Store, _q: &Query) -> anyhow::Result<QueryOutput> {
    Ok(QueryOutput::default())
}
