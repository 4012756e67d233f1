//! The bounded hashing queue: password hashes wait for a hashing thread up to
//! `hash_queue_limit`; beyond that a request is refused at once rather than queued without
//! end. Measures every check to give each failed login the same duration whatever the
//! account's hash format ([`failure_time`](super::failure_time)), and answers that need no
//! hash (a locked account) as long as well.
//!
//! The queue is fair to logins. Hashes for anything else a client can ask for —
//! registrations, password changes — ([`Hashing::hash_for`], [`Hashing::verify_for`]) may
//! take at most half of the queue's places and run on at most half of the hashing threads
//! (one at least), and one client address holds at most [`MAX_HASHES_PER_CLIENT`] of them: a flood of
//! them from one address never leaves logins without a place or a thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tessera_store::{PasswordHasher, Verification, Verified};
use tokio::sync::Semaphore;

use super::failure_time::FailureTime;
use crate::client::ClientInfo;
use crate::error::AuthError;

/// The most hashes for other work than logins one client address may have queued or
/// running.
pub const MAX_HASHES_PER_CLIENT: usize = 4;

/// The hasher behind a bounded queue.
#[derive(Debug)]
pub struct Hashing {
    hasher: PasswordHasher,
    in_flight: AtomicUsize,
    queue_limit: usize,
    /// Hashes for other work than logins, queued or running: in all, and per client address.
    others: Mutex<Others>,
    /// The hashing threads other work than logins may hold at once.
    other_threads: Semaphore,
    /// The check times behind the duration of a failed login.
    failure_time: Mutex<FailureTime>,
    /// Every padded failure, for the tests to see.
    #[cfg(test)]
    pub(crate) pads: Mutex<Vec<LoginCheck>>,
}

/// A login's password check ([`Hashing::verify`]): what it found, and how much longer a
/// failure must take to last as long as any other ([`Hashing::pad_failure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct LoginCheck {
    pub(crate) verified: Verified,
    /// How long the check took on its hashing thread.
    pub(crate) took: Duration,
    /// How long a failed login's check lasts ([`Hashing::failure_time`]), as of this one.
    pub(crate) target: Duration,
    pub(crate) shortfall: Duration,
}

impl LoginCheck {
    /// What the check found.
    pub fn verified(self) -> Verified {
        self.verified
    }

    /// How much less than a failed login's duration the check took.
    pub fn shortfall(self) -> Duration {
        self.shortfall
    }
}

/// The hashes for other work than logins under way.
#[derive(Debug, Default)]
struct Others {
    total: usize,
    by_client: HashMap<String, usize>,
}

/// Releases a hashing slot when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("tessera_hash_queue_depth").set(left as f64);
    }
}

/// Releases a place for other work than logins when dropped.
struct OtherSlot<'a> {
    others: &'a Mutex<Others>,
    client: String,
}

impl Drop for OtherSlot<'_> {
    fn drop(&mut self) {
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        others.total = others.total.saturating_sub(1);
        if let Some(count) = others.by_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                others.by_client.remove(&self.client);
            }
        }
    }
}

impl Hashing {
    /// `hasher` with at most `queue_limit` hashes waiting for a thread.
    pub fn new(hasher: PasswordHasher, queue_limit: usize) -> Self {
        let other_threads = (hasher.max_concurrent() / 2).max(1);
        Self {
            hasher,
            in_flight: AtomicUsize::new(0),
            queue_limit,
            others: Mutex::default(),
            other_threads: Semaphore::new(other_threads),
            failure_time: Mutex::default(),
            #[cfg(test)]
            pads: Mutex::default(),
        }
    }

    /// The hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Password hashes queued or running at the moment.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most hashes queued or running: the threads and the waiting places.
    fn capacity(&self) -> usize {
        self.queue_limit + self.hasher.max_concurrent()
    }

