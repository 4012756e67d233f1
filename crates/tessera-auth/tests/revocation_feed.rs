//! The revocation feed when things go wrong: two services over one database, each with its
//! own pool, as two `tessera` processes are. Instance B loads the recent past at start-up;
//! falls back to the database while it cannot read the change log, and comes back to
//! memory once it can; recovers from a lost listening connection, from every connection
//! ended, and from a real restart of PostgreSQL; fills the holes PostgreSQL's sequence
//! leaves; prunes the window as its clock moves; and leaves to the database the tokens
//! issued before the window it loaded. Instance A, where the changes are made, refuses a
//! token whose session it ended at once, without waiting for its feed.

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sqlx::Connection as _;
use tessera_auth::revocation::{CLOCK_MARGIN, HOLE_TIMEOUT, RevocationSettings};
use tessera_auth::{Auth, AuthError, ClientInfo, SESSION_CLAIM, TokenPair};
use tessera_core::{Clock, Settings, TokenError, TokenKind};
use tessera_store::testing::{TestDatabase, postgres_required};
use tessera_store::{
    CHANGE_LISTENER_APPLICATION_NAME, Engine, NewUser, PasswordHasher, RevokeReason, Store, User,
    UserFlags, engine_tests,
};
use tokio::time::Instant;

const SIGNING_KEY: &str = "a signing key of more than thirty-two bytes";
const PASSWORD: &str = "correct horse battery 1";
/// How long a change may take to reach the other instance, or a state to change.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long a poll waits between two looks.
const POLL: Duration = Duration::from_millis(5);

/// Memory trusted for an hour, the log read every half hour: only a `NOTIFY`, a change of
/// this process or a reconnection can bring a change in time.
fn long_poll() -> RevocationSettings {
    RevocationSettings {
        revocation_max_staleness: Duration::from_secs(3600),
        revocation_poll_interval: Duration::from_secs(1800),
        ..RevocationSettings::default()
    }
}

/// Memory trusted for an hour, the log read every 50 ms.
fn steady() -> RevocationSettings {
    RevocationSettings {
        revocation_max_staleness: Duration::from_secs(3600),
        revocation_poll_interval: Duration::from_millis(50),
        ..RevocationSettings::default()
    }
}

/// Memory trusted for a second only, the log read every 50 ms.
fn strict() -> RevocationSettings {
    RevocationSettings {
        revocation_max_staleness: Duration::from_secs(1),
        revocation_poll_interval: Duration::from_millis(50),
        ..RevocationSettings::default()
    }
}

fn settings() -> Settings {
    Settings {
        signing_key: Some(SIGNING_KEY.into()),
        ..Settings::default()
    }
}

/// One instance over `store`.
async fn instance(store: Store, revocation: RevocationSettings) -> Auth {
    instance_with(store, settings(), revocation, Clock::system()).await
}

async fn instance_with(
    store: Store,
    settings: Settings,
    revocation: RevocationSettings,
    clock: Clock,
) -> Auth {
    Auth::builder(settings, store)
        .hasher(PasswordHasher::new(1))
        .clock(clock)
        .revocation(revocation)
        .build()
        .await
        .unwrap()
}

fn client() -> ClientInfo {
    ClientInfo::new(Some("test"), Some("10.0.0.7".into()))
}

async fn user(store: &Store, email: &str) -> User {
    store
        .create_user(&NewUser {
            email: email.into(),
            password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
            is_active: true,
            ..NewUser::default()
        })
        .await
        .unwrap()
}

async fn login(auth: &Auth, user: &User) -> TokenPair {
    auth.issue_account_pair(user, &client()).await.unwrap()
}

/// What `auth` makes of the access token `access`: its user, or why not.
async fn authenticate(auth: &Auth, access: &str) -> Result<User, AuthError> {
    let token = auth.validate_token(access)?;
    auth.user_for_token(&token).await
}

