//! `wvnr ingest`: a golden softflowd export capture stored through the same
//! decoder and store writer lands with nfdump's totals (tests/data/*.expected),
//! at its capture times, with the rollups of its buckets built.

mod common;

use std::process::Command;

/// "flows packets bytes" from an nfdump-made expected file (first three numbers).
fn expected(name: &str) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(common::data_file(name)).unwrap();
    let nums: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(3)
        .map(|w| w.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2])
}

fn summary(data: &std::path::Path, filter: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new(common::wvnr_bin());
    cmd.arg("query").arg("--data").arg(data);
    if let Some(f) = filter {
        cmd.arg(f);
    }
    serde_json::from_str(&common::run_ok(cmd.args(["--summary", "-o", "json"]))).unwrap()
}

#[test]
fn ingested_captures_store_nfdumps_totals_and_build_rollups() {
    let data = tempfile::tempdir().unwrap();
    let mut want = (0, 0, 0);
    for name in ["nf-v5", "nf-v9", "nf-ipfix-v6"] {
        let out = common::run_ok(
            Command::new(common::wvnr_bin())
                .arg("ingest")
                .arg(common::data_file(&format!("{name}.pcap")))
                .arg("--data")
                .arg(data.path()),
        );
        assert!(out.contains("0 decode errors"), "{out}");
        let e = expected(&format!("{name}.expected"));
        want = (want.0 + e.0, want.1 + e.1, want.2 + e.2);
    }
    let got = summary(data.path(), None);
    assert_eq!(
        (got["flows"].as_u64().unwrap(), got["packets"].as_u64().unwrap(), got["bytes"].as_u64().unwrap()),
        want
    );
    // The filter language works on what was ingested, and the IPv6 capture is there.
    let v6 = summary(data.path(), Some("ipv6"));
    assert_eq!(v6["flows"].as_u64().unwrap(), expected("nf-ipfix-v6.expected").0);

    // Rollups of the touched buckets exist and add up to the same flows.
    let store = wvnr::store::Store::open(data.path(), wvnr::store::StoreConfig::default()).unwrap();
    let rollups = store.rollups("live", 0, u64::MAX / 2);
    assert!(!rollups.is_empty());
    assert_eq!(rollups.iter().map(|r| r.total.flows).sum::<u64>(), want.0);
    assert_eq!(rollups[0].channels.len(), 21, "the default profile's channels are counted");

    // Ingesting the same capture again adds to the buckets (rollups rebuilt from all raw flows).
    common::run_ok(
        Command::new(common::wvnr_bin())
            .arg("ingest")
            .arg(common::data_file("nf-v5.pcap"))
            .arg("--data")
            .arg(data.path()),
    );
    let store = wvnr::store::Store::open(data.path(), wvnr::store::StoreConfig::default()).unwrap();
    let again: u64 = store.rollups("live", 0, u64::MAX / 2).iter().map(|r| r.total.flows).sum();
    assert_eq!(again, want.0 + expected("nf-v5.expected").0);
}

#[test]
fn a_file_that_is_not_a_capture_gets_one_clear_line() {
    let data = tempfile::tempdir().unwrap();
    let bogus = data.path().join("notes.txt");
    std::fs::write(&bogus, "not a capture").unwrap();
    let out = Command::new(common::wvnr_bin())
        .arg("ingest")
        .arg(&bogus)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a pcap or pcapng capture"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
