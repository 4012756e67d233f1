//! The change log (migration 0015) on both engines: which writes log which rows, that
//! refreshes log nothing, this store's own writes counted, reading and pruning the log; on
//! PostgreSQL, notifications at commit, holes left by open transactions, and a listener
//! that survives the loss of its connection.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{NOW, new_session, session, user};
use sqlx::Connection as _;
use tessera_store::django::ImportedUser;
use tessera_store::testing::TestDatabase;
use tessera_store::{
    CHANGE_LISTENER_APPLICATION_NAME, Change, ChangeKind, ChangeListener, Engine, NewApiKey,
    NewSession, RecentChanges, RevokeReason, Rotation, SessionKind, Store, UserFlags, UserUpdate,
    engine_tests,
};

/// A change log row without its number, to compare with what a write should log.
type Row = (
    ChangeKind,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn user_row(id: i64) -> Row {
    (ChangeKind::User, id, None, None, None)
}

fn session_row(user_id: i64, id: &str, reason: &str) -> Row {
    (
        ChangeKind::Session,
        user_id,
        Some(id.to_owned()),
        Some(reason.to_owned()),
        None,
    )
}

fn key_row(user_id: i64, prefix: &str) -> Row {
    (
        ChangeKind::ApiKey,
        user_id,
        None,
        None,
        Some(prefix.to_owned()),
    )
}

fn row(change: &Change) -> Row {
    (
        change.kind,
        change.user_id,
        change.session_id.clone(),
        change.reason.clone(),
        change.api_key_prefix.clone(),
    )
}

/// Follows the log and this store's count of its own writes, one write at a time.
struct Follower {
    seq: i64,
    local: u64,
}

impl Follower {
    async fn new(store: &Store) -> Follower {
        Follower {
            seq: store.change_log_head().await.unwrap(),
            local: store.local_changes(),
        }
    }

    /// The rows logged since the last call (sorted: one statement may log several in an
    /// order of the engine's choosing), and whether the local count moved.
    async fn since(&mut self, store: &Store) -> (Vec<Row>, bool) {
        let changes = store.changes_after(self.seq, 1000).await.unwrap();
        assert!(
            changes.windows(2).all(|w| w[0].seq < w[1].seq),
            "ascending: {changes:?}"
        );
        if let Some(last) = changes.last() {
            self.seq = last.seq;
        }
        let mut rows: Vec<Row> = changes.iter().map(row).collect();
        rows.sort();
        let local = store.local_changes();
        let moved = local > self.local;
        self.local = local;
        (rows, moved)
    }

    /// Asserts that the write since the last call logged `expected` (in any order) and was
    /// counted locally.
    async fn logged(&mut self, store: &Store, what: &str, mut expected: Vec<Row>) {
        expected.sort();
        let (rows, moved) = self.since(store).await;
        assert_eq!(rows, expected, "{what}: rows logged");
        assert!(moved, "{what}: counted as a local change");
    }

    /// Asserts that nothing was logged since the last call, nor counted.
    async fn nothing(&mut self, store: &Store, what: &str) {
        let (rows, moved) = self.since(store).await;
        assert_eq!(rows, [], "{what}: nothing logged");
        assert!(!moved, "{what}: not counted as a local change");
    }
}

fn key<'a>(prefix: &'a str, user_id: i64, scopes: &'a [String]) -> NewApiKey<'a> {
    NewApiKey {
        prefix,
        hash: "h",
        user_id,
        name: "ci",
        scopes,
        created_at: NOW,
        expires_at: None,
    }
}

fn rotation(jti: &str) -> Rotation {
    Rotation {
        new_jti: jti.to_owned(),
        new_iat: NOW.add_secs(60),
        new_expires_at: NOW.add_secs(86_400),
        now: NOW.add_secs(60),
    }
}

/// Runs `sql` on the database at `url` on a connection of its own (another writer: the
/// CLI, raw SQL).
async fn execute(db: &TestDatabase, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db.engine() {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }
}

fn unix_micros() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_micros()).unwrap()
}