/// The session a token belongs to.
fn session_of(auth: &Auth, access: &str) -> String {
    let token = auth
        .backend()
        .decode(&TokenKind::access(), access, auth.now())
        .unwrap();
    token
        .get(SESSION_CLAIM)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// Revokes the session of `access` through `auth`'s store (as a logout would).
async fn revoke(auth: &Auth, access: &str) {
    let sid = session_of(auth, access);
    assert!(
        auth.store()
            .revoke_session(&sid, RevokeReason::Logout, auth.now())
            .await
            .unwrap()
    );
}

fn is_blacklisted(error: &AuthError) -> bool {
    matches!(
        error,
        AuthError::NoValidTokenKind(rejections)
            if rejections.len() == 1
                && rejections[0].message == TokenError::Blacklisted.to_string()
    )
}

/// Waits until `condition` holds, for [`DEADLINE`] at most.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `check` answers true, for `within` at most.
async fn eventually_within<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// `name` refuses `access` as blacklisted within [`DEADLINE`].
async fn refuses(auth: &Auth, name: &str, access: &str) {
    refuses_within(auth, name, access, DEADLINE).await;
}

/// `name` refuses `access` as blacklisted within `within`.
async fn refuses_within(auth: &Auth, name: &str, access: &str, within: Duration) {
    eventually_within(&format!("{name} refuses the token"), within, || async {
        match authenticate(auth, access).await {
            Ok(_) => false,
            Err(error) => {
                assert!(is_blacklisted(&error), "{name}: {error:?}");
                true
            }
        }
    })
    .await;
}

/// The counts of decisions made from memory and from the database.
fn decisions(auth: &Auth) -> (u64, u64) {
    let status = auth.revocation_status();
    (status.memory_decisions, status.database_decisions)
}

engine_tests! {
    /// Sessions revoked and a user deactivated before B starts: B loads them with the
    /// window and refuses their tokens from memory.
    async fn start_up_loads_what_ended_within_the_window(db: &TestDatabase) {
        let a = instance(db.store().await, steady()).await;
        let ada = user(a.store(), "ada@example.com").await;
        let bob = user(a.store(), "bob@example.com").await;
        let carl = user(a.store(), "carl@example.com").await;
        let ada_out = login(&a, &ada).await;
        let ada_in = login(&a, &ada).await;
        let bob_everywhere = login(&a, &bob).await;
        let carl_pair = login(&a, &carl).await;

        revoke(&a, &ada_out.access).await;
        let bob_sid = session_of(&a, &bob_everywhere.access);
        a.store().revoke_session(&bob_sid, RevokeReason::PasswordChanged, a.now()).await.unwrap();
        let deactivate = UserFlags { is_active: Some(false), ..UserFlags::default() };
        assert!(a.store().set_user_flags(carl.id, &deactivate).await.unwrap());

        let b = instance(db.store().await, steady()).await;
        let status = b.revocation_status();
        assert!(status.enabled && status.fresh, "{status:?}");
        assert_eq!(status.resyncs, 1, "{status:?}");
        assert_eq!(status.ended_sessions, 2, "{status:?}");
        assert_eq!(status.applied_seq, a.store().change_log_head().await.unwrap());

        let (memory, database) = decisions(&b);
        let error = authenticate(&b, &ada_out.access).await.unwrap_err();
        assert!(is_blacklisted(&error), "{error:?}");
        let error = authenticate(&b, &bob_everywhere.access).await.unwrap_err();
        assert!(matches!(error, AuthError::PasswordChanged), "{error:?}");
        let error = authenticate(&b, &carl_pair.access).await.unwrap_err();
        assert!(matches!(error, AuthError::UserInactive), "{error:?}");
        assert_eq!(authenticate(&b, &ada_in.access).await.unwrap().id, ada.id);
        assert_eq!(decisions(&b), (memory + 4, database), "{:?}", b.revocation_status());
    }

    /// While B cannot read the change log, its state ages past `revocation_max_staleness`:
    /// B then reads the database, and so refuses a token revoked meanwhile on A; once it
    /// can read again, it is fresh again and decides from memory.
    async fn a_feed_that_cannot_read_falls_back_to_the_database(db: &TestDatabase) {
        let a = instance(db.store().await, strict()).await;
        let blocker = FeedBlocker::new(db).await;
        let b = instance(blocker.store().await, strict()).await;
        let ada = user(a.store(), "ada@example.com").await;
        let revoked = login(&a, &ada).await;
        let live = login(&a, &ada).await;
        let (memory, database) = decisions(&b);
        authenticate(&b, &revoked.access).await.unwrap();
        assert_eq!(decisions(&b), (memory + 1, database));

        blocker.block().await;
        wait_until("B's state goes stale", || !b.revocation_status().fresh).await;

        revoke(&a, &revoked.access).await;
        let error = authenticate(&a, &revoked.access).await.unwrap_err();
        assert!(is_blacklisted(&error), "A: {error:?}");

        let (memory, database) = decisions(&b);
        let error = authenticate(&b, &revoked.access).await.unwrap_err();
        assert!(is_blacklisted(&error), "B: {error:?}");
        assert_eq!(authenticate(&b, &live.access).await.unwrap().id, ada.id);
        assert_eq!(decisions(&b), (memory, database + 2), "{:?}", b.revocation_status());
        assert!(!b.revocation_status().fresh, "B read the log while it was blocked");

        blocker.unblock().await;
        wait_until("B's state is fresh again", || b.revocation_status().fresh).await;
        let (memory, database) = decisions(&b);
        let error = authenticate(&b, &revoked.access).await.unwrap_err();
        assert!(is_blacklisted(&error), "B: {error:?}");
        assert_eq!(authenticate(&b, &live.access).await.unwrap().id, ada.id);
        assert_eq!(decisions(&b), (memory + 2, database), "{:?}", b.revocation_status());
        blocker.drop_role().await;
    }

    /// A change this process makes applies before its answer: A refuses at once, from
    /// memory, though its feed reads the log only every half hour.
    async fn a_change_of_this_process_applies_at_once(db: &TestDatabase) {
        let a = instance(db.store().await, long_poll()).await;
        let ada = user(a.store(), "ada@example.com").await;
        let pairs = [login(&a, &ada).await, login(&a, &ada).await, login(&a, &ada).await];
        for pair in &pairs {
            authenticate(&a, &pair.access).await.unwrap();
        }
        let (memory, database) = decisions(&a);
        for pair in &pairs {
            a.end_session(&pair.refresh, Some(ada.id), RevokeReason::Logout, &client())
                .await
                .unwrap();
            let error = authenticate(&a, &pair.access).await.unwrap_err();
            assert!(is_blacklisted(&error), "{error:?}");
        }
        assert_eq!(decisions(&a), (memory + 3, database), "{:?}", a.revocation_status());
    }

    /// Ended sessions leave the window once no token of theirs can be alive: the window is
    /// the longest token lifetime plus `leeway` and [`CLOCK_MARGIN`], by the service's clock.
    async fn the_window_is_pruned_as_the_clock_moves(db: &TestDatabase) {
        let (clock, hand) = Clock::manual(Clock::system().now());
        let a = instance_with(db.store().await, settings(), steady(), clock.clone()).await;
        let b = instance_with(db.store().await, settings(), steady(), clock).await;
        let ada = user(a.store(), "ada@example.com").await;
        let mut pairs = Vec::new();
        for _ in 0..3 {
            pairs.push(login(&a, &ada).await);
        }
        for pair in &pairs {
            revoke(&a, &pair.access).await;
        }
        for pair in &pairs {
            refuses(&b, "B", &pair.access).await;
        }
        wait_until("B's window holds the three", || b.revocation_status().ended_sessions == 3).await;

        // Still inside the window: nothing goes.
        let window = settings().access_token_lifetime + settings().leeway + CLOCK_MARGIN;
        hand.advance_secs(i64::try_from(window.as_secs()).unwrap() - 5);
        let applied = b.revocation_status().applied_seq;
        a.store().set_last_login(ada.id, a.now()).await.unwrap();
        wait_until("B reads on", || b.revocation_status().applied_seq > applied).await;
        assert_eq!(b.revocation_status().ended_sessions, 3);

        hand.advance_secs(10);
        wait_until("B prunes its window", || b.revocation_status().ended_sessions == 0).await;
    }

    /// A token issued before the window B loaded at start-up (here by an instance whose
    /// tokens live a day) may belong to a session that ended before it: B asks the
    /// database about it, and decides from memory for a token issued since.
    async fn a_token_older_than_the_window_goes_to_the_database(db: &TestDatabase) {
        let (clock, hand) = Clock::manual(Clock::system().now());
        let long_lived = Settings {
            access_token_lifetime: Duration::from_secs(24 * 3600),
            ..settings()
        };
        let a = instance_with(db.store().await, long_lived, steady(), clock.clone()).await;
        let ada = user(a.store(), "ada@example.com").await;
        let old = login(&a, &ada).await;
        let old_revoked = login(&a, &ada).await;
        revoke(&a, &old_revoked.access).await;

        hand.advance_secs(3600);
        let b = instance_with(db.store().await, settings(), steady(), clock).await;
        let recent = login(&a, &ada).await;

        let (memory, database) = decisions(&b);
        assert_eq!(authenticate(&b, &old.access).await.unwrap().id, ada.id);
        let error = authenticate(&b, &old_revoked.access).await.unwrap_err();
        assert!(is_blacklisted(&error), "{error:?}");
        assert_eq!(decisions(&b), (memory, database + 2), "{:?}", b.revocation_status());
        assert_eq!(authenticate(&b, &recent.access).await.unwrap().id, ada.id);
        assert_eq!(decisions(&b), (memory + 1, database + 2), "{:?}", b.revocation_status());
    }
}

/// Makes B's feed unable to read the change log while A still writes it. PostgreSQL: B
/// connects as a role of its own, whose `SELECT` on `change_log` is revoked. SQLite: the
/// table is renamed (SQLite renames it in the triggers too, so writes still log).
struct FeedBlocker<'a> {
    db: &'a TestDatabase,
    /// PostgreSQL: B's role.
    role: Option<String>,
}

