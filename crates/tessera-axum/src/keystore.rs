//! Signing keys kept in the store (`key_source = "store"`), rotation without downtime, and
//! starting a [`Tessera`]'s keys: key files, the store's ring and its refresher, a remote JWKS.
//!
//! A stored key goes through these states:
//!
//! | state | signs | verifies, in the JWKS |
//! |---|---|---|
//! | `published` — generated, not scheduled | no | yes |
//! | `scheduled` — will sign from `activates_at` | no | yes |
//! | `active` — the newest key whose `activates_at` has come | yes | yes |
//! | `retired` — `retired_at` has passed | no | yes, until every token it signed has expired |
//! | `expired` | no | no |
//!
//! A rotation schedules a key `key_publish_lead` after it was published, so every instance
//! (which re-reads the table every `key_refresh_interval`) and every JWKS cache (at most
//! `jwks_cache_ttl`) knows it before any token it signs is seen; the key it replaces
//! retires at that instant and keeps verifying for the longest token lifetime, plus leeway
//! and one refresh interval. No valid token is ever refused across the switch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::{
    Algorithm, Key, KeyEncryptionKey, KeyError, KeyOrigin, KeyRing, Secret, Settings,
    SettingsError, generate_private_key, open_private_key, seal_private_key,
};
use tessera_store::{Retirement, Store, StoreError, StoredKey};

use crate::remote::RemoteJwks;
use crate::representation::drf_datetime;
use crate::state::Tessera;

const MICROS: i64 = 1_000_000;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// A setting cannot work (it is named).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A key cannot be read, opened or used.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operation makes no sense for these keys (unknown id, the only signing key …).
    #[error("{0}")]
    Refused(String),
}

/// Where a stored key stands at a given instant (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// In the JWKS and verifying; not scheduled to sign.
    Published,
    /// In the JWKS and verifying; signs from `activates_at`.
    Scheduled,
    /// Signs new tokens.
    Active,
    /// No longer signs; verifies the tokens it signed until `expires_at`.
    Retired,
    /// Its tokens have all expired: out of the ring and the JWKS.
    Expired,
}

impl KeyState {
    /// The state's name, as `tessera keys list` and the admin API print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Expired => "expired",
        }
    }
}

/// A stored key and its state at one instant. Times are microseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The key id.
    pub kid: String,
    /// The algorithm, e.g. `"EdDSA"`.
    pub algorithm: String,
    /// Where the key stands.
    pub state: KeyState,
    /// When it was created and published.
    pub created_at: i64,
    /// When it signs (or signed) from.
    pub activates_at: Option<i64>,
    /// When it stops (or stopped) signing.
    pub retired_at: Option<i64>,
    /// When it drops out of the ring and the JWKS.
    pub expires_at: Option<i64>,
    /// Whether the private part is encrypted at rest.
    pub encrypted: bool,
}

impl KeyStatus {
    /// The admin API's JSON object; times as DRF writes them.
    pub fn to_json(&self) -> Value {
        let time = |t: Option<i64>| t.map(drf_datetime);
        json!({
            "kid": self.kid,
            "algorithm": self.algorithm,
            "state": self.state.as_str(),
            "created_at": drf_datetime(self.created_at),
            "activates_at": time(self.activates_at),
            "retired_at": time(self.retired_at),
            "expires_at": time(self.expires_at),
            "encrypted": self.encrypted,
        })
    }
}

