//! The authorization code flow: starting it, the provider's callback, and the one-time
//! code a single-page application exchanges for tokens.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use tessera_store::{AuditOutcome, NewSocialState, SocialTicket, User};

use super::accounts::Settled;
use super::event;
use super::{ProviderInfo, SOCIAL_THROTTLE_SCOPE};
use crate::audit::Audit;
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::secret::{random_token, sha256_hex};
use crate::service::Auth;

/// How long an authorization request may take.
pub(crate) const STATE_LIFETIME: Duration = Duration::from_secs(600);
/// How long a one-time code lives.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a pending link waits for its owner.
pub(crate) const LINK_LIFETIME: Duration = Duration::from_secs(600);
/// The most authorization requests under way at once (all providers, all clients).
pub(crate) const MAX_PENDING_STATES: i64 = 1_000_000;
/// The most authorization requests one client may have under way at once.
pub(crate) const MAX_PENDING_PER_CLIENT: i64 = 30;
/// The longest code, state or ticket read.
const MAX_SECRET_CHARS: usize = 128;

/// The field error of an unknown, used or expired state.
pub const INVALID_STATE: &str = "Invalid or expired state.";
/// The field error of an unknown, used or expired one-time code.
pub const INVALID_CODE: &str = "Invalid or expired code.";
/// The field error of an unknown, used, expired or someone else's link ticket.
pub const INVALID_LINK: &str = "Invalid or expired link token.";
/// The detail of the exchange's `link_required` answer.
pub const LINK_REQUIRED: &str =
    "An account with this e-mail address exists. Sign in to it and link this provider.";

/// Where the browser goes back to after the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialMode {
    /// A single-page application: a one-time code to `social_frontend_url`.
    Token,
    /// The account page: the session cookies, then `/account/`.
    Cookie,
    /// A signed-in user links another provider.
    Connect,
}

impl SocialMode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Cookie => "cookie",
            Self::Connect => "connect",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Token, Self::Cookie, Self::Connect]
            .into_iter()
            .find(|mode| mode.as_str() == name)
    }
}

/// A started login: where to send the browser, and the browser-binding value to set as a
/// cookie (HttpOnly, SameSite=Lax, [`STATE_LIFETIME`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialStart {
    /// The provider's authorization URL.
    pub authorize_url: String,
    /// The cookie's value (256 random bits, base64url).
    pub binding: String,
    /// The request's [`state_tag`]: a login per cookie, so that two started in two tabs
    /// both finish.
    pub tag: String,
}

/// The tag of a request by its `state`: 16 hex characters of the state's SHA-256, for the
/// name of its browser-binding cookie.
pub fn state_tag(state: &str) -> String {
    sha256_hex(state.as_bytes())[..16].to_owned()
}

/// A finished callback, by mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialFinish {
    /// The mode the login was started in.
    pub mode: SocialMode,
    /// The browser-binding value of the login, which `POST social/link/` must present
    /// again for a pending link to be linked.
    pub binding: String,
    /// What happened.
    pub result: Result<SocialResult, SocialFailure>,
}

/// A callback that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocialResult {
    /// `token` mode: the one-time code for `social_frontend_url?code=…`.
    Code(String),
    /// `cookie` mode: sign this user in ([`Auth::login_step`] with
    /// [`MfaRoute::SocialCookie`](crate::mfa::MfaRoute::SocialCookie): their second step
    /// first, if they have one).
    SignIn(Box<SocialSignIn>),
    /// `token` mode: an account has the address; the one-time code whose exchange answers
    /// `link_required`. The link needs this browser's binding value
    /// ([`SocialFinish::binding`]).
    LinkCode(String),
    /// `cookie` mode: an account has the address; the ticket its owner links with, in this
    /// browser only ([`SocialFinish::binding`]), after confirming the provider and address.
    LinkRequired {
        /// The link ticket.
        ticket: String,
        /// The provider's name.
        provider: String,
        /// The address the provider gave.
        email: String,
    },
    /// `connect` mode: the identity is linked to the user who started.
    Connected,
}

/// A callback that failed cleanly (nothing was created): the reason the browser is sent
/// back with (`?error=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialFailure {
    /// The provider refused or the user cancelled (`error` from the provider).
    Denied,
    /// The code, the ID token or the provider's answers did not check out, or the account
    /// is inactive.
    LoginFailed,
    /// The provider does not vouch for the address.
    EmailNotVerified,
    /// No address, and accounts need one.
    EmailRequired,
    /// No account matches and `social_signup` is off.
    SignupClosed,
    /// The identity belongs to another account (connect).
    AlreadyLinked,
    /// The user already has [`MAX_IDENTITIES`](super::MAX_IDENTITIES) identities (connect).
    TooManyIdentities,
    /// Over the `register` throttle.
    Throttled,
}

