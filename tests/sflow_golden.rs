//! Golden sFlow capture (pmacctd's sfprobe export of a known traffic capture,
//! made by scripts/make-sflow-golden) decoded through the library API and
//! compared with what sfacctd counted; plus a live run against sfacctd.

mod common;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::{IpAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wvnr::decode::sflow::SflowDecoder;
use wvnr::decode::stats::DecodeStats;
use wvnr::flow::{proto, Counters, Flow, FlowSource};
use wvnr::pcap::CaptureReader;

const CAPTURE: &str = "sf-pmacctd.pcap";

/// Totals by (protocol, vlan), as sfacctd's print plugin aggregates them.
type ByKey = BTreeMap<(u8, u16), Counters>;

struct Decoded {
    decoder: SflowDecoder,
    flows: Vec<Flow>,
    stats: DecodeStats,
    datagrams: Vec<Vec<u8>>,
}

fn decode_capture() -> Decoded {
    let mut reader = CaptureReader::open(&common::data_file(CAPTURE)).unwrap();
    let mut dec = SflowDecoder::new(16);
    let mut stats = DecodeStats::default();
    let mut flows = Vec::new();
    let mut datagrams = Vec::new();
    while let Some(d) = reader.next_datagram().unwrap() {
        dec.decode(&d.payload, d.src.ip(), d.time_ms, None, &mut stats, &mut |f| flows.push(*f));
        datagrams.push(d.payload);
    }
    Decoded { decoder: dec, flows, stats, datagrams }
}

fn by_key(flows: &[Flow]) -> ByKey {
    let mut m = ByKey::new();
    for f in flows {
        m.entry((f.protocol, f.src_vlan)).or_default().add_flow(f);
    }
    m
}

/// Parses sf-pmacctd.expected: `flows N`, `packets N`, `bytes N`, `proto P vlan V packets N bytes N`.
fn expected() -> (Counters, ByKey) {
    let text = std::fs::read_to_string(common::data_file("sf-pmacctd.expected")).unwrap();
    let mut total = Counters::default();
    let mut m = ByKey::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[..] {
            ["flows", n] => total.flows = n.parse().unwrap(),
            ["packets", n] => total.packets = n.parse().unwrap(),
            ["bytes", n] => total.bytes = n.parse().unwrap(),
            ["proto", p, "vlan", v, "packets", n, "bytes", b] => {
                let c = Counters {
                    flows: n.parse().unwrap(),
                    packets: n.parse().unwrap(),
                    bytes: b.parse().unwrap(),
                };
                m.insert((p.parse().unwrap(), v.parse().unwrap()), c);
            }
            _ => panic!("bad expected line {line:?}"),
        }
    }
    (total, m)
}

#[test]
fn golden_capture_matches_sfacctd_totals() {
    let d = decode_capture();
    assert_eq!(d.stats.errors_total(), 0, "{:?}", d.stats.errors_json());
    assert_eq!(d.stats.bad_datagrams, 0);
    assert_eq!((d.stats.missing_datagrams, d.stats.missing_flows), (0, 0));
    assert_eq!(d.stats.datagrams, d.datagrams.len() as u64);

    let mut total = Counters::default();
    d.flows.iter().for_each(|f| total.add_flow(f));
    let (want_total, want) = expected();
    assert_eq!(total, want_total);
    assert_eq!(by_key(&d.flows), want);
    assert_eq!(d.stats.flows, want_total.flows);
    // pmacctd sent one generic interface counter sample along the way.
    let counters: Vec<_> = d.decoder.interfaces().collect();
    assert_eq!(counters.len(), 1);
    assert_eq!(counters[0].0, "127.0.0.1".parse::<IpAddr>().unwrap());
    let c = d.decoder.interface_counters(counters[0].0, counters[0].1.if_index).unwrap();
    assert_eq!(c, counters[0].1);
}

