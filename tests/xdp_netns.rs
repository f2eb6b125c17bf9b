//! AF_XDP end to end (feature `xdp`, needs root): two network namespaces
//! joined by a veth pair, `wvnr serve --capture xdp` on one end, `wvnr gen`
//! sending NetFlow v9 (IPv4), IPFIX (IPv6) and fragmented v9 (IPv4, small
//! MTU on the sender) from the other. Unfragmented datagrams must arrive
//! through AF_XDP, fragments through the kernel's UDP socket, and the stored
//! totals must equal what the generator sent.
#![cfg(feature = "xdp")]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The namespaces and the veth pair of one test; removed on drop, even after a panic.
struct Netns {
    a: String,
    b: String,
    veth_a: String,
    veth_b: String,
    /// 198.18.<net>.0/24 and fd77:<net>::/64 (benchmarking / unique-local ranges).
    net: u8,
}

impl Netns {
    fn create(net: u8) -> Netns {
        let tag = format!("{}{net}", std::process::id() % 100_000);
        let ns = Netns {
            a: format!("wvnr-xdp-a{tag}"),
            b: format!("wvnr-xdp-b{tag}"),
            veth_a: format!("wxa{tag}"),
            veth_b: format!("wxb{tag}"),
            net,
        };
        ip(&["netns", "add", &ns.a]);
        ip(&["netns", "add", &ns.b]);
        // One queue each way: one AF_XDP socket covers the receiver.
        ip(&[
            "link",
            "add",
            &ns.veth_a,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
            "type",
            "veth",
            "peer",
            "name",
            &ns.veth_b,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
        ]);
        ip(&["link", "set", &ns.veth_a, "netns", &ns.a]);
        ip(&["link", "set", &ns.veth_b, "netns", &ns.b]);
        for (space, dev, host) in [(&ns.a, &ns.veth_a, 1), (&ns.b, &ns.veth_b, 2)] {
            ns_ok(space, &["ip", "link", "set", "lo", "up"]);
            ns_ok(space, &["ip", "addr", "add", &format!("198.18.{net}.{host}/24"), "dev", dev]);
            ns_ok(space, &["ip", "addr", "add", &format!("fd77:{net}::{host}/64"), "dev", dev, "nodad"]);
            ns_ok(space, &["ip", "link", "set", dev, "up"]);
        }
        // The sender fills in UDP checksums itself (no CHECKSUM_PARTIAL skbs over the veth):
        // redirected frames skip the kernel's checks, so the collector verifies them.
        ns_ok(&ns.a, &["ethtool", "-K", &ns.veth_a, "tx", "off"]);
        ns
    }

    fn addr_b(&self, v6: bool) -> String {
        if v6 {
            format!("fd77:{}::2", self.net)
        } else {
            format!("198.18.{}.2", self.net)
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it (and with it the peer).
        for space in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", space]).stderr(Stdio::null()).status();
        }
        let _ = Command::new("ip").args(["link", "del", &self.veth_a]).stderr(Stdio::null()).status();
    }
}

fn ip(args: &[&str]) {
    common::run_ok(Command::new("ip").args(args));
}

fn ns_ok(space: &str, args: &[&str]) -> String {
    common::run_ok(Command::new("ip").args(["netns", "exec", space]).args(args))
}

/// Root (CAP_NET_ADMIN, CAP_BPF) is needed: skipped without it, an error under CI=true.
fn require_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return common::require_tool("ip") && common::require_tool("ethtool");
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the AF_XDP test needs root (CAP_NET_ADMIN, CAP_BPF) in CI");
    }
    eprintln!("skipping: the AF_XDP test needs root");
    false
}

