//! A verifier for services that sit next to Tessera: access tokens checked against a JWKS
//! URL, with no store, no database and no Tessera server code — simplejwt's
//! `JWTStatelessUserAuthentication` with `JWK_URL`.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tessera_axum::verifier::{JwksVerifier, JwtUser};
//! use tessera_core::{Algorithm, Settings};
//!
//! async fn me(user: JwtUser) -> String {
//!     format!("hello, user {}", user.id)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = JwksVerifier::new(Settings {
//!     algorithm: Algorithm::EdDSA,
//!     jwk_url: Some("http://127.0.0.1:8000/.well-known/jwks.json".into()),
//!     ..Settings::default()
//! })?;
//! let app: Router = Router::new().route("/me", get(me)).with_state(verifier);
//! # Ok(()) }
//! ```
//!
//! The extractor answers like Tessera's own: 401 with simplejwt's bodies and
//! `WWW-Authenticate`. `examples/jwks-service` in the repository is a runnable service built on this module
//! alone (the crate without its `store` feature).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_core::{
    Clock, KeyRing, KeySource, Settings, SettingsError, Token, TokenBackend, TokenKind,
};

use crate::error::ApiError;
use crate::remote::RemoteJwks;

/// Verifies access tokens with the keys of a JWKS URL. Cheap to clone; use it as (part of)
/// the router state.
#[derive(Clone, Debug)]
pub struct JwksVerifier(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    backend: TokenBackend,
    remote: Arc<RemoteJwks>,
    settings: Settings,
    kinds: Vec<TokenKind>,
    header: HeaderName,
    clock: Clock,
}

impl JwksVerifier {
    /// A verifier for `settings`: `jwk_url` and an asymmetric `algorithm` are required;
    /// `audience`, `issuer`, `leeway`, the claim names, `auth_header_name`,
    /// `auth_header_types` and `auth_token_classes` apply as in Tessera. Nothing is fetched
    /// until the first token arrives (or [`JwksVerifier::prefetch`]).
    pub fn new(settings: Settings) -> Result<Self, SettingsError> {
        Self::with_clock(settings, Clock::system())
    }

    /// [`JwksVerifier::new`] with an explicit clock (tests).
    pub fn with_clock(settings: Settings, clock: Clock) -> Result<Self, SettingsError> {
        settings.validate()?;
        let remote = RemoteJwks::new(&settings)?;
        let ring = KeyRing::verify_only([]).map_err(|e| e.for_setting("jwk_url"))?;
        let backend = TokenBackend::new(ring, &settings);
        let source: Arc<dyn KeySource> = remote.clone();
        let _ = backend.set_key_source(source);
        let header = HeaderName::from_bytes(settings.auth_header().as_bytes()).map_err(|_| {
            SettingsError {
                setting: "auth_header_name".into(),
                message: "is not a valid header name".into(),
            }
        })?;
        Ok(Self(Arc::new(Inner {
            kinds: settings.auth_token_kinds(),
            backend,
            remote,
            settings,
            header,
            clock,
        })))
    }

    /// Fetches the JWKS now, e.g. at start (a failure is also retried when a token needs it).
    pub async fn prefetch(&self) -> Result<usize, crate::remote::JwksFetchError> {
        self.0.remote.fetch().await
    }

    /// The remote key set.
    pub fn remote(&self) -> &RemoteJwks {
        &self.0.remote
    }

    /// The backend (claim names, decoding).
    pub fn backend(&self) -> &TokenBackend {
        &self.0.backend
    }

