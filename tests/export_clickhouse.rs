//! The ClickHouse exporter against real clickhouse-server processes (started by
//! scripts/clickhouse-test-server on free loopback ports, stopped by a Drop guard).
//! The outage and catch-up test is in export_catchup.rs, the web view in export_status.rs.

mod common;
mod export_support;

use std::sync::Arc;
use std::time::Instant;

use export_support::*;
use wvnr::export::{ClickhouseConfig, Exporter};
use wvnr::flow::{bucket_start, Counters, Flow, BUCKET_SECONDS};
use wvnr::rollup::{BucketRollup, ChannelCounters, Dimension, SourceCounters, TopEntry, TopTable};
use wvnr::store::{Store, StoreConfig};

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
