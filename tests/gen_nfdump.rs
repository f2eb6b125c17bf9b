//! nfcapd receives what `wvnr gen` sends; nfdump's totals equal the
//! generator's printed totals exactly (v5, v9, IPFIX).
//!
//! nfcapd 1.7.1 applies the sampling interval the exporters announce (v5
//! header, v9/IPFIX sampler options), so the sampled cases compare the
//! sampling-corrected totals directly too.

mod common;

use std::process::Command;

use common::peers::{nfdump_totals, start_nfcapd, wait_drained};
use common::{free_udp_port, require_tool, run_ok, wvnr_bin};

fn check(protocol: &str, sampling: u32, extra: &[&str]) {
    if !require_tool("nfcapd") || !require_tool("nfdump") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let nfcapd = start_nfcapd(dir.path(), port);
    let target = format!("127.0.0.1:{port}");
    let out = run_ok(
        Command::new(wvnr_bin())
            .args(["gen", "--target", &target, "--protocol", protocol, "--rate", "5000", "--count", "1500"])
            .args(["--exporters", "3", "--sampling", &sampling.to_string(), "--json"])
            .args(extra),
    );
    let dropped = wait_drained(port);
    nfcapd.stop("TERM");
    assert_eq!(dropped, 0, "the kernel dropped datagrams nfcapd did not read in time (machine overloaded?)");
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (flows, packets, bytes) = nfdump_totals(dir.path());
    assert_eq!(t["datagrams"], 1500);
    assert_eq!(flows, t["flows"].as_u64().unwrap(), "{protocol}: flows");
    assert_eq!(packets, t["packets"].as_u64().unwrap(), "{protocol} sampling {sampling}: packets");
    assert_eq!(bytes, t["bytes"].as_u64().unwrap(), "{protocol} sampling {sampling}: bytes");
}

#[test]
fn netflow_v5_totals_match_nfdump() {
    check("v5", 1, &[]);
}

#[test]
fn netflow_v9_totals_match_nfdump() {
    check("v9", 1, &["--ipv6", "0.3", "--scenario", "mix"]);
}

#[test]
fn ipfix_totals_match_nfdump() {
    check("ipfix", 1, &["--ipv6", "0.3", "--template-every", "5"]);
}

#[test]
fn sampled_v9_totals_match_nfdump() {
    check("v9", 100, &["--scenario", "ddos"]);
}

#[test]
fn sampled_v5_totals_match_nfdump() {
    check("v5", 10, &[]);
}

#[test]
fn sampled_ipfix_totals_match_nfdump() {
    check("ipfix", 64, &["--ipv6", "0.2"]);
}
