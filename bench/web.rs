//! The overview API on the heaviest view the page offers: 30 days of 5-minute
//! rollups of a 21-channel profile (8640 buckets, each with ten top-N tables),
//! downsampled to 2-hour steps. Measures the whole request through the
//! router: rollup read, summing, JSON.
//!
//! cargo bench --bench web

use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt;

use wvnr::flow::{bucket_start, Counters};
use wvnr::live::LiveStatus;
use wvnr::profile::Profiles;
use wvnr::rollup::{BucketRollup, ChannelCounters, Dimension, TopEntry, TopTable};
use wvnr::store::{Store, StoreConfig};
use wvnr::web::{router, WebState};

fn state(dir: &std::path::Path) -> WebState {
    let profiles = Profiles::default();
    let names: Vec<String> = profiles.profiles[0].channels.iter().map(|c| c.name.clone()).collect();
    assert_eq!(names.len(), 21);
    let store = Store::open(dir, StoreConfig::default()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let last = bucket_start(now) - 300;
    let c = |n: u64| Counters { flows: n, packets: n * 10, bytes: n * 8000 };
    for i in 0..8640u64 {
        let top = Dimension::ALL
            .iter()
            .map(|d| TopTable {
                dimension: *d,
                entries: (0..10).map(|k| TopEntry { key: format!("key-{k}"), counters: c(k + 1) }).collect(),
                other: c(5),
            })
            .collect();
        store
            .write_rollup(&BucketRollup {
                bucket: last - i * 300,
                profile: "live".into(),
                total: c(21 * 100),
                channels: names
                    .iter()
                    .enumerate()
                    .map(|(k, n)| ChannelCounters {
                        channel: n.clone(),
                        counters: c(50 + (i + k as u64) % 100),
                    })
                    .collect(),
                sources: vec![],
                top,
            })
            .unwrap();
    }
    WebState {
        store: Arc::new(store),
        live: Arc::new(LiveStatus::default()),
        profiles: Arc::new(RwLock::new(profiles)),
        admin_token: None,
        data_dir: dir.to_path_buf(),
        export: None,
    }
}

fn overview_30_days(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = router(state);
    let body_len = rt.block_on(async {
        let req = Request::get("/api/overview?profile=live&range=30d").body(Body::empty()).unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert!(res.status().is_success());
        axum::body::to_bytes(res.into_body(), 64 << 20).await.unwrap().len()
    });
    eprintln!("30-day overview response: {body_len} bytes");
    c.bench_function("overview 30 d x 21 channels", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = Request::get("/api/overview?profile=live&range=30d").body(Body::empty()).unwrap();
                let res = app.clone().oneshot(req).await.unwrap();
                axum::body::to_bytes(res.into_body(), 64 << 20).await.unwrap().len()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = overview_30_days
}
criterion_main!(benches);
