//! Store: what is written comes back exactly, across buckets, workers, threads and reopen.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use wvnr::flow::{bucket_start, Counters, Flow, FlowSource};
use wvnr::store::{Store, StoreConfig};

const T0: u64 = 1_795_946_700_000; // 2026-11-29 10:05:00 UTC, a bucket start

/// A deterministic, varied flow (v4 and v6, all fields set) received at `received_ms`.
fn flow(i: u64, received_ms: u64) -> Flow {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Flow {
        exporter: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % 3) as u8)),
        domain: (x % 4) as u32,
        source: [FlowSource::NetflowV5, FlowSource::NetflowV9, FlowSource::Ipfix, FlowSource::Sflow]
            [(i % 4) as usize],
        first_ms: received_ms - 1000 - x % 50_000,
        last_ms: received_ms - 1000,
        received_ms,
        src_addr: if i.is_multiple_of(7) {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (x >> 16) as u16, x as u16))
        } else {
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (x as u32 & 0xffff)))
        },
        dst_addr: IpAddr::V4(Ipv4Addr::from(0xc0a8_0000 | (x >> 40) as u32 & 0xff)),
        next_hop: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)),
        src_port: (x >> 20) as u16,
        dst_port: [80, 443, 53, 22][(i % 4) as usize],
        protocol: [6, 17, 1, 47][(i % 4) as usize],
        tcp_flags: (x >> 8) as u8,
        tos: (i % 8) as u8,
        src_mask: 24,
        dst_mask: 16,
        in_if: (x % 10) as u32,
        out_if: (x % 13) as u32,
        src_as: (x % 70_000) as u32,
        dst_as: 64_512,
        src_vlan: (i % 4096) as u16,
        dst_vlan: 7,
        src_mac: [2, 0, 0, 0, 0, i as u8],
        dst_mac: [4, 0, 0, 0, (i >> 8) as u8, i as u8],
        packets: 1 + x % 1000,
        bytes: 40 + x % 1_500_000,
        sampling: if i.is_multiple_of(5) { 100 } else { 1 },
    }
}

fn sort_key(f: &Flow) -> (u64, u64, String, u16, u64) {
    (f.received_ms, f.bytes, f.src_addr.to_string(), f.src_port, f.first_ms)
}

/// assert_eq on flow lists without printing megabytes.
#[track_caller]
fn assert_same(got: &[Flow], want: &[Flow]) {
    assert_eq!(got.len(), want.len(), "flow count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!("flow {i} differs:\n got {:?}\nwant {:?}", got[i], want[i]);
    }
}

fn scan_all(store: &Store, from: u64, to: u64) -> Vec<Flow> {
    let got = Mutex::new(Vec::new());
    let stats = store.scan(from, to, |b| got.lock().unwrap().extend_from_slice(b)).unwrap();
    assert_eq!(stats.torn_blocks, 0);
    let mut v = got.into_inner().unwrap();
    v.sort_by_key(sort_key);
    v
}

#[test]
fn flows_across_buckets_and_workers_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    {
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let mut writers: Vec<_> = (0..3).map(|w| store.writer(w).unwrap()).collect();
        // 5 buckets, ~12k flows each: more than one block per segment for some workers.
        for i in 0..60_000u64 {
            let f = flow(i, T0 + i * 25);
            writers[(i % 3) as usize].append(&f).unwrap();
            written.push(f);
            if i % 10_000 == 9_999 {
                writers.iter_mut().for_each(|w| w.flush().unwrap());
            }
        }
        for w in writers {
            w.finish().unwrap();
        }
        let u = store.usage();
        assert_eq!(u.buckets, 5);
        assert_eq!(u.segments, 15);
        assert_eq!(u.oldest_bucket, Some(T0 / 1000));
        assert_eq!(u.newest_bucket, Some(T0 / 1000 + 4 * 300));
    }
    written.sort_by_key(sort_key);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let u = store.usage();
    assert_eq!((u.buckets, u.segments), (5, 15));
    let on_disk: u64 = walk(dir.path()).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    assert_eq!(u.bytes, on_disk);
    assert_same(&scan_all(&store, 0, u64::MAX), &written);

    // A window in the middle of a bucket: exactly the flows inside it.
    let (from, to) = (T0 + 400_000, T0 + 800_000);
    let expect: Vec<Flow> =
        written.iter().filter(|f| f.received_ms >= from && f.received_ms < to).copied().collect();
    assert_same(&scan_all(&store, from, to), &expect);
    let stats = store.scan(from, to, |_| {}).unwrap();
    assert_eq!(stats.segments_read, 6, "two buckets x three workers");
    assert_eq!(stats.segments_skipped, 9);
    assert_eq!(stats.flows_read, expect.len() as u64);

    let mut total = Counters::default();
    let sum = Mutex::new(Counters::default());
    store.scan(0, u64::MAX, |b| b.iter().for_each(|f| sum.lock().unwrap().add_flow(f))).unwrap();
    written.iter().for_each(|f| total.add_flow(f));
    assert_eq!(*sum.lock().unwrap(), total);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "seg") {
            out.push(p);
        }
    }
    out
}

