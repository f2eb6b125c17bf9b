//! The web API through the router, no socket: every route, status codes,
//! JSON shapes and numbers, 400s on bad parameters, token-protected edits.

mod common;

use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use wvnr::flow::{bucket_start, Counters};
use wvnr::live::{ExporterStatus, LiveSnapshot, LiveStatus, WorkerStatus};
use wvnr::profile::Profiles;
use wvnr::rollup::{BucketRollup, ChannelCounters};
use wvnr::store::{Store, StoreConfig};
use wvnr::web::{router, WebState};

mod fixture {
    use wvnr::profile::{Channel, Profile, Profiles, Sign};

    /// A profile `live` with http (above the axis) and dns (below).
    pub fn profiles() -> Profiles {
        let ch = |name: &str, colour: &str, sign, order| Channel {
            name: name.into(),
            filter: "any".into(),
            colour: colour.into(),
            sign,
            order,
        };
        let mut live = Profile::new("live");
        live.channels = vec![ch("http", "#1f77b4", Sign::Plus, 1), ch("dns", "#ff7f0e", Sign::Minus, 2)];
        Profiles { profiles: vec![live] }
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    state: WebState,
}

fn harness(token: Option<&str>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(dir.path(), StoreConfig { max_age_secs: Some(86_400 * 30), max_bytes: None }).unwrap();
    let state = WebState {
        store: Arc::new(store),
        live: Arc::new(LiveStatus::default()),
        profiles: Arc::new(RwLock::new(fixture::profiles())),
        admin_token: token.map(str::to_string),
        data_dir: dir.path().to_path_buf(),
        export: None,
    };
    Harness { _dir: dir, state }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

async fn send(state: &WebState, req: Request<Body>) -> Reply {
    let res = router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), 16 << 20).await.unwrap().to_vec();
    Reply { status, headers, body }
}