impl<'a> FeedBlocker<'a> {
    async fn new(db: &'a TestDatabase) -> FeedBlocker<'a> {
        // The schema first.
        db.store().await;
        let role = match db.engine() {
            Engine::Sqlite => None,
            Engine::Postgres => {
                let role = format!("tessera_feed_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
                for sql in [
                    format!("CREATE ROLE \"{role}\" LOGIN"),
                    format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO \"{role}\""),
                    format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO \"{role}\""),
                ] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                }
                Some(role)
            }
        };
        FeedBlocker { db, role }
    }

    /// B's store: as its role on PostgreSQL.
    async fn store(&self) -> Store {
        match &self.role {
            None => self.db.store().await,
            Some(role) => {
                let mut url = url::Url::parse(self.db.url()).unwrap();
                url.set_username(role).unwrap();
                Store::connect(url.as_str()).await.unwrap()
            }
        }
    }

    async fn run(&self, postgres: String, sqlite: &str) {
        match self.db.engine() {
            Engine::Postgres => {
                let mut conn = sqlx::PgConnection::connect(self.db.url()).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(postgres))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            Engine::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(self.db.url())
                    .await
                    .unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }

    async fn block(&self) {
        let role = self.role.clone().unwrap_or_default();
        self.run(
            format!("REVOKE SELECT ON change_log FROM \"{role}\""),
            "ALTER TABLE change_log RENAME TO change_log_hidden",
        )
        .await;
    }

    async fn unblock(&self) {
        let role = self.role.clone().unwrap_or_default();
        self.run(
            format!("GRANT SELECT ON change_log TO \"{role}\""),
            "ALTER TABLE change_log_hidden RENAME TO change_log",
        )
        .await;
    }

    /// Drops B's role (roles outlive the test's database).
    async fn drop_role(&self) {
        if let Some(role) = &self.role {
            let mut conn = sqlx::PgConnection::connect(self.db.url()).await.unwrap();
            let sql = format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\"");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A PostgreSQL connection to `url`, outside any store.
async fn raw_postgres(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url).await.unwrap()
}

/// The `application_name`-filtered backends of `db`'s database.
async fn backends(conn: &mut sqlx::PgConnection, application_name: Option<&str>) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND ($1::text IS NULL OR application_name = $1)",
    )
    .bind(application_name)
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Ends the `application_name`-filtered backends of the connection's database (all but
/// its own when `None`); returns how many.
async fn terminate(conn: &mut sqlx::PgConnection, application_name: Option<&str>) -> usize {
    let pids = backends(conn, application_name).await;
    for pid in &pids {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    pids.len()
}

/// Revokes session `sid` with raw SQL, as a script would.
async fn revoke_raw(conn: &mut sqlx::PgConnection, sid: &str) {
    let revoked = sqlx::query(
        "UPDATE sessions SET revoked_at = CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 \
         AS BIGINT), revoked_reason = 'logout' WHERE id = $1",
    )
    .bind(sid)
    .execute(conn)
    .await
    .unwrap();
    assert_eq!(revoked.rows_affected(), 1);
}

/// Waits until both instances listen again.
async fn both_listen(admin: &mut sqlx::PgConnection) {
    let deadline = Instant::now() + DEADLINE;
    while backends(admin, Some(CHANGE_LISTENER_APPLICATION_NAME))
        .await
        .len()
        != 2
    {
        assert!(
            Instant::now() < deadline,
            "not listening again within {DEADLINE:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Two instances that listen (long poll), a user and two sessions B accepted.
async fn listening_pair(a: &Auth, b: &Auth, email: &str) -> (TokenPair, TokenPair) {
    let ada = user(a.store(), email).await;
    let first = login(a, &ada).await;
    let second = login(a, &ada).await;
    authenticate(b, &first.access).await.unwrap();
    authenticate(b, &second.access).await.unwrap();
    (first, second)
}

/// B's listening connection is ended: the listener reconnects and B reads the log, so a
/// revocation committed while it was away is refused, and so is one made after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_lost_listener_reconnects_and_catches_up() {
    let Some(db) = TestDatabase::postgres("postgres_lost_listener_reconnects_and_catches_up").await
    else {
        return;
    };
    let a = instance(db.store().await, long_poll()).await;
    let b = instance(db.store().await, long_poll()).await;
    let (first, second) = listening_pair(&a, &b, "ada@example.com").await;
    let mut admin = raw_postgres(db.url()).await;
    both_listen(&mut admin).await;

    // The revocation commits a moment after the listeners' backends were told to end (one
    // round trip holds both): its notification reaches no listener, and only the read
    // that follows a reconnection can deliver it.
    let mut writer = raw_postgres(db.url()).await;
    sqlx::raw_sql("BEGIN").execute(&mut writer).await.unwrap();
    revoke_raw(&mut writer, &session_of(&a, &first.access)).await;
    let ended = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{CHANGE_LISTENER_APPLICATION_NAME}'; \
         COMMIT"
    )))
    .fetch_all(&mut writer)
    .await
    .unwrap();
    assert_eq!(ended.len(), 2);
    refuses(&b, "B", &first.access).await;

    // Listening again: a later revocation arrives by notification.
    both_listen(&mut admin).await;
    revoke(&a, &second.access).await;
    refuses(&b, "B", &second.access).await;
}

