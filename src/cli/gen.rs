//! `wvnr gen`: send generated NetFlow v5/v9, IPFIX or sFlow to a collector on
//! loopback, write it to a capture, or backfill a data directory; print
//! exactly what was sent.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::flow::FlowSource;
use crate::gen::backfill::{backfill, BackfillConfig};
use crate::gen::{parse_protocol, GenConfig, Generator, Rate, Scenario, Totals};
use crate::store::{Store, StoreConfig};

/// Mean flows/s of a backfill when --flow-rate is not given.
const DEFAULT_BACKFILL_FLOW_RATE: f64 = 50.0;

/// `wvnr gen`'s arguments (boxed: the subcommand enum stays small).
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
wvnr gen --target 127.0.0.1:2055 --protocol v9 --rate 10000 --duration 10 --exporters 4\n  \
wvnr gen --protocol sflow --target 127.0.0.1:6343 --flow-rate 50000 --count 100000 --json\n  \
wvnr gen --protocol ipfix --seed 7 --count 1000 --pcap ipfix.pcap\n  \
wvnr gen --backfill 24h --data /var/lib/wvnr --flow-rate 200")]
pub struct Args {
    #[command(flatten)]
    pub options: Box<Options>,
}

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Collector address, HOST:PORT (loopback only unless --allow-remote) [default: 127.0.0.1:2055, sflow 6343].
    #[arg(long, value_name = "HOST:PORT")]
    pub target: Option<String>,
    /// Export protocol: v5, v9, ipfix or sflow.
    #[arg(long, default_value = "v9", value_parser = parse_protocol)]
    pub protocol: FlowSource,
    /// Datagrams per second over all exporters (default: as fast as possible).
    #[arg(long, value_name = "N", conflicts_with = "flow_rate")]
    pub rate: Option<f64>,
    /// Flow records per second over all exporters (instead of --rate).
    #[arg(long, value_name = "N")]
    pub flow_rate: Option<f64>,
    /// Stop after this long (e.g. 10, 10s, 5m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many datagrams.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Simulated exporters, each from its own address (127.0.0.2, 127.0.0.3, ...).
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub exporters: u32,
    /// v9/IPFIX: resend templates every N datagrams of each exporter.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub template_every: u32,
    /// Sampling interval the exporters announce (1 = unsampled); counts are multiples of it.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub sampling: u32,
    /// Share of IPv6 flows, 0 to 1 (v5: must be 0).
    #[arg(long = "ipv6", default_value_t = 0.0, value_name = "FRACTION")]
    pub ipv6_fraction: f64,
    /// Seed: the same seed gives the same flows (and byte-identical captures).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Traffic shape.
    #[arg(long, value_enum, default_value_t = Scenario::Mix)]
    pub scenario: Scenario,
    /// Write the datagrams to this pcap instead of sending them.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// With --pcap: pace the writes at --rate too (default: as fast as possible).
    #[arg(long, requires = "pcap")]
    pub pace: bool,
    /// With --pcap: export clock start, RFC 3339 or Unix seconds [default: 2026-01-01T00:00:00Z with --seed, else now].
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub start: Option<u64>,
    /// Allow a target outside 127.0.0.0/8 and ::1.
    #[arg(long)]
    pub allow_remote: bool,
    /// Datagrams per sendmmsg call (1-64).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub batch: usize,
    /// Send one message per datagram instead of handing runs of equal-sized
    /// datagrams to the kernel as one UDP GSO message (the receiver sees the
    /// same datagrams either way; without GSO one core sends a third to a half as
    /// many). The kernel's refusal turns it off by itself.
    #[arg(long)]
    pub no_gso: bool,
    /// Pre-drawn flows replayed with fresh times and client ports (0: draw every flow fresh, slower).
    #[arg(long, default_value_t = crate::gen::DEFAULT_POOL_FLOWS, value_name = "N")]
    pub pool: usize,
    /// Write this much past traffic into --data instead of sending (e.g. 24h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "data")]
    pub backfill: Option<Duration>,
    /// Data directory for --backfill.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Print the totals as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Print a progress line every second even when stderr is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

pub fn run(args: Args) -> Result<()> {
    let args = *args.options;
    let cfg = config(&args)?;
    let stop = crate::gen::send::interrupt_flag();
    let totals = match (args.backfill, &args.data) {
        (Some(window), Some(dir)) => run_backfill(&args, &cfg, window, dir, stop)?,
        _ => run_live(&args, cfg, stop)?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&totals)?)?;
    } else {
        write!(out, "{}", totals.to_text())?;
    }
    Ok(())
}

fn run_live(args: &Options, cfg: GenConfig, stop: &AtomicBool) -> Result<Totals> {
    let terminal = std::io::stderr().is_terminal();
    let show = terminal || args.progress;
    let mut shown = false;
    let totals = Generator::new(cfg)?.run(stop, |t| {
        if show {
            let mut err = std::io::stderr().lock();
            let _ = if terminal {
                write!(err, "\r{}\x1b[K", t.progress_line())
            } else {
                writeln!(err, "{}", t.progress_line())
            };
            shown = true;
        }
    })?;
    if shown && terminal {
        eprintln!();
    }
    Ok(totals)
}

