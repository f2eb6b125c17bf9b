//! profiles.toml: round trip, defaults when missing, one clear error for a bad file.

use wvnr::flow::Flow;
use wvnr::profile::{Channel, CompiledProfile, Profiles, Sign};

#[test]
fn missing_file_gives_the_default_live_profile() {
    let dir = tempfile::tempdir().unwrap();
    let p = Profiles::load(dir.path()).unwrap();
    assert_eq!(p, Profiles::default());
    assert_eq!(p.profiles[0].name, "live");
}

#[test]
fn save_then_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let mut p = Profiles::default();
    let web = p.add("web").unwrap();
    web.description = "web servers".into();
    web.add_channel(Channel {
        name: "https-out".into(),
        filter: "proto tcp and src port 443 # replies".into(),
        colour: "#2CA02C".into(),
        sign: Sign::Minus,
        order: 3,
    })
    .unwrap();
    p.save(&data).unwrap();
    let back = Profiles::load(&data).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.get("web").unwrap().channels[0].sign, Sign::Minus);
    // No temp file is left behind.
    let names: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("profiles.toml")]);

    let compiled = CompiledProfile::new(back.get("web").unwrap()).unwrap();
    let mut hits = Vec::new();
    compiled.classify(&Flow { protocol: 6, src_port: 443, ..Flow::EMPTY }, |i| hits.push(i));
    assert_eq!(hits, vec![0]);
    assert_eq!(compiled.channel_names(), ["https-out"]);
}

fn load_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("profiles.toml"), text).unwrap();
    let e = Profiles::load(dir.path()).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("profiles.toml"), "error does not name the file: {msg}");
    assert_eq!(msg.lines().count(), msg.trim_end().lines().count());
    msg
}

#[test]
fn bad_files_are_one_clear_error() {
    let m = load_error("[[profile]\nname = 'x'");
    assert!(m.contains("not a valid profiles file"), "{m}");
    let m = load_error("[[profile]]\nname = 'x'\ncolour = 1\n");
    assert!(m.contains("unknown field") && m.contains("colour"), "{m}");
    let m = load_error(
        "[[profile]]\nname = 'x'\n[[profile.channel]]\nname = 'c'\nfilter = 'port abc'\ncolour = '#000000'\n",
    );
    assert!(m.contains("profile 'x'") && m.contains("channel 'c'") && m.contains("column 6"), "{m}");
    let m = load_error("[[profile]]\nname = 'x y'\n");
    assert!(m.contains("may only contain"), "{m}");
    let m = load_error(
        "[[profile]]\nname = 'x'\n[[profile.channel]]\nname = 'c'\nfilter = 'any'\ncolour = 'blue'\n",
    );
    assert!(m.contains("#RRGGBB"), "{m}");
    let m = load_error("[[profile]]\nname = 'x'\n[[profile]]\nname = 'x'\n");
    assert!(m.contains("twice"), "{m}");
    let m = load_error(
        "[[profile]]\nname = 'x'\n[[profile.channel]]\nname = 'c'\nfilter = 'any'\ncolour = '#000000'\nsign = '*'\n",
    );
    assert!(m.contains("sign") || m.contains("variant"), "{m}");
}