struct Serve {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn start_serve(ns: &Netns, data: &Path, port: u16, mode: &str) -> Serve {
    let log = data.with_extension("log");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.b])
        .arg(common::wvnr_bin())
        .args(["--log", "info", "serve", "--data"])
        .arg(data)
        .args(["--port", &port.to_string(), "--listen", "::", "--web", "off", "--workers", "1"])
        .args(["--capture", "xdp", "--interface", &ns.veth_b, "--xdp-mode", mode])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start wvnr serve");
    let mut serve = Serve { child, log };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if serve.log_text().contains("collector: ") {
            return serve;
        }
        if let Some(status) = serve.child.try_wait().unwrap() {
            panic!("wvnr serve exited ({status}) before listening:\n{}", serve.log_text());
        }
        assert!(Instant::now() < deadline, "wvnr serve did not start:\n{}", serve.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops `serve` with SIGTERM and returns its log.
fn stop(mut serve: Serve) -> String {
    // SAFETY: kill(2) on a child we own (`ip netns exec` execs wvnr in place).
    unsafe {
        libc::kill(serve.child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            assert!(status.success(), "wvnr serve exited with {status}:\n{}", serve.log_text());
            return serve.log_text();
        }
        assert!(Instant::now() < deadline, "wvnr serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gen(ns: &Netns, target: &str, protocol: &str, count: u64, seed: u64, template_every: u32) -> Value {
    let out = ns_ok(
        &ns.a,
        &[
            common::wvnr_bin().to_str().unwrap(),
            "gen",
            "--allow-remote",
            "--target",
            target,
            "--protocol",
            protocol,
            "--count",
            &count.to_string(),
            "--rate",
            "2000",
            "--seed",
            &seed.to_string(),
            "--template-every",
            &template_every.to_string(),
            "--json",
        ],
    );
    serde_json::from_str(&out).expect("gen --json prints one JSON object")
}

fn totals(v: &Value) -> [u64; 4] {
    ["datagrams", "flows", "packets", "bytes"].map(|k| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}")))
}

fn add(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
}

/// "stopped: N datagrams (X via AF_XDP), ..., K kernel drops" from the serve log.
fn stopped_counts(log: &str) -> (u64, u64, u64) {
    let line =
        log.lines().find(|l| l.contains("stopped: ")).unwrap_or_else(|| panic!("no stop line:\n{log}"));
    let after = &line[line.find("stopped: ").unwrap()..];
    let n: Vec<u64> = after
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(n.len() >= 5, "unexpected stop line: {line}");
    (n[0], n[1], n[4])
}

fn run_capture(net: u8, mode: &str, expect_mode: &str) {
    if !require_root() {
        return;
    }
    let ns = Netns::create(net);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = 20_000 + u16::from(net);
    let serve = start_serve(&ns, &data, port, mode);
    let started = serve.log_text();
    assert!(started.contains(&format!("XDP program attached in {expect_mode} mode")), "{started}");
    // veth has no AF_XDP zero-copy: the bind falls back to copy mode and says so.
    assert!(started.contains("copy mode"), "{started}");

    let v4 = format!("{}:{port}", ns.addr_b(false));
    let v6 = format!("[{}]:{port}", ns.addr_b(true));
    let direct = add(totals(&gen(&ns, &v4, "v9", 300, 1, 20)), totals(&gen(&ns, &v6, "ipfix", 300, 2, 20)));
    // A 300-byte MTU on the sender: every datagram (templates in each) leaves as IPv4
    // fragments, which the program passes to the kernel and the UDP socket reads.
    ns_ok(&ns.a, &["ip", "link", "set", &ns.veth_a, "mtu", "300"]);
    let fragmented = totals(&gen(&ns, &v4, "v9", 100, 3, 1));
    let sent = add(direct, fragmented);
    std::thread::sleep(Duration::from_millis(500));
    let log = stop(serve);

    let (datagrams, via_xdp, kernel_drops) = stopped_counts(&log);
    assert_eq!(kernel_drops, 0, "{log}");
    assert_eq!(datagrams, sent[0], "every datagram sent was received:\n{log}");
    assert_eq!(via_xdp, direct[0], "unfragmented datagrams come through AF_XDP:\n{log}");
    assert_eq!(datagrams - via_xdp, fragmented[0], "fragments come through the UDP socket:\n{log}");
    assert!(log.contains("0 bad UDP checksum"), "{log}");

    let out = common::run_ok(Command::new(common::wvnr_bin()).arg("query").arg("--data").arg(&data).args([
        "--summary",
        "-o",
        "json",
    ]));
    let stored: Value = serde_json::from_str(&out).unwrap();
    let stored = ["flows", "packets", "bytes"].map(|k| stored[k].as_u64().unwrap());
    assert!(sent[1] > 0);
    assert_eq!(stored, [sent[1], sent[2], sent[3]], "stored totals equal sent totals");
}

#[test]
fn xdp_native_mode_counts_exactly_what_was_sent() {
    run_capture(1, "native", "native");
}

#[test]
fn xdp_generic_mode_counts_exactly_what_was_sent() {
    run_capture(2, "generic", "generic");
}

#[test]
fn xdp_unknown_interface_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::wvnr_bin())
        .args(["serve", "--data"])
        .arg(dir.path())
        .args(["--port", &common::free_udp_port().to_string(), "--listen", "127.0.0.1", "--web", "off"])
        .args(["--capture", "xdp", "--interface", "wvnr-nosuch0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no network interface named \"wvnr-nosuch0\""), "{err}");
}

#[test]
fn xdp_without_capabilities_is_one_clear_line() {
    if !require_root() || !common::require_tool("capsh") {
        return;
    }
    let ns = Netns::create(3);
    let dir = tempfile::tempdir().unwrap();
    let serve = format!(
        "{} serve --data {} --port 20003 --web off --capture xdp --interface {}",
        common::wvnr_bin().display(),
        dir.path().join("data").display(),
        ns.veth_b
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.b, "capsh", "--drop=cap_net_admin,cap_bpf,cap_sys_admin,cap_perfmon"])
        .args(["--", "-c", &serve])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("needs CAP_NET_ADMIN and CAP_BPF"), "{err}");
}

#[test]
fn xdp_driver_refusing_native_mode_is_one_clear_line() {
    if !require_root() {
        return;
    }
    let ns = Netns::create(4);
    let dir = tempfile::tempdir().unwrap();
    // Loopback has no native XDP: "native" fails with one line, "auto" falls back to generic.
    let serve = |mode: &str| {
        Command::new("ip")
            .args(["netns", "exec", &ns.b])
            .arg(common::wvnr_bin())
            .args(["serve", "--data"])
            .arg(dir.path().join(mode))
            .args(["--port", "20004", "--web", "off", "--capture", "xdp", "--interface", "lo"])
            .args(["--xdp-mode", mode])
            .output()
            .unwrap()
    };
    let out = serve("native");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.contains("interface lo refused XDP in native mode"), "{err}");
    assert!(last.contains("xdp_mode"), "{err}");
}