impl SocialFailure {
    /// The `error` sent back.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Denied => "access_denied",
            Self::LoginFailed => "login_failed",
            Self::EmailNotVerified => "email_not_verified",
            Self::EmailRequired => "email_required",
            Self::SignupClosed => "signup_closed",
            Self::AlreadyLinked => "already_linked",
            Self::TooManyIdentities => "too_many_identities",
            Self::Throttled => "throttled",
        }
    }
}

/// A social sign-in whose first factor (the provider's identity) checked out: what
/// [`Auth::login_step`] takes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialSignIn {
    /// The user signing in.
    pub user: User,
    /// The id of their linked identity that signs them in.
    pub identity: i64,
}

/// What a one-time code is exchanged for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocialExchange {
    /// Sign this user in ([`Auth::login_step`] with
    /// [`MfaRoute::SocialPair`](crate::mfa::MfaRoute::SocialPair): the second step first,
    /// if they have one).
    Login(Box<SocialSignIn>),
    /// An account has the address: `{"code": "link_required", "link_token", "provider",
    /// "email"}`. The link needs the binding cookie of the browser that signed in at the
    /// provider.
    LinkRequired {
        /// The link ticket.
        link_token: String,
        /// The provider's name.
        provider: String,
        /// The address the provider gave.
        email: String,
    },
}

impl SocialExchange {
    /// The 409 body of [`SocialExchange::LinkRequired`].
    pub fn link_required_json(link_token: &str, provider: &str, email: &str) -> Value {
        json!({
            "detail": LINK_REQUIRED,
            "code": "link_required",
            "link_token": link_token,
            "provider": provider,
            "email": email,
        })
    }
}

/// The PKCE verifier of a request: derived from the browser-binding value and the state,
/// so that only the browser holding the cookie completes it and nothing secret is stored.
fn pkce_verifier(binding: &str, state: &str) -> String {
    pkce_challenge(&format!("tessera-social-pkce\0{binding}\0{state}"))
}

/// The S256 challenge of a PKCE verifier: base64url of its SHA-256.
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// The parameters of a provider's callback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error` (the provider refused).
    pub error: Option<String>,
}

impl Auth {
    /// The providers configured, in order, for the account page's buttons.
    pub fn social_providers(&self) -> Vec<ProviderInfo> {
        self.social()
            .settings()
            .oidc_providers
            .iter()
            .map(|p| ProviderInfo {
                name: p.name.clone(),
                display_name: p.display_name().to_owned(),
            })
            .collect()
    }

