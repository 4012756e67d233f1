//! The cut-over from a Django project using simplejwt (`simplejwt_cutover`): a simplejwt
//! refresh token — no `sid` claim — whose `jti` `tessera import django` imported is adopted
//! once into a new session at the refresh routes; a second presentation is reuse, and ends
//! that session — except within `refresh_reuse_grace` of the adoption, when it gets the
//! successor already issued (two tabs refreshing at once). The successor is a new token for
//! the user with the `[token_obtain]` claims: only the user id comes from Django's token.
//! A token issued before the user's last password change (or "log out everywhere") is not
//! adopted, and every write that ends all of a user's sessions blacklists their imported
//! tokens. The logout and blacklist routes blacklist such a token and end the session
//! adopted from it in one write. Access tokens need nothing: one without a session
//! authenticates until it expires.

use serde_json::json;
use tessera_core::{Timestamp, Token, TokenError, TokenKind};
use tessera_store::django::{Adoption, ForeignToken};
use tessera_store::{NewSession, RevokeReason, SessionKind, User};

use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::obtain::ObtainRoute;
use crate::rules::{PERMISSION_CLAIMS, TOKEN_OWN_CLAIMS};
use crate::service::Auth;
use crate::tokens::{Refreshed, SESSION_CLAIM};

impl Auth {
    /// A refresh with a token naming no session: refused with `refusal` unless
    /// `simplejwt_cutover` is on, and then adopted when it may be (see the module
    /// documentation). Returns the answer, the owner and the (new) session.
    pub(crate) async fn refresh_foreign(
        &self,
        token: &Token,
        refusal: AuthError,
        client: &ClientInfo,
    ) -> Result<(Refreshed, i64, String), AuthError> {
        if !self.settings().simplejwt_cutover {
            return Err(refusal);
        }
        let (backend, now) = (self.backend(), self.now());
        let (Some(jti), Some(user_id)) = (token.jti(backend), foreign_owner(self, token)) else {
            return Err(refusal);
        };
        let rotate = self.settings().rotate_refresh_tokens;
        // The user as Tessera has them: the successor carries Tessera's claims for them.
        let Some(user) = self.store().user_by_id(user_id).await? else {
            return Err(refusal);
        };
        let mut successor = self.successor_for(&user, now);
        let issued_at = token.epoch_claim("iat").unwrap_or(Timestamp::UNIX_EPOCH);
        let (first_jti, iat, expires_at) = if rotate {
            (
                successor.jti(backend).unwrap_or_default().to_owned(),
                now,
                successor.epoch_claim("exp").unwrap_or(now),
            )
        } else {
            // Without rotation the client keeps its token: the session follows that one.
            (
                jti.to_owned(),
                token.epoch_claim("iat").unwrap_or(now),
                token.epoch_claim("exp").unwrap_or(now),
            )
        };
        let new = NewSession {
            user_id,
            kind: SessionKind::Refresh,
            jti: first_jti,
            iat,
            expires_at,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            now,
        };
        match self
            .store()
            .adopt_foreign_token(jti, user_id, issued_at, &new)
            .await?
        {
            Adoption::Adopted(session) => {
                metrics::counter!("tessera_simplejwt_adopted_total").increment(1);
                successor.insert(SESSION_CLAIM, session.id.clone());
                let mut access = successor.access_token(backend, now);
                self.add_permission_claims(&mut access, user_id).await?;
                let access = backend.encode(&access)?;
                let refresh = if rotate {
                    Some(backend.encode(&successor)?)
                } else {
                    None
                };
                Ok((Refreshed { access, refresh }, user_id, session.id))
            }
            Adoption::AlreadyAdopted(row) => {
                let sid = row.session_id.clone().unwrap_or_default();
                if !rotate && self.store().touch_session(&sid, jti, now).await?.is_some() {
                    let user = self.store().user_by_id(user_id).await?;
                    if !user.is_some_and(|user| user.is_active) {
                        return Err(AuthError::NoActiveAccount);
                    }
                    successor.insert(SESSION_CLAIM, sid.clone());
                    let mut access = successor.access_token(backend, now);
                    self.add_permission_claims(&mut access, user_id).await?;
                    let access = backend.encode(&access)?;
                    return Ok((
                        Refreshed {
                            access,
                            refresh: None,
                        },
                        user_id,
                        sid,
                    ));
                }
                if rotate && let Some(again) = self.adopted_within_grace(&row, &successor).await? {
                    let mut access = again.access_token(backend, now);
                    self.add_permission_claims(&mut access, user_id).await?;
                    let access = backend.encode(&access)?;
                    let refresh = Some(backend.encode(&again)?);
                    return Ok((Refreshed { access, refresh }, user_id, sid));
                }
                if rotate
                    && self
                        .store()
                        .revoke_session(&sid, RevokeReason::ReuseDetected, now)
                        .await?
                {
                    metrics::counter!("tessera_reuse_detected_total").increment(1);
                    self.audit(
                        Audit::new(event::TOKEN_REUSE_DETECTED)
                            .user(user_id)
                            .client(client)
                            .session(&sid)
                            .detail(json!({"token": "simplejwt"})),
                    )
                    .await;
                }
                Err(TokenError::Blacklisted.into())
            }
            Adoption::Refused(row) => Err(match row {
                Some(row) if row.blacklisted_at.is_some() => TokenError::Blacklisted.into(),
                Some(row) if row.user_id == user_id && row.expires_at > now => {
                    if user.is_active {
                        // Issued before a password change or "log out everywhere".
                        AuthError::PasswordChanged
                    } else {
                        AuthError::NoActiveAccount
                    }
                }
                _ => refusal,
            }),
        }
    }

