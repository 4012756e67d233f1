//! [`KeyRefresher`]: with `key_source = "store"`, keys stored unencrypted sealed with the
//! `key_encryption_key`, the first key when there is none, the stored ring installed in the
//! token backend, and a task that re-reads it every `key_refresh_interval` and at the
//! instant a key changes state.

use std::collections::HashMap;
use std::time::Duration;

use tessera_core::{Clock, Key, Timestamp, TokenBackend};
use tokio::task::JoinHandle;

use super::{KeyManager, KeyStatus, KeysError};

/// The background task that keeps a backend's ring equal to the store's keys. Dropping it
/// stops the task.
#[derive(Debug)]
pub struct KeyRefresher {
    task: JoinHandle<()>,
    sealed: Vec<KeyStatus>,
}

impl KeyRefresher {
    /// Seals the keys stored unencrypted when a `key_encryption_key` is set (see
    /// [`KeyManager::seal_plain_keys`]), creates the first key when the store has none,
    /// installs the stored ring in `backend`, and starts the task that keeps it current.
    ///
    /// # Errors
    /// The store's, or a key that cannot be opened (no `key_encryption_key` …).
    pub async fn start(
        manager: KeyManager,
        backend: TokenBackend,
        clock: Clock,
        interval: Duration,
    ) -> Result<Self, KeysError> {
        let sealed = manager.seal_plain_keys(clock.now()).await?;
        for key in &sealed {
            tracing::warn!(kid = %key.kid, "a signing key was stored unencrypted; sealed it with the key_encryption_key");
        }
        if let Some(first) = manager.ensure_first_key(clock.now()).await? {
            tracing::info!(kid = %first.kid, algorithm = %first.algorithm, "created the first signing key in the store");
        }
        let mut cache = HashMap::new();
        let loaded = manager.ring(clock.now(), &mut cache).await?;
        backend.set_keys(loaded.ring);
        let task = Refresh {
            manager,
            backend,
            clock,
            interval,
            cache,
            fingerprint: loaded.fingerprint,
            next_change: loaded.next_change,
        };
        Ok(Self {
            task: tokio::spawn(task.run()),
            sealed,
        })
    }

    /// The keys found stored unencrypted, and sealed, when it started.
    pub fn sealed_at_start(&self) -> &[KeyStatus] {
        &self.sealed
    }
}

impl Drop for KeyRefresher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the task keeps between two reads.
struct Refresh {
    manager: KeyManager,
    backend: TokenBackend,
    clock: Clock,
    interval: Duration,
    /// Keys already opened, by kid, so a read does not decrypt and parse every key again.
    cache: HashMap<String, Key>,
    fingerprint: Vec<String>,
    next_change: Option<Timestamp>,
}

impl Refresh {
    /// Re-reads the store's keys every interval, and at the instant a key changes state,
    /// installing the ring when it differs. Ends when the store is closed.
    async fn run(mut self) {
        loop {
            let mut wait = self.interval;
            if let Some(at) = self.next_change {
                wait = wait.min(at.duration_since(self.clock.now()));
            }
            tokio::time::sleep(wait).await;
            if self.manager.store().is_closed() {
                return;
            }
            match self.manager.ring(self.clock.now(), &mut self.cache).await {
                Ok(loaded) => {
                    self.next_change = loaded.next_change;
                    if loaded.fingerprint != self.fingerprint {
                        tracing::info!(
                            active = %loaded.fingerprint[0],
                            verifying = loaded.fingerprint.len() - 1,
                            "signing keys changed; new key ring installed"
                        );
                        self.fingerprint = loaded.fingerprint;
                        self.backend.set_keys(loaded.ring);
                    }
                }
                Err(error) => {
                    if self.manager.store().is_closed() {
                        return;
                    }
                    // Retry after a whole interval, not at a state change that has passed.
                    self.next_change = None;
                    tracing::warn!(%error, "could not re-read the signing keys; keeping the current ones");
                }
            }
        }
    }
}
