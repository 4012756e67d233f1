//! One error type for every failure a route can answer with, rendered in DRF's shapes.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
#[cfg(feature = "store")]
use tessera_auth::AuthError;
#[cfg(feature = "store")]
use tessera_auth::form::FieldErrors;
#[cfg(feature = "store")]
use tessera_auth::keys::KeysError;
use tessera_core::TokenError;
#[cfg(feature = "store")]
use tessera_store::StoreError;

/// A failed request, as DRF would answer it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// 401 `Authentication credentials were not provided.`
    NotAuthenticated,
    /// 401 with a detail and, for simplejwt's own failures, a code.
    AuthenticationFailed {
        /// Human-readable reason.
        detail: String,
        /// Machine-readable code (`user_not_found`, …); DRF's own failures have none.
        code: Option<&'static str>,
    },
    /// 401 `token_not_valid`, with one entry per token class tried when there were several.
    InvalidToken {
        /// Human-readable reason.
        detail: String,
        /// simplejwt's `messages` list, when authentication tried token classes.
        messages: Option<Vec<Value>>,
    },
    /// 403 `You do not have permission to perform this action.`
    PermissionDenied,
    /// 403 with the rule that refused the action (`{"detail": "<why>"}`), e.g. staff acting
    /// on a superuser.
    Forbidden(String),
    /// 400 field errors: `{"field": ["message", …], …}`.
    #[cfg(feature = "store")]
    Validation(FieldErrors),
    /// 400 `{"detail": "<parser message>"}` for a body that does not parse.
    Parse(String),
    /// 404 `Not found.`
    NotFound,
    /// 404 with another message (DRF's `Invalid page.`).
    NotFoundDetail(String),
    /// 405 with the method that was refused.
    MethodNotAllowed(Method),
    /// 413: the body is larger than the limit.
    PayloadTooLarge(usize),
    /// 415 with the media type that was refused.
    UnsupportedMediaType(String),
    /// 429 with `Retry-After`: DRF's throttle answer.
    Throttled {
        /// Seconds until a request will be allowed.
        wait: u64,
    },
    /// 503 with `Retry-After`: a dependency is saturated or unreachable for now.
    Unavailable {
        /// Seconds after which a retry makes sense.
        retry_after: u64,
    },
    /// 500: a fault of the server, logged, never described to the client.
    Internal(String),
}

impl ApiError {
    /// 401 with a simplejwt code in the body.
    pub fn authentication_failed(detail: impl Into<String>, code: &'static str) -> Self {
        Self::AuthenticationFailed {
            detail: detail.into(),
            code: Some(code),
        }
    }

    /// 401 as DRF's own `AuthenticationFailed` (no code in the body).
    pub fn authentication_failed_plain(detail: impl Into<String>) -> Self {
        Self::AuthenticationFailed {
            detail: detail.into(),
            code: None,
        }
    }

