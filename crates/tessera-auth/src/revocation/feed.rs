//! The feed: the background task that keeps the in-memory state current — a read of the
//! change log when PostgreSQL notifies a commit, and every `revocation_poll_interval` in
//! any case.

use std::time::{Duration, Instant};

use tessera_store::{ChangeListener, Engine, Store};

use crate::service::{Auth, BackgroundTask, WeakAuth};

/// How long to wait before listening again after the listening connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);
/// The most notifications taken together before the next read.
const MAX_COALESCED: usize = 1_024;

impl Auth {
    /// Starts the feed; it stops with the last clone of the service.
    pub(crate) fn start_revocation_feed(&self) -> BackgroundTask {
        let weak = self.downgrade();
        let store = self.store().clone();
        let interval = self.revocations().settings().revocation_poll_interval;
        BackgroundTask(tokio::spawn(run(weak, store, interval)))
    }
}

/// Reads, then waits for a notification or the interval, until the service is gone.
async fn run(weak: WeakAuth, store: Store, interval: Duration) {
    let listens = store.engine() == Engine::Postgres;
    let mut listener: Option<ChangeListener> = None;
    // When to try listening again after a failure (polling meanwhile).
    let mut listen_at = Instant::now();
    let mut failing = false;
    loop {
        if listens && listener.is_none() && Instant::now() >= listen_at {
            match store.change_listener().await {
                Ok(made) => listener = made,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for changes; polling meanwhile");
                    listen_at = Instant::now() + RELISTEN_AFTER;
                }
            }
        }
        {
            let Some(auth) = weak.upgrade() else { return };
            let revocations = auth.revocations();
            match revocations.catch_up(&store, auth.now()).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("reading the change log again");
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(
                        %error,
                        "cannot read the change log; authentication reads the database \
                         once the state is older than revocation_max_staleness"
                    );
                }
                Err(_) => {}
            }
            publish(&revocations.status());
        }
        match listener.as_mut() {
            Some(listening) if Instant::now() >= listen_at => {
                match tokio::time::timeout(interval, listening.recv()).await {
                    // A commit: take the notifications already here with it, one read
                    // answers them all.
                    Ok(Ok(Some(_))) => {
                        for _ in 0..MAX_COALESCED {
                            match tokio::time::timeout(Duration::ZERO, listening.recv()).await {
                                Ok(Ok(Some(_))) => {}
                                _ => break,
                            }
                        }
                    }
                    // Notifications may have been missed (the connection was lost, or was
                    // opened again): read now.
                    Ok(Ok(None)) => {}
                    // No connection can be opened: poll, and try again later.
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "cannot listen for changes; polling meanwhile");
                        listen_at = Instant::now() + RELISTEN_AFTER;
                    }
                    Err(_) => {}
                }
            }
            // Polling: on PostgreSQL, only until listening is due again.
            _ if listens => {
                let until_listen = listen_at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10));
                tokio::time::sleep(interval.min(until_listen)).await;
            }
            _ => tokio::time::sleep(interval).await,
        }
    }
}

/// The state's figures as gauges (`tessera_revocation_*`).
fn publish(status: &super::RevocationStatus) {
    metrics::gauge!("tessera_revocation_fresh").set(if status.fresh { 1.0 } else { 0.0 });
    if let Some(lag) = status.lag {
        metrics::gauge!("tessera_revocation_lag_seconds").set(lag.as_secs_f64());
    }
    metrics::gauge!("tessera_revocation_applied_seq").set(status.applied_seq as f64);
    metrics::gauge!("tessera_revocation_ended_sessions").set(status.ended_sessions as f64);
    metrics::gauge!("tessera_revocation_cached_users").set(status.cached_users as f64);
    metrics::counter!("tessera_revocation_decisions_total", "source" => "memory")
        .absolute(status.memory_decisions);
    metrics::counter!("tessera_revocation_decisions_total", "source" => "database")
        .absolute(status.database_decisions);
}
