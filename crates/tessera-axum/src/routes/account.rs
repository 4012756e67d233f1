//! The account routes of a DRF + simplejwt service (seeds/004), under `/api/auth/`:
//! register, login, logout, log out everywhere, profile, password change, and the token
//! refresh and verify views.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use tessera_store::{NewUser, StoreError, User, UserUpdate};

use crate::audit::{Audit, event};
use crate::auth::AuthUser;
use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::fields::{Fields, Trim};
use crate::payload::Payload;
use crate::representation::{account_claims, login_user_object};
use crate::routes::token::{credentials, refresh, verify};
use crate::sessions::{SESSION_CLAIM, reason};
use crate::state::Tessera;
use crate::user_fields::UserField;
use crate::validation::{EMAIL_MAX_LENGTH, UserAttributes, validate_email};

/// Django's `max_length` for first and last names.
const NAME_MAX_LENGTH: usize = 150;

/// `register/`, `login/`, `logout/`, `logout/all/`, `token/refresh/`, `token/verify/`,
/// `profile/` (GET, PUT, PATCH) and `password/change/` under `/api/auth/`.
pub fn account_routes<S>() -> Router<S>
where
    Tessera: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/api/auth/register/", post(register))
        .route("/api/auth/login/", post(login))
        .route("/api/auth/logout/", post(logout))
        .route("/api/auth/logout/all/", post(logout_all))
        .route("/api/auth/token/refresh/", post(refresh))
        .route("/api/auth/token/verify/", post(verify))
        .route(
            "/api/auth/profile/",
            get(profile).put(replace_profile).patch(update_profile),
        )
        .route("/api/auth/password/change/", post(change_password))
}

/// How a body's fields are read: creating a user, replacing a profile, or patching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Replace,
    Patch,
}

/// Reads `email`: trimmed, at most 254 characters, Django-valid, not another user's.
async fn read_email(
    tessera: &Tessera,
    fields: &mut Fields<'_>,
    mode: Mode,
    current: Option<&User>,
) -> Result<Option<String>, ApiError> {
    let email = match mode {
        Mode::Patch => fields.optional("email", Trim::Yes).filter(|e| {
            if e.is_empty() {
                fields.fail("email", "This field may not be blank.");
            }
            !e.is_empty()
        }),
        _ => fields.required("email", Trim::Yes),
    };
    let Some(email) = email else {
        return Ok(None);
    };
    // DRF runs every validator of the field and lists each failure.
    let too_long = email.chars().count() > EMAIL_MAX_LENGTH;
    if too_long {
        fields.fail(
            "email",
            format!("Ensure this field has no more than {EMAIL_MAX_LENGTH} characters."),
        );
    }
    if !validate_email(&email) {
        fields.fail("email", "Enter a valid email address.");
        return Ok(None);
    }
    if too_long {
        return Ok(None);
    }
    if let Some(other) = tessera.store().user_by_email(&email).await?
        && current.is_none_or(|me| me.id != other.id)
    {
        fields.fail("email", "user with this email already exists.");
        return Ok(None);
    }
    Ok(Some(email))
}

/// Reads an optional name (blank allowed, at most 150 characters).
fn read_name(fields: &mut Fields<'_>, name: &str) -> Option<String> {
    let value = fields.optional(name, Trim::Yes)?;
    if value.chars().count() > NAME_MAX_LENGTH {
        fields.fail(
            name,
            format!("Ensure this field has no more than {NAME_MAX_LENGTH} characters."),
        );
        return None;
    }
    Some(value)
}

/// Reads the custom user fields the user may set.
fn read_custom(
    data: &Map<String, Value>,
    declared: &[UserField],
    fields: &mut Fields<'_>,
    mode: Mode,
) -> Map<String, Value> {
    let mut values = Map::new();
    for field in declared.iter().filter(|f| !f.read_only) {
        match data.get(&field.name) {
            Some(value) => match field.parse(value) {
                Ok(parsed) => {
                    values.insert(field.name.clone(), parsed);
                }
                Err(message) => fields.fail(&field.name, message),
            },
            None if mode != Mode::Patch && field.is_required() => {
                fields.fail(&field.name, "This field is required.")
            }
            None => {}
        }
    }
    values
}

/// The password rules' messages for `password` as field `name`.
fn check_password(
    tessera: &Tessera,
    fields: &mut Fields<'_>,
    name: &str,
    password: &str,
    attributes: &UserAttributes<'_>,
) {
    for message in tessera.accounts().password.check(password, attributes) {
        fields.fail(name, message);
    }
}

