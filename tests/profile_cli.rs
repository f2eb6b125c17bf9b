//! `wvnr profile` end to end: every change lands in profiles.toml and survives
//! the next run of the binary.

mod common;

use std::path::Path;
use std::process::Command;

fn wvnr(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::wvnr_bin())
        .arg("profile")
        .args(args)
        .arg("--data")
        .arg(data)
        .env_remove("WVNR_DATA")
        .output()
        .expect("run wvnr")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = wvnr(data, args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fails(data: &Path, args: &[&str]) -> String {
    let out = wvnr(data, args);
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn changes_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    let listed = ok(data, &["list"]);
    assert!(listed.contains("live") && listed.contains("21"), "{listed}");
    assert!(!data.join("profiles.toml").exists(), "listing must not write");

    ok(data, &["add", "web"]);
    let added = ok(
        data,
        &[
            "channel", "add", "web/ssh", "--filter", "port 22", "--colour", "#FF9930", "--sign", "-",
            "--order", "4",
        ],
    );
    assert!(added.contains("added channel 'web/ssh'"), "{added}");
    ok(data, &["channel", "add", "web/dns", "--filter", "port 53", "--colour", "#EDC948", "--order", "1"]);

    // A second process sees what the first wrote.
    let json: serde_json::Value = serde_json::from_str(&ok(data, &["show", "web", "-o", "json"])).unwrap();
    let channels = json["channel"].as_array().unwrap();
    let names: Vec<_> = channels.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dns", "ssh"], "ordered by --order");
    assert_eq!(channels[1]["sign"], "-");
    assert_eq!(channels[1]["colour"], "#FF9930");
    assert_eq!(channels[1]["filter"], "port 22");

    let list: serde_json::Value = serde_json::from_str(&ok(data, &["list", "-o", "json"])).unwrap();
    let web = list.as_array().unwrap().iter().find(|p| p["name"] == "web").unwrap();
    assert_eq!(web["channels"], 2);

    ok(data, &["channel", "delete", "web/dns"]);
    let text = ok(data, &["show", "web"]);
    assert!(text.contains("ssh") && !text.contains("dns"), "{text}");

    ok(data, &["delete", "web"]);
    assert!(!ok(data, &["list"]).contains("web"));
}

#[test]
fn mistakes_are_refused_with_a_reason_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(data, &["add", "p"]);
    let before = std::fs::read_to_string(data.join("profiles.toml")).unwrap();

    let e = fails(data, &["channel", "add", "p/x", "--filter", "port abc", "--colour", "#000000"]);
    assert!(e.contains("filter error at column 6"), "{e}");
    let e = fails(data, &["channel", "add", "p/x", "--filter", "any", "--colour", "red"]);
    assert!(e.contains("#RRGGBB"), "{e}");
    let e = fails(data, &["channel", "add", "nope/x", "--filter", "any", "--colour", "#000000"]);
    assert!(e.contains("no profile 'nope'"), "{e}");
    let e = fails(data, &["channel", "add", "px", "--filter", "any", "--colour", "#000000"]);
    assert!(e.contains("PROFILE/CHANNEL"), "{e}");
    let e = fails(data, &["add", "p"]);
    assert!(e.contains("already exists"), "{e}");
    let e = fails(data, &["add", "bad name"]);
    assert!(e.contains("may only contain"), "{e}");
    let e = fails(data, &["delete", "live"]);
    assert!(e.contains("cannot be deleted"), "{e}");
    let e = fails(data, &["channel", "delete", "p/none"]);
    assert!(e.contains("no channel 'none'"), "{e}");

    assert_eq!(std::fs::read_to_string(data.join("profiles.toml")).unwrap(), before);

    std::fs::write(data.join("profiles.toml"), "[[profile]]\nname = 1\n").unwrap();
    let e = fails(data, &["list"]);
    assert!(e.contains("profiles.toml is not a valid profiles file"), "{e}");
}
