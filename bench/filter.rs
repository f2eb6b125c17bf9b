//! Filter throughput: flows per second through `Filter::count` for typical
//! filters, and through the default profile's 21-channel `classify`.
//!
//! cargo bench --bench filter -- --quick

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wvnr::filter::Filter;
use wvnr::flow::Flow;
use wvnr::profile::{CompiledProfile, Profiles};

const FLOWS: usize = 100_000;

fn flows() -> Vec<Flow> {
    let mut rng = SmallRng::seed_from_u64(42);
    (0..FLOWS)
        .map(|_| {
            let packets = rng.gen_range(1..1000u64);
            Flow {
                src_addr: Ipv4Addr::new(10, rng.gen(), rng.gen(), rng.gen()).into(),
                dst_addr: Ipv4Addr::new(192, 168, rng.gen(), rng.gen()).into(),
                protocol: [6u8, 6, 17, 1][rng.gen_range(0..4)],
                src_port: rng.gen_range(1024..=65535),
                dst_port: [22u16, 53, 80, 443, 8080, 3389][rng.gen_range(0..6)],
                tcp_flags: rng.gen_range(0..64),
                packets,
                bytes: packets * rng.gen_range(40..1500),
                first_ms: 1_000_000,
                last_ms: 1_000_000 + rng.gen_range(0..60_000),
                ..Flow::EMPTY
            }
        })
        .collect()
}

fn bench_filters(c: &mut Criterion) {
    let flows = flows();
    let hosts: Vec<String> = (0..100).map(|i| format!("10.0.{}.{}", i / 10, i % 10)).collect();
    let ip_list = format!("ip in [{}]", hosts.join(" "));
    let filters = [
        "any",
        "proto tcp",
        "port 443",
        "src net 10.0.0.0/8 and dst port in [22 53 80 443]",
        "not (proto udp or proto icmp) and bytes > 10k and flags S",
        "bps > 1m or pps > 100",
        ip_list.as_str(),
    ];
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(FLOWS as u64));
    for text in filters {
        let f = Filter::compile(text).unwrap();
        let name = if text.len() > 60 { "ip in [100 hosts]" } else { text };
        group.bench_function(name, |b| b.iter(|| black_box(f.count(black_box(&flows)))));
    }
    let live = CompiledProfile::new(Profiles::default().get("live").unwrap()).unwrap();
    group.bench_function("classify: live profile, 21 channels", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for f in black_box(&flows) {
                live.classify(f, |_| hits += 1);
            }
            black_box(hits)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_filters);
criterion_main!(benches);
