//! The HTML pages and their scripts and styles, compiled into the binary:
//! no CDN, works offline.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const OVERVIEW_HTML: &str = include_str!("assets/index.html");
const EXPORTERS_HTML: &str = include_str!("assets/exporters.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const COMMON_JS: &str = include_str!("assets/common.js");
const CHART_JS: &str = include_str!("assets/chart.js");
const OVERVIEW_JS: &str = include_str!("assets/overview.js");
const EXPORTERS_JS: &str = include_str!("assets/exporters.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Assets change only with the binary; revalidating costs one request per page.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

pub async fn overview() -> Response {
    asset("text/html; charset=utf-8", OVERVIEW_HTML)
}

pub async fn exporters() -> Response {
    asset("text/html; charset=utf-8", EXPORTERS_HTML)
}

pub async fn static_asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match name.as_str() {
        "style.css" => asset("text/css; charset=utf-8", STYLE_CSS),
        "common.js" => asset("text/javascript; charset=utf-8", COMMON_JS),
        "chart.js" => asset("text/javascript; charset=utf-8", CHART_JS),
        "overview.js" => asset("text/javascript; charset=utf-8", OVERVIEW_JS),
        "exporters.js" => asset("text/javascript; charset=utf-8", EXPORTERS_JS),
        _ => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

pub async fn healthz() -> &'static str {
    "ok\n"
}
