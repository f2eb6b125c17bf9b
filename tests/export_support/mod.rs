//! Shared by the export_* tests: a clickhouse-server process per test (started by
//! scripts/clickhouse-test-server on free loopback ports, stopped by a Drop guard),
//! deterministic flows and rollups written to a store, and ClickHouse totals.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use wvnr::export::{ClickhouseConfig, ExportHandle, ExportStatus};
use wvnr::flow::{bucket_start, Counters, Flow, BUCKET_SECONDS};
use wvnr::rollup::{BucketRollup, ChannelCounters, Dimension, SourceCounters, TopEntry, TopTable};
use wvnr::store::Store;

use super::common;

/// One clickhouse-server; stopped when dropped (also on panic).
pub struct Server {
    pub dir: PathBuf,
    pub http: u16,
    pub tcp: u16,
    pub cluster: Vec<String>,
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/clickhouse-test-server")
}

impl Server {
    pub fn start(dir: &Path, cluster: &[String]) -> Server {
        let s = Server {
            dir: dir.to_path_buf(),
            http: common::free_tcp_port(),
            tcp: common::free_tcp_port(),
            cluster: cluster.to_vec(),
        };
        s.launch();
        s
    }

    pub fn launch(&self) {
        common::run_ok(
            Command::new(script())
                .arg("start")
                .arg(&self.dir)
                .arg(self.http.to_string())
                .arg(self.tcp.to_string())
                .args(&self.cluster),
        );
    }

    pub fn kill(&self) {
        common::run_ok(Command::new(script()).arg("kill").arg(&self.dir));
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// Runs `sql`, returns the answer's text (TabSeparated), trimmed.
    pub fn query(&self, sql: &str) -> String {
        let out = common::run_ok(Command::new("curl").args([
            "-sS",
            "--fail-with-body",
            "--data-binary",
            sql,
            &self.url(),
        ]));
        out.trim().to_string()
    }

    pub fn numbers(&self, sql: &str) -> Vec<u64> {
        self.query(sql)
            .split_whitespace()
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{sql}: {v:?}")))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
    }
}

pub fn tools() -> bool {
    common::require_tool("clickhouse-server") && common::require_tool("curl")
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Flows in `buckets` closed buckets (from an hour ago), deterministic, split over two workers.
pub fn flows(buckets: u64, per_bucket: u64, seed: u64) -> Vec<Flow> {
    let first = bucket_start((now_s() - 3600) * 1000);
    let mut out = Vec::new();
    for b in 0..buckets {
        for i in 0..per_bucket {
            let k = i.wrapping_mul(2654435761).wrapping_add(seed);
            out.push(Flow {
                exporter: IpAddr::from([127, 0, 0, 1 + (k % 3) as u8]),
                received_ms: (first + b * BUCKET_SECONDS) * 1000 + (i * 997) % 299_000,
                src_addr: IpAddr::from([10, 0, (k >> 8) as u8, k as u8]),
                dst_addr: if k % 5 == 0 {
                    "2001:db8::1".parse().unwrap()
                } else {
                    IpAddr::from([192, 168, 1, (k % 7) as u8])
                },
                src_port: 1024 + (k % 1000) as u16,
                dst_port: [80, 443, 53, 22][(k % 4) as usize],
                protocol: 6,
                packets: 1 + k % 10,
                bytes: 40 + k % 1500,
                ..Flow::EMPTY
            });
        }
    }
    out
}

pub fn write_flows(store: &Store, flows: &[Flow], worker_base: u32) {
    let mut w = [store.writer(worker_base).unwrap(), store.writer(worker_base + 1).unwrap()];
    for (i, f) in flows.iter().enumerate() {
        w[i % 2].append(f).unwrap();
    }
    for w in w {
        w.finish().unwrap();
    }
}

/// A rollup of `flows` per bucket (channels by port, one source, a dst_port top table).
pub fn write_rollups(store: &Store, profile: &str, flows: &[Flow]) -> Counters {
    let mut by_bucket: std::collections::BTreeMap<u64, Vec<&Flow>> = Default::default();
    for f in flows {
        by_bucket.entry(bucket_start(f.received_ms)).or_default().push(f);
    }
    let mut all = Counters::default();
    for (bucket, fl) in by_bucket {
        let mut total = Counters::default();
        let mut ports: std::collections::BTreeMap<u16, Counters> = Default::default();
        for f in &fl {
            total.add_flow(f);
            ports.entry(f.dst_port).or_default().add_flow(f);
        }
        all.add(&total);
        let chan = |name: &str, p: u16| ChannelCounters {
            channel: name.into(),
            counters: ports.get(&p).copied().unwrap_or_default(),
        };
        let mut entries: Vec<TopEntry> =
            ports.iter().map(|(p, c)| TopEntry { key: p.to_string(), counters: *c }).collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.counters.bytes));
        let listed = entries.split_off(entries.len().min(2));
        let mut other = Counters::default();
        listed.iter().for_each(|e| other.add(&e.counters));
        store
            .write_rollup(&BucketRollup {
                bucket,
                profile: profile.into(),
                total,
                channels: vec![chan("http", 80), chan("https", 443)],
                sources: vec![SourceCounters { source: "netflow".into(), counters: total }],
                top: vec![TopTable { dimension: Dimension::DstPort, entries, other }],
            })
            .unwrap();
    }
    all
}

pub fn totals(flows: &[Flow]) -> Counters {
    let mut c = Counters::default();
    flows.iter().for_each(|f| c.add_flow(f));
    c
}

pub fn config(urls: Vec<String>, raw: bool) -> ClickhouseConfig {
    ClickhouseConfig {
        urls,
        raw_flows: raw,
        batch_size: 4096,
        collector_id: Some("test-collector".into()),
        site: "lab".into(),
        retry_max_s: 2,
        ..Default::default()
    }
}

/// Waits until `done(status)`; panics with the status after 90 s.
pub fn wait_for(h: &ExportHandle, what: &str, done: impl Fn(&ExportStatus) -> bool) -> ExportStatus {
    let start = Instant::now();
    loop {
        let st = h.status();
        if done(&st) {
            return st;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "timed out waiting for {what}: {st:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn shipped_all(st: &ExportStatus, rollup_buckets: u64, rows: u64) -> bool {
    st.healthy
        && st.rollup_buckets_shipped >= rollup_buckets
        && st.raw_rows_shipped >= rows
        && st.raw_backlog_segments == 0
}

pub fn ch_rollup_totals(s: &Server, table: &str, profile: &str) -> Vec<u64> {
    s.numbers(&format!(
        "SELECT sum(flows), sum(packets), sum(bytes) FROM wvnr.{table} FINAL WHERE kind = 'total' AND profile = '{profile}'"
    ))
}

pub fn ch_flow_totals(s: &Server, table: &str) -> Vec<u64> {
    s.numbers(&format!("SELECT count(), sum(packets), sum(bytes) FROM wvnr.{table} FINAL"))
}

pub fn vec3(c: Counters) -> Vec<u64> {
    vec![c.flows, c.packets, c.bytes]
}