/// B's listener cannot reconnect at once (the database refuses connections for a moment):
/// it listens again soon after, not only after `revocation_poll_interval` (half an hour
/// here), and B refuses a revocation made once connections are allowed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_listener_that_cannot_reconnect_tries_again_soon() {
    let Some(db) =
        TestDatabase::postgres("postgres_a_listener_that_cannot_reconnect_tries_again_soon").await
    else {
        return;
    };
    let a = instance(db.store().await, long_poll()).await;
    let b = instance(db.store().await, long_poll()).await;
    let (first, second) = listening_pair(&a, &b, "ada@example.com").await;
    let mut admin = raw_postgres(&postgres_database_url(&db)).await;
    let database = db.url().rsplit('/').next().unwrap().to_owned();
    let allow =
        |allowed: bool| format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS {allowed}");

    // Opened before the database refuses connections.
    let mut inside = raw_postgres(db.url()).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(allow(false)))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        terminate(&mut inside, Some(CHANGE_LISTENER_APPLICATION_NAME)).await,
        2
    );
    // Revoked on a connection opened before: no listener hears it.
    revoke_raw(&mut inside, &session_of(&a, &first.access)).await;
    // Connections stay refused for a while: the listeners' first attempts fail.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(allow(true)))
        .execute(&mut admin)
        .await
        .unwrap();

    refuses(&b, "B", &first.access).await;
    both_listen(&mut inside).await;
    revoke(&a, &second.access).await;
    refuses(&b, "B", &second.access).await;
}

