//! `[export.clickhouse]`: where and what the exporter ships.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// The `[export]` section of the collector's config.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSection {
    pub clickhouse: Option<ClickhouseConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickhouseConfig {
    /// HTTP endpoint, e.g. "http://127.0.0.1:8123" (shorthand for a one-element `urls`).
    pub url: Option<String>,
    /// HTTP endpoints tried in order; the first that answers is used until it fails.
    pub urls: Vec<String>,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Use https (needs a build with the `clickhouse-tls` feature and https:// urls).
    pub tls: bool,
    /// Ship each closed bucket's rollups (totals, channels, sources, top-N tables).
    pub rollups: bool,
    /// Ship every raw flow (the flows table).
    pub raw_flows: bool,
    /// Rows per INSERT.
    pub batch_size: usize,
    /// Name of this collector in every row; default: the host name.
    pub collector_id: Option<String>,
    /// Free-form site name in every row.
    pub site: String,
    /// Create the database and tables (IF NOT EXISTS) when the exporter starts.
    pub create_schema: bool,
    /// A `remote_servers` cluster: local tables on every node plus `Distributed` tables over them.
    pub cluster: Option<String>,
    /// Drop data older than this many days (TTL where the server has it, else by partition).
    pub retention_days: Option<u32>,
    /// Most raw-flow bytes of unshipped segments kept pending; older ones are skipped and
    /// counted as dropped. None = no cap (the store's own retention is the cap).
    pub spool_max_bytes: Option<u64>,
    /// Seconds after a bucket's end before its rollup counts as closed (the merge's delay).
    pub close_grace_s: u64,
    /// Seconds between shipping rounds.
    pub interval_s: u64,
    /// Longest wait between retries while ClickHouse is down (the backoff doubles up to it).
    pub retry_max_s: u64,
    /// Nice value of the export thread (0..=19): under CPU contention the workers come first,
    /// and export lags (the store spools) instead of making them drop datagrams.
    pub nice: i32,
}

impl Default for ClickhouseConfig {
    fn default() -> Self {
        ClickhouseConfig {
            url: None,
            urls: Vec::new(),
            database: "wvnr".into(),
            user: "default".into(),
            password: String::new(),
            tls: false,
            rollups: true,
            raw_flows: false,
            batch_size: 65_536,
            collector_id: None,
            site: String::new(),
            create_schema: true,
            cluster: None,
            retention_days: None,
            spool_max_bytes: None,
            close_grace_s: 30,
            interval_s: 1,
            retry_max_s: 30,
            nice: 10,
        }
    }
}

impl ClickhouseConfig {
    /// `url` followed by `urls`; "http://127.0.0.1:8123" when neither is set.
    pub fn endpoints(&self) -> Vec<String> {
        let mut v: Vec<String> = self.url.iter().cloned().collect();
        v.extend(self.urls.iter().filter(|u| Some(*u) != self.url.as_ref()).cloned());
        if v.is_empty() {
            v.push("http://127.0.0.1:8123".into());
        }
        v
    }

    pub fn collector(&self) -> String {
        self.collector_id.clone().filter(|s| !s.is_empty()).unwrap_or_else(hostname)
    }

    pub fn validate(&self) -> Result<()> {
        for u in self.endpoints() {
            let https = u.starts_with("https://");
            if !https && !u.starts_with("http://") {
                bail!("[export.clickhouse] url {u:?} must start with http:// or https://");
            }
            if https && !self.tls {
                bail!("[export.clickhouse] url {u:?} is https: set tls = true");
            }
            if self.tls && !https {
                bail!("[export.clickhouse] tls = true needs https:// urls, got {u:?}");
            }
        }
        if self.tls && !cfg!(feature = "clickhouse-tls") {
            bail!("[export.clickhouse] tls = true: this wvnr was built without the `clickhouse-tls` feature");
        }
        if !valid_identifier(&self.database) {
            bail!("[export.clickhouse] database {:?}: use letters, digits and _", self.database);
        }
        if let Some(c) = &self.cluster {
            if !valid_identifier(c) {
                bail!("[export.clickhouse] cluster {c:?}: use letters, digits and _");
            }
        }
        if self.batch_size == 0 || self.batch_size > 10_000_000 {
            bail!("[export.clickhouse] batch_size must be in 1..=10000000");
        }
        if self.retention_days == Some(0) {
            bail!("[export.clickhouse] retention_days must be at least 1 (or left out)");
        }
        if !(0..=19).contains(&self.nice) {
            bail!("[export.clickhouse] nice must be in 0..=19");
        }
        if !self.rollups && !self.raw_flows {
            bail!("[export.clickhouse] nothing to export: set rollups or raw_flows = true");
        }
        Ok(())
    }
}

/// Names put into DDL unquoted: keep them to [A-Za-z0-9_], not starting with a digit.
pub fn valid_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "wvnr".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_endpoints() {
        let c: ClickhouseConfig = toml::from_str("url = \"http://a:1\"\nurls = [\"http://b:2\"]").unwrap();
        assert_eq!(c.endpoints(), vec!["http://a:1", "http://b:2"]);
        assert!(c.rollups && !c.raw_flows && c.create_schema);
        c.validate().unwrap();
        assert!(toml::from_str::<ClickhouseConfig>("bogus = 1").is_err());
    }

    #[test]
    fn rejects_bad_values() {
        let bad = |t: &str| toml::from_str::<ClickhouseConfig>(t).unwrap().validate().is_err();
        assert!(bad("url = \"ftp://x\""));
        assert!(bad("url = \"https://x\""));
        assert!(bad("database = \"a;drop\""));
        assert!(bad("cluster = \"1x\""));
        assert!(bad("batch_size = 0"));
        assert!(bad("rollups = false"));
        assert!(bad("nice = -5"));
        assert!(!bad("raw_flows = true\nretention_days = 7"));
    }
}
