//! Errors as clients see them: a status code and a JSON body naming the
//! field and the reason.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db::QueryError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("invalid JSON: {0}")]
    BadJson(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("writes need `Authorization: Bearer <token>`")]
    Unauthorized,
    #[error("{0}")]
    Conflict(String),
    #[error("database: {0}")]
    Database(#[from] QueryError),
    #[error("injected fault")]
    Injected,
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}

impl ApiError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Invalid { field, reason } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "validation failed", "field": field, "reason": reason}),
            ),
            ApiError::BadJson(reason) => (
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid JSON", "reason": reason}),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                json!({"error": format!("{what} not found")}),
            ),
            ApiError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, json!({"error": self.to_string()}))
            }
            ApiError::Conflict(reason) => (StatusCode::CONFLICT, json!({"error": reason})),
            ApiError::Database(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": format!("database unavailable: {e}")}),
            ),
            ApiError::Injected => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "injected fault"}),
            ),
            ApiError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": self.to_string()}),
            ),
        };
        (status, Json(body)).into_response()
    }
}
