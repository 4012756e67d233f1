//! Upkeep: deleting what no longer counts — sessions past their expiry, throttle rows no
//! window needs, audit events past `audit_retention` — on demand ([`Auth::flush_expired`],
//! [`Auth::prune_audit`]: `tessera flushexpiredtokens` and `tessera pruneaudit`) and in the
//! background: every [`Auth`] that is not offline runs [`Auth::upkeep`] at once and then
//! every [`UPKEEP_INTERVAL`], until its last clone is dropped or its store closes.

use std::time::Duration;

use crate::error::AuthError;
use crate::revocation::LOG_RETENTION;
use crate::service::Auth;

/// Sessions deleted per statement by [`Auth::flush_expired`], each its own short transaction.
const FLUSH_BATCH: u32 = 1000;

/// How often the background upkeep runs after its first round.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// What [`Auth::flush_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Sessions whose refresh tokens had expired, revoked or not (simplejwt's
    /// `flushexpiredtokens`).
    pub sessions: u64,
    /// Throttle records older than any throttle window, and failure counts of names neither
    /// locked nor failing lately.
    pub throttle_rows: u64,
    /// Refresh tokens imported from simplejwt (`tessera import django`) that expired.
    pub foreign_tokens: u64,
    /// WebSocket tickets that expired unused.
    pub ws_tickets: u64,
    /// Password-reset, verification, e-mail change and login tokens that expired unused.
    pub account_tokens: u64,
    /// API keys revoked or expired longer than `api_key_retention` ago.
    pub api_keys: u64,
    /// Rows of the change log older than an hour (the in-memory revocation state's feed
    /// reads them within `revocation_max_staleness`; one away longer starts over).
    pub change_log: u64,
}

impl Auth {
    /// Deletes the sessions that expired before now less `leeway` (a token is still accepted
    /// that long after its `exp`), in batches of 1000 rows so that servers keep serving
    /// while it runs, then the throttle rows that no longer count (see
    /// [`ThrottleSettings::prune_cutoffs`](crate::guard::ThrottleSettings::prune_cutoffs)).
    /// Returns how many of each went.
    ///
    /// # Errors
    /// The store's; rows deleted before the failure stay deleted, and the throttle rows are
    /// not pruned when the sessions could not be flushed.
    pub async fn flush_expired(&self) -> Result<Flushed, AuthError> {
        let now = self.now();
        let sessions = self
            .store()
            .flush_expired_sessions(now - self.settings().leeway, FLUSH_BATCH)
            .await?;
        let (hits_before, failures_before) = self.throttling().prune_cutoffs(now);
        let throttle_rows = self
            .store()
            .prune_throttles(hits_before, failures_before, now)
            .await?;
        let foreign_tokens = self
            .store()
            .flush_expired_foreign_tokens(now - self.settings().leeway)
            .await?;
        let ws_tickets = self.store().flush_expired_ws_tickets(now).await?;
        // Passkey ceremonies begun and never finished.
        self.store().flush_expired_webauthn_ceremonies(now).await?;
        // Second steps of logins never finished.
        self.store().flush_expired_mfa_challenges(now).await?;
        // Social logins never finished, their one-time codes and pending links.
        self.store().flush_expired_social(now).await?;
        let account_tokens = self.store().flush_expired_account_tokens(now).await?;
        let api_keys = self
            .store()
            .flush_api_keys(now - self.api_key_settings().api_key_retention)
            .await?;
        let change_log = self
            .store()
            .prune_change_log(LOG_RETENTION, FLUSH_BATCH)
            .await?;
        Ok(Flushed {
            sessions,
            throttle_rows,
            foreign_tokens,
            ws_tickets,
            account_tokens,
            api_keys,
            change_log,
        })
    }

    /// Deletes the audit events older than `audit_retention`; none when it is `0` (kept
    /// forever). Returns how many went.
    ///
    /// # Errors
    /// The store's; events deleted before the failure stay deleted.
    pub async fn prune_audit(&self) -> Result<u64, AuthError> {
        Ok(self.audit_log().prune().await?)
    }
}

