//! `wvnr serve`: the collector and the web report in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};

use crate::collector::Collector;
use crate::config::{Config, SourceConfig, SourceProtocol};
use crate::profile::Profiles;
use crate::store::{Store, StoreConfig};

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    wvnr serve                                  defaults: UDP 2055 (auto), 4739 (IPFIX), 6343 (sFlow), web on 127.0.0.1:8080, data in ./data\n  \
    wvnr serve --config /etc/wvnr/wvnr.toml     see docs/configuration.md for every key\n  \
    wvnr serve --data /var/lib/wvnr --port 9995 --web 0.0.0.0:8080\n  \
    wvnr serve --capture xdp --interface eth0   AF_XDP beside the UDP sockets (build with --features xdp)\n\n\
Stops cleanly on SIGINT/SIGTERM (flushes everything); SIGHUP reloads the profiles.")]
pub struct Args {
    /// TOML configuration file (defaults work without one).
    #[arg(long, short = 'c', env = "WVNR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides [store].dir).
    #[arg(long, env = "WVNR_DATA")]
    pub data: Option<PathBuf>,
    /// Listen on this one UDP port, detecting NetFlow v5/v9, IPFIX and sFlow per datagram,
    /// instead of the configured sources.
    #[arg(long)]
    pub port: Option<u16>,
    /// Web report address (overrides [web].listen); "off" disables the web report.
    #[arg(long)]
    pub web: Option<String>,
    /// UDP address to bind (overrides [collector].listen).
    #[arg(long)]
    pub listen: Option<std::net::IpAddr>,
    /// Worker threads (overrides [collector].workers; 0 = one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// "socket" or "xdp" (overrides [collector].capture; xdp needs a build with --features xdp).
    #[arg(long, value_name = "MODE")]
    pub capture: Option<String>,
    /// Network interface for --capture xdp (overrides [collector].interface).
    #[arg(long, value_name = "IF")]
    pub interface: Option<String>,
    /// Where the XDP program runs: auto, native or generic (overrides [collector].xdp_mode).
    #[arg(long, value_name = "MODE")]
    pub xdp_mode: Option<String>,
}

impl Args {
    /// The config file with the command-line overrides applied.
    pub fn effective_config(&self) -> Result<Config> {
        let mut cfg = Config::load(self.config.as_deref())?;
        if let Some(d) = &self.data {
            cfg.store.dir = d.clone();
        }
        if let Some(p) = self.port {
            cfg.sources = vec![SourceConfig::new("default", p, SourceProtocol::Auto)];
        }
        if let Some(w) = &self.web {
            cfg.web.listen = if w == "off" { String::new() } else { w.clone() };
        }
        if let Some(l) = self.listen {
            cfg.collector.listen = l;
        }
        if let Some(n) = self.workers {
            cfg.collector.workers = n;
        }
        if let Some(c) = &self.capture {
            cfg.collector.capture = c.clone();
        }
        if let Some(i) = &self.interface {
            cfg.collector.interface = Some(i.clone());
        }
        if let Some(m) = &self.xdp_mode {
            cfg.collector.xdp_mode = m.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

pub fn run(args: Args) -> Result<()> {
    let cfg = args.effective_config()?;
    serve(&cfg, None)
}

/// Called once the collector and web listen: the bound UDP ports and web address.
pub type ReadyHook = Box<dyn FnOnce(&[u16], Option<SocketAddr>) + Send>;

/// Opens the store, starts the collector and the web report, and runs until
/// SIGINT/SIGTERM. `ready` (if given) is called once everything listens, with
/// the bound UDP ports and web address (the demo starts its generator then).
pub fn serve(cfg: &Config, ready: Option<ReadyHook>) -> Result<()> {
    let store = Arc::new(open_store(cfg)?);
    let profiles = Profiles::load(store.dir())?;
    let collector = Collector::start(cfg, store.clone(), &profiles)?;
    let exporter = match &cfg.export.clickhouse {
        Some(ch) => Some(
            crate::export::Exporter::new(ch.clone(), store.clone(), &ch.collector(), &ch.site)
                .start()
                .context("cannot start the ClickHouse export")?,
        ),
        None => None,
    };
    let shared_profiles = Arc::new(RwLock::new(profiles));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wvnr-web")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let web_addr = cfg.web_addr()?;
    let ports = collector.ports.clone();
    let result = runtime.block_on(async {
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let mut web_task = None;
        let mut bound_web = None;
        if let Some(addr) = web_addr {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    anyhow::anyhow!("web address {addr} is in use: set --web or [web].listen to a free port")
                }
                _ => anyhow::anyhow!("cannot listen on {addr} for the web report: {e}"),
            })?;
            bound_web = listener.local_addr().ok();
            let state = crate::web::WebState {
                store: store.clone(),
                live: collector.live.clone(),
                profiles: shared_profiles.clone(),
                admin_token: cfg.web.admin_token.clone(),
                data_dir: store.dir().to_path_buf(),
                export: exporter.as_ref().map(|e| e.status_handle()),
            };
            let mut rx = shutdown_rx.clone();
            web_task = Some(tokio::spawn(crate::web::serve(listener, state, async move {
                let _ = rx.wait_for(|v| *v).await;
            })));
            tracing::info!("web report on http://{}/", bound_web.expect("bound"));
        }
        if let Some(ready) = ready {
            ready(&ports, bound_web);
        }
        wait_for_shutdown(&collector, &shared_profiles, store.dir()).await?;
        tracing::info!("stopping: flushing flows and rollups");
        let _ = shutdown_tx.send(true);
        if let Some(t) = web_task {
            let _ = t.await;
        }
        Ok::<(), anyhow::Error>(())
    });
    let summary = collector.stop()?;
    if let Some(e) = exporter {
        let status = e.stop();
        tracing::info!("ClickHouse export stopped: {}", serde_json::to_string(&status).unwrap_or_default());
    }
    tracing::info!(
        "stopped: {} datagrams ({} via AF_XDP), {} flows, {} rollups written, {} kernel drops",
        summary.datagrams,
        summary.xdp_datagrams,
        summary.flows,
        summary.rollups_written,
        summary.kernel_drops
    );
    result
}

pub fn open_store(cfg: &Config) -> Result<Store> {
    let store_cfg = StoreConfig { max_age_secs: cfg.max_age_secs()?, max_bytes: cfg.max_size_bytes()? };
    Store::open(&cfg.store.dir, store_cfg)
}

/// Waits for SIGINT/SIGTERM. SIGHUP, and profile edits made through the web
/// page, recompile the profiles the workers count.
async fn wait_for_shutdown(
    collector: &Collector,
    profiles: &Arc<RwLock<Profiles>>,
    data_dir: &std::path::Path,
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    let mut compiled = profiles.read().unwrap_or_else(|e| e.into_inner()).clone();
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => {
                match Profiles::load(data_dir) {
                    Ok(p) => {
                        *profiles.write().unwrap_or_else(|e| e.into_inner()) = p;
                        tracing::info!("SIGHUP: profiles reloaded from {}", data_dir.display());
                    }
                    Err(e) => tracing::error!("SIGHUP: profiles not reloaded: {e:#}"),
                }
            }
            _ = tick.tick() => {}
        }
        let current = profiles.read().unwrap_or_else(|e| e.into_inner()).clone();
        if current != compiled {
            match collector.registry.replace(&current) {
                Ok(()) => tracing::info!("profiles changed: now counting the new channels"),
                Err(e) => tracing::error!("profiles not applied: {e:#}"),
            }
            compiled = current;
        }
    }
}
