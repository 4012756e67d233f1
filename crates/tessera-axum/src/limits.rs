//! Size limits on what a request carries besides its body.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The most header bytes (names and values together) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The 431 answer for headers larger than [`MAX_HEADER_BYTES`] (names and values
/// together), before any of them is parsed further; `None` when they fit.
/// [`crate::install`]'s middleware asks it first.
pub fn oversized_headers(headers: &HeaderMap) -> Option<Response> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (size > MAX_HEADER_BYTES).then(|| {
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            axum::Json(json!({"detail": "Request header fields too large."})),
        )
            .into_response()
    })
}
