//! Group commit of refresh-token rotations on a SQLite store.
//!
//! SQLite takes one write at a time: under load, every rotation waited for the one writer
//! connection, then paid for its own trip to that connection's thread and its own commit.
//! Instead, each rotation on a SQLite store is handed to one batcher task. The task takes
//! everything waiting (at most [`MAX_BATCH`] rotations) and runs it as one multi-statement
//! command inside one `BEGIN IMMEDIATE` transaction: each rotation its own conditional
//! `UPDATE … RETURNING` ([`ROTATE_SESSION`]), in the order they arrived, so that they decide
//! exactly as they would one after another (of two rotations of one token, the first wins and
//! the second finds the token rotated away). Every caller is answered only once the
//! transaction has committed. A rotation that finds nobody waiting with it runs at once, as
//! the single autocommit statement it always was: nobody waits for company.
//!
//! A batch that fails (after the retries [`Retry::Idempotent`] allows) is rolled back and its
//! rotations run again one at a time, so that a rotation that cannot be written fails alone.
//!
//! PostgreSQL rotations are not batched: they run in parallel on the pool's connections, each
//! its own statement, as before.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::engine::{Attempts, Retry, SqliteWriter};
use crate::error::{Result, StoreError};
use crate::sessions::{ROTATE_SESSION, Rotation};

/// The most rotations one transaction takes.
pub(crate) const MAX_BATCH: usize = 32;
/// Rotations that may wait for the batcher; beyond that, a rotation waits to be queued.
const QUEUE_CAPACITY: usize = 4096;
/// Binds per rotation in [`ROTATE_SESSION`] (`$1` … `$6`).
const BINDS: usize = 6;

/// One rotation waiting for the batcher, and where its answer goes.
#[derive(Debug)]
struct Pending {
    id: String,
    old_jti: String,
    rotation: Rotation,
    answer: oneshot::Sender<Result<Option<i64>>>,
}

/// The batcher of a SQLite store, shared by every clone of the [`Store`](crate::Store).
#[derive(Debug, Default)]
pub(crate) struct Rotations {
    /// The sending end of the batcher's queue, once a batcher runs. When the runtime that ran
    /// the batcher is gone (tests make one per test), the next rotation starts another.
    sender: Mutex<Option<mpsc::Sender<Pending>>>,
    /// [`Store::rotations_grouped`](crate::Store::rotations_grouped).
    grouped: Arc<AtomicU64>,
}

/// A row of a batch: the place of a rotation that won in the batch, and the session's owner.
#[derive(sqlx::FromRow)]
struct Rotated {
    slot: i64,
    user_id: i64,
}

impl Rotations {
    /// Rotates through the batcher writing on `pool` (the store's SQLite writer): the answer
    /// of [`Store::rotate_session`](crate::Store::rotate_session), given once committed.
    pub(crate) async fn rotate(
        &self,
        pool: &SqlitePool,
        id: &str,
        old_jti: &str,
        rotation: &Rotation,
    ) -> Result<Option<i64>> {
        let (answer, answered) = oneshot::channel();
        let mut pending = Pending {
            id: id.to_owned(),
            old_jti: old_jti.to_owned(),
            rotation: rotation.clone(),
            answer,
        };
        // A second try when the batcher's runtime has just gone.
        for _ in 0..2 {
            let sender = self.sender(pool);
            match sender.send(pending).await {
                Ok(()) => {
                    return answered.await.unwrap_or_else(|_| {
                        // The batcher went away with the rotation (its runtime shut down):
                        // whether it committed is unknown, as for a lost connection.
                        Err(StoreError::Database(sqlx::Error::WorkerCrashed))
                    });
                }
                Err(mpsc::error::SendError(returned)) => pending = returned,
            }
        }
        // Not reached in practice: a batcher was just started on this very runtime.
        Err(StoreError::Database(sqlx::Error::WorkerCrashed))
    }

    /// How many rotations were committed in a transaction shared with others.
    pub(crate) fn grouped(&self) -> u64 {
        self.grouped.load(Ordering::Relaxed)
    }

    /// The live sender, or that of a batcher started now.
    fn sender(&self, pool: &SqlitePool) -> mpsc::Sender<Pending> {
        let mut slot = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(batcher(pool.clone(), receiver, self.grouped.clone()));
        *slot = Some(sender.clone());
        sender
    }
}

