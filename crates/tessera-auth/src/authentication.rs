//! Authenticating a request's token, as simplejwt's `JWTAuthentication` does after reading
//! the header: the validated token (each accepted kind tried in order), then its user.

use serde_json::Value;
use tessera_core::{Token, TokenError};
use tessera_store::User;

use crate::error::{AuthError, KindRejection};
use crate::revocation::{EndedSession, SessionLookup};
use crate::service::Auth;
use tessera_store::RevokeReason;

use crate::tokens::SESSION_CLAIM;

impl Auth {
    /// Tries `raw` against each accepted token kind in order (`auth_token_classes`).
    ///
    /// # Errors
    /// [`AuthError::NoValidTokenKind`], with why each kind refused it.
    pub fn validate_token(&self, raw: &str) -> Result<Token, AuthError> {
        let now = self.now();
        let mut rejections = Vec::new();
        for kind in self.auth_kinds() {
            match self.backend().decode(kind, raw, now) {
                Ok(token) => return Ok(token),
                Err(error) => rejections.push(KindRejection {
                    kind: kind.clone(),
                    message: error.to_string(),
                }),
            }
        }
        Err(AuthError::NoValidTokenKind(rejections))
    }

    /// The refusal of a token that no accepted kind can read at all (not even its text).
    pub fn unreadable_token(&self) -> AuthError {
        AuthError::NoValidTokenKind(
            self.auth_kinds()
                .iter()
                .map(|kind| KindRejection {
                    kind: kind.clone(),
                    message: TokenError::Invalid.to_string(),
                })
                .collect(),
        )
    }

    /// The user a validated token names, loaded from the store and checked as simplejwt
    /// does — and, beyond simplejwt, refused once the token's session is revoked: after a
    /// logout, a detected reuse, a password change or a "log out everywhere"; a token
    /// minted from an API key (`client_id`), once that key is revoked or expired.
    ///
    /// # Errors
    /// [`AuthError::NoUserClaim`], [`AuthError::UserNotFound`], [`AuthError::UserInactive`],
    /// [`AuthError::PasswordChanged`], [`AuthError::InvalidApiKey`], or the token's kind
    /// refusing it as blacklisted.
    pub async fn user_for_token(&self, token: &Token) -> Result<User, AuthError> {
        let user_id = token
            .user_id(self.backend())
            .ok_or(AuthError::NoUserClaim)?;
        let id = user_id
            .parse::<i64>()
            .map_err(|_| AuthError::UserNotFound)?;
        let sid = token.get(SESSION_CLAIM).and_then(Value::as_str);
        let revocations = self.revocations();
        if revocations
            .vouches_for(self.store(), token.epoch_claim("iat"), self.now())
            .await
        {
            revocations.decided_in_memory();
            return self.user_from_memory(token, id, sid).await;
        }
        revocations.decided_by_database();
        self.user_from_database(token, id, sid).await
    }

    /// [`Auth::user_for_token`] from the in-memory state: the user record held (or loaded
    /// once), the session's end if it ended within the window. The checks and their order
    /// are those of [`Auth::user_from_database`].
    async fn user_from_memory(
        &self,
        token: &Token,
        id: i64,
        sid: Option<&str>,
    ) -> Result<User, AuthError> {
        let revocations = self.revocations();
        let user = revocations
            .user(self.store(), id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        if self.settings().check_user_is_active && !user.is_active {
            return Err(AuthError::UserInactive);
        }
        self.check_client_token(token, &user, true).await?;
        let Some(sid) = sid else {
            return issued_after_password_change(token, user);
        };
        match revocations.session(self.store(), sid).await? {
            SessionLookup::Owner(owner) if owner == user.id => Ok(user),
            SessionLookup::Ended(EndedSession::Revoked(reason)) if reason.ends_everything() => {
                Err(AuthError::PasswordChanged)
            }
            // A session that ended, is gone, or is not this user's.
            _ => Err(blacklisted(token)),
        }
    }

    /// [`Auth::user_for_token`] from the database: the user and the token's session in one
    /// round trip.
    async fn user_from_database(
        &self,
        token: &Token,
        id: i64,
        sid: Option<&str>,
    ) -> Result<User, AuthError> {
        let store = self.store();
        let (user, session) = match sid {
            Some(sid) => match store.user_with_session(id, sid).await? {
                Some(found) => (found.user, Some(found.session)),
                None => return Err(AuthError::UserNotFound),
            },
            None => (
                store.user_by_id(id).await?.ok_or(AuthError::UserNotFound)?,
                None,
            ),
        };
        if self.settings().check_user_is_active && !user.is_active {
            return Err(AuthError::UserInactive);
        }
        self.check_client_token(token, &user, false).await?;
        match session {
            // A session that is gone, or not this user's.
            Some(None) => Err(blacklisted(token)),
            Some(Some(state)) if state.revoked_at.is_some() => {
                let ends_everything = state
                    .revoked_reason
                    .is_some_and(RevokeReason::ends_everything);
                Err(if ends_everything {
                    AuthError::PasswordChanged
                } else {
                    blacklisted(token)
                })
            }
            Some(Some(_)) => Ok(user),
            None => issued_after_password_change(token, user),
        }
    }
}

/// A token with no session: only its issue time can tell whether a password change (or a
/// "log out everywhere") ended it. `iat` counts whole seconds: a token issued in the second
/// of the change stands.
fn issued_after_password_change(token: &Token, user: User) -> Result<User, AuthError> {
    if let (Some(changed), Some(issued)) = (user.password_changed_at, token.epoch_claim("iat"))
        && issued.as_secs() < changed.as_secs()
    {
        return Err(AuthError::PasswordChanged);
    }
    Ok(user)
}

/// simplejwt's answer when the token's class rejects it as blacklisted.
fn blacklisted(token: &Token) -> AuthError {
    AuthError::NoValidTokenKind(vec![KindRejection {
        kind: token.kind().clone(),
        message: TokenError::Blacklisted.to_string(),
    }])
}
