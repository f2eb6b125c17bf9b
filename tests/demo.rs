//! `wvnr demo`, the README's first command: it backfills history, serves the
//! report and feeds the collector live traffic from several exporters.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(web: u16, path: &str) -> Option<serde_json::Value> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return None;
    }
    serde_json::from_str(body).ok()
}

fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn demo_serves_history_and_live_traffic() {
    let data = tempfile::tempdir().unwrap();
    let web = common::free_tcp_port();
    let mut child = Command::new(common::wvnr_bin())
        .args(["demo", "--history", "2h", "--flow-rate", "40", "--workers", "1", "--data"])
        .arg(data.path())
        .args(["--web", &format!("127.0.0.1:{web}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The history is graphed: the closed 5-minute points of the last 2 hours carry
    // traffic (not just the live bucket).
    let history = poll("backfilled rollups", || {
        let v = get(web, "/api/overview?profile=live&range=6h&unit=flows")?;
        let busy_points = v["total"]["values"].as_array()?.iter().filter(|x| x.as_f64() > Some(0.0)).count();
        let flows = v["total"]["sum"]["flows"].as_u64()?;
        (busy_points >= 20).then_some(flows)
    });
    // Live traffic arrives from the simulated exporters of every protocol.
    let protocols = poll("live exporters of four protocols", || {
        let v = get(web, "/api/exporters")?;
        let mut seen: Vec<String> = v["exporters"]
            .as_array()?
            .iter()
            .filter(|e| e["flows"].as_u64().unwrap_or(0) > 0)
            .filter_map(|e| e["protocol"].as_str().map(String::from))
            .collect();
        seen.sort();
        seen.dedup();
        (seen.len() == 4).then_some(seen)
    });
    assert_eq!(protocols, ["ipfix", "netflow-v5", "netflow-v9", "sflow"]);

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "demo exited with {status}");
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    assert!(stdout.contains(&format!("open http://127.0.0.1:{web}/")), "{stdout}");

    // Everything it showed is in the data directory, history and live flows together.
    let out =
        common::run_ok(Command::new(common::wvnr_bin()).arg("query").arg("--data").arg(data.path()).args([
            "--summary",
            "-o",
            "json",
        ]));
    let stored: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(stored["flows"].as_u64().unwrap() >= history, "{stored} vs {history}");
}