/// The batcher: takes what is waiting, writes it (alone or in one transaction), answers
/// every caller, and again. Ends when the store (every sender) is gone.
async fn batcher(pool: SqlitePool, mut queue: mpsc::Receiver<Pending>, grouped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if batch.len() > 1 {
            match together(&pool, &batch).await {
                Ok(owners) => {
                    grouped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    for (pending, owner) in batch.drain(..).zip(owners) {
                        let _ = pending.answer.send(Ok(owner));
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, rotations = batch.len(), "a batch of rotations failed; running them one by one");
                }
            }
        }
        for pending in batch.drain(..) {
            let answer = alone(&pool, &pending).await;
            let _ = pending.answer.send(answer);
        }
    }
}

/// One rotation, as its own autocommit statement (retried as [`Retry::Idempotent`]).
async fn alone(pool: &SqlitePool, pending: &Pending) -> Result<Option<i64>> {
    let mut attempts = Attempts::new(Retry::Idempotent);
    loop {
        let rotation = &pending.rotation;
        let result = sqlx::query_scalar::<_, i64>(ROTATE_SESSION)
            .bind(&pending.id)
            .bind(&pending.old_jti)
            .bind(&rotation.new_jti)
            .bind(rotation.new_iat.as_secs())
            .bind(rotation.new_expires_at.as_secs())
            .bind(rotation.now)
            .fetch_optional(SqliteWriter(pool))
            .await
            .map_err(StoreError::from);
        match result {
            Err(error) => match attempts.again(&error) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => return Err(error),
            },
            ok => return ok,
        }
    }
}

/// The rotations of `batch` in one transaction, in order; the owner of each session that
/// rotated, by its place in the batch. Retried as a whole as [`Retry::Idempotent`].
async fn together(pool: &SqlitePool, batch: &[Pending]) -> Result<Vec<Option<i64>>> {
    let mut attempts = Attempts::new(Retry::Idempotent);
    loop {
        match together_once(pool, batch).await {
            Err(error) => {
                let error = StoreError::from(error);
                match attempts.again(&error) {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => return Err(error),
                }
            }
            Ok(owners) => return Ok(owners),
        }
    }
}

async fn together_once(
    pool: &SqlitePool,
    batch: &[Pending],
) -> std::result::Result<Vec<Option<i64>>, sqlx::Error> {
    let mut query = sqlx::query_as::<_, Rotated>(batch_sql(batch.len()));
    for pending in batch {
        let rotation = &pending.rotation;
        query = query
            .bind(&pending.id)
            .bind(&pending.old_jti)
            .bind(&rotation.new_jti)
            .bind(rotation.new_iat.as_secs())
            .bind(rotation.new_expires_at.as_secs())
            .bind(rotation.now);
    }
    // The whole transaction is one trip to the connection's thread. A statement that fails
    // (the commit included) stops the command there, maybe inside the transaction, which
    // sqlx does not know of: the connection is closed, and SQLite rolls the transaction back.
    let mut conn = pool.acquire().await?;
    let rows = match query.fetch_all(&mut *conn).await {
        Ok(rows) => rows,
        Err(error) => {
            let _ = conn.close().await;
            return Err(error);
        }
    };
    let mut owners = vec![None; batch.len()];
    for row in rows {
        let slot = usize::try_from(row.slot)
            .ok()
            .filter(|&slot| slot < batch.len())
            .ok_or_else(|| {
                sqlx::Error::Protocol(format!("rotation slot {} out of range", row.slot))
            })?;
        owners[slot] = Some(row.user_id);
    }
    Ok(owners)
}

/// The transaction rotating `len` sessions (2 ≤ `len` ≤ [`MAX_BATCH`]) as one command:
/// `BEGIN IMMEDIATE`, [`ROTATE_SESSION`] once per rotation, its binds numbered on (`$7` …
/// `$12` for the second), each returning its place in the batch as `slot`, then `COMMIT`.
/// Built once per size.
fn batch_sql(len: usize) -> &'static str {
    static COMMANDS: OnceLock<Vec<String>> = OnceLock::new();
    let commands = COMMANDS.get_or_init(|| {
        (0..=MAX_BATCH)
            .map(|len| {
                let statements: String = (0..len).map(numbered).collect();
                format!("BEGIN IMMEDIATE;\n{statements}COMMIT;\n")
            })
            .collect()
    });
    &commands[len]
}

/// [`ROTATE_SESSION`] as the statement at `slot` of a batch: binds shifted by `slot * 6`,
/// `slot` returned first.
fn numbered(slot: usize) -> String {
    let shift = slot * BINDS;
    let mut statement = String::with_capacity(ROTATE_SESSION.len() + 32);
    let mut rest = ROTATE_SESSION;
    while let Some(at) = rest.find('$') {
        statement.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: usize = rest[..digits].parse().expect("a numbered bind");
        write!(statement, "{}", number + shift).expect("writing to a String");
        rest = &rest[digits..];
    }
    statement.push_str(rest);
    let statement = statement.replacen("RETURNING ", &format!("RETURNING {slot} AS slot, "), 1);
    format!("{statement};\n")
}

