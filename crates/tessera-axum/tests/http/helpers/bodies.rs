//! The bodies DRF and simplejwt answer with, as the tests expect them, to the byte.

use serde_json::json;

/// 401 for requests without credentials on a protected route.
pub const NOT_PROVIDED: &str = r#"{"detail":"Authentication credentials were not provided."}"#;
/// 401 of the obtain routes.
pub const NO_ACTIVE_ACCOUNT: &str =
    r#"{"detail":"No active account found with the given credentials"}"#;
/// 401 of the refresh route for a deleted or inactive user.
pub const NO_ACTIVE_ACCOUNT_FOR_TOKEN: &str =
    r#"{"detail":"No active account found for the given token."}"#;
/// 400 of the verify route for a blacklisted token.
pub const VERIFY_BLACKLISTED: &str = r#"{"non_field_errors":["Token is blacklisted"]}"#;
/// The `WWW-Authenticate` value of every 401.
pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="api""#;
/// 401 for a token issued before the user's password change or "log out everywhere".
pub const PASSWORD_CHANGED: &str =
    r#"{"detail":"The user's password has been changed.","code":"password_changed"}"#;
/// 401 for a token of a deactivated user.
pub const USER_INACTIVE: &str = r#"{"detail":"User is inactive","code":"user_inactive"}"#;
/// 401 for a token of a deleted user.
pub const USER_NOT_FOUND: &str = r#"{"detail":"User not found","code":"user_not_found"}"#;
/// 404 of an unknown route or object.
pub const NOT_FOUND: &str = r#"{"detail":"Not found."}"#;
/// The 503 body of a request refused because the hashing queue is full.
pub const UNAVAILABLE: &str = r#"{"detail":"Service temporarily unavailable, try again later."}"#;

/// simplejwt's body for a token that fails a check: `{"detail":…,"code":"token_not_valid"}`.
pub fn token_error(detail: &str) -> String {
    json!({"detail": detail, "code": "token_not_valid"}).to_string()
}

/// The 401 body of authentication for an access token refused with `message`.
pub fn access_refused(message: &str) -> String {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
    .to_string()
}

/// One DRF field error body: `{"<field>":["<message>"]}`.
pub fn field_error(field: &str, message: &str) -> String {
    json!({ field: [message] }).to_string()
}

/// The 403 body of a refused CSRF check: `{"detail":"CSRF Failed: <reason>"}`.
pub fn csrf_failed(reason: &str) -> String {
    json!({ "detail": format!("CSRF Failed: {reason}") }).to_string()
}