    /// Takes a hashing slot, or refuses at once when the queue is full.
    fn slot(&self) -> Result<Slot<'_>, AuthError> {
        let taken = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = Slot(&self.in_flight);
        metrics::gauge!("tessera_hash_queue_depth").set(taken as f64);
        if taken > self.capacity() {
            return Err(busy());
        }
        metrics::counter!("tessera_password_hashes_total").increment(1);
        Ok(slot)
    }

    /// Takes a place for other work than logins for `client`, or refuses at once when such
    /// work holds half the queue or the client holds [`MAX_HASHES_PER_CLIENT`] places.
    fn other_slot(&self, client: &ClientInfo) -> Result<OtherSlot<'_>, AuthError> {
        let ident = client.ident();
        let share = (self.capacity() / 2).max(1);
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = others.by_client.get(ident).copied().unwrap_or(0);
        if others.total >= share || mine >= MAX_HASHES_PER_CLIENT {
            return Err(busy());
        }
        others.total += 1;
        *others.by_client.entry(ident.to_owned()).or_default() += 1;
        Ok(OtherSlot {
            others: &self.others,
            client: ident.to_owned(),
        })
    }

    /// Verifies a password for a login (`None`: the account does not exist; the same work
    /// is done against a dummy hash), and tells whether the stored hash should be replaced
    /// and how much longer a failure must last ([`LoginCheck`]). A failed login then waits
    /// [`pad_failure`](Self::pad_failure), holding neither a hashing thread nor a place in
    /// the queue.
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue is full; the hasher's error.
    pub async fn verify(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<LoginCheck, AuthError> {
        let checked = {
            let _slot = self.slot()?;
            self.measured_verify(password, hash).await?
        };
        let target = self.failure_time();
        Ok(LoginCheck {
            verified: checked.verified,
            took: checked.took,
            target,
            shortfall: target.saturating_sub(checked.took),
        })
    }

    /// Waits out a failed login's [`shortfall`](LoginCheck::shortfall), so that it lasts as
    /// long as a failed login against the slowest hash format checked lately (at most
    /// [`MAX_FAILURE_TIME`](super::MAX_FAILURE_TIME)): an unknown name, a wrong password for
    /// Tessera's own hash and one for an imported Django hash cannot be told apart by their
    /// timing. An async sleep: no hashing thread is held.
    pub async fn pad_failure(&self, check: LoginCheck) {
        #[cfg(test)]
        self.pads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(check);
        metrics::histogram!("tessera_login_failure_padding_seconds")
            .record(check.shortfall.as_secs_f64());
        tokio::time::sleep(check.shortfall).await;
    }

    /// How long a failed login's check lasts at the moment, padding included: the slowest
    /// recent check of any hash format, or the average check with Tessera's own parameters
    /// when that is longer, at most [`MAX_FAILURE_TIME`](super::MAX_FAILURE_TIME).
    pub fn failure_time(&self) -> Duration {
        self.failure_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .target(Instant::now())
    }

    /// Hashes a password (the command line's work, or a caller's own).
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue is full; the hasher's error.
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let _slot = self.slot()?;
        Ok(self.hasher.hash(password).await?)
    }

    /// [`verify`](Self::verify) for other work than a login (a password change's current
    /// password), asked for by `client`: within that work's share of the queue.
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue, that work's share of it or the client's places
    /// are full; the hasher's error.
    pub async fn verify_for(
        &self,
        password: &str,
        hash: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Verified, AuthError> {
        let _other = self.other_slot(client)?;
        let _slot = self.slot()?;
        let _thread = self.other_threads.acquire().await.map_err(|_| busy())?;
        Ok(self.measured_verify(password, hash).await?.verified)
    }

    /// [`hash`](Self::hash) for other work than a login (a registration, a new password),
    /// asked for by `client`: within that work's share of the queue.
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue, that work's share of it or the client's places
    /// are full; the hasher's error.
    pub async fn hash_for(&self, password: &str, client: &ClientInfo) -> Result<String, AuthError> {
        let _other = self.other_slot(client)?;
        let _slot = self.slot()?;
        let _thread = self.other_threads.acquire().await.map_err(|_| busy())?;
        Ok(self.hasher.hash(password).await?)
    }

    /// Verifies on a hashing thread and records how long the check took there, by format.
    async fn measured_verify(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<Verification, AuthError> {
        let checked = self.hasher.verify_measured(password, hash).await?;
        self.record(checked.format, checked.took, Instant::now());
        Ok(checked)
    }

    /// Records a check of `format` (`None`: Tessera's own parameters) that took `took`.
    pub(crate) fn record(&self, format: Option<&'static str>, took: Duration, now: Instant) {
        self.failure_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(format, took, now);
    }

    /// Waits as long as a failed login's check ([`failure_time`](Self::failure_time)), so
    /// that an answer that needed no hash (a locked account, an impossible name) cannot be
    /// told apart from a wrong password by its timing.
    pub async fn wait_like_a_hash(&self) {
        tokio::time::sleep(self.failure_time()).await;
    }
}

/// The refusal of a full queue.
fn busy() -> AuthError {
    metrics::counter!("tessera_hash_rejected_total").increment(1);
    AuthError::Busy { retry_after: 1 }
}

#[cfg(test)]
mod tests {
    use tessera_store::PasswordHasher;

    use super::super::MAX_FAILURE_TIME;
    use super::*;

    /// Django 5.2's `make_password("correct horse")` with 1,000 iterations.
    const PBKDF2: &str =
        "pbkdf2_sha256$1000$GCmfcj3zrcvU4I3u2DkLnb$W11PeCHuInqMr3dc5ovUv64GTSsXmZsXyAyjTB/ZfEQ=";

    #[tokio::test]
    async fn every_failure_is_padded_to_the_slowest_recent_format() {
        let hashing = Hashing::new(PasswordHasher::new(1), 4);
        let own = hashing.hasher().hash("correct horse").await.unwrap();
        // A check of a slow format measured lately (injected): beyond the cap.
        hashing.record(Some("scrypt"), 10 * MAX_FAILURE_TIME, Instant::now());
        assert_eq!(hashing.failure_time(), MAX_FAILURE_TIME);
        for (hash, verified) in [
            (None, Verified::Invalid),
            (Some(own.as_str()), Verified::Invalid),
            (Some(PBKDF2), Verified::Invalid),
        ] {
            let check = hashing.verify("wrong horse", hash).await.unwrap();
            assert_eq!(check.verified(), verified, "{hash:?}");
            assert_eq!(check.target, MAX_FAILURE_TIME, "{hash:?}");
            assert_eq!(check.took + check.shortfall(), MAX_FAILURE_TIME, "{hash:?}");
        }
        // The imported format checked is remembered with its own time.
        let formats = hashing.failure_time.lock().unwrap().formats();
        assert_eq!(formats, ["pbkdf2_sha256", "scrypt"]);
    }

    #[tokio::test]
    async fn a_check_slower_than_the_failure_time_gets_no_padding() {
        let hashing = Hashing::new(PasswordHasher::new(1), 4);
        let check = hashing.verify("pw", None).await.unwrap();
        // The first check sets the average it is compared with: nothing to add.
        assert!(check.target <= check.took);
        assert_eq!(check.shortfall(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn padding_sleeps_the_shortfall_without_a_hashing_thread() {
        let hashing = Hashing::new(PasswordHasher::new(1), 4);
        let check = LoginCheck {
            verified: Verified::Invalid,
            took: Duration::from_millis(30),
            target: Duration::from_millis(530),
            shortfall: Duration::from_millis(500),
        };
        let started = tokio::time::Instant::now();
        hashing.pad_failure(check).await;
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert_eq!(hashing.in_flight(), 0);
        assert_eq!(hashing.pads.lock().unwrap().as_slice(), [check]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_without_a_hash_waits_the_failure_time() {
        let hashing = Hashing::new(PasswordHasher::new(1), 4);
        hashing.record(None, Duration::from_millis(40), Instant::now());
        hashing.record(
            Some("pbkdf2_sha256"),
            Duration::from_millis(700),
            Instant::now(),
        );
        let started = tokio::time::Instant::now();
        hashing.wait_like_a_hash().await;
        assert_eq!(started.elapsed(), Duration::from_millis(700));
    }
}
