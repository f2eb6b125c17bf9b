//! One collector worker's per-datagram path without the socket: decode →
//! aggregate (totals, 21 live channels, 10 top-N tables) → store (columnar
//! segment in a temporary directory), on datagrams made by `wvnr gen`
//! (4 exporters, seed 42, the realistic mix, templates every 20 datagrams).
//! Hand-overs and flushes happen as often as in a worker receiving 50 000
//! datagrams/s (every 2 s and 1 s of that stream).
//!
//! cargo bench --bench collector -- --quick
//!
//! Reported per datagram; flows per datagram: v5 30, v9 10, IPFIX 9. The store
//! goes to /dev/shm when it exists (CPU, not disk latency, is measured).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wvnr::aggregate::{Aggregator, WORKER_TOP_CAP};
use wvnr::channels::ProfileSet;
use wvnr::config::Config;
use wvnr::decode::{Decoder, DecoderConfig};
use wvnr::flow::FlowSource;
use wvnr::gen::{GenConfig, Generator};
use wvnr::live::WorkerStatus;
use wvnr::pcap::{CaptureReader, UdpDatagram};
use wvnr::pipeline::FlowPath;
use wvnr::profile::Profiles;
use wvnr::store::{Store, StoreConfig};

/// Datagrams in the replayed capture (flows repeat after this many).
const DATAGRAMS: u64 = 20_000;
/// The stream rate the hand-over and flush intervals are scaled to.
const RATE: u64 = 50_000;
/// Receive clock start: 2026-11-29 10:05:00 UTC, a bucket start.
const START_MS: u64 = 1_795_946_700_000;

fn capture(dir: &Path, protocol: FlowSource) -> Vec<UdpDatagram> {
    let path = dir.join("gen.pcap");
    let cfg = GenConfig {
        protocol,
        count: Some(DATAGRAMS),
        exporters: 4,
        seed: Some(42),
        pcap: Some(path.clone()),
        ..GenConfig::default()
    };
    Generator::new(cfg).expect("generator").run(&Default::default(), |_| {}).expect("capture written");
    let mut reader = CaptureReader::open(&path).expect("capture readable");
    let mut out = Vec::new();
    while let Some(d) = reader.next_datagram().expect("capture parses") {
        out.push(d);
    }
    out
}

fn bench(c: &mut Criterion) {
    let cfg = Config::default();
    let sources = cfg.effective_sources();
    let set = ProfileSet::compile(&Profiles::default(), &sources, 1).expect("default profiles compile");
    for (name, protocol) in
        [("v5", FlowSource::NetflowV5), ("v9", FlowSource::NetflowV9), ("ipfix", FlowSource::Ipfix)]
    {
        // tmpfs when there is one: the bench measures CPU, not the disk's fdatasync latency.
        let shm = Path::new("/dev/shm");
        let dir =
            if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.expect("temp dir");
        let datagrams = capture(dir.path(), protocol);
        let store = Store::open(&dir.path().join("data"), StoreConfig::default()).expect("store");
        let mut path = FlowPath::new(
            Decoder::new(DecoderConfig::default()),
            Aggregator::new(set.shape.clone(), WORKER_TOP_CAP),
            store.writer(0).expect("writer"),
        );
        let mut status = WorkerStatus::default();
        // Warm-up outside the measurement: templates learned, segment file created, tables grown.
        for d in &datagrams {
            path.datagram(&d.payload, d.src, START_MS, 0, None, &set.compiled, &mut status);
        }
        let mut sent = datagrams.len() as u64;
        let mut g = c.benchmark_group(format!("collector-{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("datagram", |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    let d = &datagrams[(sent % datagrams.len() as u64) as usize];
                    let received_ms = START_MS + sent * 1000 / RATE;
                    path.datagram(&d.payload, d.src, received_ms, 0, None, &set.compiled, &mut status);
                    sent += 1;
                    if sent.is_multiple_of(RATE) {
                        path.writer.flush().expect("flush");
                    }
                    if sent.is_multiple_of(2 * RATE) {
                        black_box(path.agg.take());
                    }
                }
                started.elapsed()
            })
        });
        g.finish();
        let per_datagram = status.flows as f64 / sent.max(1) as f64;
        eprintln!(
            "collector-{name}: {sent} datagrams, {} flows ({per_datagram:.1} per datagram), {} store errors",
            status.flows, status.store_errors
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
