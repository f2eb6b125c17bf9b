//! Round trip: random flows → our encoder → our decoder gives back the same
//! flows, with every field the protocol carries (v5: IPv4 only, 16-bit AS and
//! interfaces, no VLAN/MAC), exact times, sampling applied.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use wvnr::decode::{Decoder, DecoderConfig};
use wvnr::flow::{Flow, FlowSource};
use wvnr::wire::{encoder, EncoderConfig};

const NOW: u64 = 1_795_946_851_234;

fn addr(v6: bool) -> impl Strategy<Value = IpAddr> {
    if v6 {
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))).boxed()
    } else {
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))).boxed()
    }
}

prop_compose! {
    fn flow(protocol: FlowSource, v6: bool, sampling: u32)(
        src in addr(v6), dst in addr(v6), hop in addr(v6),
        ports in any::<(u16, u16)>(), proto in prop_oneof![Just(1u8), Just(6), Just(17), Just(58), any::<u8>()],
        flags in any::<u8>(), tos in any::<u8>(), masks in (0u8..=128, 0u8..=128),
        ifs in any::<(u32, u32)>(), ases in any::<(u32, u32)>(), vlans in any::<(u16, u16)>(),
        macs in any::<([u8; 6], [u8; 6])>(),
        packets in 0u64..=u64::from(u32::MAX), bytes in 0u64..=u64::from(u32::MAX),
        age in 0u64..86_400_000, duration in 0u64..3_600_000,
    ) -> Flow {
        let v5 = protocol == FlowSource::NetflowV5;
        let icmp = proto == 1 || proto == 58;
        let last = NOW - age;
        Flow {
            src_addr: src, dst_addr: dst, next_hop: hop,
            src_port: if icmp { 0 } else { ports.0 },
            dst_port: ports.1,
            protocol: proto, tcp_flags: flags, tos,
            src_mask: masks.0, dst_mask: masks.1,
            in_if: if v5 { ifs.0 & 0xffff } else { ifs.0 },
            out_if: if v5 { ifs.1 & 0xffff } else { ifs.1 },
            src_as: if v5 { ases.0 & 0xffff } else { ases.0 },
            dst_as: if v5 { ases.1 & 0xffff } else { ases.1 },
            src_vlan: if v5 { 0 } else { vlans.0 },
            dst_vlan: if v5 { 0 } else { vlans.1 },
            src_mac: if v5 { [0; 6] } else { macs.0 },
            dst_mac: if v5 { [0; 6] } else { macs.1 },
            packets: packets * u64::from(sampling),
            bytes: bytes * u64::from(sampling),
            first_ms: last - duration,
            last_ms: last,
            sampling,
            received_ms: NOW,
            ..Flow::EMPTY
        }
    }
}

fn case(protocol: FlowSource) -> impl Strategy<Value = (u32, Vec<Flow>)> {
    let max_sampling: u32 = if protocol == FlowSource::NetflowV5 { 16383 } else { 100_000 };
    prop_oneof![Just(1u32), 2u32..=max_sampling].prop_flat_map(move |sampling| {
        let v6 = if protocol == FlowSource::NetflowV5 { Just(false).boxed() } else { any::<bool>().boxed() };
        let one = v6.prop_flat_map(move |v6| flow(protocol, v6, sampling));
        (Just(sampling), prop::collection::vec(one, 1..80))
    })
}

fn roundtrip(protocol: FlowSource, sampling: u32, flows: &[Flow]) -> Result<(), TestCaseError> {
    let exporter: SocketAddr = "127.0.0.3:5000".parse().unwrap();
    let cfg = EncoderConfig {
        domain: 77,
        sampling,
        template_every: 3,
        boot_ms: NOW - 30 * 86_400_000,
        agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut enc = encoder(protocol, cfg);
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut got = Vec::new();
    let mut buf = Vec::new();
    let mut rest = flows;
    while !rest.is_empty() {
        let n = enc.encode(rest, NOW, &mut buf);
        prop_assert!(n > 0 && buf.len() <= 1464);
        rest = &rest[n..];
        let out = dec.decode(&buf, exporter, NOW, &mut |f| got.push(*f));
        prop_assert_eq!(out.error, None);
        prop_assert_eq!((out.missing_flows, out.missing_datagrams), (0, 0));
    }
    let domain = if protocol == FlowSource::NetflowV5 { 0 } else { 77 };
    let want: Vec<Flow> =
        flows.iter().map(|f| Flow { exporter: exporter.ip(), domain, source: protocol, ..*f }).collect();
    prop_assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        prop_assert_eq!(g, w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn v5_roundtrip((sampling, flows) in case(FlowSource::NetflowV5)) {
        roundtrip(FlowSource::NetflowV5, sampling, &flows)?;
    }

    #[test]
    fn v9_roundtrip((sampling, flows) in case(FlowSource::NetflowV9)) {
        roundtrip(FlowSource::NetflowV9, sampling, &flows)?;
    }

    #[test]
    fn ipfix_roundtrip((sampling, flows) in case(FlowSource::Ipfix)) {
        roundtrip(FlowSource::Ipfix, sampling, &flows)?;
    }
}
