//! JWKS documents (RFC 7517 §5) from other issuers, and the trait through which a remote key
//! set reaches the token backend without the core doing any I/O.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::keys::{Algorithm, Key, KeyError};

/// Keys found by `kid` somewhere outside the key ring — typically a remote JWKS (simplejwt's
/// `JWK_URL`) fetched and cached by an async layer.
///
/// The backend asks it only for a `kid` its own ring does not hold. Implementations MUST
/// answer from what they already hold, without blocking or I/O: fetching belongs to the
/// async layer, before decoding (see `tessera_axum::RemoteJwks`).
pub trait KeySource: Send + Sync + fmt::Debug {
    /// The key with this id, if the source holds one.
    fn key(&self, kid: &str) -> Option<Arc<Key>>;

    /// Brings the source up to date for a token naming `kid` that the ring does not hold
    /// (fetch an unknown key, or a set older than its cache lifetime). The async layer awaits
    /// it before decoding. It MUST finish within a bounded time and never fail loudly: a key
    /// it cannot get simply stays unknown, and the token is invalid. Defaults to nothing.
    fn refresh<'a>(&'a self, kid: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        let _ = kid;
        Box::pin(std::future::ready(()))
    }
}

/// The signing keys of a JWKS document for tokens signed with `algorithm`, by `kid`.
///
/// Keys that cannot serve — symmetric keys, encryption keys, other algorithms, keys without
/// a valid `kid`, key types Tessera does not know — are left out, so one odd key does not
/// spoil the set. A document that is not a JWKS at all is an error.
pub fn keys_from_jwks(
    document: &[u8],
    algorithm: Algorithm,
) -> Result<HashMap<String, Arc<Key>>, KeyError> {
    let value: Value = serde_json::from_slice(document)
        .map_err(|e| KeyError::new(format!("the JWKS is not JSON ({e})")))?;
    let Some(Value::Array(entries)) = value.get("keys") else {
        return Err(KeyError::new("the JWKS has no `keys` list"));
    };
    let mut keys = HashMap::new();
    for entry in entries {
        if let Ok(key) = Key::from_jwk(entry, algorithm)
            && let Some(kid) = key.kid()
        {
            keys.entry(kid.to_owned()).or_insert_with(|| Arc::new(key));
        }
    }
    Ok(keys)
}

/// A fixed set of keys by `kid` — a JWKS read once, or keys handed over in tests.
#[derive(Debug, Default, Clone)]
pub struct StaticKeys(pub HashMap<String, Arc<Key>>);

impl KeySource for StaticKeys {
    fn key(&self, kid: &str) -> Option<Arc<Key>> {
        self.0.get(kid).cloned()
    }
}
