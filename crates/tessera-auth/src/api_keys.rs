//! API keys, in the convention of djangorestframework-api-key: `Authorization: Api-Key
//! <prefix>.<secret>`. A user creates, lists and revokes their own keys, staff anyone's; the
//! key is shown once, at creation. A key authenticates as its user — the same principal as
//! a token of that user — optionally limited to a list of scopes. Service accounts (users
//! with an unusable password) hold keys too, and trade one for a short-lived access token
//! ([`Auth::issue_client_token`], OAuth 2.0's client-credentials shape).
//!
//! # Format and storage
//!
//! [`PREFIX_CHARS`] random alphanumerics, a dot, [`SECRET_CHARS`] random alphanumerics
//! (about 190 random bits). The prefix is public: it identifies the key (unique, indexed,
//! shown in lists). Only HMAC-SHA256 of the whole key is stored, under a server secret, and
//! compared in constant time. A secret this random needs no salt and no slow hash (argon2
//! on every request would be a denial of service waiting to happen); the keyed hash makes a
//! stolen table useless without the secret too.
//!
//! The HMAC key is `api_key_secret` when set; else derived (HKDF-SHA256) from
//! `key_encryption_key`; else from the configured signing key (development: a rotated
//! signing key then invalidates every API key, which is why production must set one of the
//! first two). **Changing the secret invalidates every key.**
//!
//! # Revocation
//!
//! Nothing is cached: each request reads the key's row, so a revoked or expired key is
//! refused on every server sharing the database from the next request on. A password
//! change or reset revokes every key of the user (`api_key.revoked` with
//! `detail.reason = "password_changed"`).
//!
//! # Last use
//!
//! `last_used_at` and `last_used_ip` are written at most once per [`LAST_USED_INTERVAL`]
//! per key, whatever the address: a use whose address differs from the one recorded before
//! is audited as `api_key.used_new_ip` then — so at most one such event per key per
//! interval, and an address used only between two recorded uses goes unseen. The write is
//! best effort: when it fails, the failure is logged and the request goes on.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_core::{KeyError, Secret, SettingsError, Timestamp, Token, TokenKind};
use tessera_store::{ApiKey, NewApiKey, StoreError, User};

use crate::accounts::AdminAction;
use crate::actor::Actor;
use crate::audit::{Audit, event};
use crate::client::ClientInfo;
use crate::error::AuthError;
use crate::service::Auth;

/// The authorization scheme of an API key: `Authorization: Api-Key <key>`.
pub const API_KEY_SCHEME: &str = "Api-Key";
/// Characters in a key's prefix (djangorestframework-api-key's length).
pub const PREFIX_CHARS: usize = 8;
/// Characters in a key's secret part.
pub const SECRET_CHARS: usize = 32;
/// Characters in a whole key: prefix, dot, secret.
pub const KEY_CHARS: usize = PREFIX_CHARS + 1 + SECRET_CHARS;
/// The longest key name (djangorestframework-api-key's `max_length`).
pub const MAX_NAME_CHARS: usize = 50;
/// The most scopes one key carries.
pub const MAX_SCOPES: usize = 32;
/// The longest scope.
pub const MAX_SCOPE_CHARS: usize = 64;
/// The claim of a token made from an API key that names the key (its prefix): RFC 9068's
/// `client_id`.
pub const CLIENT_ID_CLAIM: &str = "client_id";
/// The claim listing a key's scopes in its tokens, space-separated (RFC 9068 §2.2.3).
pub const SCOPE_CLAIM: &str = "scope";
/// The throttle scope of the client-credentials grant, counted per client address (off
/// unless `throttle_rates` gives it a rate).
pub const CLIENT_TOKEN_THROTTLE_SCOPE: &str = "client_token";
/// The throttle scope of key creation, counted per user (`20/hour` unless `throttle_rates`
/// says otherwise); the command line is not counted.
pub const API_KEY_CREATE_THROTTLE_SCOPE: &str = "api_key_create";
/// How often, at most, a key's last use (time and address) is written, and a new address
/// audited.
pub const LAST_USED_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest `api_key_secret` accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// HKDF salt and info of the derived HMAC key: change them and every key stops working.
const HKDF_SALT: &[u8] = b"tessera api-key salt v1";
const HKDF_INFO: &[u8] = b"tessera api keys v1";
/// The 62 characters of a key.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// How many prefixes are drawn before giving up on a collision (62^8 makes even one rare).
const PREFIX_ATTEMPTS: usize = 3;

/// API key settings.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiKeySettings {
    /// The HMAC key under which keys are stored (32 bytes or more). Unset: derived from
    /// `key_encryption_key`, else from the signing key (development only). Changing it
    /// invalidates every API key. Defaults to unset.
    pub api_key_secret: Option<Secret>,
    /// The most keys a user holds that are neither revoked nor expired. Defaults to `100`.
    pub api_key_max_per_user: u32,
    /// How long a revoked or expired key stays listed before upkeep deletes it. Defaults to
    /// 30 days.
    #[serde(with = "tessera_core::duration")]
    pub api_key_retention: Duration,
}

impl Default for ApiKeySettings {
    fn default() -> Self {
        Self {
            api_key_secret: None,
            api_key_max_per_user: 100,
            api_key_retention: Duration::from_secs(30 * 86_400),
        }
    }
}

impl fmt::Debug for ApiKeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySettings")
            .field("api_key_secret", &self.api_key_secret)
            .field("api_key_max_per_user", &self.api_key_max_per_user)
            .field("api_key_retention", &self.api_key_retention)
            .finish()
    }
}