    /// A logout or blacklist with a token naming no session: refused with `refusal` unless
    /// `simplejwt_cutover` is on; then the imported token is blacklisted, and the session
    /// adopted from it, if any, ended with `why`. A token never imported has nothing to end.
    pub(crate) async fn end_foreign(
        &self,
        token: &Token,
        refusal: AuthError,
        why: RevokeReason,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if !self.settings().simplejwt_cutover {
            return Err(refusal);
        }
        let (Some(jti), Some(user_id)) = (token.jti(self.backend()), foreign_owner(self, token))
        else {
            return Err(refusal);
        };
        let now: Timestamp = self.now();
        // One statement blacklists it; the session adopted from it, if any, ends with it.
        let Some(row) = self
            .store()
            .blacklist_foreign_token(jti, user_id, why, now)
            .await?
        else {
            return Ok(());
        };
        let mut logout = Audit::new(event::LOGOUT)
            .user(user_id)
            .client(client)
            .detail(json!({"reason": why.as_str(), "token": "simplejwt"}));
        if let Some(sid) = &row.session_id {
            logout = logout.session(sid);
        }
        self.audit(logout).await;
        Ok(())
    }
}

impl Auth {
    /// The refresh token an adopted simplejwt token is rotated into: a new token for `user`
    /// with the `[token_obtain]` claims, as a login through the pair route issues — only
    /// the user id comes from Django's token, none of its other claims.
    fn successor_for(&self, user: &User, now: Timestamp) -> Token {
        let backend = self.backend();
        let mut token = Token::for_user(backend, TokenKind::refresh(), &user.id.to_string(), now);
        for (claim, value) in self.obtain_claims(user, ObtainRoute::Pair) {
            if token.get(&claim).is_none()
                && !TOKEN_OWN_CLAIMS.contains(&claim.as_str())
                && !PERMISSION_CLAIMS.contains(&claim.as_str())
            {
                token.insert(claim, value);
            }
        }
        token
    }

    /// The successor already issued for a foreign token presented again within
    /// `refresh_reuse_grace` of its adoption, while its session is live and has not rotated
    /// since — two tabs refreshing at the cut-over get the same answer, as two tabs
    /// refreshing a Tessera token do. `successor` is the token as this presentation would
    /// have rotated it; its id, times and session become the issued one's.
    async fn adopted_within_grace(
        &self,
        row: &ForeignToken,
        successor: &Token,
    ) -> Result<Option<Token>, AuthError> {
        let (grace, now) = (self.settings().refresh_reuse_grace, self.now());
        let recent = row
            .adopted_at
            .is_some_and(|at| !grace.is_zero() && now.duration_since(at) <= grace);
        let Some(sid) = row.session_id.as_deref().filter(|_| recent) else {
            return Ok(None);
        };
        let session = match self.store().session(sid).await? {
            Some(session) if !session.is_revoked() && session.rotation_counter == 0 => session,
            _ => return Ok(None),
        };
        let mut issued = successor.clone();
        issued.insert(self.backend().jti_claim(), session.current_jti.clone());
        issued.insert("exp", session.expires_at.as_secs());
        issued.insert("iat", session.current_iat.as_secs());
        issued.insert(SESSION_CLAIM, session.id);
        Ok(Some(issued))
    }

    /// The verify route with a token naming no session: under `simplejwt_cutover`, an
    /// imported refresh token is refused as simplejwt's blacklist app refuses it — when it
    /// was blacklisted, or (with `blacklist_after_rotation`) adopted, which rotated it away.
    pub(crate) async fn verify_foreign(&self, token: &Token) -> Result<(), AuthError> {
        if !self.settings().simplejwt_cutover {
            return Ok(());
        }
        let Some(jti) = token.jti(self.backend()) else {
            return Ok(());
        };
        let rotated_away_is_blacklisted = self.settings().blacklist_after_rotation;
        match self.store().foreign_token(jti).await? {
            Some(row)
                if row.blacklisted_at.is_some()
                    || (row.adopted_at.is_some() && rotated_away_is_blacklisted) =>
            {
                Err(AuthError::field(
                    "non_field_errors",
                    TokenError::Blacklisted.to_string(),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The user id of a simplejwt token (an integer, or its text).
fn foreign_owner(auth: &Auth, token: &Token) -> Option<i64> {
    token
        .user_id(auth.backend())
        .and_then(|id| id.parse::<i64>().ok())
}
