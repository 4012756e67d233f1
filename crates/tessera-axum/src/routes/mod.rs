//! Routers an application mounts. Paths are relative to where the API is mounted, as
//! Django's `urls.py` includes them: nest them under `/api` for simplejwt's and dj-rest-auth's
//! usual paths (`/api/token/`, `/api/auth/login/` …), or under any other prefix
//! (`/api/v1`); [`api_routes`] holds them all.
//!
//! ```
//! use axum::Router;
//! use tessera_axum::Tessera;
//! use tessera_axum::routes::{api_routes, jwks_routes, token_routes};
//!
//! // Everything Tessera serves, at the usual paths.
//! let app: Router<Tessera> = Router::new().nest("/api", api_routes()).merge(jwks_routes());
//! // Only simplejwt's token views, under a versioned prefix.
//! let v1: Router<Tessera> = Router::new().nest("/api/v1", token_routes());
//! ```

mod account;
mod admin;
mod api_keys;
mod audit;
mod cookie;
mod email;
mod groups;
mod jwks;
mod keys;
mod mfa;
mod pagination;
mod passkeys;
mod paths;
mod sessions;
mod social;
mod token;

use axum::Router;
use axum::extract::FromRef;

pub use account::account_routes;
pub use admin::admin_routes;
pub use api_keys::api_key_routes;
pub use audit::audit_routes;
pub use cookie::cookie_routes;
pub use email::{CHANGE_SENT, RESET_DONE, RESET_SENT, VERIFICATION_SENT, email_routes};
pub use jwks::jwks_routes;
pub use keys::key_routes;
pub use mfa::mfa_routes;
pub use passkeys::passkey_routes;
pub use paths::{RoutePaths, api_routes_at, token_routes_at};
pub use sessions::session_routes;
pub use social::{BINDING_COOKIE, social_routes};
pub use token::token_routes;

use tessera_auth::{Actor, ClientInfo};

use crate::permission::AdminUser;
use crate::state::Tessera;

/// Every API router: token, account, session, cookie, admin, audit, key, API key and passkey routes
/// (the JWKS, which lives at the site's root, is [`jwks_routes`]).
pub fn api_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    token_routes()
        .merge(account_routes())
        .merge(session_routes())
        .merge(cookie_routes())
        .merge(admin_routes())
        .merge(audit_routes())
        .merge(key_routes())
        .merge(api_key_routes())
        .merge(passkey_routes())
        .merge(mfa_routes())
        .merge(social_routes())
}

/// The documentation of the API routes, at the default layout relative to the API's mount
/// point (`/token/`, `/auth/login/` …).
pub(crate) fn documented() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    let mut document = utoipa::openapi::OpenApi::default();
    for (module, mut other) in [
        ("token", token::Doc::openapi()),
        ("account", account::Doc::openapi()),
        ("email", email::Doc::openapi()),
        ("sessions", sessions::Doc::openapi()),
        ("cookie", cookie::Doc::openapi()),
        ("api_keys", api_keys::Doc::openapi()),
        ("passkeys", passkeys::Doc::openapi()),
        ("mfa", mfa::Doc::openapi()),
        ("social", social::Doc::openapi()),
        ("admin", admin::Doc::openapi()),
        ("groups", groups::Doc::openapi()),
        ("audit", audit::Doc::openapi()),
        ("keys", keys::Doc::openapi()),
    ] {
        crate::openapi::name_operations(&mut other, module);
        document.merge(other);
    }
    document
}

/// The documentation of the routes served from the site's root (the JWKS).
pub(crate) fn documented_at_root() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    jwks::Doc::openapi()
}

/// The staff member acting through the admin API, from their client.
fn staff<'a>(admin: &'a AdminUser, client: &'a ClientInfo) -> Actor<'a> {
    Actor::Staff {
        user: &admin.user,
        client,
    }
}
