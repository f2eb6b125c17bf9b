//! Decode throughput, flows per second on one core: wvnr's decoder and
//! netflow_parser side by side on the same datagrams (made by our encoders;
//! templates sent once, before the measured data-only datagrams).
//!
//! cargo bench --bench decode -- --quick

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netflow_parser::NetflowParser;
use wvnr::decode::{Decoder, DecoderConfig};
use wvnr::flow::{Flow, FlowSource};
use wvnr::wire::{encoder, EncoderConfig};

const NOW: u64 = 1_795_946_851_000;
const DATAGRAMS: usize = 64;
/// Flows per batch, as the worker's `BATCH_FLOWS`.
const BATCH: usize = 64;

fn flows(n: usize) -> Vec<Flow> {
    (0..n)
        .map(|i| Flow {
            src_addr: Ipv4Addr::from(0x0a00_0000 + i as u32).into(),
            dst_addr: Ipv4Addr::from(0xc0a8_0000 + (i % 200) as u32).into(),
            next_hop: Ipv4Addr::new(10, 255, 0, 1).into(),
            src_port: 1024 + i as u16,
            dst_port: [80, 443, 53, 22][i % 4],
            protocol: [6, 6, 17, 6][i % 4],
            tcp_flags: 0x1b,
            in_if: 3,
            out_if: 7,
            src_as: 64512,
            dst_as: 65001,
            src_mask: 24,
            dst_mask: 16,
            packets: 1 + i as u64 % 50,
            bytes: 64 * (1 + i as u64 % 50),
            first_ms: NOW - 30_000,
            last_ms: NOW - 1_000,
            ..Flow::EMPTY
        })
        .collect()
}

/// (template datagram, data datagrams, flows in the data datagrams)
fn datagrams(protocol: FlowSource) -> (Vec<u8>, Vec<Vec<u8>>, u64) {
    let cfg = EncoderConfig {
        domain: 1,
        sampling: 1,
        template_every: 0,
        boot_ms: NOW - 3_600_000,
        agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut enc = encoder(protocol, cfg);
    let per = enc.max_flows_per_datagram();
    let all = flows(per * (DATAGRAMS + 1));
    let mut first = Vec::new();
    let mut rest = &all[..];
    let n = enc.encode(rest, NOW, &mut first);
    rest = &rest[n..];
    let mut data = Vec::new();
    let mut count = 0;
    for _ in 0..DATAGRAMS {
        let mut d = Vec::new();
        let n = enc.encode(rest, NOW, &mut d);
        rest = &rest[n..];
        count += n as u64;
        data.push(d);
    }
    (first, data, count)
}

// One call = every datagram of `data` once. Never inlined, so
// bench/decode-instructions can count the instructions of exactly these calls.

/// The worker's path (src/pipeline.rs): batches of at most `BATCH` flows, each
/// handed on (here: summed) and cleared.
#[inline(never)]
fn run_wvnr_batch(dec: &mut Decoder, data: &[Vec<u8>], exporter: SocketAddr, batch: &mut Vec<Flow>) -> u64 {
    let mut sum = 0u64;
    let mut hand_on = |batch: &mut Vec<Flow>| {
        sum += batch.iter().map(|f| f.bytes).sum::<u64>();
        batch.clear();
    };
    for d in data {
        dec.decode_batched(black_box(d), exporter, NOW, batch, BATCH, &mut hand_on);
        if !batch.is_empty() {
            hand_on(batch);
        }
    }
    black_box(sum)
}

#[inline(never)]
fn run_wvnr_sink(dec: &mut Decoder, data: &[Vec<u8>], exporter: SocketAddr) -> u64 {
    let mut sum = 0u64;
    for d in data {
        dec.decode(black_box(d), exporter, NOW, &mut |f: &Flow| sum += black_box(f).bytes);
    }
    black_box(sum)
}

#[inline(never)]
fn run_netflow_parser(parser: &mut NetflowParser, data: &[Vec<u8>]) -> usize {
    let mut n = 0usize;
    for d in data {
        n += parser.parse_bytes(black_box(d)).packets.len();
    }
    black_box(n)
}

fn bench(c: &mut Criterion) {
    let exporter: SocketAddr = "127.0.0.1:2055".parse().unwrap();
    for (name, protocol) in
        [("v5", FlowSource::NetflowV5), ("v9", FlowSource::NetflowV9), ("ipfix", FlowSource::Ipfix)]
    {
        let (first, data, flows) = datagrams(protocol);
        let mut g = c.benchmark_group(format!("decode-{name}"));
        g.throughput(Throughput::Elements(flows));
        // Batch: every datagram's flows materialized in a reused Vec<Flow> (as
        // netflow_parser materializes its records), the way the worker does it.
        g.bench_function("wvnr", |b| {
            let mut dec = Decoder::new(DecoderConfig::default());
            dec.decode(&first, exporter, NOW, &mut |_| {});
            let mut batch = Vec::with_capacity(BATCH);
            b.iter(|| run_wvnr_batch(&mut dec, &data, exporter, &mut batch))
        });
        // Per-flow sink (the worker's path); black_box keeps every field of the flow live.
        g.bench_function("wvnr-sink", |b| {
            let mut dec = Decoder::new(DecoderConfig::default());
            dec.decode(&first, exporter, NOW, &mut |_| {});
            b.iter(|| run_wvnr_sink(&mut dec, &data, exporter))
        });
        g.bench_function("netflow_parser", |b| {
            let mut parser = NetflowParser::default();
            let _ = black_box(parser.parse_bytes(&first));
            b.iter(|| run_netflow_parser(&mut parser, &data))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
