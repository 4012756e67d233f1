//! The in-memory state: the ended sessions of the window, the cached user records and API
//! keys, and the feed's position in the change log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tessera_core::Timestamp;
use tessera_store::{ApiKey, Change, ChangeKind, RevokeReason, Store, StoreError, User};

use super::{CLOCK_MARGIN, HOLE_TIMEOUT, RevocationSettings};

/// Rows read from the change log per query.
const BATCH: i64 = 1_000;
/// The most holes remembered; more at once are taken as lost (a sequence that jumped).
const MAX_HOLES: usize = 10_000;
/// A feed whose last complete read is older than this starts over (drops what it caches and
/// loads the window again) rather than trust that the rows it missed are still stored: the
/// log keeps an hour at least (see [`LOG_RETENTION`]).
const RESYNC_AFTER: Duration = Duration::from_secs(600);
/// How long the change log keeps its rows; the upkeep prunes older ones.
pub const LOG_RETENTION: Duration = Duration::from_secs(3600);

/// Why a session in the window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndedSession {
    /// Revoked, for this reason.
    Revoked(RevokeReason),
    /// Its row was deleted.
    Deleted,
}

/// What a session is, as authentication needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionLookup {
    /// Live, this user's.
    Owner(i64),
    /// Ended.
    Ended(EndedSession),
    /// Not stored (deleted long ago, or never made).
    Missing,
}

/// A snapshot of the in-memory revocation state, for metrics, tests and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RevocationStatus {
    /// Whether authentication may decide from memory at all (`revocation_max_staleness`
    /// not zero, and not an offline tool).
    pub enabled: bool,
    /// Whether it may right now: the feed has read the whole log within
    /// `revocation_max_staleness`.
    pub fresh: bool,
    /// How long ago the last complete read of the log started; `None` before the first.
    pub lag: Option<Duration>,
    /// The highest sequence number applied.
    pub applied_seq: i64,
    /// Sequence numbers skipped and still asked for (PostgreSQL only).
    pub holes: usize,
    /// Ended sessions held (the window).
    pub ended_sessions: usize,
    /// User records held.
    pub cached_users: usize,
    /// Live sessions whose owner is held.
    pub cached_sessions: usize,
    /// API keys held.
    pub cached_api_keys: usize,
    /// Checks decided from memory since start.
    pub memory_decisions: u64,
    /// Checks that read the database since start (memory could not vouch, or is off).
    pub database_decisions: u64,
    /// Times the feed started over (at start, after a long absence, after an overflow).
    pub resyncs: u64,
}

/// The feed's position in the log. One catch-up at a time holds it.
#[derive(Debug, Default)]
struct Cursor {
    /// Whether the window was loaded.
    loaded: bool,
    /// The highest sequence number seen.
    max_seen: i64,
    /// Numbers below `max_seen` not seen yet.
    holes: BTreeMap<i64, Hole>,
    /// When the last complete read started.
    last_success: Option<Instant>,
}

/// A number missing from the log below rows already read.
#[derive(Debug, Clone, Copy)]
struct Hole {
    /// When it was first missed.
    first_missed: Instant,
    /// PostgreSQL: the `xmax` read after it was missed — its writer is numbered below it,
    /// so once `xmin` has passed it, the writer has ended.
    xmax: Option<i64>,
}

/// The ended sessions of the window, in the order they were applied.
#[derive(Debug, Default)]
struct Window {
    ended: HashMap<Arc<str>, EndedSession>,
    order: VecDeque<(Timestamp, Arc<str>)>,
}

/// A bounded map: when full, an eighth of it is dropped, whichever entries those are.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity,
        }
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.len() >= self.capacity {
            let drop: Vec<K> = self
                .map
                .keys()
                .take(self.capacity.div_ceil(8))
                .cloned()
                .collect();
            for key in drop {
                self.map.remove(&key);
            }
        }
        self.map.insert(key, value);
    }
}

