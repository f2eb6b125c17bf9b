//! The ClickHouse schema as SQL text, adapted to the server's version: 18.16 (Debian's)
//! has no TTL, no IPv6 type and only experimental LowCardinality, so addresses are
//! FixedString(16) (IPv4 as ::ffff:a.b.c.d, readable with IPv6NumToString) and old-style
//! retention drops whole day partitions.
//!
//! Every table is a ReplacingMergeTree whose sorting key identifies a row
//! (collector, profile, bucket, name... / collector, received, worker, seq): a bucket or
//! block sent twice replaces itself at merge time, and `FINAL` reads never double-count.

use super::config::ClickhouseConfig;

pub const ROLLUP_TOTALS: &str = "rollup_totals";
pub const ROLLUP_TOP: &str = "rollup_top";
pub const FLOWS: &str = "flows";
pub const TABLES: [&str; 3] = [ROLLUP_TOTALS, ROLLUP_TOP, FLOWS];

/// What the server can do, from `SELECT version()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerFeatures {
    pub major: u32,
    pub minor: u32,
    /// Table TTL (19.6+).
    pub ttl: bool,
    /// The IPv6 domain type (19.3+ ... stable in 20.x: we ask for 20.1).
    pub ipv6: bool,
    /// LowCardinality(String) without an experimental setting (19.3+... we ask for 20.1).
    pub low_cardinality: bool,
}

impl ServerFeatures {
    /// From a version string such as "18.16.1" or "24.3.2.23"; unknown text = the oldest feature set.
    pub fn from_version(v: &str) -> ServerFeatures {
        let mut it = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        let at_least = |a: u32, b: u32| (major, minor) >= (a, b);
        ServerFeatures {
            major,
            minor,
            ttl: at_least(19, 6),
            ipv6: at_least(20, 1),
            low_cardinality: at_least(20, 1),
        }
    }
}

/// Statements that create the database and tables, in order; all IF NOT EXISTS.
/// `local` = the tables holding data: with a cluster they are `<name>_local` and the plain
/// names become `Distributed` tables over them.
pub fn create_statements(cfg: &ClickhouseConfig, f: &ServerFeatures) -> Vec<String> {
    let db = &cfg.database;
    let lc = |t: &str| if f.low_cardinality { format!("LowCardinality({t})") } else { t.to_string() };
    let addr = if f.ipv6 { "IPv6" } else { "FixedString(16)" };
    let ttl = |col: &str| match (f.ttl, cfg.retention_days) {
        (true, Some(d)) => format!(" TTL {col} + INTERVAL {d} DAY"),
        _ => String::new(),
    };
    let suffix = if cfg.cluster.is_some() { "_local" } else { "" };
    let rollup_head = format!("collector {s}, site {s}, profile {s}, bucket DateTime,", s = lc("String"));
    let mut out = vec![format!("CREATE DATABASE IF NOT EXISTS {db}")];
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {db}.{ROLLUP_TOTALS}{suffix} ({rollup_head} kind {k}, name String, \
         flows UInt64, packets UInt64, bytes UInt64, version UInt64) \
         ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMMDD(bucket) \
         ORDER BY (collector, profile, bucket, kind, name){ttl}",
        k = lc("String"),
        ttl = ttl("bucket")
    ));
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {db}.{ROLLUP_TOP}{suffix} ({rollup_head} dimension {d}, rank UInt16, \
         key String, flows UInt64, packets UInt64, bytes UInt64, version UInt64) \
         ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMMDD(bucket) \
         ORDER BY (collector, profile, bucket, dimension, key){ttl}",
        d = lc("String"),
        ttl = ttl("bucket")
    ));
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {db}.{FLOWS}{suffix} (collector {s}, site {s}, received DateTime, \
         received_ms UInt64, worker UInt32, seq UInt64, first_ms UInt64, last_ms UInt64, \
         exporter {addr}, domain UInt32, source UInt8, src_addr {addr}, dst_addr {addr}, \
         next_hop {addr}, src_port UInt16, dst_port UInt16, protocol UInt8, tcp_flags UInt8, tos UInt8, \
         src_mask UInt8, dst_mask UInt8, in_if UInt32, out_if UInt32, src_as UInt32, dst_as UInt32, \
         src_vlan UInt16, dst_vlan UInt16, src_mac UInt64, dst_mac UInt64, packets UInt64, bytes UInt64, \
         sampling UInt32) \
         ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMMDD(received) \
         ORDER BY (collector, received, worker, seq){ttl}",
        s = lc("String"),
        ttl = ttl("received")
    ));
    out
}

/// With a cluster: the `Distributed` tables over the local ones. The sharding key is a
/// function of each table's identity columns, so a re-sent row lands on the shard that
/// already holds it and ReplacingMergeTree can replace it.
pub fn distributed_statements(cfg: &ClickhouseConfig) -> Vec<String> {
    let Some(cluster) = &cfg.cluster else { return Vec::new() };
    let db = &cfg.database;
    let shard = |t: &str| match t {
        FLOWS => "cityHash64(collector, worker, seq)",
        _ => "cityHash64(collector, profile, bucket)",
    };
    TABLES
        .iter()
        .map(|t| {
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{t} AS {db}.{t}_local \
                 ENGINE = Distributed({cluster}, {db}, {t}_local, {})",
                shard(t)
            )
        })
        .collect()
}

/// The tables that hold data on one server (the `_local` ones with a cluster).
pub fn data_tables(cfg: &ClickhouseConfig) -> Vec<String> {
    let suffix = if cfg.cluster.is_some() { "_local" } else { "" };
    TABLES.iter().map(|t| format!("{t}{suffix}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_features() {
        let old = ServerFeatures::from_version("18.16.1");
        assert!(!old.ttl && !old.ipv6 && !old.low_cardinality);
        let new = ServerFeatures::from_version("24.3.2.23");
        assert!(new.ttl && new.ipv6 && new.low_cardinality);
        assert_eq!(ServerFeatures::from_version("garbage").major, 0);
    }

    #[test]
    fn statements_follow_features_and_cluster() {
        let mut cfg = ClickhouseConfig { retention_days: Some(7), ..Default::default() };
        let old = create_statements(&cfg, &ServerFeatures::from_version("18.16.1"));
        assert!(old.iter().all(|s| !s.contains("TTL") && !s.contains("IPv6 ")));
        assert!(old[3].contains("src_addr FixedString(16)") && old[3].contains("wvnr.flows ("));
        let new = create_statements(&cfg, &ServerFeatures::from_version("23.8"));
        assert!(new[3].contains("TTL received + INTERVAL 7 DAY") && new[3].contains("src_addr IPv6"));
        assert!(distributed_statements(&cfg).is_empty());
        cfg.cluster = Some("two".into());
        assert!(create_statements(&cfg, &ServerFeatures::from_version("18.16"))[1]
            .contains("rollup_totals_local"));
        let d = distributed_statements(&cfg);
        assert_eq!(d.len(), 3);
        assert!(d[2].contains("Distributed(two, wvnr, flows_local, cityHash64(collector, worker, seq))"));
        assert_eq!(data_tables(&cfg)[0], "rollup_totals_local");
    }
}