    /// Checks `raw` as each accepted token kind in turn (access tokens by default): the
    /// signature with the JWKS key its `kid` names, then `exp`, `iat`, `nbf`, `aud`, `iss`,
    /// `jti` and the type. The error lists why each kind refused, as simplejwt does.
    pub async fn verify(&self, raw: &str) -> Result<Token, ApiError> {
        if let Some(refresh) = self.0.backend.refresh_for(raw) {
            refresh.await;
        }
        let now = self.0.clock.now();
        let mut messages = Vec::new();
        for kind in &self.0.kinds {
            match self.0.backend.decode(kind, raw, now) {
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

    /// The request's token, verified; `None` for a request without one of ours.
    pub async fn authenticate(&self, parts: &Parts) -> Result<Option<JwtUser>, ApiError> {
        let Some(raw) = self.raw_token(parts)? else {
            return Ok(None);
        };
        let token = self.verify(&raw).await?;
        let id = token
            .user_id(&self.0.backend)
            .ok_or_else(|| ApiError::InvalidToken {
                detail: "Token contained no recognizable user identification".into(),
                messages: None,
            })?;
        Ok(Some(JwtUser { id, token }))
    }

    fn raw_token(&self, parts: &Parts) -> Result<Option<String>, ApiError> {
        let Some(value) = parts.headers.get(&self.0.header) else {
            return Ok(None);
        };
        let mut words = value
            .as_bytes()
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let Some(scheme) = words.next() else {
            return Ok(None);
        };
        if !self
            .0
            .settings
            .auth_header_types
            .iter()
            .any(|t| t.as_bytes() == scheme)
        {
            return Ok(None);
        }
        let (Some(token), None) = (words.next(), words.next()) else {
            return Err(ApiError::authentication_failed(
                "Authorization header must contain two space-delimited values",
                "bad_authorization_header",
            ));
        };
        Ok(Some(String::from_utf8_lossy(token).into_owned()))
    }

    fn www_authenticate(&self) -> HeaderValue {
        let scheme = self
            .0
            .settings
            .auth_header_types
            .first()
            .map_or("Bearer", String::as_str);
        HeaderValue::from_str(&format!("{scheme} realm=\"api\""))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"api\""))
    }
}

/// A user known from a verified access token's claims (simplejwt's `TokenUser`).
#[derive(Debug, Clone)]
pub struct JwtUser {
    /// The user id claim, as text.
    pub id: String,
    /// The verified token; every claim is available through it.
    pub token: Token,
}

impl JwtUser {
    /// The token's claims as the application's own type (`C: Deserialize`).
    ///
    /// # Errors
    /// `Token is invalid` (401) when the claims do not fit `C`.
    pub fn claims<C: serde::de::DeserializeOwned>(&self) -> Result<C, ApiError> {
        claims_of(&self.token)
    }
}

/// A verified token's claims as the application's type; `Token is invalid` when they do not
/// fit it.
pub(crate) fn claims_of<C: serde::de::DeserializeOwned>(token: &Token) -> Result<C, ApiError> {
    serde_json::from_value(serde_json::Value::Object(token.payload().clone()))
        .map_err(|_| tessera_core::TokenError::Invalid.into())
}

/// The rejection of [`JwtUser`]: DRF's body, with `WWW-Authenticate` on a 401.
#[derive(Debug)]
pub struct VerifierRejection {
    error: ApiError,
    www_authenticate: HeaderValue,
}

impl VerifierRejection {
    /// The error inside.
    pub fn error(&self) -> &ApiError {
        &self.error
    }
}

impl IntoResponse for VerifierRejection {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if response.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, self.www_authenticate);
        }
        response
    }
}

impl<S> FromRequestParts<S> for JwtUser
where
    JwksVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = VerifierRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = JwksVerifier::from_ref(state);
        match verifier.authenticate(parts).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(ApiError::NotAuthenticated),
            Err(error) => Err(error),
        }
        .map_err(|error| VerifierRejection {
            error,
            www_authenticate: verifier.www_authenticate(),
        })
    }
}

impl<S> OptionalFromRequestParts<S> for JwtUser
where
    JwksVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = VerifierRejection;

    /// `None` for an anonymous request; a bad token is still refused.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let verifier = JwksVerifier::from_ref(state);
        verifier
            .authenticate(parts)
            .await
            .map_err(|error| VerifierRejection {
                error,
                www_authenticate: verifier.www_authenticate(),
            })
    }
}
