//! Values a database refuses are the client's fault: on PostgreSQL a NUL in `text` or
//! `jsonb` and an index key over btree's limit fail as [`StoreError::is_refused_input`]
//! (SQLite stores them), and nothing is written. And e-mail addresses are compared and
//! stored in one normalised form on both engines.

mod common;

use common::{new_user, user};
use serde_json::json;
use tessera_store::testing::TestDatabase;
use tessera_store::{Engine, NewUser, StoreError, UserUpdate, engine_tests};

/// Asserts that a write failed as refused input on PostgreSQL, or succeeded on SQLite.
fn refused_on_postgres<T: std::fmt::Debug>(db: &TestDatabase, result: Result<T, StoreError>) {
    match db.engine() {
        Engine::Postgres => {
            let error = result.expect_err("PostgreSQL stored it");
            assert!(error.is_refused_input(), "{error:?}");
            assert!(!error.is_transient(), "{error:?}");
        }
        Engine::Sqlite => {
            result.expect("SQLite stores it");
        }
    }
}

/// `len` letters without repetition for a compressor to find.
fn incompressible(len: usize) -> String {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

engine_tests! {
    async fn nul_and_huge_keys_are_refused_input_on_postgresql(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;

        refused_on_postgres(db, store.user_by_email("a\u{0}b@x.com").await);
        refused_on_postgres(
            db,
            store
                .create_user(&NewUser {
                    first_name: "A\u{0}da".into(),
                    ..new_user("nul-name@example.com")
                })
                .await,
        );
        let mut extra = serde_json::Map::new();
        extra.insert("nickname".into(), json!("x\u{0}y"));
        refused_on_postgres(
            db,
            store
                .update_user(ada.id, &UserUpdate { extra, ..UserUpdate::default() })
                .await,
        );
        // btree's limit is about 2,700 bytes (after compression): a 3,000-character
        // address that does not compress.
        let huge = format!("{}@example.com", incompressible(3000));
        refused_on_postgres(db, store.create_user(&new_user(&huge)).await);
        refused_on_postgres(db, store.session("a\u{0}b").await);

        if db.engine() == Engine::Postgres {
            // Nothing was written.
            let after = store.user_by_id(ada.id).await.unwrap().unwrap();
            assert_eq!(after, ada);
            assert_eq!(store.list_users().await.unwrap().len(), 1);
        }
    }

    async fn confusable_addresses_are_one_account(db: &TestDatabase) {
        let store = db.store().await;
        let first = user(&store, "admin@ff.com").await;
        for same in ["admin@\u{FB00}.com", "admin@FF.com", "ａｄｍｉｎ@ff.com"] {
            let found = store.user_by_email(same).await.unwrap();
            assert_eq!(found.map(|u| u.id), Some(first.id), "{same}");
            let err = store.create_user(&new_user(same)).await.unwrap_err();
            assert!(matches!(err, StoreError::DuplicateEmail), "{same}: {err:?}");
        }
        let idn = user(&store, "a@BÜCHER.de").await;
        assert_eq!(idn.email, "a@bücher.de");
        let found = store.user_by_email("a@xn--bcher-kva.de").await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(idn.id));
    }
}
