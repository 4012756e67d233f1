//! simplejwt's `JWK_URL`: tokens of another issuer, verified with the keys its JWKS URL
//! publishes. The fetching and caching live in `tessera_core::remote` (shared with the
//! service layer's OpenID Connect logins); this module keeps the crate's names for them.
//!
//! The key set is fetched once at start, cached for `jwks_cache_ttl`, and fetched again
//! when a token names a `kid` it does not hold — at most once per `key_refresh_interval`,
//! however many such tokens arrive, each fetch limited to `jwk_timeout` and 1 MiB. A fetch
//! that fails keeps the keys already known; a token whose key cannot be had is
//! `Token is invalid` — never a hang, never a 500.

pub use tessera_core::remote::{JwksFetchError, MAX_JWKS_BYTES, RemoteJwks};
