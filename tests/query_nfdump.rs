//! `wvnr query` against nfdump on the same flows: written to our store, and sent as
//! NetFlow v5 to a real nfcapd whose files nfdump reads. Counts and keys must agree
//! (not times: nfcapd takes them from the v5 header).

mod common;
mod v5_support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use v5_support::{run_nfcapd, v5_datagrams};

use wvnr::flow::Flow;
use wvnr::store::{Store, StoreConfig};

/// 600 deterministic IPv4 flows over a few protocols, ports and addresses, with byte counts
/// distinct enough that top-N by bytes has no ties.
fn flows(now_ms: u64) -> Vec<Flow> {
    (0..600u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
            let protocol = [6u8, 6, 17, 6, 17, 1][(i % 6) as usize];
            let (src_port, dst_port) = if protocol == 1 {
                (0, 0x0800)
            } else {
                (
                    1024 + (x % 3000) as u16,
                    [80u16, 443, 53, 22, 8080, 25, 123, 3389, 993, 5060, 21, 110][(x % 12) as usize],
                )
            };
            Flow {
                exporter: IpAddr::V4(Ipv4Addr::LOCALHOST),
                received_ms: now_ms + i,
                first_ms: now_ms - 5000,
                last_ms: now_ms - 1000,
                src_addr: IpAddr::V4(Ipv4Addr::new(10, 0, (x % 3) as u8, (x % 37) as u8)),
                dst_addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, (x % 23) as u8)),
                src_port,
                dst_port,
                protocol,
                tcp_flags: if protocol == 6 { 0x1b } else { 0 },
                in_if: (x % 4) as u32,
                out_if: (x % 5) as u32,
                packets: 1 + x % 97,
                bytes: 40 + (x % 97) * 1500 + i,
                ..Flow::EMPTY
            }
        })
        .collect()
}

/// `val -> (flows, packets, bytes)` from nfdump-style stat CSV (columns 4..=9), and the
/// summary's (flows, bytes, packets).
type Rows = BTreeMap<String, (u64, u64, u64)>;

fn parse_stat_csv(csv: &str) -> (Rows, Vec<String>, (u64, u64, u64)) {
    let mut rows = BTreeMap::new();
    let mut order = Vec::new();
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    assert!(header.starts_with("ts,te,td,pr,val,fl,flP,"), "{header}");
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let c: Vec<&str> = line.split(',').collect();
        let num = |i: usize| c[i].trim().parse::<u64>().unwrap_or_else(|_| panic!("column {i} of {line}"));
        rows.insert(c[4].to_string(), (num(5), num(7), num(9)));
        order.push(c[4].to_string());
    }
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.first(), Some(&"Summary"), "{csv}");
    let s: Vec<u64> = rest[2].split(',').map(|v| v.parse().unwrap()).collect();
    (rows, order, (s[0], s[1], s[2]))
}

#[test]
fn stats_and_summary_match_nfdump() {
    if !common::require_tool("nfcapd") || !common::require_tool("nfdump") {
        return;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let flows = flows(now);
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("wvnr"), tmp.path().join("nfcapd"));
    std::fs::create_dir_all(&theirs).unwrap();
    let store = Store::open(&ours, StoreConfig::default()).unwrap();
    let mut w = store.writer(0).unwrap();
    flows.iter().for_each(|f| w.append(f).unwrap());
    w.finish().unwrap();
    run_nfcapd(&theirs, &v5_datagrams(&flows), &[]);

    let nfdump = |args: &[&str]| common::run_ok(Command::new("nfdump").arg("-R").arg(&theirs).args(args));
    let wvnr = |args: &[&str]| {
        common::run_ok(Command::new(common::wvnr_bin()).arg("query").arg("--data").arg(&ours).args(args))
    };

    // Top 10 by bytes: same keys in the same order with the same numbers.
    let (n_rows, n_order, n_sum) = parse_stat_csv(&nfdump(&["-s", "dstport/bytes", "-n", "10", "-o", "csv"]));
    let (w_rows, w_order, w_sum) = parse_stat_csv(&wvnr(&["-s", "dstport/bytes", "-n", "10", "-o", "csv"]));
    assert_eq!(n_sum.0, 600, "nfcapd lost datagrams: {n_sum:?}");
    assert_eq!(w_order, n_order);
    assert_eq!(w_rows, n_rows);
    assert_eq!(w_sum, n_sum);

    // Every group (ties in flows/packets make the order of equals arbitrary: compare as maps).
    for stat in ["srcip/flows", "proto/packets", "ip/flows", "port/bytes", "if/packets", "dstip/bytes"] {
        let (n_rows, _, _) = parse_stat_csv(&nfdump(&["-s", stat, "-n", "1000", "-o", "csv"]));
        let (w_rows, _, _) = parse_stat_csv(&wvnr(&["-s", stat, "-n", "1000", "-o", "csv"]));
        assert!(n_rows.len() > 2, "{stat}: {n_rows:?}");
        assert_eq!(w_rows, n_rows, "-s {stat}");
    }
    // Top 5 by flows: the counts in rank order agree even where equal counts swap keys.
    let (n_rows, n_order, _) = parse_stat_csv(&nfdump(&["-s", "srcip/flows", "-n", "5", "-o", "csv"]));
    let (w_rows, w_order, _) = parse_stat_csv(&wvnr(&["-s", "srcip/flows", "-n", "5", "-o", "csv"]));
    let counts = |rows: &Rows, order: &[String]| order.iter().map(|k| rows[k].0).collect::<Vec<_>>();
    assert_eq!(counts(&w_rows, &w_order), counts(&n_rows, &n_order));

    // With filters (the filter language is nfdump's).
    for filter in ["proto tcp and dst port 443", "src net 10.0.1.0/24", "not proto udp and packets > 50"] {
        let (n_rows, _, n_sum) =
            parse_stat_csv(&nfdump(&["-s", "dstport/bytes", "-n", "1000", "-o", "csv", filter]));
        let (w_rows, _, w_sum) =
            parse_stat_csv(&wvnr(&["-s", "dstport/bytes", "-n", "1000", "-o", "csv", filter]));
        assert!(n_sum.0 > 0 && n_sum.0 < 600, "{filter}: {n_sum:?}");
        assert_eq!((w_rows, w_sum), (n_rows, n_sum), "filter {filter}");
    }

    // The summary.
    let json: serde_json::Value = serde_json::from_str(&wvnr(&["--summary", "-o", "json"])).unwrap();
    assert_eq!(
        (json["flows"].as_u64(), json["bytes"].as_u64(), json["packets"].as_u64()),
        (Some(n_sum.0), Some(n_sum.1), Some(n_sum.2))
    );
    let line = nfdump(&["-o", "null"]);
    let n_line = line.lines().find(|l| l.starts_with("Summary:")).unwrap();
    let w_line = wvnr(&["--summary"]);
    let head = |l: &str| l.split(", avg").next().unwrap().to_string();
    assert_eq!(head(w_line.lines().next().unwrap()), head(n_line));
}
