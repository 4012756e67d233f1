//! API keys as credentials: `Authorization: Api-Key <prefix>.<secret>` (djangorestframework-
//! api-key's header) makes the request's [`AuthUser`] the key's user — the same principal a
//! token of that user makes — with [`AuthUser::via`] and [`AuthUser::api_key`] saying how.
//! Routes that take one kind of credential only extract [`SessionUser`] (the tokens of a
//! login and the session cookie) or [`ApiKeyUser`] (keys). Scopes are checked like
//! permissions: `Require<HasScope<MyScope>>`, or [`AuthUser::has_scope`] in the handler.
//!
//! Keys, and the tokens minted from them, are for the application's routes, not for
//! managing the account: Tessera's own account and admin routes — `IsAdminUser` (so every
//! admin route), logout, password change, profile changes, WebSocket tickets, e-mail
//! change, sessions, and listing, creating and revoking keys — refuse them with 403
//! [`SESSION_REQUIRED`]. The credential is valid (so not a 401); it is the wrong kind for
//! the route. Reading the profile (`GET auth/profile/`) takes a key.
//!
//! A key with no scopes has every right of its user; a key with scopes is limited to them
//! on the routes that check scopes (routes that check none let any key of the user in). The
//! same holds for the access tokens minted from a key (`POST /api/token/client/`), whose
//! `scope` claim lists the key's scopes.
//!
//! ```
//! use tessera_axum::{HasScope, Require, Scope};
//!
//! /// The scope `orders:write`.
//! struct WriteOrders;
//!
//! impl Scope for WriteOrders {
//!     const NAME: &'static str = "orders:write";
//! }
//!
//! async fn create_order(user: Require<HasScope<WriteOrders>>) -> String {
//!     format!("order for {}", user.user.id)
//! }
//! ```

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use tessera_auth::api_keys::{API_KEY_SCHEME, KEY_CHARS};
use tessera_store::ApiKey;

use crate::auth::{AuthRejection, AuthUser};
use crate::error::ApiError;
use crate::permission::Permission;
use crate::state::Tessera;

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    /// A token: the authorization header's, or the access-token cookie's.
    Token,
    /// An API key (`Authorization: Api-Key …`).
    ApiKey,
}

/// The API key that authenticated a request (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// The key's id.
    pub id: i64,
    /// Its public prefix.
    pub prefix: String,
    /// Its owner's label.
    pub name: String,
    /// What it is limited to; empty: everything its user may do.
    pub scopes: Vec<String>,
}

impl From<&ApiKey> for ApiKeyInfo {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id,
            prefix: key.prefix.clone(),
            name: key.name.clone(),
            scopes: key.scopes.clone(),
        }
    }
}

/// The request's API key, when its authorization header uses the `Api-Key` scheme (the
/// scheme's case ignored); `None` otherwise. A header of that scheme with anything but one
/// key of the issued length after it is refused at once (nothing is looked up).
///
/// # Errors
/// `Invalid API key.` (401) for a malformed header.
pub fn raw_api_key<'a>(tessera: &Tessera, parts: &'a Parts) -> Result<Option<&'a str>, ApiError> {
    let Some(header) = parts.headers.get(tessera.auth_header()) else {
        return Ok(None);
    };
    let mut words = header
        .as_bytes()
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    match words.next() {
        Some(scheme) if scheme.eq_ignore_ascii_case(API_KEY_SCHEME.as_bytes()) => {}
        _ => return Ok(None),
    }
    match (words.next(), words.next()) {
        (Some(key), None) if key.len() == KEY_CHARS => std::str::from_utf8(key)
            .map(Some)
            .map_err(|_| invalid_key()),
        _ => Err(invalid_key()),
    }
}

/// The refusal of a bad key.
fn invalid_key() -> ApiError {
    tessera_auth::AuthError::InvalidApiKey.into()
}

