//! Decoder unit tests: our encoders' output decodes back to the same flows;
//! held data sets, withdrawals, sampling options, caps.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::*;
use crate::wire::{encoder, EncoderConfig};

const NOW: u64 = 1_795_946_851_000;

fn exporter() -> SocketAddr {
    "127.0.0.9:9999".parse().unwrap()
}

fn flow(i: u64, v6: bool, sampling: u32) -> Flow {
    let s = u64::from(sampling);
    Flow {
        exporter: exporter().ip(),
        src_addr: if v6 { "2001:db8::7".parse().unwrap() } else { Ipv4Addr::new(10, 0, 0, i as u8).into() },
        dst_addr: if v6 { "2001:db8::8".parse().unwrap() } else { Ipv4Addr::new(10, 1, 0, 1).into() },
        next_hop: if v6 { "::".parse().unwrap() } else { Ipv4Addr::UNSPECIFIED.into() },
        src_port: 1000 + i as u16,
        dst_port: 443,
        protocol: 6,
        tcp_flags: 0x12,
        packets: s * (i + 1),
        bytes: s * (i + 1) * 100,
        first_ms: NOW - 5_000 - i,
        last_ms: NOW - 1_000,
        received_ms: NOW,
        sampling,
        ..Flow::EMPTY
    }
}

