//! DRF's `AnonRateThrottle` and `UserRateThrottle` for every request: anonymous requests by
//! client address (`anon` and `user` rates), authenticated ones by user (`user` rate).
//!
//! They run before the view (DRF runs them after authentication): a token that fails its
//! checks names nobody, so its request counts against the client's address. A token only
//! has its signature and claims checked here (no store read). An `Api-Key` header is
//! authenticated in full — one read by its prefix, as the view would do — so that each
//! user's keys count against that user, not all of them against their shared address
//! (where one busy key would starve the others); the user found is handed to the view,
//! which does not read the key again. A key that fails counts against the address.

use axum::http::request::Parts;

use crate::api_key::raw_api_key;
use crate::auth::{AuthUser, authenticate_token};
use crate::error::ApiError;
use crate::state::Tessera;

/// 429 when the request is over the `anon` or `user` rate. It costs nothing while neither
/// rate is set. [`crate::install`]'s middleware asks it, and keeps the user of an API key
/// it returns for the view (as a request extension).
pub async fn check_rates(tessera: &Tessera, parts: &Parts) -> Result<Option<AuthUser>, ApiError> {
    let throttles = tessera.auth().throttles();
    if throttles.rate("anon").is_none() && throttles.rate("user").is_none() {
        return Ok(None);
    }
    if let Ok(Some(_)) = raw_api_key(tessera, parts)
        && let Ok(Some(user)) = AuthUser::authenticate(tessera, parts).await
    {
        throttles.check("user", &user.user.id.to_string()).await?;
        return Ok(Some(user));
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
    Ok(None)
}
