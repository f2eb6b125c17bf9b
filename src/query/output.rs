//! Output writers shaped like nfdump's: `line` and `long` for people, `csv` for
//! spreadsheets (nfdump's column names), `json` for programs. The web reuses these
//! for downloads.

use std::io::{self, Write};
use std::net::IpAddr;

use anyhow::{bail, Result};
use serde_json::json;

use crate::flow::{Counters, Flow};

use super::key::proto_name;
use super::time::{format_duration, format_ms, format_s};
use super::{rates, AggField, OrderBy, QueryOutput, StatField, StatRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Line,
    Long,
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        Ok(match s {
            "line" => Format::Line,
            "long" => Format::Long,
            "csv" => Format::Csv,
            "json" => Format::Json,
            _ => bail!("unknown output format {s:?}: use line, long, csv or json"),
        })
    }
}

/// Options shared by every writer.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub format: Format,
    /// Print times in UTC instead of local time.
    pub utc: bool,
}

fn pct(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 * 100.0 / total as f64
    }
}

/// nfdump's summary numbers: avg bps / pps over the time span of all matching flows.
pub fn summary_values(out: &QueryOutput) -> (u64, u64, u64) {
    rates(&out.total, out.last_ms.saturating_sub(out.first_ms))
}

/// A number as nfdump's line output prints it: plain below a million, else `43.1 M`, `1.2 G`, `3.0 T`.
pub fn scaled(n: u64) -> String {
    const M: f64 = 1_000_000.0;
    let f = n as f64;
    if f >= M * M {
        format!("{:.1} T", f / (M * M))
    } else if f >= 1000.0 * M {
        format!("{:.1} G", f / (1000.0 * M))
    } else if f >= M {
        format!("{:.1} M", f / M)
    } else {
        n.to_string()
    }
}

/// `Summary: total flows: N, total bytes: N, total packets: N, avg bps: N, avg pps: N, avg bpp: N`
/// (numbers scaled like nfdump's: `43.1 M`).
pub fn summary_line(out: &QueryOutput) -> String {
    let (pps, bps, bpp) = summary_values(out);
    let t = &out.total;
    format!(
        "Summary: total flows: {}, total bytes: {}, total packets: {}, avg bps: {}, avg pps: {}, avg bpp: {bpp}",
        scaled(t.flows),
        scaled(t.bytes),
        scaled(t.packets),
        scaled(bps),
        scaled(pps)
    )
}

/// The summary object `--summary -o json` prints (top-level flows, packets, bytes).
pub fn summary_json(out: &QueryOutput, utc: bool) -> serde_json::Value {
    let (pps, bps, bpp) = summary_values(out);
    let t = &out.total;
    let (first, last) = if t.flows == 0 {
        (serde_json::Value::Null, serde_json::Value::Null)
    } else {
        (json!(format_ms(out.first_ms, utc)), json!(format_ms(out.last_ms, utc)))
    };
    json!({
        "flows": t.flows, "packets": t.packets, "bytes": t.bytes,
        "avg_bps": bps, "avg_pps": pps, "avg_bpp": bpp,
        "first": first, "last": last,
        "flows_scanned": out.flows_scanned, "torn_blocks": out.torn_blocks,
    })
}

fn csv_summary(w: &mut dyn Write, out: &QueryOutput) -> io::Result<()> {
    let (pps, bps, bpp) = summary_values(out);
    let t = &out.total;
    writeln!(w, "\nSummary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp")?;
    writeln!(w, "{},{},{},{bps},{pps},{bpp}", t.flows, t.bytes, t.packets)
}

/// Totals only, in any format.
pub fn write_summary(w: &mut dyn Write, out: &QueryOutput, style: Style) -> io::Result<()> {
    match style.format {
        Format::Json => writeln!(w, "{}", summary_json(out, style.utc)),
        Format::Csv => {
            let (pps, bps, bpp) = summary_values(out);
            let t = &out.total;
            writeln!(w, "flows,bytes,packets,avg_bps,avg_pps,avg_bpp")?;
            writeln!(w, "{},{},{},{bps},{pps},{bpp}", t.flows, t.bytes, t.packets)
        }
        Format::Line | Format::Long => {
            writeln!(w, "{}", summary_line(out))?;
            if out.total.flows > 0 {
                writeln!(
                    w,
                    "Time window: {} - {}",
                    format_s(out.first_ms, style.utc),
                    format_s(out.last_ms, style.utc)
                )?;
            }
            Ok(())
        }
    }
}