async fn get(state: &WebState, uri: &str) -> Reply {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn edit(method: &str, uri: &str, token: Option<&str>, body: Option<Value>) -> axum::http::request::Builder {
    let mut b = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:8080");
    if let Some(t) = token {
        b = b.header("x-wvnr-token", t);
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b
}

async fn send_edit(
    state: &WebState,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let req = edit(method, uri, token, body.clone())
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
        .unwrap();
    send(state, req).await
}

fn live_bucket(bucket: u64, http: Counters, dns: Counters) -> BucketRollup {
    let mut total = http;
    total.add(&dns);
    BucketRollup {
        bucket,
        profile: "live".into(),
        total,
        channels: vec![
            ChannelCounters { channel: "http".into(), counters: http },
            ChannelCounters { channel: "dns".into(), counters: dns },
        ],
        sources: vec![],
        top: vec![],
    }
}

#[tokio::test]
async fn api_index_lists_every_route() {
    let h = harness(None);
    let r = get(&h.state, "/api").await;
    assert_eq!(r.status, StatusCode::OK);
    let paths: Vec<String> = r.json()["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    for p in [
        "/api/profiles",
        "/api/overview",
        "/api/drilldown",
        "/api/flows",
        "/api/exporters",
        "/api/status",
        "/metrics",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
    }
    // Every listed GET route answers (with its required parameters) without a server error.
    for p in paths.iter().filter(|p| !p.contains('{')) {
        let uri = match p.as_str() {
            "/api/overview" => "/api/overview?profile=live".to_string(),
            "/api/drilldown" => "/api/drilldown?dimension=dst_port".to_string(),
            _ => p.clone(),
        };
        let r = get(&h.state, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    }
    assert_eq!(get(&h.state, "/api/nope").await.status, StatusCode::NOT_FOUND);
    assert!(get(&h.state, "/api/nope").await.json()["error"].is_string());
}

#[tokio::test]
async fn pages_assets_and_health() {
    let h = harness(None);
    for (uri, ctype) in [
        ("/", "text/html"),
        ("/exporters", "text/html"),
        ("/assets/style.css", "text/css"),
        ("/assets/chart.js", "text/javascript"),
        ("/assets/overview.js", "text/javascript"),
        ("/assets/exporters.js", "text/javascript"),
        ("/assets/common.js", "text/javascript"),
    ] {
        let r = get(&h.state, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(r.headers["content-type"].to_str().unwrap().starts_with(ctype), "{uri}");
        assert!(r.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
        assert!(!r.body.is_empty());
    }
    assert!(get(&h.state, "/").await.text().contains("<canvas id=\"chart\""));
    assert_eq!(get(&h.state, "/assets/../Cargo.toml").await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&h.state, "/assets/nope.js").await.status, StatusCode::NOT_FOUND);
    let r = get(&h.state, "/healthz").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok\n"));
}

#[tokio::test]
async fn profiles_list_channels_in_order_with_sign() {
    let h = harness(None);
    let v = get(&h.state, "/api/profiles").await.json();
    assert_eq!(v["editable"], json!(false));
    let live = &v["profiles"][0];
    assert_eq!(live["name"], "live");
    assert_eq!(
        live["channels"][0],
        json!({"name": "http", "filter": "any", "colour": "#1f77b4", "sign": 1, "order": 1})
    );
    assert_eq!(live["channels"][1]["sign"], json!(-1));
}

#[tokio::test]
async fn overview_includes_the_open_bucket_from_live_status() {
    let h = harness(None);
    let now = now_ms();
    let bucket = bucket_start(now);
    let http = Counters { flows: 300, packets: 6_000, bytes: 4_500_000 };
    let dns = Counters { flows: 150, packets: 150, bytes: 15_000 };
    // Published 150 s into the bucket (or earlier when the bucket is that young).
    let published = (bucket * 1000 + 150_000).min(now);
    let elapsed = (published / 1000 - bucket).max(1);
    h.state.live.publish(LiveSnapshot {
        updated_ms: published,
        started_ms: bucket * 1000,
        open_buckets: vec![live_bucket(bucket, http, dns)],
        ..Default::default()
    });
    let v = get(&h.state, "/api/overview?profile=live&range=1h&unit=bits").await.json();
    assert_eq!(v["live"], json!(true));
    assert_eq!(v["step"], json!(300));
    let points = v["points"].as_array().unwrap();
    assert!((12..=13).contains(&points.len()), "{} points", points.len());
    assert_eq!(points.last().unwrap(), &json!(bucket));
    assert_eq!(v["seconds"].as_array().unwrap().last().unwrap(), &json!(elapsed));
    let chans = v["channels"].as_array().unwrap();
    assert_eq!(chans.len(), 2);
    assert_eq!(chans[0]["name"], "http");
    assert_eq!(chans[0]["sum"], json!({"flows": 300, "packets": 6000, "bytes": 4_500_000}));
    assert_eq!(chans[1]["sign"], json!(-1));
    let last = chans[0]["values"].as_array().unwrap().last().unwrap().as_f64().unwrap();
    let want = 4_500_000.0 * 8.0 / elapsed as f64;
    assert!((last / want - 1.0).abs() < 1e-5, "{last} vs {want}");
    assert_eq!(v["total"]["sum"]["flows"], json!(450));
    // Earlier points have no data.
    assert_eq!(chans[0]["values"][0], json!(0.0));

    let v = get(&h.state, "/api/overview?profile=live&range=1h&unit=flows").await.json();
    let last = v["channels"][1]["values"].as_array().unwrap().last().unwrap().as_f64().unwrap();
    assert!((last / (150.0 / elapsed as f64) - 1.0).abs() < 1e-5);

    let r = get(&h.state, "/api/overview?profile=live&range=1h&format=csv").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text();
    assert!(text.starts_with("time,seconds,http,dns,total\r\n"), "{text}");
    assert_eq!(text.lines().count(), points.len() + 1);
}

#[tokio::test]
async fn thirty_days_stay_under_600_points() {
    let h = harness(None);
    let v = get(&h.state, "/api/overview?profile=live&range=30d").await.json();
    assert_eq!(v["step"], json!(7200));
    let n = v["points"].as_array().unwrap().len();
    assert!((360..=361).contains(&n), "{n}");
    assert_eq!(v["channels"][0]["values"].as_array().unwrap().len(), n);
}

#[tokio::test]
async fn bad_parameters_are_400_with_a_message() {
    let h = harness(None);
    for uri in [
        "/api/overview",
        "/api/overview?profile=live&unit=furlongs",
        "/api/overview?profile=live&range=1y",
        "/api/overview?profile=live&range=0h",
        "/api/overview?profile=live&from=200&to=100",
        "/api/overview?profile=live&from=yesterday",
        "/api/overview?profile=live&from=0&to=99999999999999999999",
        "/api/overview?profile=live&range=1h&from=5",
        "/api/overview?profile=live&format=xml",
        "/api/drilldown",
        "/api/drilldown?dimension=colour",
        "/api/drilldown?dimension=dst_port&order=loudness",
        "/api/drilldown?dimension=dst_port&limit=0",
        "/api/drilldown?dimension=dst_port&limit=99999999",
        "/api/drilldown?dimension=dst_port&limit=ten",
        "/api/drilldown?dimensions=dst_port,colour",
        "/api/drilldown?dimensions=dst_port,dst_port",
        "/api/drilldown?dimensions=dst_port,src_addr&format=csv",
        "/api/flows?limit=-1",
        "/api/flows?from=1&to=100000000",
        "/api/flows?filter=%FF%FE",
    ] {
        let r = get(&h.state, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(!msg.is_empty(), "{uri}");
    }
    let long = format!("/api/flows?filter={}", "a".repeat(20_000));
    assert_eq!(get(&h.state, &long).await.status, StatusCode::BAD_REQUEST);
    let r = get(&h.state, "/api/overview?profile=nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn filter_errors_carry_the_column() {
    let h = harness(None);
    for uri in [
        "/api/drilldown?dimension=src_addr&filter=proto%20tcp%20and%20(",
        "/api/flows?filter=proto%20tcp%20and%20(",
    ] {
        let r = get(&h.state, uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        let v = r.json();
        assert!(v["column"].as_u64().unwrap() >= 1, "{v}");
        assert!(v["error"].as_str().unwrap().starts_with("filter: "), "{v}");
    }
}

#[tokio::test]
async fn drilldown_and_flows_answer_json_and_csv() {
    let h = harness(None);
    let r = get(&h.state, "/api/drilldown?dimension=dst_port&order=packets&range=1h").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["dimension"], "dst_port");
    assert_eq!(v["order"], "packets");
    assert!(v["rows"].is_array() && v["total"]["flows"].is_u64());
    let r = get(&h.state, "/api/drilldown?dimension=src_addr&format=csv").await;
    assert_eq!(r.text().lines().next().unwrap(), "src_addr,flows,packets,bytes,pps,bps,bpp");
    let r = get(&h.state, "/api/flows?range=1h&format=csv").await;
    assert!(r.text().starts_with("first_ms,last_ms,received_ms,duration_ms,protocol,src_addr"));
    assert!(r.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
}

#[tokio::test]
async fn exporters_flag_unknown_sampling_and_sum_kernel_drops() {
    let h = harness(None);
    let now = now_ms();
    h.state.live.publish(LiveSnapshot {
        updated_ms: now,
        started_ms: now - 60_000,
        open_buckets: vec![],
        exporters: vec![
            ExporterStatus {
                address: Some("127.0.0.2".parse().unwrap()),
                source: "default".into(),
                protocol: "ipfix".into(),
                flows: 1000,
                flow_rate: 12.5,
                sampling: Some(100),
                last_seen_ms: now,
                ..Default::default()
            },
            ExporterStatus {
                address: Some("127.0.0.3".parse().unwrap()),
                protocol: "netflow-v5".into(),
                flow_rate: 50.0,
                last_seen_ms: now - 600_000,
                ..Default::default()
            },
        ],
        workers: vec![
            WorkerStatus { id: 0, kernel_drops: 5, ..Default::default() },
            WorkerStatus { id: 1, kernel_drops: 7, ..Default::default() },
        ],
    });
    let v = get(&h.state, "/api/exporters").await.json();
    let ex = v["exporters"].as_array().unwrap();
    assert_eq!(ex[0]["address"], "127.0.0.3", "sorted by flow rate");
    assert_eq!((ex[0]["sampling_unknown"].clone(), ex[0]["stale"].clone()), (json!(true), json!(true)));
    assert_eq!((ex[1]["sampling_unknown"].clone(), ex[1]["stale"].clone()), (json!(false), json!(false)));
    assert_eq!(ex[1]["sampling"], json!(100));
    assert_eq!(v["kernel_drops"], json!(12));
    assert_eq!(v["retention"]["max_age_secs"], json!(86_400 * 30));
    assert!(v["storage"]["bytes"].is_u64());

    let s = get(&h.state, "/api/status").await.json();
    assert_eq!(
        (s["exporters"].clone(), s["workers"].clone(), s["kernel_drops"].clone()),
        (json!(2), json!(2), json!(12))
    );
    assert_eq!(s["profiles"], json!(["live"]));

    let m = get(&h.state, "/metrics").await;
    assert!(m.headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = m.text();
    assert!(text.contains(
        "wvnr_exporter_flows_total{exporter=\"127.0.0.2\",source=\"default\",protocol=\"ipfix\"} 1000\n"
    ));
    assert!(text.contains(
        "wvnr_exporter_sampling_interval{exporter=\"127.0.0.3\",source=\"\",protocol=\"netflow-v5\"} 0\n"
    ));
    assert!(text.contains("wvnr_worker_kernel_drops_total{worker=\"1\"} 7\n"));
    assert!(text.contains("# TYPE wvnr_store_bytes gauge\n"));
}

#[tokio::test]
async fn channel_edits_need_the_token_and_are_saved() {
    let add = json!({"name": "ssh", "filter": "any", "colour": "#00AA00", "sign": "+"});
    let uri = "/api/profiles/live/channels";

    // No token configured: read-only.
    let h = harness(None);
    let r = send_edit(&h.state, "POST", uri, Some("x"), Some(add.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let h = harness(Some("s3cret"));
    assert_eq!(get(&h.state, "/api/profiles").await.json()["editable"], json!(true));
    assert_eq!(
        send_edit(&h.state, "POST", uri, None, Some(add.clone())).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send_edit(&h.state, "POST", uri, Some("s3cre"), Some(add.clone())).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Right token, but from another site.
    let req = edit("POST", uri, Some("s3cret"), Some(add.clone()))
        .header("origin", "http://evil.example")
        .body(Body::from(add.to_string()))
        .unwrap();
    assert_eq!(send(&h.state, req).await.status, StatusCode::FORBIDDEN);
    let req = edit("DELETE", "/api/profiles/live/channels/http", Some("s3cret"), None)
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&h.state, req).await.status, StatusCode::FORBIDDEN);
    assert!(!Profiles::path(&h.state.data_dir).exists(), "nothing saved yet");

    // Same origin with the token: added, saved, visible.
    let req = edit("POST", uri, Some("s3cret"), Some(add.clone()))
        .header("origin", "http://127.0.0.1:8080")
        .body(Body::from(add.to_string()))
        .unwrap();
    let r = send(&h.state, req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json(), json!({"name": "ssh", "filter": "any", "colour": "#00aa00", "sign": 1, "order": 3}));
    let saved = Profiles::load(&h.state.data_dir).unwrap();
    assert_eq!(saved.profiles[0].channels.len(), 3);
    assert_eq!(
        send_edit(&h.state, "POST", uri, Some("s3cret"), Some(add.clone())).await.status,
        StatusCode::CONFLICT
    );

    // Bad input: 400, nothing changes.
    for bad in [
        json!({"name": "a b", "colour": "#000000"}),
        json!({"name": "x", "colour": "green"}),
        json!({"name": "x", "colour": "#000000", "sign": "*"}),
        json!({"name": "x", "colour": "#000000", "filter": "proto tcp and ("}),
        json!({"name": "x", "colour": "#000000", "surprise": 1}),
    ] {
        let r = send_edit(&h.state, "POST", uri, Some("s3cret"), Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
    let r =
        send(&h.state, edit("POST", uri, Some("s3cret"), None).body(Body::from("{not json")).unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Recolour, then delete.
    let ch = "/api/profiles/live/channels/ssh";
    let r = send_edit(&h.state, "PATCH", ch, Some("s3cret"), Some(json!({"colour": "#123456", "sign": "-"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!((r.json()["colour"].clone(), r.json()["sign"].clone()), (json!("#123456"), json!(-1)));
    assert_eq!(Profiles::load(&h.state.data_dir).unwrap().profiles[0].channels[2].colour, "#123456");
    assert_eq!(send_edit(&h.state, "DELETE", ch, Some("wrong"), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(send_edit(&h.state, "DELETE", ch, Some("s3cret"), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(send_edit(&h.state, "DELETE", ch, Some("s3cret"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.state.profiles.read().unwrap().profiles[0].channels.len(), 2);
    let r = send_edit(&h.state, "POST", "/api/profiles/nope/channels", Some("s3cret"), Some(add)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn overview_sums_equal_the_stored_rollups() {
    let h = harness(None);
    let now_s = now_ms() / 1000;
    let last = bucket_start(now_ms()) - 300;
    // Six hours of closed buckets, different each time.
    let mut want_http = Counters::default();
    let mut want_dns = Counters::default();
    for i in 0..72u64 {
        let http = Counters { flows: 10 + i, packets: 100 + i * 3, bytes: 50_000 + i * 1000 };
        let dns = Counters { flows: 5 + i % 7, packets: 5 + i % 7, bytes: 400 + i };
        h.state.store.write_rollup(&live_bucket(last - i * 300, http, dns)).unwrap();
        want_http.add(&http);
        want_dns.add(&dns);
    }
    let from = last - 71 * 300;
    let to = last + 300;
    let v =
        get(&h.state, &format!("/api/overview?profile=live&from={from}&to={to}&unit=packets")).await.json();
    assert_eq!(v["live"], json!(false));
    assert_eq!(v["points"].as_array().unwrap().len(), 72);
    let sum = |c: &Counters| json!({"flows": c.flows, "packets": c.packets, "bytes": c.bytes});
    assert_eq!(v["channels"][0]["sum"], sum(&want_http));
    assert_eq!(v["channels"][1]["sum"], sum(&want_dns));
    // Rates times seconds give the packets back.
    let packets: f64 =
        v["channels"][0]["values"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() * 300.0).sum();
    assert!((packets / want_http.packets as f64 - 1.0).abs() < 1e-4, "{packets}");

    // 7 days: 30-minute steps, same totals.
    let v = get(&h.state, "/api/overview?profile=live&range=7d").await.json();
    assert_eq!(v["step"], json!(1800));
    assert_eq!(v["channels"][0]["sum"], sum(&want_http));
    let secs: Vec<u64> = v["seconds"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let bits: f64 = v["channels"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&secs)
        .map(|(x, s)| x.as_f64().unwrap() * *s as f64)
        .sum();
    assert!((bits / (want_http.bytes as f64 * 8.0) - 1.0).abs() < 1e-4, "{bits}");
    assert!(*secs.last().unwrap() <= 1800 && v["end"].as_u64().unwrap() <= now_s + 1);
}

#[tokio::test]
async fn drilldown_and_flows_count_the_stored_flows() {
    use std::net::{IpAddr, Ipv4Addr};
    use wvnr::flow::{proto, Flow};
    let h = harness(None);
    let bucket = bucket_start(now_ms()) - 600;
    let mut w = h.state.store.writer(0).unwrap();
    // 3 TCP flows to 443, 2 UDP to 53, in one bucket.
    for (i, (p, port, bytes)) in [
        (proto::TCP, 443, 1000),
        (proto::TCP, 443, 2000),
        (proto::TCP, 443, 3000),
        (proto::UDP, 53, 100),
        (proto::UDP, 53, 50),
    ]
    .into_iter()
    .enumerate()
    {
        let t = bucket * 1000 + 10_000 + i as u64 * 1000;
        w.append(&Flow {
            received_ms: t,
            first_ms: t - 100,
            last_ms: t,
            src_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst_addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst_port: port,
            protocol: p,
            packets: 2,
            bytes,
            ..Flow::EMPTY
        })
        .unwrap();
    }
    w.finish().unwrap();
    let window = format!("from={bucket}&to={}", bucket + 300);
    let v = get(&h.state, &format!("/api/drilldown?dimension=dst_port&{window}")).await.json();
    assert_eq!(v["total"], json!({"flows": 5, "packets": 10, "bytes": 6150}));
    assert_eq!(v["rows"][0]["key"], "443");
    assert_eq!((v["rows"][0]["flows"].clone(), v["rows"][0]["bytes"].clone()), (json!(3), json!(6000)));
    assert_eq!(v["rows"][1]["key"], "53");
    let v = get(&h.state, &format!("/api/drilldown?dimension=protocol&order=flows&{window}")).await.json();
    assert_eq!(v["rows"][0]["key"], "TCP");
    assert_eq!(v["rows"][1]["key"], "UDP");
    let v =
        get(&h.state, &format!("/api/drilldown?dimension=dst_port&filter=proto%20udp&{window}")).await.json();
    assert_eq!(v["total"]["flows"], json!(2));
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    let v = get(&h.state, &format!("/api/flows?filter=dst%20port%20443&limit=2&{window}")).await.json();
    assert_eq!(v["total"]["flows"], json!(3));
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!((flows[0]["protocol"].clone(), flows[0]["dst_port"].clone()), (json!("TCP"), json!(443)));
    let csv = get(&h.state, &format!("/api/drilldown?dimension=dst_port&format=csv&{window}")).await.text();
    assert_eq!(csv.lines().nth(1).unwrap(), "443,3,6,6000,0.020,160.000,1000.0");
    // Several tables from one scan: each equals its one-dimension answer.
    let v =
        get(&h.state, &format!("/api/drilldown?dimensions=protocol,dst_port,src_addr&order=bytes&{window}"))
            .await
            .json();
    assert_eq!(v["total"], json!({"flows": 5, "packets": 10, "bytes": 6150}));
    let tables = v["tables"].as_array().unwrap();
    let dims: Vec<&str> = tables.iter().map(|t| t["dimension"].as_str().unwrap()).collect();
    assert_eq!(dims, ["protocol", "dst_port", "src_addr"]);
    for t in tables {
        let dim = t["dimension"].as_str().unwrap();
        let one = get(&h.state, &format!("/api/drilldown?dimension={dim}&order=bytes&{window}")).await.json();
        assert_eq!(t["rows"], one["rows"], "{dim}");
    }
    assert_eq!((tables[0]["groups"].clone(), tables[2]["groups"].clone()), (json!(2), json!(1)));
    assert_eq!(tables[2]["rows"][0]["key"], "10.0.0.1");
    // Outside the window: nothing.
    let v = get(&h.state, &format!("/api/flows?from={}&to={}", bucket + 300, bucket + 600)).await.json();
    assert_eq!(v["total"]["flows"], json!(0));
}
