//! Signing keys kept in the store (`key_source = "store"`), rotation without downtime, and
//! keeping a running service's ring current: key files, the store's ring and its refresher.
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

mod files;
mod manager;
mod refresher;

use tessera_core::{Algorithm, KeyError, KeyRing, SettingsError, Timestamp};
use tessera_store::StoreError;

pub use files::load_key_files;
pub use manager::KeyManager;
pub use refresher::KeyRefresher;

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
    /// No stored key has this id.
    #[error("no key has the id {0:?}")]
    UnknownKid(String),
    /// The key was retired already.
    #[error("key {0:?} is already retired")]
    AlreadyRetired(String),
    /// The key is the only one signing: retiring it would leave nothing to sign with.
    #[error(
        "key {0:?} is the only key signing now; rotate first, and retire it once the new key signs"
    )]
    OnlySigningKey(String),
    /// The key was retired while the rotation was scheduling it.
    #[error("key {0:?} was retired meanwhile; rotate again")]
    RetiredMeanwhile(String),
    /// The stored keys are encrypted and this process has no `key_encryption_key`.
    #[error(
        "the stored keys are encrypted; set `key_encryption_key` (TESSERA_KEY_ENCRYPTION_KEY) as the server has it"
    )]
    StoredKeysEncrypted,
    /// The keys come from the settings (`key_source = "settings"`), not the store.
    #[error(
        "Signing keys come from the settings (key_source = \"settings\"); set key_source = \"store\" to manage them here."
    )]
    NotStored,
    /// No stored key signs at this instant.
    #[error("no stored key signs now; run `tessera keys rotate` to schedule one")]
    NothingSigns,
    /// A key of another family than the configured algorithm's (an HMAC secret in an
    /// asymmetric deployment, or the reverse): verifiers of the JWKS could not check its
    /// tokens, or the deployment's verifiers would need the secret.
    #[error(
        "\"{requested}\" is not a valid choice: this deployment signs with {configured}; pick {family} algorithm"
    )]
    AlgorithmFamily {
        /// The algorithm asked for.
        requested: Algorithm,
        /// The configured `algorithm`.
        configured: Algorithm,
        /// "an HMAC" or "an asymmetric".
        family: &'static str,
    },
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

/// A stored key and its state at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The key id.
    pub kid: String,
    /// The algorithm, e.g. `"EdDSA"`.
    pub algorithm: String,
    /// Where the key stands.
    pub state: KeyState,
    /// When it was created and published.
    pub created_at: Timestamp,
    /// When it signs (or signed) from.
    pub activates_at: Option<Timestamp>,
    /// When it stops (or stopped) signing.
    pub retired_at: Option<Timestamp>,
    /// When it drops out of the ring and the JWKS.
    pub expires_at: Option<Timestamp>,
    /// Whether the private part is encrypted at rest.
    pub encrypted: bool,
}

/// A ring built from the store, with what is needed to know when it changes.
#[derive(Debug)]
pub struct LoadedRing {
    /// The ring: the active key signs; published, scheduled and retired keys verify.
    pub ring: KeyRing,
    /// The kids in the ring, the active one first: equal fingerprints, equal rings.
    pub fingerprint: Vec<String>,
    /// The next instant a key changes state, if any.
    pub next_change: Option<Timestamp>,
}
