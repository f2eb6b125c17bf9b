//! NetFlow v5 by hand (24-byte header, 48-byte records) and a real nfcapd to send it to:
//! the oracle side of the store and query comparisons.
#![allow(dead_code)]

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};

use wvnr::flow::Flow;

#[path = "../common/mod.rs"]
mod common;

/// NetFlow v5 datagrams (header + up to 30 48-byte records) for `flows`.
pub fn v5_datagrams(flows: &[Flow]) -> Vec<Vec<u8>> {
    flows
        .chunks(30)
        .enumerate()
        .map(|(n, chunk)| {
            // Header time = the chunk's first received time; First/Last are uptime-relative.
            let hdr_ms = chunk[0].received_ms / 1000 * 1000;
            let unix_secs = (hdr_ms / 1000) as u32;
            const UPTIME: u64 = 1_000_000_000;
            let rel = |t: u64| (UPTIME - hdr_ms.saturating_sub(t).min(UPTIME)) as u32;
            let mut d = Vec::with_capacity(24 + 48 * chunk.len());
            d.extend_from_slice(&5u16.to_be_bytes());
            d.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            d.extend_from_slice(&(UPTIME as u32).to_be_bytes()); // sys uptime ms
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
                d.extend_from_slice(&rel(f.first_ms).to_be_bytes()); // first (uptime ms)
                d.extend_from_slice(&rel(f.last_ms).to_be_bytes()); // last
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

/// Runs nfcapd (with `extra` arguments) on a free port, sends `datagrams`, stops it with SIGTERM.
pub fn run_nfcapd(dir: &Path, datagrams: &[Vec<u8>], extra: &[&str]) {
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
        .args(["-B", "8388608"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nfcapd");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (i, d) in datagrams.iter().enumerate() {
        sock.send_to(d, ("127.0.0.1", port)).unwrap();
        if i % 8 == 7 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    common::run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    child.wait().unwrap();
}
