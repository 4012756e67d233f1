//! CORS from settings named as django-cors-headers names them.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::browser::BrowserSettings;

/// The CORS layer, or `None` when no origin is allowed (then no CORS headers are sent and
/// browsers keep other origins out).
pub fn cors_layer(settings: &BrowserSettings) -> Option<CorsLayer> {
    let origin = if settings.cors_allow_all_origins {
        AllowOrigin::any()
    } else if settings.cors_allowed_origins.is_empty() {
        return None;
    } else {
        let list: Vec<HeaderValue> = settings
            .cors_allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        AllowOrigin::list(list)
    };
    let headers: Vec<HeaderName> = settings
        .cors_allow_headers
        .iter()
        .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
        .collect();
    let methods: Vec<Method> = settings
        .cors_allow_methods
        .iter()
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .collect();
    let exposed: Vec<HeaderName> = settings
        .cors_expose_headers
        .iter()
        .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
        .collect();
    // Validation refuses "any origin" with credentials, so tower-http never sees that pair.
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_headers(headers)
            .allow_methods(methods)
            .expose_headers(exposed)
            .allow_credentials(settings.cors_allow_credentials && !settings.cors_allow_all_origins)
            .max_age(Duration::from_secs(settings.cors_preflight_max_age)),
    )
}
