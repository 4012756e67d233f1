//! simplejwt's `JWTAuthentication` pipeline — header, raw token, validated token, user — and
//! the extractors built on it.

use std::convert::Infallible;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use tessera_auth::AuthError;
use tessera_core::Token;
use tessera_store::User;

use crate::cookies::read_cookie;
use crate::error::ApiError;
use crate::state::Tessera;

/// The raw token of a request: from the authorization header, or else from the access-token
/// cookie. `None` when it carries neither (an empty header or another scheme count as none);
/// an error when our header is malformed. The header wins when both are present.
pub fn raw_token<'a>(tessera: &Tessera, parts: &'a Parts) -> Result<Option<&'a str>, ApiError> {
    if let Some(header) = parts.headers.get(tessera.auth_header()) {
        // Python's bytes.split(): runs of ASCII white space separate the parts.
        let mut words = header
            .as_bytes()
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        if let Some(scheme) = words.next()
            && tessera
                .settings()
                .auth_header_types
                .iter()
                .any(|t| t.as_bytes() == scheme)
        {
            let (Some(token), None) = (words.next(), words.next()) else {
                return Err(ApiError::authentication_failed(
                    "Authorization header must contain two space-delimited values",
                    "bad_authorization_header",
                ));
            };
            // Header bytes outside visible ASCII cannot belong to a token.
            return std::str::from_utf8(token)
                .map(Some)
                .map_err(|_| tessera.auth().unreadable_token().into());
        }
    }
    Ok(read_cookie(
        &parts.headers,
        &tessera.browser().auth_cookie_access_name,
    ))
}

/// Tries the token against each accepted kind in order; the error lists why each refused.
pub fn validated_token(tessera: &Tessera, raw: &str) -> Result<Token, ApiError> {
    Ok(tessera.auth().validate_token(raw)?)
}

/// The request's validated token, if it carries one.
pub fn authenticate_token(tessera: &Tessera, parts: &Parts) -> Result<Option<Token>, ApiError> {
    raw_token(tessera, parts)?
        .map(|raw| validated_token(tessera, raw))
        .transpose()
}

/// The user a validated token names (see [`tessera_auth::Auth::user_for_token`]).
pub async fn user_for_token(tessera: &Tessera, token: &Token) -> Result<User, ApiError> {
    Ok(tessera.auth().user_for_token(token).await?)
}

/// An authenticated user, loaded from the store (simplejwt's `JWTAuthentication` with DRF's
/// `IsAuthenticated`). A request without credentials is refused with 401.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user, as stored.
    pub user: User,
    /// The token that authenticated the request.
    pub token: Token,
}

impl<S> FromRequestParts<S> for AuthUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        <Self as OptionalFromRequestParts<S>>::from_request_parts(parts, state)
            .await?
            .ok_or(ApiError::NotAuthenticated)
    }
}

impl<S> OptionalFromRequestParts<S> for AuthUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// `None` for an anonymous request; bad credentials are still refused, as DRF does.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        let Some(token) = authenticate_token(&tessera, parts)? else {
            return Ok(None);
        };
        let user = user_for_token(&tessera, &token).await?;
        Ok(Some(Self { user, token }))
    }
}

/// A user known only from the token's claims, with no store lookup (simplejwt's
/// `JWTStatelessUserAuthentication` and `TokenUser`).
#[derive(Debug, Clone)]
pub struct TokenUser {
    /// The user id claim, as text.
    pub id: String,
    /// The validated token; every claim is available through it.
    pub token: Token,
}

impl TokenUser {
    fn from_token(tessera: &Tessera, token: Token) -> Result<Self, ApiError> {
        let id = token
            .user_id(tessera.auth().backend())
            .ok_or(AuthError::NoUserClaim)?;
        Ok(Self { id, token })
    }
}

impl<S> FromRequestParts<S> for TokenUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        <Self as OptionalFromRequestParts<S>>::from_request_parts(parts, state)
            .await?
            .ok_or(ApiError::NotAuthenticated)
    }
}

impl<S> OptionalFromRequestParts<S> for TokenUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        authenticate_token(&tessera, parts)?
            .map(|token| TokenUser::from_token(&tessera, token))
            .transpose()
    }
}

/// Marks a handler as open to everyone (DRF's `AllowAny`); it extracts nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAny;

impl<S: Send + Sync> FromRequestParts<S> for AllowAny {
    type Rejection = Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self)
    }
}
