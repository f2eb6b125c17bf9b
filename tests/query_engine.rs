//! Query engine results against a brute-force oracle computed in the test, and the
//! CLI's answers to bad arguments.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use wvnr::filter::Filter;
use wvnr::flow::{Counters, Flow};
use wvnr::query::{execute, parse_aggregate, parse_stat, Mode, OrderBy, Query, StatField};
use wvnr::store::{Store, StoreConfig};

const T0: u64 = 1_795_946_700_000;

fn flows() -> Vec<Flow> {
    (0..5000u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24;
            Flow {
                received_ms: T0 + i * 120, // 10 minutes: two buckets
                first_ms: T0 + i * 120 - 2000 - x % 1000,
                last_ms: T0 + i * 120 - 500,
                src_addr: if i % 10 == 0 {
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, (x % 3) as u16, 0, 0, 0, (x % 50) as u16))
                } else {
                    IpAddr::V4(Ipv4Addr::new(10, (x % 4) as u8, (x % 7) as u8, (x % 200) as u8))
                },
                dst_addr: IpAddr::V4(Ipv4Addr::new(10, (x % 4) as u8, 0, (x % 9) as u8)),
                src_port: 1000 + (x % 50) as u16,
                dst_port: [80u16, 443, 53][(x % 3) as usize],
                protocol: [6u8, 17][(x % 2) as usize],
                src_as: (x % 5) as u32,
                dst_as: (x % 3) as u32,
                in_if: (x % 3) as u32,
                out_if: (x % 4) as u32,
                packets: 1 + x % 40,
                bytes: 100 + x % 40 * 700,
                ..Flow::EMPTY
            }
        })
        .collect()
}

fn store_with(flows: &[Flow]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let mut writers: Vec<_> = (0..3).map(|w| store.writer(w).unwrap()).collect();
    for (i, f) in flows.iter().enumerate() {
        writers[i % 3].append(f).unwrap();
    }
    writers.into_iter().for_each(|w| w.finish().unwrap());
    (dir, store)
}

fn q(from_ms: u64, to_ms: u64, filter: &str, mode: Mode) -> Query {
    Query { from_ms, to_ms, filter: Filter::compile(filter).unwrap(), mode }
}

