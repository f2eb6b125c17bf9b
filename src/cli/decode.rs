//! `wvnr decode`: decode a pcap/pcapng of export traffic and print the flows
//! (line, csv, json) or a summary per exporter.

use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::decode::{Decoder, DecoderConfig};
use crate::flow::{Counters, Flow, FlowSource};
use crate::pcap::CaptureReader;
use crate::query::output::mac;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolArg {
    /// Sniff each datagram's version.
    Auto,
    V5,
    V9,
    Ipfix,
    Sflow,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One nfdump-like line per flow.
    Line,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line (with --summary: one JSON object).
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// pcap or pcapng file with export datagrams (any UDP port).
    pub file: PathBuf,
    /// Decode every datagram as this protocol instead of sniffing its version.
    #[arg(long, value_enum, default_value = "auto")]
    pub protocol: ProtocolArg,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "line")]
    pub output: OutputFormat,
    /// Print totals per exporter, errors and capture statistics instead of flows.
    #[arg(long)]
    pub summary: bool,
    /// Stop after this many flows.
    #[arg(long)]
    pub limit: Option<u64>,
}

pub fn run(args: Args) -> Result<()> {
    let mut reader = CaptureReader::open(&args.file)?;
    let mut decoder = Decoder::new(DecoderConfig::default());
    let forced = match args.protocol {
        ProtocolArg::Auto => None,
        ProtocolArg::V5 => Some(FlowSource::NetflowV5),
        ProtocolArg::V9 => Some(FlowSource::NetflowV9),
        ProtocolArg::Ipfix => Some(FlowSource::Ipfix),
        ProtocolArg::Sflow => Some(FlowSource::Sflow),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut totals = Counters::default();
    let limit = args.limit.unwrap_or(u64::MAX);
    let print_flows = !args.summary;
    if print_flows {
        print_header(&mut out, args.output)?;
    }
    let progress = std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut progress_shown = false;
    let mut datagrams = 0u64;
    let mut write_err: Option<std::io::Error> = None;
    while totals.flows < limit {
        let Some(d) = reader.next_datagram().with_context(|| format!("reading {}", args.file.display()))?
        else {
            break;
        };
        datagrams += 1;
        let mut sink = |f: &Flow| {
            if totals.flows >= limit || write_err.is_some() {
                return;
            }
            // Saturating: a hostile capture must not overflow the totals.
            totals.flows += 1;
            totals.packets = totals.packets.saturating_add(f.packets);
            totals.bytes = totals.bytes.saturating_add(f.bytes);
            if print_flows {
                if let Err(e) = print_flow(&mut out, args.output, f) {
                    write_err = Some(e);
                }
            }
        };
        match forced {
            Some(p) => decoder.decode_as(p, &d.payload, d.src, d.time_ms, &mut sink),
            None => decoder.decode(&d.payload, d.src, d.time_ms, &mut sink),
        };
        if let Some(e) = write_err.take() {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e).context("writing flows");
        }
        if progress && last_progress.elapsed() > Duration::from_secs(1) {
            last_progress = Instant::now();
            progress_shown = true;
            eprint!("\r{datagrams} datagrams, {} flows", totals.flows);
        }
    }
    if progress_shown {
        eprint!("\r\x1b[K");
    }
    decoder.flush_pending();
    if args.summary {
        print_summary(&mut out, args.output, &decoder, &totals, &reader.stats)?;
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing output"),
    }
}

fn utc(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        47 => "GRE".into(),
        50 => "ESP".into(),
        58 => "ICMP6".into(),
        132 => "SCTP".into(),
        n => n.to_string(),
    }
}

/// nfdump style: `10.0.0.1:80`, `2001:db8::1.80`.
fn endpoint(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(_) => format!("{a}:{port}"),
        IpAddr::V6(_) => format!("{a}.{port}"),
    }
}

const CSV_HEADER: &str = "first,last,duration_ms,exporter,domain,source,protocol,src_addr,src_port,dst_addr,dst_port,\
tcp_flags,tos,in_if,out_if,src_as,dst_as,src_mask,dst_mask,next_hop,src_vlan,dst_vlan,src_mac,dst_mac,packets,bytes,sampling";

fn print_header(out: &mut impl Write, format: OutputFormat) -> std::io::Result<()> {
    match format {
        OutputFormat::Line => writeln!(
            out,
            "{:<23} {:>9} {:<5} {:>45}    {:<45} {:>9} {:>10} {:>5}",
            "Date first seen (UTC)",
            "Duration",
            "Proto",
            "Src IP Addr:Port",
            "Dst IP Addr:Port",
            "Packets",
            "Bytes",
            "Flows"
        ),
        OutputFormat::Csv => writeln!(out, "{CSV_HEADER}"),
        OutputFormat::Json => Ok(()),
    }
}

