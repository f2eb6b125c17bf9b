//! Our encoders checked by independent peers: tshark must decode every
//! datagram without a malformed-packet warning, and nfcapd/nfdump must count
//! exactly the flows, packets and bytes we sent (sampling applied).

mod common;
mod decode_support;

use decode_support::nfcapd_totals;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;

use wvnr::flow::{proto, Counters, Flow, FlowSource};
use wvnr::pcap::CaptureWriter;
use wvnr::wire::{encoder, EncoderConfig};

const NOW_MS: u64 = 1_795_946_851_500;

/// Deterministic mixed IPv4 / IPv6 flows; counters are multiples of `sampling`.
fn flows(n: usize, sampling: u32, with_v6: bool) -> Vec<Flow> {
    let s = u64::from(sampling);
    (0..n)
        .map(|i| {
            let i32_ = i as u32;
            let v6 = with_v6 && i % 3 == 2;
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                (
                    format!("2001:db8::{:x}", i + 1).parse().unwrap(),
                    format!("2001:db8:1::{:x}", i % 7 + 1).parse().unwrap(),
                )
            } else {
                (Ipv4Addr::from(0x0a00_0001 + i32_).into(), Ipv4Addr::from(0xc0a8_0001 + i32_ % 5).into())
            };
            let protocol = [proto::TCP, proto::UDP, proto::ICMP][i % 3];
            Flow {
                src_addr: src,
                dst_addr: dst,
                next_hop: if v6 { "::".parse().unwrap() } else { Ipv4Addr::new(10, 255, 0, 1).into() },
                protocol: if v6 && protocol == proto::ICMP { proto::ICMPV6 } else { protocol },
                src_port: if protocol == proto::ICMP { 0 } else { 1024 + i as u16 },
                dst_port: if protocol == proto::ICMP { 8 << 8 } else { [80, 443, 53][i % 3] },
                tcp_flags: if protocol == proto::TCP { 0x1b } else { 0 },
                in_if: 1 + i32_ % 3,
                out_if: 2,
                src_as: 64512 + i32_,
                dst_as: 65000,
                src_mask: 24,
                dst_mask: 16,
                packets: s * (1 + i as u64 % 9),
                bytes: s * (100 + 37 * i as u64),
                first_ms: NOW_MS - 60_000 + i as u64 * 10,
                last_ms: NOW_MS - 1_000 + i as u64,
                ..Flow::EMPTY
            }
        })
        .collect()
}

fn encode_all(protocol: FlowSource, flows: &[Flow], sampling: u32) -> Vec<Vec<u8>> {
    let cfg = EncoderConfig {
        domain: 3,
        sampling,
        template_every: 5,
        boot_ms: NOW_MS - 3_600_000,
        agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut enc = encoder(protocol, cfg);
    let mut out = Vec::new();
    let mut datagrams = Vec::new();
    let mut rest = flows;
    while !rest.is_empty() {
        let n = enc.encode(rest, NOW_MS, &mut out);
        assert!(n > 0);
        assert!(out.len() <= 1464, "{} bytes", out.len());
        if !out.is_empty() {
            datagrams.push(out.clone());
        }
        rest = &rest[n..];
    }
    datagrams
}

fn cases() -> Vec<(FlowSource, u32, Vec<Flow>)> {
    vec![
        (FlowSource::NetflowV5, 1, flows(95, 1, false)),
        (FlowSource::NetflowV5, 10, flows(40, 10, false)),
        (FlowSource::NetflowV9, 1, flows(120, 1, true)),
        (FlowSource::NetflowV9, 100, flows(50, 100, true)),
        (FlowSource::Ipfix, 1, flows(120, 1, true)),
        (FlowSource::Ipfix, 64, flows(50, 64, true)),
    ]
}

#[test]
fn tshark_decodes_our_datagrams_without_warnings() {
    if !common::require_tool("tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (protocol, sampling, flows) in cases() {
        let path = dir.path().join(format!("{}-{sampling}.pcap", protocol.as_str()));
        let mut w = CaptureWriter::create(&path).unwrap();
        let src: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:2055".parse().unwrap();
        let datagrams = encode_all(protocol, &flows, sampling);
        for d in &datagrams {
            w.write_udp(NOW_MS, src, dst, d).unwrap();
        }
        w.finish().unwrap();
        let out = common::run_ok(Command::new("tshark").args(["-r"]).arg(&path).args([
            "-d",
            "udp.port==2055,cflow",
            "-q",
            "-z",
            "expert,warn",
        ]));
        assert!(!out.contains("Malformed") && !out.contains("Warning"), "{protocol:?}: {out}");
        // And tshark sees every flow record.
        let fields = common::run_ok(Command::new("tshark").args(["-r"]).arg(&path).args([
            "-d",
            "udp.port==2055,cflow",
            "-T",
            "fields",
            "-e",
            "cflow.packets",
        ]));
        let seen: usize = fields.lines().map(|l| l.split(',').filter(|s| !s.is_empty()).count()).sum();
        assert_eq!(seen, flows.len(), "{protocol:?} sampling {sampling}");
    }
}

#[test]
fn nfcapd_counts_exactly_what_we_encode() {
    if !common::require_tool("nfcapd") || !common::require_tool("nfdump") {
        return;
    }
    for (protocol, sampling, flows) in cases() {
        let datagrams = encode_all(protocol, &flows, sampling);
        let mut want = Counters::default();
        flows
            .iter()
            .filter(|f| protocol != FlowSource::NetflowV5 || !f.is_ipv6())
            .for_each(|f| want.add_flow(f));
        let got = nfcapd_totals(&datagrams);
        assert_eq!(got, want, "{protocol:?} sampling {sampling}");
    }
}
