//! A channel added later is counted over the raw flows already in the store:
//! by the library call and by `wvnr profile channel add`.

mod common;

use std::path::Path;
use std::process::Command;

use wvnr::flow::{Counters, Flow};
use wvnr::profile::{backfill_channel, Channel, Profile, Sign};
use wvnr::rollup::{BucketRollup, ChannelCounters};
use wvnr::store::{Store, StoreConfig};

const A: u64 = 1_795_946_700; // bucket starts, UTC seconds (multiples of 300)
const B: u64 = A + 300;
const C: u64 = A + 1200;

fn flow(bucket: u64, port: u16, bytes: u64) -> Flow {
    Flow { received_ms: bucket * 1000 + 1234, protocol: 6, dst_port: port, packets: 2, bytes, ..Flow::EMPTY }
}

/// Bucket A: ten ssh flows and five http flows; bucket B: three ssh flows; nothing in between.
fn store_flows(dir: &Path) {
    let store = Store::open(dir, StoreConfig::default()).unwrap();
    let mut w = store.writer(0).unwrap();
    for _ in 0..10 {
        w.append(&flow(A, 22, 100)).unwrap();
    }
    for _ in 0..5 {
        w.append(&flow(A, 80, 1000)).unwrap();
    }
    for _ in 0..3 {
        w.append(&flow(B, 22, 50)).unwrap();
    }
    w.finish().unwrap();
}

fn channel(name: &str, filter: &str, order: u32) -> Channel {
    Channel { name: name.into(), filter: filter.into(), colour: "#123456".into(), sign: Sign::Plus, order }
}

fn rollup(profile: &str, bucket: u64, channels: Vec<(&str, u64)>) -> BucketRollup {
    BucketRollup {
        bucket,
        profile: profile.into(),
        total: Counters { flows: 99, packets: 99, bytes: 99 },
        channels: channels
            .into_iter()
            .map(|(c, flows)| ChannelCounters {
                channel: c.into(),
                counters: Counters { flows, packets: 0, bytes: 0 },
            })
            .collect(),
        sources: vec![],
        top: vec![],
    }
}

fn counters_of(r: &BucketRollup, channel: &str) -> Counters {
    r.channels
        .iter()
        .find(|c| c.channel == channel)
        .unwrap_or_else(|| panic!("no {channel} in {r:?}"))
        .counters
}

#[test]
fn backfill_updates_existing_rollups_and_creates_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    store_flows(dir.path());
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    // A already has a rollup (the collector wrote it) with a stale ssh figure; C has one but no raw flows.
    store.write_rollup(&rollup("p", A, vec![("ssh", 7), ("http", 5)])).unwrap();
    store.write_rollup(&rollup("p", C, vec![("http", 1)])).unwrap();

    let mut p = Profile::new("p");
    p.add_channel(channel("http", "port 80", 0)).unwrap();
    let ssh = p.add_channel(channel("ssh", "proto tcp and port 22", 1)).unwrap();
    let mut reports = Vec::new();
    let written = backfill_channel(&store, &p, ssh, &mut |r| reports.push(*r)).unwrap();
    assert_eq!(written, 2);
    let last = reports.last().unwrap();
    assert_eq!((last.buckets_done, last.buckets_total, last.flows_matched), (2, 2, 13));

    let got = store.rollups("p", A, C + 300);
    assert_eq!(got.iter().map(|r| r.bucket).collect::<Vec<_>>(), vec![A, B, C]);
    // A: ssh replaced, http and the total kept, channels in profile order.
    assert_eq!(counters_of(&got[0], "ssh"), Counters { flows: 10, packets: 20, bytes: 1000 });
    assert_eq!(counters_of(&got[0], "http").flows, 5);
    assert_eq!(got[0].total.flows, 99);
    assert_eq!(got[0].channels.iter().map(|c| c.channel.as_str()).collect::<Vec<_>>(), ["http", "ssh"]);
    // B: created from the stored flows.
    assert_eq!(got[1].total, Counters { flows: 3, packets: 6, bytes: 150 });
    assert_eq!(got[1].channels, vec![ChannelCounters { channel: "ssh".into(), counters: got[1].total }]);
    // C: no stored flows (expired, perhaps): left as it was.
    assert_eq!(got[2], rollup("p", C, vec![("http", 1)]));

    // A channel index that does not exist is an error, not a panic.
    assert!(backfill_channel(&store, &p, 5, &mut |_| {}).is_err());
}

#[test]
fn empty_store_backfills_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let mut p = Profile::new("p");
    p.add_channel(channel("all", "any", 0)).unwrap();
    assert_eq!(backfill_channel(&store, &p, 0, &mut |_| panic!("no progress expected")).unwrap(), 0);
}

#[test]
fn cli_channel_add_backfills_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    store_flows(dir.path());
    let out = Command::new(common::wvnr_bin())
        .args([
            "profile", "channel", "add", "live/web", "--filter", "port 80", "--colour", "#AA5500", "--data",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("backfilled live/web: 2 buckets updated"), "{stdout}");
    assert!(stderr.contains("backfilling live/web: 2/2 buckets (100%), 5 flows matched"), "{stderr}");

    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let got = store.rollups("live", A, B + 300);
    assert_eq!(got.len(), 2);
    assert_eq!(counters_of(&got[0], "web"), Counters { flows: 5, packets: 10, bytes: 5000 });
    assert_eq!(counters_of(&got[1], "web"), Counters::default());
}
