//! sfacctd (pmacct) receives the sFlow `wvnr gen` sends and agrees with its
//! totals: the same number of samples, the same sampling-corrected packets.
//! Bytes differ by definition: `Flow::bytes` is layer 3 (the sampled IP
//! length), sfacctd counts the sampled frame (Ethernet, VLAN tag, FCS), so the
//! check bounds the difference by 14–22 bytes of framing per sampled packet.

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

struct Sfacctd {
    child: Child,
}

impl Sfacctd {
    fn start(dir: &Path, port: u16) -> Sfacctd {
        let conf = dir.join("sfacctd.conf");
        let csv = dir.join("out.csv");
        std::fs::write(
            &conf,
            format!(
                "daemonize: false\nsfacctd_ip: 127.0.0.1\nsfacctd_port: {port}\nsfacctd_renormalize: true\nsfacctd_pipe_size: 4194304\n\
                 plugins: print\naggregate: src_host, dst_host, src_port, dst_port, proto\n\
                 print_output: csv\nprint_output_file: {}\nprint_refresh_time: 3600\n",
                csv.display()
            ),
        )
        .unwrap();
        let child = Command::new("sfacctd")
            .arg("-f")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sfacctd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "sfacctd did not bind port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sfacctd { child }
    }

    /// SIGINT (it ignores SIGTERM in the foreground): the print plugin writes its cache and exits.
    fn stop(mut self) {
        // Let the plugin drain what the core already received.
        std::thread::sleep(Duration::from_millis(500));
        run_ok(Command::new("kill").args(["-INT", &self.child.id().to_string()]));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "sfacctd did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sfacctd {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// (packets, bytes) summed over the print plugin's CSV (PACKETS, BYTES are the last two columns).
fn csv_totals(path: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(path).expect("sfacctd wrote no CSV");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("CSV header").split(',').collect();
    assert_eq!(&head[head.len() - 2..], ["PACKETS", "BYTES"], "{head:?}");
    lines.fold((0, 0), |(p, b), l| {
        let cols: Vec<&str> = l.split(',').collect();
        (p + cols[cols.len() - 2].parse::<u64>().unwrap(), b + cols[cols.len() - 1].parse::<u64>().unwrap())
    })
}

fn check(sampling: u64, extra: &[&str]) {
    if !require_tool("sfacctd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let sfacctd = Sfacctd::start(dir.path(), port);
    let out = run_ok(
        Command::new(wvnr_bin())
            .args(["gen", "--protocol", "sflow", "--target", &format!("127.0.0.1:{port}")])
            .args(["--rate", "1000", "--count", "600", "--exporters", "2", "--json"])
            .args(["--sampling", &sampling.to_string()])
            .args(extra),
    );
    let dropped = wait_drained(port);
    sfacctd.stop();
    assert_eq!(dropped, 0, "the kernel dropped datagrams sfacctd did not read in time (machine overloaded?)");
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (flows, packets, bytes) =
        (t["flows"].as_u64().unwrap(), t["packets"].as_u64().unwrap(), t["bytes"].as_u64().unwrap());
    let (their_packets, their_bytes) = csv_totals(&dir.path().join("out.csv"));
    assert_eq!(their_packets, packets, "packets (renormalized)");
    assert_eq!(their_packets / sampling, flows, "samples");
    let framing = their_bytes.checked_sub(bytes).expect("sfacctd counts frames, at least the IP bytes");
    assert!(
        (14 * packets..=22 * packets).contains(&framing),
        "bytes: ours {bytes} (layer 3), sfacctd {their_bytes} (frames)"
    );
}

#[test]
fn sflow_totals_match_sfacctd() {
    check(1, &[]);
}

#[test]
fn sampled_sflow_totals_match_sfacctd() {
    check(512, &["--ipv6", "0.3"]);
}
