//! Issuing, refreshing and revoking tokens against login sessions.
//!
//! Every login is a session row holding its refresh-token family; refresh tokens carry its
//! id as the `sid` claim. A refresh is one conditional `UPDATE` on that row, so of any number
//! of concurrent refreshes with one token exactly one rotates; presenting a token that was
//! already rotated away revokes the session, except within `refresh_reuse_grace`, when the
//! successor already issued is handed out again.

use serde_json::{Value, json};
use tessera_core::{Claims, Timestamp, Token, TokenError, TokenKind};
use tessera_store::{NewSession, RevokeReason, Rotation, Session, SessionKind, User};

use crate::accounts::account_claims;
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::revocation::SessionLookup;
use crate::rules::{PERMISSION_CLAIMS, PermissionClaims, TOKEN_OWN_CLAIMS};
use crate::service::Auth;

/// The claim that ties a token to its login session.
pub const SESSION_CLAIM: &str = "sid";

/// Removes the claims of `token_permission_claims` (`groups`, `permissions`) from `token`.
/// Every token issued from another — an access token from a refresh token, a refresh
/// token's successor, a slid sliding token — loses them before the store's are added, so
/// that a token issued under a wider setting, or a claim that was never Tessera's, is
/// never carried forward.
pub(crate) fn strip_permission_claims(token: &mut Token) {
    for claim in PERMISSION_CLAIMS {
        token.remove(claim);
    }
}

/// A new refresh token and the access token that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// The refresh token.
    pub refresh: String,
    /// The access token.
    pub access: String,
}

/// How the user proved who they are, as `login.succeeded` records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LoginMethod {
    /// A password (or a registration): the event carries no `method`.
    #[default]
    Password,
    /// A code mailed to the address (`code/login/`): `detail.method = "code"`.
    Code,
    /// A passkey alone (`passkeys/login/finish/`, `cookie/passkey/`):
    /// `detail.method = "passkey"`.
    Passkey,
    /// An identity provider (social login): `detail.method = "social"`.
    Social,
}

impl LoginMethod {
    /// The `detail.method` of `login.succeeded`; `None` for a password.
    pub fn audit_name(self) -> Option<&'static str> {
        match self {
            Self::Password => None,
            Self::Code => Some("code"),
            Self::Passkey => Some("passkey"),
            Self::Social => Some("social"),
        }
    }
}

/// What a refresh hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// A new access token.
    pub access: String,
    /// The successor refresh token, when rotation is on.
    pub refresh: Option<String>,
}

impl Auth {
    /// Opens a session for `user` and issues its first refresh token and an access token.
    /// `claims` are added to both, after the user id; none replaces a claim the token
    /// already carries (its type, times, id, user id or session) nor any of
    /// [`TOKEN_OWN_CLAIMS`](crate::rules::TOKEN_OWN_CLAIMS) (`nbf`, `aud`, `iss`, `sub` …)
    /// nor takes the name `groups` or `permissions`
    /// ([`PERMISSION_CLAIMS`](crate::rules::PERMISSION_CLAIMS), set from the store by
    /// `token_permission_claims` alone).
    /// Audited as `login.succeeded`.
    pub async fn issue_pair(
        &self,
        user: &User,
        client: &ClientInfo,
        claims: &Claims,
    ) -> Result<TokenPair, AuthError> {
        self.issue_pair_by(user, client, claims, LoginMethod::Password)
            .await
    }

    /// [`Auth::issue_pair`] for a login by `method`, recorded in `login.succeeded`.
    ///
    /// # Errors
    /// As [`Auth::issue_pair`].
    pub async fn issue_pair_by(
        &self,
        user: &User,
        client: &ClientInfo,
        claims: &Claims,
        method: LoginMethod,
    ) -> Result<TokenPair, AuthError> {
        let now = self.now();
        let refresh = self
            .open_session(TokenKind::refresh(), user, client, claims, now, method)
            .await?;
        let mut access = refresh.access_token(self.backend(), now);
        self.add_permission_claims(&mut access, user.id).await?;
        Ok(TokenPair {
            refresh: self.backend().encode(&refresh)?,
            access: self.backend().encode(&access)?,
        })
    }

