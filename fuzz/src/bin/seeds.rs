//! Writes seed corpora for every fuzz target from the golden captures:
//! `seeds TESTDATA_DIR CORPUS_DIR` → CORPUS_DIR/{netflow_v5,netflow_v9,ipfix,sflow,any_datagram,pcap}/.
//!
//! Datagram targets get the UDP payloads in the `wvnr_fuzz::frames` framing:
//! each capture's first datagrams together (templates before data), windows of
//! consecutive datagrams, and single datagrams. The pcap target gets the files.

use std::path::Path;

use wvnr::flow::FlowSource;
use wvnr::pcap::CaptureReader;
use wvnr::wire::{encoder, sniff, EncoderConfig};
use wvnr_fuzz::frame;

fn target_of(p: FlowSource) -> &'static str {
    match p {
        FlowSource::NetflowV5 => "netflow_v5",
        FlowSource::NetflowV9 => "netflow_v9",
        FlowSource::Ipfix => "ipfix",
        FlowSource::Sflow => "sflow",
    }
}

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("create corpus dir");
    std::fs::write(d.join(name), data).expect("write seed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, testdata, corpus] = &args[..] else {
        eprintln!("usage: seeds TESTDATA_DIR CORPUS_DIR");
        std::process::exit(2);
    };
    let corpus = Path::new(corpus);
    let mut files: Vec<_> = std::fs::read_dir(testdata)
        .expect("read test data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    let mut count = 0;
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let raw = std::fs::read(path).expect("read capture");
        // Keep the file seed small: libFuzzer's default -max_len is 4096 for new inputs.
        write(corpus, "pcap", &stem, &raw[..raw.len().min(16 * 1024)]);
        let mut reader = CaptureReader::open(path).expect("open capture");
        let mut payloads = Vec::new();
        while let Some(d) = reader.next_datagram().expect("read capture") {
            payloads.push(d.payload);
        }
        let Some(protocol) = payloads.first().and_then(|p| sniff(p)) else { continue };
        let target = target_of(protocol);
        for (i, window) in payloads.chunks(4).take(16).enumerate() {
            let mut seed = Vec::new();
            for (j, p) in window.iter().enumerate() {
                frame(&mut seed, (j as u8 & 1) | 4, p);
            }
            write(corpus, target, &format!("{stem}-w{i}"), &seed);
            write(corpus, "any_datagram", &format!("{stem}-w{i}"), &seed);
            count += 2;
        }
        for (i, p) in payloads.iter().take(8).enumerate() {
            let mut seed = Vec::new();
            frame(&mut seed, 0, p);
            write(corpus, target, &format!("{stem}-d{i}"), &seed);
            count += 1;
        }
    }
    count += encoder_seeds(corpus);
    println!("wrote {count} seeds from {} captures into {}", files.len(), corpus.display());
}

/// Datagrams from wvnr's own encoders, sampled and with options templates and
/// IPv6 flows, which the softflowd captures lack.
fn encoder_seeds(corpus: &Path) -> usize {
    use std::net::{IpAddr, Ipv4Addr};
    use wvnr::flow::Flow;
    const NOW: u64 = 1_795_946_400_000;
    let flows: Vec<Flow> = (0..40u32)
        .map(|i| Flow {
            src_addr: if i % 3 == 0 { "2001:db8::7".parse().unwrap() } else { Ipv4Addr::from(0x0a00_0000 + i).into() },
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
    let mut count = 0;
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
        write(corpus, target_of(protocol), "encoder", &seed);
        write(corpus, "any_datagram", &format!("encoder-{}", target_of(protocol)), &seed);
        count += 2;
    }
    count
}