/// Reads `signing_key_file` and `verifying_key_file` into `signing_key` and
/// `verifying_key` (the core does no I/O). Errors name the file setting.
pub fn load_key_files(mut settings: Settings) -> Result<Settings, SettingsError> {
    let read = |path: &std::path::Path, setting: &str| {
        std::fs::read_to_string(path).map_err(|e| SettingsError {
            setting: setting.into(),
            message: format!("cannot read {}: {e}", path.display()),
        })
    };
    if let Some(path) = settings.signing_key_file.take() {
        if settings.signing_key.is_some() {
            return Err(SettingsError {
                setting: "signing_key_file".into(),
                message: "set either `signing_key` or `signing_key_file`, not both".into(),
            });
        }
        let text = read(&path, "signing_key_file")?;
        // A secret in a file usually ends with a newline that is not part of it.
        settings.signing_key = Some(Secret::from(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    if let Some(path) = settings.verifying_key_file.take() {
        if !settings.verifying_key.is_empty() {
            return Err(SettingsError {
                setting: "verifying_key_file".into(),
                message: "set either `verifying_key` or `verifying_key_file`, not both".into(),
            });
        }
        settings.verifying_key = read(&path, "verifying_key_file")?;
    }
    Ok(settings)
}

/// The store's signing keys: generate, rotate, retire, list, and the ring they make.
#[derive(Debug, Clone)]
pub struct KeyManager {
    store: Store,
    settings: Arc<Settings>,
    kek: Option<Arc<KeyEncryptionKey>>,
}

/// A ring built from the store, with what is needed to know when it changes.
#[derive(Debug)]
pub struct LoadedRing {
    /// The ring: the active key signs; published, scheduled and retired keys verify.
    pub ring: KeyRing,
    /// The kids in the ring, the active one first: equal fingerprints, equal rings.
    pub fingerprint: Vec<String>,
    /// The next instant (microseconds) a key changes state, if any.
    pub next_change: Option<i64>,
}

impl KeyManager {
    /// A manager for `store` under `settings` (`key_encryption_key`, lifetimes, lead time).
    pub fn new(store: Store, settings: &Settings) -> Result<Self, SettingsError> {
        let kek = settings
            .key_encryption_key
            .as_ref()
            .map(KeyEncryptionKey::from_secret)
            .transpose()?
            .map(Arc::new);
        Ok(Self {
            store,
            settings: Arc::new(settings.clone()),
            kek,
        })
    }

    /// How long after it stops signing a key still verifies: the longest token lifetime,
    /// plus leeway, plus one refresh interval (instances switch keys at their next refresh).
    pub fn verify_window(&self) -> Duration {
        let s = &self.settings;
        [
            s.access_token_lifetime,
            s.refresh_token_lifetime,
            s.sliding_token_lifetime,
            s.sliding_token_refresh_lifetime,
        ]
        .into_iter()
        .max()
        .unwrap_or_default()
            + s.leeway
            + s.key_refresh_interval
    }

    fn window_micros(&self) -> i64 {
        i64::try_from(self.verify_window().as_micros()).unwrap_or(i64::MAX)
    }

    /// Every stored key and its state at `now` (microseconds), oldest first.
    pub async fn list(&self, now: i64) -> Result<Vec<KeyStatus>, KeysError> {
        let keys = self.store.signing_keys().await?;
        Ok(self.statuses(&keys, now))
    }

    fn statuses(&self, keys: &[StoredKey], now: i64) -> Vec<KeyStatus> {
        let window = self.window_micros();
        let active = keys
            .iter()
            .filter(|k| {
                k.activates_at.is_some_and(|a| a <= now) && k.retired_at.is_none_or(|r| r > now)
            })
            .max_by_key(|k| (k.activates_at, k.created_at))
            .map(|k| k.kid.clone());
        keys.iter()
            .map(|k| {
                let expires_at = k.retired_at.map(|r| r.saturating_add(window));
                let state = if active.as_deref() == Some(k.kid.as_str()) {
                    KeyState::Active
                } else if k.retired_at.is_some_and(|r| r <= now) {
                    if expires_at.is_some_and(|e| e > now) {
                        KeyState::Retired
                    } else {
                        KeyState::Expired
                    }
                } else if k.activates_at.is_some_and(|a| a > now) {
                    KeyState::Scheduled
                } else if k.activates_at.is_none() {
                    KeyState::Published
                } else {
                    // Signed once, replaced without a retirement time: keep verifying.
                    KeyState::Retired
                };
                KeyStatus {
                    kid: k.kid.clone(),
                    algorithm: k.algorithm.clone(),
                    state,
                    created_at: k.created_at,
                    activates_at: k.activates_at,
                    retired_at: k.retired_at,
                    expires_at,
                    encrypted: tessera_core::is_sealed(&k.private_key),
                }
            })
            .collect()
    }

    /// Refuses to add an unencrypted key beside encrypted ones (a command line run without
    /// the server's `key_encryption_key`).
    fn check_sealing(&self, keys: &[StoredKey]) -> Result<(), KeysError> {
        if self.kek.is_none() && keys.iter().any(|k| tessera_core::is_sealed(&k.private_key)) {
            return Err(KeysError::Refused(
                "the stored keys are encrypted; set `key_encryption_key` (TESSERA_KEY_ENCRYPTION_KEY) \
                 as the server has it"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A new key for `algorithm`, sealed, not yet in the store.
    fn new_key(&self, algorithm: Algorithm, now: i64) -> Result<StoredKey, KeysError> {
        let private = generate_private_key(algorithm)?;
        let kid = new_kid(now)?;
        let private_key = seal_private_key(self.kek.as_deref(), &kid, &private)?;
        Ok(StoredKey {
            kid,
            algorithm: algorithm.name().to_owned(),
            private_key,
            created_at: now,
            activates_at: None,
            retired_at: None,
        })
    }

    /// Generates a key and publishes it (in the JWKS, verifying) without scheduling it:
    /// a later rotation picks it up.
    pub async fn generate(
        &self,
        algorithm: Option<Algorithm>,
        now: i64,
    ) -> Result<KeyStatus, KeysError> {
        self.check_sealing(&self.store.signing_keys().await?)?;
        let key = self.new_key(algorithm.unwrap_or(self.settings.algorithm), now)?;
        self.store.insert_signing_key(&key).await?;
        self.status(&key.kid, now).await
    }

    /// Creates the first key, signing at once, when the store holds no key that is not
    /// retired (a fresh installation; several instances starting together make one key).
    /// Returns it when it was created.
    pub async fn ensure_first_key(&self, now: i64) -> Result<Option<KeyStatus>, KeysError> {
        let keys = self.store.signing_keys().await?;
        if self
            .statuses(&keys, now)
            .iter()
            .any(|k| k.state == KeyState::Active)
        {
            return Ok(None);
        }
        if keys.iter().any(|k| k.retired_at.is_none()) {
            // Keys exist but none signs yet: a rotation must finish, not a first key.
            return Ok(None);
        }
        let mut key = self.new_key(self.settings.algorithm, now)?;
        key.activates_at = Some(now);
        if self.store.insert_first_signing_key(&key).await? {
            Ok(Some(self.status(&key.kid, now).await?))
        } else {
            Ok(None)
        }
    }

    /// Schedules a key to take over signing: the newest published key of `algorithm` (the
    /// configured one by default) or a new one, from `key_publish_lead` after it was
    /// published — at once when no key signs now. The key signing until then retires at
    /// that instant and keeps verifying its tokens.
    pub async fn rotate(
        &self,
        algorithm: Option<Algorithm>,
        now: i64,
    ) -> Result<KeyStatus, KeysError> {
        let algorithm = algorithm.unwrap_or(self.settings.algorithm);
        let keys = self.store.signing_keys().await?;
        self.check_sealing(&keys)?;
        let statuses = self.statuses(&keys, now);
        let standby = statuses
            .iter()
            .filter(|k| k.state == KeyState::Published && k.algorithm == algorithm.name())
            .filter(|k| {
                keys.iter()
                    .any(|s| s.kid == k.kid && s.retired_at.is_none())
            })
            .max_by_key(|k| k.created_at)
            .cloned();
        let (kid, published_at) = match standby {
            Some(k) => (k.kid, k.created_at),
            None => {
                let key = self.new_key(algorithm, now)?;
                self.store.insert_signing_key(&key).await?;
                (key.kid, now)
            }
        };
        let someone_signs = statuses.iter().any(|k| k.state == KeyState::Active);
        let lead = i64::try_from(self.settings.key_publish_lead.as_micros()).unwrap_or(i64::MAX);
        let at = if someone_signs {
            published_at.saturating_add(lead).max(now)
        } else {
            now
        };
        if !self.store.activate_signing_key(&kid, at).await? {
            return Err(KeysError::Refused(format!(
                "key {kid:?} was retired meanwhile; rotate again"
            )));
        }
        self.status(&kid, now).await
    }

    /// Stops `kid` signing now; it keeps verifying until its tokens have expired. The only
    /// key signing cannot be retired: rotate first.
    pub async fn retire(&self, kid: &str, now: i64) -> Result<KeyStatus, KeysError> {
        match self.store.retire_signing_key(kid, now).await? {
            Retirement::Retired => self.status(kid, now).await,
            Retirement::NotFound => Err(KeysError::Refused(format!("no key has the id {kid:?}"))),
            Retirement::AlreadyRetired => Err(KeysError::Refused(format!(
                "key {kid:?} is already retired"
            ))),
            Retirement::OnlySigningKey => Err(KeysError::Refused(format!(
                "key {kid:?} is the only key signing now; rotate first, and retire it once the new key signs"
            ))),
        }
    }

    async fn status(&self, kid: &str, now: i64) -> Result<KeyStatus, KeysError> {
        self.list(now)
            .await?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeysError::Refused(format!("no key has the id {kid:?}")))
    }

    /// The ring the store's keys make at `now`. `cache` keeps keys already opened (by kid)
    /// so a refresh does not decrypt and parse every key again.
    pub async fn ring(
        &self,
        now: i64,
        cache: &mut HashMap<String, Key>,
    ) -> Result<LoadedRing, KeysError> {
        let keys = self.store.signing_keys().await?;
        let statuses = self.statuses(&keys, now);
        let mut active = None;
        let mut others = Vec::new();
        let mut fingerprint = Vec::new();
        let mut next_change: Option<i64> = None;
        for (stored, status) in keys.iter().zip(&statuses) {
            for t in [status.activates_at, status.retired_at, status.expires_at]
                .into_iter()
                .flatten()
                .filter(|t| *t > now)
            {
                next_change = Some(next_change.map_or(t, |n| n.min(t)));
            }
            if status.state == KeyState::Expired {
                continue;
            }
            let key = match cache.get(&stored.kid) {
                Some(key) => key.clone(),
                None => {
                    let key = self.open(stored)?;
                    cache.insert(stored.kid.clone(), key.clone());
                    key
                }
            };
            if status.state == KeyState::Active {
                active = Some(key);
            } else {
                fingerprint.push(stored.kid.clone());
                others.push(key);
            }
        }
        cache.retain(|kid, _| keys.iter().any(|k| &k.kid == kid));
        let active = active.ok_or_else(|| {
            KeysError::Refused(
                "no stored key signs now; run `tessera keys rotate` to schedule one".into(),
            )
        })?;
        fingerprint.insert(0, active.kid().unwrap_or_default().to_owned());
        Ok(LoadedRing {
            ring: KeyRing::new(active, others)?,
            fingerprint,
            next_change,
        })
    }

    fn open(&self, stored: &StoredKey) -> Result<Key, KeysError> {
        let algorithm: Algorithm = stored.algorithm.parse()?;
        let private = open_private_key(self.kek.as_deref(), &stored.kid, &stored.private_key)?;
        let key = if algorithm.is_hmac() {
            Key::hmac(algorithm, private.expose().as_bytes())?
        } else {
            Key::from_private_pem(algorithm, private.expose())?
        };
        Ok(key.with_kid(stored.kid.clone())?)
    }
}

/// A key id: the creation date and 8 random hex digits, e.g. `20261123-3f9a1c2b`.
fn new_kid(now: i64) -> Result<String, KeyError> {
    let date = time::OffsetDateTime::from_unix_timestamp(now.div_euclid(MICROS))
        .map(|t| format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| "key".into());
    let mut random = [0u8; 4];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| KeyError::new("the random generator failed"))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{date}-{hex}"))
}

impl Tessera {
    /// [`Tessera::new`] for a server: reads key files, and starts the keys the settings
    /// describe (see [`Tessera::start_keys`]).
    pub async fn build(settings: Settings, store: Store) -> Result<Self, KeysError> {
        let tessera = Self::new(load_key_files(settings)?, store)?;
        tessera.start_keys().await?;
        Ok(tessera)
    }

    /// Starts what the key settings need beyond the configured key: with
    /// `key_source = "store"`, the first key when there is none, the stored ring, and a task
    /// that re-reads it every `key_refresh_interval` (and when a key changes state); with
    /// `jwk_url`, the remote JWKS (fetched now in the background; a failure is logged, and
    /// retried when a token needs it).
    pub async fn start_keys(&self) -> Result<(), KeysError> {
        let settings = self.settings();
        if settings.jwk_url.is_some() && self.backend().key_source().is_none() {
            let remote = RemoteJwks::new(settings)?;
            let _ = self.backend().set_key_source(remote.clone());
            tokio::spawn(async move {
                if let Err(error) = remote.fetch().await {
                    tracing::warn!(%error, "could not fetch the remote JWKS (jwk_url) yet");
                }
            });
        }
        if settings.key_source == KeyOrigin::Store {
            let manager = self.key_manager()?;
            if let Some(first) = manager.ensure_first_key(self.now_micros()).await? {
                tracing::info!(kid = %first.kid, algorithm = %first.algorithm, "created the first signing key in the store");
            }
            let mut cache = HashMap::new();
            let loaded = manager.ring(self.now_micros(), &mut cache).await?;
            self.backend().set_keys(loaded.ring);
            tokio::spawn(refresh_keys(
                self.clone(),
                manager,
                cache,
                loaded.fingerprint,
                loaded.next_change,
            ));
        }
        Ok(())
    }

    /// The manager of the store's keys, under this state's settings.
    pub fn key_manager(&self) -> Result<KeyManager, SettingsError> {
        KeyManager::new(self.store().clone(), self.settings())
    }

    /// Re-reads the store's keys now and installs the ring (the admin API calls it after a
    /// change; other instances pick the change up at their next refresh).
    pub async fn reload_keys(&self) -> Result<(), KeysError> {
        if self.settings().key_source != KeyOrigin::Store {
            return Ok(());
        }
        let loaded = self
            .key_manager()?
            .ring(self.now_micros(), &mut HashMap::new())
            .await?;
        self.backend().set_keys(loaded.ring);
        Ok(())
    }
}

/// Re-reads the store's keys every `key_refresh_interval`, and at the instant a key changes
/// state, installing the ring when it differs. Ends when the store is closed.
async fn refresh_keys(
    tessera: Tessera,
    manager: KeyManager,
    mut cache: HashMap<String, Key>,
    mut fingerprint: Vec<String>,
    mut next_change: Option<i64>,
) {
    let interval = tessera.settings().key_refresh_interval;
    loop {
        let mut wait = interval;
        if let Some(at) = next_change {
            let until = Duration::from_micros(
                u64::try_from(at.saturating_sub(tessera.now_micros())).unwrap_or(0),
            );
            wait = wait.min(until);
        }
        tokio::time::sleep(wait).await;
        if tessera.store().is_closed() {
            return;
        }
        match manager.ring(tessera.now_micros(), &mut cache).await {
            Ok(loaded) => {
                next_change = loaded.next_change;
                if loaded.fingerprint != fingerprint {
                    tracing::info!(
                        active = %loaded.fingerprint[0],
                        verifying = loaded.fingerprint.len() - 1,
                        "signing keys changed; new key ring installed"
                    );
                    fingerprint = loaded.fingerprint;
                    tessera.backend().set_keys(loaded.ring);
                }
            }
            Err(error) => {
                if tessera.store().is_closed() {
                    return;
                }
                // Retry after a whole interval, not at a state change that has passed.
                next_change = None;
                tracing::warn!(%error, "could not re-read the signing keys; keeping the current ones");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000 * MICROS;
    const HOUR: i64 = 3600 * MICROS;

    async fn manager(kek: Option<&str>) -> KeyManager {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let settings = Settings {
            key_source: KeyOrigin::Store,
            key_encryption_key: kek.map(Secret::from),
            algorithm: Algorithm::EdDSA,
            ..Settings::default()
        };
        KeyManager::new(store, &settings).unwrap()
    }

    fn states(list: &[KeyStatus]) -> Vec<KeyState> {
        list.iter().map(|k| k.state).collect()
    }

    #[tokio::test]
    async fn a_key_goes_from_published_to_active_to_retired_to_expired() {
        let m = manager(Some("a-key-encryption-key-of-32-bytes-or-more")).await;
        let first = m.ensure_first_key(T0).await.unwrap().unwrap();
        assert_eq!(first.state, KeyState::Active);
        assert!(m.ensure_first_key(T0).await.unwrap().is_none(), "only once");

        let next = m.rotate(None, T0 + 10).await.unwrap();
        assert_eq!(next.state, KeyState::Scheduled);
        let switch = T0 + 10 + HOUR;
        assert_eq!(next.activates_at, Some(switch));
        let loaded = m.ring(T0 + 20, &mut HashMap::new()).await.unwrap();
        assert_eq!(loaded.fingerprint, [first.kid.clone(), next.kid.clone()]);
        assert_eq!(loaded.next_change, Some(switch));

        let list = m.list(switch).await.unwrap();
        assert_eq!(states(&list), [KeyState::Retired, KeyState::Active]);
        // One day (the longest lifetime) plus one refresh interval.
        let expires = switch + 86_400 * MICROS + 30 * MICROS;
        assert_eq!(list[0].expires_at, Some(expires));
        let loaded = m.ring(switch, &mut HashMap::new()).await.unwrap();
        assert_eq!(loaded.fingerprint, [next.kid.clone(), first.kid.clone()]);
        assert_eq!(loaded.next_change, Some(expires));

        assert_eq!(
            states(&m.list(expires).await.unwrap()),
            [KeyState::Expired, KeyState::Active]
        );
        let loaded = m.ring(expires, &mut HashMap::new()).await.unwrap();
        assert_eq!(loaded.fingerprint, std::slice::from_ref(&next.kid));
        assert_eq!(loaded.ring.jwks()["keys"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_published_key_that_waited_the_lead_signs_at_once() {
        let m = manager(None).await;
        m.ensure_first_key(T0).await.unwrap();
        let standby = m.generate(None, T0).await.unwrap();
        assert_eq!(standby.state, KeyState::Published);
        assert!(!standby.encrypted);
        let rotated = m.rotate(None, T0 + 2 * HOUR).await.unwrap();
        assert_eq!(rotated.kid, standby.kid);
        assert_eq!(rotated.state, KeyState::Active);
    }

    #[tokio::test]
    async fn unencrypted_keys_are_not_added_beside_encrypted_ones() {
        let sealed = manager(Some("a-key-encryption-key-of-32-bytes-or-more")).await;
        sealed.ensure_first_key(T0).await.unwrap();
        let plain = KeyManager::new(sealed.store.clone(), &Settings::default()).unwrap();
        for result in [plain.generate(None, T0).await, plain.rotate(None, T0).await] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("key_encryption_key"), "{err}");
        }
        let err = plain.ring(T0, &mut HashMap::new()).await.unwrap_err();
        assert!(err.to_string().contains("key_encryption_key"), "{err}");
    }

    #[test]
    fn kids_are_dated_and_random() {
        // 2025-01-01T00:00:00Z
        let a = new_kid(1_735_689_600 * MICROS).unwrap();
        let b = new_kid(1_735_689_600 * MICROS).unwrap();
        assert!(a.starts_with("20250101-") && a.len() == 17, "{a}");
        assert_ne!(a, b);
        assert!(tessera_core::is_valid_kid(&a));
    }

    #[test]
    fn key_files_are_read_into_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "file-secret\n").unwrap();
        let settings = load_key_files(Settings {
            signing_key_file: Some(path.clone()),
            ..Settings::default()
        })
        .unwrap();
        assert_eq!(settings.signing_key.unwrap().expose(), "file-secret");
        assert!(settings.signing_key_file.is_none());
        let err = load_key_files(Settings {
            signing_key_file: Some(dir.path().join("missing")),
            ..Settings::default()
        })
        .unwrap_err();
        assert_eq!(err.setting, "signing_key_file");
        let err = load_key_files(Settings {
            signing_key: Some("x".into()),
            signing_key_file: Some(path),
            ..Settings::default()
        })
        .unwrap_err();
        assert_eq!(err.setting, "signing_key_file");
    }
}
