//! Shared by the fuzz targets: how one fuzz input becomes several datagrams from
//! several exporters, and the invariants every decode must keep.
//!
//! Input framing (the seeds use it too, see tests/decode_fuzz_seeds.rs): a sequence of
//! `[selector u8][length u16 BE][length bytes]`; a frame cut short by the end of
//! the input takes what is left. The selector's low 2 bits pick one of four
//! exporters, the rest how far the clock moves before the datagram (0–6.3 s),
//! so templates, held data sets, their age limit and the exporter cap interact
//! across datagrams the way they do on a live socket.

use std::net::SocketAddr;

use wvnr::decode::{Decoder, DecoderConfig};
use wvnr::flow::FlowSource;

/// Caps small enough that a fuzz input can reach every one of them.
pub fn small_config() -> DecoderConfig {
    DecoderConfig {
        max_exporters: 3,
        max_domains_per_exporter: 4,
        max_templates_per_exporter: 8,
        max_pending_sets: 4,
        max_pending_bytes: 4096,
        pending_max_age_ms: 2_000,
        sampling_override: Vec::new(),
    }
}

/// One datagram of a fuzz input.
pub struct Frame<'a> {
    pub exporter: SocketAddr,
    pub advance_ms: u64,
    pub payload: &'a [u8],
}

/// Splits a fuzz input into frames (at most 64, so one input stays fast).
pub fn frames(mut data: &[u8]) -> impl Iterator<Item = Frame<'_>> {
    std::iter::from_fn(move || {
        let (&sel, rest) = data.split_first()?;
        let (len, rest) = match rest {
            [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            _ => (rest.len(), &rest[rest.len()..]),
        };
        let take = len.min(rest.len());
        let (payload, rest) = rest.split_at(take);
        data = rest;
        Some(Frame {
            exporter: SocketAddr::from(([127, 0, 0, 1 + (sel & 3)], 2055)),
            advance_ms: u64::from(sel >> 2) * 100,
            payload,
        })
    })
    .take(64)
}

/// Encodes datagrams in the framing `frames` reads (for seeds).
pub fn frame(out: &mut Vec<u8>, selector: u8, payload: &[u8]) {
    let len = payload.len().min(usize::from(u16::MAX));
    out.push(selector);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&payload[..len]);
}

/// Decodes every frame of `data` (as `protocol`, or sniffed when `None`) and
/// checks after each one: the decoder's tables are within their caps, the
/// outcome's flow count is what reached the sink, and every flow is sane.
pub fn decode_frames(data: &[u8], protocol: Option<FlowSource>) {
    let cfg = small_config();
    let mut dec = Decoder::new(cfg.clone());
    let mut now = 1_795_946_400_000u64;
    let mut datagrams = 0u64;
    for f in frames(data) {
        now += f.advance_ms;
        let mut seen = 0usize;
        let mut sink = |flow: &wvnr::flow::Flow| {
            seen += 1;
            assert!(flow.sampling >= 1, "sampling {} < 1", flow.sampling);
            if let Some(p) = protocol {
                assert_eq!(flow.source, p);
            }
            assert_eq!(flow.exporter, f.exporter.ip());
        };
        let out = match protocol {
            Some(p) => dec.decode_as(p, f.payload, f.exporter, now, &mut sink),
            None => dec.decode(f.payload, f.exporter, now, &mut sink),
        };
        datagrams += 1;
        assert_eq!(out.flows, seen, "outcome counts {} flows, sink saw {seen}", out.flows);
        let fp = dec.footprint();
        if let Some(cap) = fp.exceeded(&cfg) {
            panic!("decoder state over its cap ({cap}): {fp:?}");
        }
        assert_eq!(dec.stats().datagrams, datagrams);
    }
    dec.flush_pending();
    let fp = dec.footprint();
    assert_eq!(fp.max_pending_sets, 0, "flush_pending left held sets: {fp:?}");
    assert_eq!(fp.max_pending_bytes, 0, "flush_pending left held bytes: {fp:?}");
}
