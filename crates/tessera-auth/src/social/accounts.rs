//! Accounts of social login: which user a provider's identity signs in, a new account, the
//! pending link an account's owner confirms, and the identities a user lists and unlinks.

use serde_json::{Map, Value, json};
use tessera_core::UsernameField;
use tessera_store::{NewUser, SocialIdentity, StoreError, User, WayIn};

use super::SOCIAL_THROTTLE_SCOPE;
use super::discovery::Profile;
use super::event;
use super::flow::{INVALID_LINK, SocialFailure, SocialMode};
use crate::accounts::Removed;
use crate::audit::Audit;
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::form::{Fields, Trim};
use crate::secret::{random_token, sha256_hex};
use crate::service::Auth;

/// The most identities one user may link.
pub const MAX_IDENTITIES: usize = 20;
/// The refusal to unlink the last way into an account (the one of every way in).
pub use crate::accounts::LAST_WAY_IN;
/// The field error of linking an identity another account holds.
pub const LINKED_ELSEWHERE: &str = "This provider account is already linked to another user.";
/// Django's longest first or last name.
const MAX_NAME_CHARS: usize = 150;

/// A provider's identity waiting to be linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingIdentity {
    pub(crate) provider: String,
    pub(crate) subject: String,
    pub(crate) email: String,
}

/// How a callback's identity settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Sign this user in through their linked identity (its id).
    SignIn(Box<User>, i64),
    /// The account `0` has the address: its owner must confirm the link.
    Link(i64, PendingIdentity),
    /// Linked to the user who connected.
    Connected,
}

impl Auth {
    /// Which account `profile` signs in, creating or linking as the rules say (see the
    /// [module](super)). A refusal is a [`SocialFailure`], audited as `social.failed`.
    pub(crate) async fn settle_social(
        &self,
        provider: &str,
        profile: &Profile,
        mode: SocialMode,
        connecting: Option<i64>,
        client: &ClientInfo,
    ) -> Result<Result<Settled, SocialFailure>, AuthError> {
        let store = self.store();
        let pending = PendingIdentity {
            provider: provider.to_owned(),
            subject: profile.subject.clone(),
            email: profile.email.clone().unwrap_or_default(),
        };
        let linked = store.social_identity(provider, &profile.subject).await?;
        if mode == SocialMode::Connect {
            let Some(user_id) = connecting else {
                return Ok(Err(SocialFailure::LoginFailed));
            };
            return match linked {
                Some(identity) if identity.user_id == user_id => Ok(Ok(Settled::Connected)),
                Some(_) => {
                    self.social_failed(provider, "already_linked", Some(user_id), client)
                        .await;
                    Ok(Err(SocialFailure::AlreadyLinked))
                }
                None if store.social_identities_of(user_id).await?.len() >= MAX_IDENTITIES => {
                    self.social_failed(provider, "too_many_identities", Some(user_id), client)
                        .await;
                    Ok(Err(SocialFailure::TooManyIdentities))
                }
                None => match self
                    .link_pending(user_id, &pending, "connect", client)
                    .await
                {
                    Ok(_) => Ok(Ok(Settled::Connected)),
                    // Linked to another account meanwhile.
                    Err(AuthError::Invalid(_)) => {
                        self.social_failed(provider, "already_linked", Some(user_id), client)
                            .await;
                        Ok(Err(SocialFailure::AlreadyLinked))
                    }
                    Err(other) => Err(other),
                },
            };
        }
        if let Some(identity) = linked {
            let user = store.user_by_id(identity.user_id).await?;
            let Some(user) = user.filter(|u| u.is_active) else {
                self.social_failed(provider, "inactive", Some(identity.user_id), client)
                    .await;
                return Ok(Err(SocialFailure::LoginFailed));
            };
            // `require_verified_email = "login"` holds here as at every other login.
            if self.check_email_verified(&user).is_err() {
                self.social_failed(provider, "email_not_verified", Some(user.id), client)
                    .await;
                return Ok(Err(SocialFailure::EmailNotVerified));
            }
            // The sign-in is recorded once complete: after the second step, if one is owed
            // (`Auth::login_step`).
            return Ok(Ok(Settled::SignIn(Box::new(user), identity.id)));
        }
        // Not linked yet: never merged silently, never an unverified address.
        match &profile.email {
            Some(_) if !profile.email_verified => {
                self.social_failed(provider, "email_not_verified", None, client)
                    .await;
                return Ok(Err(SocialFailure::EmailNotVerified));
            }
            Some(email) => {
                if let Some(owner) = store.user_by_email(email).await? {
                    self.social_failed(provider, "link_required", Some(owner.id), client)
                        .await;
                    return Ok(Ok(Settled::Link(owner.id, pending)));
                }
            }
            None if !self.email_is_optional() => {
                self.social_failed(provider, "email_required", None, client)
                    .await;
                return Ok(Err(SocialFailure::EmailRequired));
            }
            None => {}
        }
        if !self.social().settings().social_signup {
            self.social_failed(provider, "signup_closed", None, client)
                .await;
            return Ok(Err(SocialFailure::SignupClosed));
        }
        if self
            .throttles()
            .check("register", client.ident())
            .await
            .is_err()
        {
            self.social_failed(provider, "throttled", None, client)
                .await;
            return Ok(Err(SocialFailure::Throttled));
        }
        self.social_signup(provider, profile, &pending, client)
            .await
    }

