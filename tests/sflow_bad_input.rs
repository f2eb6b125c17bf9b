//! Hostile and broken sFlow input: truncation at every offset, lengths that
//! overflow their parent, sample counts that lie, random byte flips, agent
//! floods. Never a panic; always counted as the right `WireError`.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use wvnr::decode::sflow::SflowDecoder;
use wvnr::decode::stats::{DatagramOutcome, DecodeStats};
use wvnr::flow::Flow;
use wvnr::pcap::CaptureReader;
use wvnr::wire::{sflow, EncoderConfig, FlowEncoder, WireError};

const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn golden() -> Vec<Vec<u8>> {
    let mut r = CaptureReader::open(&common::data_file("sf-pmacctd.pcap")).unwrap();
    let mut v = Vec::new();
    while let Some(d) = r.next_datagram().unwrap() {
        v.push(d.payload);
    }
    assert!(v.len() > 10);
    v
}

fn decode(dec: &mut SflowDecoder, bytes: &[u8], stats: &mut DecodeStats) -> (DatagramOutcome, usize) {
    let mut n = 0;
    let out = dec.decode(bytes, EXPORTER, 1_000, None, stats, &mut |_f: &Flow| n += 1);
    assert_eq!(out.flows, n);
    (out, n)
}

fn word(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn set_word(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Header length and the (start, end, format) of each sample in an IPv4-agent datagram.
fn layout(d: &[u8]) -> (usize, Vec<(usize, usize, u32)>) {
    assert_eq!(word(d, 4), 1, "IPv4 agent");
    let mut at = 28;
    let mut samples = Vec::new();
    for _ in 0..word(d, 24) {
        let end = at + 8 + word(d, at + 4) as usize;
        samples.push((at, end, word(d, at) & 0xfff));
        at = end;
    }
    assert_eq!(at, d.len());
    (28, samples)
}

fn is_flow(format: u32) -> bool {
    format == 1 || format == 3
}

fn flow_samples(samples: &[(usize, usize, u32)]) -> usize {
    samples.iter().filter(|s| is_flow(s.2)).count()
}

#[test]
fn every_truncation_is_counted_as_truncated_or_a_lying_count() {
    for d in golden() {
        let (header, samples) = layout(&d);
        for cut in 0..d.len() {
            let mut dec = SflowDecoder::new(4);
            let mut stats = DecodeStats::default();
            let (out, flows) = decode(&mut dec, &d[..cut], &mut stats);
            let complete = samples.iter().filter(|s| s.1 <= cut && is_flow(s.2)).count();
            let boundary = cut >= header && samples.iter().any(|s| s.0 == cut);
            let want = if boundary { WireError::BadLength } else { WireError::Truncated };
            assert_eq!(out.error, Some(want), "cut at {cut} of {}", d.len());
            assert_eq!(stats.errors_total(), 1);
            assert_eq!(flows, if cut < header { 0 } else { complete }, "cut at {cut}");
        }
    }
}

#[test]
fn record_length_past_its_sample_is_bad_length_and_drops_one_sample() {
    let d = golden()
        .into_iter()
        .find(|d| word(d, 24) >= 3 && flow_samples(&layout(d).1) == word(d, 24) as usize)
        .unwrap();
    let (_, samples) = layout(&d);
    let first = samples[0].0;
    // Flow sample body: 32 bytes of compact header, then the first record's tag and length.
    let record_len_at = first + 8 + 32 + 4;
    for bad in [u32::MAX, 0x8000_0000, (samples[0].1 - record_len_at) as u32] {
        let mut b = d.clone();
        set_word(&mut b, record_len_at, bad);
        let mut dec = SflowDecoder::new(4);
        let mut stats = DecodeStats::default();
        let (out, flows) = decode(&mut dec, &b, &mut stats);
        assert_eq!(out.error, Some(WireError::BadLength), "record length {bad:#x}");
        assert_eq!(stats.errors[WireError::BadLength.index()], 1);
        assert_eq!(flows, samples.len() - 1);
    }
    // A record count larger than the records present: BadLength too.
    let mut b = d.clone();
    set_word(&mut b, first + 8 + 28, 1000);
    let (out, flows) = decode(&mut SflowDecoder::new(4), &b, &mut DecodeStats::default());
    assert_eq!((out.error, flows), (Some(WireError::BadLength), samples.len() - 1));
    // A sample length past the datagram: Truncated, nothing decoded.
    let mut b = d.clone();
    set_word(&mut b, first + 4, 0xffff_fff0);
    let (out, flows) = decode(&mut SflowDecoder::new(4), &b, &mut DecodeStats::default());
    assert_eq!((out.error, flows), (Some(WireError::Truncated), 0));
}

#[test]
fn raw_header_and_gateway_counts_are_checked() {
    let mut enc = sflow::Encoder::new(EncoderConfig {
        domain: 0,
        sampling: 1,
        template_every: 1,
        boot_ms: 0,
        agent: EXPORTER,
    });
    let flow = Flow {
        src_addr: "10.0.0.1".parse().unwrap(),
        dst_addr: "10.0.0.2".parse().unwrap(),
        protocol: 6,
        packets: 1,
        bytes: 100,
        src_as: 64500,
        dst_as: 64501,
        ..Flow::EMPTY
    };
    let mut d = Vec::new();
    enc.encode(&[flow], 5_000, &mut d);
    let find = |d: &[u8], tag: u32| (28..d.len() - 4).step_by(4).find(|&i| word(d, i) == tag).unwrap();
    // Raw header record (tag 1 right after the 32-byte compact sample header): header_length too long.
    let raw = 28 + 8 + 32;
    assert_eq!(word(&d, raw), 1);
    let mut b = d.clone();
    set_word(&mut b, raw + 8 + 12, 10_000);
    let (out, flows) = decode(&mut SflowDecoder::new(4), &b, &mut DecodeStats::default());
    assert_eq!((out.error, flows), (Some(WireError::BadLength), 0));
    // Extended gateway: AS path segment claiming 2^30 AS numbers.
    let gw = find(&d, 1003);
    let segment_count_at = gw + 8 + 8 + 12 + 4; // tag+len, next hop, as/src_as/peer_as, segments
    assert_eq!(word(&d, segment_count_at - 4), 1, "one segment");
    let mut b = d.clone();
    set_word(&mut b, segment_count_at + 4, 1 << 30);
    let (out, flows) = decode(&mut SflowDecoder::new(4), &b, &mut DecodeStats::default());
    assert_eq!((out.error, flows), (Some(WireError::BadLength), 0));
    // Unchanged, it decodes.
    let (out, flows) = decode(&mut SflowDecoder::new(4), &d, &mut DecodeStats::default());
    assert_eq!((out.error, flows), (None, 1));
}

#[test]
fn sample_counts_that_lie_are_counted() {
    for d in golden().iter().filter(|d| flow_samples(&layout(d).1) == word(d, 24) as usize).take(10) {
        let n = word(d, 24) as usize;
        for (count, flows) in [(n + 5, n), (u32::MAX as usize, n), (n - 1, n - 1), (0, 0)] {
            let mut b = d.clone();
            set_word(&mut b, 24, count as u32);
            let mut stats = DecodeStats::default();
            let (out, got) = decode(&mut SflowDecoder::new(4), &b, &mut stats);
            assert_eq!(out.error, Some(WireError::BadLength), "count {count} of {n}");
            assert_eq!(got, flows);
            assert_eq!(stats.errors_total(), 1);
        }
    }
}

#[test]
fn unknown_versions_and_sample_types() {
    let d = golden().into_iter().find(|d| flow_samples(&layout(d).1) == word(d, 24) as usize).unwrap();
    let mut b = d.clone();
    set_word(&mut b, 0, 4);
    let (out, _) = decode(&mut SflowDecoder::new(4), &b, &mut DecodeStats::default());
    assert_eq!(out.error, Some(WireError::BadVersion));
    let mut b = d.clone();
    set_word(&mut b, 4, 7); // agent address type
    let (out, _) = decode(&mut SflowDecoder::new(4), &b, &mut DecodeStats::default());
    assert_eq!(out.error, Some(WireError::BadLength));
    // A vendor sample type: skipped by its length, counted, the rest decodes.
    let (_, samples) = layout(&d);
    let mut b = d.clone();
    set_word(&mut b, samples[0].0, 9 << 12 | 1);
    let mut stats = DecodeStats::default();
    let (out, flows) = decode(&mut SflowDecoder::new(4), &b, &mut stats);
    assert_eq!((out.error, flows), (Some(WireError::Unsupported), samples.len() - 1));
    assert_eq!(stats.bad_datagrams, 0, "flows came out of it");
}

#[test]
fn random_byte_flips_never_panic() {
    let all = golden();
    let mut rng = SmallRng::seed_from_u64(0x5f10);
    let mut dec = SflowDecoder::new(8);
    let mut stats = DecodeStats::default();
    let mut flows = 0u64;
    const ROUNDS: u64 = 20_000;
    for _ in 0..ROUNDS {
        let mut b = all[rng.gen_range(0..all.len())].clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..b.len());
            b[i] = rng.gen();
        }
        if rng.gen_bool(0.2) {
            b.truncate(rng.gen_range(0..b.len()));
        }
        let (_, n) = decode(&mut dec, &b, &mut stats);
        flows += n as u64;
        assert!(dec.agent_count() <= 8);
    }
    for _ in 0..2_000 {
        let len = rng.gen_range(0..400);
        let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if b.len() >= 8 {
            b[..4].copy_from_slice(&5u32.to_be_bytes());
            b[4..8].copy_from_slice(&1u32.to_be_bytes());
        }
        let (_, n) = decode(&mut dec, &b, &mut stats);
        flows += n as u64;
    }
    assert_eq!(stats.datagrams, ROUNDS + 2_000);
    assert_eq!(stats.flows, flows);
    assert!(stats.errors_total() > 0 && flows > 0, "{:?} {flows}", stats.errors_json());
}

#[test]
fn agent_flood_is_capped_and_counted() {
    let d = golden().remove(0);
    let mut dec = SflowDecoder::new(16);
    let mut stats = DecodeStats::default();
    for i in 0..1000u32 {
        let mut b = d.clone();
        set_word(&mut b, 8, 0x0a00_0000 + i); // agent address
        decode(&mut dec, &b, &mut stats);
        assert!(dec.agent_count() <= 16);
    }
    assert_eq!(stats.errors[WireError::CapacityExceeded.index()], 1000 - 16);
    assert_eq!(stats.errors_total(), 1000 - 16);
}
