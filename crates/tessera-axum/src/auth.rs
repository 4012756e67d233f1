//! simplejwt's `JWTAuthentication` pipeline — header, raw token, validated token, user — and
//! the extractors built on it.

use std::convert::Infallible;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tessera_auth::AuthError;
use tessera_core::Token;
use tessera_store::User;

use crate::api_key::{ApiKeyInfo, AuthVia, raw_api_key};
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

/// A refused authentication or permission: DRF's body, and on a 401 the
/// `WWW-Authenticate` challenge of the configured scheme (`Bearer realm="api"`), so the
/// extractors answer correctly on any router.
#[derive(Debug)]
pub struct AuthRejection {
    /// What was refused.
    pub error: ApiError,
    challenge: Option<HeaderValue>,
}

impl AuthRejection {
    /// `error` as `tessera`'s extractors answer it.
    pub fn new(tessera: &Tessera, error: ApiError) -> Self {
        let challenge = (error.status() == StatusCode::UNAUTHORIZED)
            .then(|| HeaderValue::from_str(tessera.www_authenticate()).ok())
            .flatten();
        Self { error, challenge }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(challenge) = self.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// An authenticated user, loaded from the store (simplejwt's `JWTAuthentication` with DRF's
/// `IsAuthenticated`), by a token or by an API key (`Authorization: Api-Key …`, see
/// [`crate::api_key`]): the same principal either way. A request without credentials is
/// refused with 401.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user, as stored.
    pub user: User,
    /// The token that authenticated the request. For an API key, an access token made in
    /// memory for the request (never signed nor sent): the user id, `client_id` (the key's
    /// prefix) and, for a limited key, `scope` — what a token minted from the key carries;
    /// no session.
    pub token: Token,
    /// Whether a token or an API key authenticated the request.
    pub via: AuthVia,
    /// The API key that authenticated the request, if one did.
    pub api_key: Option<ApiKeyInfo>,
}

impl AuthUser {
    /// The request's user: `None` for an anonymous request; bad credentials are refused. A
    /// user [`Tessera::require_authentication`] (or the throttle layer, for an API key)
    /// already authenticated is taken as it is.
    pub(crate) async fn authenticate(
        tessera: &Tessera,
        parts: &Parts,
    ) -> Result<Option<Self>, ApiError> {
        if let Some(user) = parts.extensions.get::<Self>() {
            return Ok(Some(user.clone()));
        }
        if let Some(raw) = raw_api_key(tessera, parts)? {
            let client = crate::client::client_info(tessera, parts);
            let (user, key) = tessera.auth().authenticate_api_key(raw, &client).await?;
            return Ok(Some(Self {
                token: tessera.auth().api_key_token(&user, &key),
                user,
                via: AuthVia::ApiKey,
                api_key: Some(ApiKeyInfo::from(&key)),
            }));
        }
        let Some(token) = authenticate_token(tessera, parts)? else {
            return Ok(None);
        };
        let user = user_for_token(tessera, &token).await?;
        Ok(Some(Self {
            user,
            token,
            via: AuthVia::Token,
            api_key: None,
        }))
    }

    /// Whether the credential is an API key, or a token minted from one (its `client_id`
    /// claim): the credentials refused by the routes that manage the account
    /// ([`SessionUser`](crate::SessionUser), [`IsAdminUser`](crate::IsAdminUser)).
    pub fn is_api_key(&self) -> bool {
        self.via == AuthVia::ApiKey
            || self
                .token
                .get(tessera_auth::api_keys::CLIENT_ID_CLAIM)
                .is_some()
    }

    /// The scopes the credential is limited to: a limited API key's, or a token's `scope`
    /// claim (a token minted from such a key). Empty: no limit.
    pub fn scopes(&self) -> Vec<String> {
        match &self.api_key {
            Some(key) => key.scopes.clone(),
            None => tessera_auth::api_keys::token_scopes(&self.token),
        }
    }

    /// Whether the credential grants `scope`: always when it is not limited (see
    /// [`AuthUser::scopes`]), else when `scope` is listed.
    pub fn has_scope(&self, scope: &str) -> bool {
        tessera_auth::api_keys::scopes_grant(&self.scopes(), scope)
    }

