//! Golden captures (softflowd 1.1.0 exports of deterministic traffic, made by
//! scripts/make-golden-captures): `wvnr decode` must report exactly the totals
//! nfdump 1.7.1 stored for them, and a live nfcapd must agree today.

mod common;
mod decode_support;

use std::process::Command;

use decode_support::{capture_payloads, nfcapd_totals, summary_totals, wvnr_summary};
use wvnr::flow::Counters;

const CAPTURES: [&str; 5] = ["nf-v5", "nf-v9", "nf-ipfix", "nf-v9-v6", "nf-ipfix-v6"];

fn expected(name: &str) -> Counters {
    let text = std::fs::read_to_string(common::data_file(&format!("{name}.expected"))).unwrap();
    let n: Vec<u64> = text.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_eq!(n.len(), 3, "{name}.expected: {text:?}");
    Counters { flows: n[0], packets: n[1], bytes: n[2] }
}

#[test]
fn summary_totals_match_nfdump() {
    for name in CAPTURES {
        let v = wvnr_summary(&common::data_file(&format!("{name}.pcap")), &[]);
        assert_eq!(summary_totals(&v), expected(name), "{name}");
        assert_eq!(v["errors"], serde_json::json!({}), "{name}");
        // softflowd numbers IPFIX records inclusively: that must not look like loss.
        assert_eq!(
            (v["missing_flows"].as_u64(), v["missing_datagrams"].as_u64()),
            (Some(0), Some(0)),
            "{name}"
        );
        let ex = v["exporters"].as_array().unwrap();
        assert_eq!(ex.len(), 1, "{name}");
        assert_eq!(ex[0]["address"], "127.0.0.1");
        assert_eq!(ex[0]["flows"].as_u64(), Some(expected(name).flows));
    }
}

#[test]
fn flows_carry_the_traffic_fields() {
    // The first TCP session of the traffic: 10.0.0.1:40000 -> 192.168.1.10:22, 5 packets
    // (SYN, ACK, data, FIN, ACK: 40 + 40 + 90 + 40 + 40 bytes).
    for name in ["nf-v5", "nf-v9", "nf-ipfix"] {
        let out = common::run_ok(
            Command::new(common::wvnr_bin())
                .arg("decode")
                .arg(common::data_file(&format!("{name}.pcap")))
                .args(["-o", "json"]),
        );
        let flows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(flows.len() as u64, expected(name).flows);
        let f = flows
            .iter()
            .find(|f| f["src_addr"] == "10.0.0.1" && f["src_port"] == 40000 && f["dst_port"] == 22)
            .unwrap_or_else(|| panic!("{name}: no 10.0.0.1:40000 -> :22 flow"));
        assert_eq!(
            (f["dst_addr"].as_str(), f["protocol"].as_u64()),
            (Some("192.168.1.10"), Some(6)),
            "{name}"
        );
        assert_eq!((f["packets"].as_u64(), f["bytes"].as_u64()), (Some(5), Some(240)), "{name}");
        assert_eq!(f["tcp_flags"].as_u64(), Some(0x1b), "{name}"); // FIN SYN PSH ACK
                                                                   // 2026-11-29 10:00:00 UTC, within the protocols' 1 s header precision.
        let first = f["first_ms"].as_u64().unwrap();
        assert!(first.abs_diff(1_795_946_400_000) <= 1000, "{name}: first_ms {first}");
        assert_eq!(f["last_ms"].as_u64().unwrap() - first, 350, "{name}");
        // ICMP echo requests: type 8 code 0 in dst_port, src_port 0.
        let icmp: Vec<_> = flows.iter().filter(|f| f["protocol"] == 1).collect();
        assert!(!icmp.is_empty(), "{name}");
        assert!(icmp.iter().all(|f| f["src_port"] == 0), "{name}");
        assert!(icmp.iter().any(|f| f["dst_port"] == 8 << 8), "{name}");
    }
}

#[test]
fn forcing_the_wrong_protocol_counts_bad_version() {
    let v = wvnr_summary(&common::data_file("nf-v9.pcap"), &["--protocol", "v5"]);
    assert_eq!(v["flows"], 0);
    assert_eq!(v["errors"]["bad_version"].as_u64(), Some(5));
    assert_eq!(v["bad_datagrams"].as_u64(), Some(5));
    let v = wvnr_summary(&common::data_file("nf-v5.pcap"), &["--protocol", "ipfix"]);
    assert_eq!((v["flows"].as_u64(), v["errors"]["bad_version"].as_u64()), (Some(0), Some(5)));
}

#[test]
fn limit_and_csv_output() {
    let out = common::run_ok(
        Command::new(common::wvnr_bin())
            .arg("decode")
            .arg(common::data_file("nf-v9-v6.pcap"))
            .args(["-o", "csv", "--limit", "7"]),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8);
    assert!(lines[0].starts_with("first,last,duration_ms,exporter"));
    assert!(lines[1..].iter().all(|l| l.contains("2001:db8:")), "{out}");
}

#[test]
fn live_nfcapd_agrees_with_wvnr() {
    if !common::require_tool("nfcapd") || !common::require_tool("nfdump") {
        return;
    }
    for name in CAPTURES {
        let path = common::data_file(&format!("{name}.pcap"));
        let nfdump = nfcapd_totals(&capture_payloads(&path));
        assert_eq!(summary_totals(&wvnr_summary(&path, &[])), nfdump, "{name}");
    }
}
