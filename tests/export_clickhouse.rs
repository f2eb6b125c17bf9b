//! The ClickHouse exporter against real clickhouse-server processes (started by
//! scripts/clickhouse-test-server on free loopback ports, stopped by a Drop guard).

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wvnr::export::{ClickhouseConfig, ExportHandle, ExportStatus, Exporter};
use wvnr::flow::{bucket_start, Counters, Flow, BUCKET_SECONDS};
use wvnr::rollup::{BucketRollup, ChannelCounters, Dimension, SourceCounters, TopEntry, TopTable};
use wvnr::store::{Store, StoreConfig};

/// One clickhouse-server; stopped when dropped (also on panic).
struct Server {
    dir: PathBuf,
    http: u16,
    tcp: u16,
    cluster: Vec<String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/clickhouse-test-server")
}

impl Server {
    fn start(dir: &Path, cluster: &[String]) -> Server {
        let s = Server {
            dir: dir.to_path_buf(),
            http: common::free_tcp_port(),
            tcp: common::free_tcp_port(),
            cluster: cluster.to_vec(),
        };
        s.launch();
        s
    }

    fn launch(&self) {
        common::run_ok(
            Command::new(script())
                .arg("start")
                .arg(&self.dir)
                .arg(self.http.to_string())
                .arg(self.tcp.to_string())
                .args(&self.cluster),
        );
    }