#[test]
fn golden_flows_carry_the_traffic_fields() {
    let d = decode_capture();
    let exporter: IpAddr = "127.0.0.1".parse().unwrap();
    for f in &d.flows {
        assert_eq!(
            (f.source, f.exporter, f.domain, f.sampling, f.packets),
            (FlowSource::Sflow, exporter, 1, 1, 1)
        );
        assert_eq!((f.first_ms, f.last_ms), (f.received_ms, f.received_ms));
        assert_eq!((f.in_if, f.out_if), (0, 0), "pmacctd reports unknown interfaces");
    }
    let find = |pred: &dyn Fn(&Flow) -> bool| d.flows.iter().filter(|f| pred(f)).count();
    // scripts/sflow_golden_lib.py: TCP SYN from 10.1.0.1:40000 to 192.0.2.10:80, 54-byte frame + FCS.
    let syn = d.flows.iter().find(|f| f.src_addr == "10.1.0.1".parse::<IpAddr>().unwrap()).unwrap();
    assert_eq!((syn.protocol, syn.src_port, syn.dst_port, syn.tcp_flags), (proto::TCP, 40000, 80, 0x02));
    assert_eq!((syn.bytes, syn.src_mac, syn.dst_mac), (58, [2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]));
    assert_eq!(find(&|f| f.protocol == proto::ICMP && f.dst_port == 3 << 8 | 3), 5, "ICMP port unreachable");
    assert_eq!(find(&|f| f.protocol == proto::ICMPV6 && f.dst_port == 1 << 8 | 4), 4, "ICMPv6 unreachable");
    assert_eq!(find(&|f| f.protocol == proto::ICMPV6 && f.dst_port == 128 << 8), 8, "echo requests");
    // The hop-by-hop extension header is skipped to find UDP.
    let hbh = find(&|f| f.src_addr == "2001:db8::77".parse::<IpAddr>().unwrap() && f.src_port == 7000);
    assert!(hbh > 0);
    assert_eq!(find(&|f| f.src_vlan != 0), find(&|f| (100..=102).contains(&f.src_vlan)));
    assert!(find(&|f| f.src_vlan != 0 && f.is_ipv6()) > 0 && find(&|f| f.src_vlan != 0 && !f.is_ipv6()) > 0);
}

/// Replays the golden capture to a fresh sfacctd and compares its totals with
/// what our decoder makes of the same datagrams.
#[test]
fn live_sfacctd_agrees_with_decoder() {
    if !common::require_tool("sfacctd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_udp_port();
    let csv = dir.path().join("out.csv");
    let log = dir.path().join("sfacctd.log");
    let conf = dir.path().join("sfacctd.conf");
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\nsfacctd_ip: 127.0.0.1\nsfacctd_port: {port}\nplugins: print\n\
             aggregate: proto, vlan\nprint_output: csv\nprint_output_file: {}\nprint_refresh_time: 300\n\
             logfile: {}\n",
            csv.display(),
            log.display()
        ),
    )
    .unwrap();
    let mut child = Command::new("sfacctd")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_for(Duration::from_secs(15), || {
        std::fs::read_to_string(&log).map(|l| l.contains("waiting for sFlow data")).unwrap_or(false)
    });
    let d = decode_capture();
    if ready {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        for dg in &d.datagrams {
            sock.send_to(dg, ("127.0.0.1", port)).unwrap();
            std::thread::sleep(Duration::from_millis(2)); // sfacctd's default socket buffer is small
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    let exited = wait_for(Duration::from_secs(15), || child.try_wait().ok().flatten().is_some());
    if !exited {
        let _ = child.kill();
    }
    let _ = child.wait();
    assert!(ready, "sfacctd did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());

    let names: BTreeMap<&str, u8> = [("tcp", 6), ("udp", 17), ("icmp", 1), ("ipv6-icmp", 58)].into();
    let mut theirs = ByKey::new();
    let file = std::fs::File::open(&csv).unwrap();
    let mut lines = std::io::BufReader::new(file).lines().map(|l| l.unwrap());
    let header = lines.next().expect("sfacctd wrote a CSV header");
    let col = |name: &str| header.split(',').position(|c| c == name).unwrap_or_else(|| panic!("{header}"));
    let (c_proto, c_vlan, c_packets, c_bytes) = (col("PROTOCOL"), col("VLAN"), col("PACKETS"), col("BYTES"));
    for line in lines {
        let w: Vec<&str> = line.split(',').collect();
        let (packets, bytes): (u64, u64) = (w[c_packets].parse().unwrap(), w[c_bytes].parse().unwrap());
        let key = (names[w[c_proto]], w[c_vlan].parse().unwrap());
        theirs.insert(key, Counters { flows: packets, packets, bytes });
    }
    assert_eq!(by_key(&d.flows), theirs);
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
