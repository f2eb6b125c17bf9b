//! A counting global allocator proves the decode path allocates nothing per
//! record (or per datagram) once templates are known: NetFlow v5, v9 and IPFIX,
//! including datagrams that re-send identical templates and sampler options,
//! through the per-flow sink and the batch (`decode_into`) API.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use wvnr::decode::{Decoder, DecoderConfig};
use wvnr::flow::{Flow, FlowSource};
use wvnr::wire::{encoder, EncoderConfig};

mod alloc_support;

use alloc_support::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

const NOW: u64 = 1_795_946_851_000;

fn datagrams(protocol: FlowSource, sampling: u32) -> Vec<Vec<u8>> {
    let cfg = EncoderConfig {
        domain: 2,
        sampling,
        template_every: 4,
        boot_ms: NOW - 1_000_000,
        agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut enc = encoder(protocol, cfg);
    let flows: Vec<Flow> = (0..400u32)
        .map(|i| Flow {
            src_addr: if i % 5 == 4 && protocol != FlowSource::NetflowV5 {
                "2001:db8::1".parse().unwrap()
            } else {
                Ipv4Addr::from(0x0a00_0000 + i).into()
            },
            dst_addr: Ipv4Addr::new(192, 168, 0, 1).into(),
            protocol: 6,
            packets: u64::from(sampling) * u64::from(1 + i),
            bytes: u64::from(sampling) * 100,
            first_ms: NOW - 5000,
            last_ms: NOW - 10,
            ..Flow::EMPTY
        })
        .collect();
    let mut out = Vec::new();
    let mut rest = &flows[..];
    while !rest.is_empty() {
        let mut d = Vec::new();
        let n = enc.encode(rest, NOW, &mut d);
        rest = &rest[n..];
        out.push(d);
    }
    out
}

#[test]
fn no_allocation_per_record_after_warm_up() {
    let exporter: SocketAddr = "127.0.0.1:2055".parse().unwrap();
    for (protocol, sampling) in [
        (FlowSource::NetflowV5, 1),
        (FlowSource::NetflowV5, 8),
        (FlowSource::NetflowV9, 1),
        (FlowSource::NetflowV9, 16),
        (FlowSource::Ipfix, 1),
        (FlowSource::Ipfix, 16),
    ] {
        let all = datagrams(protocol, sampling);
        let mut dec = Decoder::new(DecoderConfig::default());
        // Warm-up: exporter entry, domain, templates, sampler options.
        for d in &all[..8] {
            dec.decode(d, exporter, NOW, &mut |_| {});
        }
        let mut flows = 0u64;
        let mut bytes = 0u64;
        let before = allocations();
        for d in &all[8..] {
            dec.decode(d, exporter, NOW, &mut |f| {
                flows += 1;
                bytes += f.bytes;
            });
        }
        let allocs = allocations() - before;
        assert!(flows >= 100, "{protocol:?}: only {flows} flows decoded");
        assert!(bytes > 0);
        assert_eq!(allocs, 0, "{protocol:?} sampling {sampling}: {allocs} allocations for {flows} flows");

        // The batch API: once the caller's Vec has grown, nothing allocates either.
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut batch = Vec::new();
        for d in &all[..8] {
            batch.clear();
            dec.decode_into(d, exporter, NOW, &mut batch);
        }
        batch.reserve(64);
        let mut batched = 0u64;
        let before = allocations();
        for d in &all[8..] {
            batch.clear();
            dec.decode_into(d, exporter, NOW, &mut batch);
            batched += batch.len() as u64;
        }
        let allocs = allocations() - before;
        assert_eq!(batched, flows, "{protocol:?}: batch and sink disagree");
        assert_eq!(allocs, 0, "{protocol:?} sampling {sampling}: {allocs} allocations in decode_into");
    }
}
