//! Real collectors as test peers (nfcapd, sfacctd): start one on a loopback
//! port, wait until it holds the port, let it drain its socket, stop it the way
//! it flushes its output, and read its totals.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::run_ok;

/// A peer process on a UDP port of 127.0.0.1; killed if a test panics before `stop`.
pub struct Peer {
    name: &'static str,
    child: Child,
}

impl Peer {
    /// Spawns `cmd` (output discarded) and waits until something holds `port`:
    /// these daemons have no readiness signal.
    pub fn start(name: &'static str, cmd: &mut Command, port: u16) -> Peer {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let peer = Peer { name, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "{name} did not bind port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        peer
    }

    /// Sends `signal` (e.g. "TERM", "INT": whichever makes the peer flush its
    /// output on the way out) and waits for it to exit.
    pub fn stop(mut self, signal: &str) {
        run_ok(Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until the receiver has read everything queued on its UDP socket
/// (rx_queue 0 in /proc/net/udp), so stopping it loses nothing; returns the
/// socket's drop counter (datagrams the kernel discarded: a receiver too slow).
pub fn wait_drained(port: u16) -> u64 {
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

/// nfcapd writing into `dir`, listening on 127.0.0.1:`port` (v5, v9 and IPFIX).
/// Stop it with `stop("TERM")`: it flushes and renames its file on the way out.
pub fn start_nfcapd(dir: &Path, port: u16) -> Peer {
    let mut cmd = Command::new("nfcapd");
    cmd.args(["-w", dir.to_str().unwrap(), "-S", "0", "-t", "60", "-b", "127.0.0.1"]).args([
        "-p",
        &port.to_string(),
        "-B",
        "67108864",
    ]);
    Peer::start("nfcapd", &mut cmd, port)
}

/// `nfdump -I` totals over `dir`: (flows, packets, bytes).
pub fn nfdump_totals(dir: &Path) -> (u64, u64, u64) {
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

/// sfacctd on 127.0.0.1:`port`, renormalizing by the sampling rate, whose print
/// plugin writes per-5-tuple CSV totals to `dir`/out.csv when stopped with
/// `stop("INT")` (it ignores SIGTERM in the foreground).
pub fn start_sfacctd(dir: &Path, port: u16) -> Peer {
    let conf = dir.join("sfacctd.conf");
    let csv = dir.join("out.csv");
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\nsfacctd_ip: 127.0.0.1\nsfacctd_port: {port}\nsfacctd_renormalize: true\n\
             sfacctd_pipe_size: 4194304\nplugins: print\naggregate: src_host, dst_host, src_port, dst_port, proto\n\
             print_output: csv\nprint_output_file: {}\nprint_refresh_time: 3600\n",
            csv.display()
        ),
    )
    .unwrap();
    Peer::start("sfacctd", Command::new("sfacctd").arg("-f").arg(&conf), port)
}

/// (packets, bytes) summed over sfacctd's print plugin CSV (PACKETS, BYTES are the last two columns).
pub fn sfacctd_csv_totals(path: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(path).expect("sfacctd wrote no CSV");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("CSV header").split(',').collect();
    assert_eq!(&head[head.len() - 2..], ["PACKETS", "BYTES"], "{head:?}");
    lines.fold((0, 0), |(p, b), l| {
        let cols: Vec<&str> = l.split(',').collect();
        (p + cols[cols.len() - 2].parse::<u64>().unwrap(), b + cols[cols.len() - 1].parse::<u64>().unwrap())
    })
}
