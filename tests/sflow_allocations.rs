//! The sFlow hot path allocates nothing once warm: decoding (views, inner
//! header parsing, sequence tables, interface counters) and encoding into a
//! reused buffer. A counting global allocator proves it.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use wvnr::decode::sflow::SflowDecoder;
use wvnr::decode::stats::DecodeStats;
use wvnr::flow::{Flow, FlowSource};
use wvnr::pcap::CaptureReader;
use wvnr::wire::{sflow, EncoderConfig, FlowEncoder};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

// One test per file: a second test thread would allocate concurrently and spoil the count.
#[test]
fn decode_and_encode_allocate_nothing_after_warm_up() {
    let mut reader = CaptureReader::open(&common::data_file("sf-pmacctd.pcap")).unwrap();
    let mut datagrams = Vec::new();
    while let Some(d) = reader.next_datagram().unwrap() {
        datagrams.push((d.src.ip(), d.payload));
    }
    let mut dec = SflowDecoder::new(64);
    let mut stats = DecodeStats::default();
    let mut flows = 0u64;
    let mut bytes = 0u64;
    let mut sink = |f: &Flow| {
        flows += 1;
        bytes += f.bytes;
    };
    for (src, d) in &datagrams {
        dec.decode(d, *src, 1, None, &mut stats, &mut sink);
    }
    let per_pass = stats.flows;
    let before = allocations();
    for round in 0..20 {
        for (src, d) in &datagrams {
            dec.decode(d, *src, 2 + round, None, &mut stats, &mut sink);
        }
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "decoding allocated {during} times");
    assert!(per_pass > 270 && bytes > 0);
    assert_eq!((flows, stats.flows), (21 * per_pass, 21 * per_pass));

    // Encoding into a reused buffer.
    let mut enc = sflow::Encoder::new(EncoderConfig {
        domain: 1,
        sampling: 100,
        template_every: 1,
        boot_ms: 0,
        agent: "127.0.0.9".parse().unwrap(),
    });
    let flows: Vec<Flow> = (0..64u32)
        .map(|i| Flow {
            src_addr: std::net::Ipv4Addr::from(0x0a00_0000 + i).into(),
            dst_addr: "192.0.2.1".parse().unwrap(),
            protocol: 6,
            src_port: 1000 + i as u16,
            dst_port: 443,
            packets: 10,
            bytes: 10_000,
            in_if: i % 8,
            src_vlan: (i % 3) as u16,
            source: FlowSource::Sflow,
            ..Flow::EMPTY
        })
        .collect();
    let mut out = Vec::with_capacity(2048);
    let mut now = 1_000;
    let agent = "127.0.0.9".parse().unwrap();
    // Warm-up long enough for the encoder's occasional counter samples to have
    // visited every interface: each new (agent, ifIndex) is one table insert.
    for _ in 0..50 {
        let mut rest = &flows[..];
        while !rest.is_empty() {
            rest = &rest[enc.encode(rest, now, &mut out)..];
            now += 1;
            dec.decode(&out, agent, now, None, &mut stats, &mut |_| {});
        }
    }
    let before = allocations();
    for _ in 0..50 {
        let mut rest = &flows[..];
        while !rest.is_empty() {
            rest = &rest[enc.encode(rest, now, &mut out)..];
            now += 1;
            dec.decode(&out, agent, now, None, &mut stats, &mut |_| {});
        }
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "encoding + decoding allocated {during} times");
    assert_eq!(stats.errors_total(), 0);
    assert_eq!(stats.missing_flows + stats.missing_datagrams, 0);
}
