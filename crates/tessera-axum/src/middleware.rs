//! The one middleware [`crate::install`] puts around every request: the header size limit,
//! the host check and HTTPS redirect, CSRF, the `anon`/`user` throttles and remote signing keys before the handler, DRF's
//! response conventions and `Strict-Transport-Security` after it.
//!
//! One layer rather than one each: every layer adds a boxed service and a future that is
//! moved at each level, and at tens of thousands of requests a second that is most of what
//! a request costs beyond the handler.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::conventions::drf_conventions;
use crate::csrf::csrf_refusal;
use crate::deployment::{add_hsts, check_request, request_origin};
use crate::limits::oversized_headers;
use crate::state::Tessera;
use crate::throttle_layer::check_rates;

/// The middleware [`crate::install`] puts around the finished router.
pub async fn tessera_middleware(
    State(tessera): State<Tessera>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    // Oversized headers get the bare 431, like a server that never parsed them.
    if let Some(refused) = oversized_headers(&parts.headers) {
        return refused;
    }
    // Django's SecurityMiddleware comes first: a request for another host, or one to
    // redirect to HTTPS, goes no further.
    let (transport, refused) = check_request(tessera.browser(), &parts);
    let response = match refused {
        Some(refused) => refused,
        None => {
            let mut parts = parts;
            if let Some(origin) = request_origin(tessera.browser(), &parts, transport) {
                parts.extensions.insert(origin);
            }
            let method = parts.method.clone();
            let response = match before(&tessera, &mut parts).await {
                None => next.run(Request::from_parts(parts, body)).await,
                Some(refused) => refused,
            };
            drf_conventions(&tessera, &method, response)
        }
    };
    let mut response = response;
    add_hsts(tessera.browser(), transport, &mut response);
    response
}

/// The checks that may refuse a request before its handler runs, in order; the refusal. The throttle
/// and key checks may wait on the database or the network; their large futures are boxed,
/// and only when configured, so that this one — moved a few times on every request — stays
/// small.
async fn before(tessera: &Tessera, parts: &mut Parts) -> Option<Response> {
    if let Some(refused) = csrf_refusal(tessera, parts, false) {
        return Some(refused);
    }
    let throttles = tessera.auth().throttles();
    if throttles.rate("anon").is_some() || throttles.rate("user").is_some() {
        match Box::pin(check_rates(tessera, parts)).await {
            Err(throttled) => return Some(throttled.into_response()),
            // The API key's user, authenticated once: the view takes it as it is.
            Ok(Some(user)) => {
                parts.extensions.insert(user);
            }
            Ok(None) => {}
        }
    }
    if tessera.auth().backend().key_source().is_some() {
        Box::pin(fetch_remote_keys(tessera, &parts.headers)).await;
    }
    None
}

/// Before a request is handled, lets the backend's key source fetch the key of the token in
/// the authorization header when the ring does not hold its `kid` (so the synchronous
/// decoding that follows finds it). A no-op without a key source. The middleware runs it.
async fn fetch_remote_keys(tessera: &Tessera, headers: &HeaderMap) {
    if tessera.auth().backend().key_source().is_some()
        && let Some(raw) = bearer_token(tessera, headers)
        && let Some(refresh) = tessera.auth().backend().refresh_for(&raw)
    {
        refresh.await;
    }
}

/// The token of an authorization header of one of the accepted types, if any.
fn bearer_token(tessera: &Tessera, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(tessera.auth_header())?.to_str().ok()?;
    let mut words = value.split_ascii_whitespace();
    let scheme = words.next()?;
    if !tessera
        .settings()
        .auth_header_types
        .iter()
        .any(|t| t == scheme)
    {
        return None;
    }
    words.next().map(str::to_owned)
}
