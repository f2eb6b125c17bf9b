//! The replay writes exactly what the wire encoder writes from the same
//! pool: datagram by datagram, every protocol, across passes and their seams.

use std::net::IpAddr;

use super::*;
use crate::gen::as_carried;
use crate::gen::traffic::{Scenario, Traffic, TrafficConfig};

const T0: u64 = 1_795_946_851_500;

fn cfg(sampling: u32, template_every: u32, agent: &str) -> EncoderConfig {
    EncoderConfig {
        domain: 7,
        sampling,
        template_every,
        boot_ms: T0 - 86_400_000 - 1_234,
        agent: agent.parse::<IpAddr>().unwrap(),
    }
}

/// `n` flows of the model as `protocol` carries them, drawn at `T0`.
fn flows(
    protocol: FlowSource,
    scenario: Scenario,
    ipv6: f64,
    sampling: u32,
    seed: u64,
    n: usize,
) -> Vec<Flow> {
    let mut t = Traffic::new(TrafficConfig {
        scenario,
        ipv6_fraction: ipv6,
        sampling,
        seed,
        exporter: "127.0.0.2".parse().unwrap(),
        domain: 7,
        source: protocol,
    });
    (0..n).map(|_| as_carried(protocol, t.next_flow(T0), sampling)).collect()
}

/// Export times: mostly forward, by uneven steps across second boundaries, with a
/// step back now and then (a wall clock may be set back).
fn export_ms(d: u64) -> u64 {
    let t = T0 + d * 337 + (d * d) % 1_000;
    if d % 50 == 49 {
        t - 20_000
    } else {
        t
    }
}

/// Sends `datagrams` datagrams both ways and compares bytes and counts.
fn compare(protocol: FlowSource, cfg: EncoderConfig, flows: Vec<Flow>, datagrams: u64) {
    let mut pool = FlowPool::from_flows(flows.clone());
    let mut replay =
        Replay::new(protocol, &cfg, &mut FlowPool::from_flows(flows), T0).expect("a replayable pool");
    let mut encoder = crate::wire::encoder(protocol, cfg);
    let max = encoder.max_flows_per_datagram();
    assert_eq!(replay.max_flows_per_datagram(), max);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    let mut total = 0;
    for d in 0..datagrams {
        let now = export_ms(d);
        let offered = pool.window(max, now);
        let taken = encoder.encode(offered, now, &mut want);
        let mut counters = Counters::default();
        for f in &offered[..taken] {
            counters.add_flow(f);
        }
        pool.advance(taken);
        let before = replay.sent();
        assert_eq!(replay.encode(now, &mut got), taken, "datagram {d}");
        let after = replay.sent();
        let sent = Counters {
            flows: after.flows - before.flows,
            packets: after.packets - before.packets,
            bytes: after.bytes - before.bytes,
        };
        assert_eq!(sent, counters, "datagram {d}");
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            panic!(
                "{protocol:?} datagram {d}: {} vs {} bytes, first difference at {at}",
                got.len(),
                want.len()
            );
        }
        total += counters.flows;
    }
    assert!(total > 0);
}

#[test]
fn netflow_v5_matches_the_encoder() {
    let p = FlowSource::NetflowV5;
    compare(p, cfg(1, 20, "127.0.0.2"), flows(p, Scenario::Mix, 0.0, 1, 1, 500), 200);
    compare(p, cfg(10, 20, "127.0.0.2"), flows(p, Scenario::Scan, 0.0, 10, 2, 7), 20);
    compare(p, cfg(100_000, 20, "127.0.0.2"), flows(p, Scenario::Ddos, 0.0, 100_000, 3, 61), 50);
}

#[test]
fn netflow_v9_and_ipfix_match_the_encoders() {
    for p in [FlowSource::NetflowV9, FlowSource::Ipfix] {
        compare(p, cfg(1, 20, "127.0.0.2"), flows(p, Scenario::Mix, 0.2, 1, 4, 500), 300);
        compare(p, cfg(64, 5, "127.0.0.2"), flows(p, Scenario::Ddos, 0.5, 64, 5, 333), 200);
        compare(p, cfg(1, 1, "127.0.0.2"), flows(p, Scenario::Steady, 1.0, 1, 6, 40), 30);
        compare(p, cfg(2, 3, "127.0.0.2"), flows(p, Scenario::Scan, 0.0, 2, 7, 3), 20);
    }
}

#[test]
fn sflow_matches_the_encoder() {
    let p = FlowSource::Sflow;
    compare(p, cfg(1, 20, "127.0.0.2"), flows(p, Scenario::Mix, 0.2, 1, 8, 500), 300);
    compare(p, cfg(512, 20, "::1"), flows(p, Scenario::Ddos, 0.5, 512, 9, 300), 200);
    compare(p, cfg(4096, 20, "127.0.0.9"), flows(p, Scenario::Scan, 1.0, 4096, 10, 5), 40);
}

