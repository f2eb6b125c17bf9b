//! `wvnr status`: what a running collector is doing (asked over its web API),
//! or, when none answers, what the data directory holds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    wvnr status                         ask the collector whose web report is on 127.0.0.1:8080\n  \
    wvnr status --web 10.0.0.5:8080 -o json\n  \
    wvnr status --health                exit 0 when /healthz answers (container healthcheck)")]
pub struct Args {
    /// Web address of the running collector (0.0.0.0 means this host).
    #[arg(long, env = "WVNR_WEB", default_value = "127.0.0.1:8080")]
    pub web: String,
    /// Data directory, read directly when no collector answers.
    #[arg(long, env = "WVNR_DATA")]
    pub data: Option<PathBuf>,
    /// Only check that the collector answers /healthz (exit status 0 or 1).
    #[arg(long)]
    pub health: bool,
    /// Output: text or json.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

pub fn run(args: Args) -> Result<()> {
    let addr = resolve(&args.web)?;
    if args.health {
        let (code, _) =
            http_get(addr, "/healthz").with_context(|| format!("no collector answers on {addr}"))?;
        if code != 200 {
            bail!("collector on {addr} is unhealthy (HTTP {code})");
        }
        println!("ok");
        return Ok(());
    }
    match http_get(addr, "/api/exporters") {
        Ok((200, body)) => {
            let mut v: Value =
                serde_json::from_str(&body).context("the collector's /api/exporters is not JSON")?;
            // A collector older than /api/export answers 404: print without that section.
            if let Ok((200, body)) = http_get(addr, "/api/export") {
                let export: Value =
                    serde_json::from_str(&body).context("the collector's /api/export is not JSON")?;
                v["export"] = export;
            }
            if args.output == "json" {
                println!("{v}");
            } else {
                print_live(&v);
            }
            Ok(())
        }
        Ok((code, body)) => bail!("collector on {addr} answered HTTP {code}: {}", body.trim()),
        Err(e) => {
            let Some(dir) = args.data else {
                bail!("no collector answers on {addr} ({e}); give --web ADDR, or --data DIR to read a stopped one's store");
            };
            eprintln!("no collector answers on {addr}; reading {}", dir.display());
            let store = crate::store::Store::open(&dir, crate::store::StoreConfig::default())?;
            let usage = store.usage();
            if args.output == "json" {
                println!("{}", serde_json::json!({ "running": false, "storage": usage }));
            } else {
                println!("collector: not running");
                print_storage(&serde_json::to_value(&usage)?);
            }
            Ok(())
        }
    }
}

fn resolve(web: &str) -> Result<SocketAddr> {
    let web = web.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    web.to_socket_addrs()
        .with_context(|| format!("--web {web:?} is not an address:port"))?
        .next()
        .with_context(|| format!("--web {web:?} resolves to nothing"))
}

/// A minimal HTTP/1.0 GET (the collector's own API on a trusted address).
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n")?;
    let mut raw = Vec::new();
    s.take(64 << 20).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
    let code =
        head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("malformed HTTP status line")?;
    Ok((code, body.to_string()))
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn print_live(v: &Value) {
    println!("collector: running");
    if let Some(workers) = v["workers"].as_array() {
        println!("\nworkers:");
        println!(
            "  {:>3} {:>14} {:>14} {:>12} {:>10} {:>12}",
            "id", "datagrams", "flows", "kernel drops", "dropped", "rcvbuf"
        );
        for w in workers {
            println!(
                "  {:>3} {:>14} {:>14} {:>12} {:>10} {:>12}",
                num(w, "id"),
                num(w, "datagrams"),
                num(w, "flows"),
                num(w, "kernel_drops"),
                num(w, "dropped"),
                num(w, "rcvbuf")
            );
        }
    }
    if let Some(exporters) = v["exporters"].as_array() {
        println!("\nexporters:");
        println!(
            "  {:<40} {:<10} {:<11} {:>10} {:>12} {:>9} {:>8} {:>10}",
            "address", "source", "protocol", "flows/s", "flows", "templates", "sampling", "missing"
        );
        for e in exporters {
            let e = if e.get("status").is_some() { &e["status"] } else { e };
            let sampling = e["sampling"].as_u64().map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
            println!(
                "  {:<40} {:<10} {:<11} {:>10.1} {:>12} {:>9} {:>8} {:>10}",
                e["address"].as_str().unwrap_or("?"),
                e["source"].as_str().unwrap_or(""),
                e["protocol"].as_str().unwrap_or(""),
                e["flow_rate"].as_f64().unwrap_or(0.0),
                num(e, "flows"),
                num(e, "templates"),
                sampling,
                num(e, "missing_flows")
            );
        }
    }
    print_storage(&v["storage"]);
    print_export(&v["export"]);
}

/// The ClickHouse export section (from `/api/export`).
fn print_export(e: &Value) {
    if !e["enabled"].as_bool().unwrap_or(false) {
        if e.is_object() {
            println!("\nexport: off");
        }
        return;
    }
    let st = &e["status"];
    let time = |k: &str| {
        st[k]
            .as_i64()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "never".into())
    };
    println!(
        "\nexport to ClickHouse: {} ({})",
        e["state"].as_str().unwrap_or("?"),
        st["url"].as_str().unwrap_or("")
    );
    println!(
        "  last success {}, {} failed rounds ({} in a row), retry in {} s, {} catch-ups",
        time("last_success_unix_s"),
        num(st, "errors"),
        num(st, "consecutive_failures"),
        num(st, "retry_in_s"),
        num(st, "catchups")
    );
    if let Some(err) = st["last_error"].as_str() {
        println!("  last error at {}: {err}", time("last_error_unix_s"));
    }
    println!(
        "  {:<10} {:>14} {:>14} {:>14} {:>13} {:>12} {:>14}",
        "table", "shipped rows", "pending rows", "pending bytes", "pending", "oldest (s)", "dropped rows"
    );
    for k in e["kinds"].as_array().into_iter().flatten().filter(|k| k["enabled"].as_bool() == Some(true)) {
        let kind = k["kind"].as_str().unwrap_or("?");
        let n = num(k, "pending_units");
        let unit = match (kind == "rollups", n == 1) {
            (true, true) => "bucket",
            (true, false) => "buckets",
            (false, true) => "segment",
            (false, false) => "segments",
        };
        let opt = |key: &str| k[key].as_u64().map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "  {:<10} {:>14} {:>14} {:>14} {:>13} {:>12} {:>14}",
            kind,
            num(k, "shipped_rows"),
            num(k, "pending_rows"),
            opt("pending_bytes"),
            format!("{n} {unit}"),
            opt("oldest_pending_age_s"),
            num(k, "dropped_rows")
        );
    }
}

fn print_storage(u: &Value) {
    let bucket = |k: &str| {
        u[k].as_u64()
            .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0))
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "-".into())
    };
    println!("\nstorage:");
    println!(
        "  {} bytes in {} segments, {} buckets, oldest {}, newest {}",
        num(u, "bytes"),
        num(u, "segments"),
        num(u, "buckets"),
        bucket("oldest_bucket"),
        bucket("newest_bucket")
    );
}
