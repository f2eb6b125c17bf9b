//! The web report in a real headless Chromium (driven over WebDriver by
//! chromedriver): the overview graph and legend are drawn, a click on a slot
//! fills the top-N tables from stored flows, a filter changes them (a bad one
//! is shown with its column), the exporters page lists the exporters.
//! Screenshots land in target/artifacts/.

mod common;
#[path = "web_support/webdriver.rs"]
mod webdriver;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde_json::json;

use wvnr::flow::{bucket_start, proto, Counters, Flow, FlowSource};
use wvnr::live::{ExporterStatus, LiveSnapshot, LiveStatus, WorkerStatus};
use wvnr::profile::{Channel, Profile, Profiles, Sign};
use wvnr::rollup::{BucketRollup, ChannelCounters};
use wvnr::store::{Store, StoreConfig};
use wvnr::web::{serve, WebState};

const CHANNELS: [(&str, &str, &str, Sign); 5] = [
    ("http", "port 80", "#1f77b4", Sign::Plus),
    ("https", "port 443", "#2ca02c", Sign::Plus),
    ("ssh", "port 22", "#9467bd", Sign::Plus),
    ("dns", "port 53", "#ff7f0e", Sign::Plus),
    ("icmp", "proto icmp", "#d62728", Sign::Minus),
];

fn profiles() -> Profiles {
    let mut live = Profile::new("live");
    for (i, (name, filter, colour, sign)) in CHANNELS.iter().enumerate() {
        live.add_channel(Channel {
            name: name.to_string(),
            filter: filter.to_string(),
            colour: colour.to_string(),
            sign: *sign,
            order: i as u32,
        })
        .unwrap();
    }
    Profiles { profiles: vec![live] }
}

/// The flows of one bucket: a few per channel, sizes varying over the day.
fn bucket_flows(bucket: u64, wave: u64) -> Vec<Flow> {
    let mut out = Vec::new();
    let services: [(u8, u16, u64); 5] = [
        (proto::TCP, 80, 6),
        (proto::TCP, 443, 9),
        (proto::TCP, 22, 2),
        (proto::UDP, 53, 4),
        (proto::ICMP, 0x0800, 1),
    ];
    for (s, (protocol, port, n)) in services.iter().enumerate() {
        for i in 0..(*n + wave % 3) {
            // Spread over the bucket, so the open bucket's partial counts grow with its age.
            let t = bucket * 1000 + ((i * 37 + s as u64 * 11) % 300) * 1000 + 500;
            out.push(Flow {
                exporter: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
                source: FlowSource::Ipfix,
                first_ms: t - 500,
                last_ms: t,
                received_ms: t,
                src_addr: IpAddr::V4(Ipv4Addr::new(10, 0, s as u8, (i % 5) as u8 + 1)),
                dst_addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 3) as u8 + 10)),
                src_port: if *protocol == proto::ICMP { 0 } else { 40_000 + i as u16 },
                dst_port: *port,
                protocol: *protocol,
                tcp_flags: if *protocol == proto::TCP { 0x1b } else { 0 },
                packets: 10 + wave * 3 + i,
                bytes: (10 + wave * 3 + i) * if *port == 53 { 90 } else { 900 },
                ..Flow::EMPTY
            });
        }
    }
    out
}

/// What the collector's merge would make of `flows` (channels by the same filters).
fn rollup(bucket: u64, flows: &[Flow]) -> BucketRollup {
    let mut total = Counters::default();
    let mut channels: Vec<ChannelCounters> = CHANNELS
        .iter()
        .map(|(name, ..)| ChannelCounters { channel: name.to_string(), counters: Counters::default() })
        .collect();
    for f in flows {
        total.add_flow(f);
        let i = match (f.protocol, f.dst_port) {
            (proto::ICMP, _) => 4,
            (_, 80) => 0,
            (_, 443) => 1,
            (_, 22) => 2,
            _ => 3,
        };
        channels[i].counters.add_flow(f);
    }
    BucketRollup { bucket, profile: "live".into(), total, channels, sources: vec![], top: vec![] }
}