#[cfg(test)]
mod tests {
    use tessera_core::Timestamp;

    use super::*;
    use crate::engine::Pool;
    use crate::testing::TestDatabase;
    use crate::{NewSession, NewUser, SessionKind, Store};

    const NOW: Timestamp = Timestamp::from_secs(1_735_689_600);

    /// A SQLite store with `count` sessions, each of an active user of its own (so that an
    /// owner answered to the wrong slot shows), every one's token `old`.
    async fn sessions(database: &TestDatabase, count: usize) -> (Store, Vec<String>) {
        let store = database.store().await;
        let mut ids = Vec::new();
        for n in 0..count {
            let user = store
                .create_user(&NewUser {
                    email: format!("batch{n}@example.com"),
                    username: None,
                    first_name: String::new(),
                    last_name: String::new(),
                    password_hash: "!".into(),
                    is_active: true,
                    is_staff: false,
                    is_superuser: false,
                    date_joined: NOW,
                    extra: Default::default(),
                })
                .await
                .unwrap();
            let session = store
                .create_session(&NewSession {
                    user_id: user.id,
                    kind: SessionKind::Refresh,
                    jti: "old".into(),
                    iat: NOW,
                    expires_at: NOW.add_secs(86_400),
                    user_agent: None,
                    ip: None,
                    now: NOW,
                })
                .await
                .unwrap();
            ids.push(session.id);
        }
        (store, ids)
    }

    /// Runs `rotations` (session id, presented jti, new jti) as one batch: all are queued
    /// before the batcher starts, so that it takes them together. The answers, in order, and
    /// how many rotations were committed together.
    async fn one_batch(
        store: &Store,
        rotations: &[(&str, &str, &str)],
    ) -> (Vec<Result<Option<i64>>>, u64) {
        let pool = database_pool(store);
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let mut answers = Vec::new();
        for (slot, &(id, old_jti, new_jti)) in rotations.iter().enumerate() {
            let (answer, answered) = oneshot::channel();
            let now = NOW.add_micros(slot as i64);
            sender
                .send(Pending {
                    id: id.into(),
                    old_jti: old_jti.into(),
                    rotation: Rotation {
                        new_jti: new_jti.into(),
                        new_iat: NOW.add_secs(60),
                        new_expires_at: NOW.add_secs(60 + 86_400),
                        now,
                    },
                    answer,
                })
                .await
                .unwrap();
            answers.push(answered);
        }
        drop(sender);
        let grouped = Arc::new(AtomicU64::new(0));
        batcher(pool, receiver, grouped.clone()).await;
        let mut results = Vec::new();
        for answered in answers {
            results.push(answered.await.unwrap());
        }
        (results, grouped.load(Ordering::Relaxed))
    }

    /// After a batch of three whose middle rotation failed: the first and last rotated once
    /// each (to `a1` and `c1`), answered with their owners; the middle session kept `old`.
    async fn rotated_alone_around_the_failure(
        store: &Store,
        ids: &[String],
        answers: &[Result<Option<i64>>],
    ) {
        for (slot, current) in [(0, "a1"), (2, "c1")] {
            let owner = answers[slot].as_ref().unwrap().expect("rotated");
            let stored = store.session(&ids[slot]).await.unwrap().unwrap();
            assert_eq!(owner, stored.user_id);
            assert_eq!(stored.current_jti, current);
            assert_eq!(stored.rotation_counter, 1, "rotated once, not once per try");
        }
        assert_eq!(
            store.session(&ids[1]).await.unwrap().unwrap().current_jti,
            "old"
        );
    }

