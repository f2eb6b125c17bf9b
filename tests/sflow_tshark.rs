//! The sFlow encoder checked by an independent dissector: tshark reads a
//! capture of encoded datagrams without a malformed packet and shows the
//! fields we put in.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;

use wvnr::flow::{proto, Flow};
use wvnr::pcap::CaptureWriter;
use wvnr::wire::{sflow, EncoderConfig, FlowEncoder};

fn flows() -> Vec<Flow> {
    let mut v = Vec::new();
    for i in 0..40u32 {
        let v6 = i % 3 == 0;
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            (format!("2001:db8::{}", i + 1).parse().unwrap(), "2001:db8:1::5".parse().unwrap())
        } else {
            (format!("10.0.{}.{}", i / 10, i + 1).parse().unwrap(), "192.0.2.9".parse().unwrap())
        };
        let protocol = [proto::TCP, proto::UDP, if v6 { proto::ICMPV6 } else { proto::ICMP }][i as usize % 3];
        v.push(Flow {
            src_addr: src,
            dst_addr: dst,
            protocol,
            src_port: 1024 + i as u16,
            dst_port: if protocol == proto::TCP { 443 } else { 53 },
            tcp_flags: 0x1b,
            packets: 10,
            bytes: 10 * (100 + u64::from(i)),
            in_if: 3 + i % 4,
            out_if: if i == 7 { 0x4000_0000 } else { 9 },
            src_vlan: if i % 5 == 0 { 100 + i as u16 } else { 0 },
            dst_vlan: if i % 5 == 0 { 200 } else { 0 },
            next_hop: if i % 2 == 0 { "192.0.2.1".parse().unwrap() } else { Flow::EMPTY.next_hop },
            src_mask: 24,
            dst_mask: 16,
            src_as: if i % 4 == 0 { 64500 } else { 0 },
            dst_as: if i % 4 == 0 { 65001 + i } else { 0 },
            src_mac: [2, 0, 0, 0, 0, i as u8],
            dst_mac: [2, 0, 0, 0, 1, 0],
            ..Flow::EMPTY
        });
    }
    v
}

#[test]
fn tshark_dissects_encoded_datagrams_without_errors() {
    if !common::require_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sflow.pcap");
    let mut w = CaptureWriter::create(&path).unwrap();
    let src: SocketAddr = "127.0.0.9:40000".parse().unwrap();
    let dst: SocketAddr = "127.0.0.1:6343".parse().unwrap();
    let mut enc = sflow::Encoder::new(EncoderConfig {
        domain: 3,
        sampling: 100,
        template_every: 1,
        boot_ms: 1_700_000_000_000,
        agent: "127.0.0.9".parse().unwrap(),
    });
    let all = flows();
    let mut rest = &all[..];
    let mut buf = Vec::new();
    let mut datagrams = 0;
    let mut now = 1_700_000_100_000;
    // Go around enough times for counter samples to appear.
    for _round in 0..3 {
        rest = &all[..];
        while !rest.is_empty() {
            let n = enc.encode(rest, now, &mut buf);
            assert!(n > 0 && buf.len() <= sflow::MAX_DATAGRAM, "{n} flows, {} bytes", buf.len());
            w.write_udp(now, src, dst, &buf).unwrap();
            rest = &rest[n..];
            datagrams += 1;
            now += 10;
        }
    }
    assert!(rest.is_empty());
    w.finish().unwrap();

    let out = common::run_ok(Command::new("tshark").args(["-n", "-r"]).arg(&path).args([
        "-d",
        "udp.port==6343,sflow",
        "-q",
        "-z",
        "expert,warn",
    ]));
    assert!(!out.contains("Malformed") && !out.contains("Error"), "tshark expert:\n{out}");

    let fields = common::run_ok(Command::new("tshark").args(["-n", "-r"]).arg(&path).args([
        "-d",
        "udp.port==6343,sflow",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-e",
        "sflow_245.sequence_number",
        "-e",
        "sflow_245.sub_agent_id",
        "-e",
        "sflow.flow_sample.sampling_rate",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "vlan.id",
        "-e",
        "sflow_245.dstAS",
        "-e",
        "sflow.counters_sample.source_id_index",
    ]));
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), datagrams, "{fields}");
    let first: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(first[0], "1", "{fields}");
    assert_eq!(first[1], "3", "{fields}");
    assert!(first[2].starts_with("100"), "{fields}");
    // Inner headers (after the capture's own 127.0.0.9 header) carry the flows' addresses.
    assert!(fields.contains("10.0.0.2") && fields.contains("2001:db8::1"), "{fields}");
    assert!(fields.contains("100") && fields.contains("65001"), "{fields}");
    assert_eq!(lines.last().unwrap().split('\t').next().unwrap(), datagrams.to_string());
}