/// The in-memory revocation state of one service (see the module's documentation).
#[derive(Debug)]
pub(crate) struct Revocations {
    settings: RevocationSettings,
    /// The longest lifetime of a token authentication accepts, plus `leeway`.
    window: Duration,
    /// The origin of the `fresh_at` instants.
    epoch: Instant,
    /// Microseconds after `epoch` when the last complete read started; 0: never.
    fresh_at: AtomicU64,
    /// The store's count of its own writes, read before the last complete read started.
    synced_local: AtomicU64,
    /// Tokens issued before this (seconds) may predate what was loaded: the database decides.
    vouched_since: AtomicI64,
    /// Until this (seconds) memory vouches for nothing: the window overflowed.
    blind_until: AtomicI64,
    cursor: tokio::sync::Mutex<Cursor>,
    /// `max_seen`, readable without the cursor.
    applied_seq: AtomicI64,
    holes: AtomicU64,
    window_state: RwLock<Window>,
    users: RwLock<Bounded<i64, Arc<User>>>,
    /// The owners of live sessions seen (an owner never changes; an end is in the window).
    owners: RwLock<Bounded<Arc<str>, i64>>,
    api_keys: RwLock<Bounded<Arc<str>, Arc<ApiKey>>>,
    /// User changes applied (a load that saw it move does not cache what it read).
    user_changes: AtomicU64,
    /// API key changes applied (likewise).
    key_changes: AtomicU64,
    memory_decisions: AtomicU64,
    database_decisions: AtomicU64,
    resyncs: AtomicU64,
    /// Whether this service keeps the state (not offline, not off).
    active: AtomicBool,
}

impl Revocations {
    /// The state for tokens that live at most `window` (`leeway` included); inactive until
    /// [`start`](Self::start).
    pub(crate) fn new(settings: RevocationSettings, window: Duration) -> Self {
        let (users, keys) = (
            settings.revocation_cache_capacity,
            settings.revocation_cache_capacity,
        );
        Self {
            settings,
            window,
            epoch: Instant::now(),
            fresh_at: AtomicU64::new(0),
            synced_local: AtomicU64::new(0),
            vouched_since: AtomicI64::new(i64::MAX),
            blind_until: AtomicI64::new(i64::MIN),
            cursor: tokio::sync::Mutex::new(Cursor::default()),
            applied_seq: AtomicI64::new(0),
            holes: AtomicU64::new(0),
            window_state: RwLock::new(Window::default()),
            users: RwLock::new(Bounded::new(users)),
            owners: RwLock::new(Bounded::new(users)),
            api_keys: RwLock::new(Bounded::new(keys)),
            user_changes: AtomicU64::new(0),
            key_changes: AtomicU64::new(0),
            memory_decisions: AtomicU64::new(0),
            database_decisions: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            active: AtomicBool::new(false),
        }
    }

    /// The settings in force.
    pub(crate) fn settings(&self) -> &RevocationSettings {
        &self.settings
    }

    /// Loads the window and turns the state on (when the settings allow it).
    ///
    /// # Errors
    /// The database error of the first read.
    pub(crate) async fn start(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        if !self.settings.enabled() {
            return Ok(());
        }
        self.active.store(true, Ordering::SeqCst);
        self.catch_up(store, now).await
    }

