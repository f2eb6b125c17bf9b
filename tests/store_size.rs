//! Stored bytes per flow: our segments against nfcapd's LZ4 files (nfdump 1.7 `nfcapd -y`)
//! holding the same 60,000 NetFlow v5 flows. Ours must not be larger.

mod common;
mod v5_support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use rand::{rngs::SmallRng, Rng, SeedableRng};
use wvnr::flow::Flow;
use wvnr::store::{Store, StoreConfig};

/// Traffic-like flows: a few thousand hosts, well-known and ephemeral ports, heavy-tailed sizes.
pub fn realistic_flows(n: usize, start_ms: u64, seed: u64) -> Vec<Flow> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let services = [80u16, 443, 443, 443, 53, 53, 22, 25, 123, 993, 3389, 8080];
    (0..n)
        .map(|i| {
            let received_ms = start_ms + (i as u64 * 1000) / 1000; // 1000 flows/s
            let protocol = match rng.gen_range(0..10) {
                0..=5 => 6,
                6..=8 => 17,
                _ => 1,
            };
            let (src_port, dst_port) = match protocol {
                1 => (0, [0x0800u16, 0x0000, 0x0303][rng.gen_range(0..3)]),
                _ if rng.gen_bool(0.8) => {
                    (rng.gen_range(32768..61000), services[rng.gen_range(0..services.len())])
                }
                _ => (rng.gen_range(1024..65535), rng.gen_range(1024..65535)),
            };
            let packets: u64 = 1 + (rng.gen::<f64>().powi(4) * 5000.0) as u64;
            let bytes = packets * rng.gen_range(40..1500);
            let duration = if packets == 1 { 0 } else { rng.gen_range(0..60_000) };
            let last_ms = received_ms - rng.gen_range(0..2000);
            Flow {
                exporter: IpAddr::V4(Ipv4Addr::LOCALHOST),
                received_ms,
                first_ms: last_ms - duration,
                last_ms,
                src_addr: IpAddr::V4(Ipv4Addr::new(10, 1, rng.gen_range(0..16), rng.gen())),
                dst_addr: IpAddr::V4(Ipv4Addr::new(
                    [93u8, 151, 172, 185][rng.gen_range(0..4)],
                    rng.gen_range(0..8),
                    rng.gen(),
                    rng.gen(),
                )),
                src_port,
                dst_port,
                protocol,
                tcp_flags: if protocol == 6 {
                    [0x1b, 0x02, 0x12, 0x18, 0x11][rng.gen_range(0..5)]
                } else {
                    0
                },
                in_if: rng.gen_range(1..4),
                out_if: rng.gen_range(1..4),
                packets,
                bytes,
                ..Flow::EMPTY
            }
        })
        .collect()
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        total += if p.is_dir() { dir_bytes(&p) } else { std::fs::metadata(&p).unwrap().len() };
    }
    total
}

#[test]
fn stored_bytes_per_flow_not_above_nfcapd_lz4() {
    if !common::require_tool("nfcapd") || !common::require_tool("nfdump") {
        return;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let n = 60_000;
    let flows = realistic_flows(n, now - 60_000, 7);
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("wvnr"), tmp.path().join("nfcapd"));
    std::fs::create_dir_all(&theirs).unwrap();
    v5_support::run_nfcapd(&theirs, &v5_support::v5_datagrams(&flows), &["-y"]);
    let got = common::run_ok(Command::new("nfdump").arg("-R").arg(&theirs).args(["-o", "null"]));
    let line = got.lines().find(|l| l.starts_with("Summary:")).unwrap();
    let nf_flows: u64 = line["Summary: total flows: ".len()..].split(',').next().unwrap().parse().unwrap();
    assert!(nf_flows as f64 >= n as f64 * 0.95, "nfcapd received only {nf_flows} of {n}");

    // Make sure the oracle really is LZ4-compressed.
    for e in std::fs::read_dir(&theirs).unwrap().flatten() {
        let v = common::run_ok(Command::new("nfdump").arg("-v").arg(e.path()));
        assert!(v.contains("lz4 compressed"), "{}: {v}", e.path().display());
    }
    let store = Store::open(&ours, StoreConfig::default()).unwrap();
    let mut w = store.writer(0).unwrap();
    for (i, f) in flows.iter().enumerate() {
        w.append(f).unwrap();
        // The collector flushes every second: at 1000 flows/s that is a block per 1000 flows.
        if i % 1000 == 999 {
            w.flush().unwrap();
        }
    }
    w.finish().unwrap();
    let ours_per_flow = dir_bytes(&ours.join("flows")) as f64 / n as f64;
    let theirs_per_flow = dir_bytes(&theirs) as f64 / nf_flows as f64;
    eprintln!("stored bytes/flow: wvnr {ours_per_flow:.1}, nfcapd -y (lz4) {theirs_per_flow:.1}");
    assert!(
        ours_per_flow <= theirs_per_flow,
        "wvnr {ours_per_flow:.1} > nfcapd {theirs_per_flow:.1} bytes/flow"
    );
}