/// The URL of the `postgres` database on `db`'s server.
fn postgres_database_url(db: &TestDatabase) -> String {
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_path("/postgres");
    url.to_string()
}

/// Every connection to the database ended, the pools' included — what a restart of
/// PostgreSQL does to them: B recovers and refuses revocations made after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_every_connection_ended_recovers() {
    let Some(db) = TestDatabase::postgres("postgres_every_connection_ended_recovers").await else {
        return;
    };
    let a = instance(db.store().await, long_poll()).await;
    let b = instance(db.store().await, long_poll()).await;
    let (first, second) = listening_pair(&a, &b, "ada@example.com").await;
    let mut admin = raw_postgres(db.url()).await;

    assert!(terminate(&mut admin, None).await >= 4);
    revoke(&a, &first.access).await;
    refuses(&b, "B", &first.access).await;

    assert!(terminate(&mut admin, None).await >= 2);
    both_listen(&mut admin).await;
    revoke(&a, &second.access).await;
    refuses(&b, "B", &second.access).await;
}

/// A real restart of PostgreSQL (a private cluster, `pg_ctl restart -m fast`): both
/// instances recover, and B refuses what A revokes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_recovers() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let url = cluster.database("tessera").await;
    let store = |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    };
    let a = instance(store(url.clone()).await, long_poll()).await;
    let b = instance(store(url.clone()).await, long_poll()).await;
    let (first, second) = listening_pair(&a, &b, "ada@example.com").await;

    cluster.restart().await;
    revoke(&a, &first.access).await;
    refuses(&b, "B", &first.access).await;

    let mut admin = raw_postgres(&url).await;
    both_listen(&mut admin).await;
    revoke(&a, &second.access).await;
    refuses(&b, "B", &second.access).await;
}