impl ApiKeySettings {
    /// Refuses a short secret and a zero bound.
    ///
    /// # Errors
    /// The setting at fault.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(secret) = &self.api_key_secret
            && secret.expose().len() < MIN_SECRET_LEN
        {
            return Err(SettingsError {
                setting: "api_key_secret".into(),
                message: format!(
                    "must be at least {MIN_SECRET_LEN} bytes, e.g. `openssl rand -base64 32`"
                ),
            });
        }
        if self.api_key_max_per_user == 0 {
            return Err(SettingsError {
                setting: "api_key_max_per_user".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// Where the HMAC key of API keys comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeySecretSource {
    /// `api_key_secret`.
    Configured,
    /// Derived from `key_encryption_key`.
    KeyEncryptionKey,
    /// Derived from the configured signing key (development only).
    SigningKey,
    /// None: API keys can be neither created nor used.
    Missing,
}

/// The keyed hash of API keys (and of the short codes in account mails).
#[derive(Clone)]
pub(crate) struct ApiKeyHasher {
    key: Option<hmac::Key>,
    source: ApiKeySecretSource,
}

impl fmt::Debug for ApiKeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyHasher")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl ApiKeyHasher {
    /// The hasher of `settings`, else derived from `kek`, else from `signing_key`.
    pub(crate) fn new(
        settings: &ApiKeySettings,
        kek: Option<&Secret>,
        signing_key: Option<&Secret>,
    ) -> Self {
        let (material, source) = match (&settings.api_key_secret, kek, signing_key) {
            (Some(secret), _, _) => {
                return Self {
                    key: Some(hmac::Key::new(
                        hmac::HMAC_SHA256,
                        secret.expose().as_bytes(),
                    )),
                    source: ApiKeySecretSource::Configured,
                };
            }
            (None, Some(kek), _) => (kek, ApiKeySecretSource::KeyEncryptionKey),
            (None, None, Some(signing)) => (signing, ApiKeySecretSource::SigningKey),
            (None, None, None) => {
                return Self {
                    key: None,
                    source: ApiKeySecretSource::Missing,
                };
            }
        };
        let mut derived = [0u8; 32];
        let filled = Salt::new(HKDF_SHA256, HKDF_SALT)
            .extract(material.expose().as_bytes())
            .expand(&[HKDF_INFO], Len(derived.len()))
            .and_then(|okm| okm.fill(&mut derived));
        let key = filled
            .ok()
            .map(|()| hmac::Key::new(hmac::HMAC_SHA256, &derived));
        derived.fill(0);
        Self { key, source }
    }

    /// The stored form of `key`: HMAC-SHA256 in lowercase hex; `None` without a secret.
    pub(crate) fn hash(&self, key: &str) -> Option<String> {
        let tag = hmac::sign(self.key.as_ref()?, key.as_bytes());
        Some(crate::secret::hex(tag.as_ref()))
    }

    /// Whether `key` hashes to `stored`, compared in constant time.
    pub(crate) fn verify(&self, key: &str, stored: &str) -> bool {
        self.hash(key)
            .is_some_and(|hash| verify_slices_are_equal(hash.as_bytes(), stored.as_bytes()).is_ok())
    }
}

/// A key's prefix and secret, split from its text: the well-formed keys only.
#[derive(Clone, Copy)]
pub struct ParsedKey<'a> {
    /// The whole key.
    pub key: &'a str,
    /// Its public prefix.
    pub prefix: &'a str,
}

impl fmt::Debug for ParsedKey<'_> {
    /// The secret is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Splits `raw` into prefix and secret: [`PREFIX_CHARS`] ASCII alphanumerics, a dot,
/// [`SECRET_CHARS`] ASCII alphanumerics, nothing more. `None` for anything else.
pub fn parse_key(raw: &str) -> Option<ParsedKey<'_>> {
    if raw.len() != KEY_CHARS {
        return None;
    }
    let (prefix, rest) = raw.split_at_checked(PREFIX_CHARS)?;
    let secret = rest.strip_prefix('.')?;
    let alphanumeric = |part: &str| part.bytes().all(|b| b.is_ascii_alphanumeric());
    (alphanumeric(prefix) && alphanumeric(secret)).then_some(ParsedKey { key: raw, prefix })
}

/// What a new key is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeyRequest {
    /// The owner's label: 1 to [`MAX_NAME_CHARS`] characters, not blank, no control
    /// characters.
    pub name: String,
    /// When it stops working; in the future. `None`: never.
    pub expires_at: Option<Timestamp>,
    /// What it is limited to (see [`valid_scope`]); empty: everything its user may do.
    pub scopes: Vec<String>,
}

/// A key as created: the key itself, shown once, and its stored row.
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedApiKey {
    /// The whole key, `<prefix>.<secret>`: never stored, never shown again.
    pub key: String,
    /// The stored row.
    pub api_key: ApiKey,
}

impl fmt::Debug for CreatedApiKey {
    /// The key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("key", &"<redacted>")
            .field("api_key", &self.api_key)
            .finish()
    }
}

/// Whether `scope` may name a scope: 1 to [`MAX_SCOPE_CHARS`] ASCII letters, digits and
/// `_ - . : /` (no space: scopes travel space-separated in tokens).
pub fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= MAX_SCOPE_CHARS
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

/// Whether a key (or a token made from one) limited to `scopes` grants `scope`: an empty
/// list grants everything, else the scope must be listed.
pub fn scopes_grant(scopes: &[String], scope: &str) -> bool {
    scopes.is_empty() || scopes.iter().any(|s| s == scope)
}