    /// [`Auth::issue_pair`] with the account claims of a login or a registration: `email`,
    /// `first_name`, `last_name`, `full_name` and the custom fields marked `claim`.
    ///
    /// # Errors
    /// As [`Auth::issue_pair`].
    pub async fn issue_account_pair(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<TokenPair, AuthError> {
        self.issue_account_pair_by(user, client, LoginMethod::Password)
            .await
    }

    /// [`Auth::issue_account_pair`] for a login by `method` (a code login:
    /// [`LoginMethod::Code`]), recorded in `login.succeeded`. It checks nothing: for a
    /// login, call it only once [`Auth::login_step`] answered
    /// [`LoginStep::Complete`](crate::mfa::LoginStep::Complete) or
    /// [`Auth::verify_mfa`] passed.
    ///
    /// # Errors
    /// As [`Auth::issue_pair`].
    pub async fn issue_account_pair_by(
        &self,
        user: &User,
        client: &ClientInfo,
        method: LoginMethod,
    ) -> Result<TokenPair, AuthError> {
        let claims = account_claims(user, &self.accounts().user_fields);
        self.issue_pair_by(user, client, &claims, method).await
    }

    /// Opens a session for `user` and issues a sliding token. Audited as `login.succeeded`.
    pub async fn issue_sliding(
        &self,
        user: &User,
        client: &ClientInfo,
        claims: &Claims,
    ) -> Result<String, AuthError> {
        let now = self.now();
        let mut token = self
            .open_session(
                TokenKind::sliding(),
                user,
                client,
                claims,
                now,
                LoginMethod::Password,
            )
            .await?;
        self.add_permission_claims(&mut token, user.id).await?;
        Ok(self.backend().encode(&token)?)
    }

    async fn open_session(
        &self,
        kind: TokenKind,
        user: &User,
        client: &ClientInfo,
        claims: &Claims,
        now: Timestamp,
        method: LoginMethod,
    ) -> Result<Token, AuthError> {
        let backend = self.backend();
        let sliding = kind == TokenKind::sliding();
        let mut token = Token::for_user(backend, kind, &user.id.to_string(), now);
        let jti = token.jti(backend).unwrap_or_default().to_owned();
        let expires_at = if sliding {
            token.epoch_claim(backend.refresh_exp_claim())
        } else {
            token.epoch_claim("exp")
        }
        .unwrap_or(now);
        let session = self
            .store()
            .create_session(&NewSession {
                user_id: user.id,
                kind: if sliding {
                    SessionKind::Sliding
                } else {
                    SessionKind::Refresh
                },
                jti,
                iat: now,
                expires_at,
                user_agent: client.user_agent.clone(),
                ip: client.ip.clone(),
                now,
            })
            .await?;
        let mut login = Audit::new(event::LOGIN_SUCCEEDED)
            .user(user.id)
            .client(client)
            .session(&session.id);
        if let Some(name) = self.login_name_of(user) {
            login = login.login_name(name);
        }
        let mut detail = serde_json::Map::new();
        if sliding {
            detail.insert("kind".into(), "sliding".into());
        }
        if let Some(method) = method.audit_name() {
            detail.insert("method".into(), method.into());
        }
        if !detail.is_empty() {
            login = login.detail(Value::Object(detail));
        }
        self.audit(login).await;
        token.insert(SESSION_CLAIM, session.id);
        for (claim, value) in claims {
            // Added claims never replace one the token carries (type, times, id, user id,
            // session) nor a registered claim the backend checks: they only add. Nor do they
            // take the names of `token_permission_claims`, which only the store's grants set.
            if token.get(claim).is_none()
                && !TOKEN_OWN_CLAIMS.contains(&claim.as_str())
                && !PERMISSION_CLAIMS.contains(&claim.as_str())
            {
                token.insert(claim.clone(), value.clone());
            }
        }
        Ok(token)
    }

    /// Sets the claims of `token_permission_claims` (`groups`, `permissions`) on an access
    /// (or sliding) token of user `user_id`, as the store holds them now: whatever the
    /// token carried under those names goes first (see [`strip_permission_claims`]), then
    /// what the setting asks for is added — nothing when it is `off`.
    pub(crate) async fn add_permission_claims(
        &self,
        token: &mut Token,
        user_id: i64,
    ) -> Result<(), AuthError> {
        strip_permission_claims(token);
        if self.accounts().token_permission_claims == PermissionClaims::Off {
            return Ok(());
        }
        for (claim, value) in self.permission_claims(user_id).await? {
            token.insert(claim, value);
        }
        Ok(())
    }

    /// The session a token names, or `Token is invalid` when it names none.
    fn session_id(token: &Token) -> Result<String, AuthError> {
        match token.get(SESSION_CLAIM) {
            Some(Value::String(sid)) => Ok(sid.clone()),
            _ => Err(TokenError::Invalid.into()),
        }
    }

    fn jti(&self, token: &Token) -> Result<String, AuthError> {
        token
            .jti(self.backend())
            .map(str::to_owned)
            .ok_or_else(|| TokenError::Invalid.into())
    }

    /// The active user a token was issued to, or 401 `No active account found for the given token.`
    async fn active_owner(&self, token: &Token) -> Result<User, AuthError> {
        let user_id = token
            .user_id(self.backend())
            .and_then(|id| id.parse::<i64>().ok());
        let Some(user_id) = user_id else {
            return Err(AuthError::NoActiveAccount);
        };
        match self.store().user_by_id(user_id).await? {
            Some(user) if user.is_active => Ok(user),
            _ => Err(AuthError::NoActiveAccount),
        }
    }

    /// simplejwt's refresh view, with atomic rotation and reuse detection. Audited as
    /// `token.refreshed` (and `token.reuse_detected` when a replay revokes the session).
    pub async fn refresh(&self, raw: &str, client: &ClientInfo) -> Result<Refreshed, AuthError> {
        let result = self.rotate_or_refresh(raw, client).await;
        let outcome = if result.is_ok() { "success" } else { "refused" };
        metrics::counter!("tessera_refreshes_total", "outcome" => outcome).increment(1);
        let (refreshed, owner, sid) = result?;
        self.audit(
            Audit::new(event::TOKEN_REFRESHED)
                .user(owner)
                .client(client)
                .session(&sid),
        )
        .await;
        Ok(refreshed)
    }

    /// The refresh, and whose session it was: the owner's id and the session id.
    async fn rotate_or_refresh(
        &self,
        raw: &str,
        client: &ClientInfo,
    ) -> Result<(Refreshed, i64, String), AuthError> {
        let backend = self.backend();
        let now = self.now();
        let mut token = backend.decode(&TokenKind::refresh(), raw, now)?;
        let sid = match Self::session_id(&token) {
            Ok(sid) => sid,
            // A simplejwt refresh token, adopted under `simplejwt_cutover` (cutover.rs).
            Err(refusal) => return self.refresh_foreign(&token, refusal, client).await,
        };
        let jti = self.jti(&token)?;
        // Neither the access token nor the successor carries what the presented one did.
        strip_permission_claims(&mut token);
        let mut access = token.access_token(backend, now);
        if let Some(user_id) = token.user_id(backend).and_then(|id| id.parse::<i64>().ok()) {
            self.add_permission_claims(&mut access, user_id).await?;
        }
        let access = backend.encode(&access)?;
        let settings = self.settings();

        if !settings.rotate_refresh_tokens {
            let owner = self.active_owner(&token).await?.id;
            return match self.store().touch_session(&sid, &jti, now).await? {
                Some(_) => Ok((
                    Refreshed {
                        access,
                        refresh: None,
                    },
                    owner,
                    sid,
                )),
                None => Err(self.stale_token(&sid, &jti, client).await?),
            };
        }

        let mut successor = token.clone();
        successor.rotate(backend, now);
        let rotation = Rotation {
            new_jti: self.jti(&successor)?,
            new_iat: now,
            new_expires_at: successor.epoch_claim("exp").unwrap_or(now),
            now,
        };
        if !settings.blacklist_after_rotation {
            // Without blacklisting, every refresh token of a live session stays usable; the
            // row only follows the newest one.
            let owner = self.active_owner(&token).await?.id;
            let session = self.live_session(&sid).await?;
            self.store()
                .rotate_session(&sid, &session.current_jti, &rotation)
                .await?;
            let refresh = Some(backend.encode(&successor)?);
            return Ok((Refreshed { access, refresh }, owner, sid));
        }
        // The rotation checks that the owner is active in the same statement, so a
        // successful refresh costs one query.
        if let Some(owner) = self.store().rotate_session(&sid, &jti, &rotation).await? {
            let refresh = Some(backend.encode(&successor)?);
            return Ok((Refreshed { access, refresh }, owner, sid));
        }
        // An inactive owner, a lost race or a replay: the user and session rows say which.
        let owner = self.active_owner(&token).await?.id;
        let session = self.live_session(&sid).await?;
        if self.within_grace(&session, &jti) {
            let mut issued = token;
            issued.insert(backend.jti_claim(), session.current_jti.clone());
            issued.insert("exp", session.expires_at.as_secs());
            issued.insert("iat", session.current_iat.as_secs());
            let refresh = Some(backend.encode(&issued)?);
            return Ok((Refreshed { access, refresh }, owner, sid));
        }
        Err(self.stale_token(&sid, &jti, client).await?)
    }

    /// The session, or `Token is blacklisted` when it is revoked or gone.
    async fn live_session(&self, sid: &str) -> Result<Session, AuthError> {
        match self.store().session(sid).await? {
            Some(session) if !session.is_revoked() => Ok(session),
            _ => Err(TokenError::Blacklisted.into()),
        }
    }

    /// Whether `jti` was rotated away so recently that a duplicate refresh is forgiven.
    fn within_grace(&self, session: &Session, jti: &str) -> bool {
        let grace = self.settings().refresh_reuse_grace;
        !grace.is_zero()
            && session.previous_jti.as_deref() == Some(jti)
            && session
                .rotated_at
                .is_some_and(|at| self.now().duration_since(at) <= grace)
    }

    /// A token that is not its session's current one: a replay revokes the session (the
    /// `token.reuse_detected` event names who presented it).
    async fn stale_token(
        &self,
        sid: &str,
        jti: &str,
        client: &ClientInfo,
    ) -> Result<AuthError, AuthError> {
        let session = self.live_session(sid).await?;
        if session.current_jti != jti
            && self
                .store()
                .revoke_session(sid, RevokeReason::ReuseDetected, self.now())
                .await?
        {
            metrics::counter!("tessera_reuse_detected_total").increment(1);
            self.audit(
                Audit::new(event::TOKEN_REUSE_DETECTED)
                    .user(session.user_id)
                    .client(client)
                    .session(sid),
            )
            .await;
        }
        Ok(TokenError::Blacklisted.into())
    }

    /// simplejwt's blacklist view: ends the token's session.
    pub async fn blacklist(&self, raw: &str, client: &ClientInfo) -> Result<(), AuthError> {
        self.end_session(raw, None, RevokeReason::Blacklisted, client)
            .await
    }

    /// Ends the session of a refresh token; with `owner`, only when the token is that
    /// user's (a logout may not end someone else's session). Audited as `session.logout`
    /// with `why` as the reason.
    pub async fn end_session(
        &self,
        raw: &str,
        owner: Option<i64>,
        why: RevokeReason,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let token = self
            .backend()
            .decode(&TokenKind::refresh(), raw, self.now())?;
        if let Some(owner) = owner
            && token.user_id(self.backend()) != Some(owner.to_string())
        {
            return Err(TokenError::Invalid.into());
        }
        let sid = match Self::session_id(&token) {
            Ok(sid) => sid,
            // A simplejwt refresh token, blacklisted under `simplejwt_cutover` (cutover.rs).
            Err(refusal) => return self.end_foreign(&token, refusal, why, client).await,
        };
        let jti = self.jti(&token)?;
        let now = self.now();
        let ended = self
            .store()
            .revoke_session_if_current(&sid, &jti, why, now)
            .await?;
        if !ended {
            let session = self.live_session(&sid).await?;
            if !self.within_grace(&session, &jti) {
                return Err(self.stale_token(&sid, &jti, client).await?);
            }
            // A second tab logging out with the token another tab just rotated.
            self.store().revoke_session(&sid, why, now).await?;
        }
        let mut logout = Audit::new(event::LOGOUT)
            .client(client)
            .session(&sid)
            .detail(json!({"reason": why.as_str()}));
        if let Some(user) = token
            .user_id(self.backend())
            .and_then(|id| id.parse::<i64>().ok())
        {
            logout = logout.user(user);
        }
        self.audit(logout).await;
        Ok(())
    }

    /// simplejwt's verify view: signature, expiry and id of a token of any type, then
    /// whether it was blacklisted (always checked, unlike simplejwt). A refresh token that was
    /// rotated away counts as blacklisted only with `blacklist_after_rotation`: without it,
    /// it still refreshes.
    pub async fn verify(&self, raw: &str) -> Result<(), AuthError> {
        let backend = self.backend();
        let token = backend.decode_untyped(raw, self.now())?;
        let Some(Value::String(sid)) = token.get(SESSION_CLAIM) else {
            // A simplejwt token: blacklisted or adopted under `simplejwt_cutover` (cutover.rs).
            return self.verify_foreign(&token).await;
        };
        let rotated_away_is_blacklisted = self.settings().blacklist_after_rotation;
        let family_token = token
            .get(backend.token_type_claim())
            .and_then(Value::as_str)
            .is_some_and(|t| {
                (t == TokenKind::refresh().token_type() && rotated_away_is_blacklisted)
                    || t == TokenKind::sliding().token_type()
            });
        // A token that is not its family's current one needs the session's row; any other
        // is decided by whether its session ended, from memory when memory can vouch.
        let revocations = self.revocations();
        if !family_token
            && revocations
                .vouches_for(self.store(), token.epoch_claim("iat"), self.now())
                .await
        {
            revocations.decided_in_memory();
            let live = matches!(
                revocations.session(self.store(), sid).await?,
                SessionLookup::Owner(_)
            );
            if !live {
                return Err(AuthError::field(
                    "non_field_errors",
                    TokenError::Blacklisted.to_string(),
                ));
            }
            return Ok(());
        }
        revocations.decided_by_database();
        let session = self.store().session(sid).await?;
        let blacklisted = match session {
            None => true,
            Some(session) => {
                session.is_revoked()
                    || (family_token && token.jti(backend) != Some(session.current_jti.as_str()))
            }
        };
        if blacklisted {
            return Err(AuthError::field(
                "non_field_errors",
                TokenError::Blacklisted.to_string(),
            ));
        }
        Ok(())
    }

    /// simplejwt's sliding refresh: a new `exp`, same `jti` and `refresh_exp`. Works inside
    /// `refresh_exp` even after `exp` has passed. Audited as `token.refreshed`.
    pub async fn refresh_sliding(
        &self,
        raw: &str,
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        let backend = self.backend();
        let now = self.now();
        let options = tessera_core::DecodeOptions {
            verify_exp: false,
            verify_type: true,
        };
        let mut token = backend.decode_with(&TokenKind::sliding(), raw, now, options)?;
        token.check_exp(backend, backend.refresh_exp_claim(), now)?;
        let sid = Self::session_id(&token)?;
        let jti = self.jti(&token)?;
        let owner = self.active_owner(&token).await?.id;
        if self
            .store()
            .slide_session(&sid, &jti, now, now)
            .await?
            .is_none()
        {
            return Err(TokenError::Blacklisted.into());
        }
        self.audit(
            Audit::new(event::TOKEN_REFRESHED)
                .user(owner)
                .client(client)
                .session(&sid)
                .detail(json!({"kind": "sliding"})),
        )
        .await;
        token.slide(backend, now);
        self.add_permission_claims(&mut token, owner).await?;
        Ok(backend.encode(&token)?)
    }
}
