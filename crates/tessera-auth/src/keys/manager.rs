//! [`KeyManager`]: the store's signing keys — generate, rotate, retire, list — and the ring
//! they make at an instant.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Algorithm, Key, KeyEncryptionKey, KeyError, KeyRing, Settings, SettingsError, Timestamp,
    generate_private_key, open_private_key, plain_private_key, seal_private_key,
};
use tessera_store::{Retirement, Store, StoredKey};

use super::{KeyState, KeyStatus, KeysError, LoadedRing};

/// The store's signing keys: generate, rotate, retire, list, and the ring they make.
#[derive(Debug, Clone)]
pub struct KeyManager {
    store: Store,
    settings: Arc<Settings>,
    kek: Option<Arc<KeyEncryptionKey>>,
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

    /// The store the keys are kept in.
    pub fn store(&self) -> &Store {
        &self.store
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

    /// Every stored key and its state at `now`, oldest first.
    pub async fn list(&self, now: Timestamp) -> Result<Vec<KeyStatus>, KeysError> {
        let keys = self.store.signing_keys().await?;
        Ok(self.statuses(&keys, now))
    }

    fn statuses(&self, keys: &[StoredKey], now: Timestamp) -> Vec<KeyStatus> {
        let window = self.verify_window();
        let active = keys
            .iter()
            .filter(|k| {
                k.activates_at.is_some_and(|a| a <= now) && k.retired_at.is_none_or(|r| r > now)
            })
            .max_by_key(|k| (k.activates_at, k.created_at))
            .map(|k| k.kid.clone());
        keys.iter()
            .map(|k| {
                let expires_at = k.retired_at.map(|r| r + window);
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
            return Err(KeysError::StoredKeysEncrypted);
        }
        Ok(())
    }

    /// Refuses an algorithm of the other family than the configured one: an HMAC secret in
    /// an asymmetric deployment is missing from the JWKS its verifiers read, and an
    /// asymmetric key in an HMAC deployment is unknown to the verifiers holding the secret.
    fn check_family(&self, algorithm: Algorithm) -> Result<(), KeysError> {
        let configured = self.settings.algorithm;
        if algorithm.is_hmac() == configured.is_hmac() {
            return Ok(());
        }
        Err(KeysError::AlgorithmFamily {
            requested: algorithm,
            configured,
            family: if configured.is_hmac() {
                "an HMAC"
            } else {
                "an asymmetric"
            },
        })
    }

    /// Seals, with the `key_encryption_key`, every private key still stored unencrypted
    /// (made before the key-encryption key was configured), and returns those keys. Nothing
    /// without a key-encryption key. Each key is replaced only if unchanged meanwhile, so
    /// instances starting together seal it once.
    pub async fn seal_plain_keys(&self, now: Timestamp) -> Result<Vec<KeyStatus>, KeysError> {
        let Some(kek) = self.kek.as_deref() else {
            return Ok(Vec::new());
        };
        let mut sealed = Vec::new();
        for stored in self.store.signing_keys().await? {
            let Some(private) = plain_private_key(&stored.private_key) else {
                continue;
            };
            let replacement = seal_private_key(Some(kek), &stored.kid, &private)?;
            if self
                .store
                .replace_signing_key_private(&stored.kid, &stored.private_key, &replacement)
                .await?
            {
                sealed.push(stored.kid);
            }
        }
        if sealed.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .list(now)
            .await?
            .into_iter()
            .filter(|k| sealed.contains(&k.kid))
            .collect())
    }

    /// A new key for `algorithm`, sealed, not yet in the store.
    fn new_key(&self, algorithm: Algorithm, now: Timestamp) -> Result<StoredKey, KeysError> {
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
        now: Timestamp,
    ) -> Result<KeyStatus, KeysError> {
        let algorithm = algorithm.unwrap_or(self.settings.algorithm);
        self.check_family(algorithm)?;
        self.check_sealing(&self.store.signing_keys().await?)?;
        let key = self.new_key(algorithm, now)?;
        self.store.insert_signing_key(&key).await?;
        self.status(&key.kid, now).await
    }

    /// Creates the first key, signing at once, when the store holds no key that is not
    /// retired (a fresh installation; several instances starting together make one key).
    /// Returns it when it was created.
    pub async fn ensure_first_key(&self, now: Timestamp) -> Result<Option<KeyStatus>, KeysError> {
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
        now: Timestamp,
    ) -> Result<KeyStatus, KeysError> {
        let algorithm = algorithm.unwrap_or(self.settings.algorithm);
        self.check_family(algorithm)?;
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
        let at = if someone_signs {
            (published_at + self.settings.key_publish_lead).max(now)
        } else {
            now
        };
        if !self.store.activate_signing_key(&kid, at).await? {
            return Err(KeysError::RetiredMeanwhile(kid));
        }
        self.status(&kid, now).await
    }

    /// Stops `kid` signing now; it keeps verifying until its tokens have expired. The only
    /// key signing cannot be retired: rotate first.
    pub async fn retire(&self, kid: &str, now: Timestamp) -> Result<KeyStatus, KeysError> {
        // No stored key has an id outside the kid alphabet: unknown without a query.
        if !tessera_core::is_valid_kid(kid) {
            return Err(KeysError::UnknownKid(kid.to_owned()));
        }
        match self.store.retire_signing_key(kid, now).await? {
            Retirement::Retired => self.status(kid, now).await,
            Retirement::NotFound => Err(KeysError::UnknownKid(kid.to_owned())),
            Retirement::AlreadyRetired => Err(KeysError::AlreadyRetired(kid.to_owned())),
            Retirement::OnlySigningKey => Err(KeysError::OnlySigningKey(kid.to_owned())),
        }
    }

    async fn status(&self, kid: &str, now: Timestamp) -> Result<KeyStatus, KeysError> {
        self.list(now)
            .await?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeysError::UnknownKid(kid.to_owned()))
    }