/// A transaction still open holds sequence number n; A commits n+1. B applies n+1 and
/// counts a hole; once the first commits, B finds it (long before [`HOLE_TIMEOUT`]) and
/// refuses that session too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_hole_is_filled_when_its_transaction_commits() {
    let Some(db) =
        TestDatabase::postgres("postgres_a_hole_is_filled_when_its_transaction_commits").await
    else {
        return;
    };
    let a = instance(db.store().await, long_poll()).await;
    let b = instance(db.store().await, long_poll()).await;
    let (late, early) = listening_pair(&a, &b, "ada@example.com").await;
    let started = Instant::now();

    let mut writer = raw_postgres(db.url()).await;
    let mut open = writer.begin().await.unwrap();
    revoke_raw(&mut open, &session_of(&a, &late.access)).await;
    let hole: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM change_log")
        .fetch_one(&mut *open)
        .await
        .unwrap();

    revoke(&a, &early.access).await;
    refuses(&b, "B", &early.access).await;
    wait_until(
        "B applies the row after the hole and counts the hole",
        || {
            let status = b.revocation_status();
            status.applied_seq > hole && status.holes >= 1
        },
    )
    .await;
    authenticate(&b, &late.access).await.unwrap();

    open.commit().await.unwrap();
    refuses(&b, "B", &late.access).await;
    wait_until("B has no hole left", || b.revocation_status().holes == 0).await;
    assert!(started.elapsed() < HOLE_TIMEOUT);
}

/// A PostgreSQL cluster of this test's own, on a free port, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Whether the tools run as user `postgres` (this process is root; `initdb` refuses
    /// root).
    as_postgres: bool,
}

