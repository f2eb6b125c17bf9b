//! `wvnr ingest FILE --data DIR`: stores a capture of export traffic as if the
//! collector had received it, at the capture's own times, through the same
//! decoder and store writer; then (re)builds the rollups of every bucket it touched.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::channels::ProfileSet;
use crate::config::Config;
use crate::decode::{Decoder, DecoderConfig};
use crate::flow::{bucket_start, Counters, BUCKET_SECONDS};
use crate::merge::aggregate_stored;
use crate::pcap::CaptureReader;
use crate::profile::Profiles;
use crate::sources::SourceRouter;
use crate::store::{Store, StoreConfig};

#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  wvnr ingest router-export.pcap --data ./data\n\n\
Flows are bucketed by the capture time of their datagram (as if received then). \
Rollups of every touched bucket are rebuilt from all raw flows stored in it, so \
ingesting into a live collector's data directory adds to what it has.")]
pub struct Args {
    /// pcap or pcapng capture of export datagrams (any UDP port).
    pub file: PathBuf,
    /// Data directory.
    #[arg(long, env = "WVNR_DATA", default_value = "data")]
    pub data: PathBuf,
    /// Configuration file (for its sources: per-source totals and sampling overrides).
    #[arg(long, short = 'c', env = "WVNR_CONFIG")]
    pub config: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let cfg = Config::load(args.config.as_deref())?;
    let store = Store::open(&args.data, StoreConfig::default())?;
    let profiles = Profiles::load(store.dir())?;
    let sources = cfg.effective_sources();
    let router = SourceRouter::new(&sources);
    let set = ProfileSet::compile(&profiles, &sources, 1)?;
    let mut reader = CaptureReader::open(&args.file)?;
    let mut decoder = Decoder::new(DecoderConfig::default());
    // A writer id no collector worker uses, so ingesting next to a running collector is safe.
    let writer_id = 0x4000_0000 | (std::process::id() & 0xffff);
    let mut writer = store.writer(writer_id)?;
    let (mut total, mut datagrams, mut write_errors) = (Counters::default(), 0u64, 0u64);
    let (mut first_bucket, mut last_bucket) = (u64::MAX, 0u64);
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = Instant::now();
    while let Some(d) = reader.next_datagram()? {
        datagrams += 1;
        first_bucket = first_bucket.min(bucket_start(d.time_ms));
        last_bucket = last_bucket.max(bucket_start(d.time_ms));
        let sampling = sources.get(router.source_for_exporter(d.src.ip())).and_then(|s| s.sampling);
        decoder.decode(&d.payload, d.src, d.time_ms, &mut |flow| {
            let mut f = *flow;
            if let Some(rate) = sampling {
                crate::worker::resample(&mut f, rate);
            }
            total.add_flow(&f);
            if writer.append(&f).is_err() {
                write_errors += 1;
            }
        });
        if progress && last_report.elapsed().as_secs() >= 1 {
            eprint!("\ringest: {datagrams} datagrams, {} flows", total.flows);
            last_report = Instant::now();
        }
    }
    writer.finish().context("cannot finish writing flows")?;
    if progress {
        eprintln!();
    }
    let mut buckets = 0;
    if total.flows > 0 {
        let tables = aggregate_stored(
            &store,
            &set,
            &router,
            first_bucket * 1000,
            (last_bucket + BUCKET_SECONDS) * 1000,
        )?;
        for t in &tables {
            for r in t.to_rollups(&set.shape, crate::aggregate::ROLLUP_TOP_N) {
                store.write_rollup(&r)?;
            }
        }
        buckets = tables.len();
    }
    let stats = decoder.stats();
    println!(
        "ingested {}: {datagrams} datagrams, {} flows, {} packets, {} bytes into {buckets} buckets in {:.1} s; \
         {} decode errors, {} capture packets skipped, {write_errors} write errors",
        args.file.display(),
        total.flows,
        total.packets,
        total.bytes,
        started.elapsed().as_secs_f64(),
        stats.errors_total(),
        reader.stats.skipped + reader.stats.fragments,
    );
    if write_errors > 0 {
        anyhow::bail!("{write_errors} flows could not be written to {}", store.dir().display());
    }
    Ok(())
}
