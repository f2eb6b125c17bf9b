//! ClickHouse killed while the collector keeps storing flows and sealing buckets: the
//! backlog is measured (rows, bytes, buckets) while the server is down, and ships in one
//! catch-up round as soon as a probe finds the restarted server, long before the backoff
//! (up to an hour here) would have retried.

mod common;
mod export_support;

use std::sync::Arc;

use export_support::*;
use wvnr::export::{rollup_row_count, ClickhouseConfig, Exporter};
use wvnr::flow::Flow;
use wvnr::store::{Store, StoreConfig};

#[test]
fn backlog_ships_as_soon_as_the_server_is_back() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("ch"), &[]);
    let store = Arc::new(Store::open(&tmp.path().join("data"), StoreConfig::default()).unwrap());
    let first = flows(2, 3000, 7);
    write_flows(&store, &first, 0);
    let cfg = ClickhouseConfig { retry_max_s: 3600, ..config(vec![server.url()], true) };
    let h = Exporter::new(cfg, store.clone(), "c1", "").start().unwrap();
    let st = wait_for(&h, "first part shipped", |s| shipped_all(s, 0, first.len() as u64));
    assert_eq!((st.raw_backlog_rows, st.raw_backlog_bytes, st.catchups), (0, 0, 0));
    let bytes_before = st.raw_bytes_shipped;
    assert!(bytes_before > 0);

    server.kill();
    // While the server is down: more flows (new segments and more blocks in old ones), and the
    // rollups of all three buckets (an hour old: only a look back from the floor finds them).
    let second = flows(3, 2000, 99);
    write_flows(&store, &second, 2);
    let all: Vec<Flow> = first.iter().chain(&second).copied().collect();
    let live = write_rollups(&store, "live", &all);
    let rollup_rows: u64 = store.rollups("live", 0, u64::MAX).iter().map(rollup_row_count).sum();
    // Four failed rounds: the backoff is at 8 s and doubling.
    let st = wait_for(&h, "the backlog measured while down", |s| {
        s.consecutive_failures >= 4 && s.raw_backlog_rows > 0 && s.rollup_backlog_buckets > 0
    });
    assert!(!st.healthy && st.retry_in_s > 0, "{st:#?}");
    assert!(st.last_error.as_deref().unwrap_or("").contains("Connection refused"), "{st:#?}");
    assert!(st.last_error_unix_s.is_some());
    // Exactly what was written meanwhile, counted from the segments' block headers.
    assert_eq!(st.raw_backlog_rows, second.len() as u64);
    assert!(st.raw_backlog_bytes > 0 && st.raw_backlog_segments >= 2, "{st:#?}");
    assert_eq!((st.rollup_backlog_buckets, st.rollup_backlog_rows), (3, rollup_rows));
    assert_eq!((st.dropped_raw_rows, st.dropped_rollup_rows), (0, 0));

    server.launch();
    let st = wait_for(&h, "backlog shipped after restart", |s| shipped_all(s, 3, all.len() as u64));
    // Shipped by the probe-triggered round, not by the (at least 8 s away) scheduled retry.
    assert_eq!(st.catchups, 1, "{st:#?}");
    assert_eq!((st.rollup_backlog_buckets, st.rollup_backlog_rows, st.raw_backlog_rows), (0, 0, 0));
    assert_eq!(st.raw_rows_shipped, all.len() as u64);
    assert_eq!(st.rollup_rows_shipped, rollup_rows);
    assert!(st.raw_bytes_shipped > bytes_before);
    assert_eq!(st.consecutive_failures, 0);
    h.stop();
    assert_eq!(ch_flow_totals(&server, "flows"), vec3(totals(&all)));
    assert_eq!(ch_rollup_totals(&server, "rollup_totals", "live"), vec3(live));
}
