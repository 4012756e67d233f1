//! The bounded hashing queue: password hashes wait for a hashing thread up to
//! `hash_queue_limit`; beyond that a request is refused at once rather than queued without
//! end. Keeps a running average of a hash's time, so that answers that need no hash can take
//! as long as one.
//!
//! The queue is fair to logins. Hashes for anything else a client can ask for —
//! registrations, password changes — ([`Hashing::hash_for`], [`Hashing::verify_for`]) may
//! take at most half of the queue's places and run on at most half of the hashing threads
//! (one at least), and one client address holds at most [`MAX_HASHES_PER_CLIENT`] of them: a flood of
//! them from one address never leaves logins without a place or a thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tessera_store::PasswordHasher;
use tokio::sync::Semaphore;

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
    /// A running average of how long one hash takes, in microseconds.
    hash_micros: AtomicU64,
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
            hash_micros: AtomicU64::new(0),
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
    /// is done against a dummy hash).
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue is full; the hasher's error.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AuthError> {
        let _slot = self.slot()?;
        self.timed_verify(password, hash).await
    }

    /// Hashes a password (the command line's work, or a caller's own).
    ///
    /// # Errors
    /// [`AuthError::Busy`] when the queue is full; the hasher's error.
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let _slot = self.slot()?;
        self.timed_hash(password).await
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
    ) -> Result<bool, AuthError> {
        let _other = self.other_slot(client)?;
        let _slot = self.slot()?;
        let _thread = self.other_threads.acquire().await.map_err(|_| busy())?;
        self.timed_verify(password, hash).await
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
        self.timed_hash(password).await
    }

    async fn timed_verify(&self, password: &str, hash: Option<&str>) -> Result<bool, AuthError> {
        let started = Instant::now();
        let verified = self.hasher.verify(password, hash).await?;
        self.record_time(started.elapsed());
        Ok(verified)
    }

    async fn timed_hash(&self, password: &str) -> Result<String, AuthError> {
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

/// The refusal of a full queue.
fn busy() -> AuthError {
    metrics::counter!("tessera_hash_rejected_total").increment(1);
    AuthError::Busy { retry_after: 1 }
}
