//! Hostile and broken NetFlow v5 / v9 / IPFIX input: never a panic or a hang,
//! each problem counted as the right `WireError`, tables stay under their caps.

mod common;
mod decode_support;

use std::net::SocketAddr;

use decode_support::capture_payloads;
use wvnr::decode::{DatagramOutcome, Decoder, DecoderConfig};
use wvnr::wire::sets::SetIter;
use wvnr::wire::WireError;

fn exporter() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn decode(dec: &mut Decoder, d: &[u8]) -> DatagramOutcome {
    dec.decode(d, exporter(), 1_795_946_400_000, &mut |_| {})
}

fn golden(name: &str) -> Vec<Vec<u8>> {
    capture_payloads(&common::data_file(&format!("{name}.pcap")))
}

/// Offsets at which a v9 packet ends cleanly (header end and flowset ends).
fn v9_boundaries(d: &[u8]) -> Vec<usize> {
    let mut at = 20;
    let mut v = vec![20];
    for set in SetIter::new(&d[20..]) {
        at += set.unwrap().body.len() + 4;
        v.push(at);
    }
    v
}

#[test]
fn every_truncation_of_every_golden_datagram_is_counted() {
    for name in ["nf-v5", "nf-v9", "nf-ipfix", "nf-v9-v6", "nf-ipfix-v6"] {
        let datagrams = golden(name);
        // Templates known, so truncated data sets are really parsed.
        let mut dec = Decoder::new(DecoderConfig::default());
        for d in &datagrams {
            decode(&mut dec, d);
        }
        for d in &datagrams {
            let clean = if name.starts_with("nf-v9") { v9_boundaries(d) } else { vec![] };
            for cut in 0..d.len() {
                let out = decode(&mut dec, &d[..cut]);
                // v9 has no length field: a cut at a flowset end, or fewer than 4
                // zero bytes after one (taken as padding), is a valid packet.
                let last = clean.iter().copied().filter(|&b| b <= cut).max().unwrap_or(0);
                let padding = last >= 20 && cut - last < 4 && d[last..cut].iter().all(|&b| b == 0);
                if clean.contains(&cut) || padding {
                    assert_eq!(out.error, None, "{name} cut at set boundary {cut}");
                } else {
                    assert_eq!(out.error, Some(WireError::Truncated), "{name} cut at {cut} of {}", d.len());
                }
            }
        }
        assert!(dec.stats().errors[WireError::Truncated.index()] > 0);
    }
}

fn ipfix(sets: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 10, 0, 0, 0x6b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    d.extend_from_slice(sets);
    let len = d.len() as u16;
    d[2..4].copy_from_slice(&len.to_be_bytes());
    d
}

fn v9(flowsets: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 9, 0, 1, 0, 0, 0x10, 0, 0x6b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    d.extend_from_slice(flowsets);
    d
}

fn error_of(d: &[u8]) -> Option<WireError> {
    let mut dec = Decoder::new(DecoderConfig::default());
    decode(&mut dec, d).error
}

#[test]
fn lengths_that_lie() {
    // IPFIX message length beyond the datagram / below the header.
    let mut d = ipfix(&[]);
    d[3] = 200;
    assert_eq!(error_of(&d), Some(WireError::Truncated));
    d[3] = 10;
    assert_eq!(error_of(&d), Some(WireError::BadLength));
    // Set length 0, 2, and past the end.
    assert_eq!(error_of(&ipfix(&[1, 0, 0, 0, 1, 2, 3, 4])), Some(WireError::BadLength));
    assert_eq!(error_of(&ipfix(&[1, 0, 0, 2, 1, 2, 3, 4])), Some(WireError::BadLength));
    assert_eq!(error_of(&ipfix(&[1, 0, 0, 200, 1, 2, 3, 4])), Some(WireError::Truncated));
    assert_eq!(error_of(&v9(&[1, 0, 0, 0])), Some(WireError::BadLength));
    // Template record claiming more fields than the set holds.
    assert_eq!(error_of(&ipfix(&[0, 2, 0, 12, 1, 0, 0, 9, 0, 8, 0, 4])), Some(WireError::Truncated));
    // v5: count 0; count larger than the records present.
    let mut v5 = vec![0u8; 24 + 48];
    v5[1] = 5;
    assert_eq!(error_of(&v5), Some(WireError::BadLength));
    v5[3] = 2;
    assert_eq!(error_of(&v5), Some(WireError::Truncated));
    // Unknown version, and too short to tell.
    assert_eq!(error_of(&[0, 7, 0, 1, 0, 0]), Some(WireError::BadVersion));
    assert_eq!(error_of(&[0, 9]), Some(WireError::Truncated));
}