#[test]
fn stats_match_a_brute_force_oracle() {
    let all = flows();
    let (_dir, store) = store_with(&all);
    let (from, to) = (T0 + 100_000, T0 + 400_000);
    let filter = "proto tcp";
    let fl = Filter::compile(filter).unwrap();
    let sel: Vec<&Flow> =
        all.iter().filter(|f| f.received_ms >= from && f.received_ms < to && fl.matches(f)).collect();
    assert!(sel.len() > 500 && sel.len() < all.len() / 2);

    let mut total = Counters::default();
    sel.iter().for_each(|f| total.add_flow(f));
    let out = execute(&store, &q(from, to, filter, Mode::Summary)).unwrap();
    assert_eq!(out.total, total);
    assert_eq!(out.first_ms, sel.iter().map(|f| f.first_ms).min().unwrap());

    // -s ip/bytes: every flow counted for both addresses.
    let mut by_ip: HashMap<String, Counters> = HashMap::new();
    for f in &sel {
        by_ip.entry(f.src_addr.to_string()).or_default().add_flow(f);
        by_ip.entry(f.dst_addr.to_string()).or_default().add_flow(f);
    }
    let out = execute(
        &store,
        &q(from, to, filter, Mode::Stat { field: StatField::Ip, order: OrderBy::Bytes, limit: 10_000 }),
    )
    .unwrap();
    assert_eq!(out.rows.len(), by_ip.len());
    for r in &out.rows {
        assert_eq!(r.counters, by_ip[&r.key], "{}", r.key);
    }
    assert!(out.rows.windows(2).all(|w| w[0].counters.bytes >= w[1].counters.bytes));
    let top3 = execute(
        &store,
        &q(from, to, filter, Mode::Stat { field: StatField::Ip, order: OrderBy::Bytes, limit: 3 }),
    )
    .unwrap();
    assert_eq!(
        top3.rows.iter().map(|r| &r.key).collect::<Vec<_>>(),
        out.rows[..3].iter().map(|r| &r.key).collect::<Vec<_>>()
    );

    // -s dstas/packets
    let mut by_as: HashMap<String, Counters> = HashMap::new();
    sel.iter().for_each(|f| by_as.entry(f.dst_as.to_string()).or_default().add_flow(f));
    let out = execute(
        &store,
        &q(from, to, filter, Mode::Stat { field: StatField::DstAs, order: OrderBy::Packets, limit: 100 }),
    )
    .unwrap();
    assert_eq!(out.rows.iter().map(|r| (r.key.clone(), r.counters)).collect::<HashMap<_, _>>(), by_as);

    // Several statistics from one scan: each table equals its own query.
    let stats = vec![
        (StatField::DstPort, OrderBy::Bytes),
        (StatField::SrcIp, OrderBy::Flows),
        (StatField::Port, OrderBy::Packets),
        (StatField::DstAs, OrderBy::Packets),
        (StatField::Record, OrderBy::Bytes),
    ];
    let multi =
        execute(&store, &q(from, to, filter, Mode::Stats { stats: stats.clone(), limit: 7 })).unwrap();
    assert_eq!(multi.total, total);
    assert_eq!(multi.tables.len(), stats.len());
    for (t, (field, order)) in multi.tables.iter().zip(stats) {
        let one = execute(&store, &q(from, to, filter, Mode::Stat { field, order, limit: 7 })).unwrap();
        assert_eq!((t.field, t.order, t.groups), (field, order, one.groups));
        let keys = |rows: &[wvnr::query::StatRow]| {
            rows.iter().map(|r| (r.key.clone(), r.counters)).collect::<Vec<_>>()
        };
        assert_eq!(keys(&t.rows), keys(&one.rows), "{field:?}");
        assert_eq!(t.rows.len(), (one.groups as usize).min(7), "{field:?}");
        assert!(!t.rows.is_empty(), "{field:?}");
    }
}

#[test]
fn aggregation_with_masks_and_listing() {
    let all = flows();
    let (_dir, store) = store_with(&all);
    let keys = parse_aggregate("srcip4/16,srcip6/48,dstport").unwrap();
    let out =
        execute(&store, &q(0, u64::MAX, "any", Mode::Aggregate { keys, order: OrderBy::Flows, limit: 1000 }))
            .unwrap();
    let mut oracle: HashMap<String, Counters> = HashMap::new();
    for f in &all {
        let net = match f.src_addr {
            IpAddr::V4(a) => Ipv4Addr::from(u32::from(a) & 0xffff_0000).to_string(),
            IpAddr::V6(a) => Ipv6Addr::from(u128::from(a) & !((1u128 << 80) - 1)).to_string(),
        };
        oracle.entry(format!("{net} {}", f.dst_port)).or_default().add_flow(f);
    }
    assert_eq!(out.rows.iter().map(|r| (r.key.clone(), r.counters)).collect::<HashMap<_, _>>(), oracle);
    assert_eq!(out.rows[0].parts.len(), 2);

    // Listing: the newest N of the window, oldest first.
    let out = execute(&store, &q(T0, T0 + 300_000, "any", Mode::List { limit: 7 })).unwrap();
    let mut want: Vec<Flow> = all.iter().filter(|f| f.received_ms < T0 + 300_000).copied().collect();
    want.sort_by_key(|f| f.received_ms);
    assert_eq!(out.flows, want[want.len() - 7..]);
    assert_eq!(out.total.flows, want.len() as u64);
}

