//! Same seed, same bytes — across versions: `wvnr gen` must write exactly the
//! captures in tests/data/gen/, which the generator wrote before its encoders
//! were rewritten for speed (commit 4ae7d32). Every protocol, sampled and
//! not, IPv4 and IPv6, several exporters taking turns, templates resent,
//! the flow pool replayed past its end, smaller than one datagram, and drawn
//! fresh (`--pool 0`).
//!
//! A deliberate change of the wire output or of the traffic model changes
//! these files: regenerate them with the command lines below (`--pcap
//! tests/data/gen/NAME.pcap`) and say why in the commit.

mod common;

use std::process::Command;

use common::{data_file, run_ok, wvnr_bin};

const CASES: [(&str, &str); 9] = [
    ("v5", "--protocol v5 --exporters 2 --batch 4 --sampling 10 --count 20 --seed 11 --pool 512"),
    (
        "v9-sampled",
        "--protocol v9 --exporters 2 --batch 4 --ipv6 0.3 --sampling 100 --template-every 5 --count 16 \
         --seed 12 --scenario ddos",
    ),
    ("v9", "--protocol v9 --ipv6 0.5 --count 8 --seed 13 --scenario scan --pool 0"),
    (
        "ipfix-sampled",
        "--protocol ipfix --exporters 2 --batch 4 --ipv6 0.3 --sampling 64 --template-every 5 --count 16 \
         --seed 14",
    ),
    ("ipfix", "--protocol ipfix --ipv6 1 --count 8 --seed 15 --pool 0 --scenario steady"),
    ("sflow-sampled", "--protocol sflow --ipv6 0.3 --sampling 512 --count 17 --seed 16"),
    ("sflow", "--protocol sflow --count 8 --seed 17 --scenario ddos --pool 300"),
    // Fewer datagrams than exporters: pools smaller than one datagram's flows.
    ("v9-tiny-pool", "--protocol v9 --exporters 3 --count 2 --seed 18"),
    ("sflow-tiny-pool", "--protocol sflow --exporters 4 --count 3 --seed 19"),
];

#[test]
fn captures_are_byte_identical_to_the_references() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in CASES {
        let path = dir.path().join(format!("{name}.pcap"));
        run_ok(Command::new(wvnr_bin()).arg("gen").args(args.split_whitespace()).arg("--pcap").arg(&path));
        let got = std::fs::read(&path).unwrap();
        let want = std::fs::read(data_file(&format!("gen/{name}.pcap"))).unwrap();
        assert_eq!(got.len(), want.len(), "{name}: capture length differs");
        if let Some(at) = got.iter().zip(&want).position(|(a, b)| a != b) {
            panic!("{name}: first differing byte at offset {at} of the capture");
        }
    }
}
