//! What stands between attackers and the password hasher: scoped throttles, per-account
//! lockout with exponential back-off, and a bounded hashing queue.
//!
//! A locked account answers exactly as a wrong password does — same status, same body, and
//! about the same time (the response waits as long as a hash usually takes) — but costs no
//! hashing, so guesses against one account reach the hasher no more than the limit allows.
//!
//! Throttle counters and failure counts live in this process's memory, or in the store when
//! several servers share it (`throttle_storage`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::state::Tessera;
use crate::throttle::{MemoryThrottle, ThrottleSettings, wait};

/// A lock's state for one login name.
#[derive(Debug, Clone, Copy, Default)]
struct Lock {
    failures: u32,
    locked_until: i64,
}

/// Shared counters behind [`Tessera`]'s protections.
#[derive(Debug)]
pub(crate) struct Guard {
    /// Counters and failures are kept in the store rather than in the fields below.
    shared: bool,
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
    pub(crate) fn new(settings: &ThrottleSettings, engine: tessera_store::Engine) -> Self {
        Self {
            shared: settings.throttle_storage.shared_on(engine),
            throttle: MemoryThrottle::default(),
            locks: Mutex::new(HashMap::new()),
            hashing: AtomicUsize::new(0),
            queue_limit: settings.hash_queue_limit,
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
    pub async fn throttle(&self, scope: &str, ident: &str) -> Result<(), ApiError> {
        let Some(rate) = self.throttling().rate(scope) else {
            return Ok(());
        };
        let key = format!("throttle_{scope}_{ident}");
        let now = self.now_micros();
        let wait = if self.guard().shared {
            let window = i64::try_from(rate.period.as_micros()).unwrap_or(i64::MAX);
            let hit = self
                .store()
                .throttle_hit(&key, rate.requests, window, now)
                .await?;
            (!hit.allowed).then(|| {
                let oldest = hit.oldest.map(|at| at as f64 / 1e6);
                wait(hit.count as usize, oldest, rate, now as f64 / 1e6)
            })
        } else {
            self.guard().throttle.hit(&key, rate, now as f64 / 1e6)
        };
        match wait {
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
    pub async fn is_locked(&self, name: &str) -> Result<bool, ApiError> {
        let now = self.now_micros();
        let until = if self.guard().shared {
            self.store().login_locked_until(name).await?
        } else {
            self.guard().locks().get(name).map(|lock| lock.locked_until)
        };
        Ok(until.is_some_and(|until| until > now))
    }

    /// Counts a failed login for `name`; past the limit each failure locks for twice as long.
    /// Returns the lock's length when this failure locked the account.
    pub(crate) async fn record_login_failure(
        &self,
        name: &str,
    ) -> Result<Option<Duration>, ApiError> {
        let settings = self.throttling();
        if settings.login_failure_limit == 0 {
            return Ok(None);
        }
        let now = self.now_micros();
        let failures = if self.guard().shared {
            self.store().add_login_failure(name, now).await?
        } else {
            let mut locks = self.guard().locks();
            if locks.len() > SWEEP_ABOVE {
                locks.retain(|_, lock| lock.locked_until > now || lock.failures > 0);
            }
            let lock = locks.entry(name.to_owned()).or_default();
            lock.failures = lock.failures.saturating_add(1);
            lock.failures
        };
        let Some(length) = lock_length(settings, failures) else {
            return Ok(None);
        };
        let until = now.saturating_add(i64::try_from(length.as_micros()).unwrap_or(i64::MAX));
        if self.guard().shared {
            self.store().lock_login(name, until).await?;
        } else if let Some(lock) = self.guard().locks().get_mut(name) {
            lock.locked_until = lock.locked_until.max(until);
        }
        metrics::counter!("tessera_lockouts_total").increment(1);
        tracing::warn!(
            failures,
            seconds = length.as_secs_f64(),
            "login locked after repeated failures"
        );
        Ok(Some(length))
    }

    /// Forgets failures for `name`: after a successful login, a password change or an
    /// administrator's unlock.
    pub async fn clear_login_failures(&self, name: &str) -> Result<(), ApiError> {
        if self.guard().shared {
            self.store().clear_login_failures(name).await?;
        } else {
            self.guard().locks().remove(name);
        }
        Ok(())
    }

    /// Forgets failures for the name `user` logs in with (`username_field`).
    pub async fn clear_login_failures_of(
        &self,
        user: &tessera_store::User,
    ) -> Result<(), ApiError> {
        let name = match self.settings().username_field.as_str() {
            "username" => user.username.as_deref(),
            _ => Some(user.email.as_str()),
        };
        match name {
            Some(name) => self.clear_login_failures(name).await,
            None => Ok(()),
        }
    }
}

/// How long the `failures`-th consecutive failure locks for: nothing below the limit, then
/// `login_lockout_base`, doubling with each further failure up to `login_lockout_max`.
fn lock_length(settings: &ThrottleSettings, failures: u32) -> Option<Duration> {
    if settings.login_failure_limit == 0 || failures < settings.login_failure_limit {
        return None;
    }
    let doublings = (failures - settings.login_failure_limit).min(30);
    Some(
        settings
            .login_lockout_base
            .saturating_mul(1u32 << doublings)
            .min(settings.login_lockout_max),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_start_at_the_limit_and_double_up_to_the_maximum() {
        let settings = ThrottleSettings::default();
        let lengths: Vec<_> = (1..=14)
            .map(|failures| lock_length(&settings, failures).map(|d| d.as_secs()))
            .collect();
        let minute = Some(60);
        assert_eq!(&lengths[..4], &[None; 4]);
        assert_eq!(lengths[4], minute);
        assert_eq!(lengths[5], Some(120));
        assert_eq!(lengths[8], Some(960));
        assert_eq!(lengths[9], Some(1920));
        assert_eq!(lengths[10], Some(3600));
        assert_eq!(lengths[13], Some(3600));
        let off = ThrottleSettings {
            login_failure_limit: 0,
            ..ThrottleSettings::default()
        };
        assert_eq!(lock_length(&off, 100), None);
        assert_eq!(
            lock_length(&settings, u32::MAX),
            Some(Duration::from_secs(3600))
        );
    }
}