impl Cluster {
    /// `initdb` and `pg_ctl start`; `None` (after a `SKIPPED` line) when the PostgreSQL
    /// server tools are not installed, unless `TESSERA_REQUIRE_POSTGRES=1`.
    async fn start() -> Option<Cluster> {
        let bin = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists());
        let Some(bin) = bin else {
            assert!(
                !postgres_required(),
                "PostgreSQL is required but its server tools (pg_config --bindir) are missing"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: no PostgreSQL server tools; the restart test did not run"
            );
            return None;
        };
        let as_postgres = output(Command::new("id").arg("-u")).trim() == "0";
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let id = |flag: &str| {
                output(Command::new("id").args([flag, "postgres"]))
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            };
            std::os::unix::fs::chown(dir.path(), Some(id("-u")), Some(id("-g"))).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = cluster.data();
        cluster
            .tool(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ],
            )
            .await;
        cluster.pg_ctl("start").await;
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of the server tools, as `postgres` when this process is root.
    async fn tool(&self, tool: &str, args: &[&str]) {
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(tool));
            command
        } else {
            Command::new(self.bin.join(tool))
        };
        command.args(args);
        let what = format!("{command:?}");
        let out = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl start` or `restart` (fast), waiting until it accepts connections.
    async fn pg_ctl(&self, action: &str) {
        let data = self.data();
        let log = self.dir.path().join("log").display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.tool(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-m", "fast", "-o", &options, action,
            ],
        )
        .await;
    }

    async fn restart(&self) {
        self.pg_ctl("restart").await;
    }

    /// Creates database `name`; its URL.
    async fn database(&self, name: &str) -> String {
        let mut admin = raw_postgres(&self.url("postgres")).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap();
        self.url(name)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(pg_ctl);
            command
        } else {
            Command::new(pg_ctl)
        };
        let _ = command
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn output(command: &mut Command) -> String {
    String::from_utf8(command.output().unwrap().stdout).unwrap()
}

/// `auth` (instance `name`) verifies `raw` as blacklisted, as simplejwt's verify view does.
async fn verify_refuses(auth: &Auth, name: &str, raw: &str) {
    match auth.verify(raw).await {
        Err(AuthError::Invalid(errors)) => assert_eq!(
            errors.to_json(),
            serde_json::json!({"non_field_errors": ["Token is blacklisted"]}),
            "{name}"
        ),
        other => panic!("{name}: verify answered {other:?}"),
    }
}

/// Runs `sql` with `binds` (text) on a connection of its own, outside any store — as a
/// script would; how many rows it changed.
async fn execute_raw(db: &TestDatabase, sql: &str, binds: &[&str]) -> u64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db.engine() {
        Engine::Postgres => {
            let mut conn = raw_postgres(db.url()).await;
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query.execute(&mut conn).await.unwrap().rows_affected()
        }
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query.execute(&mut conn).await.unwrap().rows_affected()
        }
    }
}

engine_tests! {
    /// A refresh token outlives the window: once its session's end has left B's window
    /// (more than the window and [`CLOCK_MARGIN`] later), B — which looked the session up
    /// while it was live, and so held its owner — still verifies the token as blacklisted.
    async fn a_refresh_token_is_refused_after_its_end_left_the_window(db: &TestDatabase) {
        let (clock, hand) = Clock::manual(Clock::system().now());
        let a = instance_with(db.store().await, settings(), steady(), clock.clone()).await;
        let b = instance_with(db.store().await, settings(), steady(), clock).await;
        let ada = user(a.store(), "ada@example.com").await;
        let pair = login(&a, &ada).await;
        b.verify(&pair.refresh).await.unwrap();
        assert_eq!(b.revocation_status().cached_sessions, 1, "{:?}", b.revocation_status());

        a.end_session(&pair.refresh, Some(ada.id), RevokeReason::Logout, &client())
            .await
            .unwrap();
        verify_refuses(&a, "A", &pair.refresh).await;
        refuses(&b, "B", &pair.access).await;
        verify_refuses(&b, "B", &pair.refresh).await;

        let window = settings().access_token_lifetime + settings().leeway + CLOCK_MARGIN;
        hand.advance_secs(i64::try_from(window.as_secs()).unwrap() + 5);
        wait_until("B prunes its window", || b.revocation_status().ended_sessions == 0).await;
        wait_until("A prunes its window", || a.revocation_status().ended_sessions == 0).await;
        verify_refuses(&b, "B", &pair.refresh).await;
        verify_refuses(&a, "A", &pair.refresh).await;
    }

    /// A session revoked by hand, with raw SQL on a connection of its own and no reason:
    /// B, which held the session's owner, refuses its token as soon as its feed reads the
    /// change — from memory.
    async fn a_session_revoked_by_hand_without_a_reason_is_refused(db: &TestDatabase) {
        let a = instance(db.store().await, steady()).await;
        let b = instance(db.store().await, steady()).await;
        let ada = user(a.store(), "ada@example.com").await;
        let pair = login(&a, &ada).await;
        authenticate(&b, &pair.access).await.unwrap();
        assert_eq!(b.revocation_status().cached_sessions, 1, "{:?}", b.revocation_status());

        let sid = session_of(&a, &pair.access);
        let now = a.now().as_micros().to_string();
        let revoked = execute_raw(
            db,
            "UPDATE sessions SET revoked_at = CAST($1 AS BIGINT) WHERE id = $2",
            &[&now, &sid],
        )
        .await;
        assert_eq!(revoked, 1);

        let (_, database) = decisions(&b);
        refuses(&b, "B", &pair.access).await;
        assert_eq!(b.revocation_status().database_decisions, database, "{:?}", b.revocation_status());
        refuses(&a, "A", &pair.access).await;
        verify_refuses(&b, "B", &pair.refresh).await;
    }
}

/// A transaction that took a sequence number and rolled back leaves a hole no row will
/// fill: B drops it as soon as every transaction that could have written it has ended —
/// within seconds, not [`HOLE_TIMEOUT`]. A hole whose transaction is still open is kept
/// round after round, and filled (its change applied) when that transaction commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_rolled_back_hole_goes_soon_and_an_open_one_stays() {
    let Some(db) =
        TestDatabase::postgres("postgres_a_rolled_back_hole_goes_soon_and_an_open_one_stays").await
    else {
        return;
    };
    let a = instance(db.store().await, steady()).await;
    let b = instance(db.store().await, steady()).await;
    let (late, early) = listening_pair(&a, &b, "ada@example.com").await;
    let ada = a
        .store()
        .user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    let third = login(&a, &ada).await;
    authenticate(&b, &third.access).await.unwrap();
    let mut writer = raw_postgres(db.url()).await;

    // Rolled back: its number stays missing.
    let started = Instant::now();
    let mut rolled_back = writer.begin().await.unwrap();
    revoke_raw(&mut rolled_back, &session_of(&a, &late.access)).await;
    let hole: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM change_log")
        .fetch_one(&mut *rolled_back)
        .await
        .unwrap();
    rolled_back.rollback().await.unwrap();
    revoke(&a, &early.access).await;
    refuses(&b, "B", &early.access).await;
    wait_until("B applies the row after the rolled-back number", || {
        b.revocation_status().applied_seq > hole
    })
    .await;
    wait_until("B drops the rolled-back hole", || {
        b.revocation_status().holes == 0
    })
    .await;
    assert!(
        started.elapsed() < HOLE_TIMEOUT / 4,
        "the hole went after {:?}",
        started.elapsed()
    );
    authenticate(&b, &late.access).await.unwrap();

    // Still open: kept while A's later changes make B read on, round after round.
    let mut open = writer.begin().await.unwrap();
    revoke_raw(&mut open, &session_of(&a, &late.access)).await;
    let hole: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM change_log")
        .fetch_one(&mut *open)
        .await
        .unwrap();
    revoke(&a, &third.access).await;
    refuses(&b, "B", &third.access).await;
    wait_until(
        "B applies the row after the open one and counts the hole",
        || {
            let status = b.revocation_status();
            status.applied_seq > hole && status.holes >= 1
        },
    )
    .await;
    for _ in 0..3 {
        let applied = b.revocation_status().applied_seq;
        a.store().set_last_login(ada.id, a.now()).await.unwrap();
        wait_until("B reads on", || b.revocation_status().applied_seq > applied).await;
        let status = b.revocation_status();
        assert!(
            status.holes >= 1,
            "B dropped a hole whose transaction is open: {status:?}"
        );
    }
    authenticate(&b, &late.access).await.unwrap();

    open.commit().await.unwrap();
    refuses(&b, "B", &late.access).await;
    wait_until("B has no hole left", || b.revocation_status().holes == 0).await;
}

/// B starts while a transaction holds a number below the first row of its window (every
/// older row is older than the window): B counts it as a hole from the start, and so
/// applies the change when that transaction commits — from its feed alone, memory being
/// trusted for an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_hole_below_the_window_at_start_up_is_filled() {
    let Some(db) =
        TestDatabase::postgres("postgres_a_hole_below_the_window_at_start_up_is_filled").await
    else {
        return;
    };
    let a = instance(db.store().await, steady()).await;
    let ada = user(a.store(), "ada@example.com").await;
    let late = login(&a, &ada).await;
    let early = login(&a, &ada).await;
    let mut writer = raw_postgres(db.url()).await;
    sqlx::raw_sql("UPDATE change_log SET at = at - 3600000000")
        .execute(&mut writer)
        .await
        .unwrap();

    let mut open = writer.begin().await.unwrap();
    revoke_raw(&mut open, &session_of(&a, &late.access)).await;
    revoke(&a, &early.access).await;
    let b = instance(db.store().await, steady()).await;
    let status = b.revocation_status();
    assert!(status.holes >= 1, "{status:?}");
    // B holds the session's owner: only the change can end it for B.
    authenticate(&b, &late.access).await.unwrap();
    assert_eq!(b.revocation_status().cached_sessions, 1);

    open.commit().await.unwrap();
    refuses_within(&b, "B", &late.access, Duration::from_secs(5)).await;
}
