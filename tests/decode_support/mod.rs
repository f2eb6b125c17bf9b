//! Shared by the decode_* tests: nfcapd/nfdump as the oracle.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wvnr::flow::Counters;

use super::common;

struct Nfcapd {
    child: Child,
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Totals nfdump reads back from `dir` (`nfdump -R DIR -I`).
fn nfdump_totals(dir: &std::path::Path) -> Counters {
    let out = common::run_ok(Command::new("nfdump").arg("-R").arg(dir).arg("-I"));
    let field = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse::<u64>().unwrap()))
            .unwrap_or_else(|| panic!("no {name} in nfdump -I output:\n{out}"))
    };
    Counters { flows: field("Flows:"), packets: field("Packets:"), bytes: field("Bytes:") }
}

/// Sends `datagrams` to a fresh nfcapd, stops it (which writes its file) and
/// returns nfdump's totals.
pub fn nfcapd_totals(datagrams: &[Vec<u8>]) -> Counters {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_udp_port();
    // NFCAPD_DEBUG=1 shows nfcapd's own view of each record (-v -v -E).
    let debug = std::env::var_os("NFCAPD_DEBUG").is_some();
    let mut cmd = Command::new("nfcapd");
    cmd.arg("-w").arg(dir.path()).args(["-S", "0", "-t", "60", "-b", "127.0.0.1", "-p", &port.to_string()]);
    if debug {
        cmd.args(["-v", "-v", "-E"]);
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let child = cmd.spawn().expect("start nfcapd");
    let mut capd = Nfcapd { child };
    // Wait until nfcapd has bound its port.
    let deadline = Instant::now() + Duration::from_secs(10);
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "nfcapd did not bind port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in datagrams {
        sock.send_to(d, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY-free: SIGTERM through kill(1) makes nfcapd flush and close its file.
    let pid = capd.child.id().to_string();
    common::run_ok(Command::new("kill").args(["-TERM", &pid]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while capd.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "nfcapd did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    nfdump_totals(dir.path())
}

/// The UDP payloads of a capture, in order.
pub fn capture_payloads(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut r = wvnr::pcap::CaptureReader::open(path).unwrap();
    let mut v = Vec::new();
    while let Some(d) = r.next_datagram().unwrap() {
        v.push(d.payload);
    }
    v
}

/// `wvnr decode FILE --summary -o json ARGS...`, parsed.
pub fn wvnr_summary(path: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = common::run_ok(
        Command::new(common::wvnr_bin()).arg("decode").arg(path).args(["--summary", "-o", "json"]).args(args),
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("summary is not one JSON object ({e}):\n{out}"))
}

/// The (flows, packets, bytes) of a summary.
pub fn summary_totals(v: &serde_json::Value) -> Counters {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"));
    Counters { flows: n("flows"), packets: n("packets"), bytes: n("bytes") }
}