    /// `GET social/{provider}/start/` (and `POST social/{provider}/connect/` for a signed-in
    /// `user`): stores the authorization request and answers the provider's URL, carrying
    /// the state, the nonce and the PKCE challenge, and the browser-binding value. The
    /// provider sends the browser back to `callback_path` (under the server's public URL).
    /// Throttled by `social` per client.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown provider, or `token` mode without
    /// `social_frontend_url`; [`AuthError::Busy`] when the provider's discovery cannot be
    /// had or too many requests are under way; [`AuthError::Throttled`]; the store's.
    pub async fn start_social(
        &self,
        provider: &str,
        mode: SocialMode,
        user: Option<&User>,
        callback_path: &str,
        client: &ClientInfo,
    ) -> Result<SocialStart, AuthError> {
        let runtime = self
            .social()
            .provider(provider)
            .cloned()
            .ok_or(AuthError::NotFound)?;
        if mode == SocialMode::Token && self.social().settings().social_frontend_url.is_none() {
            return Err(AuthError::NotFound);
        }
        self.throttles()
            .check(SOCIAL_THROTTLE_SCOPE, client.ident())
            .await?;
        let endpoint = runtime.authorization_endpoint().await.map_err(|error| {
            tracing::warn!(provider, error = %error.0, "the provider cannot be reached");
            AuthError::Busy { retry_after: 30 }
        })?;
        let (state, binding, nonce) = (random_token()?, random_token()?, random_token()?);
        let verifier = pkce_verifier(&binding, &state);
        let now = self.now();
        let stored = self
            .store()
            .insert_social_state(
                &NewSocialState {
                    hash: &sha256_hex(state.as_bytes()),
                    provider,
                    binding_hash: &sha256_hex(binding.as_bytes()),
                    nonce: &nonce,
                    mode: mode.as_str(),
                    user_id: user.map(|u| u.id),
                    client_hash: &sha256_hex(client.ident().as_bytes()),
                },
                now,
                now + STATE_LIFETIME,
                MAX_PENDING_STATES,
                MAX_PENDING_PER_CLIENT,
            )
            .await?;
        if !stored {
            tracing::warn!("too many social logins under way (in all or by this client); refusing");
            return Err(AuthError::Busy { retry_after: 60 });
        }
        let mut url =
            url::Url::parse(&endpoint).map_err(|_| AuthError::Busy { retry_after: 30 })?;
        let config = &runtime.config;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", &self.social_redirect_uri(callback_path))
            .append_pair("scope", &config.scopes().join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(SocialStart {
            authorize_url: url.into(),
            binding,
            tag: state_tag(&state),
        })
    }

    /// The absolute callback URL of `callback_path`.
    fn social_redirect_uri(&self, callback_path: &str) -> String {
        format!(
            "{}{}",
            self.mail_state().public_url().trim_end_matches('/'),
            callback_path
        )
    }

    /// `GET social/{provider}/callback/`: consumes the state (once, whatever follows),
    /// checks it against the browser-binding cookie, then — unless the provider sent an
    /// `error` — redeems the code, verifies the ID token (or reads GitHub's user) and
    /// settles the account (see the [module](super)). Failures after the state are
    /// [`SocialFailure`]s, audited as `social.failed` with the reason; nothing is created
    /// by them. Throttled by `social` per client.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] (`state`: [`INVALID_STATE`]) for a missing, unknown, used or
    /// expired state, one of another provider, or a binding cookie missing or not the
    /// request's; [`AuthError::Throttled`]; the store's.
    pub async fn finish_social(
        &self,
        provider: &str,
        params: &CallbackParams,
        binding: Option<&str>,
        callback_path: &str,
        client: &ClientInfo,
    ) -> Result<SocialFinish, AuthError> {
        let runtime = self
            .social()
            .provider(provider)
            .cloned()
            .ok_or(AuthError::NotFound)?;
        self.throttles()
            .check(SOCIAL_THROTTLE_SCOPE, client.ident())
            .await?;
        let invalid = || AuthError::field("state", INVALID_STATE);
        let state = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= MAX_SECRET_CHARS)
            .ok_or_else(invalid)?;
        let now = self.now();
        let Some(stored) = self
            .store()
            .take_social_state(&sha256_hex(state.as_bytes()), now)
            .await?
        else {
            self.social_failed(provider, "state", None, client).await;
            return Err(invalid());
        };
        let binding = binding
            .filter(|b| b.len() <= MAX_SECRET_CHARS)
            .unwrap_or_default();
        let bound = aws_lc_rs::constant_time::verify_slices_are_equal(
            sha256_hex(binding.as_bytes()).as_bytes(),
            stored.binding_hash.as_bytes(),
        )
        .is_ok();
        let Some(mode) = SocialMode::parse(&stored.mode).filter(|_| stored.provider == provider)
        else {
            self.social_failed(provider, "state", None, client).await;
            return Err(invalid());
        };
        if !bound {
            self.social_failed(provider, "binding", stored.user_id, client)
                .await;
            return Err(invalid());
        }
        let binding_hash = stored.binding_hash.clone();
        let finish = |result| {
            Ok(SocialFinish {
                mode,
                binding: binding.to_owned(),
                result,
            })
        };
        if params.error.is_some() {
            self.social_failed(provider, "provider_error", stored.user_id, client)
                .await;
            return finish(Err(SocialFailure::Denied));
        }
        let Some(code) = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 2048)
        else {
            self.social_failed(provider, "provider_error", stored.user_id, client)
                .await;
            return finish(Err(SocialFailure::Denied));
        };
        let verifier = pkce_verifier(binding, state);
        let profile = match runtime
            .profile(
                code,
                &self.social_redirect_uri(callback_path),
                &verifier,
                &stored.nonce,
                now,
            )
            .await
        {
            Ok(profile) => profile,
            Err((reason, error)) => {
                tracing::warn!(provider, reason, error = %error.0, "a social login failed");
                self.social_failed(provider, reason, stored.user_id, client)
                    .await;
                return finish(Err(SocialFailure::LoginFailed));
            }
        };
        let settled = self
            .settle_social(provider, &profile, mode, stored.user_id, client)
            .await?;
        let result = match (settled, mode) {
            (Err(failure), _) => Err(failure),
            (Ok(Settled::Connected), _) => Ok(SocialResult::Connected),
            (Ok(Settled::SignIn(user, _)), SocialMode::Token) => {
                // The code names the identity, which the exchange finds again.
                let identity = super::accounts::PendingIdentity {
                    provider: provider.to_owned(),
                    subject: profile.subject.clone(),
                    email: String::new(),
                };
                let code = self
                    .issue_social_ticket("login", user.id, Some((&identity, "")), CODE_LIFETIME)
                    .await?;
                Ok(SocialResult::Code(code))
            }
            (Ok(Settled::SignIn(user, identity)), _) => {
                Ok(SocialResult::SignIn(Box::new(SocialSignIn {
                    user: *user,
                    identity,
                })))
            }
            (Ok(Settled::Link(user_id, identity)), SocialMode::Token) => {
                let code = self
                    .issue_social_ticket(
                        "link",
                        user_id,
                        Some((&identity, &binding_hash)),
                        CODE_LIFETIME,
                    )
                    .await?;
                Ok(SocialResult::LinkCode(code))
            }
            (Ok(Settled::Link(user_id, identity)), _) => {
                let ticket = self
                    .issue_social_ticket(
                        "link_ticket",
                        user_id,
                        Some((&identity, &binding_hash)),
                        LINK_LIFETIME,
                    )
                    .await?;
                Ok(SocialResult::LinkRequired {
                    ticket,
                    provider: identity.provider,
                    email: identity.email,
                })
            }
        };
        finish(result)
    }

    /// Stores a single-use code or ticket for `user_id` (and, for a link, the identity and
    /// the SHA-256 of the browser-binding value it is bound to); returns it.
    pub(crate) async fn issue_social_ticket(
        &self,
        purpose: &str,
        user_id: i64,
        link: Option<(&super::accounts::PendingIdentity, &str)>,
        lifetime: Duration,
    ) -> Result<String, AuthError> {
        let identity = link.map(|(identity, _)| identity);
        let secret = random_token()?;
        let now = self.now();
        let ticket = SocialTicket {
            purpose: purpose.to_owned(),
            user_id,
            provider: identity.map(|i| i.provider.clone()).unwrap_or_default(),
            subject: identity.map(|i| i.subject.clone()).unwrap_or_default(),
            email: identity.map(|i| i.email.clone()).unwrap_or_default(),
            binding_hash: link.map(|(_, b)| b.to_owned()).unwrap_or_default(),
            created_at: now,
        };
        self.store()
            .insert_social_ticket(&sha256_hex(secret.as_bytes()), &ticket, now + lifetime)
            .await?;
        Ok(secret)
    }

    /// `POST social/exchange/` (`code`): the one-time code of a `token`-mode callback,
    /// consumed. The sign-in — the caller takes [`Auth::login_step`] with it, then answers
    /// as `POST token/` does — or, when an account has the address, a fresh link ticket
    /// (`409 link_required`). Throttled by `social` per client.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for a missing field, and (`code`: [`INVALID_CODE`]) for an
    /// unknown, used or expired code, or one whose identity was unlinked since;
    /// [`AuthError::InvalidCredentials`] when the user was
    /// deactivated meanwhile; [`AuthError::Throttled`]; the store's.
    pub async fn exchange_social_code(
        &self,
        data: &Map<String, Value>,
        client: &ClientInfo,
    ) -> Result<SocialExchange, AuthError> {
        self.throttles()
            .check(SOCIAL_THROTTLE_SCOPE, client.ident())
            .await?;
        let mut fields = Fields::new(data);
        let code = fields.required("code", Trim::Yes);
        fields.finish()?;
        let code = code.unwrap_or_default();
        let invalid = || AuthError::field("code", INVALID_CODE);
        if code.len() > MAX_SECRET_CHARS {
            return Err(invalid());
        }
        let Some(ticket) = self
            .store()
            .take_social_ticket(&sha256_hex(code.as_bytes()), &["login", "link"], self.now())
            .await?
        else {
            return Err(invalid());
        };
        let user = self
            .store()
            .user_by_id(ticket.user_id)
            .await?
            .filter(|u| u.is_active)
            .ok_or(AuthError::InvalidCredentials)?;
        if ticket.purpose == "link" {
            let identity = super::accounts::PendingIdentity {
                provider: ticket.provider,
                subject: ticket.subject,
                email: ticket.email,
            };
            let link = self
                .issue_social_ticket(
                    "link_ticket",
                    user.id,
                    Some((&identity, &ticket.binding_hash)),
                    LINK_LIFETIME,
                )
                .await?;
            return Ok(SocialExchange::LinkRequired {
                link_token: link,
                provider: identity.provider,
                email: identity.email,
            });
        }
        // The identity that signed in, unless it was unlinked (or relinked) since.
        let identity = self
            .store()
            .social_identity(&ticket.provider, &ticket.subject)
            .await?
            .filter(|identity| identity.user_id == user.id)
            .ok_or_else(invalid)?;
        Ok(SocialExchange::Login(Box::new(SocialSignIn {
            user,
            identity: identity.id,
        })))
    }

    /// Audits a failed social login.
    pub(crate) async fn social_failed(
        &self,
        provider: &str,
        reason: &str,
        user_id: Option<i64>,
        client: &ClientInfo,
    ) {
        metrics::counter!("tessera_social_logins_total", "outcome" => "failure").increment(1);
        let mut audit = Audit::new(event::SOCIAL_FAILED)
            .outcome(AuditOutcome::Failure)
            .client(client)
            .detail(json!({"provider": provider, "reason": reason}));
        if let Some(user_id) = user_id {
            audit = audit.user(user_id);
        }
        self.audit(audit).await;
    }
}
