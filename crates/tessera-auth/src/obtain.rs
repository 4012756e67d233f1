//! The obtain routes' use cases: simplejwt's `TokenObtainPairSerializer` and
//! `TokenObtainSlidingSerializer` for a user whose credentials were checked — a new login
//! session, its tokens with the configured claims (`[token_obtain]`,
//! `[token_obtain_sliding]`) and those an [`ObtainHook`] adds, and the answer's fields.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use tessera_core::Claims;
use tessera_store::User;

use crate::accounts::user_field_value;
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::rules::TokenObtain;
use crate::service::Auth;
use crate::tokens::LoginMethod;

/// Which obtain route a login came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObtainRoute {
    /// `POST token/`: a refresh and an access token.
    Pair,
    /// `POST token/sliding/`: one sliding token.
    Sliding,
}

/// Code run by the obtain routes for what configuration cannot say — the two methods a DRF
/// project overrides in its `TokenObtainPairSerializer` subclass. Both run after the
/// configured fields, and both default to adding nothing.
///
/// ```
/// use serde_json::{Map, Value, json};
/// use tessera_auth::obtain::{ObtainHook, ObtainRoute};
/// use tessera_core::Claims;
/// use tessera_store::User;
///
/// /// seed-style `get_token`: a computed role claim; `validate`: a greeting in the answer.
/// struct Roles;
///
/// impl ObtainHook for Roles {
///     fn claims(&self, user: &User, _route: ObtainRoute, claims: &mut Claims) {
///         let role = if user.is_staff { "staff" } else { "member" };
///         claims.insert("role".into(), json!(role));
///     }
///     fn answer(&self, user: &User, _route: ObtainRoute, answer: &mut Map<String, Value>) {
///         answer.insert("greeting".into(), json!(format!("Hello, {}", user.first_name)));
///     }
/// }
/// ```
pub trait ObtainHook: Send + Sync + 'static {
    /// simplejwt's `get_token(user)`: claims added to the new token(s). A claim the token
    /// carries of its own ([`TOKEN_OWN_CLAIMS`](crate::rules::TOKEN_OWN_CLAIMS)) is never
    /// replaced, and `groups` and `permissions` are left out: `token_permission_claims`
    /// alone sets them, from the store.
    fn claims(&self, user: &User, route: ObtainRoute, claims: &mut Claims) {
        let _ = (user, route, claims);
    }

    /// simplejwt's `validate(attrs)`: fields added to the answer next to the tokens (and
    /// the configured `user`). The tokens' own fields (`refresh`, `access`, `token`) are
    /// never replaced.
    fn answer(&self, user: &User, route: ObtainRoute, answer: &mut Map<String, Value>) {
        let _ = (user, route, answer);
    }
}

/// The service's hook, if any: cheap to clone, printable.
#[derive(Clone, Default)]
pub(crate) struct ObtainHookSlot(Option<Arc<dyn ObtainHook>>);

impl ObtainHookSlot {
    pub(crate) fn new(hook: impl ObtainHook) -> Self {
        Self(Some(Arc::new(hook)))
    }
}

impl fmt::Debug for ObtainHookSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ObtainHook(set)"
        } else {
            "ObtainHook(none)"
        })
    }
}

impl Auth {
    /// `POST token/` for a user whose credentials were checked: opens a session and answers
    /// `{"refresh","access"}`, then `user` when `[token_obtain] response_user` names fields,
    /// then what the [`ObtainHook`] adds. Both tokens carry the `[token_obtain] claims`.
    /// Audited as `login.succeeded`.
    ///
    /// It checks nothing: for a login, call it only once [`Auth::login_step`] answered
    /// [`LoginStep::Complete`](crate::mfa::LoginStep::Complete) (or
    /// [`Auth::verify_mfa`] passed), else the second factor is skipped.
    ///
    /// # Errors
    /// The store's, or the signing key's.
    pub async fn obtain_pair(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<Map<String, Value>, AuthError> {
        self.obtain_pair_by(user, client, LoginMethod::Password)
            .await
    }

    /// [`Auth::obtain_pair`] for a login by `method` (a passkey, an identity provider),
    /// recorded in `login.succeeded`.
    ///
    /// # Errors
    /// As [`Auth::obtain_pair`].
    pub async fn obtain_pair_by(
        &self,
        user: &User,
        client: &ClientInfo,
        method: LoginMethod,
    ) -> Result<Map<String, Value>, AuthError> {
        let route = ObtainRoute::Pair;
        let claims = self.obtain_claims(user, route);
        let pair = self.issue_pair_by(user, client, &claims, method).await?;
        let mut answer = Map::new();
        answer.insert("refresh".into(), Value::String(pair.refresh));
        answer.insert("access".into(), Value::String(pair.access));
        Ok(self.obtain_answer(user, route, answer))
    }

    /// `POST token/sliding/` for a user whose credentials were checked: opens a session and
    /// answers `{"token"}`, then `user` and the hook's fields as [`Auth::obtain_pair`] does,
    /// from `[token_obtain_sliding]`. Audited as `login.succeeded`. Like
    /// [`Auth::obtain_pair`], only after [`Auth::login_step`].
    ///
    /// # Errors
    /// The store's, or the signing key's.
    pub async fn obtain_sliding(
        &self,
        user: &User,
        client: &ClientInfo,
    ) -> Result<Map<String, Value>, AuthError> {
        let route = ObtainRoute::Sliding;
        let claims = self.obtain_claims(user, route);
        let token = self.issue_sliding(user, client, &claims).await?;
        let mut answer = Map::new();
        answer.insert("token".into(), Value::String(token));
        Ok(self.obtain_answer(user, route, answer))
    }

    /// The configuration of `route`.
    fn obtain_shape(&self, route: ObtainRoute) -> &TokenObtain {
        match route {
            ObtainRoute::Pair => &self.accounts().token_obtain,
            ObtainRoute::Sliding => &self.accounts().token_obtain_sliding,
        }
    }

    /// The configured claims, then the hook's.
    pub(crate) fn obtain_claims(&self, user: &User, route: ObtainRoute) -> Claims {
        let declared = &self.accounts().user_fields;
        let mut claims = Claims::new();
        for name in &self.obtain_shape(route).claims {
            if let Some(value) = user_field_value(user, name, declared) {
                claims.insert(name.clone(), value);
            }
        }
        if let Some(hook) = &self.obtain_hook().0 {
            hook.claims(user, route, &mut claims);
        }
        claims
    }

    /// The tokens, then the configured `user`, then the hook's fields (never replacing a
    /// token).
    fn obtain_answer(
        &self,
        user: &User,
        route: ObtainRoute,
        mut answer: Map<String, Value>,
    ) -> Map<String, Value> {
        let declared = &self.accounts().user_fields;
        let fields = &self.obtain_shape(route).response_user;
        if !fields.is_empty() {
            let object: Map<String, Value> = fields
                .iter()
                .filter_map(|name| Some((name.clone(), user_field_value(user, name, declared)?)))
                .collect();
            answer.insert("user".into(), Value::Object(object));
        }
        if let Some(hook) = &self.obtain_hook().0 {
            let tokens: Map<String, Value> = answer.clone();
            hook.answer(user, route, &mut answer);
            // The tokens stay as issued, whatever the hook wrote.
            answer.extend(tokens.into_iter().filter(|(k, _)| k != "user"));
        }
        answer
    }
}