fn run_backfill(
    args: &Options,
    cfg: &GenConfig,
    window: Duration,
    dir: &std::path::Path,
    stop: &AtomicBool,
) -> Result<Totals> {
    if args.rate.is_some() {
        bail!("--backfill takes --flow-rate (mean flows per second), not --rate");
    }
    let now_ms = chrono::Utc::now().timestamp_millis() as u64;
    let end_ms = args.start.map_or(now_ms, |s| s + window.as_millis() as u64);
    let flow_rate = args.flow_rate.unwrap_or(DEFAULT_BACKFILL_FLOW_RATE);
    let bcfg = BackfillConfig::like(cfg, window, end_ms, flow_rate);
    let store = Store::open(dir, StoreConfig::default())
        .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
    backfill(&store, 0, bcfg, stop)
}

/// The generator configuration the arguments describe.
pub fn config(args: &Options) -> Result<GenConfig> {
    let default_port = if args.protocol == FlowSource::Sflow { 6343 } else { 2055 };
    let target = match &args.target {
        Some(t) => resolve(t)?,
        None => SocketAddr::from(([127, 0, 0, 1], default_port)),
    };
    let rate = match (args.rate, args.flow_rate) {
        (Some(r), _) => Some(Rate::Datagrams(r)),
        (None, Some(r)) => Some(Rate::Flows(r)),
        (None, None) => None,
    };
    let cfg = GenConfig {
        target,
        protocol: args.protocol,
        rate,
        count: args.count,
        duration: args.duration,
        exporters: args.exporters,
        template_every: args.template_every,
        sampling: args.sampling,
        ipv6_fraction: args.ipv6_fraction,
        seed: args.seed,
        scenario: args.scenario,
        pcap: args.pcap.clone(),
        pace_capture: args.pace,
        start_ms: args.start,
        allow_remote: args.allow_remote,
        batch: args.batch,
        gso: !args.no_gso,
        progress_every: Duration::from_secs(1),
        pool_flows: args.pool,
    };
    if args.backfill.is_none() {
        cfg.validate()?;
    }
    Ok(cfg)
}

/// HOST:PORT, where HOST is an address or a name (resolved once, first address).
fn resolve(s: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    s.to_socket_addrs()
        .with_context(|| format!("--target {s:?} is not HOST:PORT"))?
        .next()
        .with_context(|| format!("--target {s:?} resolves to no address"))
}

/// "90", "90s", "15m", "24h", "2d", "1.5s".
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let secs_per: f64 = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => bail!("{s:?}: the unit must be ms, s, m, h or d"),
    };
    let n: f64 = num.parse().with_context(|| format!("{s:?} is not a duration (e.g. 10s, 5m, 24h)"))?;
    if !(n.is_finite() && n >= 0.0 && n * secs_per < 1e10) {
        bail!("{s:?} is not a usable duration");
    }
    Ok(Duration::from_secs_f64(n * secs_per))
}

/// RFC 3339 ("2026-01-01T00:00:00Z") or Unix seconds, as UTC ms.
pub fn parse_time_ms(s: &str) -> Result<u64> {
    if let Ok(secs) = s.parse::<u64>() {
        return secs.checked_mul(1000).context("time out of range");
    }
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .with_context(|| format!("{s:?} is neither RFC 3339 (2026-01-01T00:00:00Z) nor Unix seconds"))?;
    u64::try_from(t.timestamp_millis()).context("times before 1970 are not supported")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(line: &str) -> Result<GenConfig> {
        let cli = Cli::try_parse_from(std::iter::once("gen").chain(line.split_whitespace()))?;
        config(&cli.args.options)
    }

    #[test]
    fn defaults_and_protocol_ports() {
        let c = parse("").unwrap();
        assert_eq!((c.target.to_string(), c.protocol), ("127.0.0.1:2055".into(), FlowSource::NetflowV9));
        let s = parse("--protocol sflow --flow-rate 500").unwrap();
        assert_eq!((s.target.port(), s.rate), (6343, Some(Rate::Flows(500.0))));
    }

    #[test]
    fn remote_target_refused_with_one_line() {
        let err = parse("--target 192.0.2.1:2055").unwrap_err().to_string();
        assert!(err.contains("loopback") && !err.contains('\n'), "{err}");
        assert!(parse("--target 192.0.2.1:2055 --allow-remote").is_ok());
    }

    #[test]
    fn rate_and_flow_rate_conflict() {
        assert!(parse("--rate 10 --flow-rate 10").is_err());
        assert!(parse("--protocol v5 --ipv6 0.5").is_err());
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 parsecs").is_err() && parse_duration("-1s").is_err());
        assert_eq!(parse_time_ms("2026-01-01T00:00:00Z").unwrap(), 1_767_225_600_000);
        assert_eq!(parse_time_ms("1767225600").unwrap(), 1_767_225_600_000);
        assert!(parse_time_ms("yesterday").is_err());
    }
}
