//! `wvnr gen` as a user runs it: loopback-only rule, reproducible captures,
//! pacing, the JSON totals. (Peers check the bytes in gen_tshark, gen_nfdump,
//! gen_sfacctd.)

mod common;

use std::net::UdpSocket;
use std::process::Command;

use common::{run_ok, wvnr_bin};

fn gen(args: &[&str]) -> Command {
    let mut cmd = Command::new(wvnr_bin());
    cmd.arg("gen").args(args);
    cmd
}

fn json(mut cmd: Command) -> serde_json::Value {
    serde_json::from_str(&run_ok(&mut cmd)).expect("one JSON object")
}

#[test]
fn target_outside_loopback_is_refused() {
    for target in ["192.0.2.1:2055", "[2001:db8::1]:2055", "8.8.8.8:53"] {
        let out = gen(&["--target", target, "--count", "1"]).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("loopback") && err.contains("--allow-remote"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn same_seed_same_capture_different_seed_different() {
    let dir = tempfile::tempdir().unwrap();
    for protocol in ["v5", "v9", "ipfix", "sflow"] {
        let path = |name: &str| dir.path().join(format!("{protocol}-{name}.pcap"));
        let v6 = if protocol == "v5" { "0" } else { "0.3" };
        for (name, seed) in [("a", "7"), ("b", "7"), ("c", "8")] {
            let file = path(name);
            let t = json(gen(&[
                "--protocol",
                protocol,
                "--seed",
                seed,
                "--count",
                "150",
                "--exporters",
                "3",
                "--ipv6",
                v6,
                "--sampling",
                "16",
                "--pcap",
                file.to_str().unwrap(),
                "--json",
            ]));
            assert_eq!(t["datagrams"], 150);
        }
        let (a, b, c) = (
            std::fs::read(path("a")).unwrap(),
            std::fs::read(path("b")).unwrap(),
            std::fs::read(path("c")).unwrap(),
        );
        assert!(a.len() > 150 * 100, "{protocol}: capture too small");
        assert_eq!(a, b, "{protocol}: same seed must give identical captures");
        assert_ne!(a, c, "{protocol}: another seed must give another capture");
    }
}

#[test]
fn json_totals_add_up_per_exporter() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = sink.local_addr().unwrap().to_string();
    let t = json(gen(&[
        "--target",
        &target,
        "--protocol",
        "ipfix",
        "--count",
        "400",
        "--exporters",
        "4",
        "--json",
    ]));
    assert_eq!((t["protocol"].as_str(), t["datagrams"].as_u64()), (Some("ipfix"), Some(400)));
    let exporters = t["exporters"].as_array().unwrap();
    assert_eq!(exporters.len(), 4);
    for key in ["datagrams", "flows", "packets", "bytes"] {
        let sum: u64 = exporters.iter().map(|e| e[key].as_u64().unwrap()).sum();
        assert_eq!(sum, t[key].as_u64().unwrap(), "{key}");
    }
    let addrs: Vec<&str> = exporters.iter().map(|e| e["address"].as_str().unwrap()).collect();
    assert_eq!(addrs, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]);
    assert!(t["elapsed_s"].as_f64().unwrap() > 0.0 && t["rate"].as_f64().unwrap() > 0.0);
    assert!(t["flows"].as_u64().unwrap() >= 400);
}

/// Sizes of the datagrams a reading sink receives while `args` run, in order,
/// and the generator's JSON totals.
fn received_sizes(args: &[&str]) -> (Vec<usize>, serde_json::Value) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
    // Room for the whole run (the kernel caps it at rmem_max), so a reader that is
    // not scheduled for a while on a busy machine loses nothing.
    let _ = socket2::SockRef::from(&sink).set_recv_buffer_size(16 << 20);
    let target = sink.local_addr().unwrap().to_string();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        let mut sizes = Vec::new();
        // Until a second passes with nothing (the generator has finished).
        while let Ok(n) = sink.recv(&mut buf) {
            sizes.push(n);
        }
        sizes
    });
    let mut all = vec!["--target", target.as_str(), "--json"];
    all.extend_from_slice(args);
    let t = json(gen(&all));
    (reader.join().unwrap(), t)
}

#[test]
fn gso_and_no_gso_deliver_the_same_datagrams() {
    // Runs of equal-sized datagrams go out as one UDP GSO message; the kernel cuts
    // them apart again. Same seed: the same datagram sizes arrive, in order, either way.
    for protocol in ["v9", "sflow"] {
        let args =
            ["--protocol", protocol, "--ipv6", "0.3", "--count", "3000", "--rate", "10000", "--seed", "5"];
        let (with, t) = received_sizes(&args);
        assert_eq!(t["gso"], true, "{protocol}: loopback takes GSO messages");
        let (without, u) = received_sizes(&[&args[..], &["--no-gso"]].concat());
        assert_eq!(u["gso"], false);
        assert_eq!(with.len(), 3000, "{protocol}: every datagram arrived on its own");
        assert_eq!(with.iter().sum::<usize>() as u64, t["payload_bytes"].as_u64().unwrap());
        assert_eq!(with, without, "{protocol}");
        assert!(with.windows(2).any(|w| w[0] != w[1]), "{protocol}: varied sizes, or the test shows little");
    }
}

#[test]
fn pacing_holds_the_asked_rate() {
    // A bound on pacing correctness, not on speed: 2000/s for 2 s, ±20%.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = sink.local_addr().unwrap().to_string();
    let t =
        json(gen(&["--target", &target, "--protocol", "v5", "--rate", "2000", "--duration", "2", "--json"]));
    let sent = t["datagrams"].as_u64().unwrap();
    assert!((3_200..=4_800).contains(&sent), "sent {sent} datagrams in 2 s at 2000/s");
    let rate = t["rate"].as_f64().unwrap();
    assert!((1_600.0..=2_400.0).contains(&rate), "rate {rate}");
}

#[test]
fn flow_rate_paces_flows() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = sink.local_addr().unwrap().to_string();
    let t = json(gen(&[
        "--target",
        &target,
        "--protocol",
        "v9",
        "--flow-rate",
        "20000",
        "--duration",
        "1",
        "--json",
    ]));
    let flows = t["flows"].as_u64().unwrap();
    assert!((16_000..=24_000).contains(&flows), "{flows} flows in 1 s at 20000/s");
}

#[test]
fn backfill_writes_into_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let t = json(gen(&[
        "--backfill",
        "2h",
        "--data",
        dir.path().to_str().unwrap(),
        "--flow-rate",
        "5",
        "--exporters",
        "2",
        "--start",
        "2026-01-01T10:00:00Z",
        "--seed",
        "3",
        "--json",
    ]));
    let flows = t["flows"].as_u64().unwrap();
    // 5/s over 2 h, 10:00-12:00 UTC: the daily curve is a little above its mean there.
    assert!((30_000..=60_000).contains(&flows), "{flows}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_some(), "nothing written");
}