fn print_flow(out: &mut impl Write, format: OutputFormat, f: &Flow) -> std::io::Result<()> {
    match format {
        OutputFormat::Line => writeln!(
            out,
            "{:<23} {:>9.3} {:<5} {:>45} -> {:<45} {:>9} {:>10} {:>5}",
            utc(f.first_ms),
            f.duration_ms() as f64 / 1000.0,
            proto_name(f.protocol),
            endpoint(f.src_addr, f.src_port),
            endpoint(f.dst_addr, f.dst_port),
            f.packets,
            f.bytes,
            1
        ),
        OutputFormat::Csv => writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            utc(f.first_ms),
            utc(f.last_ms),
            f.duration_ms(),
            f.exporter,
            f.domain,
            f.source.as_str(),
            f.protocol,
            f.src_addr,
            f.src_port,
            f.dst_addr,
            f.dst_port,
            f.tcp_flags,
            f.tos,
            f.in_if,
            f.out_if,
            f.src_as,
            f.dst_as,
            f.src_mask,
            f.dst_mask,
            f.next_hop,
            f.src_vlan,
            f.dst_vlan,
            mac(&f.src_mac),
            mac(&f.dst_mac),
            f.packets,
            f.bytes,
            f.sampling
        ),
        OutputFormat::Json => {
            let v = serde_json::json!({
                "first": utc(f.first_ms), "last": utc(f.last_ms), "first_ms": f.first_ms, "last_ms": f.last_ms,
                "received_ms": f.received_ms, "exporter": f.exporter, "domain": f.domain,
                "source": f.source.as_str(), "protocol": f.protocol,
                "src_addr": f.src_addr, "src_port": f.src_port, "dst_addr": f.dst_addr, "dst_port": f.dst_port,
                "tcp_flags": f.tcp_flags, "tos": f.tos, "in_if": f.in_if, "out_if": f.out_if,
                "src_as": f.src_as, "dst_as": f.dst_as, "src_mask": f.src_mask, "dst_mask": f.dst_mask,
                "next_hop": f.next_hop, "src_vlan": f.src_vlan, "dst_vlan": f.dst_vlan,
                "src_mac": mac(&f.src_mac), "dst_mac": mac(&f.dst_mac),
                "packets": f.packets, "bytes": f.bytes, "sampling": f.sampling,
            });
            writeln!(out, "{v}")
        }
    }
}

fn print_summary(
    out: &mut impl Write,
    format: OutputFormat,
    decoder: &Decoder,
    totals: &Counters,
    capture: &crate::pcap::CaptureStats,
) -> Result<()> {
    let s = decoder.stats();
    let exporters = decoder.exporters();
    if format == OutputFormat::Json {
        let v = serde_json::json!({
            "flows": totals.flows,
            "packets": totals.packets,
            "bytes": totals.bytes,
            "datagrams": s.datagrams,
            "bad_datagrams": s.bad_datagrams,
            "missing_flows": s.missing_flows,
            "missing_datagrams": s.missing_datagrams,
            "templates_received": s.templates_received,
            "templates_evicted": s.templates_evicted,
            "pending_decoded": s.pending_decoded,
            "pending_dropped": s.pending_dropped,
            "errors": s.errors_json(),
            "exporters": exporters,
            "capture": {
                "packets": capture.packets, "udp": capture.udp,
                "fragments": capture.fragments, "skipped": capture.skipped,
            },
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(
        out,
        "Flows: {}  Packets: {}  Bytes: {}  (sampling-corrected)",
        totals.flows, totals.packets, totals.bytes
    )?;
    writeln!(
        out,
        "Datagrams: {} ({} bad)  Missing (by sequence numbers): {} flows, {} datagrams",
        s.datagrams, s.bad_datagrams, s.missing_flows, s.missing_datagrams
    )?;
    writeln!(
        out,
        "Templates: {} received, {} evicted  Held data sets: {} decoded later, {} dropped",
        s.templates_received, s.templates_evicted, s.pending_decoded, s.pending_dropped
    )?;
    let errors: Vec<String> = crate::wire::WireError::ALL
        .iter()
        .filter(|e| s.errors[e.index()] > 0)
        .map(|e| format!("{}={}", e.as_str(), s.errors[e.index()]))
        .collect();
    writeln!(
        out,
        "Decode errors: {}",
        if errors.is_empty() { "none".to_string() } else { errors.join(" ") }
    )?;
    writeln!(
        out,
        "Capture: {} packets, {} UDP datagrams, {} fragments (not reassembled), {} skipped",
        capture.packets, capture.udp, capture.fragments, capture.skipped
    )?;
    writeln!(out, "Exporters:")?;
    writeln!(
        out,
        "  {:<39} {:<10} {:>9} {:>9} {:>12} {:>14} {:>8} {:>8} {:>8}  domains",
        "address", "protocol", "datagrams", "flows", "packets", "bytes", "sampling", "missing", "errors"
    )?;
    for e in &exporters {
        let domains: Vec<String> = e.domains.iter().map(|d| d.to_string()).collect();
        writeln!(
            out,
            "  {:<39} {:<10} {:>9} {:>9} {:>12} {:>14} {:>8} {:>8} {:>8}  {}",
            e.address.to_string(),
            e.protocol.as_str(),
            e.datagrams,
            e.flows,
            e.packets,
            e.bytes,
            e.sampling.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            e.missing_flows + e.missing_datagrams,
            e.decode_errors,
            domains.join(",")
        )?;
    }
    Ok(())
}
