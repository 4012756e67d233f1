//! simplejwt's `JWK_URL`: tokens of another issuer, verified with the keys its JWKS URL
//! publishes.
//!
//! The key set is fetched once at start, cached for `jwks_cache_ttl`, and fetched again
//! when a token names a `kid` it does not hold — at most once per `key_refresh_interval`,
//! however many such tokens arrive, each fetch limited to `jwk_timeout` and 1 MiB. A fetch
//! that fails keeps the keys already known; a token whose key cannot be had is
//! `Token is invalid` — never a hang, never a 500.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use axum::http::header;
use tessera_core::{Algorithm, Key, KeySource, Settings, SettingsError, keys_from_jwks};

/// The largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why a JWKS could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("fetching the JWKS from {url} failed: {reason}")]
pub struct JwksFetchError {
    url: String,
    reason: String,
}

/// A remote JWKS, cached: the [`KeySource`] behind `jwk_url`.
#[derive(Debug)]
pub struct RemoteJwks {
    url: String,
    algorithm: Algorithm,
    client: reqwest::Client,
    min_interval: Duration,
    ttl: Duration,
    keys: RwLock<Arc<Cached>>,
    fetches: tokio::sync::Mutex<Fetches>,
    /// Itself, to refresh a stale set in the background.
    me: Weak<RemoteJwks>,
}

/// The keys of the last successful fetch, and when it was.
#[derive(Debug, Default)]
struct Cached {
    keys: HashMap<String, Arc<Key>>,
    fetched_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct Fetches {
    last_attempt: Option<Instant>,
}

impl RemoteJwks {
    /// The JWKS at `jwk_url`, for tokens signed with `algorithm`, fetched with
    /// `jwk_timeout`, refetched per `key_refresh_interval` and `jwks_cache_ttl`.
    /// Nothing is fetched yet.
    pub fn new(settings: &Settings) -> Result<Arc<Self>, SettingsError> {
        let invalid = |message: String| SettingsError {
            setting: "jwk_url".into(),
            message,
        };
        let url = settings
            .jwk_url
            .clone()
            .ok_or_else(|| invalid("is not set".into()))?;
        if settings.algorithm.is_hmac() {
            return Err(invalid(
                "needs an asymmetric `algorithm`: a JWKS never holds an HMAC secret".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(settings.jwk_timeout)
            .connect_timeout(settings.jwk_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(Arc::new_cyclic(|me| Self {
            url,
            algorithm: settings.algorithm,
            client,
            min_interval: settings.key_refresh_interval,
            ttl: settings.jwks_cache_ttl,
            keys: RwLock::new(Arc::new(Cached::default())),
            fetches: tokio::sync::Mutex::new(Fetches::default()),
            me: me.clone(),
        }))
    }

    /// The URL fetched.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key ids held now, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.current().keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    fn current(&self) -> Arc<Cached> {
        self.keys
            .read()
            .map(|keys| keys.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Fetches the key set now (waiting for a fetch under way) and returns how many keys
    /// it holds. On failure the keys already known stay.
    pub async fn fetch(&self) -> Result<usize, JwksFetchError> {
        let mut fetches = self.fetches.lock().await;
        self.fetch_locked(&mut fetches).await
    }

    async fn fetch_locked(&self, fetches: &mut Fetches) -> Result<usize, JwksFetchError> {
        fetches.last_attempt = Some(Instant::now());
        let keys = self.download().await?;
        let count = keys.len();
        let cached = Arc::new(Cached {
            keys,
            fetched_at: Some(Instant::now()),
        });
        match self.keys.write() {
            Ok(mut slot) => *slot = cached,
            Err(poisoned) => *poisoned.into_inner() = cached,
        }
        tracing::debug!(url = %self.url, keys = count, "fetched the remote JWKS");
        Ok(count)
    }

    async fn download(&self) -> Result<HashMap<String, Arc<Key>>, JwksFetchError> {
        let fail = |reason: String| JwksFetchError {
            url: self.url.clone(),
            reason,
        };
        let mut response = self
            .client
            .get(&self.url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("status {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(fail("the document is larger than 1 MiB".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(fail("the document is larger than 1 MiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        keys_from_jwks(&body, self.algorithm).map_err(|e| fail(e.to_string()))
    }

    /// Whether `kid` is held by a set younger than `jwks_cache_ttl`, and whether it is held
    /// at all.
    fn holds(&self, kid: &str) -> (bool, bool) {
        let cached = self.current();
        let known = cached.keys.contains_key(kid);
        let fresh = cached.fetched_at.is_some_and(|at| at.elapsed() < self.ttl);
        (known && fresh, known)
    }

    /// Makes sure `kid` is known if the issuer publishes it: fetches when the key is
    /// unknown or the set is older than `jwks_cache_ttl` — unless a fetch was tried less
    /// than `key_refresh_interval` ago. Concurrent callers share one fetch; a token whose
    /// key is known never waits for one: a stale set is refreshed in the background while
    /// the key it has serves.
    pub async fn ensure(&self, kid: &str) {
        let (fresh, known) = self.holds(kid);
        if fresh {
            return;
        }
        if known {
            if let Some(me) = self.me.upgrade() {
                let kid = kid.to_owned();
                tokio::spawn(async move { me.refetch(&kid).await });
            }
            return;
        }
        self.refetch(kid).await;
    }

    async fn refetch(&self, kid: &str) {
        let mut fetches = self.fetches.lock().await;
        if self.holds(kid).0 {
            return;
        }
        if fetches
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.min_interval)
        {
            return;
        }
        if let Err(error) = self.fetch_locked(&mut fetches).await {
            tracing::warn!(%error, "could not refresh the remote JWKS; keeping the keys already known");
        }
    }
}

impl KeySource for RemoteJwks {
    fn key(&self, kid: &str) -> Option<Arc<Key>> {
        self.current().keys.get(kid).cloned()
    }

    fn refresh<'a>(&'a self, kid: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.ensure(kid))
    }
}
