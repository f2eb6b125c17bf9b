//! The query engine: a time window and an nfdump filter over the store, scanned in
//! parallel, with nfdump's summary, `-s` top-N statistics, `-A` aggregation and
//! flow listings. Output writers (line, long, csv, json) are in `output`.

mod engine;
mod groups;
pub mod key;
pub mod output;
pub mod time;
mod v4_table;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::filter::Filter;
use crate::flow::{Counters, Flow};
use crate::store::Store;

pub use engine::execute_with_progress;
pub use key::parse_aggregate;

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
    /// Source and destination AS (each flow counts for both, like `ip`).
    As,
}

impl StatField {
    /// nfdump's name of the field (`-s NAME`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatField::SrcIp => "srcip",
            StatField::DstIp => "dstip",
            StatField::Ip => "ip",
            StatField::SrcPort => "srcport",
            StatField::DstPort => "dstport",
            StatField::Port => "port",
            StatField::Proto => "proto",
            StatField::SrcAs => "srcas",
            StatField::DstAs => "dstas",
            StatField::As => "as",
            StatField::If => "if",
            StatField::InIf => "inif",
            StatField::OutIf => "outif",
            StatField::Exporter => "exporter",
            StatField::Record => "record",
        }
    }

    /// The column title nfdump's line output uses.
    pub fn title(self) -> &'static str {
        match self {
            StatField::SrcIp => "Src IP Addr",
            StatField::DstIp => "Dst IP Addr",
            StatField::Ip => "IP Addr",
            StatField::SrcPort => "Src Port",
            StatField::DstPort => "Dst Port",
            StatField::Port => "Port",
            StatField::Proto => "Protocol",
            StatField::SrcAs => "Src AS",
            StatField::DstAs => "Dst AS",
            StatField::As => "AS",
            StatField::If => "Interface",
            StatField::InIf => "Input If",
            StatField::OutIf => "Output If",
            StatField::Exporter => "Exporter",
            StatField::Record => "Flow",
        }
    }

    const ALL: [StatField; 15] = [
        StatField::SrcIp,
        StatField::DstIp,
        StatField::Ip,
        StatField::SrcPort,
        StatField::DstPort,
        StatField::Port,
        StatField::Proto,
        StatField::SrcAs,
        StatField::DstAs,
        StatField::As,
        StatField::If,
        StatField::InIf,
        StatField::OutIf,
        StatField::Exporter,
        StatField::Record,
    ];
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

impl OrderBy {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderBy::Flows => "flows",
            OrderBy::Packets => "packets",
            OrderBy::Bytes => "bytes",
            OrderBy::Pps => "pps",
            OrderBy::Bps => "bps",
            OrderBy::Bpp => "bpp",
        }
    }

    pub fn parse(s: &str) -> Result<OrderBy> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "flows" => OrderBy::Flows,
            "packets" => OrderBy::Packets,
            "bytes" => OrderBy::Bytes,
            "pps" => OrderBy::Pps,
            "bps" => OrderBy::Bps,
            "bpp" => OrderBy::Bpp,
            _ => bail!("unknown order {s:?}: use flows, packets, bytes, pps, bps or bpp"),
        })
    }
}

/// One key of an `-A` aggregation (nfdump -A). Address keys carry prefix lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AggField {
    SrcIp { v4_mask: u8, v6_mask: u8 },
    DstIp { v4_mask: u8, v6_mask: u8 },
    SrcPort,
    DstPort,
    Proto,
    SrcAs,
    DstAs,
    InIf,
    OutIf,
    Exporter,
}

