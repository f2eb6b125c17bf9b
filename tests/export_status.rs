//! The export backlog as users see it: a real `wvnr serve` with `[export.clickhouse]`
//! against a real clickhouse-server, fed by `wvnr gen`; `/api/export`, `/metrics` and
//! `wvnr status` read while rows ship, while the server is down, and after it is back.

mod common;
mod export_support;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use export_support::{tools, Server};
use serde_json::Value;

struct Serve {
    child: Child,
    web: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a child we own.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` from the collector's web port: (status code, body).
fn get(web: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    Some((head.split_whitespace().nth(1)?.parse().ok()?, body.to_string()))
}

fn export_json(web: u16) -> Value {
    let (code, body) = get(web, "/api/export").expect("web answers");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The value of the sample `name{labels}` (exact line match on the name and labels).
fn metric(web: u16, sample: &str) -> f64 {
    let (_, body) = get(web, "/metrics").expect("web answers");
    body.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{sample} not in /metrics:\n{body}"))
        .parse()
        .unwrap()
}

fn raw(v: &Value) -> &Value {
    v["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "raw_flows").expect("raw_flows kind")
}

/// Polls /api/export until `done`; panics with the last answer after 60 s.
fn wait_export(web: u16, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let v = export_json(web);
        if done(&v) {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn gen_flows(port: u16, datagrams: u64, seed: u64) -> u64 {
    let out = common::run_ok(Command::new(common::wvnr_bin()).args([
        "gen",
        "--target",
        &format!("127.0.0.1:{port}"),
        "--protocol",
        "v9",
        "--count",
        &datagrams.to_string(),
        "--rate",
        "2000",
        "--exporters",
        "2",
        "--seed",
        &seed.to_string(),
        "--json",
    ]));
    serde_json::from_str::<Value>(&out).unwrap()["flows"].as_u64().unwrap()
}

fn start_serve(tmp: &std::path::Path, ch_url: &str, port: u16) -> Serve {
    let conf = tmp.join("wvnr.toml");
    std::fs::write(
        &conf,
        format!(
            "[export.clickhouse]\nurl = \"{ch_url}\"\nraw_flows = true\nrollups = true\n\
             collector_id = \"edge\"\nretry_max_s = 2\n"
        ),
    )
    .unwrap();
    let web = common::free_tcp_port();
    let child = Command::new(common::wvnr_bin())
        .arg("serve")
        .arg("--config")
        .arg(&conf)
        .arg("--data")
        .arg(tmp.join("data"))
        .args(["--port", &port.to_string(), "--listen", "127.0.0.1", "--workers", "1"])
        .args(["--web", &format!("127.0.0.1:{web}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wvnr serve");
    let serve = Serve { child, web };
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(web, "/healthz").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "wvnr serve did not become healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    serve
}

#[test]
fn backlog_in_api_metrics_and_status_while_the_server_is_down() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("ch"), &[]);
    let port = common::free_udp_port();
    let serve = start_serve(tmp.path(), &server.url(), port);
    let web = serve.web;
    assert_eq!(metric(web, "wvnr_export_enabled"), 1.0);
    let index = get(web, "/api").unwrap().1;
    assert!(index.contains("\"/api/export\""), "{index}");

    // Shipping: the shipped count reaches what was sent, nothing pending.
    let first = gen_flows(port, 300, 1);
    let v = wait_export(web, "first flows shipped", |v| {
        v["state"] == "ok" && raw(v)["shipped_rows"] == first && raw(v)["pending_rows"] == 0
    });
    assert!(v["status"]["last_success_unix_s"].as_u64().is_some(), "{v:#}");
    assert_eq!(metric(web, "wvnr_export_up"), 1.0);
    assert_eq!(metric(web, "wvnr_export_shipped_rows_total{kind=\"raw_flows\"}"), first as f64);
    assert_eq!(metric(web, "wvnr_export_pending_rows{kind=\"raw_flows\"}"), 0.0);
    assert_eq!(metric(web, "wvnr_export_pending_rows{kind=\"rollups\"}"), 0.0);

    // Down: the new flows are the backlog, in rows and bytes.
    server.kill();
    let second = gen_flows(port, 200, 2);
    let v = wait_export(web, "the backlog while down", |v| {
        v["state"] == "retrying" && raw(v)["pending_rows"] == second
    });
    assert!(raw(&v)["pending_bytes"].as_u64().unwrap() > 0, "{v:#}");
    // "Connection refused", or a pooled connection's "channel closed", naming the url.
    assert!(v["status"]["last_error"].as_str().unwrap().contains(&server.url()), "{v:#}");
    assert_eq!(metric(web, "wvnr_export_up"), 0.0);
    assert_eq!(metric(web, "wvnr_export_pending_rows{kind=\"raw_flows\"}"), second as f64);
    assert!(metric(web, "wvnr_export_pending_bytes{kind=\"raw_flows\"}") > 0.0);
    assert!(metric(web, "wvnr_export_errors_total") >= 1.0);
    assert_eq!(metric(web, "wvnr_export_shipped_rows_total{kind=\"raw_flows\"}"), first as f64);

    // `wvnr status` prints the same (text and JSON).
    let addr = format!("127.0.0.1:{web}");
    let text = common::run_ok(Command::new(common::wvnr_bin()).args(["status", "--web", &addr]));
    eprintln!("{text}");
    assert!(text.contains("export to ClickHouse: retrying"), "{text}");
    assert!(text.contains("last error at") && text.contains(&server.url()), "{text}");
    let row = text.lines().find(|l| l.trim_start().starts_with("raw_flows")).expect("raw_flows row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cols[1], cols[2]), (first.to_string().as_str(), second.to_string().as_str()), "{row}");
    let json =
        common::run_ok(Command::new(common::wvnr_bin()).args(["status", "--web", &addr, "-o", "json"]));
    let j: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(raw(&j["export"])["pending_rows"], second);

    // Back: everything ships, ClickHouse holds every flow once.
    server.launch();
    wait_export(web, "backlog shipped", |v| {
        v["state"] == "ok" && raw(v)["shipped_rows"] == first + second && raw(v)["pending_rows"] == 0
    });
    assert_eq!(metric(web, "wvnr_export_pending_rows{kind=\"raw_flows\"}"), 0.0);
    assert_eq!(metric(web, "wvnr_export_shipped_rows_total{kind=\"raw_flows\"}"), (first + second) as f64);
    assert_eq!(server.numbers("SELECT count() FROM wvnr.flows FINAL"), vec![first + second]);
    drop(serve);
}
