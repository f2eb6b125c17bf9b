//! Round trip: random flows → `as_sampled` → `sflow::Encoder` → `SflowDecoder`
//! gives back exactly the sampled flows, with no loss counted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use wvnr::decode::sflow::SflowDecoder;
use wvnr::decode::stats::DecodeStats;
use wvnr::flow::{Flow, FlowSource};
use wvnr::wire::{sflow, EncoderConfig, FlowEncoder};

fn addr(v6: bool) -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(move |a| if v6 {
            IpAddr::V6(Ipv6Addr::from(u128::from(a) << 64 | 0x2001_0db8))
        } else {
            IpAddr::V4(Ipv4Addr::from(a))
        }),
        any::<u128>().prop_map(move |a| if v6 {
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            IpAddr::V4(Ipv4Addr::from(a as u32))
        }),
    ]
}

prop_compose! {
    fn flow()(v6 in any::<bool>(), mixed in 0u8..8)(
        src in addr(v6),
        dst in addr(v6 ^ (mixed == 0)),
        next_hop in prop_oneof![Just(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), addr(false), addr(true)],
        protocol in prop::sample::select(vec![1u8, 6, 17, 58, 47, 50, 132]),
        ports in any::<(u16, u16)>(),
        tcp_flags in any::<u8>(),
        tos in any::<u8>(),
        masks in any::<(u8, u8)>(),
        ifs in prop_oneof![(0u32..64, 0u32..64), any::<(u32, u32)>()],
        ases in prop_oneof![Just((0u32, 0u32)), any::<(u32, u32)>()],
        vlans in prop_oneof![Just((0u16, 0u16)), any::<(u16, u16)>()],
        macs in any::<([u8; 6], [u8; 6])>(),
        packets in 1u64..10_000,
        mean in 0u64..70_000,
        last_ms in 1_700_000_000_000u64..1_800_000_000_000,
    ) -> Flow {
        Flow {
            src_addr: src,
            dst_addr: dst,
            next_hop,
            protocol,
            src_port: ports.0,
            dst_port: ports.1,
            tcp_flags,
            tos,
            src_mask: masks.0,
            dst_mask: masks.1,
            in_if: ifs.0,
            out_if: ifs.1,
            src_as: ases.0,
            dst_as: ases.1,
            src_vlan: vlans.0,
            dst_vlan: vlans.1,
            src_mac: macs.0,
            dst_mac: macs.1,
            packets,
            bytes: packets * mean,
            first_ms: last_ms - 1000,
            last_ms,
            ..Flow::EMPTY
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn flows_survive_encode_and_decode(
        flows in prop::collection::vec(flow(), 1..60),
        sampling in prop_oneof![Just(0u32), Just(1u32), 1u32..100_000],
        domain in any::<u32>(),
        v6_agent in any::<bool>(),
    ) {
        let agent: IpAddr = if v6_agent { "2001:db8::9".parse().unwrap() } else { "127.0.0.9".parse().unwrap() };
        let exporter: IpAddr = "127.0.0.9".parse().unwrap();
        let mut enc = sflow::Encoder::new(EncoderConfig {
            domain,
            sampling,
            template_every: 1,
            boot_ms: 1_600_000_000_000,
            agent,
        });
        let mut dec = SflowDecoder::new(16);
        let mut stats = DecodeStats::default();
        let mut buf = Vec::new();
        let mut rest = &flows[..];
        let mut now = 1_700_000_000_000u64;
        while !rest.is_empty() {
            let n = enc.encode(rest, now, &mut buf);
            prop_assert!(n >= 1 && n <= enc.max_flows_per_datagram());
            prop_assert!(buf.len() <= sflow::MAX_DATAGRAM);
            let mut got = Vec::new();
            let out = dec.decode(&buf, exporter, now, None, &mut stats, &mut |f| got.push(*f));
            prop_assert_eq!(out.error, None);
            prop_assert_eq!(out.flows, n);
            for (sent, got) in rest[..n].iter().zip(&got) {
                let mut want = sflow::as_sampled(sent, sampling);
                want.exporter = exporter;
                want.domain = domain;
                want.first_ms = now;
                want.last_ms = now;
                want.received_ms = now;
                prop_assert_eq!(want.source, FlowSource::Sflow);
                prop_assert_eq!(*got, want);
            }
            rest = &rest[n..];
            now += 7;
        }
        prop_assert_eq!(stats.errors_total(), 0);
        prop_assert_eq!((stats.missing_datagrams, stats.missing_flows), (0, 0));
        prop_assert_eq!(stats.flows, flows.len() as u64);
    }

    #[test]
    fn as_sampled_is_idempotent(f in flow(), sampling in 0u32..1000) {
        let once = sflow::as_sampled(&f, sampling);
        prop_assert_eq!(sflow::as_sampled(&once, sampling), once);
        prop_assert_eq!(once.packets, u64::from(sampling.max(1)));
        prop_assert_eq!(once.bytes % once.packets, 0);
    }
}

#[test]
fn counter_samples_reach_the_interface_table() {
    let agent: IpAddr = "127.0.0.9".parse().unwrap();
    let mut enc =
        sflow::Encoder::new(EncoderConfig { domain: 1, sampling: 10, template_every: 1, boot_ms: 0, agent });
    let flow = Flow {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        protocol: 17,
        packets: 1,
        bytes: 100,
        in_if: 5,
        ..Flow::EMPTY
    };
    let mut dec = SflowDecoder::new(4);
    let mut stats = DecodeStats::default();
    let mut buf = Vec::new();
    for i in 0..32u64 {
        assert_eq!(enc.encode(&[flow], 1000 + i, &mut buf), 1);
        dec.decode(&buf, agent, 1000 + i, None, &mut stats, &mut |_| {});
    }
    // Counter samples ride in datagrams 16 and 32 and report what was sampled before them.
    let c = dec.interface_counters(agent, 5).expect("interface 5 counters");
    assert_eq!((c.if_index, c.if_in_ucast_pkts, c.if_in_octets), (5, 31 * 10, 31 * 10 * 100));
    assert_eq!(dec.interfaces().count(), 1);
    assert_eq!(stats.errors_total(), 0);
    assert_eq!(stats.flows, 32);
}
