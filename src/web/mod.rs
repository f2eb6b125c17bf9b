//! The web report, served by axum from the collector process: the overview
//! graphs and drill-down (`/`), exporters (`/exporters`), the JSON API under
//! `/api/` (listed by `GET /api`, documented in docs/web.md), `/metrics` and
//! `/healthz`.

mod api;
mod channels;
mod drilldown;
mod error;
mod export_api;
mod flows;
mod metrics;
mod overview;
mod pages;
mod params;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::Router;

use crate::live::LiveStatus;
use crate::profile::Profiles;
use crate::store::Store;

pub use api::ROUTES;
pub use channels::TOKEN_HEADER;
pub use error::ApiError;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub store: Arc<Store>,
    pub live: Arc<LiveStatus>,
    /// The collector watches this: channel edits from the page replace it (after saving).
    pub profiles: Arc<RwLock<Profiles>>,
    /// Channel editing is allowed only when set, and only with this value in `X-Wvnr-Token`.
    pub admin_token: Option<String>,
    /// Where `Profiles::save` writes.
    pub data_dir: PathBuf,
    /// The ClickHouse exporter's status, when `[export.clickhouse]` is configured.
    pub export: Option<crate::export::StatusHandle>,
}

/// Largest request body accepted (channel edits are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

pub fn router(state: WebState) -> Router {
    let api = Router::new()
        .route("/", get(api::index))
        .route("/status", get(api::status))
        .route("/profiles", get(channels::list))
        .route("/profiles/{profile}/channels", post(channels::add))
        .route("/profiles/{profile}/channels/{channel}", patch(channels::change).delete(channels::delete))
        .route("/overview", get(api::overview))
        .route("/drilldown", get(drilldown::drilldown))
        .route("/flows", get(api::flows))
        .route("/exporters", get(api::exporters))
        .route("/export", get(export_api::export))
        .fallback(api_not_found);
    Router::new()
        .route("/", get(pages::overview))
        .route("/exporters", get(pages::exporters))
        .route("/assets/{name}", get(pages::static_asset))
        .nest("/api", api)
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(pages::healthz))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route: GET /api lists them".into())
}

/// Same-origin only: no inline script, no framing, no referrer leaking filters to other sites.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Serves the web report on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener.local_addr().ok();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .with_context(|| format!("web server on {addr:?} failed"))
}