#[test]
fn concurrent_writers_from_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    let handles: Vec<_> = (0..4u32)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut wr = store.writer(w).unwrap();
                let mut mine = Vec::new();
                for i in 0..20_000u64 {
                    let f = flow(i * 4 + w as u64, T0 + i * 30);
                    wr.append(&f).unwrap();
                    mine.push(f);
                    if i % 1000 == 0 {
                        wr.flush().unwrap();
                        // Readers run while writers append.
                        store.scan(0, u64::MAX, |_| {}).unwrap();
                    }
                }
                wr.finish().unwrap();
                mine
            })
        })
        .collect();
    let mut written: Vec<Flow> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    written.sort_by_key(sort_key);
    assert_same(&scan_all(&store, 0, u64::MAX), &written);
    assert_eq!(store.usage().segments, 4 * 2);
}

#[test]
fn late_flows_reopen_a_closed_segment_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let mut w = store.writer(0).unwrap();
    w.append(&flow(1, T0 + 10)).unwrap();
    w.flush().unwrap();
    w.append(&flow(2, T0 + 400_000)).unwrap(); // next bucket
    w.flush().unwrap();
    w.flush().unwrap(); // first bucket idle for a whole interval: closed
    w.append(&flow(3, T0 + 20)).unwrap(); // a late flow for it
    w.finish().unwrap();
    let got = scan_all(&store, T0, T0 + 300_000);
    assert_eq!(got, vec![flow(1, T0 + 10), flow(3, T0 + 20)]);
    assert_eq!(store.usage().segments, 2);
    assert_eq!(bucket_start(T0 + 20), T0 / 1000);
}

#[test]
fn unwritable_directory_gives_a_clear_error() {
    let err = match Store::open(std::path::Path::new("/proc/wvnr-no-such-dir"), StoreConfig::default()) {
        Ok(_) => panic!("opened a store under /proc"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.starts_with("cannot write to data directory /proc/wvnr-no-such-dir"), "{err}");
    assert!(err.contains("set --data or [store].dir"), "{err}");
    let err = Store::open_read_only(std::path::Path::new("/nonexistent/wvnr")).err().unwrap().to_string();
    assert!(err.contains("no data directory /nonexistent/wvnr"), "{err}");
}

#[test]
fn scan_hints_skip_blocks_without_losing_matches() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let mut w = store.writer(0).unwrap();
    // Blocks of one protocol each (a flush after each run of 1000).
    for i in 0..8000u64 {
        let mut f = flow(i, T0 + i);
        f.protocol = [6, 17, 47, 1][(i / 1000 % 4) as usize];
        w.append(&f).unwrap();
        if i % 1000 == 999 {
            w.flush().unwrap();
        }
    }
    w.finish().unwrap();
    let hint = wvnr::store::ScanHint { protocol: Some(47), ..Default::default() };
    let n = Mutex::new(0u64);
    let st = store
        .scan_with_hint(0, u64::MAX, &hint, |b| {
            *n.lock().unwrap() += b.iter().filter(|f| f.protocol == 47).count() as u64
        })
        .unwrap();
    assert_eq!(*n.lock().unwrap(), 2000);
    assert_eq!((st.blocks_read, st.blocks_skipped), (2, 6));
    let none = wvnr::store::ScanHint { protocol: Some(99), ..Default::default() };
    let st = store.scan_with_hint(0, u64::MAX, &none, |_| panic!("no block has protocol 99")).unwrap();
    assert_eq!(st.blocks_skipped, 8);
    // Time range skipping: only the blocks overlapping [T0+2500, T0+3500).
    let st = store.scan(T0 + 2500, T0 + 3500, |_| {}).unwrap();
    assert_eq!((st.blocks_read, st.flows_read), (2, 1000));
}
