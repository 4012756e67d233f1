//! A user's own login sessions: listed, ended one by one, or all at once.

use serde_json::json;
use tessera_store::{Session, User};

use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::service::Auth;
use tessera_store::RevokeReason;

impl Auth {
    /// The user's live sessions, newest first.
    ///
    /// # Errors
    /// The store's.
    pub async fn live_sessions(&self, user: &User) -> Result<Vec<Session>, AuthError> {
        Ok(self.store().live_sessions(user.id, self.now()).await?)
    }

    /// Ends one of the user's own sessions. Audited as `session.ended`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when it is not a live session of theirs.
    pub async fn end_own_session(
        &self,
        user: &User,
        session: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let ended = self
            .store()
            .revoke_user_session(user.id, session, RevokeReason::EndedByUser, self.now())
            .await?;
        if !ended {
            return Err(AuthError::NotFound);
        }
        self.audit(
            Audit::new(event::SESSION_ENDED)
                .user(user.id)
                .client(client)
                .session(session),
        )
        .await;
        Ok(())
    }

    /// "Log out everywhere": ends every session of the user; tokens issued before stop
    /// working. Audited as `session.logout_all`, from `session` when known. Returns how many
    /// sessions ended.
    ///
    /// # Errors
    /// The store's.
    pub async fn log_out_everywhere(
        &self,
        user: &User,
        client: &ClientInfo,
        session: Option<&str>,
    ) -> Result<u64, AuthError> {
        let ended = self
            .store()
            .log_out_everywhere(user.id, RevokeReason::LogoutAll, self.now())
            .await?;
        let mut audit = Audit::new(event::LOGOUT_ALL)
            .user(user.id)
            .client(client)
            .detail(json!({"sessions_ended": ended}));
        if let Some(sid) = session {
            audit = audit.session(sid);
        }
        self.audit(audit).await;
        Ok(ended)
    }
}
