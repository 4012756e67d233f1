//! What stands between attackers and the password hasher: scoped throttles, per-account
//! lockout with exponential back-off, and a bounded hashing queue.
//!
//! A locked account answers exactly as a wrong password does — same status, same body, and
//! about the same time (the response waits as long as a hash usually takes) — but costs no
//! hashing, so guesses against one account reach the hasher no more than the limit allows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::state::Tessera;
use crate::throttle::MemoryThrottle;

/// A lock's state for one login name.
#[derive(Debug, Clone, Copy, Default)]
struct Lock {
    failures: u32,
    locked_until: i64,
}

/// Shared counters behind [`Tessera`]'s protections.
#[derive(Debug)]
pub(crate) struct Guard {
    throttle: MemoryThrottle,
    locks: Mutex<HashMap<String, Lock>>,
    hashing: AtomicUsize,
    queue_limit: usize,
    /// A running average of how long one hash takes, in microseconds.
    hash_micros: AtomicU64,
}

/// Locks kept before expired ones are swept out.
const SWEEP_ABOVE: usize = 100_000;

impl Guard {
    pub(crate) fn new(queue_limit: usize) -> Self {
        Self {
            throttle: MemoryThrottle::default(),
            locks: Mutex::new(HashMap::new()),
            hashing: AtomicUsize::new(0),
            queue_limit,
            hash_micros: AtomicU64::new(0),
        }
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lock>> {
        self.locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Releases a hashing slot when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("tessera_hash_queue_depth").set(left as f64);
    }
}

impl Tessera {
    /// Applies the throttle of `scope` (`login`, `register`, `anon`, `user` …) to `ident`
    /// (a client address or a user id): 429 with DRF's message when over the rate.
    pub fn throttle(&self, scope: &str, ident: &str) -> Result<(), ApiError> {
        let Some(rate) = self.throttling().rate(scope) else {
            return Ok(());
        };
        let now = self.now_micros() as f64 / 1e6;
        match self
            .guard()
            .throttle
            .hit(&format!("throttle_{scope}_{ident}"), rate, now)
        {
            None => Ok(()),
            Some(wait) => {
                metrics::counter!("tessera_throttled_total", "scope" => scope.to_owned())
                    .increment(1);
                Err(ApiError::Throttled {
                    wait: wait.ceil().max(1.0) as u64,
                })
            }
        }
    }

    /// Takes a hashing slot, or refuses at once (503 with `Retry-After`) when the queue is full.
    fn hashing_slot(&self) -> Result<Slot<'_>, ApiError> {
        let guard = self.guard();
        let limit = guard.queue_limit + self.hasher().max_concurrent();
        let taken = guard.hashing.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = Slot(&guard.hashing);
        metrics::gauge!("tessera_hash_queue_depth").set(taken as f64);
        if taken > limit {
            metrics::counter!("tessera_hash_rejected_total").increment(1);
            return Err(ApiError::Unavailable { retry_after: 1 });
        }
        metrics::counter!("tessera_password_hashes_total").increment(1);
        Ok(slot)
    }

    /// Verifies a password on the bounded pool (`None`: the account does not exist; the
    /// same work is done against a dummy hash).
    pub async fn verify_password(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<bool, ApiError> {
        let _slot = self.hashing_slot()?;
        let started = Instant::now();
        let verified = self.hasher().verify(password, hash).await?;
        self.record_hash_time(started.elapsed());
        Ok(verified)
    }

    /// Hashes a password on the bounded pool.
    pub async fn hash_password(&self, password: &str) -> Result<String, ApiError> {
        let _slot = self.hashing_slot()?;
        let started = Instant::now();
        let hash = self.hasher().hash(password).await?;
        self.record_hash_time(started.elapsed());
        Ok(hash)
    }

    fn record_hash_time(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let average = &self.guard().hash_micros;
        let previous = average.load(Ordering::Relaxed);
        let next = if previous == 0 {
            took
        } else {
            (previous * 7 + took) / 8
        };
        average.store(next, Ordering::Relaxed);
    }

    /// Waits about as long as a password hash takes, so that an answer that needed no hash
    /// cannot be told apart by its timing.
    pub(crate) async fn wait_like_a_hash(&self) {
        let micros = self.guard().hash_micros.load(Ordering::Relaxed);
        let wait = if micros == 0 {
            Duration::from_millis(30)
        } else {
            Duration::from_micros(micros)
        };
        tokio::time::sleep(wait).await;
    }

    /// Whether logins for `name` are locked at the moment.
    pub fn is_locked(&self, name: &str) -> bool {
        let now = self.now_micros();
        self.guard()
            .locks()
            .get(name)
            .is_some_and(|lock| lock.locked_until > now)
    }

    /// Counts a failed login for `name`; past the limit each failure locks for twice as long.
    pub(crate) fn record_login_failure(&self, name: &str) {
        let settings = self.throttling();
        if settings.login_failure_limit == 0 {
            return;
        }
        let now = self.now_micros();
        let mut locks = self.guard().locks();
        if locks.len() > SWEEP_ABOVE {
            locks.retain(|_, lock| lock.locked_until > now || lock.failures > 0);
        }
        let lock = locks.entry(name.to_owned()).or_default();
        lock.failures = lock.failures.saturating_add(1);
        if lock.failures >= settings.login_failure_limit {
            let doublings = (lock.failures - settings.login_failure_limit).min(30);
            let base = settings.login_lockout_base.as_micros() as f64;
            let length = (base * f64::from(1u32 << doublings))
                .min(settings.login_lockout_max.as_micros() as f64);
            lock.locked_until = now.saturating_add(length as i64);
            metrics::counter!("tessera_lockouts_total").increment(1);
            tracing::warn!(
                failures = lock.failures,
                seconds = length / 1e6,
                "login locked after repeated failures"
            );
        }
    }

    /// Forgets failures for `name`: after a successful login, a password change or an
    /// administrator's unlock.
    pub fn clear_login_failures(&self, name: &str) {
        self.guard().locks().remove(name);
    }

    /// Forgets failures for the name `user` logs in with (`username_field`).
    pub fn clear_login_failures_of(&self, user: &tessera_store::User) {
        let name = match self.settings().username_field.as_str() {
            "username" => user.username.as_deref(),
            _ => Some(user.email.as_str()),
        };
        if let Some(name) = name {
            self.clear_login_failures(name);
        }
    }
}
