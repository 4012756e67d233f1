//! Lockout with exponential back-off, per login name *and client*: past
//! `login_failure_limit` failures from one client address, logins of that name from that
//! address lock for `login_lockout_base`, doubling with each further failure up to
//! `login_lockout_max`. A name locked from one address still logs in from another, so that
//! nobody can lock an account's owner out by failing its logins on purpose; guesses from
//! many addresses are slowed by the per-address `login` throttle and by each address's own
//! lock. Counts decay: a count whose last failure, and whose lock's end, are both
//! `login_lockout_max` ago starts afresh (so a client that keeps failing after each lock
//! still finds the longest lock, while one that stopped is forgiven). They live in this
//! process's memory — a map of bounded size — or in the store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tessera_core::{Clock, Timestamp};
use tessera_store::{Store, StoreError};

use super::throttle::ThrottleSettings;

/// A lock's state for one login name from one client.
#[derive(Debug, Clone, Copy, Default)]
struct Lock {
    failures: u32,
    locked_until: Timestamp,
    /// The latest failure.
    failed_at: Timestamp,
}

/// The most (name, client) pairs kept in memory. When full, idle pairs go first, then the
/// oldest unlocked ones, then the oldest locked ones, a tenth of the map at a time.
const MAX_LOCKS: usize = 100_000;

/// The longest client address kept in a key.
const MAX_CLIENT_CHARS: usize = 64;

/// Separates the login name from the client in a key (the unit separator, U+001F).
const SEPARATOR: char = '\u{1f}';

/// The key of `name` failing from `client`: `name`, U+001F, the client's address.
fn key(name: &str, client: &str) -> String {
    let mut key = String::with_capacity(name.len() + 1 + client.len().min(MAX_CLIENT_CHARS));
    key.push_str(name);
    key.push(SEPARATOR);
    key.extend(client.chars().take(MAX_CLIENT_CHARS));
    key
}

