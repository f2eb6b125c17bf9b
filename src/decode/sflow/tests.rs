//! Decoder unit tests on hand-built datagrams (the golden capture, round trip
//! and hostile input live in tests/sflow_*.rs).

use std::net::IpAddr;

use super::SflowDecoder;
use crate::decode::stats::DecodeStats;
use crate::flow::{proto, Flow, FlowSource};
use crate::wire::sflow::tests::{expanded_ipv4_sample, header_v6, Xdr};
use crate::wire::sflow::{flow_format, sample_format};
use crate::wire::WireError;

fn decode(dec: &mut SflowDecoder, d: &[u8], sampling: Option<u32>) -> (Vec<Flow>, DecodeStats) {
    let mut stats = DecodeStats::default();
    let mut flows = Vec::new();
    let out =
        dec.decode(d, "127.0.0.3".parse().unwrap(), 77_000, sampling, &mut stats, &mut |f| flows.push(*f));
    assert_eq!(out.flows, flows.len());
    (flows, stats)
}

#[test]
fn ipv4_data_record_without_a_header() {
    let d = header_v6(1).bytes(&expanded_ipv4_sample().0).0;
    let (flows, stats) = decode(&mut SflowDecoder::new(4), &d, None);
    assert_eq!(stats.errors_total(), 0);
    let f = flows[0];
    assert_eq!((f.source, f.exporter, f.domain), (FlowSource::Sflow, "127.0.0.3".parse().unwrap(), 7));
    assert_eq!((f.first_ms, f.last_ms, f.received_ms), (77_000, 77_000, 77_000));
    assert_eq!((f.protocol, f.src_port, f.dst_port, f.tos), (proto::ICMP, 0, 8 << 8, 0x20));
    assert_eq!((f.in_if, f.out_if), (0x4000_0001, 0));
    assert_eq!((f.packets, f.bytes, f.sampling), (512, 84 * 512, 512));
    assert_eq!(f.src_addr, "10.0.0.1".parse::<IpAddr>().unwrap());
}

#[test]
fn sampling_override_replaces_the_rate() {
    let d = header_v6(1).bytes(&expanded_ipv4_sample().0).0;
    let (flows, _) = decode(&mut SflowDecoder::new(4), &d, Some(10));
    assert_eq!((flows[0].packets, flows[0].bytes, flows[0].sampling), (10, 840, 10));
}

#[test]
fn sample_without_packet_records_is_unsupported() {
    let switch = Xdr::default().w(5).w(0).w(6).w(0);
    let body = Xdr::default().w(1).w(3).w(100).w(100).w(0).w(1).w(2).w(1).entry(
        0,
        flow_format::EXTENDED_SWITCH,
        switch,
    );
    let d = header_v6(2).entry(0, sample_format::FLOW, body).bytes(&expanded_ipv4_sample().0).0;
    let (flows, stats) = decode(&mut SflowDecoder::new(4), &d, None);
    assert_eq!(flows.len(), 1, "the second sample still decodes");
    assert_eq!(stats.errors[WireError::Unsupported.index()], 1);
    assert_eq!(stats.bad_datagrams, 0);
}

#[test]
fn datagram_and_sample_gaps_are_counted() {
    let mut dec = SflowDecoder::new(4);
    let d = header_v6(1).bytes(&expanded_ipv4_sample().0).0;
    decode(&mut dec, &d, None);
    // Same agent, datagram sequence 42 → 45, sample sequence 11 → 15, drops 3 → 5.
    let mut later = d.clone();
    later[28..32].copy_from_slice(&45u32.to_be_bytes());
    later[32..36].copy_from_slice(&9500u32.to_be_bytes());
    let s = 40 + 8;
    later[s..s + 4].copy_from_slice(&15u32.to_be_bytes());
    later[s + 20..s + 24].copy_from_slice(&5u32.to_be_bytes());
    let (_, stats) = decode(&mut dec, &later, None);
    assert_eq!((stats.missing_datagrams, stats.missing_flows), (2, 3 + 2));
}
