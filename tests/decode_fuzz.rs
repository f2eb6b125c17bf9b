//! A bounded fuzz loop that runs in `cargo test` on stable Rust: golden and
//! encoder-made datagrams mutated with a seeded RNG for about two seconds.
//! Nothing may panic or hang, and the decoder's tables stay under their caps.

mod common;
mod decode_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use wvnr::decode::{Decoder, DecoderConfig};

fn mutate(rng: &mut rand::rngs::SmallRng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seeds[rng.gen_range(0..seeds.len())].clone();
    for _ in 0..rng.gen_range(1..4) {
        if d.is_empty() {
            break;
        }
        let i = rng.gen_range(0..d.len());
        match rng.gen_range(0..7) {
            0 => d[i] ^= 1 << rng.gen_range(0..8),
            1 => d[i] = [0, 0xff, 0x80, 1][rng.gen_range(0..4)],
            2 => d.truncate(i),
            3 => {
                // Overwrite a 16-bit length / id / count with something interesting.
                let v: u16 = [0, 1, 3, 4, 255, 256, 0x8000, 0xffff, rng.gen()][rng.gen_range(0..9)];
                if i + 2 <= d.len() {
                    d[i..i + 2].copy_from_slice(&v.to_be_bytes());
                }
            }
            4 => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                let j = rng.gen_range(0..other.len());
                d.truncate(i);
                d.extend_from_slice(&other[j..]);
            }
            5 => {
                let n = rng.gen_range(1..16).min(d.len() - i);
                let chunk = d[i..i + n].to_vec();
                d.splice(i..i, chunk);
            }
            _ => d[i] = rng.gen(),
        }
    }
    d
}

#[test]
fn mutated_datagrams_for_two_seconds() {
    let mut seeds = Vec::new();
    for name in ["nf-v5", "nf-v9", "nf-ipfix", "nf-v9-v6", "nf-ipfix-v6"] {
        seeds.extend(decode_support::capture_payloads(&common::data_file(&format!("{name}.pcap"))));
    }
    let cfg = DecoderConfig {
        max_exporters: 8,
        max_templates_per_exporter: 16,
        max_pending_sets: 8,
        max_pending_bytes: 16 * 1024,
        ..DecoderConfig::default()
    };
    let mut dec = Decoder::new(cfg);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(20261129);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut n = 0u64;
    let mut flows = 0u64;
    while Instant::now() < deadline {
        for _ in 0..64 {
            let d = mutate(&mut rng, &seeds);
            // A handful of exporters, so per-exporter state is shared across mutations.
            let exporter = SocketAddr::from(([127, 0, 0, rng.gen_range(1..12)], 2055));
            dec.decode(&d, exporter, 1_795_946_400_000 + n, &mut |_| flows += 1);
            n += 1;
        }
    }
    let s = dec.stats();
    assert_eq!(s.datagrams, n);
    assert!(flows > 0, "no mutated datagram decoded at all in {n} tries");
    assert!(s.errors_total() > 0);
    let ex = dec.exporters();
    assert!(ex.len() <= 8);
    assert!(ex.iter().all(|e| e.templates <= 16), "{ex:?}");
    eprintln!("fuzz: {n} datagrams, {flows} flows, errors {}", s.errors_json());
}