/// Failed-login counts and locks per login name and client.
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

    /// Whether logins of `name` from `client` (its address, [`ClientInfo::ident`]) are
    /// locked at the moment.
    ///
    /// [`ClientInfo::ident`]: crate::ClientInfo::ident
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn is_locked(&self, name: &str, client: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let key = key(name, client);
        let until = if self.shared {
            self.store.login_locked_until(&key).await?
        } else {
            self.locks().get(&key).map(|lock| lock.locked_until)
        };
        Ok(until.is_some_and(|until| until > now))
    }

    /// Counts a failed login of `name` from `client`; past the limit each failure locks that
    /// pair for twice as long. Returns the lock's length when this failure locked it.
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn record_failure(
        &self,
        name: &str,
        client: &str,
    ) -> Result<Option<Duration>, StoreError> {
        let settings = &self.settings;
        if settings.login_failure_limit == 0 {
            return Ok(None);
        }
        let now = self.clock.now();
        let forget_before = now - settings.login_lockout_max;
        let key = key(name, client);
        let failures = if self.shared {
            self.store
                .add_decaying_login_failure(&key, now, forget_before)
                .await?
        } else {
            let mut locks = self.locks();
            if locks.len() >= MAX_LOCKS && !locks.contains_key(&key) {
                make_room(&mut locks, now, forget_before);
            }
            let lock = locks.entry(key.clone()).or_default();
            if is_idle(lock, forget_before) {
                lock.failures = 0;
            }
            lock.failures = lock.failures.saturating_add(1);
            lock.failed_at = now;
            lock.failures
        };
        let Some(length) = lock_length(settings, failures) else {
            return Ok(None);
        };
        let until = now + length;
        if self.shared {
            self.store.lock_login(&key, until).await?;
        } else if let Some(lock) = self.locks().get_mut(&key) {
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

    /// Forgets the failures of `name` from `client`: after a successful login from it.
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn clear(&self, name: &str, client: &str) -> Result<(), StoreError> {
        let key = key(name, client);
        if self.shared {
            self.store.clear_login_failures(&key).await?;
        } else {
            self.locks().remove(&key);
        }
        Ok(())
    }

    /// Forgets the failures of `name` from every client: after a password change or an
    /// administrator's unlock.
    ///
    /// # Errors
    /// The store's, when counts are kept there.
    pub async fn clear_all(&self, name: &str) -> Result<(), StoreError> {
        if self.shared {
            self.store.clear_login_failures_under(name).await?;
        } else {
            let prefix = key(name, "");
            self.locks().retain(|key, _| !key.starts_with(&prefix));
        }
        Ok(())
    }
}

/// Whether `lock`'s count would start afresh: its last failure and its lock's end both at
/// or before `forget_before`.
fn is_idle(lock: &Lock, forget_before: Timestamp) -> bool {
    lock.failed_at.max(lock.locked_until) <= forget_before
}

/// Makes room in a full map: drops the pairs that are idle (their count would start afresh
/// anyway, see [`is_idle`]); if that frees too little,
/// the oldest unlocked pairs, then the oldest locked ones, down to nine tenths of
/// [`MAX_LOCKS`], so that the next tenth of new pairs needs no sweep.
fn make_room(locks: &mut HashMap<String, Lock>, now: Timestamp, forget_before: Timestamp) {
    locks.retain(|_, lock| !is_idle(lock, forget_before));
    let keep = MAX_LOCKS - MAX_LOCKS / 10;
    if locks.len() <= keep {
        return;
    }
    let mut by_age: Vec<(bool, Timestamp, String)> = locks
        .iter()
        .map(|(key, lock)| (lock.locked_until > now, lock.failed_at, key.clone()))
        .collect();
    let evict = by_age.len() - keep;
    by_age.select_nth_unstable(evict - 1);
    for (_, _, key) in &by_age[..evict] {
        locks.remove(key);
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

    async fn memory_lockout() -> (Lockout, tessera_core::ManualClock) {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let (clock, hand) = Clock::manual(Timestamp::from_micros(1_750_000_000_000_000));
        let settings = ThrottleSettings {
            throttle_storage: ThrottleStorage::Memory,
            ..ThrottleSettings::default()
        };
        (Lockout::new(&settings, store, clock), hand)
    }

    #[tokio::test]
    async fn a_full_map_drops_the_names_that_stopped_failing() {
        let (lockout, hand) = memory_lockout().await;
        for i in 0..MAX_LOCKS {
            let name = format!("user{i}@example.com");
            lockout.record_failure(&name, "10.0.0.1").await.unwrap();
        }
        assert_eq!(lockout.locks().len(), MAX_LOCKS);
        // An hour on (`login_lockout_max`), none of them is locked or failing lately.
        hand.advance_secs(3600);
        lockout
            .record_failure("late@example.com", "10.0.0.1")
            .await
            .unwrap();
        assert_eq!(lockout.locks().len(), 1);
    }

    #[tokio::test]
    async fn the_memory_map_stays_bounded_under_many_distinct_names() {
        let (lockout, _hand) = memory_lockout().await;
        // A locked pair, then a flood within the same instant: nothing is idle, so only the
        // cap keeps the map bounded, and it evicts unlocked pairs before locked ones.
        for _ in 0..5 {
            lockout
                .record_failure("ada@example.com", "10.0.0.1")
                .await
                .unwrap();
        }
        for i in 0..MAX_LOCKS + 2_000 {
            let name = format!("user{i}@example.com");
            lockout.record_failure(&name, "10.0.0.2").await.unwrap();
            assert!(lockout.locks().len() <= MAX_LOCKS);
        }
        assert!(
            lockout
                .is_locked("ada@example.com", "10.0.0.1")
                .await
                .unwrap()
        );
        // The newest pairs are kept.
        let newest = format!("user{}@example.com", MAX_LOCKS + 1_999);
        assert!(lockout.locks().contains_key(&key(&newest, "10.0.0.2")));
    }

    #[tokio::test]
    async fn locks_are_per_client_and_counts_decay() {
        let (lockout, hand) = memory_lockout().await;
        for _ in 0..5 {
            lockout
                .record_failure("ada@example.com", "10.0.0.1")
                .await
                .unwrap();
        }
        assert!(
            lockout
                .is_locked("ada@example.com", "10.0.0.1")
                .await
                .unwrap()
        );
        assert!(
            !lockout
                .is_locked("ada@example.com", "10.0.0.2")
                .await
                .unwrap()
        );
        // Four failures, then an hour of quiet: the count starts afresh.
        for _ in 0..4 {
            lockout
                .record_failure("grace@example.com", "10.0.0.1")
                .await
                .unwrap();
        }
        hand.advance_secs(3600);
        let locked = lockout
            .record_failure("grace@example.com", "10.0.0.1")
            .await
            .unwrap();
        assert_eq!(locked, None);
        lockout.clear_all("ada@example.com").await.unwrap();
        assert!(
            !lockout
                .is_locked("ada@example.com", "10.0.0.1")
                .await
                .unwrap()
        );
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
