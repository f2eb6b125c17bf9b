//! Store and query throughput: write flows/s (append + flush every 10k), scan flows/s,
//! and `-s dstport/bytes` query flows/s, with and without a filter.
//! Run: cargo bench --bench store -- --quick

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use wvnr::filter::Filter;
use wvnr::flow::Flow;
use wvnr::query::{execute, Mode, OrderBy, Query, StatField};
use wvnr::store::{Store, StoreConfig};

const T0: u64 = 1_795_946_700_000;

/// Traffic-like flows, 2000 per second of received time.
fn flows(n: usize, seed: u64) -> Vec<Flow> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let services = [80u16, 443, 443, 443, 53, 22, 25, 123, 993, 3389, 8080];
    (0..n)
        .map(|i| {
            let received_ms = T0 + i as u64 / 2;
            let packets: u64 = 1 + (rng.gen::<f64>().powi(4) * 5000.0) as u64;
            Flow {
                exporter: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % 4) as u8)),
                received_ms,
                first_ms: received_ms - rng.gen_range(1000..60_000),
                last_ms: received_ms - rng.gen_range(0..1000),
                src_addr: IpAddr::V4(Ipv4Addr::new(10, 1, rng.gen_range(0..16), rng.gen())),
                dst_addr: IpAddr::V4(Ipv4Addr::new(93, rng.gen_range(0..8), rng.gen(), rng.gen())),
                src_port: rng.gen_range(32768..61000),
                dst_port: services[rng.gen_range(0..services.len())],
                protocol: [6u8, 6, 17][rng.gen_range(0..3)],
                tcp_flags: 0x1b,
                in_if: rng.gen_range(1..4),
                out_if: rng.gen_range(1..4),
                packets,
                bytes: packets * rng.gen_range(40..1500),
                ..Flow::EMPTY
            }
        })
        .collect()
}

fn write_all(store: &Store, flows: &[Flow], workers: u32) {
    std::thread::scope(|s| {
        for (w, part) in flows.chunks(flows.len().div_ceil(workers as usize)).enumerate() {
            s.spawn(move || {
                let mut wr = store.writer(w as u32).unwrap();
                for (i, f) in part.iter().enumerate() {
                    wr.append(f).unwrap();
                    if i % 10_000 == 9_999 {
                        wr.flush().unwrap();
                    }
                }
                wr.finish().unwrap();
            });
        }
    });
}

fn bench_store(c: &mut Criterion) {
    let write_set = flows(200_000, 1);
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.throughput(Throughput::Elements(write_set.len() as u64));
    g.bench_function("write 200k flows, 1 worker", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
            write_all(&store, &write_set, 1);
        })
    });

    let scan_set = flows(2_000_000, 2);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    write_all(&store, &scan_set, 4);
    g.throughput(Throughput::Elements(scan_set.len() as u64));
    g.bench_function("scan 2M flows", |b| {
        b.iter(|| {
            let n = AtomicU64::new(0);
            store.scan(0, u64::MAX, |blk| _ = n.fetch_add(blk.len() as u64, Ordering::Relaxed)).unwrap();
            assert_eq!(n.into_inner(), scan_set.len() as u64);
        })
    });
    for (name, filter) in [("any", "any"), ("proto tcp and dst port 443", "proto tcp and dst port 443")] {
        let q = Query {
            from_ms: 0,
            to_ms: u64::MAX,
            filter: Filter::compile(filter).unwrap(),
            mode: Mode::Stat { field: StatField::DstPort, order: OrderBy::Bytes, limit: 10 },
        };
        g.bench_function(format!("-s dstport/bytes over 2M flows, filter {name}"), |b| {
            b.iter(|| execute(&store, &q).unwrap())
        });
    }
    let q = Query {
        from_ms: 0,
        to_ms: u64::MAX,
        filter: Filter::any(),
        mode: Mode::Stat { field: StatField::SrcIp, order: OrderBy::Flows, limit: 10 },
    };
    g.bench_function("-s srcip/flows over 2M flows", |b| b.iter(|| execute(&store, &q).unwrap()));
    g.finish();
    eprintln!("stored bytes/flow: {:.1}", store.usage().bytes as f64 / scan_set.len() as f64);
}

/// `rollups(profile, 30 days)` with 288 buckets a day and 21 channels each, from the index.
fn bench_rollups(c: &mut Criterion) {
    use wvnr::flow::Counters;
    use wvnr::rollup::{BucketRollup, ChannelCounters};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let start = T0 / 1000 - 30 * 86_400;
    let counters = Counters { flows: 10, packets: 100, bytes: 10_000 };
    for k in 0..30 * 288u64 {
        let r = BucketRollup {
            bucket: start + k * 300,
            profile: "live".into(),
            total: counters,
            channels: (0..21)
                .map(|i| ChannelCounters { channel: format!("channel-{i}"), counters })
                .collect(),
            sources: vec![],
            top: vec![],
        };
        store.write_rollup(&r).unwrap();
    }
    let mut g = c.benchmark_group("rollups");
    g.sample_size(20);
    g.bench_function("30 days x 288 buckets x 21 channels", |b| {
        b.iter(|| assert_eq!(store.rollups("live", start, start + 30 * 86_400).len(), 30 * 288))
    });
    g.finish();
}

criterion_group!(benches, bench_store, bench_rollups);
criterion_main!(benches);
