//! DRF-style permissions as types: `Require<IsAdminUser>` in a handler's arguments.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::Tessera;

/// A rule an authenticated user must pass. Anonymous requests never reach it: they get 401;
/// users it refuses get 403.
pub trait Permission: Send + Sync + 'static {
    /// Whether `user` may go on with this request.
    fn has_permission(user: &AuthUser, parts: &Parts) -> bool;
}

/// DRF's `IsAuthenticated`: any authenticated, active user.
#[derive(Debug, Clone, Copy)]
pub struct IsAuthenticated;

impl Permission for IsAuthenticated {
    fn has_permission(_user: &AuthUser, _parts: &Parts) -> bool {
        true
    }
}

/// DRF's `IsAdminUser`: staff users only.
#[derive(Debug, Clone, Copy)]
pub struct IsAdminUser;

impl Permission for IsAdminUser {
    fn has_permission(user: &AuthUser, _parts: &Parts) -> bool {
        user.user.is_staff
    }
}

/// An authenticated user that passed permission `P`.
#[derive(Debug, Clone)]
pub struct Require<P: Permission> {
    /// The authenticated user.
    pub auth: AuthUser,
    _permission: PhantomData<P>,
}

impl<P: Permission> std::ops::Deref for Require<P> {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.auth
    }
}

impl<P, S> FromRequestParts<S> for Require<P>
where
    P: Permission,
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = <AuthUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if P::has_permission(&auth, parts) {
            Ok(Self {
                auth,
                _permission: PhantomData,
            })
        } else {
            Err(ApiError::PermissionDenied)
        }
    }
}

/// Staff only: `Require<IsAdminUser>`.
pub type AdminUser = Require<IsAdminUser>;