/// What a table of rows is: a `-s` statistic or an `-A` aggregation.
#[derive(Clone, Copy, Debug)]
pub enum Table<'a> {
    Stat(StatField),
    Aggregate(&'a [AggField]),
}

/// Rows of a `-s` statistic or `-A` aggregation (with nfdump's header and summary).
pub fn write_rows(
    w: &mut dyn Write,
    table: Table<'_>,
    order: OrderBy,
    out: &QueryOutput,
    style: Style,
) -> io::Result<()> {
    let t = &out.total;
    match style.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> =
                out.rows.iter().map(|r| row_json(r, table, t, style.utc)).collect();
            let mut obj =
                json!({ "order": order.as_str(), "rows": rows, "summary": summary_json(out, style.utc) });
            match table {
                Table::Stat(f) => obj["stat"] = json!(f.as_str()),
                Table::Aggregate(keys) => {
                    obj["aggregate"] = json!(keys.iter().map(|k| k.name()).collect::<Vec<_>>())
                }
            }
            writeln!(w, "{obj}")
        }
        Format::Csv => {
            match table {
                Table::Stat(f) => {
                    let i = if matches!(f, StatField::DstPort | StatField::Proto | StatField::If) {
                        ""
                    } else {
                        "i"
                    };
                    writeln!(w, "ts,te,td,pr,val,fl,flP,{i}pkt,{i}pktP,{i}byt,{i}bytP,{i}pps,{i}bps,{i}bpp")?;
                }
                Table::Aggregate(keys) => {
                    let names: Vec<String> = keys.iter().map(|k| k.name()).collect();
                    writeln!(w, "ts,te,td,{},fl,pkt,byt,pps,bps,bpp", names.join(","))?;
                }
            }
            for r in &out.rows {
                let (pps, bps, bpp) = rates(&r.counters, r.last_ms.saturating_sub(r.first_ms));
                let c = &r.counters;
                let td = r.last_ms.saturating_sub(r.first_ms) as f64 / 1000.0;
                let (ts, te) = (format_s(r.first_ms, style.utc), format_s(r.last_ms, style.utc));
                match table {
                    Table::Stat(f) => writeln!(
                        w,
                        "{ts},{te},{td:.3},{},{},{},{:.1},{},{:.1},{},{:.1},{pps},{bps},{bpp}",
                        row_proto(f, r),
                        csv_field(&r.key),
                        c.flows,
                        pct(c.flows, t.flows),
                        c.packets,
                        pct(c.packets, t.packets),
                        c.bytes,
                        pct(c.bytes, t.bytes)
                    )?,
                    Table::Aggregate(_) => {
                        let parts: Vec<String> = r.parts.iter().map(|p| csv_field(p)).collect();
                        writeln!(
                            w,
                            "{ts},{te},{td:.3},{},{},{},{},{pps},{bps},{bpp}",
                            parts.join(","),
                            c.flows,
                            c.packets,
                            c.bytes
                        )?
                    }
                }
            }
            csv_summary(w, out)
        }
        Format::Line | Format::Long => {
            match table {
                Table::Stat(f) => {
                    writeln!(w, "Top {} {} ordered by {}:", out.rows.len(), f.title(), order.as_str())?;
                    let width = if f == StatField::Record { 48 } else { 16 };
                    writeln!(
                        w,
                        "{:<23} {:>16} {:<5} {:>width$} {:>14} {:>16} {:>18} {:>10} {:>12} {:>6}",
                        "Date first seen",
                        "Duration",
                        "Proto",
                        f.title(),
                        "Flows(%)",
                        "Packets(%)",
                        "Bytes(%)",
                        "pps",
                        "bps",
                        "bpp"
                    )?;
                    for r in &out.rows {
                        let c = &r.counters;
                        let dur = r.last_ms.saturating_sub(r.first_ms);
                        let (pps, bps, bpp) = rates(c, dur);
                        writeln!(
                            w,
                            "{:<23} {:>16} {:<5} {:>width$} {:>14} {:>16} {:>18} {:>10} {:>12} {:>6}",
                            format_ms(r.first_ms, style.utc),
                            format_duration(dur),
                            row_proto(f, r),
                            r.key,
                            format!("{}({:.1})", scaled(c.flows), pct(c.flows, t.flows)),
                            format!("{}({:.1})", scaled(c.packets), pct(c.packets, t.packets)),
                            format!("{}({:.1})", scaled(c.bytes), pct(c.bytes, t.bytes)),
                            scaled(pps),
                            scaled(bps),
                            bpp
                        )?;
                    }
                }
                Table::Aggregate(keys) => {
                    let names: Vec<String> = keys.iter().map(|k| k.name()).collect();
                    write!(w, "{:<23} {:>16}", "Date first seen", "Duration")?;
                    for n in &names {
                        write!(w, " {n:>20}")?;
                    }
                    writeln!(
                        w,
                        " {:>12} {:>14} {:>12} {:>6} {:>8}",
                        "Packets", "Bytes", "bps", "Bpp", "Flows"
                    )?;
                    for r in &out.rows {
                        let c = &r.counters;
                        let dur = r.last_ms.saturating_sub(r.first_ms);
                        let (_, bps, bpp) = rates(c, dur);
                        write!(w, "{:<23} {:>16}", format_ms(r.first_ms, style.utc), format_duration(dur))?;
                        for p in &r.parts {
                            write!(w, " {p:>20}")?;
                        }
                        writeln!(
                            w,
                            " {:>12} {:>14} {:>12} {:>6} {:>8}",
                            c.packets, c.bytes, bps, bpp, c.flows
                        )?;
                    }
                }
            }
            writeln!(w)?;
            write_summary(w, out, Style { format: Format::Line, ..style })
        }
    }
}

