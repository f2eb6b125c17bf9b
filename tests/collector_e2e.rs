//! The collector end to end on loopback: the real `wvnr serve` process, real
//! datagrams from `wvnr gen`, totals read back with `wvnr query`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Serve {
    child: Child,
    web: u16,
}

/// A test that fails midway must not leave a collector running.
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills a child process when dropped (a generator still sending when a test fails).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_serve(data: &Path, port: u16) -> Serve {
    let web = common::free_tcp_port();
    let child = Command::new(common::wvnr_bin())
        .args(["serve", "--data"])
        .arg(data)
        .args(["--port", &port.to_string(), "--listen", "127.0.0.1", "--workers", "2"])
        .args(["--web", &format!("127.0.0.1:{web}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wvnr serve");
    let serve = Serve { child, web };
    wait_healthy(serve.web);
    serve
}

fn wait_healthy(web: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", web)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("wvnr serve did not become healthy on web port {web}");
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we own.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

fn stop(mut s: Serve) {
    signal(&s.child, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            assert!(status.success(), "wvnr serve exited with {status}");
            return;
        }
        assert!(Instant::now() < deadline, "wvnr serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gen(port: u16, protocol: &str, count: u64, exporters: u32, seed: u64) -> Value {
    let out = common::run_ok(Command::new(common::wvnr_bin()).args([
        "gen",
        "--target",
        &format!("127.0.0.1:{port}"),
        "--protocol",
        protocol,
        "--count",
        &count.to_string(),
        "--rate",
        "2000",
        "--exporters",
        &exporters.to_string(),
        "--seed",
        &seed.to_string(),
        "--json",
    ]));
    serde_json::from_str(&out).expect("gen --json prints one JSON object")
}

fn stored_totals(data: &Path) -> Value {
    let out = common::run_ok(Command::new(common::wvnr_bin()).arg("query").arg("--data").arg(data).args([
        "--summary",
        "-o",
        "json",
    ]));
    serde_json::from_str(&out).expect("query --summary -o json prints one JSON object")
}

fn totals(v: &Value) -> (u64, u64, u64) {
    (v["flows"].as_u64().unwrap(), v["packets"].as_u64().unwrap(), v["bytes"].as_u64().unwrap())
}

fn add(a: (u64, u64, u64), b: (u64, u64, u64)) -> (u64, u64, u64) {
    (a.0 + b.0, a.1 + b.1, a.2 + b.2)
}

#[test]
fn stored_totals_equal_sent_totals_for_every_protocol_and_several_exporters() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_udp_port();
    let serve = start_serve(dir.path(), port);
    let mut sent = (0, 0, 0);
    for (i, proto) in ["v5", "v9", "ipfix", "sflow"].iter().enumerate() {
        sent = add(sent, totals(&gen(port, proto, 300, 4, 10 + i as u64)));
    }
    // Give the kernel queue a moment to reach the workers before stopping.
    std::thread::sleep(Duration::from_millis(500));
    stop(serve);
    assert!(sent.0 > 0);
    assert_eq!(totals(&stored_totals(dir.path())), sent);
}

#[test]
fn restart_mid_bucket_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_udp_port();
    let serve = start_serve(dir.path(), port);
    let first = totals(&gen(port, "v9", 200, 2, 1));
    std::thread::sleep(Duration::from_millis(300));
    stop(serve);
    let serve = start_serve(dir.path(), port);
    let second = totals(&gen(port, "ipfix", 200, 2, 2));
    std::thread::sleep(Duration::from_millis(300));
    stop(serve);
    assert_eq!(totals(&stored_totals(dir.path())), add(first, second));
}

#[test]
fn kill_9_loses_nothing_that_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_udp_port();
    let serve = start_serve(dir.path(), port);
    let sent = totals(&gen(port, "v9", 300, 3, 7));
    // The store flushes at least every second; wait well past that, then kill hard.
    std::thread::sleep(Duration::from_millis(2500));
    let mut serve = serve;
    signal(&serve.child, libc::SIGKILL);
    serve.child.wait().unwrap();
    assert_eq!(totals(&stored_totals(dir.path())), sent);
    // And the collector starts again on the same data directory.
    let serve = start_serve(dir.path(), port);
    stop(serve);
    assert_eq!(totals(&stored_totals(dir.path())), sent);
}

#[test]
fn a_second_collector_on_the_same_port_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = Command::new(common::wvnr_bin())
        .args(["serve", "--data"])
        .arg(dir.path())
        .args(["--port", &port.to_string(), "--listen", "127.0.0.1", "--web", "off"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("UDP port {port} is in use")), "{err}");
}

/// The body of `GET path` on the web port.
fn http_get(web: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", web)).expect("connect to the web port");
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// A flood that never lets the socket run dry (the generator sends as fast as it can, far
/// more than one worker decodes) must not stop the worker's hand-overs, its flushes or a
/// requested stop.
#[test]
fn a_flood_does_not_starve_hand_overs_flushes_or_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_udp_port();
    let serve = start_serve(dir.path(), port);
    let mut flood = KillOnDrop(
        Command::new(common::wvnr_bin())
            .args(["gen", "--target", &format!("127.0.0.1:{port}"), "--protocol", "v9", "--duration", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wvnr gen"),
    );
    // The live view shows the worker's counters while the flood goes on.
    let deadline = Instant::now() + Duration::from_secs(30);
    let counted = loop {
        let v: Value = serde_json::from_str(&http_get(serve.web, "/api/exporters")).unwrap_or(Value::Null);
        let datagrams: u64 = v["workers"]
            .as_array()
            .map(|w| w.iter().filter_map(|w| w["datagrams"].as_u64()).sum())
            .unwrap_or(0);
        if datagrams > 0 || Instant::now() > deadline {
            break datagrams;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(flood.0.try_wait().unwrap().is_none(), "the generator stopped before the check");
    assert!(counted > 0, "no hand-over reached the live view during the flood");
    // A stop while the flood goes on still ends the process (`stop` allows 30 s) and keeps
    // what was flushed.
    stop(serve);
    drop(flood);
    let stored = stored_totals(dir.path());
    assert!(stored["flows"].as_u64().unwrap() > 0, "{stored}");
}
