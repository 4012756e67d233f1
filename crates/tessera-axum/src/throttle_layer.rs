//! DRF's `AnonRateThrottle` and `UserRateThrottle` for every request: anonymous requests by
//! client address (`anon` and `user` rates), authenticated ones by user (`user` rate).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::authenticate_token;
use crate::client::ClientInfo;
use crate::state::Tessera;

/// The middleware; [`crate::finish`] installs it. It costs nothing while neither rate is set.
pub async fn throttle_requests(
    State(tessera): State<Tessera>,
    request: Request,
    next: Next,
) -> Response {
    let settings = tessera.throttling();
    if settings.rate("anon").is_none() && settings.rate("user").is_none() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The token only names the user here; the handler authenticates the request fully.
    let user = authenticate_token(&tessera, &parts)
        .ok()
        .flatten()
        .and_then(|t| t.user_id(tessera.backend()));
    let outcome = match &user {
        Some(id) => tessera.throttle("user", id),
        None => {
            let client = ClientInfo::from_parts(&tessera, &parts);
            tessera
                .throttle("anon", client.ident())
                .and_then(|()| tessera.throttle("user", client.ident()))
        }
    };
    match outcome {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(throttled) => throttled.into_response(),
    }
}