    /// The ring the store's keys make at `now`. `cache` keeps keys already opened (by kid)
    /// so a refresh does not decrypt and parse every key again.
    pub async fn ring(
        &self,
        now: Timestamp,
        cache: &mut HashMap<String, Key>,
    ) -> Result<LoadedRing, KeysError> {
        let keys = self.store.signing_keys().await?;
        let statuses = self.statuses(&keys, now);
        let mut active = None;
        let mut others = Vec::new();
        let mut fingerprint = Vec::new();
        let mut next_change: Option<Timestamp> = None;
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
        let active = active.ok_or(KeysError::NothingSigns)?;
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
fn new_kid(now: Timestamp) -> Result<String, KeyError> {
    let date = time::OffsetDateTime::from_unix_timestamp(now.as_secs())
        .map(|t| format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| "key".into());
    let mut random = [0u8; 4];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| KeyError::new("the random generator failed"))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{date}-{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::{KeyOrigin, Secret};

    const MICROS: i64 = 1_000_000;
    const T0: Timestamp = Timestamp::from_secs(1_750_000_000);
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

        let next = m.rotate(None, T0.add_micros(10)).await.unwrap();
        assert_eq!(next.state, KeyState::Scheduled);
        let switch = T0.add_micros(10 + HOUR);
        assert_eq!(next.activates_at, Some(switch));
        let loaded = m
            .ring(T0.add_micros(20), &mut HashMap::new())
            .await
            .unwrap();
        assert_eq!(loaded.fingerprint, [first.kid.clone(), next.kid.clone()]);
        assert_eq!(loaded.next_change, Some(switch));

        let list = m.list(switch).await.unwrap();
        assert_eq!(states(&list), [KeyState::Retired, KeyState::Active]);
        // One day (the longest lifetime) plus one refresh interval.
        let expires = switch.add_micros(86_400 * MICROS + 30 * MICROS);
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
        let rotated = m.rotate(None, T0.add_micros(2 * HOUR)).await.unwrap();
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

    #[tokio::test]
    async fn keys_of_the_other_family_are_neither_generated_nor_rotated_in() {
        let m = manager(None).await;
        m.ensure_first_key(T0).await.unwrap();
        for result in [
            m.generate(Some(Algorithm::HS256), T0).await,
            m.rotate(Some(Algorithm::HS512), T0).await,
        ] {
            let err = result.unwrap_err();
            assert!(matches!(err, KeysError::AlgorithmFamily { .. }), "{err:?}");
            assert!(err.to_string().contains("signs with EdDSA"), "{err}");
        }
        assert_eq!(m.list(T0).await.unwrap().len(), 1, "nothing was stored");
        // Another asymmetric algorithm is the same family.
        m.generate(Some(Algorithm::ES256), T0).await.unwrap();

        let hmac = KeyManager::new(
            m.store.clone(),
            &Settings {
                algorithm: Algorithm::HS256,
                ..(*m.settings).clone()
            },
        )
        .unwrap();
        let err = hmac.generate(Some(Algorithm::EdDSA), T0).await.unwrap_err();
        assert!(err.to_string().contains("an HMAC algorithm"), "{err}");
    }

    #[tokio::test]
    async fn plain_keys_are_sealed_once_a_key_encryption_key_is_set() {
        let plain = manager(None).await;
        let first = plain.ensure_first_key(T0).await.unwrap().unwrap();
        assert!(!first.encrypted);
        let kek = "a-key-encryption-key-of-32-bytes-or-more";
        let sealing = KeyManager::new(
            plain.store.clone(),
            &Settings {
                key_encryption_key: Some(Secret::from(kek)),
                ..(*plain.settings).clone()
            },
        )
        .unwrap();
        // Unsealed, it does not open under the key-encryption key.
        let err = sealing.ring(T0, &mut HashMap::new()).await.unwrap_err();
        assert!(err.to_string().contains("stored unencrypted"), "{err}");

        let sealed = sealing.seal_plain_keys(T0).await.unwrap();
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].kid, first.kid);
        assert!(sealed[0].encrypted);
        assert!(
            sealing.seal_plain_keys(T0).await.unwrap().is_empty(),
            "once"
        );
        let stored = sealing.store.signing_keys().await.unwrap();
        assert!(tessera_core::is_sealed(&stored[0].private_key));
        let loaded = sealing.ring(T0, &mut HashMap::new()).await.unwrap();
        assert_eq!(loaded.fingerprint, [first.kid]);
    }

    #[test]
    fn kids_are_dated_and_random() {
        // 2025-01-01T00:00:00Z
        let a = new_kid(Timestamp::from_secs(1_735_689_600)).unwrap();
        let b = new_kid(Timestamp::from_secs(1_735_689_600)).unwrap();
        assert!(a.starts_with("20250101-") && a.len() == 17, "{a}");
        assert_ne!(a, b);
        assert!(tessera_core::is_valid_kid(&a));
    }
}