engine_tests! {
    /// Every store write that may end what a token or a cached user vouches for logs the
    /// rows the triggers promise, and is counted as a local change.
    async fn each_kind_of_write_logs_its_rows_and_is_counted(db: &TestDatabase) {
        let store = db.store().await;
        assert_eq!(store.local_changes(), 0);
        let mut log = Follower::new(&store).await;

        // Users.
        let ada = user(&store, "ada@example.com").await;
        log.logged(&store, "create_user", vec![user_row(ada.id)]).await;
        store.set_last_login(ada.id, NOW).await.unwrap();
        log.logged(&store, "set_last_login", vec![user_row(ada.id)]).await;
        assert!(store.set_password_hash(ada.id, "h1").await.unwrap());
        log.logged(&store, "set_password_hash", vec![user_row(ada.id)]).await;
        assert!(store.upgrade_password_hash(ada.id, "h1", "h2").await.unwrap());
        log.logged(&store, "upgrade_password_hash", vec![user_row(ada.id)]).await;
        let inactive = UserFlags { is_active: Some(false), ..UserFlags::default() };
        assert!(store.set_user_flags(ada.id, &inactive).await.unwrap());
        log.logged(&store, "set_user_flags", vec![user_row(ada.id)]).await;
        let renamed = UserUpdate { first_name: Some("Augusta".into()), ..UserUpdate::default() };
        assert!(store.update_user(ada.id, &renamed).await.unwrap().is_some());
        log.logged(&store, "update_user", vec![user_row(ada.id)]).await;
        assert!(store.set_email_verified(ada.id, false).await.unwrap());
        log.logged(&store, "set_email_verified", vec![user_row(ada.id)]).await;
        assert!(store.mark_email_proved(ada.id, "ada@example.com").await.unwrap());
        log.logged(&store, "mark_email_proved", vec![user_row(ada.id)]).await;
        let moved = store.change_email(ada.id, "ada@example.com", "ada@new.example").await;
        assert!(moved.unwrap().is_some());
        log.logged(&store, "change_email", vec![user_row(ada.id)]).await;
        let active = UserFlags { is_active: Some(true), ..UserFlags::default() };
        assert!(store.set_user_flags(ada.id, &active).await.unwrap());
        log.logged(&store, "set_user_flags again", vec![user_row(ada.id)]).await;

        // Sessions: created, nothing; revoked, one row each with the reason.
        let s1 = session(&store, ada.id, "j1").await;
        let s2 = session(&store, ada.id, "j2").await;
        let s3 = session(&store, ada.id, "j3").await;
        log.nothing(&store, "create_session").await;
        assert!(store.revoke_session(&s1.id, RevokeReason::Logout, NOW).await.unwrap());
        log.logged(&store, "revoke_session", vec![session_row(ada.id, &s1.id, "logout")]).await;
        assert!(!store.revoke_session(&s1.id, RevokeReason::Admin, NOW).await.unwrap());
        let (rows, _) = log.since(&store).await;
        assert_eq!(rows, [], "a session revoked twice is logged once");
        assert!(store
            .revoke_session_if_current(&s2.id, "j2", RevokeReason::Blacklisted, NOW)
            .await
            .unwrap());
        log.logged(&store, "revoke_session_if_current", vec![session_row(ada.id, &s2.id, "blacklisted")]).await;
        assert!(store
            .revoke_user_session(ada.id, &s3.id, RevokeReason::EndedByUser, NOW)
            .await
            .unwrap());
        log.logged(&store, "revoke_user_session", vec![session_row(ada.id, &s3.id, "ended_by_user")]).await;
        let s4 = session(&store, ada.id, "j4").await;
        let s5 = session(&store, ada.id, "j5").await;
        assert_eq!(store.revoke_user_sessions(ada.id, RevokeReason::Admin, NOW).await.unwrap(), 2);
        log.logged(
            &store,
            "revoke_user_sessions",
            vec![session_row(ada.id, &s4.id, "admin"), session_row(ada.id, &s5.id, "admin")],
        )
        .await;
        let s6 = session(&store, ada.id, "j6").await;
        let revoked = store.change_password(ada.id, "h3", RevokeReason::PasswordChanged, NOW).await;
        assert_eq!(revoked.unwrap(), Some(1));
        log.logged(
            &store,
            "change_password",
            vec![user_row(ada.id), session_row(ada.id, &s6.id, "password_changed")],
        )
        .await;
        let s7 = session(&store, ada.id, "j7").await;
        assert_eq!(store.log_out_everywhere(ada.id, RevokeReason::LogoutAll, NOW).await.unwrap(), 1);
        log.logged(
            &store,
            "log_out_everywhere",
            vec![user_row(ada.id), session_row(ada.id, &s7.id, "logout_all")],
        )
        .await;

        // Flushing: a live session deleted is logged as "deleted", a revoked one is not
        // logged again.
        let expired = |jti: &str| NewSession {
            now: NOW.add_secs(-7200),
            ..new_session(ada.id, jti, NOW.add_secs(-3600))
        };
        let live = store.create_session(&expired("j8")).await.unwrap();
        let ended = store.create_session(&expired("j9")).await.unwrap();
        assert!(store.revoke_session(&ended.id, RevokeReason::Logout, NOW).await.unwrap());
        log.logged(&store, "revoke an expired session", vec![session_row(ada.id, &ended.id, "logout")]).await;
        assert_eq!(store.flush_expired_sessions(NOW, 1).await.unwrap(), 2);
        log.logged(&store, "flush_expired_sessions", vec![session_row(ada.id, &live.id, "deleted")]).await;

        // API keys: created and used, nothing; revoked or deleted, one row each.
        let scopes: Vec<String> = Vec::new();
        let k1 = store.insert_api_key(&key("k1k1k1k1", ada.id, &scopes), 10).await.unwrap().unwrap();
        log.nothing(&store, "insert_api_key").await;
        assert!(store.record_api_key_use(k1.id, NOW, Some("10.0.0.1"), NOW).await.unwrap());
        log.nothing(&store, "record_api_key_use").await;
        assert!(store.revoke_api_key("k1k1k1k1", Some(ada.id), NOW).await.unwrap().is_some());
        log.logged(&store, "revoke_api_key", vec![key_row(ada.id, "k1k1k1k1")]).await;
        assert!(store.revoke_api_key("k1k1k1k1", None, NOW.add_secs(5)).await.unwrap().is_some());
        let (rows, _) = log.since(&store).await;
        assert_eq!(rows, [], "a key revoked twice keeps its first time, logged once");
        store.insert_api_key(&key("k2k2k2k2", ada.id, &scopes), 10).await.unwrap().unwrap();
        store.insert_api_key(&key("k3k3k3k3", ada.id, &scopes), 10).await.unwrap().unwrap();
        log.nothing(&store, "insert_api_key twice").await;
        assert_eq!(store.revoke_api_keys_of(ada.id, NOW).await.unwrap().len(), 2);
        log.logged(
            &store,
            "revoke_api_keys_of",
            vec![key_row(ada.id, "k2k2k2k2"), key_row(ada.id, "k3k3k3k3")],
        )
        .await;
        assert_eq!(store.flush_api_keys(NOW).await.unwrap(), 3);
        log.logged(
            &store,
            "flush_api_keys",
            vec![
                key_row(ada.id, "k1k1k1k1"),
                key_row(ada.id, "k2k2k2k2"),
                key_row(ada.id, "k3k3k3k3"),
            ],
        )
        .await;

        // Grants live in tables of their own: counted, not logged.
        assert!(store.set_user_grants(ada.id, None, Some(&["app.view".to_owned()])).await.unwrap().is_some());
        let (rows, moved) = log.since(&store).await;
        assert_eq!(rows, [], "set_user_grants");
        assert!(moved, "set_user_grants is counted");

        // A Django import: every user it writes, counted once it commits.
        let mut import = store.begin_django_import().await.unwrap();
        import
            .insert_user(&ImportedUser {
                id: 500,
                email: "grace@example.com".into(),
                username: Some("grace".into()),
                first_name: "Grace".into(),
                last_name: "Hopper".into(),
                password_hash: "!".into(),
                is_active: true,
                is_staff: false,
                is_superuser: false,
                date_joined: NOW,
                last_login: None,
            })
            .await
            .unwrap();
        import.commit().await.unwrap();
        log.logged(&store, "django import", vec![user_row(500)]).await;

        // Deleting a user: the user, their live sessions and their keys.
        let s10 = session(&store, ada.id, "j10").await;
        store.insert_api_key(&key("k4k4k4k4", ada.id, &scopes), 10).await.unwrap().unwrap();
        log.nothing(&store, "a session and a key").await;
        assert!(store.delete_user(ada.id).await.unwrap());
        log.logged(
            &store,
            "delete_user",
            vec![
                user_row(ada.id),
                session_row(ada.id, &s10.id, "deleted"),
                key_row(ada.id, "k4k4k4k4"),
            ],
        )
        .await;
        assert!(store.delete_user(500).await.unwrap());
        log.logged(&store, "delete_user (imported)", vec![user_row(500)]).await;

        // Clones share the count.
        let clone = store.clone();
        let before = store.local_changes();
        clone.set_last_login(500, NOW).await.unwrap();
        assert_eq!(store.local_changes(), before + 1);
    }

    /// A refresh — rotation, touch, slide — and a recorded API key use log nothing and are
    /// not counted: the hot paths stay off the log.
    async fn refreshes_and_key_uses_log_nothing(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let refresh = session(&store, ada.id, "r0").await;
        let sliding = store
            .create_session(&NewSession {
                kind: SessionKind::Sliding,
                ..new_session(ada.id, "s0", NOW.add_secs(86_400))
            })
            .await
            .unwrap();
        let scopes: Vec<String> = Vec::new();
        let k = store.insert_api_key(&key("kkkkkkkk", ada.id, &scopes), 10).await.unwrap().unwrap();
        let mut log = Follower::new(&store).await;

        let mut jti = "r0".to_owned();
        for n in 1..=5 {
            let next = format!("r{n}");
            assert!(store.rotate_session(&refresh.id, &jti, &rotation(&next)).await.unwrap().is_some());
            jti = next;
        }
        log.nothing(&store, "rotate_session").await;
        assert!(store.touch_session(&refresh.id, &jti, NOW.add_secs(90)).await.unwrap().is_some());
        log.nothing(&store, "touch_session").await;
        assert!(store
            .slide_session(&sliding.id, "s0", NOW.add_secs(120), NOW.add_secs(120))
            .await
            .unwrap()
            .is_some());
        log.nothing(&store, "slide_session").await;
        for n in 0..3 {
            let at = NOW.add_secs(60 * n);
            assert!(store.record_api_key_use(k.id, at, Some("10.0.0.1"), at).await.unwrap());
        }
        log.nothing(&store, "record_api_key_use").await;
    }

    /// Writes from outside the store — another process, raw SQL — are logged too, an
    /// API key's expiry change included; only the store's own writes are counted.
    async fn other_writers_are_logged_but_not_counted(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let scopes: Vec<String> = Vec::new();
        store.insert_api_key(&key("kkkkkkkk", ada.id, &scopes), 10).await.unwrap().unwrap();
        let s = session(&store, ada.id, "j").await;
        let mut log = Follower::new(&store).await;

        execute(db, &format!("UPDATE users SET is_active = FALSE WHERE id = {}", ada.id)).await;
        execute(db, "UPDATE api_keys SET expires_at = 42 WHERE prefix = 'kkkkkkkk'").await;
        execute(db, "UPDATE api_keys SET expires_at = 42, name = 'x' WHERE prefix = 'kkkkkkkk'").await;
        execute(db, "UPDATE api_keys SET name = 'y' WHERE prefix = 'kkkkkkkk'").await;
        execute(db, &format!("DELETE FROM sessions WHERE id = '{}'", s.id)).await;
        let (rows, moved) = log.since(&store).await;
        let mut expected = vec![
            user_row(ada.id),
            key_row(ada.id, "kkkkkkkk"),
            session_row(ada.id, &s.id, "deleted"),
        ];
        expected.sort();
        assert_eq!(rows, expected);
        assert!(!moved, "another writer's changes are not this store's");
    }

    /// Reading the log: after a seq with a limit, by seqs, the recent window with the head
    /// of the same snapshot, head and tail, and pruning by age that never drops the newest
    /// row.
    async fn the_log_is_read_by_seq_and_age_and_pruned(db: &TestDatabase) {
        let store = db.store().await;
        assert_eq!(store.change_log_head().await.unwrap(), 0);
        assert_eq!(store.change_log_tail().await.unwrap(), None);
        assert_eq!(
            store.recent_changes(Duration::from_secs(60), 100).await.unwrap(),
            RecentChanges::default()
        );
        assert_eq!(store.prune_change_log(Duration::ZERO, 10).await.unwrap(), 0);

        let before = unix_micros();
        let mut ids = Vec::new();
        for n in 0..6 {
            ids.push(user(&store, &format!("u{n}@example.com")).await.id);
        }
        let after = unix_micros();
        let all = store.changes_after(0, 100).await.unwrap();
        assert_eq!(all.iter().map(|c| c.user_id).collect::<Vec<_>>(), ids);
        let seqs: Vec<i64> = all.iter().map(|c| c.seq).collect();
        let head = *seqs.last().unwrap();
        assert_eq!(store.change_log_head().await.unwrap(), head);
        assert_eq!(store.change_log_tail().await.unwrap(), Some(seqs[0]));

        // The database's clock, in microseconds (SQLite's to the millisecond).
        let (min_at, max_at) = match db.engine() {
            Engine::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
                sqlx::query_as::<_, (i64, i64)>("SELECT MIN(at), MAX(at) FROM change_log")
                    .fetch_one(&mut conn).await.unwrap()
            }
            Engine::Postgres => {
                let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
                sqlx::query_as::<_, (i64, i64)>("SELECT MIN(at), MAX(at) FROM change_log")
                    .fetch_one(&mut conn).await.unwrap()
            }
        };
        assert!(min_at >= before - 1000 && max_at <= after + 1000, "{before} <= {min_at}..{max_at} <= {after}");

        // After a seq, with a limit.
        let page = store.changes_after(seqs[1], 2).await.unwrap();
        assert_eq!(page.iter().map(|c| c.seq).collect::<Vec<_>>(), &seqs[2..4]);
        assert!(store.changes_after(head, 10).await.unwrap().is_empty());

        // By seqs, unknown ones left out; more than one statement's worth.
        let mut wanted: Vec<i64> = vec![seqs[4], seqs[0], head + 100];
        wanted.extend(head + 1000..head + 3000);
        let mut found: Vec<i64> = store.changes_with_seqs(&wanted).await.unwrap().iter().map(|c| c.seq).collect();
        found.sort_unstable();
        assert_eq!(found, [seqs[0], seqs[4]]);
        assert!(store.changes_with_seqs(&[]).await.unwrap().is_empty());

        // The first three rows an hour old: the window sees the other three.
        execute(
            db,
            &format!("UPDATE change_log SET at = at - 3600000000 WHERE seq <= {}", seqs[2]),
        )
        .await;
        let recent = store.recent_changes(Duration::from_secs(600), 100).await.unwrap();
        assert_eq!(recent.rows.iter().map(|c| c.seq).collect::<Vec<_>>(), &seqs[3..]);
        assert_eq!(recent.head, head);
        // The newest row before the window: what a missing number must be above to be a hole.
        assert_eq!(recent.floor, seqs[2]);
        let limited = store.recent_changes(Duration::from_secs(600), 1).await.unwrap();
        assert_eq!(limited.rows.iter().map(|c| c.seq).collect::<Vec<_>>(), &seqs[3..4]);
        let everything = store.recent_changes(Duration::from_secs(7200), 100).await.unwrap();
        assert_eq!((everything.rows, everything.floor), (all.clone(), 0));

        // Pruning what is older than ten minutes, two rows per batch.
        assert_eq!(store.prune_change_log(Duration::from_secs(600), 2).await.unwrap(), 3);
        assert_eq!(store.change_log_tail().await.unwrap(), Some(seqs[3]));
        assert_eq!(store.changes_after(0, 100).await.unwrap(), all[3..]);
        assert_eq!(store.prune_change_log(Duration::from_secs(600), 2).await.unwrap(), 0);

        // Everything old: all but the newest row go, and the head stays.
        execute(db, "UPDATE change_log SET at = at - 3600000000").await;
        assert_eq!(store.prune_change_log(Duration::from_secs(600), 0).await.unwrap(), 2);
        assert_eq!(store.change_log_tail().await.unwrap(), Some(head));
        assert_eq!(store.change_log_head().await.unwrap(), head);

        // Numbers are never reused.
        let next = user(&store, "next@example.com").await;
        let fresh = store.changes_after(head, 10).await.unwrap();
        assert_eq!(fresh.len(), 1);
        assert!(fresh[0].seq > head);
        assert_eq!(fresh[0].user_id, next.id);
    }
}

