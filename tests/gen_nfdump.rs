//! nfcapd receives what `wvnr gen` sends; nfdump's totals equal the
//! generator's printed totals exactly (v5, v9, IPFIX).
//!
//! nfcapd 1.7.1 does not apply the announced sampling interval (v5 header,
//! v9/IPFIX sampler options): it stores the raw exported counts. The sampled
//! case therefore checks raw × interval = the generator's totals.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_udp_port, require_tool, run_ok, wvnr_bin};

/// Waits until the receiver has read everything queued on its UDP socket
/// (rx_queue 0 in /proc/net/udp), so stopping it loses nothing; returns the
/// socket's drop counter (datagrams the kernel discarded: a receiver too slow).
fn wait_drained(port: u16) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let suffix = format!(":{port:04X}");
    loop {
        let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
        let row = table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|c| c[1].ends_with(&suffix));
        let Some(cols) = row else { return 0 };
        let queued = u64::from_str_radix(cols[4].split(':').nth(1).unwrap_or("0"), 16).unwrap_or(0);
        if queued == 0 || Instant::now() > deadline {
            return cols.last().and_then(|d| d.parse().ok()).unwrap_or(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Nfcapd {
    child: Child,
}

impl Nfcapd {
    fn start(dir: &Path, port: u16) -> Nfcapd {
        let child = Command::new("nfcapd")
            .args(["-w", dir.to_str().unwrap(), "-S", "0", "-t", "60", "-b", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-B", "67108864"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nfcapd");
        // nfcapd has no readiness signal: wait until its port is taken.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "nfcapd did not bind port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nfcapd { child }
    }

    /// SIGTERM, then wait: nfcapd flushes and renames its file on the way out.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        run_ok(Command::new("kill").args(["-TERM", &pid]));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "nfcapd did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `nfdump -I` totals: (flows, packets, bytes).
fn nfdump_totals(dir: &Path) -> (u64, u64, u64) {
    let out = run_ok(Command::new("nfdump").args(["-R", dir.to_str().unwrap(), "-I"]));
    let field = |name: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
            .unwrap_or_else(|| panic!("no {name} in nfdump -I output:\n{out}"))
            .trim()
            .parse()
            .unwrap()
    };
    (field("Flows"), field("Packets"), field("Bytes"))
}

fn check(protocol: &str, sampling: u64, extra: &[&str]) {
    if !require_tool("nfcapd") || !require_tool("nfdump") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let nfcapd = Nfcapd::start(dir.path(), port);
    let target = format!("127.0.0.1:{port}");
    let out = run_ok(
        Command::new(wvnr_bin())
            .args(["gen", "--target", &target, "--protocol", protocol, "--rate", "5000", "--count", "1500"])
            .args(["--exporters", "3", "--sampling", &sampling.to_string(), "--json"])
            .args(extra),
    );
    let dropped = wait_drained(port);
    nfcapd.stop();
    assert_eq!(dropped, 0, "the kernel dropped datagrams nfcapd did not read in time (machine overloaded?)");
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (flows, packets, bytes) = nfdump_totals(dir.path());
    assert_eq!(t["datagrams"], 1500);
    assert_eq!(flows, t["flows"].as_u64().unwrap(), "{protocol}: flows");
    assert_eq!(packets * sampling, t["packets"].as_u64().unwrap(), "{protocol}: packets");
    assert_eq!(bytes * sampling, t["bytes"].as_u64().unwrap(), "{protocol}: bytes");
}

#[test]
fn netflow_v5_totals_match_nfdump() {
    check("v5", 1, &[]);
}

#[test]
fn netflow_v9_totals_match_nfdump() {
    check("v9", 1, &["--ipv6", "0.3", "--scenario", "mix"]);
}

#[test]
fn ipfix_totals_match_nfdump() {
    check("ipfix", 1, &["--ipv6", "0.3", "--template-every", "5"]);
}

#[test]
fn sampled_v9_raw_counts_match_nfdump() {
    check("v9", 100, &["--scenario", "ddos"]);
}