#[test]
fn sflow_source_cap_matches_the_encoder() {
    // More data sources than the encoder keeps state for, some of them expanded (ids above 2^24).
    let p = FlowSource::Sflow;
    let mut pool = flows(p, Scenario::Mix, 0.1, 8, 11, 5_000);
    for (i, f) in pool.iter_mut().enumerate() {
        f.in_if = if i % 7 == 0 { 0x0100_0000 + i as u32 } else { i as u32 % 4_500 };
    }
    compare(p, cfg(8, 20, "127.0.0.2"), pool, 2_000);
}

#[test]
fn pools_it_cannot_replay_exactly_are_refused() {
    let v5 = FlowSource::NetflowV5;
    let mut mixed = flows(v5, Scenario::Mix, 0.0, 1, 12, 10);
    mixed[4].src_addr = "2001:db8::1".parse().unwrap();
    mixed[4].dst_addr = "2001:db8::2".parse().unwrap();
    assert!(Replay::new(v5, &cfg(1, 20, "127.0.0.2"), &mut FlowPool::from_flows(mixed), T0).is_none());
    let v9 = FlowSource::NetflowV9;
    let mut early = flows(v9, Scenario::Mix, 0.0, 1, 13, 10);
    for f in &mut early {
        f.received_ms = 5_000;
        f.last_ms = 4_000;
        f.first_ms = 0;
    }
    early[0].first_ms = 3_000;
    assert!(Replay::new(v9, &cfg(1, 20, "127.0.0.2"), &mut FlowPool::from_flows(early), 3_999).is_none());
}

#[test]
fn ports_move_as_re_timing_moves_them() {
    use crate::flow::proto;
    use crate::gen::pool::{port_shift, shift_ephemeral};
    for pass in [0u32, 1, 2, 7, 8, 4_099, 1_047_552, 1_048_577, u32::MAX - 1, u32::MAX] {
        let shift = port_shift(pass);
        for protocol in [proto::TCP, proto::UDP, proto::ICMP, 47] {
            for src in (0..=u16::MAX).step_by(251).chain([32_767, 32_768, 65_535]) {
                let dst = src.rotate_left(3);
                let mut r = [0u8; 4];
                r[..2].copy_from_slice(&src.to_be_bytes());
                r[2..].copy_from_slice(&dst.to_be_bytes());
                let r = records::shift_ports(r, protocol, shift);
                let moves = matches!(protocol, proto::TCP | proto::UDP);
                let want = |p| if moves { shift_ephemeral(p, pass) } else { p };
                let got = (u16::from_be_bytes([r[0], r[1]]), u16::from_be_bytes([r[2], r[3]]));
                assert_eq!(got, (want(src), want(dst)), "ports {src} {dst} protocol {protocol} pass {pass}");
            }
        }
    }
}

#[test]
fn first_and_last_times_lie_side_by_side() {
    for p in [netflow::V5_RECORD, netflow::V9_V4, netflow::V9_V6, netflow::IPFIX_V4, netflow::IPFIX_V6] {
        assert_eq!(p.last_at, p.first_at + p.time_len, "{p:?}");
    }
}

#[test]
fn record_patches_are_where_the_templates_put_the_fields() {
    use crate::wire::ie::{RecordLayout, TimeFields};
    for (patches, ipv6, times) in [
        (netflow::V9_V4, false, TimeFields::SysUpTime),
        (netflow::V9_V6, true, TimeFields::SysUpTime),
        (netflow::IPFIX_V4, false, TimeFields::Milliseconds),
        (netflow::IPFIX_V6, true, TimeFields::Milliseconds),
    ] {
        assert_eq!(patches, netflow::patches(RecordLayout { ipv6, times }), "{ipv6} {times:?}");
    }
}

#[test]
fn v5_patches_are_where_the_record_view_reads() {
    use crate::wire::netflow_v5::{FlowRecord, RecordRepr};
    let repr = RecordRepr {
        first: 0x0102_0304,
        last: 0x0506_0708,
        srcport: 0x8899,
        dstport: 0x1122,
        prot: 17,
        ..RecordRepr::default()
    };
    let mut b = [0u8; 48];
    repr.write(&mut b);
    let p = netflow::V5_RECORD;
    let be32 = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let r = FlowRecord::new_checked(&b[..]).unwrap();
    assert_eq!((be32(p.first_at), be32(p.last_at)), (r.first(), r.last()));
    assert_eq!(be32(p.ports_at), u32::from(r.srcport()) << 16 | u32::from(r.dstport()));
    assert_eq!((b[p.protocol_at], p.size, p.time_len), (r.prot(), 48, 4));
}