/// How long a test waits for something that should happen at once.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long a test waits for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

async fn next_notification(listener: &mut ChangeListener) -> Option<i64> {
    tokio::time::timeout(DEADLINE, listener.recv())
        .await
        .expect("an answer within the deadline")
        .expect("no error")
}

async fn assert_quiet(listener: &mut ChangeListener) {
    if let Ok(answer) = tokio::time::timeout(QUIET, listener.recv()).await {
        panic!("nothing expected, got {answer:?}");
    }
}

/// PostgreSQL notifies a row's `seq` when its transaction commits, not before; while it is
/// open its number is a hole below later rows, found once it commits; rolled back, it
/// stays a hole and nothing is notified.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_come_at_commit_and_open_transactions_leave_holes() {
    let Some(db) = TestDatabase::postgres("changes::notifications_at_commit").await else {
        return;
    };
    let store = db.store().await;
    let mut listener = store
        .change_listener()
        .await
        .unwrap()
        .expect("PostgreSQL listens");
    let ada = user(&store, "ada@example.com").await;
    let first = next_notification(&mut listener)
        .await
        .expect("a notification");
    assert_eq!(
        store.changes_with_seqs(&[first]).await.unwrap()[0].user_id,
        ada.id
    );
    let s1 = session(&store, ada.id, "j1").await;
    let s2 = session(&store, ada.id, "j2").await;
    let s3 = session(&store, ada.id, "j3").await;

    // Another writer revokes s1 in a transaction it keeps open.
    let mut other = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let mut open = other.begin().await.unwrap();
    let held =
        sqlx::query("UPDATE sessions SET revoked_at = 1, revoked_reason = 'logout' WHERE id = $1")
            .bind(&s1.id)
            .execute(&mut *open)
            .await
            .unwrap();
    assert_eq!(held.rows_affected(), 1);
    assert_quiet(&mut listener).await;

    // A later change commits: notified, read, and the open one's number is a hole.
    assert!(
        store
            .revoke_session(&s2.id, RevokeReason::Logout, NOW)
            .await
            .unwrap()
    );
    let later = next_notification(&mut listener)
        .await
        .expect("a notification");
    let read = store.changes_after(first, 100).await.unwrap();
    assert_eq!(read.iter().map(|c| c.seq).collect::<Vec<_>>(), [later]);
    assert_eq!(read[0].session_id.as_deref(), Some(s2.id.as_str()));
    let hole = later - 1;
    assert!(hole > first, "the open transaction took the number before");
    assert!(store.changes_with_seqs(&[hole]).await.unwrap().is_empty());
    assert_eq!(store.change_log_head().await.unwrap(), later);

    // It commits: notified now, and the hole is filled.
    open.commit().await.unwrap();
    assert_eq!(next_notification(&mut listener).await, Some(hole));
    let filled = store.changes_with_seqs(&[hole]).await.unwrap();
    assert_eq!(filled.len(), 1);
    assert_eq!(
        row(&filled[0]),
        session_row(ada.id, &s1.id, "logout"),
        "{filled:?}"
    );

    // Rolled back: nothing notified, and the number stays missing.
    let mut open = other.begin().await.unwrap();
    sqlx::query("UPDATE sessions SET revoked_at = 1, revoked_reason = 'admin' WHERE id = $1")
        .bind(&s3.id)
        .execute(&mut *open)
        .await
        .unwrap();
    open.rollback().await.unwrap();
    assert_quiet(&mut listener).await;
    assert!(
        store
            .revoke_session(&s3.id, RevokeReason::Logout, NOW)
            .await
            .unwrap()
    );
    let last = next_notification(&mut listener)
        .await
        .expect("a notification");
    assert_eq!(last, later + 2, "the rolled back transaction took a number");
    let read = store.changes_after(later, 100).await.unwrap();
    assert_eq!(read.iter().map(|c| c.seq).collect::<Vec<_>>(), [last]);
    assert!(
        store
            .changes_with_seqs(&[later + 1])
            .await
            .unwrap()
            .is_empty()
    );
    let _ = other.close().await;
}

