//! simplejwt's `JWTAuthentication` pipeline — header, raw token, validated token, user — and
//! the extractors built on it.

use std::convert::Infallible;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde_json::{Value, json};
use tessera_core::{Token, TokenError};
use tessera_store::User;

use crate::cookies::read_cookie;
use crate::error::ApiError;
use crate::sessions::{SESSION_CLAIM, reason};
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
                .map_err(|_| invalid_for_every_kind(tessera));
        }
    }
    Ok(read_cookie(
        &parts.headers,
        &tessera.browser().auth_cookie_access_name,
    ))
}

fn invalid_for_every_kind(tessera: &Tessera) -> ApiError {
    let messages = tessera
        .auth_kinds()
        .iter()
        .map(|kind| {
            json!({"token_class": kind.class_name(), "token_type": kind.token_type(), "message": "Token is invalid"})
        })
        .collect();
    ApiError::InvalidToken {
        detail: "Given token not valid for any token type".into(),
        messages: Some(messages),
    }
}

/// Tries the token against each accepted kind in order; the error lists why each refused.
pub fn validated_token(tessera: &Tessera, raw: &str) -> Result<Token, ApiError> {
    let now = tessera.now_secs();
    let mut messages = Vec::new();
    for kind in tessera.auth_kinds() {
        match tessera.backend().decode(kind, raw, now) {
            Ok(token) => return Ok(token),
            Err(error) => messages.push(json!({
                "token_class": kind.class_name(),
                "token_type": kind.token_type(),
                "message": error.to_string(),
            })),
        }
    }
    Err(ApiError::InvalidToken {
        detail: "Given token not valid for any token type".into(),
        messages: Some(messages),
    })
}

/// The request's validated token, if it carries one.
pub fn authenticate_token(tessera: &Tessera, parts: &Parts) -> Result<Option<Token>, ApiError> {
    raw_token(tessera, parts)?
        .map(|raw| validated_token(tessera, raw))
        .transpose()
}

fn no_user_claim() -> ApiError {
    ApiError::InvalidToken {
        detail: "Token contained no recognizable user identification".into(),
        messages: None,
    }
}

/// The user a validated token names, loaded from the store and checked as simplejwt does —
/// and, beyond simplejwt, refused once the token's session is revoked: after a logout, a
/// detected reuse, a password change or a "log out everywhere".
pub async fn user_for_token(tessera: &Tessera, token: &Token) -> Result<User, ApiError> {
    let user_id = token.user_id(tessera.backend()).ok_or_else(no_user_claim)?;
    let user_not_found = || ApiError::authentication_failed("User not found", "user_not_found");
    let id = user_id.parse::<i64>().map_err(|_| user_not_found())?;
    let store = tessera.store();
    let (user, session) = match token.get(SESSION_CLAIM).and_then(Value::as_str) {
        // One round trip for the user and the session.
        Some(sid) => match store.user_with_session(id, sid).await? {
            Some(found) => (found.user, Some(found.session)),
            None => return Err(user_not_found()),
        },
        None => (
            store.user_by_id(id).await?.ok_or_else(user_not_found)?,
            None,
        ),
    };
    if tessera.settings().check_user_is_active && !user.is_active {
        return Err(ApiError::authentication_failed(
            "User is inactive",
            "user_inactive",
        ));
    }
    let password_changed = || {
        ApiError::authentication_failed("The user's password has been changed.", "password_changed")
    };
    match session {
        // A session that is gone, or not this user's.
        Some(None) => return Err(blacklisted(token)),
        Some(Some(state)) if state.revoked_at.is_some() => {
            let ends_everything = matches!(
                state.revoked_reason.as_deref(),
                Some(reason::PASSWORD_CHANGED | reason::LOGOUT_ALL)
            );
            return Err(if ends_everything {
                password_changed()
            } else {
                blacklisted(token)
            });
        }
        Some(Some(_)) => {}
        // A token with no session: only its issue time can tell.
        None => {
            let issued_micros = token
                .epoch_claim("iat")
                .map(|iat| iat.saturating_mul(1_000_000));
            if let (Some(changed), Some(issued)) = (user.password_changed_at, issued_micros)
                && issued < changed - changed.rem_euclid(1_000_000)
            {
                return Err(password_changed());
            }
        }
    }
    Ok(user)
}

/// simplejwt's answer when the token's class rejects it as blacklisted.
fn blacklisted(token: &Token) -> ApiError {
    let kind = token.kind();
    ApiError::InvalidToken {
        detail: "Given token not valid for any token type".into(),
        messages: Some(vec![json!({
            "token_class": kind.class_name(),
            "token_type": kind.token_type(),
            "message": TokenError::Blacklisted.to_string(),
        })]),
    }
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
        let id = token.user_id(tessera.backend()).ok_or_else(no_user_claim)?;
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