    /// Whether memory may decide for a token issued at `iat` (seconds): the state is on and
    /// fresh, and the token was issued inside the window loaded. A change this process made
    /// since the last read is read first.
    pub(crate) async fn vouches_for(
        &self,
        store: &Store,
        iat: Option<Timestamp>,
        now: Timestamp,
    ) -> bool {
        if !self.active.load(Ordering::Relaxed) {
            return false;
        }
        let Some(iat) = iat else { return false };
        // A token issued before the window loaded, or longer ago than the window (a kind
        // that lives longer than those authentication accepts, such as a refresh token at
        // the verify route): its session may have ended before what is held.
        let window_secs = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        if iat.as_secs() < self.vouched_since.load(Ordering::Acquire)
            || iat.as_secs() < now.as_secs().saturating_sub(window_secs)
            || now.as_secs() < self.blind_until.load(Ordering::Acquire)
        {
            return false;
        }
        if store.local_changes() > self.synced_local.load(Ordering::Acquire) {
            // Bounded: a read stuck behind the database sends the request there instead.
            let wait = self.settings.revocation_max_staleness;
            match tokio::time::timeout(wait, self.catch_up(store, now)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return false,
            }
        }
        self.is_fresh()
    }

    /// Whether the last complete read started within `revocation_max_staleness`.
    fn is_fresh(&self) -> bool {
        let fresh_at = self.fresh_at.load(Ordering::Acquire);
        fresh_at != 0
            && self.micros_since_epoch().saturating_sub(fresh_at)
                <= self.settings.revocation_max_staleness.as_micros() as u64
    }

