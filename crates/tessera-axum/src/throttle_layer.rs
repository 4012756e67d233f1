//! DRF's `AnonRateThrottle` and `UserRateThrottle` for every request: anonymous requests by
//! client address (`anon` and `user` rates), authenticated ones by user (`user` rate).
//!
//! They run before the view (DRF runs them after authentication): a token that fails its
//! checks names nobody, so its request counts against the client's address.

use axum::http::request::Parts;

use crate::auth::authenticate_token;
use crate::error::ApiError;
use crate::state::Tessera;

/// 429 when the request is over the `anon` or `user` rate. It costs nothing while neither
/// rate is set. [`crate::install`]'s middleware asks it.
pub async fn check_rates(tessera: &Tessera, parts: &Parts) -> Result<(), ApiError> {
    let throttles = tessera.auth().throttles();
    if throttles.rate("anon").is_none() && throttles.rate("user").is_none() {
        return Ok(());
    }
    // The token only names the user here; the handler authenticates the request fully.
    let user = authenticate_token(tessera, parts)
        .ok()
        .flatten()
        .and_then(|t| t.user_id(tessera.auth().backend()));
    match &user {
        Some(id) => throttles.check("user", id).await?,
        None => {
            let client = crate::client::client_info(tessera, parts);
            throttles.check("anon", client.ident()).await?;
            throttles.check("user", client.ident()).await?;
        }
    }
    Ok(())
}