/// The refusal, with 403, of an API key (or a token minted from one) on a route that
/// manages the account.
pub const SESSION_REQUIRED: &str = "This route needs a login session, not an API key.";

/// The 403 [`SESSION_REQUIRED`] answer.
pub(crate) fn session_required() -> ApiError {
    ApiError::Forbidden(SESSION_REQUIRED.into())
}

/// An authenticated user whose credential belongs to a login — a token of a session
/// (header or cookie) — never an API key, nor a token minted from one (`client_id` claim):
/// for routes that manage the account, which a key must not reach. Such a request is
/// refused with 403 [`SESSION_REQUIRED`] (the credential is valid, but not for this route).
#[derive(Debug, Clone)]
pub struct SessionUser(pub AuthUser);

impl std::ops::Deref for SessionUser {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

impl<S> FromRequestParts<S> for SessionUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if auth.is_api_key() {
            return Err(AuthRejection::new(
                &Tessera::from_ref(state),
                session_required(),
            ));
        }
        Ok(Self(auth))
    }
}

impl<S> OptionalFromRequestParts<S> for SessionUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    /// `None` for an anonymous request; bad credentials, and an API key or a token minted
    /// from one, are still refused.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let auth =
            <AuthUser as OptionalFromRequestParts<S>>::from_request_parts(parts, state).await?;
        match auth {
            Some(auth) if auth.is_api_key() => Err(AuthRejection::new(
                &Tessera::from_ref(state),
                session_required(),
            )),
            auth => Ok(auth.map(Self)),
        }
    }
}

/// An authenticated user whose credential was an API key — never a token: for routes meant
/// for services only. A request with a token is refused with 401 (`api_key_required`).
#[derive(Debug, Clone)]
pub struct ApiKeyUser {
    /// The authenticated user.
    pub auth: AuthUser,
    /// The key.
    pub api_key: ApiKeyInfo,
}

impl std::ops::Deref for ApiKeyUser {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.auth
    }
}

impl<S> FromRequestParts<S> for ApiKeyUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        // Answered before any token is looked at: a token here is the wrong credential,
        // whether or not it is valid.
        if raw_api_key(&tessera, parts)
            .map_err(|error| AuthRejection::new(&tessera, error))?
            .is_none()
        {
            return Err(AuthRejection::new(
                &tessera,
                ApiError::authentication_failed(
                    "This route requires an API key.",
                    "api_key_required",
                ),
            ));
        }
        let auth = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        match auth.api_key.clone() {
            Some(api_key) => Ok(Self { auth, api_key }),
            None => Err(AuthRejection::new(&tessera, ApiError::NotAuthenticated)),
        }
    }
}

/// A scope name, for [`HasScope`].
pub trait Scope: Send + Sync + 'static {
    /// The scope, as listed on keys.
    const NAME: &'static str;
}

/// The permission "the credential grants scope `T`": always for a token of a login and a
/// key with no scopes; for a limited key (or a token minted from one), when `T::NAME` is
/// among its scopes.
#[derive(Debug, Clone, Copy)]
pub struct HasScope<T>(PhantomData<fn() -> T>);

impl<T: Scope, S: Send + Sync> Permission<S> for HasScope<T> {
    async fn has_permission(
        user: &AuthUser,
        _parts: &mut Parts,
        _state: &S,
    ) -> Result<bool, ApiError> {
        Ok(user.has_scope(T::NAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_copies_everything_but_the_hash() {
        let key = ApiKey {
            id: 7,
            prefix: "AbCd1234".into(),
            hash: "secret-hash".into(),
            user_id: 1,
            name: "ci".into(),
            scopes: vec!["read".into()],
            created_at: tessera_core::Timestamp::from_secs(0),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        };
        let info = ApiKeyInfo::from(&key);
        assert_eq!(info.prefix, "AbCd1234");
        assert_eq!(info.scopes, ["read"]);
        assert!(!format!("{info:?}").contains("secret-hash"));
    }
}
