//! `wvnr query` against nfdump on the same flows: written to our store, and sent as
//! NetFlow v5 to a real nfcapd whose files nfdump reads. Counts and keys must agree
//! (not times: nfcapd takes them from the v5 header).

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};

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

/// NetFlow v5 datagrams (header + up to 30 48-byte records) for `flows`.
fn v5_datagrams(flows: &[Flow]) -> Vec<Vec<u8>> {
    let unix_secs = (flows[0].received_ms / 1000) as u32;
    flows
        .chunks(30)
        .enumerate()
        .map(|(n, chunk)| {
            let mut d = Vec::with_capacity(24 + 48 * chunk.len());
            d.extend_from_slice(&5u16.to_be_bytes());
            d.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            d.extend_from_slice(&100_000u32.to_be_bytes()); // sys uptime ms
            d.extend_from_slice(&unix_secs.to_be_bytes());
            d.extend_from_slice(&0u32.to_be_bytes());
            d.extend_from_slice(&((n * 30) as u32).to_be_bytes()); // flow sequence
            d.extend_from_slice(&[0, 0, 0, 0]); // engine type, id, sampling
            for f in chunk {
                let (IpAddr::V4(s), IpAddr::V4(t)) = (f.src_addr, f.dst_addr) else {
                    panic!("v5 is IPv4 only")
                };
                d.extend_from_slice(&s.octets());
                d.extend_from_slice(&t.octets());
                d.extend_from_slice(&[0; 4]); // next hop
                d.extend_from_slice(&(f.in_if as u16).to_be_bytes());
                d.extend_from_slice(&(f.out_if as u16).to_be_bytes());
                d.extend_from_slice(&(f.packets as u32).to_be_bytes());
                d.extend_from_slice(&(f.bytes as u32).to_be_bytes());
                d.extend_from_slice(&95_000u32.to_be_bytes()); // first (uptime ms)
                d.extend_from_slice(&99_000u32.to_be_bytes()); // last
                d.extend_from_slice(&f.src_port.to_be_bytes());
                d.extend_from_slice(&f.dst_port.to_be_bytes());
                d.extend_from_slice(&[0, f.tcp_flags, f.protocol, f.tos]);
                d.extend_from_slice(&[0; 4]); // src as, dst as
                d.extend_from_slice(&[0, 0, 0, 0]); // masks, pad
            }
            d
        })
        .collect()
}

fn run_nfcapd(dir: &Path, datagrams: &[Vec<u8>]) {
    let port = common::free_udp_port();
    let mut child = Command::new("nfcapd")
        .args([
            "-w",
            dir.to_str().unwrap(),
            "-S",
            "0",
            "-t",
            "60",
            "-b",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nfcapd");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in datagrams {
        sock.send_to(d, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    common::run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    child.wait().unwrap();
}

/// `val -> (flows, packets, bytes)` from nfdump-style stat CSV (columns 4..=9), and the
/// summary's (flows, bytes, packets).
fn parse_stat_csv(csv: &str) -> (BTreeMap<String, (u64, u64, u64)>, Vec<String>, (u64, u64, u64)) {
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
    run_nfcapd(&theirs, &v5_datagrams(&flows));

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
    let counts = |rows: &BTreeMap<String, (u64, u64, u64)>, order: &[String]| {
        order.iter().map(|k| rows[k].0).collect::<Vec<_>>()
    };
    assert_eq!(counts(&w_rows, &w_order), counts(&n_rows, &n_order));

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