    fn micros_since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Counts a check decided from memory.
    pub(crate) fn decided_in_memory(&self) {
        self.memory_decisions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a check that read the database.
    pub(crate) fn decided_by_database(&self) {
        self.database_decisions.fetch_add(1, Ordering::Relaxed);
    }

    /// How session `sid` ended, if it did within the window.
    fn ended(&self, sid: &str) -> Option<EndedSession> {
        self.window_state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ended
            .get(sid)
            .copied()
    }

    /// User `id`, from memory or else from the store (and then kept, unless it changed
    /// meanwhile).
    ///
    /// # Errors
    /// The database error.
    pub(crate) async fn user(&self, store: &Store, id: i64) -> Result<Option<User>, StoreError> {
        if let Some(user) = read(&self.users).map.get(&id) {
            return Ok(Some(User::clone(user)));
        }
        let before = self.user_changes.load(Ordering::SeqCst);
        let loaded = store.user_by_id(id).await?;
        if let Some(user) = &loaded {
            let mut users = write(&self.users);
            if self.user_changes.load(Ordering::SeqCst) == before {
                users.insert(id, Arc::new(user.clone()));
            }
        }
        Ok(loaded)
    }

    /// What session `sid` is: ended if the window holds its end, else its owner while it is
    /// live, from memory or else read once.
    ///
    /// # Errors
    /// The database error.
    pub(crate) async fn session(
        &self,
        store: &Store,
        sid: &str,
    ) -> Result<SessionLookup, StoreError> {
        if let Some(ended) = self.ended(sid) {
            return Ok(SessionLookup::Ended(ended));
        }
        if let Some(owner) = read(&self.owners).map.get(sid) {
            return Ok(SessionLookup::Owner(*owner));
        }
        Ok(match store.session(sid).await? {
            None => SessionLookup::Missing,
            Some(session) => match session.revoked_at {
                Some(_) => SessionLookup::Ended(EndedSession::Revoked(
                    session.revoked_reason.unwrap_or(RevokeReason::Other),
                )),
                None => {
                    write(&self.owners).insert(Arc::from(sid), session.user_id);
                    SessionLookup::Owner(session.user_id)
                }
            },
        })
    }

    /// The API key with `prefix`, from memory or else from the store (kept likewise).
    ///
    /// # Errors
    /// The database error.
    pub(crate) async fn api_key(
        &self,
        store: &Store,
        prefix: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        if let Some(key) = read(&self.api_keys).map.get(prefix) {
            return Ok(Some(ApiKey::clone(key)));
        }
        let before = self.key_changes.load(Ordering::SeqCst);
        let loaded = store.api_key_by_prefix(prefix).await?;
        if let Some(key) = &loaded {
            let mut keys = write(&self.api_keys);
            if self.key_changes.load(Ordering::SeqCst) == before {
                keys.insert(Arc::from(prefix), Arc::new(key.clone()));
            }
        }
        Ok(loaded)
    }

    /// Reads the log from the last row applied and applies what it finds: the feed's round,
    /// and what a request does after a change of this process. Concurrent callers wait for
    /// one read; one that started after they asked answers them too.
    ///
    /// # Errors
    /// The database error; the state then ages until a read succeeds.
    pub(crate) async fn catch_up(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        let asked = Instant::now();
        let mut cursor = self.cursor.lock().await;
        if cursor.last_success.is_some_and(|at| at >= asked) {
            return Ok(());
        }
        let started = Instant::now();
        let local = store.local_changes();
        let absent_too_long = cursor
            .last_success
            .is_some_and(|at| started.duration_since(at) > RESYNC_AFTER);
        if !cursor.loaded || absent_too_long {
            self.load(store, &mut cursor, now).await?;
        } else {
            self.read_on(store, &mut cursor, now).await?;
        }
        cursor.last_success = Some(started);
        self.applied_seq.store(cursor.max_seen, Ordering::Release);
        self.holes
            .store(cursor.holes.len() as u64, Ordering::Relaxed);
        self.synced_local.fetch_max(local, Ordering::AcqRel);
        let started_at = u64::try_from(started.duration_since(self.epoch).as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.fresh_at.fetch_max(started_at, Ordering::AcqRel);
        self.prune(now);
        Ok(())
    }

    /// Starts over: forgets the cached records, loads the changes of the window (by the
    /// database's clock) and vouches for tokens issued inside it.
    async fn load(
        &self,
        store: &Store,
        cursor: &mut Cursor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let keep = self.window + CLOCK_MARGIN;
        let limit = i64::try_from(self.settings.revocation_window_capacity)
            .unwrap_or(i64::MAX)
            .saturating_mul(2);
        let recent = store.recent_changes(keep, limit).await?;
        self.forget_records();
        if i64::try_from(recent.rows.len()).unwrap_or(i64::MAX) >= limit {
            self.go_blind(now);
        }
        cursor.holes.clear();
        cursor.max_seen = recent.floor;
        for row in &recent.rows {
            self.note_seq(cursor, row.seq, now);
        }
        self.apply_all(&recent.rows.iter().collect::<Vec<_>>(), now);
        // Numbers missing up to the head: writes not committed yet (or rolled back).
        if recent.head > cursor.max_seen {
            self.note_seq(cursor, recent.head + 1, now);
            cursor.max_seen = recent.head;
        }
        cursor.loaded = true;
        let window_secs = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        self.vouched_since
            .store(now.as_secs().saturating_sub(window_secs), Ordering::Release);
        self.resyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Moves the cursor to `seq`, a row just read: the numbers skipped since the last row
    /// seen become holes. Too many at once cannot be held, and then nothing cached can be
    /// vouched for: the records are forgotten and the window goes blind.
    fn note_seq(&self, cursor: &mut Cursor, seq: i64, now: Timestamp) {
        if seq <= cursor.max_seen {
            return;
        }
        let skipped = usize::try_from(seq - cursor.max_seen - 1).unwrap_or(usize::MAX);
        if cursor.holes.len().saturating_add(skipped) > MAX_HOLES {
            tracing::warn!(
                from = cursor.max_seen + 1,
                to = seq - 1,
                "too many numbers missing from the change log to wait for; \
                 authentication reads the database until they no longer matter"
            );
            self.forget_records();
            self.go_blind(now);
        } else {
            let first_missed = Instant::now();
            for missing in cursor.max_seen + 1..seq {
                cursor.holes.insert(
                    missing,
                    Hole {
                        first_missed,
                        xmax: None,
                    },
                );
            }
        }
        cursor.max_seen = seq;
    }

    /// Drops every cached user record, session owner and API key (each is loaded again
    /// when needed).
    fn forget_records(&self) {
        self.user_changes.fetch_add(1, Ordering::SeqCst);
        self.key_changes.fetch_add(1, Ordering::SeqCst);
        write(&self.users).map.clear();
        write(&self.api_keys).map.clear();
        write(&self.owners).map.clear();
    }

    /// Reads the rows after the last one seen, then the holes.
    async fn read_on(
        &self,
        store: &Store,
        cursor: &mut Cursor,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        loop {
            let rows = store.changes_after(cursor.max_seen, BATCH).await?;
            let mut fresh = Vec::with_capacity(rows.len());
            for row in &rows {
                if row.seq > cursor.max_seen {
                    self.note_seq(cursor, row.seq, now);
                    fresh.push(row);
                }
            }
            self.apply_all(&fresh, now);
            if i64::try_from(rows.len()).unwrap_or(0) < BATCH {
                break;
            }
        }
        if cursor.holes.is_empty() {
            return Ok(());
        }
        // Where transactions stand, read before the holes are asked for again: a hole
        // whose every possible writer has ended and is still missing was rolled back.
        let horizon = store.transaction_horizon().await?;
        if let Some(horizon) = horizon {
            for hole in cursor.holes.values_mut() {
                // Its writer had its number before this read: it started before `xmax`.
                hole.xmax.get_or_insert(horizon.xmax);
            }
        }
        let seqs: Vec<i64> = cursor.holes.keys().copied().collect();
        let filled = store.changes_with_seqs(&seqs).await?;
        let filled: Vec<&Change> = filled
            .iter()
            .filter(|row| cursor.holes.remove(&row.seq).is_some())
            .collect();
        self.apply_all(&filled, now);
        cursor.holes.retain(|_, hole| match (horizon, hole.xmax) {
            // PostgreSQL: kept while a transaction that may write it still runs.
            (Some(horizon), Some(xmax)) => horizon.xmin < xmax,
            // SQLite leaves no holes; one made by hand is waited for a while.
            _ => hole.first_missed.elapsed() < HOLE_TIMEOUT,
        });
        Ok(())
    }

    /// Applies changes read together: those of users and API keys first, then those of
    /// sessions. A user's deletion or deactivation ends its sessions in the same
    /// transaction (and PostgreSQL numbers the sessions' rows first); a request reading
    /// meanwhile must not find such a session ended while the user's old record is still
    /// held, or it would answer "blacklisted" where the database path, which checks the
    /// user first, answers "user not found" or "inactive".
    fn apply_all(&self, changes: &[&Change], now: Timestamp) {
        for change in application_order(changes) {
            self.apply(change, now);
        }
    }

    /// Applies one change.
    fn apply(&self, change: &Change, now: Timestamp) {
        match change.kind {
            ChangeKind::Session => {
                let Some(sid) = change.session_id.as_deref() else {
                    return;
                };
                let ended = match change.reason.as_deref() {
                    Some("deleted") => EndedSession::Deleted,
                    Some(reason) => EndedSession::Revoked(RevokeReason::from_stored(reason)),
                    // Revoked by hand without a reason.
                    None => EndedSession::Revoked(RevokeReason::Other),
                };
                write(&self.owners).map.remove(sid);
                let mut window = write(&self.window_state);
                if window.ended.len() >= self.settings.revocation_window_capacity {
                    drop(window);
                    self.go_blind(now);
                    return;
                }
                let sid: Arc<str> = Arc::from(sid);
                if window.ended.insert(Arc::clone(&sid), ended).is_none() {
                    window.order.push_back((now, sid));
                }
            }
            ChangeKind::User => {
                self.user_changes.fetch_add(1, Ordering::SeqCst);
                write(&self.users).map.remove(&change.user_id);
            }
            ChangeKind::ApiKey => {
                self.key_changes.fetch_add(1, Ordering::SeqCst);
                if let Some(prefix) = change.api_key_prefix.as_deref() {
                    write(&self.api_keys).map.remove(prefix);
                }
            }
        }
    }

    /// Vouches for nothing until what could not be held has aged out of the window.
    fn go_blind(&self, now: Timestamp) {
        let secs = i64::try_from((self.window + CLOCK_MARGIN).as_secs()).unwrap_or(i64::MAX);
        let until = now.as_secs().saturating_add(secs);
        if self.blind_until.fetch_max(until, Ordering::AcqRel) < now.as_secs() {
            tracing::warn!(
                capacity = self.settings.revocation_window_capacity,
                "more sessions ended within a token lifetime than revocation_window_capacity; \
                 authentication reads the database until they age out"
            );
        }
    }

    /// Drops the ended sessions that no live token can name any more.
    fn prune(&self, now: Timestamp) {
        let keep = i64::try_from((self.window + CLOCK_MARGIN).as_secs()).unwrap_or(i64::MAX);
        let cutoff = now.as_secs().saturating_sub(keep);
        let stale = read(&self.window_state)
            .order
            .front()
            .is_some_and(|(at, _)| at.as_secs() < cutoff);
        if !stale {
            return;
        }
        let mut window = write(&self.window_state);
        while let Some((at, _)) = window.order.front()
            && at.as_secs() < cutoff
        {
            if let Some((_, sid)) = window.order.pop_front() {
                window.ended.remove(&sid);
            }
        }
    }

    /// A snapshot for metrics and tests.
    pub(crate) fn status(&self) -> RevocationStatus {
        let fresh_at = self.fresh_at.load(Ordering::Acquire);
        RevocationStatus {
            enabled: self.active.load(Ordering::Relaxed),
            fresh: self.active.load(Ordering::Relaxed) && self.is_fresh(),
            lag: (fresh_at != 0)
                .then(|| Duration::from_micros(self.micros_since_epoch().saturating_sub(fresh_at))),
            applied_seq: self.applied_seq.load(Ordering::Acquire),
            holes: usize::try_from(self.holes.load(Ordering::Relaxed)).unwrap_or(usize::MAX),
            ended_sessions: read(&self.window_state).ended.len(),
            cached_users: read(&self.users).map.len(),
            cached_sessions: read(&self.owners).map.len(),
            cached_api_keys: read(&self.api_keys).map.len(),
            memory_decisions: self.memory_decisions.load(Ordering::Relaxed),
            database_decisions: self.database_decisions.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The order [`Revocations::apply_all`] applies changes read together in: users' and API
/// keys' first, then sessions', each group in the order read.
fn application_order<'a>(changes: &'a [&'a Change]) -> impl Iterator<Item = &'a Change> {
    let is_session = |change: &&&Change| matches!(change.kind, ChangeKind::Session);
    let others = changes.iter().filter(move |change| !is_session(change));
    others.chain(changes.iter().filter(is_session)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: i64, kind: ChangeKind) -> Change {
        Change {
            seq,
            kind,
            user_id: 7,
            session_id: matches!(kind, ChangeKind::Session).then(|| format!("s{seq}")),
            reason: matches!(kind, ChangeKind::Session).then(|| "deleted".to_owned()),
            api_key_prefix: matches!(kind, ChangeKind::ApiKey).then(|| "key".to_owned()),
        }
    }

    #[test]
    fn a_users_change_applies_before_the_sessions_it_ended() {
        // A user deleted on PostgreSQL: its sessions' rows are numbered first.
        let read = [
            change(1, ChangeKind::Session),
            change(2, ChangeKind::Session),
            change(3, ChangeKind::User),
            change(4, ChangeKind::ApiKey),
            change(5, ChangeKind::Session),
        ];
        let read: Vec<&Change> = read.iter().collect();
        let order: Vec<i64> = application_order(&read).map(|change| change.seq).collect();
        assert_eq!(order, [3, 4, 1, 2, 5]);
    }
}
