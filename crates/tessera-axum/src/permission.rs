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

/// DRF's `IsAdminUser`: staff users only.
#[derive(Debug, Clone, Copy)]
pub struct IsAdminUser;

impl<S: Send + Sync> Permission<S> for IsAdminUser {
    async fn has_permission(
        user: &AuthUser,
        _parts: &mut Parts,
        _state: &S,
    ) -> Result<bool, ApiError> {
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
