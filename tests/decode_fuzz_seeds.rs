//! Seed corpora for the fuzz targets (fuzz/, scripts/fuzz), made from the golden
//! captures and wvnr's own encoders. The test checks the seeds are what the fuzz
//! targets expect (real conversations that decode without an error, in the
//! `[selector u8][length u16 BE][bytes]` framing of fuzz/src/lib.rs); with
//! `WVNR_FUZZ_SEEDS=DIR` set it also writes them to DIR/TARGET/ (scripts/fuzz does).

mod common;

use std::net::SocketAddr;
use std::path::Path;

use wvnr::decode::{Decoder, DecoderConfig};
use wvnr::flow::FlowSource;
use wvnr::pcap::CaptureReader;
use wvnr::wire::{encoder, sniff, EncoderConfig};

/// fuzz/src/lib.rs `frame`: one datagram in the fuzz input framing.
fn frame(out: &mut Vec<u8>, selector: u8, payload: &[u8]) {
    let len = payload.len().min(usize::from(u16::MAX));
    out.push(selector);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&payload[..len]);
}

/// The datagrams of a seed, back out of the framing.
fn unframe(mut seed: &[u8]) -> Vec<&[u8]> {
    let mut v = Vec::new();
    while let [_, a, b, rest @ ..] = seed {
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        v.push(&rest[..len]);
        seed = &rest[len..];
    }
    v
}

/// (target, name, bytes)
type Seeds = Vec<(&'static str, String, Vec<u8>)>;

fn target_of(p: FlowSource) -> &'static str {
    match p {
        FlowSource::NetflowV5 => "netflow_v5",
        FlowSource::NetflowV9 => "netflow_v9",
        FlowSource::Ipfix => "ipfix",
        FlowSource::Sflow => "sflow",
    }
}

fn capture_seeds(seeds: &mut Seeds) {
    let mut files: Vec<_> = std::fs::read_dir(common::data_file(""))
        .expect("read test data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "golden captures missing: {files:?}");
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read(path).expect("read capture");
        // The file seed stays under scripts/fuzz's -max_len.
        seeds.push(("pcap", stem.clone(), raw[..raw.len().min(16 * 1024)].to_vec()));
        let mut reader = CaptureReader::open(path).expect("open capture");
        let mut payloads = Vec::new();
        while let Some(d) = reader.next_datagram().expect("read capture") {
            payloads.push(d.payload);
        }
        let protocol = sniff(&payloads[0]).expect("capture of a known protocol");
        let target = target_of(protocol);
        // Windows of consecutive datagrams from two exporters (templates first),
        // and single datagrams.
        for (i, window) in payloads.chunks(4).take(16).enumerate() {
            let mut seed = Vec::new();
            for (j, p) in window.iter().enumerate() {
                frame(&mut seed, (j as u8 & 1) | 4, p);
            }
            seeds.push((target, format!("{stem}-w{i}"), seed.clone()));
            seeds.push(("any_datagram", format!("{stem}-w{i}"), seed));
        }
        for (i, p) in payloads.iter().take(8).enumerate() {
            let mut seed = Vec::new();
            frame(&mut seed, 0, p);
            seeds.push((target, format!("{stem}-d{i}"), seed));
        }
    }
}

/// Datagrams from wvnr's own encoders, sampled and with options templates and
/// IPv6 flows, which the softflowd captures lack.
fn encoder_seeds(seeds: &mut Seeds) {
    use std::net::{IpAddr, Ipv4Addr};
    use wvnr::flow::Flow;
    const NOW: u64 = 1_795_946_400_000;
    let flows: Vec<Flow> = (0..40u32)
        .map(|i| Flow {
            src_addr: if i % 3 == 0 {
                "2001:db8::7".parse().unwrap()
            } else {
                Ipv4Addr::from(0x0a00_0000 + i).into()
            },
            dst_addr: Ipv4Addr::new(192, 168, 0, 1).into(),
            protocol: [6, 17, 1, 58][i as usize % 4],
            src_port: 1000 + i as u16,
            dst_port: 443,
            packets: 16 * u64::from(1 + i),
            bytes: 16 * 1500,
            first_ms: NOW - 5000,
            last_ms: NOW - 10,
            src_vlan: 7,
            src_mac: [2, 0, 0, 0, 0, 1],
            ..Flow::EMPTY
        })
        .collect();
    for protocol in [FlowSource::NetflowV5, FlowSource::NetflowV9, FlowSource::Ipfix, FlowSource::Sflow] {
        let cfg = EncoderConfig {
            domain: 3,
            sampling: 16,
            template_every: 2,
            boot_ms: NOW - 1_000_000,
            agent: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let mut enc = encoder(protocol, cfg);
        let mut seed = Vec::new();
        let mut rest = &flows[..];
        let mut i = 0u8;
        while !rest.is_empty() && i < 4 {
            let mut d = Vec::new();
            let per = enc.max_flows_per_datagram().min(6);
            let n = enc.encode(&rest[..per.min(rest.len())], NOW, &mut d);
            if n == 0 {
                break;
            }
            rest = &rest[n..];
            frame(&mut seed, i & 1, &d);
            i += 1;
        }
        seeds.push((target_of(protocol), "encoder".to_string(), seed.clone()));
        seeds.push(("any_datagram", format!("encoder-{}", target_of(protocol)), seed));
    }
}

#[test]
fn fuzz_seeds_are_clean_conversations() {
    let mut seeds = Seeds::new();
    capture_seeds(&mut seeds);
    encoder_seeds(&mut seeds);
    for target in ["netflow_v5", "netflow_v9", "ipfix", "sflow", "any_datagram", "pcap"] {
        assert!(seeds.iter().filter(|s| s.0 == target).count() >= 2, "few seeds for {target}");
    }
    let exporter = SocketAddr::from(([127, 0, 0, 1], 2055));
    for (target, name, seed) in seeds.iter().filter(|s| s.0 != "pcap") {
        let mut dec = Decoder::new(DecoderConfig::default());
        let mut flows = 0;
        for d in unframe(seed) {
            dec.decode(d, exporter, 1_795_946_400_000, &mut |_| flows += 1);
        }
        let s = dec.stats();
        // A window may start with data whose template came earlier: held, not an error yet.
        assert_eq!(s.errors_total(), 0, "{target}/{name}: {}", s.errors_json());
        let held = dec.footprint().max_pending_sets;
        assert!(flows > 0 || s.templates_received > 0 || held > 0, "{target}/{name} decodes to nothing");
    }
    if let Some(dir) = std::env::var_os("WVNR_FUZZ_SEEDS") {
        for (target, name, seed) in &seeds {
            let d = Path::new(&dir).join(target);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(name), seed).unwrap();
        }
        eprintln!("wrote {} seeds into {}", seeds.len(), Path::new(&dir).display());
    }
}