    fn kill(&self) {
        common::run_ok(Command::new(script()).arg("kill").arg(&self.dir));
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// Runs `sql`, returns the answer's text (TabSeparated), trimmed.
    fn query(&self, sql: &str) -> String {
        let out = common::run_ok(Command::new("curl").args([
            "-sS",
            "--fail-with-body",
            "--data-binary",
            sql,
            &self.url(),
        ]));
        out.trim().to_string()
    }

    fn numbers(&self, sql: &str) -> Vec<u64> {
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

fn tools() -> bool {
    common::require_tool("clickhouse-server") && common::require_tool("curl")
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Flows in `buckets` closed buckets (from an hour ago), deterministic, split over two workers.
fn flows(buckets: u64, per_bucket: u64, seed: u64) -> Vec<Flow> {
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

fn write_flows(store: &Store, flows: &[Flow], worker_base: u32) {
    let mut w = [store.writer(worker_base).unwrap(), store.writer(worker_base + 1).unwrap()];
    for (i, f) in flows.iter().enumerate() {
        w[i % 2].append(f).unwrap();
    }
    for w in w {
        w.finish().unwrap();
    }
}

/// A rollup of `flows` per bucket (channels by port, one source, a dst_port top table).
fn write_rollups(store: &Store, profile: &str, flows: &[Flow]) -> Counters {
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

fn totals(flows: &[Flow]) -> Counters {
    let mut c = Counters::default();
    flows.iter().for_each(|f| c.add_flow(f));
    c
}

fn config(urls: Vec<String>, raw: bool) -> ClickhouseConfig {
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
fn wait_for(h: &ExportHandle, what: &str, done: impl Fn(&ExportStatus) -> bool) -> ExportStatus {
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

fn shipped_all(st: &ExportStatus, rollup_buckets: u64, rows: u64) -> bool {
    st.healthy
        && st.rollup_buckets_shipped >= rollup_buckets
        && st.raw_rows_shipped >= rows
        && st.raw_backlog_segments == 0
}

fn ch_rollup_totals(s: &Server, table: &str, profile: &str) -> Vec<u64> {
    s.numbers(&format!(
        "SELECT sum(flows), sum(packets), sum(bytes) FROM wvnr.{table} FINAL WHERE kind = 'total' AND profile = '{profile}'"
    ))
}

fn ch_flow_totals(s: &Server, table: &str) -> Vec<u64> {
    s.numbers(&format!("SELECT count(), sum(packets), sum(bytes) FROM wvnr.{table} FINAL"))
}

fn vec3(c: Counters) -> Vec<u64> {
    vec![c.flows, c.packets, c.bytes]
}

#[test]
fn totals_match_the_store_and_resend_does_not_double_count() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("ch"), &[]);
    let store = Arc::new(Store::open(&tmp.path().join("data"), StoreConfig::default()).unwrap());
    let fl = flows(3, 5000, 1);
    write_flows(&store, &fl, 0);
    let live = write_rollups(&store, "live", &fl);
    let https_only: Vec<Flow> = fl.iter().filter(|f| f.dst_port == 443).copied().collect();
    let web = write_rollups(&store, "web", &https_only);
    assert_eq!(live, totals(&fl));

    let cfg = config(vec![server.url()], true);
    let h = Exporter::new(cfg.clone(), store.clone(), "test-collector", "lab").start().unwrap();
    let st = wait_for(&h, "everything shipped", |s| shipped_all(s, 6, fl.len() as u64));
    assert_eq!(st.raw_rows_shipped, fl.len() as u64);
    assert_eq!((st.dropped_raw_segments, st.dropped_rollup_buckets, st.errors), (0, 0, 0));
    h.stop();

    assert_eq!(ch_rollup_totals(&server, "rollup_totals", "live"), vec3(live));
    assert_eq!(ch_rollup_totals(&server, "rollup_totals", "web"), vec3(web));
    assert_eq!(ch_flow_totals(&server, "flows"), vec3(totals(&fl)));
    // Top tables: entries plus "other" add up to the bucket totals.
    let top = server.numbers(
        "SELECT sum(bytes) FROM wvnr.rollup_top FINAL WHERE profile = 'live' AND dimension = 'dst_port'",
    );
    assert_eq!(top, vec![live.bytes]);
    // The https channel equals the web profile's total; addresses round-trip.
    let https = server.numbers("SELECT sum(bytes) FROM wvnr.rollup_totals FINAL WHERE profile = 'live' AND kind = 'channel' AND name = 'https'");
    assert_eq!(https, vec![web.bytes]);
    let v6 = server
        .numbers("SELECT count() FROM wvnr.flows FINAL WHERE IPv6NumToString(dst_addr) = '2001:db8::1'");
    assert_eq!(v6, vec![fl.iter().filter(|f| f.dst_addr.is_ipv6()).count() as u64]);
    let labels = server.query("SELECT DISTINCT collector, site FROM wvnr.flows");
    assert_eq!(labels, "test-collector\tlab");

    // Forget the watermark: everything is sent again, and nothing counts twice.
    let wm = wvnr::export::watermark::path_for(store.dir(), &server.url(), "wvnr");
    std::fs::remove_file(&wm).unwrap();
    let h = Exporter::new(cfg, store.clone(), "test-collector", "lab").start().unwrap();
    let st = wait_for(&h, "everything re-shipped", |s| shipped_all(s, 6, fl.len() as u64));
    assert_eq!(st.raw_rows_shipped, fl.len() as u64);
    h.stop();
    let raw_rows = server.numbers("SELECT count() FROM wvnr.flows")[0];
    assert!(raw_rows >= fl.len() as u64, "re-sent rows reached the server ({raw_rows})");
    assert_eq!(ch_rollup_totals(&server, "rollup_totals", "live"), vec3(live));
    assert_eq!(ch_flow_totals(&server, "flows"), vec3(totals(&fl)));
    // After merging, the duplicates are gone for real (not only hidden by FINAL).
    server.query("OPTIMIZE TABLE wvnr.flows FINAL");
    server.query("OPTIMIZE TABLE wvnr.rollup_totals FINAL");
    assert_eq!(server.numbers("SELECT count() FROM wvnr.flows"), vec![fl.len() as u64]);
    assert_eq!(
        server.numbers("SELECT sum(bytes) FROM wvnr.rollup_totals WHERE kind = 'total' AND profile = 'live'"),
        vec![live.bytes]
    );
}

#[test]
fn server_killed_mid_stream_loses_nothing() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("ch"), &[]);
    let store = Arc::new(Store::open(&tmp.path().join("data"), StoreConfig::default()).unwrap());
    let first = flows(2, 3000, 7);
    write_flows(&store, &first, 0);
    let h = Exporter::new(config(vec![server.url()], true), store.clone(), "c1", "").start().unwrap();
    wait_for(&h, "first part shipped", |s| shipped_all(s, 0, first.len() as u64));

    server.kill();
    // While the server is down: more flows (new segments and more blocks) and the rollups.
    let second = flows(3, 2000, 99);
    write_flows(&store, &second, 2);
    let all: Vec<Flow> = first.iter().chain(&second).copied().collect();
    let live = write_rollups(&store, "live", &all);
    let st = wait_for(&h, "a failed round with a backlog", |s| {
        s.errors > 0 && !s.healthy && (s.raw_backlog_segments > 0 || s.rollup_backlog_buckets > 0)
    });
    assert!(st.last_error.as_deref().unwrap_or("").contains("Connection refused"), "{st:#?}");

    server.launch();
    let st = wait_for(&h, "backlog shipped after restart", |s| shipped_all(s, 3, all.len() as u64));
    assert_eq!(st.rollup_backlog_buckets, 0);
    h.stop();
    assert_eq!(ch_flow_totals(&server, "flows"), vec3(totals(&all)));
    assert_eq!(ch_rollup_totals(&server, "rollup_totals", "live"), vec3(live));
}

#[test]
fn schema_creation_is_idempotent() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("ch"), &[]);
    let cfg = ClickhouseConfig { url: Some(server.url()), retention_days: Some(30), ..Default::default() };
    let f1 = wvnr::export::init_schema(&cfg).unwrap();
    let f2 = wvnr::export::init_schema(&cfg).unwrap();
    assert_eq!(f1, f2);
    for t in ["rollup_totals", "rollup_top", "flows"] {
        assert_eq!(server.query(&format!("EXISTS TABLE wvnr.{t}")), "1");
    }
    // The CLI path reads [export.clickhouse] from a config file.
    let conf = tmp.path().join("wvnr.toml");
    std::fs::write(&conf, format!("[export.clickhouse]\nurl = \"{}\"\ndatabase = \"other\"\n", server.url()))
        .unwrap();
    let args = wvnr::export::cli::Args {
        command: wvnr::export::cli::ExportCommand::InitSchema { config: Some(conf), url: Vec::new() },
    };
    wvnr::export::cli::run(args).unwrap();
    assert_eq!(server.query("EXISTS TABLE other.flows"), "1");
}

#[test]
fn two_shard_distributed_tables_add_up() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (t1, t2) = (common::free_tcp_port(), common::free_tcp_port());
    let spec = |own: u16| -> Vec<String> {
        let _ = own;
        vec!["wvnr_test".into(), t1.to_string(), t2.to_string()]
    };
    let mk = |name: &str, tcp: u16| {
        let s = Server { dir: tmp.path().join(name), http: common::free_tcp_port(), tcp, cluster: spec(tcp) };
        s.launch();
        s
    };
    let (a, b) = (mk("a", t1), mk("b", t2));
    let store = Arc::new(Store::open(&tmp.path().join("data"), StoreConfig::default()).unwrap());
    let fl = flows(4, 2500, 3);
    write_flows(&store, &fl, 0);
    let live = write_rollups(&store, "live", &fl);
    let cfg = ClickhouseConfig { cluster: Some("wvnr_test".into()), ..config(vec![a.url(), b.url()], true) };
    let h = Exporter::new(cfg, store.clone(), "edge-1", "dc1").start().unwrap();
    wait_for(&h, "shipped to the cluster", |s| shipped_all(s, 4, fl.len() as u64));
    h.stop();
    // Both servers answer for the whole cluster through the Distributed tables.
    for s in [&a, &b] {
        assert_eq!(ch_flow_totals(s, "flows"), vec3(totals(&fl)));
        assert_eq!(ch_rollup_totals(s, "rollup_totals", "live"), vec3(live));
    }
    // The rows really are spread: each shard's local table holds a part.
    let (na, nb) = (ch_flow_totals(&a, "flows_local")[0], ch_flow_totals(&b, "flows_local")[0]);
    assert!(na > 0 && nb > 0 && na + nb == fl.len() as u64, "{na} + {nb}");
}

/// CPU seconds (user + system) process `pid` ("self" for this one) has used so far.
fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After "(comm) ": field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
}

