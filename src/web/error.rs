//! The one error type every handler returns. It answers with a short JSON
//! message (`{"error": "..."}`) and never shows internals to the client:
//! internal failures are logged here and answered with a generic line.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::filter::FilterError;

#[derive(Debug)]
pub enum ApiError {
    /// A parameter the client sent is wrong; the message says which and why.
    BadRequest(String),
    /// The filter does not parse; the column is 1-based, as `wvnr query` reports it.
    BadFilter(FilterError),
    /// An edit without (or with a wrong) admin token.
    Unauthorized(&'static str),
    /// An edit the server does not allow at all (no admin token configured, foreign origin).
    Forbidden(&'static str),
    NotFound(String),
    Conflict(String),
    /// Something failed inside; logged, never shown.
    Internal(anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadFilter(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> Self {
        ApiError::BadFilter(e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, column) = match &self {
            ApiError::BadRequest(m) | ApiError::NotFound(m) | ApiError::Conflict(m) => (m.clone(), None),
            ApiError::BadFilter(e) => (format!("filter: {}", e.message), Some(e.column)),
            ApiError::Unauthorized(m) | ApiError::Forbidden(m) => ((*m).to_string(), None),
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "web request failed");
                ("internal error (see the collector's log)".to_string(), None)
            }
        };
        (status, Json(ErrorBody { error: &message, column })).into_response()
    }
}