/// A data directory with six hours of flows and rollups, and a live snapshot with the open bucket.
fn populate(dir: &std::path::Path) -> WebState {
    let store = Store::open(dir, StoreConfig::default()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let open = bucket_start(now);
    let mut writer = store.writer(0).unwrap();
    for i in 1..=72u64 {
        let bucket = open - i * 300;
        let wave = ((i as f64 / 8.0).sin().abs() * 10.0) as u64;
        let flows = bucket_flows(bucket, wave);
        flows.iter().for_each(|f| writer.append(f).unwrap());
        store.write_rollup(&rollup(bucket, &flows)).unwrap();
    }
    writer.finish().unwrap();
    let open_flows: Vec<Flow> = bucket_flows(open, 4).into_iter().filter(|f| f.received_ms <= now).collect();
    let live = LiveStatus::default();
    live.publish(LiveSnapshot {
        updated_ms: now,
        started_ms: now - 6 * 3600 * 1000,
        open_buckets: vec![rollup(open, &open_flows)],
        exporters: vec![
            ExporterStatus {
                address: Some("127.0.0.2".parse().unwrap()),
                source: "default".into(),
                protocol: "ipfix".into(),
                datagrams: 1200,
                flows: 5400,
                flow_rate: 18.0,
                templates: 2,
                sampling: Some(1),
                last_seen_ms: now - 2000,
                ..Default::default()
            },
            ExporterStatus {
                address: Some("127.0.0.3".parse().unwrap()),
                source: "default".into(),
                protocol: "netflow-v5".into(),
                flows: 300,
                missing_flows: 30,
                last_seen_ms: now - 20_000,
                ..Default::default()
            },
        ],
        workers: vec![WorkerStatus {
            id: 0,
            datagrams: 1200,
            flows: 5700,
            kernel_drops: 3,
            rcvbuf: 4 << 20,
            ..Default::default()
        }],
    });
    WebState {
        store: Arc::new(store),
        live: Arc::new(live),
        profiles: Arc::new(RwLock::new(profiles())),
        admin_token: None,
        data_dir: dir.to_path_buf(),
        export: None,
    }
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Seconds the selection in the URL covers (0 without one).
const SELECTED_SPAN: &str =
    "const m = /sel=(\\d+)-(\\d+)/.exec(location.search); const span = m ? m[2] - m[1] : 0;";

/// Keys of the rows of one top-N table.
fn keys(s: &webdriver::Session<'_>, dimension: &str) -> Vec<String> {
    let script = format!(
        "return [...document.querySelectorAll(\"table.top[data-dimension='{dimension}'] tbody tr\")]
           .map(r => r.cells[0].textContent).filter(k => k !== 'no flows');"
    );
    serde_json::from_value(s.eval(&script)).unwrap()
}

#[test]
fn overview_drilldown_and_exporters_in_chromium() {
    if !common::require_tool("chromium") || !common::require_tool("chromedriver") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let state = populate(data.path());

    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            serve(listener, state, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    let port = port_rx.recv().unwrap();
    let base = format!("http://127.0.0.1:{port}");

    let browser_dir = tempfile::tempdir().unwrap();
    let driver = webdriver::Driver::start(common::free_tcp_port());
    let s = driver.session(browser_dir.path());

    // Overview: graph, legend, channel table.
    s.goto(&format!("{base}/?profile=live&range=6h&unit=bits"));
    s.wait_for("the graph", "return document.getElementById('chart').dataset.layers === '5';");
    let legend =
        s.eval("return [...document.querySelectorAll('#legend .legend-item')].map(l => l.dataset.channel);");
    assert_eq!(legend, json!(["http", "https", "ssh", "dns", "icmp"]));
    let rows = s.eval("return document.querySelectorAll('#channels tbody tr').length;");
    assert_eq!(rows, json!(6), "five channels and the total");
    let points = s.eval("return Number(document.getElementById('chart').dataset.points);");
    assert!((72..=74).contains(&points.as_u64().unwrap()), "{points}");
    let coloured = s.eval(
        "const c = document.getElementById('chart'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
         return n / (c.width * c.height);",
    );
    assert!(coloured.as_f64().unwrap() > 0.05, "the stacked areas cover {coloured} of the canvas");
    std::fs::write(artifacts().join("web-overview.png"), s.screenshot()).unwrap();

    // The legend toggles a channel, and the URL keeps it.
    s.click("#legend .legend-item[data-channel='ssh']");
    s.wait_for("ssh hidden", "return document.getElementById('chart').dataset.layers === '4';");
    assert!(s.url().contains("hide=ssh"), "{}", s.url());
    s.click("#legend .legend-item[data-channel='ssh']");
    s.wait_for("ssh shown", "return document.getElementById('chart').dataset.layers === '5';");

    // Brushing across the graph selects many slots; a click selects one (the middle of the
    // graph, about three hours ago), and the top-N tables fill for it.
    s.drag("#chart", -200, 200, 0);
    let span = s.wait_for("a brushed window", &format!("{SELECTED_SPAN} return span;")).as_u64().unwrap();
    assert!(span >= 20 * 300 && span.is_multiple_of(300), "brushed {span} s");
    s.drag("#chart", 0, 0, 0);
    s.wait_for("one slot", &format!("{SELECTED_SPAN} return span === 300;"));
    s.wait_for("top-N tables", "return document.querySelectorAll('#tops table.top').length === 10;");
    let ports = keys(&s, "dst_port");
    assert!(ports.iter().any(|k| k == "443") && ports.iter().any(|k| k == "53"), "{ports:?}");
    assert!(s.url().contains("sel="), "{}", s.url());
    let flows = s.eval("return document.querySelectorAll('#flows tbody tr').length;");
    assert!(flows.as_u64().unwrap() > 10, "{flows}");
    std::fs::write(artifacts().join("web-drilldown.png"), s.screenshot()).unwrap();

    // A filter narrows every table; the listing shows only matching flows.
    s.clear_and_type("#filter", "proto udp");
    s.click("#apply");
    s.wait_for("filtered tables", "return !document.querySelector('#tops table.top[data-dimension=\"dst_port\"] tbody tr td') ? false : [...document.querySelectorAll('#tops table.top[data-dimension=\"dst_port\"] tbody tr')].every(r => r.cells[0].textContent === '53');");
    assert_eq!(keys(&s, "dst_port"), ["53"]);
    let protos = s.eval("return [...new Set([...document.querySelectorAll('#flows tbody tr')].map(r => r.cells[2].textContent))];");
    assert_eq!(protos, json!(["UDP"]));
    assert!(s.url().contains("filter=proto+udp"), "{}", s.url());

    // A broken filter is shown with a caret under its column; the tables are cleared.
    s.clear_and_type("#filter", "proto udp and (");
    s.click("#apply");
    let err = s.wait_for(
        "the filter error",
        "const e = document.getElementById('filter-error'); return !e.hidden && e.textContent;",
    );
    let err = err.as_str().unwrap().to_string();
    assert!(err.starts_with("proto udp and (\n") && err.contains('^'), "{err}");
    std::fs::write(artifacts().join("web-filter-error.png"), s.screenshot()).unwrap();

    // Exporters: both listed, the one without sampling flagged, drops per worker.
    s.goto(&format!("{base}/exporters"));
    s.wait_for(
        "the exporters table",
        "return document.querySelectorAll('#exporters tbody tr').length === 2;",
    );
    let flagged = s.eval("return [...document.querySelectorAll('#exporters .flag')].map(f => f.closest('tr').cells[0].textContent);");
    assert_eq!(flagged, json!(["127.0.0.3"]));
    let drops = s.eval("return document.querySelector('#workers tbody tr').cells[3].textContent;");
    assert_eq!(drops, json!("3"));
    std::fs::write(artifacts().join("web-exporters.png"), s.screenshot()).unwrap();

    drop(s);
    drop(driver);
    let _ = stop_tx.send(());
    server.join().unwrap();
}