/// The pid of the listener's backend in this test's database, once it is there.
async fn listener_backend(db: &TestDatabase) -> i32 {
    let mut admin = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
        )
        .bind(CHANGE_LISTENER_APPLICATION_NAME)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no listener backend"
        );
        tokio::task::yield_now().await;
    }
}

/// The listener's connection killed: `recv` says notifications may have been lost, the
/// next call listens on a new connection (and says so again), and notifications flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_whose_connection_is_killed_reports_it_and_listens_again() {
    let Some(db) = TestDatabase::postgres("changes::listener_killed").await else {
        return;
    };
    let store = db.store().await;
    let mut listener = store
        .change_listener()
        .await
        .unwrap()
        .expect("PostgreSQL listens");
    let first = listener_backend(&db).await;

    let mut admin = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(killed);
    assert_eq!(
        next_notification(&mut listener).await,
        None,
        "the loss is reported"
    );
    assert_eq!(
        next_notification(&mut listener).await,
        None,
        "listening again: what came meanwhile must be read"
    );
    let second = listener_backend(&db).await;
    assert_ne!(first, second);

    let ada = user(&store, "ada@example.com").await;
    let seq = next_notification(&mut listener)
        .await
        .expect("notified again");
    let change = store.changes_with_seqs(&[seq]).await.unwrap();
    assert_eq!(change[0].user_id, ada.id);
    let _ = admin.close().await;
}
