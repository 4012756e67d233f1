//! Per-account lockout with exponential back-off: past `login_failure_limit` consecutive
//! failures a login name locks for `login_lockout_base`, doubling with each further failure
//! up to `login_lockout_max`. Counts live in this process's memory or in the store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tessera_core::{Clock, Timestamp};
use tessera_store::{Store, StoreError};

use super::throttle::ThrottleSettings;

/// A lock's state for one login name.
#[derive(Debug, Clone, Copy, Default)]
struct Lock {
    failures: u32,
    locked_until: Timestamp,
    /// The latest failure.
    failed_at: Timestamp,
}

/// Locks kept before expired ones are swept out.
const SWEEP_ABOVE: usize = 100_000;

/// Failed-login counts and locks per login name.
#[derive(Debug)]
pub struct Lockout {
    settings: ThrottleSettings,
    /// Kept in the store rather than in `locks`.
    shared: bool,
    locks: Mutex<HashMap<String, Lock>>,
    store: Store,
    clock: Clock,
}

impl Lockout {
    /// Lockouts under `settings`, kept where `throttle_storage` says for `store`'s engine.
    pub fn new(settings: &ThrottleSettings, store: Store, clock: Clock) -> Self {
        Self {
            settings: settings.clone(),
            shared: settings.throttle_storage.shared_on(store.engine()),
            locks: Mutex::new(HashMap::new()),
            store,
            clock,
        }
    }

    fn locks(&self) -> MutexGuard<'_, HashMap<String, Lock>> {
        self.locks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether logins for `name` are locked at the moment.
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn is_locked(&self, name: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let until = if self.shared {
            self.store.login_locked_until(name).await?
        } else {
            self.locks().get(name).map(|lock| lock.locked_until)
        };
        Ok(until.is_some_and(|until| until > now))
    }

    /// Counts a failed login for `name`; past the limit each failure locks for twice as long.
    /// Returns the lock's length when this failure locked the account.
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn record_failure(&self, name: &str) -> Result<Option<Duration>, StoreError> {
        let settings = &self.settings;
        if settings.login_failure_limit == 0 {
            return Ok(None);
        }
        let now = self.clock.now();
        let failures = if self.shared {
            self.store.add_login_failure(name, now).await?
        } else {
            let mut locks = self.locks();
            if locks.len() > SWEEP_ABOVE {
                // What the store's pruning deletes too: names neither locked nor failing lately.
                let (_, idle_before) = settings.prune_cutoffs(now);
                locks.retain(|_, lock| lock.locked_until > now || lock.failed_at > idle_before);
            }
            let lock = locks.entry(name.to_owned()).or_default();
            lock.failures = lock.failures.saturating_add(1);
            lock.failed_at = now;
            lock.failures
        };
        let Some(length) = lock_length(settings, failures) else {
            return Ok(None);
        };
        let until = now + length;
        if self.shared {
            self.store.lock_login(name, until).await?;
        } else if let Some(lock) = self.locks().get_mut(name) {
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
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn clear(&self, name: &str) -> Result<(), StoreError> {
        if self.shared {
            self.store.clear_login_failures(name).await?;
        } else {
            self.locks().remove(name);
        }
        Ok(())
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
    use crate::guard::ThrottleStorage;

    #[tokio::test]
    async fn names_that_stopped_failing_are_swept_out_of_memory() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let (clock, hand) = Clock::manual(Timestamp::from_micros(1_750_000_000_000_000));
        let settings = ThrottleSettings {
            throttle_storage: ThrottleStorage::Memory,
            ..ThrottleSettings::default()
        };
        let lockout = Lockout::new(&settings, store, clock);
        for i in 0..=SWEEP_ABOVE {
            lockout
                .record_failure(&format!("user{i}@example.com"))
                .await
                .unwrap();
        }
        assert_eq!(lockout.locks().len(), SWEEP_ABOVE + 1);
        // Two days on, none of them is locked or failing lately.
        hand.advance_secs(2 * 86_400);
        lockout.record_failure("late@example.com").await.unwrap();
        assert_eq!(lockout.locks().len(), 1);
    }

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
