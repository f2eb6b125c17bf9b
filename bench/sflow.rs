//! sFlow decode and encode throughput, in flow samples per second on one core.
//! Run: `cargo bench --bench sflow -- --quick` (figures in docs/performance-sflow.md).

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, Criterion, Throughput};
use wvnr::decode::sflow::SflowDecoder;
use wvnr::decode::stats::DecodeStats;
use wvnr::flow::{proto, Flow};
use wvnr::pcap::CaptureReader;
use wvnr::wire::{sflow, EncoderConfig, FlowEncoder};

/// A mix like a busy edge router's: IPv4 and IPv6, TCP/UDP/ICMP, some VLANs, AS numbers on half.
fn flows(n: u32) -> Vec<Flow> {
    (0..n)
        .map(|i| {
            let v6 = i % 4 == 0;
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                (
                    std::net::Ipv6Addr::from(0x2001_0db8u128 << 96 | u128::from(i)).into(),
                    "2001:db8::1".parse().unwrap(),
                )
            } else {
                (std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), "192.0.2.1".parse().unwrap())
            };
            Flow {
                src_addr: src,
                dst_addr: dst,
                protocol: [proto::TCP, proto::UDP, proto::TCP, if v6 { proto::ICMPV6 } else { proto::ICMP }]
                    [i as usize % 4],
                src_port: 1024 + (i % 50_000) as u16,
                dst_port: 443,
                tcp_flags: 0x18,
                packets: 10,
                bytes: 10 * (64 + u64::from(i % 1400)),
                in_if: 1 + i % 16,
                out_if: 17,
                src_vlan: if i % 3 == 0 { 100 } else { 0 },
                src_as: if i % 2 == 0 { 64500 } else { 0 },
                dst_as: if i % 2 == 0 { 65000 + i % 100 } else { 0 },
                next_hop: "192.0.2.254".parse().unwrap(),
                src_mask: 24,
                dst_mask: 24,
                ..Flow::EMPTY
            }
        })
        .collect()
}

fn encoder() -> sflow::Encoder {
    sflow::Encoder::new(EncoderConfig {
        domain: 0,
        sampling: 1000,
        template_every: 1,
        boot_ms: 0,
        agent: "127.0.0.9".parse().unwrap(),
    })
}

fn encoded(flows: &[Flow]) -> Vec<Vec<u8>> {
    let mut enc = encoder();
    let mut out = Vec::new();
    let mut rest = flows;
    let mut now = 1_000;
    let mut datagrams = Vec::new();
    while !rest.is_empty() {
        rest = &rest[enc.encode(rest, now, &mut out)..];
        datagrams.push(out.clone());
        now += 1;
    }
    datagrams
}

fn golden() -> Vec<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sf-pmacctd.pcap");
    let mut r = CaptureReader::open(&path).unwrap();
    let mut v = Vec::new();
    while let Some(d) = r.next_datagram().unwrap() {
        v.push(d.payload);
    }
    v
}

/// Flow samples in `datagrams` (what the decoder turns into flows).
fn count_samples(datagrams: &[Vec<u8>]) -> u64 {
    let mut dec = SflowDecoder::new(64);
    let mut stats = DecodeStats::default();
    for d in datagrams {
        dec.decode(d, "127.0.0.1".parse().unwrap(), 0, None, &mut stats, &mut |_| {});
    }
    stats.flows
}

fn decode_bench(c: &mut Criterion, name: &str, datagrams: &[Vec<u8>]) {
    let mut group = c.benchmark_group("sflow");
    group.throughput(Throughput::Elements(count_samples(datagrams)));
    let exporter: IpAddr = "127.0.0.1".parse().unwrap();
    let mut dec = SflowDecoder::new(64);
    let mut stats = DecodeStats::default();
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut bytes = 0u64;
            for d in datagrams {
                dec.decode(black_box(d), exporter, 0, None, &mut stats, &mut |f| bytes += f.bytes);
            }
            bytes
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let flows = flows(4096);
    decode_bench(c, "decode_encoder_samples", &encoded(&flows));
    decode_bench(c, "decode_pmacctd_samples", &golden());

    let mut group = c.benchmark_group("sflow");
    group.throughput(Throughput::Elements(flows.len() as u64));
    let mut enc = encoder();
    let mut out = Vec::with_capacity(2048);
    let mut now = 0;
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut rest = &flows[..];
            while !rest.is_empty() {
                rest = &rest[enc.encode(black_box(rest), now, &mut out)..];
                now += 1;
            }
            out.len()
        })
    });
    group.finish();
}

/// This thread's user + system CPU time in seconds, from /proc (USER_HZ = 100).
/// Criterion measures wall time, which on a shared, loaded machine mostly
/// measures the other processes; CPU time per sample does not.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // Fields after the command name start at "state" (field 3): utime is field 14, stime 15.
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Decodes `datagrams` over and over for 3 CPU-seconds; prints flow samples per CPU-second.
fn cpu_time_rate(name: &str, datagrams: &[Vec<u8>]) {
    let samples = count_samples(datagrams);
    let exporter: IpAddr = "127.0.0.1".parse().unwrap();
    let mut dec = SflowDecoder::new(64);
    let mut stats = DecodeStats::default();
    let Some(start) = thread_cpu_seconds() else { return };
    let mut decoded = 0u64;
    let mut bytes = 0u64;
    let cpu = loop {
        for d in datagrams {
            dec.decode(black_box(d), exporter, 0, None, &mut stats, &mut |f| bytes += f.bytes);
        }
        decoded += samples;
        let cpu = thread_cpu_seconds().unwrap_or(start) - start;
        if cpu >= 3.0 {
            break cpu;
        }
    };
    black_box(bytes);
    println!(
        "sflow/{name}: {:.2} M flow samples per CPU-second ({decoded} in {cpu:.2} s CPU)",
        decoded as f64 / cpu / 1e6
    );
}

criterion_group!(sflow_benches, benches);

fn main() {
    sflow_benches();
    // Only in a real bench run, not when `cargo test --all-targets` runs each bench once.
    if std::env::args().any(|a| a == "--bench") {
        cpu_time_rate("decode_encoder_samples", &encoded(&flows(4096)));
        cpu_time_rate("decode_pmacctd_samples", &golden());
    }
    Criterion::default().configure_from_args().final_summary();
}
