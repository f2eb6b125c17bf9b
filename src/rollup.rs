//! What one closed (or, live, the open) 5-minute bucket adds up to: the data
//! the collector's merge produces, the store keeps, the web graphs and the
//! ClickHouse export ships. Plain data with serde.

use serde::{Deserialize, Serialize};

use crate::flow::Counters;

/// Dimensions a top-N table is kept for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Exporter,
    InIf,
    OutIf,
    SrcAs,
    DstAs,
}

impl Dimension {
    pub const ALL: [Dimension; 10] = [
        Dimension::SrcAddr,
        Dimension::DstAddr,
        Dimension::SrcPort,
        Dimension::DstPort,
        Dimension::Protocol,
        Dimension::Exporter,
        Dimension::InIf,
        Dimension::OutIf,
        Dimension::SrcAs,
        Dimension::DstAs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::SrcAddr => "src_addr",
            Dimension::DstAddr => "dst_addr",
            Dimension::SrcPort => "src_port",
            Dimension::DstPort => "dst_port",
            Dimension::Protocol => "protocol",
            Dimension::Exporter => "exporter",
            Dimension::InIf => "in_if",
            Dimension::OutIf => "out_if",
            Dimension::SrcAs => "src_as",
            Dimension::DstAs => "dst_as",
        }
    }
}

/// One row of a top-N table: the key as text (an address, a port number...) and its totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopEntry {
    pub key: String,
    pub counters: Counters,
}

/// The top entries of one dimension in one bucket, ordered by bytes, largest first.
/// `other` holds everything not listed, so entries + other = bucket total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopTable {
    pub dimension: Dimension,
    pub entries: Vec<TopEntry>,
    pub other: Counters,
}

/// Totals of one channel of one profile in one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCounters {
    pub channel: String,
    pub counters: Counters,
}

/// Totals of one source (a named port / exporter group) in one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCounters {
    pub source: String,
    pub counters: Counters,
}

/// Everything one 5-minute bucket of one profile adds up to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRollup {
    /// Bucket start, UTC seconds, a multiple of 300.
    pub bucket: u64,
    pub profile: String,
    /// All flows of the bucket (every source), whatever channel they match.
    pub total: Counters,
    pub channels: Vec<ChannelCounters>,
    pub sources: Vec<SourceCounters>,
    pub top: Vec<TopTable>,
}
