//! The container's entrypoint script, run here against the real binary (no
//! Docker engine on these machines): `serve` by default with the data and web
//! address from the environment, the healthcheck command, subcommands with the
//! data directory filled in, and plain commands passed through.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn entrypoint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/docker-entrypoint.sh")
}

/// PATH with the directory of the built `wvnr` first, as in the image.
fn path_with_wvnr() -> String {
    let bin_dir = common::wvnr_bin().parent().unwrap().to_path_buf();
    format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default())
}

fn health(web: &str) -> bool {
    Command::new(common::wvnr_bin())
        .args(["status", "--health", "--web", web])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn default_command_serves_with_env_settings_and_passes_the_healthcheck() {
    let data = tempfile::tempdir().unwrap();
    let web = format!("127.0.0.1:{}", common::free_tcp_port());
    let port = common::free_udp_port();
    assert!(!health(&web), "nothing should answer before the entrypoint starts");
    let mut child = Command::new(entrypoint())
        .args(["--port", &port.to_string(), "--workers", "1"])
        .env("PATH", path_with_wvnr())
        .env("WVNR_DATA", data.path())
        .env("WVNR_WEB", &web)
        .env("WVNR_CONFIG", data.path().join("absent.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !health(&web) {
        assert!(Instant::now() < deadline, "entrypoint's collector never became healthy");
        assert!(child.try_wait().unwrap().is_none(), "entrypoint exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "serve under the entrypoint exited with {status}");
    // It used WVNR_DATA: the store and the profiles are there.
    assert!(std::fs::read_dir(data.path()).unwrap().count() > 0);
}

#[test]
fn subcommands_get_the_data_directory_and_other_commands_pass_through() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(entrypoint())
        .args(["query", "--summary", "-o", "json"])
        .env("PATH", path_with_wvnr())
        .env("WVNR_DATA", data.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["flows"], 0);

    let out = Command::new(entrypoint()).args(["sh", "-c", "echo passed-through"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "passed-through");
}
