//! Regression tests for what the fuzz targets (fuzz/, scripts/fuzz) found, one
//! per finding, on the smallest input that shows it.

mod common;
mod decode_support;

use std::net::SocketAddr;

use wvnr::decode::{Decoder, DecoderConfig};

/// fuzz netflow_v5: a v5 exporter cycling through engine ids kept 64 engines
/// whatever `max_domains_per_exporter` said (v5 had its own fixed cap).
#[test]
fn v5_engines_are_capped_by_max_domains_per_exporter() {
    let datagrams = decode_support::capture_payloads(&common::data_file("nf-v5.pcap"));
    let cfg = DecoderConfig { max_domains_per_exporter: 4, ..DecoderConfig::default() };
    let mut dec = Decoder::new(cfg.clone());
    let exporter = SocketAddr::from(([127, 0, 0, 1], 2055));
    let mut flows = 0u64;
    for (i, d) in datagrams.iter().cycle().take(40).enumerate() {
        let mut d = d.clone();
        d[20] = 1; // engine_type
        d[21] = i as u8; // engine_id: a new engine each datagram
        dec.decode(&d, exporter, 1_795_946_400_000, &mut |_| flows += 1);
        let fp = dec.footprint();
        assert!(fp.max_domains <= 4, "{} engines kept after datagram {i}", fp.max_domains);
        assert_eq!(fp.exceeded(&cfg), None);
    }
    assert!(flows > 0);
    assert_eq!(dec.exporters()[0].domains.len(), 4);
}