    /// A new account for `profile`, with an unusable password, its address verified, and
    /// the identity linked.
    async fn social_signup(
        &self,
        provider: &str,
        profile: &Profile,
        pending: &PendingIdentity,
        client: &ClientInfo,
    ) -> Result<Result<Settled, SocialFailure>, AuthError> {
        let store = self.store();
        let email = match &profile.email {
            Some(email) => match self.check_new_email(email).await {
                Ok(email) => email,
                Err(AuthError::Invalid(_)) => {
                    self.social_failed(provider, "invalid_email", None, client)
                        .await;
                    return Ok(Err(SocialFailure::LoginFailed));
                }
                Err(other) => return Err(other),
            },
            None => String::new(),
        };
        let username = if self.settings().username_field == UsernameField::Username {
            match self.derive_username(profile).await? {
                Some(username) => Some(username),
                None => {
                    self.social_failed(provider, "invalid_username", None, client)
                        .await;
                    return Ok(Err(SocialFailure::LoginFailed));
                }
            }
        } else {
            None
        };
        let name = |text: &str| text.trim().chars().take(MAX_NAME_CHARS).collect::<String>();
        let now = self.now();
        let created = store
            .create_user(&NewUser {
                email: email.clone(),
                username,
                first_name: name(&profile.given_name),
                last_name: name(&profile.family_name),
                password_hash: "!".to_owned(),
                is_active: true,
                date_joined: now,
                extra: self
                    .accounts()
                    .user_fields
                    .iter()
                    .filter_map(|f| Some((f.name.clone(), f.default.clone()?)))
                    .collect(),
                ..NewUser::default()
            })
            .await;
        let mut user = match created {
            Ok(user) => user,
            // Taken between the check and the insert: another request won the race.
            Err(StoreError::DuplicateEmail | StoreError::DuplicateUsername) => {
                self.social_failed(provider, "race", None, client).await;
                return Ok(Err(SocialFailure::LoginFailed));
            }
            Err(other) => return Err(other.into()),
        };
        let Some(identity) = store
            .link_social_identity(user.id, provider, &pending.subject, &pending.email, now)
            .await?
        else {
            // The identity was linked meanwhile by a concurrent callback.
            store.delete_user(user.id).await?;
            self.social_failed(provider, "race", None, client).await;
            return Ok(Err(SocialFailure::LoginFailed));
        };
        if !email.is_empty() {
            user.email_verified = store.mark_email_proved(user.id, &user.email).await?;
        }
        metrics::counter!("tessera_social_logins_total", "outcome" => "signup").increment(1);
        self.audit(
            Audit::new(event::SOCIAL_SIGNUP)
                .user(user.id)
                .login_name(self.lockout_name_of(&user))
                .client(client)
                .detail(json!({"provider": provider})),
        )
        .await;
        Ok(Ok(Settled::SignIn(Box::new(user), identity.id)))
    }