/// Validates a registration body and creates the user (shared with the cookie route);
/// audited as `account.registered`.
pub(crate) async fn create_account(
    tessera: &Tessera,
    client: &ClientInfo,
    data: &Payload,
) -> Result<User, ApiError> {
    let declared = tessera.accounts().user_fields.clone();
    let mut fields = Fields::new(&data.0);
    let email = read_email(tessera, &mut fields, Mode::Create, None).await?;
    let first_name = read_name(&mut fields, "first_name").unwrap_or_default();
    let last_name = read_name(&mut fields, "last_name").unwrap_or_default();
    let mut extra = read_custom(&data.0, &declared, &mut fields, Mode::Create);
    let password = fields.required("password", Trim::No);
    if let Some(password) = &password {
        let attributes = vec![
            ("email", email.as_deref().unwrap_or_default()),
            ("first_name", first_name.as_str()),
            ("last_name", last_name.as_str()),
        ];
        check_password(tessera, &mut fields, "password", password, &attributes);
    }
    // Read after the password rules so that errors keep DRF's field order.
    let confirm = fields.required("password_confirm", Trim::No);
    fields.finish()?;
    let (email, password) = (email.unwrap_or_default(), password.unwrap_or_default());
    if Some(&password) != confirm.as_ref() {
        return Err(ApiError::field(
            "password_confirm",
            "Password fields do not match.",
        ));
    }
    for field in &declared {
        if let (false, Some(default)) = (extra.contains_key(&field.name), &field.default) {
            extra.insert(field.name.clone(), default.clone());
        }
    }
    let password_hash = tessera.hash_password(&password).await?;
    let created = tessera
        .store()
        .create_user(&NewUser {
            email,
            first_name,
            last_name,
            password_hash,
            is_active: true,
            date_joined: tessera.now_micros(),
            extra,
            ..NewUser::default()
        })
        .await;
    match created {
        Ok(user) => {
            tessera
                .audit(
                    Audit::new(event::ACCOUNT_REGISTERED)
                        .user(user.id)
                        .login_name(&user.email)
                        .client(client),
                )
                .await;
            Ok(user)
        }
        // Someone registered the same address between the check and the insert.
        Err(StoreError::DuplicateEmail) => Err(ApiError::field(
            "email",
            "user with this email already exists.",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn register(
    State(tessera): State<Tessera>,
    client: ClientInfo,
    data: Payload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    tessera.throttle("register", client.ident()).await?;
    let user = create_account(&tessera, &client, &data).await?;
    let claims = account_claims(&user, &tessera.accounts().user_fields);
    let pair = tessera.issue_pair(&user, &client, &claims).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "message": "User registered successfully",
            "user": tessera.user_object(&user),
            "tokens": {"refresh": pair.refresh, "access": pair.access},
        })),
    ))
}

async fn login(
    State(tessera): State<Tessera>,
    client: ClientInfo,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = credentials(&tessera, &client, &data).await?;
    let claims = account_claims(&user, &tessera.accounts().user_fields);
    let pair = tessera.issue_pair(&user, &client, &claims).await?;
    Ok(Json(
        json!({"refresh": pair.refresh, "access": pair.access, "user": login_user_object(&user)}),
    ))
}

