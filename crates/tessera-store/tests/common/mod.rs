//! Shared helpers for the integration tests. Every store test runs on SQLite and on
//! PostgreSQL from the same body: `engine_tests!` (from `tessera_store::testing`) makes a
//! `sqlite` and a `postgres` test of each, each on a fresh database.
#![allow(dead_code)]

use tessera_core::Timestamp;
use tessera_store::{NewSession, NewUser, Session, SessionKind, Store, User};

/// 2025-01-01T00:00:00Z.
pub const NOW: Timestamp = Timestamp::from_secs(1_735_689_600);

pub fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        username: None,
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        password_hash: "!".into(),
        is_active: true,
        is_staff: false,
        is_superuser: false,
        date_joined: NOW,
        extra: Default::default(),
    }
}

pub async fn user(store: &Store, email: &str) -> User {
    store.create_user(&new_user(email)).await.unwrap()
}

pub fn new_session(user_id: i64, jti: &str, expires_at: Timestamp) -> NewSession {
    NewSession {
        user_id,
        kind: SessionKind::Refresh,
        jti: jti.to_owned(),
        iat: NOW,
        expires_at,
        user_agent: Some("test-agent/1.0".into()),
        ip: Some("127.0.0.1".into()),
        now: NOW,
    }
}

pub async fn session(store: &Store, user_id: i64, jti: &str) -> Session {
    store
        .create_session(&new_session(user_id, jti, NOW.add_secs(86_400)))
        .await
        .unwrap()
}
