//! Tessera's framework-free core: JSON Web Tokens as djangorestframework-simplejwt makes and
//! checks them, the keys that sign them, and the settings that shape both.
//!
//! Nothing here does I/O or needs an async runtime. The store, the web layer and the server
//! build on these types.
//!
//! ```
//! use tessera_core::{Clock, Settings, Token, TokenBackend, TokenKind};
//!
//! let settings = Settings { signing_key: Some("a-long-and-random-secret-of-32-bytes!".into()), ..Settings::default() };
//! let backend = TokenBackend::from_settings(&settings).unwrap();
//! let now = Clock::system().now();
//! let refresh = Token::for_user(&backend, TokenKind::refresh(), "42", now);
//! let access = refresh.access_token(&backend, now);
//! let raw = backend.encode(&access).unwrap();
//! let checked = backend.decode(&TokenKind::access(), &raw, now).unwrap();
//! assert_eq!(checked.user_id(&backend).as_deref(), Some("42"));
//! ```

// Modules in dependency order: each uses only modules above it (no cycles).
mod timestamp;

mod clock;
mod encoding;
mod error;
mod secret;

mod keys;

mod jwks;
mod sealing;

mod settings;

mod rules;

mod token;

mod backend;

#[cfg(feature = "remote")]
pub mod remote;

pub use backend::{DecodeOptions, TokenBackend};
pub use clock::{Clock, ManualClock};
pub use error::{SettingsError, TokenError};
pub use jwks::{KeySource, StaticKeys, keys_from_jwks};
pub use keys::{
    Algorithm, Key, KeyError, KeyFamily, KeyRing, MAX_KID_LEN, generate_private_key, is_valid_kid,
};
pub use rules::TokenRules;
pub use sealing::{
    KeyEncryptionKey, MIN_KEK_LEN, is_sealed, open_private_key, plain_private_key, seal_private_key,
};
pub use secret::Secret;
pub use settings::boolean;
pub use settings::duration;
pub use settings::list;
pub use settings::{Audience, KeyOrigin, Settings, UsernameField};
pub use timestamp::Timestamp;
pub use token::{Token, TokenKind};

/// JSON object type used for token payloads: keys keep their insertion order.
pub type Claims = serde_json::Map<String, serde_json::Value>;
