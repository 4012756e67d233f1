//! Remote key sets (`remote` feature): simplejwt's `JWK_URL` — tokens of another issuer,
//! verified with the keys its JWKS URL publishes — and an OpenID provider's `jwks_uri`, whose
//! keys verify its ID tokens. The only module of the core that does I/O (reqwest, Tokio).
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

use reqwest::header;

use crate::error::SettingsError;
use crate::jwks::{KeySource, keys_from_jwks};
use crate::keys::{Algorithm, Key};
use crate::settings::Settings;

/// The largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// How a [`RemoteJwks`] fetches: each fetch's time limit, the least time between two
/// fetches for an unknown key, and how long a fetched set counts as fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteJwksOptions {
    /// Connect and total time limit of one fetch.
    pub timeout: Duration,
    /// At most one fetch per this interval, however many unknown keys are asked for.
    pub min_interval: Duration,
    /// A set older than this is fetched again (in the background when the key is known).
    pub ttl: Duration,
}

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
        Self::with_options(
            url,
            settings.algorithm,
            RemoteJwksOptions {
                timeout: settings.jwk_timeout,
                min_interval: settings.key_refresh_interval,
                ttl: settings.jwks_cache_ttl,
            },
        )
        .map_err(|e| invalid(e.message))
    }

    /// The JWKS at `url`, for tokens signed with `algorithm` (asymmetric), fetched as
    /// `options` say. Nothing is fetched yet.
    ///
    /// # Errors
    /// An HMAC `algorithm`, or an HTTP client that cannot be built; the error's `setting`
    /// is empty: the caller names it.
    pub fn with_options(
        url: String,
        algorithm: Algorithm,
        options: RemoteJwksOptions,
    ) -> Result<Arc<Self>, SettingsError> {
        let invalid = |message: String| SettingsError {
            setting: String::new(),
            message,
        };
        if algorithm.is_hmac() {
            return Err(invalid(
                "needs an asymmetric `algorithm`: a JWKS never holds an HMAC secret".into(),
            ));
        }
        let client = http_client(options.timeout).map_err(invalid)?;
        Ok(Arc::new_cyclic(|me| Self {
            url,
            algorithm,
            client,
            min_interval: options.min_interval,
            ttl: options.ttl,
            keys: RwLock::new(Arc::new(Cached::default())),
            fetches: tokio::sync::Mutex::new(Fetches::default()),
            me: me.clone(),
        }))
    }

    /// The algorithm the set's keys verify.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
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
        let request = self
            .client
            .get(&self.url)
            .header(header::ACCEPT, "application/json");
        let body = fetch_capped(request, MAX_JWKS_BYTES).await.map_err(fail)?;
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

/// An HTTP client for remote documents: `timeout` to connect and for the whole exchange,
/// no redirects followed, Tessera's user agent.
///
/// # Errors
/// Why the client cannot be built.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// Sends `request` and reads a successful answer's body, at most `max` bytes: a larger
/// one (announced or not) is refused as soon as it is known to be larger.
///
/// # Errors
/// A transport error, a status other than 2xx, or a body over `max` bytes; the text says
/// which, and never holds the body.
pub async fn fetch_capped(request: reqwest::RequestBuilder, max: usize) -> Result<Vec<u8>, String> {
    let mut response = request.send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let too_large = || {
        if max.is_multiple_of(1024 * 1024) {
            format!("the document is larger than {} MiB", max / (1024 * 1024))
        } else {
            format!("the document is larger than {max} bytes")
        }
    };
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
