//! The yardstick for `wvnr gen`'s speed: the same `sendmmsg` path
//! (`wvnr::gen::send::BatchSender`) sending one fixed payload over and over,
//! with no traffic model and no encoder. scripts/bench-gen runs both.
//!
//! With `copy`, each payload is first copied from the next `SIZE` bytes of a
//! 12 MiB arena in huge pages (the size of the generator's default v5 pool),
//! as the generator copies its pre-encoded records: what the kernel path
//! plus that copy allow, with no patching and no bookkeeping. It separates
//! the cost of sending varied bytes from the generator's own work.
//!
//! By default each datagram is its own message, the plain kernel path. With
//! `gso`, the batch goes out as UDP segmentation offload messages, as the
//! generator sends by default: one hot payload repeated makes the longest
//! runs the kernel takes, so this is the fastest the GSO path goes.
//!
//! Usage: sendmmsg-baseline TARGET SIZE SECONDS [BATCH] [copy] [gso]
//! Prints one JSON object: {"datagrams", "elapsed_s", "rate", "cpu_s", "size", "batch", "copy", "gso"}
//! (`cpu_s`: CPU seconds the send loop used, user + system).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use wvnr::gen::hugepages::HugeArena;
use wvnr::gen::send::{thread_cpu_time, BatchSender, MAX_BATCH};

/// Bytes of the arena the `copy` mode copies payloads from.
const ARENA: usize = 12 << 20;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        bail!("usage: sendmmsg-baseline TARGET SIZE SECONDS [BATCH] [copy] [gso]");
    }
    let target: SocketAddr = args[0].parse().context("TARGET is HOST:PORT")?;
    wvnr::gen::check_target(target, false)?;
    let size: usize = args[1].parse().context("SIZE is a byte count")?;
    let seconds: f64 = args[2].parse().context("SECONDS is a number")?;
    let batch: usize = args.get(3).map_or(Ok(32), |b| b.parse()).context("BATCH is a number")?;
    let (mut copy, mut gso) = (false, false);
    for mode in &args[args.len().min(4)..] {
        match mode.as_str() {
            "copy" => copy = true,
            "gso" => gso = true,
            other => bail!("after BATCH come `copy` and/or `gso`, not {other:?}"),
        }
    }
    if !(1..=65_000).contains(&size) || !(1..=MAX_BATCH).contains(&batch) {
        bail!("SIZE must be 1-65000 and BATCH 1-{MAX_BATCH}");
    }
    let local = SocketAddr::new("127.0.0.2".parse()?, 0);
    let mut tx = BatchSender::bind(local, target)?;
    tx.set_segmentation(gso);
    let mut payloads = vec![vec![0x5au8; size]; batch];
    // Varied bytes (a multiplicative hash of the offset), touched before the clock starts.
    let arena = if copy {
        HugeArena::copy_of(
            &(0..ARENA as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect::<Vec<u8>>(),
        )
    } else {
        HugeArena::copy_of(&[])
    };
    let mut at = 0usize;
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let until = started + Duration::from_secs_f64(seconds);
    let mut sent = 0u64;
    while Instant::now() < until {
        if copy {
            for p in &mut payloads {
                if at + size > arena.len() {
                    at = 0;
                }
                p.copy_from_slice(&arena[at..at + size]);
                at += size;
            }
        }
        tx.send_all(&payloads)?;
        sent += batch as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_s = thread_cpu_time().saturating_sub(cpu_started).as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "datagrams": sent, "elapsed_s": elapsed, "rate": sent as f64 / elapsed, "cpu_s": cpu_s,
            "size": size, "batch": batch, "copy": copy, "gso": tx.segmentation(),
        })
    );
    Ok(())
}
