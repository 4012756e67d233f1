//! Size limits on what a request carries besides its body.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The most header bytes (names and values together) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses a request whose headers are larger than [`MAX_HEADER_BYTES`] with 431, before any
/// of them is parsed further. [`crate::finish`] installs it.
pub async fn limit_headers(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            axum::Json(json!({"detail": "Request header fields too large."})),
        )
            .into_response();
    }
    next.run(request).await
}