/// nfdump's `pr` column of a stat row: the protocol name for `-s proto`, else "any".
fn row_proto(f: StatField, r: &StatRow) -> String {
    match f {
        StatField::Proto => r.key.parse::<u8>().map(proto_name).unwrap_or_else(|_| r.key.clone()),
        _ => "any".into(),
    }
}

fn row_json(r: &StatRow, table: Table<'_>, t: &Counters, utc: bool) -> serde_json::Value {
    let c = &r.counters;
    let dur = r.last_ms.saturating_sub(r.first_ms);
    let (pps, bps, bpp) = rates(c, dur);
    let mut v = json!({
        "val": r.key, "flows": c.flows, "packets": c.packets, "bytes": c.bytes,
        "flows_pct": pct(c.flows, t.flows), "packets_pct": pct(c.packets, t.packets),
        "bytes_pct": pct(c.bytes, t.bytes),
        "first": format_ms(r.first_ms, utc), "last": format_ms(r.last_ms, utc),
        "duration": dur as f64 / 1000.0, "pps": pps, "bps": bps, "bpp": bpp,
    });
    if let Table::Aggregate(keys) = table {
        for (k, p) in keys.iter().zip(&r.parts) {
            v[k.name()] = json!(p);
        }
    }
    v
}

/// Quotes a CSV field only when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// TCP flags as nfdump prints them: CWR ECE URG ACK PSH RST SYN FIN, a dot for each unset.
pub fn tcp_flags(f: u8) -> String {
    b"CEUAPRSF".iter().enumerate().map(|(i, &c)| if f & (0x80 >> i) != 0 { c as char } else { '.' }).collect()
}

fn endpoint(a: &IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(_) => format!("{a}:{port}"),
        IpAddr::V6(_) => format!("[{a}]:{port}"),
    }
}