impl Auth {
    /// One round of upkeep: old audit events, expired sessions, stale throttle rows. Failures
    /// are logged, and retried at the next round. Returns when the next round is due, or
    /// `None` once the store is closed (the background task then ends).
    pub async fn upkeep(&self) -> Option<Duration> {
        if self.store().is_closed() {
            return None;
        }
        match self.prune_audit().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned audit events past their retention"),
            Err(_) if self.store().is_closed() => return None,
            Err(error) => {
                tracing::warn!(%error, "could not prune the audit log; trying again in an hour");
            }
        }
        match self.flush_expired().await {
            Ok(flushed) => {
                if flushed.sessions > 0 {
                    tracing::info!(deleted = flushed.sessions, "flushed expired sessions");
                }
                if flushed.throttle_rows > 0 {
                    tracing::info!(
                        deleted = flushed.throttle_rows,
                        "pruned throttle rows that no longer count"
                    );
                }
            }
            Err(_) if self.store().is_closed() => return None,
            Err(error) => tracing::warn!(
                %error,
                "could not flush expired sessions and stale throttle rows; trying again in an hour"
            ),
        }
        Some(UPKEEP_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tessera_core::{Clock, Settings, Timestamp};
    use tessera_store::{
        AuditFilter, AuditOutcome, NewAuditEvent, NewSession, NewUser, PasswordHasher, SessionKind,
        Store,
    };

    use super::*;
    use crate::audit::AuditSettings;

    /// A day, in seconds.
    const DAY: i64 = 86_400;
    /// 2025-01-01T00:00:00Z.
    const T0: Timestamp = Timestamp::from_secs(1_735_689_600);

    /// A service at `T0` keeping audit events `retention_days`.
    async fn service(retention_days: u64) -> Auth {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        Auth::builder(Settings::default(), store)
            .audit(AuditSettings {
                audit_retention: Duration::from_secs(retention_days * 86_400),
            })
            .clock(Clock::manual(T0).0)
            .hasher(PasswordHasher::new(1))
            .offline()
            .build()
            .await
            .unwrap()
    }

    /// Stores one audit event for each of `days_ago`.
    async fn audit_events(auth: &Auth, days_ago: &[i64]) {
        let events: Vec<NewAuditEvent> = days_ago
            .iter()
            .map(|days| {
                NewAuditEvent::new(T0.add_secs(-days * DAY), "app.event", AuditOutcome::Success)
            })
            .collect();
        auth.store().insert_audit_events(&events).await.unwrap();
    }

    async fn audit_count(auth: &Auth) -> i64 {
        let filter = AuditFilter::default();
        auth.store()
            .list_audit_events(&filter, 10, 0)
            .await
            .unwrap()
            .0
    }

    #[tokio::test]
    async fn audit_events_go_after_the_retention_and_never_with_zero() {
        let auth = service(30).await;
        audit_events(&auth, &[40, 31, 29]).await;
        assert_eq!(auth.prune_audit().await.unwrap(), 2);
        assert_eq!(auth.prune_audit().await.unwrap(), 0);
        assert_eq!(audit_count(&auth).await, 1);

        let forever = service(0).await;
        audit_events(&forever, &[4000]).await;
        assert_eq!(forever.prune_audit().await.unwrap(), 0);
        assert_eq!(audit_count(&forever).await, 1);
    }

    #[tokio::test]
    async fn expired_sessions_and_stale_throttle_rows_are_flushed() {
        let auth = service(30).await;
        assert_eq!(auth.flush_expired().await.unwrap(), Flushed::default());
        let store = auth.store();
        let user = store
            .create_user(&NewUser {
                email: "ada@example.com".into(),
                password_hash: "!".into(),
                is_active: true,
                date_joined: T0,
                ..NewUser::default()
            })
            .await
            .unwrap();
        for (jti, expires_at) in [("old", T0.add_secs(-1)), ("live", T0.add_secs(DAY))] {
            let session = NewSession {
                user_id: user.id,
                kind: SessionKind::Refresh,
                jti: jti.into(),
                iat: expires_at.add_secs(-DAY),
                expires_at,
                user_agent: None,
                ip: None,
                now: expires_at.add_secs(-DAY),
            };
            store.create_session(&session).await.unwrap();
        }
        // A request record older than a day, and a recent one (of another client: a hit
        // trims its own key's window).
        for (key, at) in [
            ("anon:login:a", T0.add_secs(-2 * DAY)),
            ("anon:login:b", T0),
        ] {
            store
                .throttle_hit(key, 5, Duration::from_secs(86_400), at)
                .await
                .unwrap();
        }
        // A WebSocket ticket that expired unused, and a live one.
        auth.issue_ws_ticket_valid_for(&user, None, Duration::ZERO)
            .await
            .unwrap();
        let live = auth
            .issue_ws_ticket_valid_for(&user, None, Duration::from_secs(30))
            .await
            .unwrap();

        let flushed = auth.flush_expired().await.unwrap();

        assert_eq!(
            flushed,
            Flushed {
                sessions: 1,
                throttle_rows: 1,
                foreign_tokens: 0,
                ws_tickets: 1,
                account_tokens: 0,
                api_keys: 0,
                change_log: 0,
            }
        );
        assert_eq!(store.live_sessions(user.id, T0).await.unwrap().len(), 1);
        assert_eq!(
            auth.redeem_ws_ticket(&live.ticket).await.unwrap().id,
            user.id
        );
        assert_eq!(auth.flush_expired().await.unwrap(), Flushed::default());
    }

    #[tokio::test]
    async fn a_round_prunes_and_ends_with_the_store() {
        let auth = service(30).await;
        audit_events(&auth, &[40, 1]).await;
        assert_eq!(auth.upkeep().await, Some(UPKEEP_INTERVAL));
        assert_eq!(audit_count(&auth).await, 1, "the old event was pruned");
        auth.store().close().await;
        assert_eq!(auth.upkeep().await, None);
    }

    #[tokio::test]
    async fn a_service_that_is_not_offline_runs_the_upkeep_at_once() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let old = NewAuditEvent::new(T0.add_secs(-40 * DAY), "app.event", AuditOutcome::Success);
        store.insert_audit_events(&[old]).await.unwrap();
        let auth = Auth::builder(
            Settings {
                signing_key: Some("a-key-of-at-least-thirty-two-bytes-long".into()),
                ..Settings::default()
            },
            store,
        )
        .audit(AuditSettings {
            audit_retention: Duration::from_secs(30 * 86_400),
        })
        .clock(Clock::manual(T0).0)
        .hasher(PasswordHasher::new(1))
        .build()
        .await
        .unwrap();
        let mut waited = Duration::ZERO;
        while audit_count(&auth).await != 0 {
            assert!(
                waited < Duration::from_secs(10),
                "the old event was not pruned"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += Duration::from_millis(10);
        }
    }
}