#[test]
fn bad_templates() {
    // Template id below 256.
    assert_eq!(error_of(&ipfix(&[0, 2, 0, 12, 0, 255, 0, 1, 0, 8, 0, 4])), Some(WireError::BadTemplate));
    assert_eq!(error_of(&v9(&[0, 0, 0, 12, 0, 5, 0, 1, 0, 8, 0, 4])), Some(WireError::BadTemplate));
    // Only zero-length fields: a record would take no bytes.
    assert_eq!(error_of(&ipfix(&[0, 2, 0, 12, 1, 0, 0, 1, 0, 8, 0, 0])), Some(WireError::BadTemplate));
    // v9 has no variable-length fields.
    assert_eq!(error_of(&v9(&[0, 0, 0, 12, 1, 0, 0, 1, 0, 8, 0xff, 0xff])), Some(WireError::BadTemplate));
    // v9 options template with a scope length that is not a multiple of 4.
    assert_eq!(
        error_of(&v9(&[0, 1, 0, 16, 1, 0, 0, 3, 0, 4, 0, 1, 0, 4, 0, 34, 0, 4])),
        Some(WireError::BadTemplate)
    );
    // Set ids 4..255 are reserved.
    assert_eq!(error_of(&ipfix(&[0, 9, 0, 4])), Some(WireError::Unsupported));
}

#[test]
fn zero_and_max_length_fields_in_ipfix_records() {
    // Template 256: sourceIPv4Address (4), a zero-length field, a variable-length field.
    let template = [0, 2, 0, 20, 1, 0, 0, 3, 0, 8, 0, 4, 0, 99, 0, 0, 0, 82, 0xff, 0xff];
    let mut dec = Decoder::new(DecoderConfig::default());
    assert_eq!(decode(&mut dec, &ipfix(&template)).error, None);
    // A record whose variable-length value claims 65535 bytes.
    let mut sets = vec![1, 0, 0, 15, 10, 0, 0, 1, 255, 255, 255, 1, 2, 3, 4];
    sets[3] = sets.len() as u8;
    let out = decode(&mut dec, &ipfix(&sets));
    assert_eq!((out.flows, out.error), (0, Some(WireError::Truncated)));
    // And a good one: 4 + 1-byte prefix + 3 bytes.
    let mut flows = 0;
    let good = [1, 0, 0, 12, 10, 0, 0, 1, 3, b'e', b't', b'h'];
    dec.decode(&ipfix(&good), exporter(), 0, &mut |f| {
        flows += 1;
        assert_eq!(f.src_addr.to_string(), "10.0.0.1");
    });
    assert_eq!(flows, 1);
}

#[test]
fn template_flood_stays_under_the_cap() {
    let cfg = DecoderConfig { max_templates_per_exporter: 32, ..DecoderConfig::default() };
    let mut dec = Decoder::new(cfg);
    let mut id = 256u16;
    for _ in 0..200 {
        let mut sets = vec![0, 2, 0, 0];
        for _ in 0..50 {
            sets.extend_from_slice(&id.to_be_bytes());
            sets.extend_from_slice(&[0, 1, 0, 8, 0, 4]);
            id = id.wrapping_add(1).max(256);
        }
        let len = sets.len() as u16;
        sets[2..4].copy_from_slice(&len.to_be_bytes());
        decode(&mut dec, &ipfix(&sets));
    }
    let s = dec.stats();
    assert_eq!(dec.exporters()[0].templates, 32);
    assert_eq!(s.templates_received, 10_000);
    assert_eq!(s.templates_evicted, 10_000 - 32);
    assert_eq!(s.errors[WireError::CapacityExceeded.index()], 10_000 - 32);
}

#[test]
fn exporter_and_domain_floods_stay_under_the_caps() {
    let cfg = DecoderConfig { max_exporters: 16, max_domains_per_exporter: 4, ..DecoderConfig::default() };
    let mut dec = Decoder::new(cfg);
    for i in 0..1000u32 {
        let mut d = ipfix(&[]);
        d[12..16].copy_from_slice(&i.to_be_bytes());
        let addr = SocketAddr::new(std::net::Ipv4Addr::from(0x7f00_0000 + i).into(), 4739);
        dec.decode(&d, addr, u64::from(i), &mut |_| {});
        dec.decode(&d, exporter(), u64::from(i), &mut |_| {});
    }
    let ex = dec.exporters();
    assert_eq!(ex.len(), 16);
    assert!(ex.iter().all(|e| e.domains.len() <= 4));
    assert!(dec.stats().exporters_evicted >= 1000 - 16);
}

#[test]
fn random_byte_flips_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5eed);
    for name in ["nf-v5", "nf-v9", "nf-ipfix", "nf-ipfix-v6"] {
        let datagrams = golden(name);
        let mut dec = Decoder::new(DecoderConfig::default());
        for _ in 0..3000 {
            let mut d = datagrams[rng.gen_range(0..datagrams.len())].clone();
            for _ in 0..rng.gen_range(1..6) {
                let i = rng.gen_range(0..d.len());
                d[i] = rng.gen();
            }
            decode(&mut dec, &d);
        }
        assert_eq!(dec.stats().datagrams, 3000);
    }
}
