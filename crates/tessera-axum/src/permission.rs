//! DRF-style permissions as types: `Require<IsAdminUser>` in a handler's arguments, or an
//! application's own rule — an owner check, a custom user field — as one small impl that
//! sees the request and the application's state.
//!
//! ```
//! use axum::extract::FromRef;
//! use axum::http::request::Parts;
//! use tessera_axum::{ApiError, AuthUser, Permission, Require, Tessera};
//!
//! /// Only users whose `is_premium` custom field is true.
//! struct IsPremium;
//!
//! impl<S: Send + Sync> Permission<S> for IsPremium {
//!     async fn has_permission(user: &AuthUser, _parts: &mut Parts, _state: &S) -> Result<bool, ApiError> {
//!         Ok(user.user.extra.get("is_premium").and_then(|v| v.as_bool()) == Some(true))
//!     }
//! }
//!
//! async fn premium_only(user: Require<IsPremium>) -> String {
//!     format!("welcome, {}", user.user.email)
//! }
//! ```

use std::future::Future;
use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::auth::{AuthRejection, AuthUser};
use crate::error::ApiError;
use crate::state::Tessera;

/// A rule an authenticated user must pass, with the request's parts (path, query, headers)
/// and the application's state `S` at hand — so object and owner checks can look the object
/// up. Anonymous requests never reach it: they get 401; users it refuses get 403. An error
/// it returns is the answer (a 404 for an object that is not there, say).
pub trait Permission<S>: Send + Sync + 'static {
    /// Whether `user` may go on with this request.
    fn has_permission(
        user: &AuthUser,
        parts: &mut Parts,
        state: &S,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send;
}

/// DRF's `IsAuthenticated`: any authenticated, active user.
#[derive(Debug, Clone, Copy)]
pub struct IsAuthenticated;

impl<S: Send + Sync> Permission<S> for IsAuthenticated {
    async fn has_permission(
        _user: &AuthUser,
        _parts: &mut Parts,
        _state: &S,
    ) -> Result<bool, ApiError> {
        Ok(true)
    }
}

/// DRF's `IsAdminUser`: staff users only, and only with the credential of a login: an API
/// key, or a token minted from one, is refused with 403
/// [`SESSION_REQUIRED`](crate::SESSION_REQUIRED) whoever holds it (a staff member's key
/// never reaches the admin routes).
#[derive(Debug, Clone, Copy)]
pub struct IsAdminUser;

impl<S: Send + Sync> Permission<S> for IsAdminUser {
    async fn has_permission(
        user: &AuthUser,
        _parts: &mut Parts,
        _state: &S,
    ) -> Result<bool, ApiError> {
        if user.is_api_key() {
            return Err(crate::api_key::session_required());
        }
        Ok(user.user.is_staff)
    }
}

/// An authenticated user that passed permission `P`.
#[derive(Debug, Clone)]
pub struct Require<P> {
    /// The authenticated user.
    pub auth: AuthUser,
    _permission: PhantomData<fn() -> P>,
}

impl<P> std::ops::Deref for Require<P> {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.auth
    }
}

impl<P, S> FromRequestParts<S> for Require<P>
where
    P: Permission<S>,
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let refused = |error| AuthRejection::new(&Tessera::from_ref(state), error);
        match P::has_permission(&auth, parts, state).await {
            Ok(true) => Ok(Self {
                auth,
                _permission: PhantomData,
            }),
            Ok(false) => Err(refused(ApiError::PermissionDenied)),
            Err(error) => Err(refused(error)),
        }
    }
}

/// Staff only: `Require<IsAdminUser>`.
pub type AdminUser = Require<IsAdminUser>;

/// A permission's name, `app_label.codename` as Django's `User.has_perm` takes it: the
/// parameter of [`HasPerm`]. [`perm!`](crate::perm) declares one in a line.
pub trait PermName: Send + Sync + 'static {
    /// The permission, `"notes.delete_note"`.
    const PERM: &'static str;
}

/// Users who hold the permission `P` — themselves or through a group; every active
/// superuser (Django's `permission_required`, `ModelBackend`'s rules: see
/// [`Auth::has_perm`](tessera_auth::Auth::has_perm)). Checked against the store on each
/// request, so a permission taken away counts at once, whatever the token's claims say.
///
/// ```
/// use tessera_axum::{HasPerm, Require, perm};
///
/// perm!(
///     /// `notes.delete_note`.
///     pub DeleteNote = "notes.delete_note"
/// );
///
/// async fn delete_note(user: Require<HasPerm<DeleteNote>>) -> String {
///     format!("{} may delete notes", user.user.email)
/// }
/// # let _ = axum::routing::delete::<_, _, tessera_axum::Tessera>(delete_note);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HasPerm<P>(PhantomData<fn() -> P>);

impl<S, P> Permission<S> for HasPerm<P>
where
    P: PermName,
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    async fn has_permission(
        user: &AuthUser,
        _parts: &mut Parts,
        state: &S,
    ) -> Result<bool, ApiError> {
        user.has_perm(&Tessera::from_ref(state), P::PERM).await
    }
}

/// Whether `permission` is `app_label.codename` (lower-case ASCII letters, digits and `_`,
/// at most 100 of them on each side of the one dot), in a `const` context: what
/// [`perm!`](crate::perm) checks at compile time.
#[doc(hidden)]
pub const fn is_perm_name(permission: &str) -> bool {
    let bytes = permission.as_bytes();
    let (mut i, mut dot, mut part) = (0, false, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            if dot || part == 0 {
                return false;
            }
            dot = true;
            part = 0;
        } else if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' {
            part += 1;
            if part > 100 {
                return false;
            }
        } else {
            return false;
        }
        i += 1;
    }
    dot && part > 0
}

/// Declares a [`PermName`]: `perm!(pub DeleteNote = "notes.delete_note");` is a unit
/// struct `DeleteNote` whose permission is `notes.delete_note`, for
/// `Require<HasPerm<DeleteNote>>`. A string that is not `app_label.codename` does not
/// compile.
///
/// ```compile_fail
/// tessera_axum::perm!(Bad = "Notes.Delete");
/// ```
#[macro_export]
macro_rules! perm {
    ($(#[$meta:meta])* $vis:vis $name:ident = $perm:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        const _: () = assert!(
            $crate::__is_perm_name($perm),
            "a permission is \"app_label.codename\""
        );

        impl $crate::PermName for $name {
            const PERM: &'static str = $perm;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::is_perm_name;

    #[test]
    fn the_compile_time_check_agrees_with_the_store() {
        let long = format!("{}.b", "a".repeat(101));
        for name in [
            "notes.delete_note",
            "a.b",
            "a1_.b_2",
            "",
            ".",
            "a.",
            ".b",
            "a.b.c",
            "A.b",
            "a.b-c",
            "a.é",
            long.as_str(),
        ] {
            assert_eq!(
                is_perm_name(name),
                tessera_store::is_valid_permission(name),
                "{name:?}"
            );
        }
    }
}