/// Insert rates and the exporter's CPU cost. Run with:
/// `cargo test --release --test export_clickhouse -- --ignored --nocapture export_throughput`
#[test]
#[ignore]
fn export_throughput() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("ch"), &[]);
    let server_pid = std::fs::read_to_string(tmp.path().join("ch/server.pid")).unwrap().trim().to_string();
    let store = Arc::new(Store::open(&tmp.path().join("data"), StoreConfig::default()).unwrap());
    // Rollups: 576 buckets (two days) of one profile, each 1 + 20 + 2 rows and 10 tables x 51 rows.
    let first = bucket_start((now_s() - 2 * 86_400) * 1000);
    for b in 0..576u64 {
        let c = Counters { flows: b + 1, packets: 2 * b + 2, bytes: 100 * b + 100 };
        let top = Dimension::ALL
            .iter()
            .map(|&d| TopTable {
                dimension: d,
                entries: (0..50).map(|i| TopEntry { key: format!("10.0.{b}.{i}"), counters: c }).collect(),
                other: c,
            })
            .collect();
        store
            .write_rollup(&BucketRollup {
                bucket: first + b * BUCKET_SECONDS,
                profile: "live".into(),
                total: c,
                channels: (0..20)
                    .map(|i| ChannelCounters { channel: format!("ch{i}"), counters: c })
                    .collect(),
                sources: vec![SourceCounters { source: "a".into(), counters: c }; 2],
                top,
            })
            .unwrap();
    }
    let cfg = ClickhouseConfig { raw_flows: false, batch_size: 65_536, ..config(vec![server.url()], false) };
    wvnr::export::init_schema(&cfg).unwrap();
    let (t0, c0, s0) = (Instant::now(), cpu_s("self"), cpu_s(&server_pid));
    let h = Exporter::new(cfg, store.clone(), "bench", "").start().unwrap();
    let st = wait_for(&h, "rollups shipped", |s| s.rollup_buckets_shipped >= 576);
    let (secs, cpu, server_cpu) = (t0.elapsed().as_secs_f64(), cpu_s("self") - c0, cpu_s(&server_pid) - s0);
    h.stop();
    println!(
        "rollups: {} rows in {secs:.2} s = {:.0} rows/s, exporter CPU {cpu:.2} s ({:.2} CPU-s per million rows), server CPU {server_cpu:.2} s",
        st.rollup_rows_shipped,
        st.rollup_rows_shipped as f64 / secs,
        cpu / st.rollup_rows_shipped as f64 * 1e6
    );

    // Raw flows: 2 M flows in 8 buckets, 2 segments each.
    let n = 2_000_000u64;
    let fl = flows(8, n / 8, 5);
    write_flows(&store, &fl, 0);
    let cfg = ClickhouseConfig {
        rollups: false,
        raw_flows: true,
        batch_size: 65_536,
        ..config(vec![server.url()], true)
    };
    let (t0, c0, s0) = (Instant::now(), cpu_s("self"), cpu_s(&server_pid));
    let h = Exporter::new(cfg, store.clone(), "bench", "").start().unwrap();
    let st = wait_for(&h, "flows shipped", |s| shipped_all(s, 0, n));
    let (secs, cpu, server_cpu) = (t0.elapsed().as_secs_f64(), cpu_s("self") - c0, cpu_s(&server_pid) - s0);
    h.stop();
    println!(
        "raw flows: {} rows in {secs:.2} s = {:.0} rows/s, exporter CPU {cpu:.2} s ({:.2} CPU-s per million rows), server CPU {server_cpu:.2} s",
        st.raw_rows_shipped,
        st.raw_rows_shipped as f64 / secs,
        cpu / st.raw_rows_shipped as f64 * 1e6
    );
    assert_eq!(ch_flow_totals(&server, "flows")[0], n);
}
