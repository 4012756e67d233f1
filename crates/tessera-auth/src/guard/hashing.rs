//! The bounded hashing queue: password hashes wait for a hashing thread up to
//! `hash_queue_limit`; beyond that a request is refused at once rather than queued without
//! end. Keeps a running average of a hash's time, so that answers that need no hash can take
//! as long as one.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tessera_store::PasswordHasher;

use crate::error::AuthError;

/// The hasher behind a bounded queue.
#[derive(Debug)]
pub struct Hashing {
    hasher: PasswordHasher,
    in_flight: AtomicUsize,
    queue_limit: usize,
    /// A running average of how long one hash takes, in microseconds.
    hash_micros: AtomicU64,
}

/// Releases a hashing slot when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("tessera_hash_queue_depth").set(left as f64);
    }
}

impl Hashing {
    /// `hasher` with at most `queue_limit` hashes waiting for a thread.
    pub fn new(hasher: PasswordHasher, queue_limit: usize) -> Self {
        Self {
            hasher,
            in_flight: AtomicUsize::new(0),
            queue_limit,
            hash_micros: AtomicU64::new(0),
        }
    }

    /// The hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Takes a hashing slot, or refuses at once when the queue is full.
    fn slot(&self) -> Result<Slot<'_>, AuthError> {
        let limit = self.queue_limit + self.hasher.max_concurrent();
        let taken = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = Slot(&self.in_flight);
        metrics::gauge!("tessera_hash_queue_depth").set(taken as f64);
        if taken > limit {
            metrics::counter!("tessera_hash_rejected_total").increment(1);
            return Err(AuthError::Busy { retry_after: 1 });
        }
        metrics::counter!("tessera_password_hashes_total").increment(1);
        Ok(slot)
    }

    /// Verifies a password (`None`: the account does not exist; the same work is done
    /// against a dummy hash).
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue is full; the hasher's error.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AuthError> {
        let _slot = self.slot()?;
        let started = Instant::now();
        let verified = self.hasher.verify(password, hash).await?;
        self.record_time(started.elapsed());
        Ok(verified)
    }

    /// Hashes a password.
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue is full; the hasher's error.
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let _slot = self.slot()?;
        let started = Instant::now();
        let hash = self.hasher.hash(password).await?;
        self.record_time(started.elapsed());
        Ok(hash)
    }

    fn record_time(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let previous = self.hash_micros.load(Ordering::Relaxed);
        let next = if previous == 0 {
            took
        } else {
            (previous * 7 + took) / 8
        };
        self.hash_micros.store(next, Ordering::Relaxed);
    }

    /// Waits about as long as a password hash takes, so that an answer that needed no hash
    /// cannot be told apart by its timing.
    pub async fn wait_like_a_hash(&self) {
        let micros = self.hash_micros.load(Ordering::Relaxed);
        let wait = if micros == 0 {
            Duration::from_millis(30)
        } else {
            Duration::from_micros(micros)
        };
        tokio::time::sleep(wait).await;
    }
}