    /// 400 with one message for one field.
    #[cfg(feature = "store")]
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        Self::Validation(errors)
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotAuthenticated
            | Self::AuthenticationFailed { .. }
            | Self::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            #[cfg(feature = "store")]
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Parse(_) => StatusCode::BAD_REQUEST,
            Self::NotFound | Self::NotFoundDetail(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Value {
        match self {
            Self::NotAuthenticated => {
                json!({"detail": "Authentication credentials were not provided."})
            }
            Self::AuthenticationFailed {
                detail,
                code: Some(code),
            } => json!({"detail": detail, "code": code}),
            Self::AuthenticationFailed { detail, code: None } => json!({"detail": detail}),
            Self::InvalidToken {
                detail,
                messages: None,
            } => json!({"detail": detail, "code": "token_not_valid"}),
            Self::InvalidToken {
                detail,
                messages: Some(messages),
            } => {
                json!({"detail": detail, "code": "token_not_valid", "messages": messages})
            }
            Self::PermissionDenied => {
                json!({"detail": "You do not have permission to perform this action."})
            }
            #[cfg(feature = "store")]
            Self::Validation(errors) => errors.to_json(),
            Self::Parse(detail) | Self::Forbidden(detail) => json!({"detail": detail}),
            Self::NotFound => json!({"detail": "Not found."}),
            Self::NotFoundDetail(detail) => json!({"detail": detail}),
            Self::MethodNotAllowed(method) => {
                json!({"detail": format!("Method \"{method}\" not allowed.")})
            }
            Self::PayloadTooLarge(limit) => {
                json!({"detail": format!("Request body is too large (the limit is {limit} bytes).")})
            }
            Self::UnsupportedMediaType(media) => {
                json!({"detail": format!("Unsupported media type \"{media}\" in request.")})
            }
            Self::Throttled { wait } => json!({"detail": throttled_detail(*wait)}),
            Self::Unavailable { .. } => {
                json!({"detail": "Service temporarily unavailable, try again later."})
            }
            Self::Internal(_) => json!({"detail": "A server error occurred."}),
        }
    }
}

/// DRF's message: `Request was throttled. Expected available in N seconds.`, singular for 1.
pub fn throttled_detail(wait_secs: u64) -> String {
    let unit = if wait_secs == 1 { "second" } else { "seconds" };
    format!("Request was throttled. Expected available in {wait_secs} {unit}.")
}

#[cfg(feature = "store")]
const NO_VALID_TOKEN_KIND: &str = "Given token not valid for any token type";

#[cfg(feature = "store")]
impl From<AuthError> for ApiError {
    /// The service's failure as DRF (and simplejwt) answer it.
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Token(error) => error.into(),
            AuthError::NoValidTokenKind(rejections) => Self::InvalidToken {
                detail: NO_VALID_TOKEN_KIND.into(),
                messages: Some(
                    rejections
                        .iter()
                        .map(|r| {
                            json!({
                                "token_class": r.kind.class_name(),
                                "token_type": r.kind.token_type(),
                                "message": r.message,
                            })
                        })
                        .collect(),
                ),
            },
            AuthError::NoUserClaim => Self::InvalidToken {
                detail: AuthError::NoUserClaim.to_string(),
                messages: None,
            },
            AuthError::UserNotFound => {
                Self::authentication_failed("User not found", "user_not_found")
            }
            AuthError::UserInactive => {
                Self::authentication_failed("User is inactive", "user_inactive")
            }
            AuthError::PasswordChanged => Self::authentication_failed(
                "The user's password has been changed.",
                "password_changed",
            ),
            AuthError::InvalidTicket => Self::authentication_failed(
                AuthError::InvalidTicket.to_string(),
                "ticket_not_valid",
            ),
            AuthError::InvalidApiKey => Self::authentication_failed(
                AuthError::InvalidApiKey.to_string(),
                "api_key_not_valid",
            ),
            AuthError::EmailNotVerified => Self::authentication_failed(
                AuthError::EmailNotVerified.to_string(),
                "email_not_verified",
            ),
            AuthError::NoActiveAccount => {
                Self::authentication_failed_plain(AuthError::NoActiveAccount.to_string())
            }
            AuthError::MfaTokenInvalid => Self::authentication_failed(
                AuthError::MfaTokenInvalid.to_string(),
                "mfa_token_not_valid",
            ),
            AuthError::MfaRefused(detail) => Self::Parse(detail.into()),
            AuthError::InvalidCredentials => {
                Self::authentication_failed_plain(AuthError::InvalidCredentials.to_string())
            }
            AuthError::Invalid(errors) => Self::Validation(errors),
            AuthError::NotFound => Self::NotFound,
            AuthError::MailOff => Self::Parse(AuthError::MailOff.to_string()),
            AuthError::PasskeysOff => Self::Parse(AuthError::PasskeysOff.to_string()),
            AuthError::PermissionDenied(detail) => Self::Forbidden(detail),
            AuthError::Throttled { wait } => Self::Throttled { wait },
            AuthError::Busy { retry_after } => Self::Unavailable { retry_after },
            AuthError::Store(error) => error.into(),
            AuthError::Keys(KeysError::Store(error)) => error.into(),
            AuthError::Keys(KeysError::UnknownKid(_)) => Self::NotFound,
            AuthError::Keys(
                refused @ (KeysError::AlreadyRetired(_)
                | KeysError::OnlySigningKey(_)
                | KeysError::RetiredMeanwhile(_)
                | KeysError::StoredKeysEncrypted
                | KeysError::NothingSigns
                | KeysError::NotStored),
            ) => Self::Parse(refused.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

#[cfg(feature = "store")]
impl From<KeysError> for ApiError {
    fn from(error: KeysError) -> Self {
        AuthError::from(error).into()
    }
}

impl From<TokenError> for ApiError {
    /// A token that fails a check: 401 `{"detail": "<message>", "code": "token_not_valid"}`.
    fn from(error: TokenError) -> Self {
        Self::InvalidToken {
            detail: error.to_string(),
            messages: None,
        }
    }
}

/// The 400 detail for a value the database refused (DRF's `ParseError` message).
#[cfg(feature = "store")]
const REFUSED_INPUT: &str = "Malformed request.";

#[cfg(feature = "store")]
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            _ if error.is_transient() => Self::Unavailable { retry_after: 1 },
            // Input is validated before it reaches the store; what the database still
            // refuses (PostgreSQL and NUL, an index key over its limit) is the client's.
            _ if error.is_refused_input() => {
                tracing::warn!(%error, "the database refused a value of the request");
                Self::Parse(REFUSED_INPUT.into())
            }
            _ => Self::Internal(error.to_string()),
        }
    }
}