/// Filtered listings decode the filter's columns first and the rest only for kept flows:
/// whole flows must come out, inside and across block edges of the window, whether the
/// filter reads the times or not.
#[test]
fn filtered_listings_return_whole_flows() {
    let all = flows();
    let (_dir, store) = store_with(&all);
    let filters = [
        "proto udp and dst port 53 and packets > 9",
        "duration > 2300 and src port 1010",
        "src net 10.1.0.0/16 and bytes > 5000",
        "ipv6 or dst ip 10.2.0.4",
        "not proto tcp",
        "port 1",
    ];
    for (from, to) in [(0, u64::MAX), (T0 + 100_123, T0 + 400_000)] {
        for filter in filters {
            let fl = Filter::compile(filter).unwrap();
            let mut want: Vec<Flow> = all
                .iter()
                .filter(|f| f.received_ms >= from && f.received_ms < to && fl.matches(f))
                .copied()
                .collect();
            want.sort_by_key(|f| (f.received_ms, f.first_ms));
            let out = execute(&store, &q(from, to, filter, Mode::List { limit: 100_000 })).unwrap();
            assert_eq!(out.flows, want, "{filter} in [{from}, {to})");
            let in_window = all.iter().filter(|f| f.received_ms >= from && f.received_ms < to).count();
            // Blocks a filter's required protocol or port rules out are not read at all.
            if fl.scan_hint() == wvnr::store::ScanHint::default() {
                assert_eq!(out.flows_scanned, in_window as u64, "{filter}");
            } else {
                assert!(out.flows_scanned <= in_window as u64, "{filter}");
            }
            let stat = Mode::Stat { field: StatField::SrcIp, order: OrderBy::Flows, limit: 100_000 };
            let out = execute(&store, &q(from, to, filter, stat)).unwrap();
            assert_eq!(out.total.flows, want.len() as u64, "{filter}");
            let mut by_ip: HashMap<String, (u64, u64, u64)> = HashMap::new();
            for f in &want {
                let e = by_ip.entry(f.src_addr.to_string()).or_insert((0, u64::MAX, 0));
                *e = (e.0 + f.bytes, e.1.min(f.first_ms), e.2.max(f.last_ms));
            }
            let got: HashMap<String, (u64, u64, u64)> =
                out.rows.iter().map(|r| (r.key.clone(), (r.counters.bytes, r.first_ms, r.last_ms))).collect();
            assert_eq!(got, by_ip, "{filter}");
        }
    }
}

#[test]
fn cli_json_summary_and_bad_arguments() {
    let all = flows();
    let (dir, _store) = store_with(&all);
    let run = |args: &[&str]| {
        Command::new(common::wvnr_bin())
            .arg("query")
            .arg("--data")
            .arg(dir.path())
            .args(args)
            .env("TZ", "UTC")
            .output()
            .unwrap()
    };
    let out = run(&["--summary", "-o", "json", "-t", "2026/11/29.10:05-2026/11/29.10:10", "proto", "udp"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut want = Counters::default();
    let fl = Filter::compile("proto udp").unwrap();
    all.iter().filter(|f| f.received_ms < T0 + 300_000 && fl.matches(f)).for_each(|f| want.add_flow(f));
    assert_eq!(
        (v["flows"].as_u64(), v["packets"].as_u64(), v["bytes"].as_u64()),
        (Some(want.flows), Some(want.packets), Some(want.bytes))
    );

    for (args, expect) in [
        (&["-s", "dstport/size"][..], "unknown order \"size\""),
        (&["-s", "colour"][..], "unknown statistic \"colour\""),
        (&["-o", "xml"][..], "unknown output format \"xml\""),
        (&["-t", "yesterday"][..], "bad time \"yesterday\""),
        (&["--last", "3y"][..], "bad duration \"3y\""),
        (&["-A", "srcip4/40"][..], "bad aggregation mask"),
        (&["proto", "tcpp"][..], "bad filter"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line, got {err}");
    }
    let out = Command::new(common::wvnr_bin())
        .args(["query", "--data", "/nonexistent/x", "--summary"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no data directory /nonexistent/x"));
}

#[test]
fn stat_names() {
    assert_eq!(parse_stat("as/bps").unwrap(), (StatField::As, OrderBy::Bps));
}
