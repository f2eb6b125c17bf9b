//! A counting global allocator proves the generator's send loop allocates
//! nothing per datagram or per flow: the flow pool, the encoders, the datagram
//! buffers and `sendmmsg` batches are all reused. A run of 3,000 datagrams
//! allocates exactly as often as a run of 200 (the warm-up and the final
//! totals are the same in both), for every protocol.

use std::net::UdpSocket;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use wvnr::flow::FlowSource;
use wvnr::gen::{GenConfig, Generator};

mod alloc_support;

use alloc_support::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `run` alone (not by building the generator) for `count` datagrams.
fn run_allocations(cfg: &GenConfig, count: u64) -> (u64, u64) {
    let cfg = GenConfig { count: Some(count), ..cfg.clone() };
    let generator = Generator::new(cfg).unwrap();
    let stop = AtomicBool::new(false);
    let before = allocations();
    let totals = generator.run(&stop, |_| {}).unwrap();
    let allocs = allocations() - before;
    assert_eq!(totals.datagrams, count);
    (allocs, totals.flows)
}

#[test]
fn the_send_loop_allocates_nothing_per_datagram() {
    // Holds the port and reads nothing: the kernel takes the datagrams and drops them.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = sink.local_addr().unwrap();
    // Pools of 256 flows per exporter, replayed from pre-encoded records: even
    // the short run passes the end of a pool (and its port moves), so both
    // runs have the same warm-up and any difference is per datagram.
    for (protocol, ipv6, sampling, pool) in [
        (FlowSource::NetflowV5, 0.0, 1, 512),
        (FlowSource::NetflowV5, 0.0, 10, 512),
        (FlowSource::NetflowV9, 0.3, 1, 512),
        (FlowSource::NetflowV9, 0.3, 100, 512),
        (FlowSource::Ipfix, 0.3, 64, 512),
        (FlowSource::Ipfix, 0.0, 1, 512),
        (FlowSource::Sflow, 0.3, 1, 512),
        (FlowSource::Sflow, 0.0, 512, 512),
    ] {
        let cfg = GenConfig {
            target,
            protocol,
            exporters: 2,
            sampling,
            ipv6_fraction: ipv6,
            seed: Some(5),
            template_every: 7,
            pool_flows: pool,
            progress_every: Duration::from_secs(3600),
            ..GenConfig::default()
        };
        let (short, _) = run_allocations(&cfg, 200);
        let (long, flows) = run_allocations(&cfg, 3_000);
        assert!(flows > 3_000 * 5, "{protocol:?}: only {flows} flows");
        assert_eq!(
            long, short,
            "{protocol:?} ipv6 {ipv6} sampling {sampling} pool {pool}: 2,800 more datagrams made {} more allocations",
            long as i64 - short as i64
        );
    }
    drop(sink);
}