/// A MAC address as `aa:bb:cc:dd:ee:ff` (listings here and in `wvnr decode`).
pub fn mac(m: &[u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

fn flow_json(f: &Flow, utc: bool) -> serde_json::Value {
    let side = |a: &IpAddr| if a.is_ipv6() { "6" } else { "4" };
    let mut v = json!({
        "first": format_ms(f.first_ms, utc), "last": format_ms(f.last_ms, utc),
        "received": format_ms(f.received_ms, utc),
        "in_packets": f.packets, "in_bytes": f.bytes, "proto": f.protocol,
        "tcp_flags": tcp_flags(f.tcp_flags), "src_port": f.src_port, "dst_port": f.dst_port,
        "src_tos": f.tos, "input_snmp": f.in_if, "output_snmp": f.out_if,
        "src_as": f.src_as, "dst_as": f.dst_as, "src_mask": f.src_mask, "dst_mask": f.dst_mask,
        "src_vlan": f.src_vlan, "dst_vlan": f.dst_vlan,
        "in_src_mac": mac(&f.src_mac), "out_dst_mac": mac(&f.dst_mac),
        "sampling": f.sampling, "source": f.source.as_str(), "domain": f.domain,
    });
    v[format!("src{}_addr", side(&f.src_addr))] = json!(f.src_addr.to_string());
    v[format!("dst{}_addr", side(&f.dst_addr))] = json!(f.dst_addr.to_string());
    v[format!("ip{}_next_hop", side(&f.next_hop))] = json!(f.next_hop.to_string());
    v[format!("ip{}_router", side(&f.exporter))] = json!(f.exporter.to_string());
    v
}

/// A flow listing (`-c N` or no mode), followed by the summary like nfdump.
pub fn write_flows(w: &mut dyn Write, out: &QueryOutput, style: Style) -> io::Result<()> {
    match style.format {
        Format::Json => {
            let flows: Vec<serde_json::Value> = out.flows.iter().map(|f| flow_json(f, style.utc)).collect();
            writeln!(w, "{}", json!({ "flows": flows, "summary": summary_json(out, style.utc) }))
        }
        Format::Csv => {
            writeln!(w, "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,ra,tr")?;
            for f in &out.flows {
                writeln!(
                    w,
                    "{},{},{:.3},{},{},{},{},{},{},0,{},{},{},0,0,{},{},{},{},{},{},0,0,{},0.0.0.0,{},{},{},{},00:00:00:00:00:00,00:00:00:00:00:00,{},{}",
                    format_s(f.first_ms, style.utc),
                    format_s(f.last_ms, style.utc),
                    f.duration_ms() as f64 / 1000.0,
                    f.src_addr,
                    f.dst_addr,
                    f.src_port,
                    f.dst_port,
                    proto_name(f.protocol),
                    tcp_flags(f.tcp_flags),
                    f.tos,
                    f.packets,
                    f.bytes,
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
                    f.exporter,
                    format_ms(f.received_ms, style.utc)
                )?;
            }
            csv_summary(w, out)
        }
        Format::Line | Format::Long => {
            let long = style.format == Format::Long;
            write!(
                w,
                "{:<23} {:>16} {:<5} {:>30}    {:<30}",
                "Date first seen", "Duration", "Proto", "Src IP Addr:Port", "Dst IP Addr:Port"
            )?;
            if long {
                write!(w, " {:>8} {:>3}", "Flags", "Tos")?;
            }
            writeln!(w, " {:>10} {:>12} {:>5}", "Packets", "Bytes", "Flows")?;
            for f in &out.flows {
                write!(
                    w,
                    "{:<23} {:>16} {:<5} {:>30} -> {:<30}",
                    format_ms(f.first_ms, style.utc),
                    format_duration(f.duration_ms()),
                    proto_name(f.protocol),
                    endpoint(&f.src_addr, f.src_port),
                    endpoint(&f.dst_addr, f.dst_port)
                )?;
                if long {
                    write!(w, " {:>8} {:>3}", tcp_flags(f.tcp_flags), f.tos)?;
                }
                writeln!(w, " {:>10} {:>12} {:>5}", f.packets, f.bytes, 1)?;
            }
            write_summary(w, out, Style { format: Format::Line, ..style })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_summary_line() {
        assert_eq!(tcp_flags(0x1b), "...AP.SF");
        assert_eq!(tcp_flags(0), "........");
        let out = QueryOutput {
            total: Counters { flows: 5, packets: 60, bytes: 15000 },
            first_ms: 1000,
            last_ms: 5000,
            ..QueryOutput::default()
        };
        assert_eq!(
            summary_line(&out),
            "Summary: total flows: 5, total bytes: 15000, total packets: 60, avg bps: 30000, avg pps: 15, avg bpp: 250"
        );
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(scaled(43_057_200), "43.1 M");
        assert_eq!(scaled(999_999), "999999");
        assert_eq!(scaled(2_500_000_000), "2.5 G");
    }
}