    /// Whether the user holds `permission` (`"notes.delete_note"`), as Django's
    /// `user.has_perm` answers: never when inactive, always for a superuser, otherwise held
    /// directly or through a group — read from the store now, not from the token.
    ///
    /// # Errors
    /// The store's.
    pub async fn has_perm(&self, tessera: &Tessera, permission: &str) -> Result<bool, ApiError> {
        Ok(tessera.auth().has_perm(&self.user, permission).await?)
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        match Self::authenticate(&tessera, parts).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(AuthRejection::new(&tessera, ApiError::NotAuthenticated)),
            Err(error) => Err(AuthRejection::new(&tessera, error)),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for AuthUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    /// `None` for an anonymous request; bad credentials are still refused, as DRF does.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        Self::authenticate(&tessera, parts)
            .await
            .map_err(|error| AuthRejection::new(&tessera, error))
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

    /// The request's token user: `None` for an anonymous request; bad tokens are refused.
    fn authenticate(tessera: &Tessera, parts: &Parts) -> Result<Option<Self>, ApiError> {
        authenticate_token(tessera, parts)?
            .map(|token| Self::from_token(tessera, token))
            .transpose()
    }

    /// The token's claims as the application's own type (`C: Deserialize`).
    ///
    /// # Errors
    /// `Token is invalid` (401) when the claims do not fit `C`.
    pub fn claims<C: DeserializeOwned>(&self) -> Result<C, ApiError> {
        crate::verifier::claims_of(&self.token)
    }

    /// Whether the token's `permissions` claim (`token_permission_claims = "permissions"` or
    /// `"both"`) lists `permission`. The claim is what the user held when the token was
    /// issued or last refreshed: a permission taken away since still shows until the next
    /// refresh. `false` without the claim (simplejwt's `TokenUser.has_perm`) — and the
    /// claim is left out when a user's grants exceed
    /// [`PERMISSION_CLAIMS_MAX_BYTES`](tessera_auth::accounts::PERMISSION_CLAIMS_MAX_BYTES).
    ///
    /// The claim lists what was granted, nothing more: `false` for a superuser's
    /// permission that no group or grant of theirs lists (Django's `has_perm` says yes to
    /// any permission for an active superuser; [`AuthUser::has_perm`] does too), and
    /// staff status grants none. Check the flags, or the store, where they matter.
    pub fn has_perm_claim(&self, permission: &str) -> bool {
        self.token
            .get("permissions")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|held| held.iter().any(|p| p.as_str() == Some(permission)))
    }
}

impl<S> FromRequestParts<S> for TokenUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        match Self::authenticate(&tessera, parts) {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(AuthRejection::new(&tessera, ApiError::NotAuthenticated)),
            Err(error) => Err(AuthRejection::new(&tessera, error)),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for TokenUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        Self::authenticate(&tessera, parts).map_err(|error| AuthRejection::new(&tessera, error))
    }
}

/// The claims of the request's token as the application's own type, with no store lookup
/// (the stateless authentication of [`TokenUser`], typed):
///
/// ```
/// use serde::Deserialize;
/// use tessera_axum::Claims;
///
/// #[derive(Deserialize)]
/// struct MyClaims {
///     user_id: String,
///     #[serde(default)]
///     is_premium: bool,
/// }
///
/// async fn handler(Claims(claims): Claims<MyClaims>) -> String {
///     format!("{} {}", claims.user_id, claims.is_premium)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<C>(pub C);

impl<S, C> FromRequestParts<S> for Claims<C>
where
    Tessera: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <TokenUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        user.claims()
            .map(Claims)
            .map_err(|error| AuthRejection::new(&Tessera::from_ref(state), error))
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

impl Tessera {
    /// Makes every route of `router` refuse anonymous requests with 401 — DRF's
    /// `DEFAULT_PERMISSION_CLASSES = [IsAuthenticated]`, opted into per router. Routes meant
    /// for everyone (`AllowAny`) go on a router merged after this call:
    ///
    /// ```
    /// # use axum::{Router, routing::get};
    /// # use tessera_axum::Tessera;
    /// # fn app(tessera: &Tessera) -> Router<Tessera> {
    /// let private = Router::new().route("/notes/", get(|| async { "only for users" }));
    /// let public = Router::new().route("/status/", get(|| async { "for everyone" }));
    /// tessera.require_authentication(private).merge(public)
    /// # }
    /// ```
    ///
    /// Only authentication is checked here (the token and its user, as [`AuthUser`] does);
    /// handlers still extract the user, or a [`crate::Require`] for stricter rules.
    pub fn require_authentication<S>(&self, router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        router.route_layer(axum::middleware::from_fn_with_state(
            self.clone(),
            authenticated_only,
        ))
    }
}

/// The check of [`Tessera::require_authentication`].
async fn authenticated_only(
    State(tessera): State<Tessera>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match <AuthUser as FromRequestParts<Tessera>>::from_request_parts(&mut parts, &tessera).await {
        Ok(user) => {
            // The handler's own `AuthUser` takes this one instead of authenticating again.
            parts.extensions.insert(user);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refused) => refused.into_response(),
    }
}
