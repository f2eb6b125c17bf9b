use super::*;

const NOW: u64 = 1_795_946_851_500;

fn traffic(scenario: Scenario, ipv6: f64, sampling: u32, seed: u64) -> Traffic {
    Traffic::new(TrafficConfig {
        scenario,
        ipv6_fraction: ipv6,
        sampling,
        seed,
        exporter: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
        domain: 1,
        source: FlowSource::NetflowV9,
    })
}

fn sample(scenario: Scenario, ipv6: f64, sampling: u32, n: usize) -> Vec<Flow> {
    let mut t = traffic(scenario, ipv6, sampling, 42);
    (0..n).map(|i| t.next_flow(NOW + i as u64)).collect()
}

#[test]
fn same_seed_same_flows_different_seed_different() {
    let mut a = traffic(Scenario::Mix, 0.2, 1, 9);
    let mut b = traffic(Scenario::Mix, 0.2, 1, 9);
    let mut c = traffic(Scenario::Mix, 0.2, 1, 10);
    let xs: Vec<Flow> = (0..200).map(|_| a.next_flow(NOW)).collect();
    let ys: Vec<Flow> = (0..200).map(|_| b.next_flow(NOW)).collect();
    let zs: Vec<Flow> = (0..200).map(|_| c.next_flow(NOW)).collect();
    assert_eq!(xs, ys);
    assert_ne!(xs, zs);
}

#[test]
fn mix_looks_like_a_network() {
    let flows = sample(Scenario::Mix, 0.0, 1, 50_000);
    let share = |pred: &dyn Fn(&Flow) -> bool| flows.iter().filter(|f| pred(f)).count() as f64 / 50_000.0;
    let https = share(&|f| f.protocol == proto::TCP && (f.dst_port == 443 || f.src_port == 443));
    let dns = share(&|f| f.protocol == proto::UDP && (f.dst_port == 53 || f.src_port == 53));
    let icmp = share(&|f| f.protocol == proto::ICMP);
    assert!((0.25..0.45).contains(&https), "https share {https}");
    assert!((0.12..0.25).contains(&dns), "dns share {dns}");
    assert!((0.01..0.06).contains(&icmp), "icmp share {icmp}");
    assert!(flows.iter().all(|f| !f.is_ipv6()));

    // Heavy tail: the top 1% of flows carry most of the bytes.
    let mut bytes: Vec<u64> = flows.iter().map(|f| f.bytes).collect();
    bytes.sort_unstable_by(|a, b| b.cmp(a));
    let total: u64 = bytes.iter().sum();
    let top: u64 = bytes[..500].iter().sum();
    assert!(top * 2 > total, "top 1% carries {top} of {total}");

    for f in &flows {
        assert!(f.packets >= 1 && f.bytes >= 20 * f.packets, "{f:?}");
        assert!(f.bytes <= 1500 * f.packets, "{f:?}");
        assert!(f.first_ms <= f.last_ms && f.last_ms <= NOW + 50_000 && f.last_ms + 2_000 >= NOW);
        match f.protocol {
            proto::TCP => {
                assert!(f.tcp_flags != 0 && f.tcp_flags & !0x1f == 0, "{f:?}");
                // One end is a client on an ephemeral port.
                assert!(f.src_port >= 32_768 || f.dst_port >= 32_768, "{f:?}");
            }
            proto::UDP => assert_eq!(f.tcp_flags, 0),
            proto::ICMP => {
                assert_eq!(f.src_port, 0);
                assert!(matches!(f.icmp_type(), 0 | 3 | 8 | 11), "{f:?}");
            }
            p => panic!("unexpected protocol {p}"),
        }
    }
}

#[test]
fn ipv6_fraction_is_respected_and_icmpv6_used() {
    let flows = sample(Scenario::Mix, 0.3, 1, 20_000);
    let v6 = flows.iter().filter(|f| f.is_ipv6()).count() as f64 / 20_000.0;
    assert!((0.26..0.34).contains(&v6), "v6 share {v6}");
    assert!(flows.iter().all(|f| f.src_addr.is_ipv6() == f.dst_addr.is_ipv6()));
    assert!(flows.iter().all(|f| f.is_ipv6() == f.next_hop.is_ipv6()));
    assert!(flows.iter().any(|f| f.protocol == proto::ICMPV6));
    assert!(flows.iter().all(|f| f.protocol != proto::ICMP || !f.is_ipv6()));
}

#[test]
fn counts_are_multiples_of_sampling() {
    for f in sample(Scenario::Mix, 0.1, 512, 5_000) {
        assert_eq!(f.sampling, 512);
        assert!(f.packets % 512 == 0 && f.bytes % 512 == 0 && f.packets > 0, "{f:?}");
    }
}

#[test]
fn scan_probes_many_ports_of_one_host_from_one_source() {
    let flows = sample(Scenario::Scan, 0.0, 1, 5_000);
    let probes: Vec<&Flow> =
        flows.iter().filter(|f| f.src_addr == IpAddr::V4(SCANNER) && f.tcp_flags == TCP_SYN).collect();
    assert!(probes.len() > 3_000, "{} probes", probes.len());
    assert!(probes.iter().all(|f| f.dst_addr == IpAddr::V4(SCAN_VICTIM) && f.packets == 1));
    let ports: std::collections::HashSet<u16> = probes.iter().map(|f| f.dst_port).collect();
    assert_eq!(ports.len(), probes.len(), "every probe a new port");
}

#[test]
fn ddos_has_many_spoofed_sources_one_target() {
    let flows = sample(Scenario::Ddos, 0.0, 1, 5_000);
    let attack: Vec<&Flow> = flows.iter().filter(|f| f.dst_addr == IpAddr::V4(DDOS_TARGET)).collect();
    assert!(attack.len() > 3_500);
    let sources: std::collections::HashSet<IpAddr> = attack.iter().map(|f| f.src_addr).collect();
    assert!(sources.len() as f64 > attack.len() as f64 * 0.95);
}

#[test]
fn steady_repeats_a_fixed_set() {
    let flows = sample(Scenario::Steady, 0.0, 1, 64);
    for i in 0..16 {
        let (a, b) = (flows[i], flows[i + 16]);
        assert_eq!(
            (a.src_addr, a.dst_addr, a.src_port, a.dst_port),
            (b.src_addr, b.dst_addr, b.src_port, b.dst_port)
        );
        assert_eq!((a.packets, a.bytes, a.duration_ms()), (b.packets, b.bytes, b.duration_ms()));
        assert!(b.received_ms > a.received_ms);
    }
}
