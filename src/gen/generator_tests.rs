//! The send loop with a tiny test-only encoder (the real ones live in
//! `crate::wire` and are checked against tshark and nfdump in tests/gen_*.rs).

use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};

use super::*;
use crate::gen::Scenario;
use crate::pcap::CaptureReader;

/// Datagram: "TE", flow count (u8), sequence (u32), export time (u64), then per
/// flow packets/sampling (u32) and bytes/sampling (u64). Every third datagram
/// takes one flow fewer than offered, like a template-carrying v9 datagram.
struct TestEncoder {
    max: usize,
    sampling: u64,
    seq: u32,
}

impl FlowEncoder for TestEncoder {
    fn protocol(&self) -> FlowSource {
        FlowSource::NetflowV9
    }
    fn max_flows_per_datagram(&self) -> usize {
        self.max
    }
    fn encode(&mut self, flows: &[Flow], now_ms: u64, out: &mut Vec<u8>) -> usize {
        let mut n = flows.len().min(self.max);
        if self.seq.is_multiple_of(3) && n > 1 {
            n -= 1;
        }
        out.clear();
        out.extend_from_slice(b"TE");
        out.push(n as u8);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&now_ms.to_be_bytes());
        for f in &flows[..n] {
            out.extend_from_slice(&((f.packets / self.sampling) as u32).to_be_bytes());
            out.extend_from_slice(&(f.bytes / self.sampling).to_be_bytes());
        }
        self.seq += 1;
        n
    }
}

fn test_factory(_: u32, _: FlowSource, cfg: EncoderConfig) -> Box<dyn FlowEncoder> {
    Box::new(TestEncoder { max: 6, sampling: cfg.sampling as u64, seq: 0 })
}

/// (flows, packets, bytes) a collector would count from one test datagram.
fn decode(d: &[u8], sampling: u64) -> (u64, u64, u64) {
    assert_eq!(&d[..2], b"TE");
    let n = d[2] as usize;
    assert_eq!(d.len(), 15 + 12 * n);
    let (mut p, mut b) = (0, 0);
    for r in d[15..].chunks(12) {
        p += u32::from_be_bytes(r[..4].try_into().unwrap()) as u64 * sampling;
        b += u64::from_be_bytes(r[4..].try_into().unwrap()) * sampling;
    }
    (n as u64, p, b)
}

fn run(cfg: GenConfig) -> Totals {
    let stop = AtomicBool::new(false);
    Generator::with_encoders(cfg, &test_factory).unwrap().run(&stop, |_| {}).unwrap()
}

#[test]
fn udp_totals_match_what_arrived_per_exporter() {
    let sink = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = sink.set_recv_buffer_size(8 << 20);
    sink.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    let sink: UdpSocket = sink.into();
    sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let cfg = GenConfig {
        target: sink.local_addr().unwrap(),
        count: Some(300),
        exporters: 3,
        sampling: 10,
        ipv6_fraction: 0.2,
        seed: Some(5),
        batch: 10,
        ..GenConfig::default()
    };
    let totals = run(cfg);
    assert_eq!(totals.datagrams, 300);
    assert_eq!(totals.exporters.len(), 3);

    let mut seen: HashMap<IpAddr, (u64, u64, u64, u64)> = HashMap::new();
    let mut buf = [0u8; 2048];
    for _ in 0..300 {
        let (len, from) = sink.recv_from(&mut buf).unwrap();
        let (f, p, b) = decode(&buf[..len], 10);
        let e = seen.entry(from.ip()).or_default();
        *e = (e.0 + 1, e.1 + f, e.2 + p, e.3 + b);
    }
    for e in &totals.exporters {
        let got = seen[&e.address.parse::<IpAddr>().unwrap()];
        assert_eq!(got, (e.datagrams, e.flows, e.packets, e.bytes), "exporter {}", e.address);
        assert_eq!(e.datagrams, 100, "exporters take turns");
    }
    let addrs: Vec<&str> = totals.exporters.iter().map(|e| e.address.as_str()).collect();
    assert_eq!(addrs, ["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    // Every third datagram took 5 flows, the others 6.
    assert_eq!(totals.flows, 3 * (34 * 5 + 66 * 6));
    assert_eq!(totals.packets % 10, 0);
}

fn capture(seed: u64, path: &std::path::Path) -> Totals {
    run(GenConfig {
        count: Some(120),
        exporters: 2,
        seed: Some(seed),
        pcap: Some(path.to_path_buf()),
        scenario: Scenario::Mix,
        rate: Some(Rate::Datagrams(50.0)),
        ..GenConfig::default()
    })
}

#[test]
fn captures_are_reproducible_and_match_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"), dir.path().join("c.pcap"));
    let ta = capture(11, &a);
    capture(11, &b);
    capture(12, &c);
    let (ba, bb, bc) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), std::fs::read(&c).unwrap());
    assert_eq!(ba, bb, "same seed, same bytes");
    assert_ne!(ba, bc, "different seed, different bytes");

    let mut reader = CaptureReader::new(&ba[..]).unwrap();
    let (mut n, mut flows, mut packets, mut bytes) = (0u64, 0, 0, 0);
    let mut times = Vec::new();
    while let Some(d) = reader.next_datagram().unwrap() {
        assert_eq!(d.dst, GenConfig::default().target);
        let (f, p, b) = decode(&d.payload, 1);
        (n, flows, packets, bytes) = (n + 1, flows + f, packets + p, bytes + b);
        times.push(d.time_ms);
    }
    assert_eq!((n, flows, packets, bytes), (ta.datagrams, ta.flows, ta.packets, ta.bytes));
    // Virtual clock: 50 datagrams/s from 2026-01-01, 20 ms apart.
    assert_eq!(times[0], DEFAULT_SEEDED_START_MS);
    assert_eq!(times[119], DEFAULT_SEEDED_START_MS + 119 * 20);
    assert!((ta.elapsed_s - 2.4).abs() < 1e-9 && (ta.rate - 50.0).abs() < 1e-6);
}