    /// A free, valid username from the provider's hint or the address's local part:
    /// `ada`, `ada2` … `ada9`, then `ada-` and random hex, then `user-` and random hex —
    /// every one checked as a sign-up's would be. `None` when none is valid.
    async fn derive_username(&self, profile: &Profile) -> Result<Option<String>, AuthError> {
        let hint = profile
            .username_hint
            .clone()
            .or_else(|| {
                profile
                    .email
                    .as_deref()
                    .and_then(|e| e.split('@').next())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let mut base: String = hint
            .chars()
            .filter(|c| c.is_alphanumeric() || "@.+-_".contains(*c))
            .take(30)
            .collect();
        if base.is_empty() {
            base = "user".into();
        }
        let random = random_token()?;
        let suffix: String = sha256_hex(random.as_bytes()).chars().take(8).collect();
        let mut candidates: Vec<String> = vec![base.clone()];
        candidates.extend((2..10).map(|n| format!("{base}{n}")));
        candidates.push(format!("{base}-{suffix}"));
        candidates.push(format!("user-{suffix}"));
        for candidate in candidates {
            match self.check_new_username(&candidate).await {
                Ok(username) => return Ok(Some(username)),
                Err(AuthError::Invalid(_)) => continue,
                Err(other) => return Err(other),
            }
        }
        Ok(None)
    }

    /// Links `pending` to `user_id`, audited as `social.linked` (`detail.via`).
    async fn link_pending(
        &self,
        user_id: i64,
        pending: &PendingIdentity,
        via: &str,
        client: &ClientInfo,
    ) -> Result<SocialIdentity, AuthError> {
        let store = self.store();
        if store.social_identities_of(user_id).await?.len() >= MAX_IDENTITIES {
            return Err(AuthError::field(
                "link_token",
                format!("At most {MAX_IDENTITIES} providers may be linked."),
            ));
        }
        let Some(identity) = store
            .link_social_identity(
                user_id,
                &pending.provider,
                &pending.subject,
                &pending.email,
                self.now(),
            )
            .await?
        else {
            return match store
                .social_identity(&pending.provider, &pending.subject)
                .await?
            {
                Some(identity) if identity.user_id == user_id => Ok(identity),
                _ => Err(AuthError::field("link_token", LINKED_ELSEWHERE)),
            };
        };
        self.audit(
            Audit::new(event::SOCIAL_LINKED)
                .user(user_id)
                .client(client)
                .detail(json!({"provider": pending.provider, "via": via})),
        )
        .await;
        Ok(identity)
    }

    /// `POST social/link/` (`link_token`) by the signed-in `user`, from the browser that
    /// signed in at the provider (`binding`: the value of its link cookie): links the
    /// identity of a pending link made out to this user (consumed either way). A ticket
    /// alone links nothing: a link URL sent to someone else fails in their browser. Audited
    /// as `social.linked`, a refusal as `social.failed` (`link`). Throttled by `social` per
    /// client.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for a missing field, and (`link_token`) for an unknown, used,
    /// expired or someone else's ticket, or one from another browser ([`INVALID_LINK`]), an
    /// identity another account holds ([`LINKED_ELSEWHERE`]) or too many identities;
    /// [`AuthError::Throttled`]; the store's.
    pub async fn link_social(
        &self,
        user: &User,
        data: &Map<String, Value>,
        binding: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SocialIdentity, AuthError> {
        self.throttles()
            .check(SOCIAL_THROTTLE_SCOPE, client.ident())
            .await?;
        let mut fields = Fields::new(data);
        let token = fields.required("link_token", Trim::Yes);
        fields.finish()?;
        let token = token.unwrap_or_default();
        let invalid = || AuthError::field("link_token", INVALID_LINK);
        if token.len() > 128 {
            return Err(invalid());
        }
        let Some(ticket) = self
            .store()
            .take_social_ticket(&sha256_hex(token.as_bytes()), &["link_ticket"], self.now())
            .await?
        else {
            return Err(invalid());
        };
        let binding = binding.filter(|b| b.len() <= 128).unwrap_or_default();
        let same_browser = !ticket.binding_hash.is_empty()
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                sha256_hex(binding.as_bytes()).as_bytes(),
                ticket.binding_hash.as_bytes(),
            )
            .is_ok();
        if ticket.user_id != user.id || !same_browser {
            let reason = if same_browser {
                "link_user"
            } else {
                "link_binding"
            };
            self.social_failed(&ticket.provider, reason, Some(user.id), client)
                .await;
            return Err(invalid());
        }
        let pending = PendingIdentity {
            provider: ticket.provider,
            subject: ticket.subject,
            email: ticket.email,
        };
        self.link_pending(user.id, &pending, "link", client).await
    }

    /// `GET social/identities/`: the identities linked to `user`, oldest first.
    ///
    /// # Errors
    /// The store's.
    pub async fn social_identities(&self, user: &User) -> Result<Vec<SocialIdentity>, AuthError> {
        Ok(self.store().social_identities_of(user.id).await?)
    }

    /// `DELETE social/identities/{id}/`: unlinks one of `user`'s identities, unless it is
    /// their last way in (see [`ways_in`](crate::accounts): no usable password, no other
    /// identity, no passkey that signs in). Audited as `social.unlinked`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an identity that is not the user's;
    /// [`AuthError::Invalid`] (`non_field_errors`: [`LAST_WAY_IN`]) for the last way in;
    /// the store's.
    pub async fn unlink_social(
        &self,
        user: &User,
        id: i64,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let Removed::SocialIdentity(identity) =
            self.remove_way_in(user, WayIn::SocialIdentity(id)).await?
        else {
            return Err(AuthError::NotFound);
        };
        self.audit(
            Audit::new(event::SOCIAL_UNLINKED)
                .user(user.id)
                .client(client)
                .detail(json!({"provider": identity.provider})),
        )
        .await;
        Ok(())
    }
}
