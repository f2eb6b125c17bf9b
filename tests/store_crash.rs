//! Store crash safety: torn tails are ignored and counted, a reopened writer cuts them and
//! appends safely, and a SIGKILLed writer loses nothing it flushed.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wvnr::flow::Flow;
use wvnr::store::{Store, StoreConfig};

const T0: u64 = 1_795_946_700_000;

fn flow(i: u64) -> Flow {
    Flow {
        received_ms: T0 + i,
        first_ms: T0 + i - 500,
        last_ms: T0 + i - 100,
        src_addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)),
        dst_addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 200) as u8)),
        src_port: 1024 + (i % 5000) as u16,
        dst_port: 443,
        protocol: 6,
        packets: 1 + i % 17,
        bytes: 60 + i * 13 % 9000,
        ..Flow::EMPTY
    }
}

fn scan(store: &Store) -> (Vec<u64>, u64) {
    let got = Mutex::new(Vec::new());
    let st = store
        .scan(0, u64::MAX, |b| got.lock().unwrap().extend(b.iter().map(|f| f.received_ms - T0)))
        .unwrap();
    let mut v = got.into_inner().unwrap();
    v.sort();
    (v, st.torn_blocks)
}

fn only_segment(dir: &Path) -> PathBuf {
    let d = dir.join("flows/2026/11/29");
    let mut v: Vec<_> = std::fs::read_dir(d).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(v.len(), 1);
    v.pop().unwrap()
}

/// Writes two flushed blocks (ids 0..100, 100..250) and returns (segment, length after block 1).
fn two_blocks(dir: &Path) -> (PathBuf, u64) {
    let store = Store::open(dir, StoreConfig::default()).unwrap();
    let mut w = store.writer(0).unwrap();
    (0..100).for_each(|i| w.append(&flow(i)).unwrap());
    w.flush().unwrap();
    let seg = only_segment(dir);
    let first = std::fs::metadata(&seg).unwrap().len();
    (100..250).for_each(|i| w.append(&flow(i)).unwrap());
    w.finish().unwrap();
    (seg, first)
}

#[test]
fn truncation_at_every_offset_of_the_last_block() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, first) = two_blocks(dir.path());
    let full = std::fs::read(&seg).unwrap();
    let all: Vec<u64> = (0..250).collect();
    assert_eq!(scan(&Store::open(dir.path(), StoreConfig::default()).unwrap()), (all, 0));
    for cut in first..full.len() as u64 {
        std::fs::write(&seg, &full[..cut as usize]).unwrap();
        let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
        let (ids, torn) = scan(&store);
        assert_eq!(ids, (0..100).collect::<Vec<_>>(), "cut at {cut}");
        assert_eq!(torn, u64::from(cut > first), "cut at {cut}");
    }
}

#[test]
fn garbage_and_flipped_bytes_in_the_last_block_are_torn() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, first) = two_blocks(dir.path());
    let full = std::fs::read(&seg).unwrap();
    // Garbage appended after complete blocks.
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(b"WVB1 this is not a block header at all, just junk bytes").unwrap();
    drop(f);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(scan(&store), ((0..250).collect(), 1));
    // A flipped byte anywhere in the second block loses that block only.
    for pos in (first as usize..full.len()).step_by(7) {
        let mut b = full.clone();
        b[pos] ^= 0x10;
        std::fs::write(&seg, &b).unwrap();
        let (ids, torn) = scan(&Store::open(dir.path(), StoreConfig::default()).unwrap());
        assert_eq!((ids.len(), torn), (100, 1), "flip at {pos}");
    }
}

#[test]
fn reopened_writer_cuts_the_torn_tail_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, first) = two_blocks(dir.path());
    let full = std::fs::read(&seg).unwrap();
    std::fs::write(&seg, &full[..full.len() - 9]).unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let mut w = store.writer(0).unwrap();
    (1000..1010).for_each(|i| w.append(&flow(i)).unwrap());
    w.flush().unwrap();
    assert_eq!(w.torn_blocks_truncated(), 1);
    w.finish().unwrap();
    let (ids, torn) = scan(&store);
    let want: Vec<u64> = (0..100).chain(1000..1010).collect();
    assert_eq!((ids, torn), (want, 0));
    assert!(std::fs::metadata(&seg).unwrap().len() > first);
}

const CHILD_ENV: &str = "WVNR_STORE_CRASH_CHILD";

/// The child half of `sigkill_loses_nothing_flushed`: appends and flushes batches forever,
/// printing each flushed count, until the parent kills it.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let store = Store::open(Path::new(&dir), StoreConfig::default()).unwrap();
    let mut w = store.writer(7).unwrap();
    let mut out = std::io::stdout();
    let mut i = 0u64;
    loop {
        for _ in 0..500 {
            w.append(&flow(i)).unwrap();
            i += 1;
        }
        w.flush().unwrap();
        writeln!(out, "flushed {i}").unwrap();
        out.flush().unwrap();
        // Unflushed tail at the moment of the kill: half a batch in memory or half-written.
        for _ in 0..250 {
            w.append(&flow(i)).unwrap();
            i += 1;
        }
        w.flush().unwrap();
        writeln!(out, "flushed {i}").unwrap();
        out.flush().unwrap();
        if i > 250_000 {
            break;
        }
    }
}

#[test]
fn sigkill_loses_nothing_flushed() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut flushed = 0u64;
    while let Some(Ok(line)) = lines.next() {
        if let Some(n) = line.strip_prefix("flushed ") {
            flushed = n.parse().unwrap();
            if flushed >= 30_000 {
                break;
            }
        }
    }
    assert!(flushed >= 30_000, "child stopped early");
    // SIGKILL: no destructor, no final flush.
    child.kill().unwrap();
    child.wait().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let (ids, _torn) = scan(&store);
    // Everything reported flushed is there, in order and without holes; maybe a little more.
    assert!(ids.len() as u64 >= flushed, "{} < {flushed}", ids.len());
    assert!(ids.iter().enumerate().all(|(k, &id)| id == k as u64));
    // And a writer can carry on appending to the same segment (same bucket, same worker).
    let mut w = store.writer(7).unwrap();
    w.append(&flow(299_999)).unwrap();
    w.finish().unwrap();
    assert_eq!(store.usage().segments, 1);
    let (after, torn) = scan(&store);
    assert_eq!(torn, 0);
    assert_eq!(after.len(), ids.len() + 1);
    assert_eq!(after.last(), Some(&299_999));
}
