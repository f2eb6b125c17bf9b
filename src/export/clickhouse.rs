//! The connection to ClickHouse: one HTTP client per configured url (tried in order,
//! sticking to the one that last worked), RowBinary inserts (`with_validation(false)`:
//! the only mode the crate shares with 18.16), DDL and retention.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::config::ClickhouseConfig;
use super::schema::{self, ServerFeatures};

/// Longest any one request may take before it counts as failed (a hung server is down).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a reachability probe waits for one url.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One row of `rollup_totals`: a bucket's total (kind "total"), a channel or a source.
#[derive(Row, Serialize, Clone, Debug)]
pub struct TotalRow {
    pub collector: String,
    pub site: String,
    pub profile: String,
    pub bucket: u32,
    pub kind: &'static str,
    pub name: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub version: u64,
}

/// One row of `rollup_top`: an entry of a top-N table (rank 0 = "everything else").
#[derive(Row, Serialize, Clone, Debug)]
pub struct TopRow {
    pub collector: String,
    pub site: String,
    pub profile: String,
    pub bucket: u32,
    pub dimension: &'static str,
    pub rank: u16,
    pub key: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub version: u64,
}

/// One row of `flows`. `(worker, seq)` = the flow's place in the store (segment of `worker`
/// in the bucket of `received`, block offset << 16 | row): the same flow always gets the same id.
#[derive(Row, Serialize, Clone, Copy, Debug)]
pub struct FlowRow<'a> {
    pub collector: &'a str,
    pub site: &'a str,
    pub received: u32,
    pub received_ms: u64,
    pub worker: u32,
    pub seq: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    pub exporter: [u8; 16],
    pub domain: u32,
    pub source: u8,
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub next_hop: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub tcp_flags: u8,
    pub tos: u8,
    pub src_mask: u8,
    pub dst_mask: u8,
    pub in_if: u32,
    pub out_if: u32,
    pub src_as: u32,
    pub dst_as: u32,
    pub src_vlan: u16,
    pub dst_vlan: u16,
    pub src_mac: u64,
    pub dst_mac: u64,
    pub packets: u64,
    pub bytes: u64,
    pub sampling: u32,
}

#[derive(Row, Deserialize)]
struct VersionRow {
    version: String,
}

#[derive(Row, Deserialize)]
struct PartRow {
    table: String,
    partition: String,
}

/// Clients for every configured url.
pub struct Sink {
    clients: Vec<(String, Client)>,
    /// Index of the url that answered last.
    current: usize,
    database: String,
    cluster: bool,
}

impl Sink {
    pub fn new(cfg: &ClickhouseConfig) -> Result<Sink> {
        cfg.validate()?;
        let clients = cfg
            .endpoints()
            .into_iter()
            .map(|url| {
                let mut c = Client::default()
                    .with_url(url.clone())
                    .with_user(cfg.user.clone())
                    .with_validation(false);
                if !cfg.password.is_empty() {
                    c = c.with_password(cfg.password.clone());
                }
                if cfg.cluster.is_some() {
                    // An acknowledged insert is on its shard, not in a local queue.
                    c = c.with_setting("insert_distributed_sync", "1");
                }
                (url, c)
            })
            .collect();
        Ok(Sink { clients, current: 0, database: cfg.database.clone(), cluster: cfg.cluster.is_some() })
    }

    /// The url in use (for logs and status).
    pub fn url(&self) -> &str {
        &self.clients[self.current].0
    }

    /// Runs `op` on the current client, then on the others in order; the first success
    /// becomes current. The error names every url's failure.
    async fn failover<T, F, Fut>(&mut self, what: &str, op: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let n = self.clients.len();
        let mut errors = Vec::new();
        for i in 0..n {
            let idx = (self.current + i) % n;
            let (url, client) = &self.clients[idx];
            match tokio::time::timeout(REQUEST_TIMEOUT, op(client.clone())).await {
                Ok(Ok(v)) => {
                    self.current = idx;
                    return Ok(v);
                }
                Ok(Err(e)) => errors.push(format!("{url}: {e:#}")),
                Err(_) => errors.push(format!("{url}: no answer in {}s", REQUEST_TIMEOUT.as_secs())),
            }
        }
        Err(anyhow!("ClickHouse {what} failed: {}", errors.join("; ")))
    }

    /// Whether some url answers a trivial query now (a cheap probe while the server is down).
    pub async fn ping(&mut self) -> bool {
        for (_, c) in &self.clients {
            let q = c.query("SELECT 1").fetch_one::<u8>();
            if matches!(tokio::time::timeout(PROBE_TIMEOUT, q).await, Ok(Ok(1))) {
                return true;
            }
        }
        false
    }