impl AggField {
    /// Column name (csv header) of this key.
    pub fn name(self) -> String {
        let ip = |side: &str, v4: u8, v6: u8| match (v4, v6) {
            (32, 128) => format!("{side}ip"),
            (v4, 128) => format!("{side}ip4/{v4}"),
            (32, v6) => format!("{side}ip6/{v6}"),
            (v4, v6) => format!("{side}ip4/{v4}+6/{v6}"),
        };
        match self {
            AggField::SrcIp { v4_mask, v6_mask } => ip("src", v4_mask, v6_mask),
            AggField::DstIp { v4_mask, v6_mask } => ip("dst", v4_mask, v6_mask),
            AggField::SrcPort => "srcport".into(),
            AggField::DstPort => "dstport".into(),
            AggField::Proto => "proto".into(),
            AggField::SrcAs => "srcas".into(),
            AggField::DstAs => "dstas".into(),
            AggField::InIf => "inif".into(),
            AggField::OutIf => "outif".into(),
            AggField::Exporter => "exporter".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Mode {
    /// Totals only.
    Summary,
    /// `-s field/order -n limit`.
    Stat { field: StatField, order: OrderBy, limit: usize },
    /// Several `-s` statistics from one scan (nfdump's repeated `-s`), each into `tables`.
    Stats { stats: Vec<(StatField, OrderBy)>, limit: usize },
    /// Plain flow listing, newest last, at most `limit` (the newest `limit` flows of the window).
    List { limit: usize },
    /// `-A keys` (nfdump's aggregation): flows grouped by the keys, top `limit` by `order`.
    Aggregate { keys: Vec<AggField>, order: OrderBy, limit: usize },
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
    /// The group's value as text (an address, a port, "TCP 10.0.0.1:1000 -> ..." for records;
    /// the parts joined by spaces for aggregations).
    pub key: String,
    pub counters: Counters,
    /// Earliest `first_ms` and latest `last_ms` of the group's flows (nfdump's ts / te).
    pub first_ms: u64,
    pub last_ms: u64,
    /// For aggregations: one value per key field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

/// One statistic of a `Mode::Stats` query.
#[derive(Clone, Debug, Serialize)]
pub struct StatTable {
    pub field: StatField,
    pub order: OrderBy,
    /// Distinct groups before the top-N cut.
    pub groups: u64,
    pub rows: Vec<StatRow>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct QueryOutput {
    pub total: Counters,
    pub rows: Vec<StatRow>,
    /// `Mode::Stats`: one table per statistic, in the order asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<StatTable>,
    #[serde(skip)]
    pub flows: Vec<Flow>,
    /// Earliest first_ms / latest last_ms of the matching flows (0 when none).
    pub first_ms: u64,
    pub last_ms: u64,
    /// Flows read from the store in the window (before the filter).
    pub flows_scanned: u64,
    /// Torn blocks met (crash leftovers or a block being written right now).
    pub torn_blocks: u64,
    /// Distinct groups before the top-N cut (Stat / Aggregate; Stats: summed over its tables).
    pub groups: u64,
}

/// Parses `-s FIELD[/ORDER]` (order defaults to flows, as in nfdump).
pub fn parse_stat(s: &str) -> Result<(StatField, OrderBy)> {
    let (name, order) = match s.split_once('/') {
        Some((n, o)) => (n, OrderBy::parse(o)?),
        None => (s, OrderBy::Flows),
    };
    let lower = name.trim().to_ascii_lowercase();
    let lower = match lower.as_str() {
        "srcaddr" => "srcip",
        "dstaddr" => "dstip",
        "addr" => "ip",
        "router" => "exporter",
        other => other,
    };
    match StatField::ALL.iter().find(|f| f.as_str() == lower) {
        Some(f) => Ok((*f, order)),
        None => bail!(
            "unknown statistic {name:?}: use srcip, dstip, ip, srcport, dstport, port, proto, srcas, dstas, \
             as, if, inif, outif, exporter or record, optionally /flows|packets|bytes|pps|bps|bpp"
        ),
    }
}

/// Packets per second, bits per second and bytes per packet as nfdump computes them
/// (rates over the group's duration; 0 when it lasted no time).
pub fn rates(c: &Counters, duration_ms: u64) -> (u64, u64, u64) {
    let secs = duration_ms as f64 / 1000.0;
    let (pps, bps) = if duration_ms == 0 {
        (0, 0)
    } else {
        ((c.packets as f64 / secs) as u64, (c.bytes as f64 * 8.0 / secs) as u64)
    };
    let bpp = c.bytes.checked_div(c.packets).unwrap_or(0);
    (pps, bps, bpp)
}

pub fn execute(store: &Store, q: &Query) -> Result<QueryOutput> {
    execute_with_progress(store, q, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing() {
        assert_eq!(parse_stat("dstport/bytes").unwrap(), (StatField::DstPort, OrderBy::Bytes));
        assert_eq!(parse_stat("ip").unwrap(), (StatField::Ip, OrderBy::Flows));
        assert_eq!(parse_stat("SrcIP/PPS").unwrap(), (StatField::SrcIp, OrderBy::Pps));
        assert!(parse_stat("dstport/size").is_err());
        assert!(parse_stat("color").is_err());
        let c = Counters { flows: 1, packets: 14, bytes: 5000 };
        assert_eq!(rates(&c, 4000), (3, 10000, 357));
        assert_eq!(rates(&c, 0), (0, 0, 357));
    }
}
