//! Store: rollups replace, persist and answer ranges; retention deletes oldest first.

use std::net::{IpAddr, Ipv4Addr};

use wvnr::flow::{Counters, Flow};
use wvnr::rollup::{BucketRollup, ChannelCounters, Dimension, TopEntry, TopTable};
use wvnr::store::{Store, StoreConfig};

const B0: u64 = 1_795_910_400; // 2026-11-29 00:00:00 UTC

fn rollup(profile: &str, bucket: u64, flows: u64) -> BucketRollup {
    let c = |n: u64| Counters { flows: n, packets: n * 10, bytes: n * 1000 };
    BucketRollup {
        bucket,
        profile: profile.into(),
        total: c(flows),
        channels: (0..21).map(|i| ChannelCounters { channel: format!("ch{i}"), counters: c(i) }).collect(),
        sources: vec![],
        top: vec![TopTable {
            dimension: Dimension::DstPort,
            entries: vec![TopEntry { key: "443".into(), counters: c(flows / 2) }],
            other: c(flows - flows / 2),
        }],
    }
}

#[test]
fn rollups_replace_persist_and_answer_ranges() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        for k in 0..600u64 {
            // Two days of buckets for "live", a few for a profile with an awkward name.
            store.write_rollup(&rollup("live", B0 + k * 300, k)).unwrap();
        }
        store.write_rollup(&rollup("../odd name", B0, 5)).unwrap();
        // Replace bucket 10 several times: last writer wins (and forces a compaction).
        for v in 0..40 {
            store.write_rollup(&rollup("live", B0 + 10 * 300, 1000 + v)).unwrap();
        }
        let r = store.rollups("live", B0 + 9 * 300, B0 + 12 * 300);
        assert_eq!(r.iter().map(|r| r.total.flows).collect::<Vec<_>>(), vec![9, 1039, 11]);
    }
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let all = store.rollups("live", 0, u64::MAX);
    assert_eq!(all.len(), 600);
    assert!(all.windows(2).all(|w| w[0].bucket < w[1].bucket));
    assert_eq!(all[10].total.flows, 1039);
    assert_eq!(all[10], rollup("live", B0 + 3000, 1039));
    let shared = store.rollups_shared("live", 0, u64::MAX);
    assert!(shared.iter().zip(&all).all(|(s, a)| **s == *a) && shared.len() == all.len());
    assert_eq!(store.rollups("live", B0 + 300, B0 + 300).len(), 0);
    assert_eq!(store.rollups("live", B0 + 301, B0 + 900).len(), 1);
    assert_eq!(store.rollups("../odd name", 0, u64::MAX).len(), 1);
    assert_eq!(store.rollups("nope", 0, u64::MAX).len(), 0);
    assert_eq!(store.rollup_profiles(), vec!["../odd name".to_string(), "live".to_string()]);
    // Nothing escaped the rollups directory.
    assert!(!dir.path().join("odd name").exists());
}

#[test]
fn a_torn_rollup_record_is_skipped_and_later_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store.write_rollup(&rollup("live", B0, 1)).unwrap();
    let file = dir.path().join("rollups/live/2026-11-29.jsonl");
    let mut text = std::fs::read(&file).unwrap();
    text.extend_from_slice(b"{\"bucket\":1795910700,\"profile\":\"li"); // crash mid-record
    std::fs::write(&file, &text).unwrap();
    drop(store);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(store.rollups("live", 0, u64::MAX).len(), 1);
    store.write_rollup(&rollup("live", B0 + 600, 3)).unwrap();
    drop(store);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let got: Vec<u64> = store.rollups("live", 0, u64::MAX).iter().map(|r| r.total.flows).collect();
    assert_eq!(got, vec![1, 3]);
}

fn write_buckets(store: &Store, buckets: &[u64], flows_per: u64) {
    let mut w = store.writer(0).unwrap();
    for &b in buckets {
        for i in 0..flows_per {
            let f = Flow {
                received_ms: b * 1000 + i,
                src_addr: IpAddr::V4(Ipv4Addr::from(i as u32 * 7919)),
                bytes: i * 31,
                packets: i,
                ..Flow::EMPTY
            };
            w.append(&f).unwrap();
        }
        store.write_rollup(&rollup("live", b, flows_per)).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn retention_by_age_deletes_oldest_buckets_and_their_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { max_age_secs: Some(3600), max_bytes: None };
    let store = Store::open(dir.path(), cfg).unwrap();
    // Buckets every 30 min over two days (crossing a day boundary).
    let buckets: Vec<u64> = (0..96).map(|k| B0 - 86_400 + k * 1800).collect();
    write_buckets(&store, &buckets, 50);
    assert_eq!(store.usage().buckets, 96);
    let now = B0 + 86_400; // last bucket starts at now - 1800
    let before = store.usage().bytes;
    let rep = store.enforce_retention_at(now).unwrap();
    // Kept: buckets ending within the last hour: starts at now-1800 and now-3600.
    assert_eq!(rep.buckets_deleted, 94);
    let u = store.usage();
    assert_eq!(u.buckets, 2);
    assert_eq!(u.oldest_bucket, Some(now - 3600));
    assert_eq!(before - u.bytes, rep.bytes_freed);
    assert_eq!(store.rollups("live", 0, u64::MAX).len(), 2);
    assert!(!dir.path().join("flows/2026/11/28").exists(), "empty day directory removed");
    assert!(!dir.path().join("rollups/live/2026-11-28.jsonl").exists());
    // Survives reopen.
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(store.usage().buckets, 2);
    assert_eq!(store.rollups("live", 0, u64::MAX).len(), 2);
    let n = std::sync::atomic::AtomicU64::new(0);
    store
        .scan(0, u64::MAX, |b| _ = n.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed))
        .unwrap();
    assert_eq!(n.into_inner(), 100);
}

#[test]
fn retention_by_size_keeps_the_newest_buckets_under_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let buckets: Vec<u64> = (0..10).map(|k| B0 + k * 300).collect();
    write_buckets(&store, &buckets, 2000);
    let per_bucket = store.usage().bytes / 10;
    drop(store);
    let cap = per_bucket * 4 + per_bucket / 2;
    let store = Store::open(dir.path(), StoreConfig { max_age_secs: None, max_bytes: Some(cap) }).unwrap();
    let rep = store.enforce_retention_at(B0).unwrap();
    let u = store.usage();
    assert!(u.bytes <= cap, "{} > {cap}", u.bytes);
    assert_eq!(rep.buckets_deleted, 6);
    assert_eq!((u.oldest_bucket, u.newest_bucket), (Some(B0 + 6 * 300), Some(B0 + 9 * 300)));
    assert_eq!(store.rollups("live", 0, u64::MAX).first().map(|r| r.bucket), Some(B0 + 1800));
    // Nothing more to do.
    assert_eq!(store.enforce_retention_at(B0).unwrap().buckets_deleted, 0);
}
