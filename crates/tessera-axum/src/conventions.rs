//! DRF's conventions for whole responses: JSON 404 and 405 bodies, `OPTIONS`, and
//! `WWW-Authenticate` on every 401.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::Tessera;

/// Gives a bodiless 404 or 405 answer DRF's JSON body, answers `OPTIONS` with 200 and
/// `Allow`, and adds `WWW-Authenticate` to a 401 — for the response to a `method` request.
/// [`crate::install`]'s middleware applies it to every response.
pub fn drf_conventions(tessera: &Tessera, method: &Method, mut response: Response) -> Response {
    let bodiless = !response.headers().contains_key(header::CONTENT_TYPE);
    match response.status() {
        StatusCode::METHOD_NOT_ALLOWED if bodiless => {
            let allow = response.headers().get(header::ALLOW).cloned();
            response = if *method == Method::OPTIONS {
                StatusCode::OK.into_response()
            } else {
                ApiError::MethodNotAllowed(method.clone()).into_response()
            };
            if let Some(allow) = allow {
                let allow = with_options(&allow);
                response.headers_mut().insert(header::ALLOW, allow);
            }
        }
        StatusCode::NOT_FOUND if bodiless => response = ApiError::NotFound.into_response(),
        StatusCode::UNAUTHORIZED if !response.headers().contains_key(header::WWW_AUTHENTICATE) => {
            if let Ok(value) = HeaderValue::from_str(tessera.www_authenticate()) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        _ => {}
    }
    response
}

/// The `Allow` list as Django writes it: comma and space between methods, `OPTIONS` last.
fn with_options(allow: &HeaderValue) -> HeaderValue {
    let text = allow.to_str().unwrap_or_default();
    let mut methods: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty() && *m != "OPTIONS")
        .collect();
    methods.push("OPTIONS");
    HeaderValue::from_str(&methods.join(", ")).unwrap_or_else(|_| allow.clone())
}

/// The fallback for unknown routes: 404 `{"detail":"Not found."}`.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_read_like_djangos() {
        let allow = |text: &'static str| with_options(&HeaderValue::from_static(text));
        assert_eq!(
            allow("GET,HEAD,PUT,PATCH"),
            "GET, HEAD, PUT, PATCH, OPTIONS"
        );
        assert_eq!(allow("POST"), "POST, OPTIONS");
        assert_eq!(allow("GET,OPTIONS,HEAD"), "GET, HEAD, OPTIONS");
    }
}
