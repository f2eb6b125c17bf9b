//! Unit tests for the sFlow views and encoder, on small hand-built datagrams.

use std::net::IpAddr;

use super::record::*;
use super::view::*;
use super::*;
use crate::flow::{proto, Flow};
use crate::wire::{EncoderConfig, FlowEncoder, WireError};

/// Builds XDR words without a wall of hex.
#[derive(Default)]
pub(crate) struct Xdr(pub Vec<u8>);

impl Xdr {
    pub fn w(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// An entry: data format word, length, body.
    pub fn entry(self, enterprise: u32, format: u32, body: Xdr) -> Self {
        self.w(enterprise << 12 | format).w(body.0.len() as u32).bytes(&body.0)
    }
}

/// Datagram header with an IPv6 agent 2001:db8::1, sub-agent 7, sequence 42, uptime 9000.
pub(crate) fn header_v6(samples: u32) -> Xdr {
    let mut agent = [0u8; 16];
    agent[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    agent[15] = 1;
    Xdr::default().w(5).w(2).bytes(&agent).w(7).w(42).w(9000).w(samples)
}

/// Expanded flow sample (format 3) with one IPv4 data record (format 3): ICMP echo 10.0.0.1 → 10.0.0.2.
pub(crate) fn expanded_ipv4_sample() -> Xdr {
    let ipv4 = Xdr::default().w(84).w(1).bytes(&[10, 0, 0, 1]).bytes(&[10, 0, 0, 2]).w(8).w(0).w(0).w(0x20);
    let body = Xdr::default()
        .w(11) // sequence
        .w(0) // source id type
        .w(0x0100_0000) // source id index: beyond the compact 24 bits
        .w(512) // sampling rate
        .w(5120) // pool
        .w(3) // drops
        .w(0)
        .w(0x4000_0001) // input: format 0, an index beyond 30 bits
        .w(1)
        .w(7) // output: format 1 = discarded
        .w(1)
        .entry(0, flow_format::IPV4, ipv4);
    Xdr::default().entry(0, sample_format::EXPANDED_FLOW, body)
}

#[test]
fn datagram_header_with_ipv6_agent() {
    let d = header_v6(1).bytes(&expanded_ipv4_sample().0).0;
    let dg = Datagram::new_checked(&d[..]).unwrap();
    assert_eq!(dg.version(), 5);
    assert_eq!(dg.agent_address(), "2001:db8::1".parse::<IpAddr>().unwrap());
    assert_eq!(
        (dg.sub_agent_id(), dg.sequence_number(), dg.uptime_ms(), dg.sample_count()),
        (7, 42, 9000, 1)
    );
    let mut samples = dg.samples();
    let s = samples.next().unwrap().unwrap();
    assert_eq!((s.enterprise, s.format), (0, sample_format::EXPANDED_FLOW));
    assert!(samples.next().is_none());
    assert_eq!(samples.trailing(), 0);

    let fs = FlowSample::new_checked(s.body, true).unwrap();
    assert_eq!((fs.sequence_number(), fs.source_id_type(), fs.source_id_index()), (11, 0, 0x0100_0000));
    assert_eq!((fs.sampling_rate(), fs.sample_pool(), fs.drops()), (512, 5120, 3));
    assert_eq!((fs.input(), fs.output(), fs.record_count()), (0x4000_0001, 0, 1));
    let r = fs.records().next().unwrap().unwrap();
    let ip = SampledIp::new_checked(r.body, false).unwrap();
    assert_eq!((ip.length(), ip.protocol(), ip.src_port(), ip.tos()), (84, 1, 8, 0x20));
    assert_eq!(ip.dst_addr(), "10.0.0.2".parse::<IpAddr>().unwrap());

    for cut in 0..40 {
        assert_eq!(Datagram::new_checked(&d[..cut]).err(), Some(WireError::Truncated), "cut {cut}");
    }
    assert_eq!(Datagram::new_checked(&Xdr::default().w(4).w(1).0[..]).err(), Some(WireError::BadVersion));
}

#[test]
fn compact_interfaces_unknown_and_discarded() {
    let body = |input: u32, output: u32| Xdr::default().w(1).w(5).w(10).w(10).w(0).w(input).w(output).w(0).0;
    let b = body(0x3fff_ffff, 0x8000_0003);
    let fs = FlowSample::new_checked(&b, false).unwrap();
    assert_eq!((fs.input(), fs.output(), fs.source_id_index()), (0, 0, 5));
    let b = body(12, 0x4000_0001);
    let fs = FlowSample::new_checked(&b, false).unwrap();
    assert_eq!((fs.input(), fs.output()), (12, 0), "format 1 is a drop reason, not an interface");
    assert_eq!(FlowSample::new_checked(&b[..31], false).err(), Some(WireError::BadLength));
}

#[test]
fn gateway_walks_the_as_path() {
    let gw = Xdr::default()
        .w(1)
        .bytes(&[192, 0, 2, 1])
        .w(64499) // router AS
        .w(64500) // src AS
        .w(64501) // src peer AS
        .w(2) // segments
        .w(2)
        .w(2)
        .w(64501)
        .w(3356)
        .w(1)
        .w(1)
        .w(15169)
        .w(1) // communities
        .w(0xfde8_0001)
        .w(100); // local pref
    let g = ExtendedGateway::parse(&gw.0).unwrap();
    assert_eq!((g.router_as, g.src_as, g.src_peer_as, g.dst_as), (64499, 64500, 64501, 15169));
    assert_eq!(g.next_hop, "192.0.2.1".parse::<IpAddr>().unwrap());
    for cut in 0..gw.0.len() {
        assert_eq!(ExtendedGateway::parse(&gw.0[..cut]).err(), Some(WireError::BadLength), "cut {cut}");
    }
    let r = ExtendedRouter::parse(&Xdr::default().w(2).bytes(&[0; 16]).w(48).w(64).0).unwrap();
    assert_eq!((r.src_mask_len, r.dst_mask_len, r.next_hop.is_ipv6()), (48, 64, true));
    assert_eq!(ExtendedRouter::parse(&Xdr::default().w(3).w(0).w(0).0).err(), Some(WireError::BadLength));
}

#[test]
fn entries_tolerate_a_missing_final_pad_but_not_overruns() {
    // One record of 5 bytes with no padding after it (the last thing in the sample).
    let raw = Xdr::default().w(1).w(5).bytes(&[1, 2, 3, 4, 5]).0;
    let b = Xdr::default().w(1).w(5).w(1).w(0).w(0).w(0).w(0).w(1).bytes(&raw).0;
    let fs = FlowSample::new_checked(&b, false).unwrap();
    let mut records = fs.records();
    assert_eq!(records.next().unwrap().unwrap().body, &[1, 2, 3, 4, 5]);
    assert!(records.next().is_none());
    let mut bad = b.clone();
    bad[32 + 7] = 6; // record length 6 > 5 bytes left
    let fs = FlowSample::new_checked(&bad, false).unwrap();
    assert_eq!(fs.records().next().unwrap().err(), Some(WireError::BadLength));
}

#[test]
fn raw_header_length_checked() {
    let rec = Xdr::default().w(1).w(64).w(4).w(3).bytes(&[9, 9, 9, 0]).0;
    let h = RawPacketHeader::new_checked(&rec).unwrap();
    assert_eq!(
        (h.header_protocol(), h.frame_length(), h.stripped(), h.header()),
        (1, 64, 4, &[9u8, 9, 9][..])
    );
    let rec = Xdr::default().w(1).w(64).w(4).w(5).bytes(&[9, 9, 9, 0]).0;
    assert_eq!(RawPacketHeader::new_checked(&rec).err(), Some(WireError::BadLength));
}

#[test]
fn interface_counters_round_trip() {
    let c = InterfaceCounters {
        if_index: 3,
        if_type: 6,
        if_speed: 25_000_000_000,
        if_in_octets: 1 << 40,
        if_out_octets: 12345,
        if_out_errors: 2,
        if_promiscuous_mode: 1,
        ..InterfaceCounters::default()
    };
    let mut b = Vec::new();
    c.emit(&mut b);
    assert_eq!(b.len(), InterfaceCounters::LEN);
    assert_eq!(InterfaceCounters::parse(&b), Ok(c));
    assert_eq!(InterfaceCounters::parse(&b[..87]), Err(WireError::BadLength));
}

fn flow(i: u32, in_if: u32) -> Flow {
    Flow {
        src_addr: std::net::Ipv4Addr::from(0x0a00_0000 + i).into(),
        dst_addr: "192.0.2.1".parse().unwrap(),
        protocol: proto::UDP,
        packets: 1,
        bytes: 1400,
        in_if,
        ..Flow::EMPTY
    }
}

#[test]
fn encoder_sequences_pools_and_size() {
    let mut enc = Encoder::new(EncoderConfig {
        domain: 9,
        sampling: 100,
        template_every: 1,
        boot_ms: 1_000,
        agent: "127.0.0.9".parse().unwrap(),
    });
    let flows: Vec<Flow> = (0..40).map(|i| flow(i, 1 + i % 2)).collect();
    let mut out = Vec::new();
    let mut rest = &flows[..];
    let mut seq_by_source = [0u32; 3];
    let mut datagram = 0;
    while !rest.is_empty() {
        let n = enc.encode(rest, 61_000, &mut out);
        assert!(n >= 1 && out.len() <= MAX_DATAGRAM);
        datagram += 1;
        let dg = Datagram::new_checked(&out[..]).unwrap();
        assert_eq!((dg.sub_agent_id(), dg.sequence_number(), dg.uptime_ms()), (9, datagram, 60_000));
        assert_eq!(dg.sample_count() as usize, n);
        for s in dg.samples() {
            let fs = FlowSample::new_checked(s.unwrap().body, false).unwrap();
            let src = fs.source_id_index() as usize;
            seq_by_source[src] += 1;
            assert_eq!(fs.sequence_number(), seq_by_source[src]);
            assert_eq!(fs.sample_pool(), seq_by_source[src] * 100, "pool grows by the rate per sample");
            assert_eq!(fs.input(), src as u32);
        }
        rest = &rest[n..];
    }
    assert_eq!(seq_by_source, [0, 20, 20]);
    assert_eq!(enc.max_flows_per_datagram(), 12);
}

#[test]
fn as_sampled_normalizes_what_sflow_cannot_carry() {
    let f = Flow {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "2001:db8::2".parse().unwrap(),
        protocol: proto::ICMPV6,
        src_port: 77,
        dst_port: 128 << 8,
        tcp_flags: 0xff,
        src_vlan: 0x1064,
        packets: 4,
        bytes: 4 * 30,
        first_ms: 5,
        last_ms: 9,
        ..Flow::EMPTY
    };
    let s = as_sampled(&f, 0);
    assert_eq!(s.src_addr, "::ffff:10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(s.next_hop, "::".parse::<IpAddr>().unwrap());
    assert_eq!((s.src_port, s.dst_port, s.tcp_flags, s.src_vlan), (0, 128 << 8, 0, 0x64));
    // Smallest frame for Ethernet + VLAN tag + IPv6 + ICMPv6 + FCS: 18 + 40 + 8 + 4.
    assert_eq!((s.packets, s.bytes, s.sampling, s.first_ms), (1, 70, 1, 9));
}
