//! WebSocket tickets: a browser cannot set an `Authorization` header on a WebSocket, and a
//! token in the URL ends up in logs and histories. Instead it asks, authenticated, for a
//! ticket ([`Auth::issue_ws_ticket`]): 256 random bits, good for one WebSocket and
//! [`WS_TICKET_LIFETIME`], stored only as its SHA-256, redeemed once on any server sharing
//! the database ([`Auth::redeem_ws_ticket`]).

use std::fmt;
use std::time::Duration;

use tessera_core::KeyError;
use tessera_store::User;

use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::secret::{hex, token_hash};
use crate::service::Auth;

/// How long a ticket can be redeemed after it was issued.
pub const WS_TICKET_LIFETIME: Duration = Duration::from_secs(30);

/// The throttle scope of ticket issuance, counted per user and per client address.
pub const WS_TICKET_THROTTLE_SCOPE: &str = "ws_ticket";

/// Random bytes in a ticket.
const TICKET_BYTES: usize = 32;

/// A ticket as issued: the secret, shown once, and how long it stays valid.
#[derive(Clone, PartialEq, Eq)]
pub struct WsTicket {
    /// The ticket: 64 lowercase hexadecimal characters.
    pub ticket: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

impl fmt::Debug for WsTicket {
    /// The secret is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsTicket")
            .field("ticket", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl Auth {
    /// Issues a single-use WebSocket ticket for `user`, authenticated by a token of
    /// `session` (its `sid` claim, if it has one: ending that session voids the ticket),
    /// valid for [`WS_TICKET_LIFETIME`]. Throttled by the `ws_ticket` scope, per user and per
    /// client address.
    ///
    /// # Errors
    /// [`AuthError::Throttled`] over the rate; the store's error.
    pub async fn issue_ws_ticket(
        &self,
        user: &User,
        session: Option<&str>,
        client: &ClientInfo,
    ) -> Result<WsTicket, AuthError> {
        let by_user = format!("user_{}", user.id);
        self.throttles()
            .check_each(WS_TICKET_THROTTLE_SCOPE, &[&by_user, client.ident()])
            .await?;
        self.issue_ws_ticket_valid_for(user, session, WS_TICKET_LIFETIME)
            .await
    }

    /// [`Auth::issue_ws_ticket`] with another lifetime and no throttle: for tests and for
    /// applications with their own rules.
    ///
    /// # Errors
    /// The store's error, or a failing random generator.
    pub async fn issue_ws_ticket_valid_for(
        &self,
        user: &User,
        session: Option<&str>,
        lifetime: Duration,
    ) -> Result<WsTicket, AuthError> {
        let mut secret = [0u8; TICKET_BYTES];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| KeyError::new("the random generator failed"))?;
        // 64 hex characters (not a base64url token): the form clients and `well_formed` know.
        let ticket = hex(&secret);
        let now = self.now();
        self.store()
            .insert_ws_ticket(&token_hash(&ticket), user.id, session, now, now + lifetime)
            .await?;
        Ok(WsTicket {
            ticket,
            expires_in: lifetime.as_secs(),
        })
    }

    /// The active user a WebSocket ticket was issued for, consuming the ticket: it must be well
    /// formed, known, unused and unexpired; its session (if it had one) still live; its user
    /// still there and active (with `check_user_is_active`), and, for a ticket issued with
    /// no session, their password unchanged since. Every refusal is counted in the
    /// `tessera_ws_ticket_refused_total` metric, by `reason`.
    ///
    /// # Errors
    /// [`AuthError::InvalidTicket`], whatever the reason; the store's error.
    pub async fn redeem_ws_ticket(&self, raw: &str) -> Result<User, AuthError> {
        if !well_formed(raw) {
            return Err(refused("malformed"));
        }
        let store = self.store();
        let Some(ticket) = store.redeem_ws_ticket(&token_hash(raw), self.now()).await? else {
            return Err(refused("unknown"));
        };
        let user = match &ticket.session_id {
            Some(sid) => {
                let Some(found) = store.user_with_session(ticket.user_id, sid).await? else {
                    return Err(refused("user"));
                };
                // Gone, not this user's, or revoked (a logout, a password change …).
                if found.session.is_none_or(|state| state.revoked_at.is_some()) {
                    return Err(refused("session"));
                }
                found.user
            }
            None => {
                let Some(user) = store.user_by_id(ticket.user_id).await? else {
                    return Err(refused("user"));
                };
                if user
                    .password_changed_at
                    .is_some_and(|changed| changed >= ticket.created_at)
                {
                    return Err(refused("session"));
                }
                user
            }
        };
        if self.settings().check_user_is_active && !user.is_active {
            return Err(refused("inactive"));
        }
        Ok(user)
    }
}

/// Counts a refused redemption and answers it.
fn refused(reason: &'static str) -> AuthError {
    metrics::counter!("tessera_ws_ticket_refused_total", "reason" => reason).increment(1);
    tracing::debug!(reason, "refused a WebSocket ticket");
    AuthError::InvalidTicket
}

/// Whether `raw` can be a ticket: 64 hexadecimal characters (lowercase, as issued).
fn well_formed(raw: &str) -> bool {
    raw.len() == 2 * TICKET_BYTES && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use tessera_core::{Clock, ManualClock, Settings, Timestamp};
    use tessera_store::{
        NewSession, NewUser, PasswordHasher, RevokeReason, SessionKind, Store, User, UserFlags,
    };

    use super::*;
    use crate::guard::ThrottleSettings;

    /// 2025-01-01T00:00:00Z.
    const T0: Timestamp = Timestamp::from_secs(1_735_689_600);

    /// A service at `T0` on a fresh database with one user, Ada.
    async fn service(throttling: ThrottleSettings) -> (Auth, ManualClock, User) {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let (clock, hand) = Clock::manual(T0);
        let auth = Auth::builder(Settings::default(), store)
            .throttling(throttling)
            .clock(clock)
            .hasher(PasswordHasher::new(1))
            .offline()
            .build()
            .await
            .unwrap();
        let ada = auth
            .store()
            .create_user(&NewUser {
                email: "ada@example.com".into(),
                password_hash: "!".into(),
                is_active: true,
                date_joined: T0,
                ..NewUser::default()
            })
            .await
            .unwrap();
        (auth, hand, ada)
    }

    async fn session(auth: &Auth, user: &User) -> String {
        let new = NewSession {
            user_id: user.id,
            kind: SessionKind::Refresh,
            jti: "jti".into(),
            iat: T0,
            expires_at: T0.add_secs(86_400),
            user_agent: None,
            ip: None,
            now: T0,
        };
        auth.store().create_session(&new).await.unwrap().id
    }

    fn refused(result: Result<User, AuthError>) -> bool {
        matches!(result, Err(AuthError::InvalidTicket))
    }

    #[tokio::test]
    async fn a_ticket_opens_one_socket_within_thirty_seconds() {
        let (auth, hand, ada) = service(ThrottleSettings::default()).await;
        let sid = session(&auth, &ada).await;
        let client = ClientInfo::default();
        let issued = auth
            .issue_ws_ticket(&ada, Some(&sid), &client)
            .await
            .unwrap();
        assert_eq!(issued.expires_in, 30);
        assert!(well_formed(&issued.ticket));
        assert!(!format!("{issued:?}").contains(&issued.ticket));
        assert_eq!(
            auth.redeem_ws_ticket(&issued.ticket).await.unwrap().id,
            ada.id
        );
        assert!(refused(auth.redeem_ws_ticket(&issued.ticket).await));

        let late = auth
            .issue_ws_ticket(&ada, Some(&sid), &client)
            .await
            .unwrap();
        hand.advance_secs(29);
        let early = auth
            .issue_ws_ticket(&ada, Some(&sid), &client)
            .await
            .unwrap();
        hand.advance_secs(1);
        assert!(refused(auth.redeem_ws_ticket(&late.ticket).await));
        assert!(auth.redeem_ws_ticket(&early.ticket).await.is_ok());
    }

    #[tokio::test]
    async fn malformed_and_unknown_tickets_are_refused() {
        let (auth, _, _) = service(ThrottleSettings::default()).await;
        for raw in [
            "",
            "abc",
            &"A".repeat(64),
            &"0".repeat(64),
            &"é".repeat(32),
            &"0".repeat(100_000),
        ] {
            assert!(refused(auth.redeem_ws_ticket(raw).await), "{raw:.10}");
        }
    }

    #[tokio::test]
    async fn a_revoked_session_voids_its_tickets() {
        let (auth, _, ada) = service(ThrottleSettings::default()).await;
        let sid = session(&auth, &ada).await;
        let issued = auth
            .issue_ws_ticket_valid_for(&ada, Some(&sid), WS_TICKET_LIFETIME)
            .await
            .unwrap();
        auth.store()
            .revoke_session(&sid, RevokeReason::Logout, T0)
            .await
            .unwrap();
        assert!(refused(auth.redeem_ws_ticket(&issued.ticket).await));
    }

    #[tokio::test]
    async fn an_inactive_user_or_a_changed_password_voids_tickets() {
        let (auth, hand, ada) = service(ThrottleSettings::default()).await;
        let issued = auth
            .issue_ws_ticket_valid_for(&ada, None, WS_TICKET_LIFETIME)
            .await
            .unwrap();
        let flags = UserFlags {
            is_active: Some(false),
            ..UserFlags::default()
        };
        auth.store().set_user_flags(ada.id, &flags).await.unwrap();
        assert!(refused(auth.redeem_ws_ticket(&issued.ticket).await));
        let flags = UserFlags {
            is_active: Some(true),
            ..UserFlags::default()
        };
        auth.store().set_user_flags(ada.id, &flags).await.unwrap();

        let issued = auth
            .issue_ws_ticket_valid_for(&ada, None, WS_TICKET_LIFETIME)
            .await
            .unwrap();
        hand.advance_secs(1);
        auth.store()
            .change_password(ada.id, "!", RevokeReason::PasswordChanged, auth.now())
            .await
            .unwrap();
        assert!(refused(auth.redeem_ws_ticket(&issued.ticket).await));
    }

    #[tokio::test]
    async fn issuing_is_throttled_per_user() {
        let (auth, _, ada) = service(ThrottleSettings::default()).await;
        let client = ClientInfo::default();
        for _ in 0..60 {
            auth.issue_ws_ticket(&ada, None, &client).await.unwrap();
        }
        assert!(matches!(
            auth.issue_ws_ticket(&ada, None, &client).await,
            Err(AuthError::Throttled { .. })
        ));
    }
}
