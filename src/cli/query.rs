//! `wvnr query`: nfdump-style queries over a data directory.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::filter::Filter;
use crate::query::output::{self, Format, Style, Table};
use crate::query::{self, time, Mode, OrderBy, Query, QueryOutput};
use crate::store::Store;

/// Flows listed when no -c is given (the newest ones; a note says when more matched).
const DEFAULT_LIST_LIMIT: usize = 1000;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
wvnr query --data /var/lib/wvnr --last 1h -s dstport/bytes -n 10\n  \
wvnr query --data DIR -t 2026/11/29.10:00-2026/11/29.11:00 'proto tcp and dst port 443' -c 20\n  \
wvnr query --data DIR -A srcip4/24,dstport -o csv\n  \
wvnr query --data DIR --summary -o json 'src net 10.0.0.0/8'")]
pub struct Args {
    /// Data directory of the store (the collector's --data / [store].dir).
    #[arg(long, env = "WVNR_DATA", value_name = "DIR")]
    pub data: PathBuf,
    /// nfdump filter; several words are joined with spaces (e.g. proto tcp and port 443).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Time window in local time: 2026/11/29.10:00-2026/11/29.11:00 (seconds optional), or ISO
    /// 2026-11-29T10:00..2026-11-29T11:00; a single time means from then until now.
    #[arg(short = 't', long = "time", value_name = "WINDOW", conflicts_with = "last")]
    pub window: Option<String>,
    /// Only the last DURATION (e.g. 30m, 1h, 7d).
    #[arg(long, value_name = "DURATION")]
    pub last: Option<String>,
    /// Top-N statistic FIELD[/ORDER]: srcip, dstip, ip, srcport, dstport, port, proto, srcas,
    /// dstas, as, if, inif, outif, exporter, record; ordered by flows, packets, bytes, pps, bps
    /// or bpp (default flows). Repeatable.
    #[arg(short = 's', long = "stat", value_name = "FIELD/ORDER")]
    pub stat: Vec<String>,
    /// Rows per statistic or aggregation.
    #[arg(short = 'n', long = "top", default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Aggregate flows by these keys (nfdump -A), e.g. srcip,dstport or srcip4/24,proto.
    #[arg(short = 'A', long = "aggregate", value_name = "KEYS", conflicts_with = "stat")]
    pub aggregate: Option<String>,
    /// Order of -A rows (flows, packets, bytes, pps, bps, bpp).
    #[arg(long = "order", default_value = "bytes", value_name = "ORDER")]
    pub order: String,
    /// List at most N flows (the newest N of the window, oldest first).
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<usize>,
    /// Output format: line, long, csv or json.
    #[arg(short = 'o', long = "output", default_value = "line", value_name = "FORMAT")]
    pub output: String,
    /// Print only the totals.
    #[arg(long)]
    pub summary: bool,
    /// Read and print times in UTC instead of local time.
    #[arg(long)]
    pub utc: bool,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Everything the arguments ask for, validated before the store is touched.
struct Plan {
    from_ms: u64,
    to_ms: u64,
    filter: Filter,
    style: Style,
    modes: Vec<Mode>,
}

fn plan(args: &Args) -> Result<Plan> {
    let format = Format::parse(&args.output)?;
    let source = args.filter.join(" ");
    let filter = if source.trim().is_empty() {
        Filter::any()
    } else {
        Filter::compile(&source).map_err(|e| anyhow::anyhow!("bad filter {source:?}: {e}"))?
    };
    let now = now_ms();
    let (from_ms, to_ms) = match (&args.window, &args.last) {
        (Some(w), _) => time::parse_window(w, args.utc, now)?,
        (None, Some(d)) => (now.saturating_sub(time::parse_duration_ms(d)?), u64::MAX),
        (None, None) => (0, u64::MAX),
    };
    if args.top == 0 {
        bail!("-n must be at least 1");
    }
    let mut modes = Vec::new();
    if args.summary {
        modes.push(Mode::Summary);
    } else if let Some(keys) = &args.aggregate {
        let keys = query::parse_aggregate(keys)?;
        modes.push(Mode::Aggregate { keys, order: OrderBy::parse(&args.order)?, limit: args.top });
    } else if !args.stat.is_empty() {
        // Several -s: one scan fills every table.
        let stats = args.stat.iter().map(|s| query::parse_stat(s)).collect::<Result<Vec<_>>>()?;
        modes.push(match stats[..] {
            [(field, order)] => Mode::Stat { field, order, limit: args.top },
            _ => Mode::Stats { stats, limit: args.top },
        });
    } else {
        modes.push(Mode::List { limit: args.count.unwrap_or(DEFAULT_LIST_LIMIT) });
    }
    Ok(Plan { from_ms, to_ms, filter, style: Style { format, utc: args.utc }, modes })
}

pub fn run(args: Args) -> Result<()> {
    let plan = plan(&args)?;
    let store = Store::open_read_only(&args.data)?;
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    for mode in &plan.modes {
        let q = Query {
            from_ms: plan.from_ms,
            to_ms: plan.to_ms,
            filter: plan.filter.clone(),
            mode: mode.clone(),
        };
        let out = with_progress(|p| query::execute_with_progress(&store, &q, p))?;
        if out.torn_blocks > 0 {
            eprintln!(
                "note: {} torn block(s) skipped (crash leftovers or blocks being written)",
                out.torn_blocks
            );
        }
        let res = match mode {
            Mode::Summary => output::write_summary(&mut w, &out, plan.style),
            Mode::Stat { field, order, .. } => {
                output::write_rows(&mut w, Table::Stat(*field), *order, &out, plan.style)
            }
            Mode::Stats { .. } => out.tables.iter().try_for_each(|t| {
                // Each table printed as its own statistic, with the query's summary.
                let one =
                    QueryOutput { rows: t.rows.clone(), tables: Vec::new(), groups: t.groups, ..out.clone() };
                output::write_rows(&mut w, Table::Stat(t.field), t.order, &one, plan.style)
            }),
            Mode::Aggregate { keys, order, .. } => {
                output::write_rows(&mut w, Table::Aggregate(keys), *order, &out, plan.style)
            }
            Mode::List { limit } => {
                if args.count.is_none() && out.total.flows > *limit as u64 {
                    eprintln!("showing the newest {limit} of {} matching flows (use -c N)", out.total.flows);
                }
                output::write_flows(&mut w, &out, plan.style)
            }
        };
        match res.and_then(|_| w.flush()) {
            Ok(()) => {}
            // `wvnr query ... | head` is fine.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("cannot write the output"),
        }
    }
    Ok(())
}

/// Runs `f`; when stderr is a terminal and it takes more than a second, shows a progress line.
fn with_progress<T>(f: impl FnOnce(Option<&AtomicU64>) -> Result<T>) -> Result<T> {
    if !std::io::stderr().is_terminal() {
        return f(None);
    }
    let counter = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            let start = Instant::now();
            let mut shown = false;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if start.elapsed() >= Duration::from_secs(1) {
                    let n = counter.load(Ordering::Relaxed);
                    let rate = n as f64 / start.elapsed().as_secs_f64();
                    eprint!("\rscanned {n} flows ({:.1} M flows/s)  ", rate / 1e6);
                    shown = true;
                }
            }
            if shown {
                eprint!("\r{:60}\r", "");
            }
        });
        let res = f(Some(&counter));
        done.store(true, Ordering::Relaxed);
        let _ = ticker.join();
        res
    })
}