/// What a scope list holds when a token's [`SCOPE_CLAIM`] is unreadable: a name no scope
/// can have (see [`valid_scope`]), so the list grants nothing.
const NO_SCOPE: &str = "\u{0}none";

/// The scopes a token carries in its [`SCOPE_CLAIM`]: empty (no limit) when it has none.
/// The claim fails closed: present but not a string, or a string with no scope in it, it
/// limits the token to a scope nothing checks for, so it grants nothing.
pub fn token_scopes(token: &Token) -> Vec<String> {
    let Some(claim) = token.get(SCOPE_CLAIM) else {
        return Vec::new();
    };
    let scopes: Vec<String> = claim
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        vec![NO_SCOPE.to_owned()]
    } else {
        scopes
    }
}

impl Auth {
    /// Where the HMAC key of API keys comes from.
    pub fn api_key_secret_source(&self) -> ApiKeySecretSource {
        self.api_key_hasher().source
    }

    /// Creates a key for `owner` and returns it — the only time it is shown. `actor` is the
    /// staff member (or `None` for the owner themselves, or the command line with
    /// `via_cli`). Audited as `api_key.created`.
    ///
    /// Throttled by the `api_key_create` scope, per owner (but from the command line).
    ///
    /// # Errors
    /// [`AuthError::Throttled`] over the rate; [`AuthError::Invalid`] for a bad name,
    /// expiry or scope, or when `owner` already holds `api_key_max_per_user` live keys;
    /// [`AuthError::Settings`] when no secret is available; the store's error.
    pub async fn create_api_key(
        &self,
        owner: &User,
        request: &ApiKeyRequest,
        audit: Audit,
    ) -> Result<CreatedApiKey, AuthError> {
        if !audit.is_via_cli() {
            self.throttles()
                .check(API_KEY_CREATE_THROTTLE_SCOPE, &format!("user_{}", owner.id))
                .await?;
        }
        let now = self.now();
        let (name, scopes) = validate_request(request, now)?;
        let max = self.api_key_settings().api_key_max_per_user;
        for attempt in 1..=PREFIX_ATTEMPTS {
            let prefix = random_text(PREFIX_CHARS)?;
            let key = format!("{prefix}.{}", random_text(SECRET_CHARS)?);
            let hash = self.api_key_hasher().hash(&key).ok_or_else(no_secret)?;
            let new = NewApiKey {
                prefix: &prefix,
                hash: &hash,
                user_id: owner.id,
                name: &name,
                scopes: &scopes,
                created_at: now,
                expires_at: request.expires_at,
            };
            match self.store().insert_api_key(&new, max).await {
                Ok(Some(api_key)) => {
                    self.audit(
                        audit
                            .clone()
                            .user(owner.id)
                            .detail(json!({"prefix": prefix, "name": name, "scopes": scopes})),
                    )
                    .await;
                    return Ok(CreatedApiKey { key, api_key });
                }
                Ok(None) => {
                    return Err(AuthError::field(
                        "non_field_errors",
                        format!(
                            "You cannot have more than {max} active API keys; revoke one first."
                        ),
                    ));
                }
                Err(error) if attempt < PREFIX_ATTEMPTS && is_unique_violation(&error) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(AuthError::Signing(KeyError::new(
            "could not draw a free API key prefix",
        )))
    }

    /// The keys of `user`, newest first, revoked and expired ones included.
    ///
    /// # Errors
    /// The store's error.
    pub async fn api_keys_of(&self, user: &User) -> Result<Vec<ApiKey>, AuthError> {
        Ok(self.store().api_keys_of(user.id).await?)
    }

    /// Revokes key `prefix`: with `owner`, only theirs; without, anyone's (the command
    /// line; staff go through [`Auth::revoke_api_key_as`], under the privilege rules). Revoking a revoked key changes nothing and succeeds. Audited as
    /// `api_key.revoked` (with `audit`'s actor, client, `via_cli`).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is no such key (of `owner`); the store's error.
    pub async fn revoke_api_key(
        &self,
        prefix: &str,
        owner: Option<&User>,
        audit: Audit,
    ) -> Result<ApiKey, AuthError> {
        let revoked = self
            .store()
            .revoke_api_key(prefix, owner.map(|user| user.id), self.now())
            .await?
            .ok_or(AuthError::NotFound)?;
        self.audit(
            audit
                .user(revoked.user_id)
                .detail(json!({"prefix": revoked.prefix})),
        )
        .await;
        Ok(revoked)
    }

    /// The user a raw key authenticates, and the key: well formed, known, its hash equal
    /// (in constant time), not revoked, not expired; its user there and (with
    /// `check_user_is_active`) active. Records the use (see the module doc). Every refusal
    /// is counted in `tessera_api_key_refused_total`, by `reason`.
    ///
    /// # Errors
    /// [`AuthError::InvalidApiKey`], whatever the reason; the store's error.
    pub async fn authenticate_api_key(
        &self,
        raw: &str,
        client: &ClientInfo,
    ) -> Result<(User, ApiKey), AuthError> {
        let Some(parsed) = parse_key(raw) else {
            return Err(refused("malformed"));
        };
        let store = self.store();
        let Some(key) = store.api_key_by_prefix(parsed.prefix).await? else {
            return Err(refused("unknown"));
        };
        if !self.api_key_hasher().verify(parsed.key, &key.hash) {
            return Err(refused("secret"));
        }
        let now = self.now();
        if key.revoked_at.is_some() {
            return Err(refused("revoked"));
        }
        if !key.is_usable(now) {
            return Err(refused("expired"));
        }
        let Some(user) = store.user_by_id(key.user_id).await? else {
            return Err(refused("user"));
        };
        if self.settings().check_user_is_active && !user.is_active {
            return Err(refused("inactive"));
        }
        self.record_api_key_use(&key, client, now).await;
        Ok((user, key))
    }

    /// Writes the key's use when due (see the module doc), auditing an address other than
    /// the one recorded before. Best effort: a failed write is logged, never an error.
    async fn record_api_key_use(&self, key: &ApiKey, client: &ClientInfo, now: Timestamp) {
        let stale_before = now - LAST_USED_INTERVAL;
        if key.last_used_at.is_some_and(|at| at > stale_before) {
            return;
        }
        let ip = client.ip.as_deref();
        let wrote = match self
            .store()
            .record_api_key_use(key.id, now, ip, stale_before)
            .await
        {
            Ok(wrote) => wrote,
            Err(error) => {
                tracing::warn!(prefix = %key.prefix, %error, "could not record an API key's use");
                return;
            }
        };
        if wrote && key.last_used_ip.as_deref() != ip {
            self.audit(
                Audit::new(event::API_KEY_USED_NEW_IP)
                    .user(key.user_id)
                    .client(client)
                    .detail(json!({"prefix": key.prefix, "previous_ip": key.last_used_ip})),
            )
            .await;
        }
    }

    /// An in-memory access token for a request authenticated by `key` (never signed): the
    /// user id, [`CLIENT_ID_CLAIM`] (the key's prefix) and, for a limited key,
    /// [`SCOPE_CLAIM`]. Its `exp` is at most the key's `expires_at`. What
    /// [`Auth::issue_client_token`] signs.
    pub fn api_key_token(&self, user: &User, key: &ApiKey) -> Token {
        let mut token = Token::for_user(
            self.backend(),
            TokenKind::access(),
            &user.id.to_string(),
            self.now(),
        );
        if let Some(expires) = key.expires_at
            && token.epoch_claim("exp").is_none_or(|exp| exp > expires)
        {
            // Whole seconds, rounded down: the token never outlives the key.
            token.insert("exp", expires.as_secs());
        }
        token.insert(CLIENT_ID_CLAIM, key.prefix.clone());
        if !key.scopes.is_empty() {
            token.insert(SCOPE_CLAIM, key.scopes.join(" "));
        }
        token
    }

    /// For a token minted from an API key (its [`CLIENT_ID_CLAIM`]): the key must still be
    /// its user's, unrevoked and unexpired, so that revoking a key ends its tokens at once
    /// wherever the user is loaded from the store. Other tokens pass. The key is read from
    /// the in-memory state when `held` (loaded once, dropped when the key changes), else
    /// from the store.
    ///
    /// # Errors
    /// [`AuthError::InvalidApiKey`]; the store's error.
    pub(crate) async fn check_client_token(
        &self,
        token: &Token,
        user: &User,
        held: bool,
    ) -> Result<(), AuthError> {
        let Some(client) = token.get(CLIENT_ID_CLAIM) else {
            return Ok(());
        };
        let Some(prefix) = client.as_str() else {
            return Err(refused("token"));
        };
        let key = if held {
            self.revocations().api_key(self.store(), prefix).await?
        } else {
            self.store().api_key_by_prefix(prefix).await?
        };
        match key {
            Some(key) if key.user_id == user.id && key.is_usable(self.now()) => Ok(()),
            _ => Err(refused("token")),
        }
    }

    /// The client-credentials grant: a signed access token for the user of the raw key
    /// (see [`Auth::api_key_token`]) — no refresh token, no session. It verifies like any
    /// access token (`/api/token/verify/`, the JWKS) and lives `access_token_lifetime`, or
    /// until the key expires if that comes first;
    /// routes that load the user ([`Auth::user_for_token`]) refuse it once the key is
    /// revoked or expired, stateless verifiers only at its expiry.
    ///
    /// Throttled by the `client_token` scope, per client address, before the key is looked
    /// at.
    ///
    /// # Errors
    /// [`AuthError::Throttled`] over the rate; as [`Auth::authenticate_api_key`];
    /// [`AuthError::Signing`] without a signing key.
    pub async fn issue_client_token(
        &self,
        raw: &str,
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        self.throttles()
            .check_each(CLIENT_TOKEN_THROTTLE_SCOPE, &[client.ident()])
            .await?;
        let (user, key) = self.authenticate_api_key(raw, client).await?;
        let token = self.api_key_token(&user, &key);
        Ok(self.backend().encode(&token)?)
    }

    /// Creates a service account: a user named `name` (its username; no e-mail address)
    /// with an unusable password, so it can never log in with one — it authenticates with
    /// API keys, and trades them for access tokens ([`Auth::issue_client_token`]). Audited
    /// as `admin.user_created` with `detail.service = true`.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] for a name that is blank, longer than 150 characters, or not
    /// Django's username characters (letters, digits and `@ . + - _`), or taken.
    pub async fn create_service_account(
        &self,
        name: &str,
        audit: Audit,
    ) -> Result<User, AuthError> {
        let name = name.trim();
        let valid = !name.is_empty()
            && name.chars().count() <= 150
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_'));
        if !valid {
            return Err(AuthError::field(
                "username",
                "Enter a valid username: letters, digits and @/./+/-/_ only, at most 150.",
            ));
        }
        let new = tessera_store::NewUser {
            email: String::new(),
            username: Some(name.to_owned()),
            password_hash: "!".into(),
            is_active: true,
            date_joined: self.now(),
            ..tessera_store::NewUser::default()
        };
        let user = match self.store().create_user(&new).await {
            Ok(user) => user,
            Err(StoreError::DuplicateUsername) => {
                return Err(AuthError::field(
                    "username",
                    "A user with that username already exists.",
                ));
            }
            Err(error) => return Err(error.into()),
        };
        self.audit(
            audit
                .user(user.id)
                .login_name(name)
                .detail(json!({"service": true})),
        )
        .await;
        Ok(user)
    }

    /// A page of `user`'s own keys, newest first (revoked and expired ones included): at
    /// most `limit` from the `offset`th on, and how many there are.
    ///
    /// # Errors
    /// The store's error.
    pub async fn own_api_keys(
        &self,
        user: &User,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<ApiKey>), AuthError> {
        Ok(self
            .store()
            .api_keys_page(Some(user.id), false, limit, offset)
            .await?)
    }

    /// A page of keys for `actor`, newest first: `owner`'s, or everyone's; at most `limit`
    /// from the `offset`th on, and how many there are. The admin privilege rules apply
    /// (see [`admin_refusal`](crate::accounts::admin_refusal)): staff who are not
    /// superusers are refused a superuser's keys, and the list of everyone's leaves the
    /// superusers' keys out for them.
    ///
    /// # Errors
    /// [`AuthError::PermissionDenied`] for `owner` a superuser and `actor` not one; the
    /// store's error.
    pub async fn staff_api_keys(
        &self,
        owner: Option<&User>,
        actor: Actor<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<ApiKey>), AuthError> {
        if let Some(owner) = owner {
            self.authorize(owner, AdminAction::ApiKeys, actor).await?;
        }
        let hide_superusers = match actor {
            Actor::Staff { user, .. } => !user.is_superuser,
            Actor::CommandLine => false,
        };
        Ok(self
            .store()
            .api_keys_page(owner.map(|u| u.id), hide_superusers, limit, offset)
            .await?)
    }

    /// Revokes key `prefix` of any user for `actor`, under the admin privilege rules (only a
    /// superuser revokes a superuser's key). Revoking a revoked key changes nothing and
    /// succeeds. Audited as `api_key.revoked` with the actor.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is no such key; [`AuthError::PermissionDenied`]
    /// under the privilege rules; the store's error.
    pub async fn revoke_api_key_as(
        &self,
        prefix: &str,
        actor: Actor<'_>,
    ) -> Result<ApiKey, AuthError> {
        let key = self
            .store()
            .api_key_by_prefix(prefix)
            .await?
            .ok_or(AuthError::NotFound)?;
        let owner = self
            .store()
            .user_by_id(key.user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        self.authorize(&owner, AdminAction::ApiKeys, actor).await?;
        let revoked = self
            .store()
            .revoke_api_key(prefix, Some(owner.id), self.now())
            .await?
            .ok_or(AuthError::NotFound)?;
        self.audit(
            actor
                .event(event::API_KEY_REVOKED, &owner)
                .detail(json!({"prefix": revoked.prefix})),
        )
        .await;
        Ok(revoked)
    }

    /// Revokes every live key of `user` — their password changed, so whatever the keys were
    /// given for is in doubt too. One `api_key.revoked` per key, with
    /// `detail.reason = "password_changed"`. Returns how many were revoked.
    ///
    /// # Errors
    /// The store's error.
    pub(crate) async fn revoke_api_keys_for_password(
        &self,
        user: &User,
        client: Option<&ClientInfo>,
    ) -> Result<usize, AuthError> {
        let revoked = self.store().revoke_api_keys_of(user.id, self.now()).await?;
        for key in &revoked {
            let mut audit = Audit::new(event::API_KEY_REVOKED)
                .user(user.id)
                .detail(json!({"prefix": key.prefix, "reason": "password_changed"}));
            if let Some(client) = client {
                audit = audit.client(client);
            }
            self.audit(audit).await;
        }
        Ok(revoked.len())
    }
}

/// The request's name (trimmed) and scopes (deduplicated, in order), or why not.
fn validate_request(
    request: &ApiKeyRequest,
    now: Timestamp,
) -> Result<(String, Vec<String>), AuthError> {
    let mut errors = crate::form::FieldErrors::default();
    let name = request.name.trim();
    if name.is_empty() {
        errors.add("name", "This field may not be blank.");
    } else if name.chars().any(char::is_control) {
        errors.add("name", "Control characters are not allowed.");
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.add(
            "name",
            format!("Ensure this field has no more than {MAX_NAME_CHARS} characters."),
        );
    }
    if request.expires_at.is_some_and(|at| at <= now) {
        errors.add("expires_at", "Must be in the future.");
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in &request.scopes {
        if !valid_scope(scope) {
            errors.add(
                "scopes",
                format!("A scope is 1 to {MAX_SCOPE_CHARS} letters, digits or `_ - . : /`."),
            );
            break;
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    if scopes.len() > MAX_SCOPES {
        errors.add(
            "scopes",
            format!("Ensure this field has no more than {MAX_SCOPES} elements."),
        );
    }
    if errors.is_empty() {
        Ok((name.to_owned(), scopes))
    } else {
        Err(errors.into())
    }
}

/// `len` random characters of [`ALPHABET`] (rejection sampling: no bias).
fn random_text(len: usize) -> Result<String, AuthError> {
    let mut out = String::with_capacity(len);
    let mut buffer = [0u8; 64];
    while out.len() < len {
        aws_lc_rs::rand::fill(&mut buffer)
            .map_err(|_| KeyError::new("the random generator failed"))?;
        for &byte in &buffer {
            // 248 = 4 × 62: the bytes above would favour the first characters.
            if byte < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    Ok(out)
}

fn is_unique_violation(error: &StoreError) -> bool {
    matches!(error, StoreError::Database(sqlx_error) if sqlx_error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation()))
}

/// The refusal when no HMAC key is available.
fn no_secret() -> AuthError {
    SettingsError {
        setting: "api_key_secret".into(),
        message: "API keys need `api_key_secret` (or `key_encryption_key`) to be set".into(),
    }
    .into()
}

/// Counts a refused key and answers it.
fn refused(reason: &'static str) -> AuthError {
    metrics::counter!("tessera_api_key_refused_total", "reason" => reason).increment(1);
    tracing::debug!(reason, "refused an API key");
    AuthError::InvalidApiKey
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(secret: &str) -> ApiKeyHasher {
        let settings = ApiKeySettings {
            api_key_secret: Some(secret.into()),
            ..ApiKeySettings::default()
        };
        ApiKeyHasher::new(&settings, None, None)
    }

    #[test]
    fn keys_are_eight_and_thirty_two_alphanumerics_around_a_dot() {
        let key = format!("{}.{}", random_text(8).unwrap(), random_text(32).unwrap());
        let parsed = parse_key(&key).expect("well formed");
        assert_eq!(parsed.prefix, &key[..8]);
        assert!(!format!("{parsed:?}").contains(&key[9..]));
        for bad in [
            "",
            "abcdefgh",
            "abcdefgh.",
            &format!("abcdefg.{}", "a".repeat(33)),
            &format!("abcdefgh.{}", "a".repeat(31)),
            &format!("abcdefgh.{}", "a".repeat(33)),
            &format!("abcdefgh-{}", "a".repeat(32)),
            &format!("abcdefgh.{}é", "a".repeat(30)),
            &format!("abcdefg .{}", "a".repeat(32)),
        ] {
            assert!(parse_key(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn random_text_uses_the_whole_alphabet() {
        let text = random_text(4000).unwrap();
        assert_eq!(text.len(), 4000);
        for c in ALPHABET {
            assert!(text.as_bytes().contains(c), "{}", char::from(*c));
        }
    }

    /// A known-answer vector: HMAC-SHA256 (RFC 4231 test case 2's key and data).
    #[test]
    fn the_stored_hash_is_hmac_sha256_in_hex() {
        let hasher = ApiKeyHasher {
            key: Some(hmac::Key::new(hmac::HMAC_SHA256, b"Jefe")),
            source: ApiKeySecretSource::Configured,
        };
        assert_eq!(
            hasher.hash("what do ya want for nothing?").unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verification_needs_the_same_key_and_the_same_secret() {
        let one = hasher("one-secret-of-at-least-32-bytes-long");
        let two = hasher("another-secret-at-least-32-bytes-long");
        let key = "AbCdEfGh.0123456789abcdefghijABCDEFGHIJ01";
        let stored = one.hash(key).unwrap();
        assert_eq!(stored.len(), 64);
        assert!(one.verify(key, &stored));
        assert!(!two.verify(key, &stored));
        assert!(!one.verify("AbCdEfGh.0123456789abcdefghijABCDEFGHIJ02", &stored));
        assert!(!one.verify(key, &stored[..63]));
        assert!(!one.verify(key, ""));
        let none = ApiKeyHasher::new(&ApiKeySettings::default(), None, None);
        assert_eq!(none.source, ApiKeySecretSource::Missing);
        assert!(!none.verify(key, &stored));
    }

    #[test]
    fn the_secret_comes_from_the_setting_then_the_kek_then_the_signing_key() {
        let kek = Secret::from("k".repeat(32));
        let signing = Secret::from("s".repeat(64));
        let configured = ApiKeySettings {
            api_key_secret: Some("c".repeat(32).into()),
            ..ApiKeySettings::default()
        };
        let unset = ApiKeySettings::default();
        let sources = [
            ApiKeyHasher::new(&configured, Some(&kek), Some(&signing)),
            ApiKeyHasher::new(&unset, Some(&kek), Some(&signing)),
            ApiKeyHasher::new(&unset, None, Some(&signing)),
        ];
        assert_eq!(
            sources.each_ref().map(|h| h.source),
            [
                ApiKeySecretSource::Configured,
                ApiKeySecretSource::KeyEncryptionKey,
                ApiKeySecretSource::SigningKey
            ]
        );
        // Each source gives another hash; the derived key is not the material itself.
        let hashes = sources.each_ref().map(|h| h.hash("k").unwrap());
        assert_ne!(hashes[0], hashes[1]);
        assert_ne!(hashes[1], hashes[2]);
        let raw_kek = ApiKeyHasher {
            key: Some(hmac::Key::new(hmac::HMAC_SHA256, kek.expose().as_bytes())),
            source: ApiKeySecretSource::Configured,
        };
        assert_ne!(raw_kek.hash("k"), Some(hashes[1].clone()));
    }

    #[test]
    fn settings_refuse_a_short_secret_and_a_zero_bound() {
        assert!(ApiKeySettings::default().validate().is_ok());
        let short = ApiKeySettings {
            api_key_secret: Some("short".into()),
            ..ApiKeySettings::default()
        };
        assert_eq!(short.validate().unwrap_err().setting, "api_key_secret");
        let zero = ApiKeySettings {
            api_key_max_per_user: 0,
            ..ApiKeySettings::default()
        };
        assert_eq!(zero.validate().unwrap_err().setting, "api_key_max_per_user");
        assert!(!format!("{short:?}").contains("short"));
    }

    #[test]
    fn scopes_are_checked_and_an_empty_list_grants_everything() {
        assert!(valid_scope("orders:read"));
        assert!(valid_scope("a/b.c-d_e"));
        for bad in ["", "a b", "é", &"a".repeat(65)] {
            assert!(!valid_scope(bad), "{bad}");
        }
        assert!(scopes_grant(&[], "anything"));
        let limited = vec!["read".to_owned()];
        assert!(scopes_grant(&limited, "read"));
        assert!(!scopes_grant(&limited, "write"));
    }

    /// A service on a fresh database with one user, Ada, at a manual clock.
    async fn service() -> (Auth, tessera_core::ManualClock, User) {
        let store = tessera_store::Store::connect("sqlite::memory:")
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let (clock, hand) = tessera_core::Clock::manual(Timestamp::from_secs(1_735_689_600));
        let settings = tessera_core::Settings {
            signing_key: Some("a-signing-key-of-at-least-32-bytes-long".into()),
            ..tessera_core::Settings::default()
        };
        let auth = Auth::builder(settings, store)
            .clock(clock)
            .hasher(tessera_store::PasswordHasher::new(1))
            .offline()
            .build()
            .await
            .unwrap();
        let ada = auth
            .store()
            .create_user(&tessera_store::NewUser {
                email: "ada@example.com".into(),
                password_hash: "!".into(),
                is_active: true,
                ..tessera_store::NewUser::default()
            })
            .await
            .unwrap();
        (auth, hand, ada)
    }

    fn request(name: &str) -> ApiKeyRequest {
        ApiKeyRequest {
            name: name.into(),
            ..ApiKeyRequest::default()
        }
    }

    fn refused<T>(result: Result<T, AuthError>) -> bool {
        matches!(result, Err(AuthError::InvalidApiKey))
    }

    #[tokio::test]
    async fn a_key_authenticates_its_user_until_revoked() {
        let (auth, _, ada) = service().await;
        let client = ClientInfo::default();
        let created = auth
            .create_api_key(&ada, &request("ci"), Audit::new(event::API_KEY_CREATED))
            .await
            .unwrap();
        assert!(!format!("{created:?}").contains(&created.key[9..]));
        assert!(!format!("{created:?}").contains(&created.api_key.hash));
        assert_eq!(auth.api_key_secret_source(), ApiKeySecretSource::SigningKey);
        let (user, key) = auth
            .authenticate_api_key(&created.key, &client)
            .await
            .unwrap();
        assert_eq!(
            (user.id, key.prefix.as_str()),
            (ada.id, created.api_key.prefix.as_str())
        );
        auth.revoke_api_key(&key.prefix, Some(&ada), Audit::new(event::API_KEY_REVOKED))
            .await
            .unwrap();
        assert!(refused(
            auth.authenticate_api_key(&created.key, &client).await
        ));
        assert!(refused(
            auth.authenticate_api_key("nonsense", &client).await
        ));
    }

    #[tokio::test]
    async fn another_secret_refuses_every_key() {
        let (auth, _, ada) = service().await;
        let created = auth
            .create_api_key(&ada, &request("ci"), Audit::new(event::API_KEY_CREATED))
            .await
            .unwrap();
        let other = auth
            .to_builder()
            .api_keys(ApiKeySettings {
                api_key_secret: Some("another-secret-of-at-least-32-bytes".into()),
                ..ApiKeySettings::default()
            })
            .offline()
            .build()
            .await
            .unwrap();
        assert_eq!(
            other.api_key_secret_source(),
            ApiKeySecretSource::Configured
        );
        assert!(refused(
            other
                .authenticate_api_key(&created.key, &ClientInfo::default())
                .await
        ));
    }

    #[tokio::test]
    async fn without_a_secret_keys_can_be_neither_made_nor_used() {
        let store = tessera_store::Store::connect("sqlite::memory:")
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let auth = Auth::builder(tessera_core::Settings::default(), store)
            .offline()
            .build()
            .await
            .unwrap();
        assert_eq!(auth.api_key_secret_source(), ApiKeySecretSource::Missing);
        let ada = User {
            id: 1,
            email: String::new(),
            username: None,
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: Timestamp::from_secs(0),
            last_login: None,
            password_changed_at: None,
            extra: Default::default(),
            email_verified: false,
            password_hash: String::new(),
        };
        let made = auth
            .create_api_key(&ada, &request("ci"), Audit::new(event::API_KEY_CREATED))
            .await;
        assert_eq!(made.unwrap_err().setting(), Some("api_key_secret"));
    }

    #[tokio::test]
    async fn a_service_account_has_no_password_to_log_in_with() {
        let (auth, _, _) = service().await;
        let svc = auth
            .create_service_account("billing-svc", Audit::new(event::ADMIN_USER_CREATED))
            .await
            .unwrap();
        assert!(!svc.has_usable_password());
        assert_eq!(
            (svc.email.as_str(), svc.username.as_deref()),
            ("", Some("billing-svc"))
        );
        assert!(matches!(
            auth.create_service_account("billing-svc", Audit::new(event::ADMIN_USER_CREATED))
                .await,
            Err(AuthError::Invalid(_))
        ));
        for bad in ["", "has space", &"x".repeat(151)] {
            assert!(
                auth.create_service_account(bad, Audit::new(event::ADMIN_USER_CREATED))
                    .await
                    .is_err(),
                "{bad}"
            );
        }
        let created = auth
            .create_api_key(&svc, &request("svc"), Audit::new(event::API_KEY_CREATED))
            .await
            .unwrap();
        let (user, _) = auth
            .authenticate_api_key(&created.key, &ClientInfo::default())
            .await
            .unwrap();
        assert_eq!(user.id, svc.id);
    }

    #[test]
    fn requests_are_validated() {
        let now = Timestamp::from_secs(1_000);
        let ok = ApiKeyRequest {
            name: "  ci  ".into(),
            expires_at: Some(Timestamp::from_secs(2_000)),
            scopes: vec!["a".into(), "b".into(), "a".into()],
        };
        assert_eq!(
            validate_request(&ok, now).unwrap(),
            ("ci".to_owned(), vec!["a".to_owned(), "b".to_owned()])
        );
        for bad in [
            ApiKeyRequest {
                name: " ".into(),
                ..ApiKeyRequest::default()
            },
            ApiKeyRequest {
                name: "x".repeat(51),
                ..ApiKeyRequest::default()
            },
            ApiKeyRequest {
                name: "x".into(),
                expires_at: Some(now),
                ..ApiKeyRequest::default()
            },
            ApiKeyRequest {
                name: "bell\u{7}".into(),
                ..ApiKeyRequest::default()
            },
            ApiKeyRequest {
                name: "two\nlines".into(),
                ..ApiKeyRequest::default()
            },
            ApiKeyRequest {
                name: "a\u{85}b".into(),
                ..ApiKeyRequest::default()
            },
            ApiKeyRequest {
                name: "x".into(),
                scopes: vec!["has space".into()],
                ..ApiKeyRequest::default()
            },
            ApiKeyRequest {
                name: "x".into(),
                scopes: (0..33).map(|i| format!("s{i}")).collect(),
                ..ApiKeyRequest::default()
            },
        ] {
            assert!(
                matches!(validate_request(&bad, now), Err(AuthError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_name_with_a_control_character_is_a_field_error() {
        let now = Timestamp::from_secs(1_000);
        let request = ApiKeyRequest {
            name: "tab\there".into(),
            ..ApiKeyRequest::default()
        };
        let Err(AuthError::Invalid(errors)) = validate_request(&request, now) else {
            panic!("accepted");
        };
        assert!(
            format!("{errors:?}").contains("Control characters"),
            "{errors:?}"
        );
    }

    #[tokio::test]
    async fn a_scope_claim_that_is_not_a_list_of_names_grants_nothing() {
        let (auth, _, ada) = service().await;
        let created = auth
            .create_api_key(&ada, &request("ci"), Audit::new(event::API_KEY_CREATED))
            .await
            .unwrap();
        let mut token = auth.api_key_token(&ada, &created.api_key);
        // No claim: no limit.
        assert!(scopes_grant(&token_scopes(&token), "orders:read"));
        for claim in [
            json!(["orders:read"]),
            json!({"orders:read": true}),
            json!(true),
            json!(1),
            json!(null),
            json!(""),
            json!("  "),
        ] {
            token.insert(SCOPE_CLAIM, claim.clone());
            let scopes = token_scopes(&token);
            assert!(!scopes.is_empty(), "{claim}");
            for scope in ["orders:read", "", NO_SCOPE] {
                assert!(
                    !scopes_grant(&scopes, scope) || scope == NO_SCOPE,
                    "{claim} grants {scope:?}"
                );
            }
            assert!(!valid_scope(NO_SCOPE));
        }
        token.insert(SCOPE_CLAIM, "orders:read  orders:write");
        assert_eq!(token_scopes(&token), ["orders:read", "orders:write"]);
    }

    #[tokio::test]
    async fn a_client_token_never_outlives_its_key() {
        let (auth, _, ada) = service().await;
        let now = auth.now();
        let lifetime = auth.settings().access_token_lifetime;
        let soon = now.add_secs(30);
        let short = auth
            .create_api_key(
                &ada,
                &ApiKeyRequest {
                    expires_at: Some(soon),
                    ..request("short")
                },
                Audit::new(event::API_KEY_CREATED),
            )
            .await
            .unwrap();
        let token = auth.api_key_token(&ada, &short.api_key);
        assert_eq!(token.epoch_claim("exp"), Some(soon));
        let later = now + lifetime + Duration::from_secs(3600);
        let long = auth
            .create_api_key(
                &ada,
                &ApiKeyRequest {
                    expires_at: Some(later),
                    ..request("long")
                },
                Audit::new(event::API_KEY_CREATED),
            )
            .await
            .unwrap();
        let token = auth.api_key_token(&ada, &long.api_key);
        assert_eq!(token.epoch_claim("exp"), Some(now + lifetime));
    }

    #[tokio::test]
    async fn a_failed_last_use_write_does_not_refuse_a_valid_key() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let store = tessera_store::Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let settings = tessera_core::Settings {
            signing_key: Some("a-signing-key-of-at-least-32-bytes-long".into()),
            ..tessera_core::Settings::default()
        };
        let auth = Auth::builder(settings, store)
            .offline()
            .build()
            .await
            .unwrap();
        let ada = auth
            .store()
            .create_user(&tessera_store::NewUser {
                email: "ada@example.com".into(),
                password_hash: "!".into(),
                is_active: true,
                ..tessera_store::NewUser::default()
            })
            .await
            .unwrap();
        let created = auth
            .create_api_key(&ada, &request("ci"), Audit::new(event::API_KEY_CREATED))
            .await
            .unwrap();
        // Another connection makes every write of a use fail.
        let side = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER no_use BEFORE UPDATE OF last_used_at ON api_keys \
             BEGIN SELECT RAISE(ABORT, 'no writes'); END",
        )
        .execute(&side)
        .await
        .unwrap();
        let (user, key) = auth
            .authenticate_api_key(
                &created.key,
                &ClientInfo::new(None, Some("10.0.0.1".into())),
            )
            .await
            .expect("the key is valid");
        assert_eq!((user.id, key.last_used_at), (ada.id, None));
        assert!(
            auth.store()
                .api_key_by_prefix(&key.prefix)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
                .is_none()
        );
    }
}
