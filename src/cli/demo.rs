//! `wvnr demo`: the whole product on one machine in one command — a data
//! directory with backfilled history, the collector and web report, and the
//! generator feeding live NetFlow v5/v9, IPFIX and sFlow from simulated
//! exporters on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::serve::serve;
use crate::config::{Config, SourceConfig, SourceProtocol};
use crate::flow::FlowSource;
use crate::gen::backfill::{backfill, BackfillConfig};
use crate::gen::{GenConfig, Generator, Rate};
use crate::store::{Store, StoreConfig};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    wvnr demo                                   temp data dir, web on 127.0.0.1:8080\n  \
    wvnr demo --data ./demo-data --web 127.0.0.1:9000 --history 7d\n\n\
Generated traffic goes only to 127.0.0.1. Ctrl-C stops everything (the data directory stays).")]
pub struct Args {
    /// Data directory (default: a fresh one under the system temp directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Web report address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub web: String,
    /// UDP port the collector listens on (auto-detecting); 0 = any free port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// History to backfill before going live (e.g. 24h, 7d; 0 = none).
    #[arg(long, default_value = "24h")]
    pub history: String,
    /// Live flows per second, over all simulated exporters (the history uses the same rate:
    /// a day at 50/s is about 4.3 M flows).
    #[arg(long, default_value_t = 50.0)]
    pub flow_rate: f64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

/// The simulated network: (protocol, exporters, sampling). Exporter addresses repeat across
/// protocols (127.0.0.2, ...): the decoder keeps each (address, protocol) apart.
const EXPORTERS: [(FlowSource, u32, u32); 4] = [
    (FlowSource::NetflowV9, 3, 1),
    (FlowSource::Ipfix, 2, 1),
    (FlowSource::Sflow, 2, 512),
    (FlowSource::NetflowV5, 1, 1),
];

pub fn run(args: Args) -> Result<()> {
    let data = match &args.data {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("wvnr-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let history = crate::config::parse_duration(&args.history)
        .with_context(|| format!("--history {:?}: use e.g. 24h, 7d or 0", args.history))?
        .unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    if history > 0 {
        backfill_history(&data, history, args.flow_rate, &stop)?;
    }

    let mut cfg = Config::default();
    cfg.store.dir = data.clone();
    cfg.web.listen = args.web.clone();
    cfg.collector.listen = IpAddr::V4(Ipv4Addr::LOCALHOST);
    cfg.collector.workers = args.workers;
    let port = crate::ingest::udp::claim_port(SocketAddr::new(cfg.collector.listen, args.port))?;
    cfg.sources = vec![SourceConfig::new("demo", port, SourceProtocol::Auto)];
    cfg.validate()?;

    let generators: Arc<std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>> = Arc::default();
    let (gens, gen_stop, flow_rate, dir) = (generators.clone(), stop.clone(), args.flow_rate, data.clone());
    let ready = Box::new(move |ports: &[u16], web: Option<SocketAddr>| {
        let port = ports[0];
        let mut handles = gens.lock().unwrap_or_else(|e| e.into_inner());
        for (protocol, exporters, sampling) in EXPORTERS {
            let cfg = live_config(protocol, exporters, sampling, port, flow_rate);
            let stop = gen_stop.clone();
            handles.push(std::thread::spawn(move || match Generator::new(cfg) {
                Ok(g) => {
                    if let Err(e) = g.run(&stop, |_| {}) {
                        tracing::error!("demo generator ({}) stopped: {e:#}", protocol.as_str());
                    }
                }
                Err(e) => tracing::error!("demo generator ({}) cannot start: {e:#}", protocol.as_str()),
            }));
        }
        let url = web.map(|w| format!("http://{w}/")).unwrap_or_else(|| "(web report disabled)".into());
        println!("wvnr demo: open {url}");
        println!("  collector on UDP 127.0.0.1:{port}, data in {}", dir.display());
        println!("  live traffic: NetFlow v9, IPFIX, sFlow and NetFlow v5 from 8 simulated exporters on 127.0.0.2-4; Ctrl-C stops");
    });
    let result = serve(&cfg, Some(ready));
    stop.store(true, Ordering::Relaxed);
    for h in generators.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = h.join();
    }
    result
}

fn live_config(protocol: FlowSource, exporters: u32, sampling: u32, port: u16, flow_rate: f64) -> GenConfig {
    let total_exporters: u32 = EXPORTERS.iter().map(|e| e.1).sum();
    GenConfig {
        target: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        protocol,
        rate: Some(Rate::Flows(flow_rate * exporters as f64 / total_exporters as f64)),
        exporters,
        sampling,
        ipv6_fraction: if protocol == FlowSource::NetflowV5 { 0.0 } else { 0.1 },
        template_every: 20,
        ..GenConfig::default()
    }
}

/// Writes `history` seconds of past traffic, ending now, straight into the store.
fn backfill_history(data: &std::path::Path, history: u64, flow_rate: f64, stop: &AtomicBool) -> Result<()> {
    let store = Store::open(data, StoreConfig::default())?;
    let now = crate::merge::now_ms();
    // Leave the open bucket to the live collector.
    let end_ms = crate::flow::bucket_start(now) * 1000;
    let total_exporters: u32 = EXPORTERS.iter().map(|e| e.1).sum();
    eprintln!("wvnr demo: backfilling {} of history into {} ...", humanize(history), data.display());
    let mut flows = 0;
    for (i, (protocol, exporters, sampling)) in EXPORTERS.into_iter().enumerate() {
        let template = live_config(protocol, exporters, sampling, 2055, flow_rate);
        let mut cfg = BackfillConfig::like(
            &template,
            Duration::from_secs(history),
            end_ms,
            flow_rate * exporters as f64 / total_exporters as f64,
        );
        cfg.seed = 1000 + i as u64;
        let totals = backfill(&store, 0x2000_0000 + i as u32, cfg, stop)?;
        flows += totals.flows;
        eprintln!("  {}: {} flows", protocol.as_str(), totals.flows);
    }
    eprintln!("wvnr demo: {flows} flows of history written; rollups are built when the collector starts");
    Ok(())
}

fn humanize(secs: u64) -> String {
    match secs {
        s if s % 86400 == 0 => format!("{} days", s / 86400),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s => format!("{s} seconds"),
    }
}