    #[tokio::test]
    async fn rotations_taken_together_each_get_their_own_answer() {
        let database = TestDatabase::sqlite();
        let (store, ids) = sessions(&database, 3).await;
        let (answers, grouped) = one_batch(
            &store,
            &[
                (&ids[0], "old", "a1"),
                // The same token again in the same batch: the first rotation won.
                (&ids[0], "old", "a2"),
                (&ids[1], "stale", "b1"),
                (&ids[2], "old", "c1"),
                // The successor the first rotation of this batch just issued.
                (&ids[0], "a1", "a3"),
            ],
        )
        .await;
        assert_eq!(grouped, 5, "one transaction took all five");
        let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
        let mut owners = Vec::new();
        for id in &ids {
            owners.push(store.session(id).await.unwrap().unwrap().user_id);
        }
        assert_eq!(
            answers,
            [
                Some(owners[0]),
                None,
                None,
                Some(owners[2]),
                Some(owners[0])
            ],
            "the winners, each answered with its own session's owner"
        );
        for (id, previous, current, rotations) in [
            (&ids[0], Some("a1"), "a3", 2),
            (&ids[1], None, "old", 0),
            (&ids[2], Some("old"), "c1", 1),
        ] {
            let stored = store.session(id).await.unwrap().unwrap();
            assert_eq!(
                (stored.previous_jti.as_deref(), stored.current_jti.as_str()),
                (previous, current),
                "what was committed"
            );
            assert_eq!(stored.rotation_counter, rotations);
        }
    }

    #[tokio::test]
    async fn a_rotation_that_cannot_be_written_fails_alone() {
        let database = TestDatabase::sqlite();
        let (store, ids) = sessions(&database, 3).await;
        sqlx::query(
            "CREATE TRIGGER poison BEFORE UPDATE ON sessions WHEN NEW.current_jti = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .execute(&database_pool(&store))
        .await
        .unwrap();
        let (answers, grouped) = one_batch(
            &store,
            &[
                (&ids[0], "old", "a1"),
                (&ids[1], "old", "poison"),
                (&ids[2], "old", "c1"),
            ],
        )
        .await;
        assert_eq!(grouped, 0, "the batch was rolled back and run one by one");
        let error = answers[1].as_ref().expect_err("the poisoned rotation");
        assert!(error.to_string().contains("poisoned"), "{error}");
        rotated_alone_around_the_failure(&store, &ids, &answers).await;
    }

    #[tokio::test]
    async fn a_batch_whose_commit_fails_is_rolled_back_and_its_rotations_run_alone() {
        let database = TestDatabase::sqlite();
        let (store, ids) = sessions(&database, 3).await;
        // Every statement passes; the deferred foreign key fails the COMMIT of a batch that
        // rotated to `late` (and the autocommit of that rotation alone).
        for statement in [
            "CREATE TABLE late (user_id INTEGER REFERENCES users(id) DEFERRABLE INITIALLY DEFERRED)",
            "CREATE TRIGGER late AFTER UPDATE ON sessions WHEN NEW.current_jti = 'late' \
             BEGIN INSERT INTO late VALUES (-1); END",
        ] {
            sqlx::query(statement)
                .execute(&database_pool(&store))
                .await
                .unwrap();
        }
        let (answers, grouped) = one_batch(
            &store,
            &[
                (&ids[0], "old", "a1"),
                (&ids[1], "old", "late"),
                (&ids[2], "old", "c1"),
            ],
        )
        .await;
        assert_eq!(grouped, 0, "the failed commit was not reported as one");
        let error = answers[1]
            .as_ref()
            .expect_err("the rotation refused at commit");
        assert!(error.to_string().contains("FOREIGN KEY"), "{error}");
        rotated_alone_around_the_failure(&store, &ids, &answers).await;
        // The writer is outside any transaction: a later write commits and is seen by readers.
        let (answers, _) = one_batch(&store, &[(&ids[0], "a1", "a2")]).await;
        assert!(answers[0].as_ref().unwrap().is_some());
        assert_eq!(
            store.session(&ids[0]).await.unwrap().unwrap().current_jti,
            "a2"
        );
    }

    fn database_pool(store: &Store) -> SqlitePool {
        let Pool::Sqlite(pool) = store.writer() else {
            unreachable!("a SQLite store")
        };
        pool.clone()
    }

    #[test]
    fn each_statement_of_a_batch_has_binds_of_its_own_and_names_its_slot() {
        let sql = batch_sql(3);
        assert_eq!(sql.matches("UPDATE sessions").count(), 3);
        for bind in 1..=18 {
            assert!(
                sql.contains(&format!("${bind} ")) || sql.contains(&format!("${bind},")),
                "${bind} in {sql}"
            );
        }
        assert!(!sql.contains("$19"));
        assert!(sql.contains("RETURNING 0 AS slot, user_id;"));
        assert!(sql.contains("RETURNING 2 AS slot, user_id;"));
        assert!(sql.contains("WHERE id = $13 AND current_jti = $14 "));
        assert_eq!(
            numbered(0),
            format!(
                "{};\n",
                ROTATE_SESSION.replacen("RETURNING ", "RETURNING 0 AS slot, ", 1)
            )
        );
    }
}
