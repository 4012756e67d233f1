//! PostgreSQL only: what a shared server adds — connections the server ends, statements
//! past the statement timeout.

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tessera_store::testing::TestDatabase;
use tessera_store::{NewUser, Store, StoreOptions};

async fn admin(db: &TestDatabase) -> sqlx::PgConnection {
    let options = sqlx::postgres::PgConnectOptions::from_str(db.url()).unwrap();
    sqlx::PgConnection::connect_with(&options).await.unwrap()
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "!".into(),
        is_active: true,
        ..NewUser::default()
    }
}

/// A database restart or failover ends every connection; the next queries open new ones
/// and succeed, instead of failing once per dead connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_ended_by_the_server_are_replaced_without_an_error() {
    let Some(db) = TestDatabase::postgres("postgres::connections_ended_by_the_server").await else {
        return;
    };
    let store = db.store().await;
    let user = store.create_user(&new_user("a@x.com")).await.unwrap();
    // Several idle connections in the pool.
    let reads = (0..4).map(|_| store.user_by_id(user.id));
    for read in reads {
        read.await.unwrap();
    }

    let mut admin = admin(&db).await;
    let (ended,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(ended >= 1, "the store's connections were ended");

    for _ in 0..8 {
        assert_eq!(
            store.user_by_id(user.id).await.unwrap().unwrap().id,
            user.id
        );
    }
    store
        .set_last_login(user.id, tessera_core::Timestamp::from_micros(1))
        .await
        .unwrap();
}

/// A statement stuck behind a lock past `statement_timeout` is cancelled: the caller gets a
/// transient error (HTTP 503 with `Retry-After`) quickly — not a hang, and no retry storm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_timeout_fails_as_transient_without_retries() {
    let Some(db) = TestDatabase::postgres("postgres::a_statement_past_the_timeout").await else {
        return;
    };
    let store = db.store().await;
    let user = store.create_user(&new_user("b@x.com")).await.unwrap();
    let options = StoreOptions {
        statement_timeout: Some(Duration::from_millis(200)),
        ..StoreOptions::default()
    };
    let impatient = Store::connect_with(db.url(), &options).await.unwrap();

    let mut admin = admin(&db).await;
    sqlx::query("BEGIN").execute(&mut admin).await.unwrap();
    sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
        .bind(user.id)
        .execute(&mut admin)
        .await
        .unwrap();

    let started = Instant::now();
    let error = impatient
        .set_last_login(user.id, tessera_core::Timestamp::from_micros(2))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(error.is_transient(), "{error:?}");
    assert!(
        took < Duration::from_millis(600),
        "cancelled once, not retried: {took:?}"
    );

    sqlx::query("ROLLBACK").execute(&mut admin).await.unwrap();
    impatient
        .set_last_login(user.id, tessera_core::Timestamp::from_micros(3))
        .await
        .unwrap();
    assert_eq!(
        store.user_by_id(user.id).await.unwrap().unwrap().last_login,
        Some(tessera_core::Timestamp::from_micros(3))
    );
}