fn cfg(domain: u32, sampling: u32) -> EncoderConfig {
    EncoderConfig {
        domain,
        sampling,
        template_every: 0,
        boot_ms: NOW - 86_400_000,
        agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

fn roundtrip(protocol: FlowSource, flows: &[Flow], sampling: u32) -> (Vec<Flow>, Decoder) {
    let mut enc = encoder(protocol, cfg(5, sampling));
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut got = Vec::new();
    let mut buf = Vec::new();
    let mut rest = flows;
    while !rest.is_empty() {
        let n = enc.encode(rest, NOW, &mut buf);
        rest = &rest[n..];
        let out = dec.decode(&buf, exporter(), NOW, &mut |f| got.push(*f));
        assert_eq!(out.error, None);
    }
    (got, dec)
}

fn expect(flows: &[Flow], protocol: FlowSource, domain: u32) -> Vec<Flow> {
    flows.iter().map(|f| Flow { source: protocol, domain, ..*f }).collect()
}

#[test]
fn v9_and_ipfix_roundtrip_exactly() {
    for protocol in [FlowSource::NetflowV9, FlowSource::Ipfix] {
        for sampling in [1, 100] {
            let flows: Vec<Flow> = (0..37).map(|i| flow(i, i % 4 == 3, sampling)).collect();
            let (got, dec) = roundtrip(protocol, &flows, sampling);
            assert_eq!(got, expect(&flows, protocol, 5), "{protocol:?} sampling {sampling}");
            let info = &dec.exporters()[0];
            assert_eq!(
                (info.flows, info.sampling, info.missing_flows, info.missing_datagrams),
                (37, Some(sampling), 0, 0)
            );
            assert_eq!(dec.stats().errors_total(), 0);
        }
    }
}

#[test]
fn v5_roundtrip_with_header_sampling() {
    let flows: Vec<Flow> = (0..45).map(|i| flow(i, false, 10)).collect();
    let (got, dec) = roundtrip(FlowSource::NetflowV5, &flows, 10);
    assert_eq!(got, expect(&flows, FlowSource::NetflowV5, 0));
    assert_eq!(dec.exporters()[0].domains, vec![5]);
}

#[test]
fn data_before_template_is_held_then_decoded() {
    let flows: Vec<Flow> = (0..4).map(|i| flow(i, false, 1)).collect();
    let mut enc = encoder(FlowSource::Ipfix, cfg(1, 1));
    let mut first = Vec::new();
    enc.encode(&flows[..2], NOW, &mut first);
    let mut second = Vec::new();
    enc.encode(&flows[2..], NOW, &mut second);
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut got = Vec::new();
    let out = dec.decode(&second, exporter(), NOW, &mut |f| got.push(*f));
    assert_eq!((out.flows, out.error), (0, None));
    let out = dec.decode(&first, exporter(), NOW, &mut |f| got.push(*f));
    assert_eq!(out.flows, 4);
    assert_eq!(dec.stats().pending_decoded, 1);
    assert_eq!(got.len(), 4);
    // The held set is decoded as soon as its template arrives, before the
    // template datagram's own data set.
    let ports: Vec<u16> = got.iter().map(|f| f.src_port).collect();
    assert_eq!(ports, vec![1002, 1003, 1000, 1001]);
}

#[test]
fn held_sets_are_bounded_and_counted() {
    let mut enc = encoder(FlowSource::NetflowV9, cfg(1, 1));
    let mut buf = Vec::new();
    enc.encode(&[flow(0, false, 1)], NOW, &mut buf); // with templates: skip it
    let cfg = DecoderConfig { max_pending_sets: 3, ..DecoderConfig::default() };
    let mut dec = Decoder::new(cfg);
    for _ in 0..10 {
        enc.encode(&[flow(1, false, 1)], NOW, &mut buf);
        dec.decode(&buf, exporter(), NOW, &mut |_| {});
    }
    assert_eq!(dec.stats().pending_dropped, 7);
    dec.flush_pending();
    assert_eq!(dec.stats().pending_dropped, 10);
    assert_eq!(dec.stats().errors[WireError::UnknownTemplate.index()], 10);
}

#[test]
fn sequence_gap_counts_missing() {
    let flows: Vec<Flow> = (0..30).map(|i| flow(i, false, 1)).collect();
    for protocol in [FlowSource::NetflowV5, FlowSource::NetflowV9, FlowSource::Ipfix] {
        let mut enc = encoder(protocol, cfg(1, 1));
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut buf = Vec::new();
        enc.encode(&flows[..5], NOW, &mut buf);
        dec.decode(&buf, exporter(), NOW, &mut |_| {});
        enc.encode(&flows[..7], NOW, &mut buf); // lost (data only: template already known)
        enc.encode(&flows[..3], NOW, &mut buf);
        let out = dec.decode(&buf, exporter(), NOW, &mut |_| {});
        match protocol {
            FlowSource::NetflowV9 => assert_eq!((out.missing_datagrams, out.missing_flows), (1, 0)),
            _ => assert_eq!((out.missing_datagrams, out.missing_flows), (0, 7), "{protocol:?}"),
        }
    }
}

#[test]
fn sampling_override_wins() {
    let flows = [flow(1, false, 10)];
    let mut enc = encoder(FlowSource::NetflowV9, cfg(1, 10));
    let mut buf = Vec::new();
    enc.encode(&flows, NOW, &mut buf);
    let cfg = DecoderConfig { sampling_override: vec![(exporter().ip(), 3)], ..DecoderConfig::default() };
    let mut dec = Decoder::new(cfg);
    let mut got = Vec::new();
    dec.decode(&buf, exporter(), NOW, &mut |f| got.push(*f));
    assert_eq!((got[0].sampling, got[0].packets), (3, flows[0].packets / 10 * 3));
}

#[test]
fn template_cap_evicts_and_counts() {
    // One IPFIX message with 20 distinct templates, cap 8.
    let mut d = vec![0u8; 16];
    let start = d.len();
    d.extend_from_slice(&[0, 2, 0, 0]);
    for id in 0..20u16 {
        d.extend_from_slice(&(300 + id).to_be_bytes());
        d.extend_from_slice(&[0, 1, 0, 4, 0, 1]);
    }
    let set_len = (d.len() - start) as u16;
    d[start + 2..start + 4].copy_from_slice(&set_len.to_be_bytes());
    let len = d.len() as u16;
    d[..4].copy_from_slice(&[0, 10, (len >> 8) as u8, len as u8]);
    let mut dec = Decoder::new(DecoderConfig { max_templates_per_exporter: 8, ..DecoderConfig::default() });
    dec.decode(&d, exporter(), NOW, &mut |_| {});
    assert_eq!(dec.exporters()[0].templates, 8);
    assert_eq!(dec.stats().templates_received, 20);
    assert_eq!(dec.stats().templates_evicted, 12);
    assert_eq!(dec.stats().errors[WireError::CapacityExceeded.index()], 12);
}

#[test]
fn exporter_cap_evicts_least_recently_seen() {
    let mut enc = encoder(FlowSource::NetflowV5, cfg(0, 1));
    let mut buf = Vec::new();
    enc.encode(&[flow(1, false, 1)], NOW, &mut buf);
    let mut dec = Decoder::new(DecoderConfig { max_exporters: 4, ..DecoderConfig::default() });
    for i in 0..10u8 {
        let addr = SocketAddr::new(Ipv4Addr::new(127, 0, 1, i).into(), 2055);
        dec.decode(&buf, addr, NOW + u64::from(i), &mut |_| {});
    }
    let ex = dec.exporters();
    assert_eq!(ex.len(), 4);
    assert_eq!(ex[0].address, IpAddr::V4(Ipv4Addr::new(127, 0, 1, 6)));
    assert_eq!(dec.stats().exporters_evicted, 6);
}

#[test]
fn ipfix_withdrawal_forgets_template() {
    let mut enc = encoder(FlowSource::Ipfix, cfg(1, 1));
    let mut buf = Vec::new();
    enc.encode(&[flow(1, false, 1)], NOW, &mut buf);
    let mut dec = Decoder::new(DecoderConfig::default());
    dec.decode(&buf, exporter(), NOW, &mut |_| {});
    assert_eq!(dec.exporters()[0].templates, 2);
    // Withdraw template 256 (set 2, record: id 256, count 0).
    let mut w = vec![0, 10, 0, 24, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    w.extend_from_slice(&[0, 2, 0, 8, 1, 0, 0, 0]);
    dec.decode(&w, exporter(), NOW, &mut |_| {});
    assert_eq!(dec.exporters()[0].templates, 1);
    // Withdraw all (id = set id 2).
    let mut all = w.clone();
    all[20..22].copy_from_slice(&[0, 2]);
    dec.decode(&all, exporter(), NOW, &mut |_| {});
    assert_eq!(dec.exporters()[0].templates, 0);
}

#[test]
fn batched_decoding_matches_the_sink_and_respects_max() {
    for protocol in [FlowSource::NetflowV5, FlowSource::NetflowV9, FlowSource::Ipfix] {
        let flows: Vec<Flow> = (0..45).map(|i| flow(i, false, 10)).collect();
        let mut enc = encoder(protocol, cfg(5, 10));
        let (mut by_sink, mut by_batch) = (Vec::new(), Vec::new());
        let (mut a, mut b) = (Decoder::new(DecoderConfig::default()), Decoder::new(DecoderConfig::default()));
        let (mut rest, mut buf, mut batch) = (&flows[..], Vec::new(), Vec::new());
        while !rest.is_empty() {
            let n = enc.encode(rest, NOW, &mut buf);
            rest = &rest[n..];
            let oa = a.decode(&buf, exporter(), NOW, &mut |f| by_sink.push(*f));
            let ob = b.decode_batched(&buf, exporter(), NOW, &mut batch, 7, &mut |full: &mut Vec<Flow>| {
                assert_eq!(full.len(), 7, "{protocol:?}");
                by_batch.append(full);
            });
            assert!(batch.len() < 7);
            by_batch.append(&mut batch);
            assert_eq!(oa, ob, "{protocol:?}");
        }
        assert_eq!(by_batch, by_sink, "{protocol:?}");
        assert_eq!(by_sink.len(), 45);
        assert_eq!(a.exporters(), b.exporters(), "{protocol:?}");
        assert_eq!(a.stats(), b.stats(), "{protocol:?}");
        // Sampling-corrected exporter counters.
        let info = &b.exporters()[0];
        assert_eq!((info.packets, info.sampling), ((1..=45).sum::<u64>() * 10, Some(10)));
    }
}

#[test]
fn v5_icmp_type_code_in_the_destination_port() {
    let icmp = |src_port: u16, dst_port: u16| Flow { protocol: 1, src_port, dst_port, ..flow(1, false, 1) };
    let flows = [icmp(0, 0x0800), icmp(0x0303, 0), icmp(7, 0x0b00), icmp(0, 0)];
    let (got, _) = roundtrip(FlowSource::NetflowV5, &flows, 1);
    let ports: Vec<(u16, u16)> = got.iter().map(|f| (f.src_port, f.dst_port)).collect();
    assert_eq!(ports, [(0, 0x0800), (0, 0x0303), (0, 0x0b00), (0, 0)]);
    let mut batch = Vec::new();
    let mut enc = encoder(FlowSource::NetflowV5, cfg(5, 1));
    let mut buf = Vec::new();
    enc.encode(&flows, NOW, &mut buf);
    Decoder::new(DecoderConfig::default()).decode_into(&buf, exporter(), NOW, &mut batch);
    assert_eq!(batch, got);
}

#[test]
fn v5_times_from_uptime_clamp_before_1970_only_near_the_epoch() {
    use crate::wire::netflow_v5::{HeaderRepr, RecordRepr};
    let datagram = |unix_secs: u32| {
        let mut d = Vec::new();
        HeaderRepr {
            count: 2,
            sys_uptime: 100_000,
            unix_secs,
            unix_nsecs: 5_000_000,
            ..HeaderRepr::default()
        }
        .emit(&mut d);
        RecordRepr { first: 50_000, last: 95_000, prot: 6, ..RecordRepr::default() }.emit(&mut d);
        // Ahead of the header's uptime, and across the 32-bit wrap.
        RecordRepr {
            first: 100_500,
            last: 100_000u32.wrapping_sub(u32::MAX),
            prot: 6,
            ..RecordRepr::default()
        }
        .emit(&mut d);
        d
    };
    let times = |unix_secs: u32| {
        let mut out = Vec::new();
        Decoder::new(DecoderConfig::default()).decode_into(&datagram(unix_secs), exporter(), NOW, &mut out);
        let mut sunk = Vec::new();
        Decoder::new(DecoderConfig::default())
            .decode(&datagram(unix_secs), exporter(), NOW, &mut |f| sunk.push(*f));
        assert_eq!(out, sunk);
        out.iter().map(|f| (f.first_ms, f.last_ms)).collect::<Vec<_>>()
    };
    let e = 1_795_946_851_005u64;
    assert_eq!(times(1_795_946_851), [(e - 50_000, e - 5_000), (e + 500, e + 1)]);
    // Export time 10.005 s after the epoch: a flow 50 s before it is clamped to 0.
    assert_eq!(times(10), [(0, 5_005), (10_505, 10_006)]);
}