/// seeds/004's logout: blacklists the caller's own refresh token.
async fn logout(
    State(tessera): State<Tessera>,
    auth: AuthUser,
    client: ClientInfo,
    data: Payload,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let bad_request = |message: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": message})));
    let raw = match data.0.get("refresh") {
        None | Some(Value::Null) => return Err(bad_request("Refresh token is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(bad_request("Refresh token is required"));
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(bad_request("Invalid or expired token")),
    };
    match tessera
        .end_session(&raw, Some(auth.user.id), reason::LOGOUT, &client)
        .await
    {
        Ok(()) => Ok(Json(json!({"message": "Successfully logged out"}))),
        Err(ApiError::InvalidToken { .. }) => Err(bad_request("Invalid or expired token")),
        Err(other) => Err((
            other.status(),
            Json(json!({"detail": "A server error occurred."})),
        ))
        .inspect_err(|_| {
            tracing::error!(error = ?other, "logout failed");
        }),
    }
}

/// Beyond simplejwt: ends every session of the caller; tokens issued before stop working.
async fn logout_all(
    State(tessera): State<Tessera>,
    auth: AuthUser,
    client: ClientInfo,
) -> Result<Json<Value>, ApiError> {
    let ended = tessera
        .store()
        .log_out_everywhere(auth.user.id, reason::LOGOUT_ALL, tessera.now_micros())
        .await?;
    tessera
        .audit(
            caller_event(event::LOGOUT_ALL, &auth, &client)
                .detail(json!({"sessions_ended": ended})),
        )
        .await;
    Ok(Json(
        json!({"message": "Successfully logged out of all sessions", "sessions_ended": ended}),
    ))
}

async fn profile(State(tessera): State<Tessera>, auth: AuthUser) -> Json<Value> {
    Json(tessera.user_object(&auth.user))
}

async fn replace_profile(
    State(tessera): State<Tessera>,
    auth: AuthUser,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    save_profile(&tessera, &auth.user, &data, Mode::Replace).await
}

async fn update_profile(
    State(tessera): State<Tessera>,
    auth: AuthUser,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    save_profile(&tessera, &auth.user, &data, Mode::Patch).await
}

/// PUT and PATCH: `email`, `first_name`, `last_name` and the user's own custom fields;
/// `id`, `date_joined` and `is_active` are read-only and ignored.
async fn save_profile(
    tessera: &Tessera,
    user: &User,
    data: &Payload,
    mode: Mode,
) -> Result<Json<Value>, ApiError> {
    let declared = tessera.accounts().user_fields.clone();
    let mut fields = Fields::new(&data.0);
    let email = read_email(tessera, &mut fields, mode, Some(user)).await?;
    let first_name = read_name(&mut fields, "first_name");
    let last_name = read_name(&mut fields, "last_name");
    let extra = read_custom(&data.0, &declared, &mut fields, mode);
    fields.finish()?;
    let update = UserUpdate {
        email,
        first_name,
        last_name,
        extra,
    };
    match tessera.store().update_user(user.id, &update).await {
        Ok(Some(updated)) => Ok(Json(tessera.user_object(&updated))),
        Ok(None) => Err(ApiError::authentication_failed(
            "User not found",
            "user_not_found",
        )),
        Err(StoreError::DuplicateEmail) => Err(ApiError::field(
            "email",
            "user with this email already exists.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// An event about the caller, from their current session.
fn caller_event(name: &str, auth: &AuthUser, client: &ClientInfo) -> Audit {
    let audit = Audit::new(name).user(auth.user.id).client(client);
    match auth.token.get(SESSION_CLAIM).and_then(Value::as_str) {
        Some(sid) => audit.session(sid),
        None => audit,
    }
}

/// seeds/004's password change, which also ends every session of the user.
async fn change_password(
    State(tessera): State<Tessera>,
    auth: AuthUser,
    client: ClientInfo,
    data: Payload,
) -> Result<Json<Value>, ApiError> {
    let user = &auth.user;
    let mut fields = Fields::new(&data.0);
    let old = fields.required("old_password", Trim::No);
    if let Some(old) = &old {
        let hash = user
            .has_usable_password()
            .then_some(user.password_hash.as_str());
        if !tessera.verify_password(old, hash).await? {
            fields.fail("old_password", "Current password is incorrect.");
        }
    }
    let new = fields.required("new_password", Trim::No);
    if let Some(new) = &new {
        let attributes = vec![
            ("username", user.username.as_deref().unwrap_or_default()),
            ("email", user.email.as_str()),
            ("first_name", user.first_name.as_str()),
            ("last_name", user.last_name.as_str()),
        ];
        check_password(&tessera, &mut fields, "new_password", new, &attributes);
    }
    // Checked after the new password's rules: DRF lists field errors in field order.
    let confirm = fields.required("new_password_confirm", Trim::No);
    fields.finish()?;
    let new = new.unwrap_or_default();
    if Some(&new) != confirm.as_ref() {
        return Err(ApiError::field(
            "new_password_confirm",
            "New password fields do not match.",
        ));
    }
    let hash = tessera.hash_password(&new).await?;
    let ended = tessera
        .store()
        .change_password(
            user.id,
            &hash,
            reason::PASSWORD_CHANGED,
            tessera.now_micros(),
        )
        .await?;
    tessera
        .audit(
            caller_event(event::PASSWORD_CHANGED, &auth, &client)
                .detail(json!({"sessions_ended": ended.unwrap_or(0)})),
        )
        .await;
    // A password reset also lifts a login lockout.
    tessera.clear_login_failures_of(user).await?;
    Ok(Json(
        json!({"message": "Password changed successfully. Please log in again."}),
    ))
}