    pub async fn server_features(&mut self) -> Result<ServerFeatures> {
        let v = self
            .failover("SELECT version()", |c| async move {
                Ok(c.query("SELECT version() AS version").fetch_one::<VersionRow>().await?.version)
            })
            .await?;
        Ok(ServerFeatures::from_version(&v))
    }

    /// Inserts `rows` into `table` of the configured database (the Distributed table with a cluster).
    pub async fn insert<T>(&mut self, table: &str, rows: &[T::Value<'_>]) -> Result<()>
    where
        T: clickhouse::RowWrite,
        for<'b> T::Value<'b>: Sync,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let full = format!("{}.{table}", self.database);
        self.failover("insert", |c| {
            let full = full.clone();
            async move {
                let mut ins = c.insert_unescaped::<T>(&full).await?;
                for r in rows {
                    ins.write(r).await?;
                }
                ins.end().await?;
                Ok(())
            }
        })
        .await
        .with_context(|| format!("cannot insert {} rows into {full}", rows.len()))
    }

    /// Creates database and tables (IF NOT EXISTS). Without a cluster on the first url that
    /// answers; with one, on every configured url (each node reached directly, which needs
    /// no ZooKeeper), local tables first, then the Distributed ones.
    pub async fn init_schema(&mut self, cfg: &ClickhouseConfig) -> Result<ServerFeatures> {
        let features = self.server_features().await?;
        let mut stmts = schema::create_statements(cfg, &features);
        stmts.extend(schema::distributed_statements(cfg));
        if !self.cluster {
            for s in &stmts {
                self.failover("CREATE", |c| async move { Ok(c.query(s).execute().await?) }).await?;
            }
            return Ok(features);
        }
        for (url, c) in &self.clients {
            for s in &stmts {
                tokio::time::timeout(REQUEST_TIMEOUT, c.query(s).execute())
                    .await
                    .map_err(|_| anyhow!("no answer in {}s", REQUEST_TIMEOUT.as_secs()))
                    .and_then(|r| r.map_err(anyhow::Error::from))
                    .with_context(|| format!("cannot create the schema on {url}"))?;
            }
        }
        Ok(features)
    }

    /// Drops the day partitions older than `days` (servers without TTL); on every url with a
    /// cluster (each node holds its own partitions). Returns the partitions dropped.
    pub async fn drop_old_partitions(
        &mut self,
        cfg: &ClickhouseConfig,
        days: u32,
        now_s: u64,
    ) -> Result<u64> {
        let cutoff = day_number(now_s.saturating_sub(u64::from(days) * 86_400));
        let tables = schema::data_tables(cfg);
        let list = tables.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT DISTINCT table, partition FROM system.parts WHERE active AND database = '{}' \
             AND table IN ({list})",
            self.database
        );
        let targets: Vec<usize> =
            if self.cluster { (0..self.clients.len()).collect() } else { vec![self.current] };
        let mut dropped = 0;
        for idx in targets {
            let (url, c) = &self.clients[idx];
            let parts = c
                .query(&sql)
                .fetch_all::<PartRow>()
                .await
                .with_context(|| format!("{url}: list partitions"))?;
            for p in parts {
                // Partitions are toYYYYMMDD numbers; anything else is not ours to drop.
                let Ok(day) = p.partition.trim_matches('\'').parse::<u32>() else { continue };
                if day >= cutoff {
                    continue;
                }
                let alter = format!("ALTER TABLE {}.{} DROP PARTITION {day}", self.database, p.table);
                c.query(&alter).execute().await.with_context(|| format!("{url}: {alter}"))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }
}

/// YYYYMMDD of a UTC time in seconds (the partition id of that day).
pub fn day_number(unix_s: u64) -> u32 {
    let (y, m, d) = crate::store::layout::ymd(unix_s);
    (y.max(0) as u32) * 10_000 + m * 100 + d
}

/// An address as 16 bytes: IPv6 as is, IPv4 as ::ffff:a.b.c.d (what ClickHouse's IPv6 functions expect).
#[inline]
pub fn addr16(a: std::net::IpAddr) -> [u8; 16] {
    match a {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    }
}

#[inline]
pub fn mac64(m: [u8; 6]) -> u64 {
    m.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(day_number(1_795_946_851), 20261129);
        let a = addr16("10.1.2.3".parse().unwrap());
        assert_eq!(&a[10..], &[0xff, 0xff, 10, 1, 2, 3]);
        assert_eq!(mac64([0, 0, 0, 0, 1, 2]), 0x0102);
    }
}
