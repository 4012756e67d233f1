//! argon2id password hashing on tokio's blocking pool, bounded by a semaphore.
//!
//! Passwords are never logged: nothing here is instrumented with its arguments.

use std::fmt;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::error::{Result, StoreError};

/// Hashes and verifies passwords with argon2id (argon2 0.6 defaults: m=19456 KiB, t=2, p=1),
/// never on the async executor: each operation runs on `spawn_blocking` while holding a
/// semaphore permit, so at most `max_concurrent` run at once (each takes ~19 MiB).
///
/// Cheap to clone; clones share the permits and the dummy hash.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Hash of a random password, verified when there is no usable hash to verify against,
    /// so an unknown user costs the same as a wrong password.
    dummy: Arc<str>,
    #[cfg(test)]
    probe: Arc<probe::InFlight>,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("available_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// An owned copy of a password that is overwritten with zeros when dropped (best effort:
/// without `zeroize` the compiler is only discouraged, via `black_box`, from eliding it).
struct SecretBytes(Vec<u8>);

impl SecretBytes {
    fn new(password: &str) -> Self {
        SecretBytes(password.as_bytes().to_vec())
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&mut self.0);
    }
}

/// Fallback dummy, used only if hashing a random password at construction fails
/// (i.e. the OS random source is broken): a well-formed hash with the parameters of
/// `Argon2::default()` whose output matches no known password.
const FALLBACK_DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    c29tZXNhbHRmb3JkdW1teQ$YFk8SyZCJOvxE0MWvo3D4kkH5u8ZpBEDNIdmMa+HcWM";

impl PasswordHasher {
    /// A hasher allowing `max_concurrent` simultaneous operations (0 is treated as 1).
    /// Computes the dummy hash synchronously (~25 ms optimized), so call it at startup.
    pub fn new(max_concurrent: usize) -> Self {
        let random_password = uuid::Uuid::new_v4().simple().to_string();
        let dummy = hash_sync(random_password.as_bytes()).unwrap_or_else(|err| {
            tracing::warn!(error = %err, "could not compute a dummy password hash; using a fixed one");
            FALLBACK_DUMMY_HASH.to_owned()
        });
        PasswordHasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: dummy.into(),
            #[cfg(test)]
            probe: Arc::default(),
        }
    }

    /// Hashes `password` to a PHC string `"$argon2id$v=19$m=19456,t=2,p=1$…"` with a fresh
    /// random salt.
    ///
    /// # Errors
    /// [`StoreError::Hashing`] if argon2 fails or the blocking task dies.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let secret = SecretBytes::new(password);
        self.run_blocking(move || hash_sync(&secret.0)).await?
    }

    /// Verifies `password` against `hash`.
    ///
    /// * `Some(hash)` with a usable argon2 PHC hash: the real check.
    /// * `Some(hash)` that is unusable (`""`, `"!…"`), unparsable or of an unsupported
    ///   algorithm: verifies the dummy hash instead and returns `false`.
    /// * `None` (unknown user): verifies the dummy hash and returns `false` — the same
    ///   work as a wrong password.
    ///
    /// # Errors
    /// [`StoreError::Hashing`] only if the blocking task dies; a bad hash is `Ok(false)`.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let secret = SecretBytes::new(password);
        let hash = hash.map(str::to_owned);
        let dummy = Arc::clone(&self.dummy);
        self.run_blocking(move || verify_sync(&secret.0, hash.as_deref(), &dummy))
            .await
    }

    /// Synchronous [`hash`](Self::hash) for CLI use; fine outside a tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::Hashing`] if argon2 fails.
    pub fn hash_blocking(password: &str) -> Result<String> {
        let secret = SecretBytes::new(password);
        hash_sync(&secret.0)
    }

    /// Runs `job` on the blocking pool while holding a permit. The permit moves into the
    /// blocking task, so it is released only when the work is really done, even if the
    /// caller's future is dropped.
    async fn run_blocking<T, F>(&self, job: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Hashing("password hasher is shut down".into()))?;
        #[cfg(test)]
        let probe = Arc::clone(&self.probe);
        tokio::task::spawn_blocking(move || {
            let out = {
                // Test probe: counts this operation as in flight while it holds the permit.
                #[cfg(test)]
                let _guard = probe.enter();
                job()
            };
            drop(permit);
            out
        })
        .await
        .map_err(|err| StoreError::Hashing(format!("hashing task failed: {err}")))
    }
}

fn hash_sync(password: &[u8]) -> Result<String> {
    Argon2::default()
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|err| StoreError::Hashing(err.to_string()))
}

fn is_usable(hash: &str) -> bool {
    !hash.is_empty() && !hash.starts_with('!')
}

fn verify_sync(password: &[u8], hash: Option<&str>, dummy: &str) -> bool {
    let argon2 = Argon2::default();
    if let Some(hash) = hash.filter(|h| is_usable(h))
        && let Ok(parsed) = PasswordHash::new(hash)
    {
        match argon2.verify_password(password, &parsed) {
            Ok(()) => return true,
            // The full computation ran: the same work as a match.
            Err(password_hash::Error::PasswordInvalid) => return false,
            // Unsupported algorithm or parameters: rejected before any work; fall through.
            Err(_) => {}
        }
    }
    // Unknown user, unusable or unparsable hash: spend the same time, then refuse.
    let _ = argon2.verify_password(password, dummy);
    false
}

#[cfg(test)]
mod probe {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts operations inside the blocking pool and remembers the maximum seen.
    #[derive(Default)]
    pub(super) struct InFlight {
        now: AtomicUsize,
        pub(super) max: AtomicUsize,
    }

    pub(super) struct Guard<'a>(&'a InFlight);

    impl InFlight {
        pub(super) fn enter(&self) -> Guard<'_> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            Guard(self)
        }
    }

    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            self.0.now.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn fallback_dummy_is_a_valid_default_argon2id_hash() {
        let parsed = PasswordHash::new(FALLBACK_DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(!verify_sync(
            b"x",
            Some(FALLBACK_DUMMY_HASH),
            FALLBACK_DUMMY_HASH
        ));
    }

    #[test]
    fn dummy_is_argon2id_default_params() {
        let hasher = PasswordHasher::new(1);
        assert!(hasher.dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn semaphore_bounds_concurrency() {
        let hasher = PasswordHasher::new(2);
        let hash = hasher.hash("pw").await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let hasher = hasher.clone();
                let hash = hash.clone();
                tokio::spawn(async move {
                    let pw = if i % 2 == 0 { "pw" } else { "nope" };
                    (i, hasher.verify(pw, Some(&hash)).await.unwrap())
                })
            })
            .collect();
        for task in tasks {
            let (i, ok) = task.await.unwrap();
            assert_eq!(ok, i % 2 == 0, "task {i}");
        }
        let max = hasher.probe.max.load(Ordering::SeqCst);
        assert!((1..=2).contains(&max), "max in flight {max}");
        assert_eq!(hasher.permits.available_permits(), 2);
    }
}