#[cfg(feature = "store")]
impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        Self::Validation(errors)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(reason) = &self {
            tracing::error!(%reason, "request failed");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Self::Unavailable {
            retry_after: seconds,
        }
        | Self::Throttled { wait: seconds } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn render(error: ApiError) -> (StatusCode, String) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn bodies_are_drfs() {
        assert_eq!(
            render(ApiError::NotAuthenticated).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"detail":"Authentication credentials were not provided."}"#.into()
            )
        );
        assert_eq!(
            render(TokenError::Expired.into()).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"detail":"Token is expired","code":"token_not_valid"}"#.into()
            )
        );
        assert_eq!(
            render(ApiError::MethodNotAllowed(Method::GET)).await,
            (
                StatusCode::METHOD_NOT_ALLOWED,
                r#"{"detail":"Method \"GET\" not allowed."}"#.into()
            )
        );
        #[cfg(feature = "store")]
        assert_eq!(
            render(ApiError::field("refresh", "This field is required.")).await,
            (
                StatusCode::BAD_REQUEST,
                r#"{"refresh":["This field is required."]}"#.into()
            )
        );
        assert_eq!(
            render(ApiError::Internal("disk on fire".into())).await,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"detail":"A server error occurred."}"#.into()
            )
        );
    }

    #[test]
    fn the_throttle_message_is_singular_for_one_second() {
        assert_eq!(
            throttled_detail(1),
            "Request was throttled. Expected available in 1 second."
        );
        assert_eq!(
            throttled_detail(42),
            "Request was throttled. Expected available in 42 seconds."
        );
    }

    #[cfg(feature = "store")]
    #[tokio::test]
    async fn service_failures_keep_simplejwts_bodies() {
        use tessera_auth::AuthError;
        use tessera_auth::keys::KeysError;
        assert_eq!(
            render(AuthError::UserInactive.into()).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"detail":"User is inactive","code":"user_inactive"}"#.into()
            )
        );
        assert_eq!(
            render(AuthError::NoActiveAccount.into()).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"detail":"No active account found for the given token."}"#.into()
            )
        );
        assert_eq!(
            render(AuthError::EmailNotVerified.into()).await,
            (
                StatusCode::UNAUTHORIZED,
                r#"{"detail":"E-mail address is not verified.","code":"email_not_verified"}"#
                    .into()
            )
        );
        assert_eq!(
            render(AuthError::NotFound.into()).await,
            (StatusCode::NOT_FOUND, r#"{"detail":"Not found."}"#.into())
        );
        assert_eq!(
            render(AuthError::Keys(KeysError::UnknownKid("k".into())).into()).await,
            (StatusCode::NOT_FOUND, r#"{"detail":"Not found."}"#.into())
        );
        assert_eq!(
            render(AuthError::Busy { retry_after: 1 }.into()).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn unavailable_says_when_to_retry() {
        let response = ApiError::Unavailable { retry_after: 3 }.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }
}
