//! The login step every login route takes once the first factor is checked: the second
//! step, if one is owed, else the login's completion.

use serde_json::json;
use tessera_store::User;

use super::{MfaPending, MfaRoute};
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::service::Auth;

/// Where a login stands once its first factor was checked ([`Auth::login_step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Nothing more is owed: the route issues its credentials.
    Complete,
    /// A second step is owed: the route issues nothing and answers 401 with
    /// [`MfaPending::to_json`]; [`Auth::verify_mfa`] (or, for a setup,
    /// [`Auth::confirm_totp`]) completes the login.
    Pending(MfaPending),
}

impl Auth {
    /// The step after the first factor of `user` (a password checked by
    /// [`Auth::check_credentials`], a mailed code by [`Auth::login_with_code`], a social
    /// identity by [`Auth::exchange_social_code`] or [`Auth::finish_social`]) on `route`.
    /// Every login route calls it before it issues anything: a user with a second factor
    /// (or a staff member `mfa_required_for_staff` catches) gets a challenge
    /// ([`Auth::second_factor`]) and [`LoginStep::Pending`]; anyone else
    /// [`LoginStep::Complete`], and the login is recorded complete — for a social sign-in,
    /// the identity's use, `last_login` (`update_last_login`), the success counted and
    /// `social.login` audited, which a pending login gets only once its second step passes.
    ///
    /// A library that issues tokens itself ([`Auth::obtain_pair`], [`Auth::issue_pair`]…)
    /// must call this first and issue only on [`LoginStep::Complete`]: nothing else asks
    /// for the second factor.
    ///
    /// # Errors
    /// The store's; a failing random generator.
    pub async fn login_step(
        &self,
        user: &User,
        route: MfaRoute,
        client: &ClientInfo,
    ) -> Result<LoginStep, AuthError> {
        if let Some(pending) = self.second_factor(user, route, client).await? {
            return Ok(LoginStep::Pending(pending));
        }
        if let Some(identity) = route.social_identity() {
            if self.settings().update_last_login {
                self.store().set_last_login(user.id, self.now()).await?;
            }
            self.social_sign_in_completed(user, identity, client)
                .await?;
        }
        Ok(LoginStep::Complete)
    }

    /// A social sign-in through identity `identity` of `user` is complete (at once, or once
    /// its second step passed): the identity's use recorded, the success counted, audited as
    /// `social.login` (`detail.provider`).
    pub(crate) async fn social_sign_in_completed(
        &self,
        user: &User,
        identity: i64,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.now();
        self.store().touch_social_identity(identity, now).await?;
        let provider = self
            .store()
            .social_identities_of(user.id)
            .await?
            .into_iter()
            .find(|linked| linked.id == identity)
            .map(|linked| linked.provider);
        metrics::counter!("tessera_social_logins_total", "outcome" => "success").increment(1);
        self.audit(
            Audit::new(event::SOCIAL_LOGIN)
                .user(user.id)
                .login_name(self.lockout_name_of(user))
                .client(client)
                .detail(json!({"provider": provider})),
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::MfaRoute;

    #[test]
    fn a_route_is_stored_with_its_social_identity_and_read_back() {
        let routes = [
            MfaRoute::Pair,
            MfaRoute::Sliding,
            MfaRoute::Login,
            MfaRoute::CodeLogin,
            MfaRoute::CookieLogin,
            MfaRoute::SocialPair { identity: 42 },
            MfaRoute::SocialCookie { identity: 7 },
        ];
        for route in routes {
            assert_eq!(MfaRoute::parse(&route.stored()), Some(route), "{route:?}");
        }
        assert_eq!(
            MfaRoute::SocialPair { identity: 42 }.stored(),
            "social_token:42"
        );
        assert_eq!(
            MfaRoute::SocialPair { identity: 42 }.as_str(),
            "social_token"
        );
        assert_eq!(MfaRoute::Pair.social_identity(), None);
        // A social route names its identity; nothing else takes one.
        for bad in [
            "social_token",
            "social_cookie:x",
            "token:1",
            "",
            "social_token:",
        ] {
            assert_eq!(MfaRoute::parse(bad), None, "{bad}");
        }
    }
}
