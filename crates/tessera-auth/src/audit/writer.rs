//! The audit log's writer: a bounded queue and a background task that writes what is queued
//! in batches, one transaction each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tessera_core::Clock;
use tessera_store::{AuditEvent, AuditFilter, NewAuditEvent, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::{Audit, AuditSettings, log_event};

/// The most events one write takes from the queue.
pub const BATCH: usize = 256;
/// Events that may wait for the writer; beyond that, recording waits.
const QUEUE_CAPACITY: usize = 4096;
/// Runs of a failing batch write before its events are given up.
const WRITE_ATTEMPTS: u32 = 4;
/// The pause before the first rerun of a failed batch; each further one is four times longer.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// What goes through the queue.
// Nearly every message is an event: boxing it would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Message {
    Event(NewAuditEvent),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The audit log: its settings, the store it writes to, and the queue of its writer.
#[derive(Debug)]
pub struct AuditLog {
    settings: AuditSettings,
    store: Store,
    clock: Clock,
    queue: Queue,
}

/// The sending end of the writer's queue, once a writer runs. When the runtime that ran the
/// writer is gone (tests make one per test), the next event starts another.
#[derive(Debug, Default)]
struct Queue {
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    /// Events given up (a failing batch, or a queue that could not be reached).
    lost: Arc<AtomicU64>,
}

impl Queue {
    /// The live sender; with `start`, a new writer when there is none.
    fn sender(&self, store: &Store, start: bool) -> Option<mpsc::Sender<Message>> {
        let mut slot = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Some(sender.clone());
        }
        if !start {
            return None;
        }
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_events(store.clone(), receiver, self.lost.clone()));
        *slot = Some(sender.clone());
        Some(sender)
    }
}

impl AuditLog {
    /// An audit log writing to `store`, timing events by `clock`.
    pub fn new(settings: AuditSettings, store: Store, clock: Clock) -> Self {
        Self {
            settings,
            store,
            clock,
            queue: Queue::default(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    /// Records an event: its log line now, its row soon (see the [module](super) docs).
    /// Waits only while the queue is full.
    pub async fn record(&self, audit: Audit) {
        let event = audit.at(self.clock.now());
        log_event(&event);
        let mut message = Message::Event(event);
        // A second try when the writer's runtime has just gone.
        for _ in 0..2 {
            let Some(sender) = self.queue.sender(&self.store, true) else {
                break;
            };
            match sender.send(message).await {
                Ok(()) => return,
                Err(mpsc::error::SendError(returned)) => message = returned,
            }
        }
        tracing::error!(target: "tessera::audit", lost = 1, "an audit event could not be queued");
        metrics::counter!("tessera_audit_write_failures_total").increment(1);
        self.queue.lost.fetch_add(1, Ordering::Relaxed);
    }

    /// How many events were given up so far (each was logged at error level): the command
    /// line, which records a handful of events and exits, fails when any was.
    pub fn lost(&self) -> u64 {
        self.queue.lost.load(Ordering::Relaxed)
    }

    /// Waits until every event recorded before this call is written (or given up).
    pub async fn flush(&self) {
        let Some(sender) = self.queue.sender(&self.store, false) else {
            return;
        };
        let (done, written) = oneshot::channel();
        if sender.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// A page of events matching `filter`, newest first, `limit` of them after `offset`, and
    /// how many match. Events still queued are written first, so a reader sees what was just
    /// recorded.
    ///
    /// # Errors
    /// The database error.
    pub async fn events(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(i64, Vec<AuditEvent>), StoreError> {
        self.flush().await;
        self.store.list_audit_events(filter, limit, offset).await
    }

    /// Deletes the events older than `audit_retention` (by the log's clock). Returns how
    /// many went; none when the retention is `0` (forever).
    ///
    /// # Errors
    /// The database error.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        match self.settings.cutoff(self.clock.now()) {
            Some(cutoff) => self.store.prune_audit_events(cutoff).await,
            None => Ok(0),
        }
    }
}

/// The writer: takes what is queued, up to [`BATCH`] events, writes it in one transaction,
/// then answers the flushes that were waiting behind it. Ends when every sender is gone.
async fn write_events(store: Store, mut queue: mpsc::Receiver<Message>, lost: Arc<AtomicU64>) {
    let mut messages = Vec::with_capacity(BATCH);
    let mut events = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    while queue.recv_many(&mut messages, BATCH).await > 0 {
        for message in messages.drain(..) {
            match message {
                Message::Event(event) => events.push(event),
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !events.is_empty() {
            if !write_batch(&store, &events).await {
                lost.fetch_add(events.len() as u64, Ordering::Relaxed);
            }
            events.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one batch (`true` when it was written); after a momentary failure, again (at most [`WRITE_ATTEMPTS`] runs in
/// all), then gives it up loudly. A rerun after a broken connection may write a batch
/// twice: an audit log would rather repeat an event than lose one.
async fn write_batch(store: &Store, events: &[NewAuditEvent]) -> bool {
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        let Err(error) = store.insert_audit_events(events).await else {
            return true;
        };
        if attempt >= WRITE_ATTEMPTS || !error.is_transient() || store.is_closed() {
            tracing::error!(
                target: "tessera::audit",
                lost = events.len(),
                %error,
                "audit events could not be written"
            );
            metrics::counter!("tessera_audit_write_failures_total").increment(events.len() as u64);
            return false;
        }
        tracing::warn!(target: "tessera::audit", %error, attempt, "writing audit events failed; retrying");
        tokio::time::sleep(pause).await;
        pause *= 4;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event;

    async fn log() -> AuditLog {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        AuditLog::new(
            AuditSettings::default(),
            store,
            Clock::manual(tessera_core::Timestamp::from_secs(1)).0,
        )
    }

    #[tokio::test]
    async fn written_events_are_read_back_and_lost_ones_are_counted() {
        let audit = log().await;
        audit.record(Audit::new(event::LOGIN_FAILED).user(1)).await;
        let (count, events) = audit.events(&AuditFilter::default(), 10, 0).await.unwrap();
        assert_eq!((count, events[0].event.as_str()), (1, "login.failed"));
        assert_eq!(audit.lost(), 0);

        audit.store.close().await;
        audit.record(Audit::new(event::LOGIN_FAILED).user(1)).await;
        audit.flush().await;
        assert_eq!(audit.lost(), 1, "the event the closed store refused");
    }
}
