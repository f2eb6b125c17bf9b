//! Helpers shared by the integration tests. Each test file does `mod common;`
//! and uses what it needs.
#![allow(dead_code)]

pub mod peers;

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when `tool` is on PATH. Without it the test is skipped — except under
/// `CI=true`, where a missing peer is a failure, not a skip.
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is required in CI (scripts/install-test-deps installs it)");
        }
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

/// The `wvnr` binary cargo built for the integration tests.
pub fn wvnr_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wvnr"))
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a command, panics with its stderr if it fails, returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!("{cmd:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Path of a checked-in fixture under tests/data.
pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}