#[test]
fn capture_duration_follows_the_export_clock() {
    let dir = tempfile::tempdir().unwrap();
    let t = run(GenConfig {
        duration: Some(Duration::from_secs(3)),
        rate: Some(Rate::Datagrams(200.0)),
        seed: Some(1),
        pcap: Some(dir.path().join("d.pcap")),
        ..GenConfig::default()
    });
    assert_eq!(t.datagrams, 600);

    // A flow rate: the clock advances per flow (6 or 5 per test datagram).
    let t = run(GenConfig {
        duration: Some(Duration::from_secs(2)),
        rate: Some(Rate::Flows(1_100.0)),
        seed: Some(1),
        pcap: Some(dir.path().join("f.pcap")),
        ..GenConfig::default()
    });
    assert!((2_200..2_206).contains(&t.flows), "{} flows", t.flows);
    assert!((t.elapsed_s - 2.0).abs() < 0.01, "{}", t.elapsed_s);
}

#[test]
fn stop_flag_ends_the_run() {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = GenConfig { target: sink.local_addr().unwrap(), ..GenConfig::default() };
    let stop = AtomicBool::new(true);
    let t = Generator::with_encoders(cfg, &test_factory).unwrap().run(&stop, |_| {}).unwrap();
    assert_eq!(t.datagrams, 0);
}

#[test]
fn progress_is_reported_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GenConfig {
        count: Some(5_000),
        pcap: Some(dir.path().join("p.pcap")),
        progress_every: Duration::ZERO,
        ..GenConfig::default()
    };
    let stop = AtomicBool::new(false);
    let mut calls = 0u64;
    let mut last = 0u64;
    let t = Generator::with_encoders(cfg, &test_factory)
        .unwrap()
        .run(&stop, |t| {
            assert!(t.datagrams >= last);
            last = t.datagrams;
            calls += 1;
        })
        .unwrap();
    assert!(calls > 10 && last <= t.datagrams && t.datagrams == 5_000);
}

#[test]
fn remote_target_refused() {
    let cfg = GenConfig { target: "192.0.2.7:2055".parse().unwrap(), ..GenConfig::default() };
    let err = Generator::with_encoders(cfg, &test_factory).err().unwrap().to_string();
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn replayed_records_send_what_encoding_every_flow_sends() {
    // `new` replays the pool from pre-encoded records; the wire encoders given
    // as a factory encode every flow: same capture, same totals.
    let dir = tempfile::tempdir().unwrap();
    let wire: &EncoderFactory = &|_, protocol, ecfg| crate::wire::encoder(protocol, ecfg);
    for (protocol, ipv6, sampling) in [
        (FlowSource::NetflowV5, 0.0, 1),
        (FlowSource::NetflowV9, 0.3, 10),
        (FlowSource::Ipfix, 0.5, 1),
        (FlowSource::Sflow, 0.2, 64),
    ] {
        let cfg = |name: &str| GenConfig {
            protocol,
            ipv6_fraction: ipv6,
            sampling,
            exporters: 3,
            template_every: 4,
            seed: Some(21),
            count: Some(700),
            batch: 5,
            pool_flows: 800,
            pcap: Some(dir.path().join(name)),
            ..GenConfig::default()
        };
        let stop = AtomicBool::new(false);
        let run =
            |g: Generator| Totals { cpu_s: 0.0, target: String::new(), ..g.run(&stop, |_| {}).unwrap() };
        let replayed = run(Generator::new(cfg("replayed.pcap")).unwrap());
        let encoded = run(Generator::with_encoders(cfg("encoded.pcap"), wire).unwrap());
        assert_eq!(replayed, encoded, "{protocol:?}: totals");
        let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        assert!(read("replayed.pcap") == read("encoded.pcap"), "{protocol:?}: captures differ");
        assert!(replayed.flows > 700 * 4, "{protocol:?}: {} flows", replayed.flows);
    }
}
