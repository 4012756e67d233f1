//! What account management needs from the store: one-trip user+session lookups, profile
//! updates, password changes that revoke, "log out everywhere", and search.

mod common;

use common::{NOW, session, user};
use serde_json::json;
use tessera_store::testing::TestDatabase;
use tessera_store::{StoreError, UserUpdate, engine_tests};

engine_tests! {
    async fn user_with_session_sees_only_the_users_own_session_and_its_state(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@x.com").await;
        let bob = user(&store, "bob@x.com").await;
        let s = session(&store, ada.id, "j1").await;

        let found = store
            .user_with_session(ada.id, &s.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.user, ada);
        assert_eq!(found.session.as_ref().map(|s| s.revoked_at), Some(None));

        let other = store
            .user_with_session(bob.id, &s.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.user, bob);
        assert_eq!(other.session, None, "another user's session is not theirs");

        store
            .revoke_session(&s.id, tessera_store::RevokeReason::Logout, NOW.add_micros(1))
            .await
            .unwrap();
        let revoked = store
            .user_with_session(ada.id, &s.id)
            .await
            .unwrap()
            .unwrap()
            .session
            .unwrap();
        assert_eq!(
            (revoked.revoked_at, revoked.revoked_reason),
            (Some(NOW.add_micros(1)), Some(tessera_store::RevokeReason::Logout))
        );

        assert!(store.user_with_session(999, &s.id).await.unwrap().is_none());
    }

    async fn update_user_changes_only_what_is_given_and_merges_extra_fields(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@x.com").await;
        user(&store, "taken@x.com").await;

        let mut extra = tessera_store::Extra::new();
        extra.insert("phone_number".into(), json!("+44 20"));
        let update = UserUpdate {
            first_name: Some("Augusta".into()),
            extra,
            ..UserUpdate::default()
        };
        let updated = store.update_user(ada.id, &update).await.unwrap().unwrap();
        assert_eq!(
            (updated.first_name.as_str(), updated.last_name.as_str()),
            ("Augusta", "Lovelace")
        );
        assert_eq!(updated.extra.get("phone_number"), Some(&json!("+44 20")));

        let mut extra = tessera_store::Extra::new();
        extra.insert("is_premium".into(), json!(true));
        let update = UserUpdate {
            email: Some("Ada@NEW.example".into()),
            extra,
            ..UserUpdate::default()
        };
        let updated = store.update_user(ada.id, &update).await.unwrap().unwrap();
        assert_eq!(updated.email, "Ada@new.example");
        assert_eq!(
            updated.extra,
            json!({"phone_number": "+44 20", "is_premium": true})
                .as_object()
                .unwrap()
                .clone()
        );

        let clash = UserUpdate {
            email: Some("taken@X.COM".into()),
            ..UserUpdate::default()
        };
        assert!(matches!(
            store.update_user(ada.id, &clash).await.unwrap_err(),
            StoreError::DuplicateEmail
        ));
        assert_eq!(
            store.user_by_id(ada.id).await.unwrap().unwrap().email,
            "Ada@new.example",
            "nothing changed"
        );
        assert!(
            store
                .update_user(999, &UserUpdate::default())
                .await
                .unwrap()
                .is_none()
        );
    }

    async fn change_password_sets_the_hash_and_time_and_revokes_every_session(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@x.com").await;
        let bob = user(&store, "bob@x.com").await;
        let a1 = session(&store, ada.id, "a1").await;
        let a2 = session(&store, ada.id, "a2").await;
        let b1 = session(&store, bob.id, "b1").await;

        let revoked = store
            .change_password(ada.id, "$argon2id$new", tessera_store::RevokeReason::PasswordChanged, NOW.add_micros(5))
            .await
            .unwrap();
        assert_eq!(revoked, Some(2));
        let after = store.user_by_id(ada.id).await.unwrap().unwrap();
        assert_eq!(
            (after.password_hash.as_str(), after.password_changed_at),
            ("$argon2id$new", Some(NOW.add_micros(5)))
        );
        for id in [&a1.id, &a2.id] {
            let s = store.session(id).await.unwrap().unwrap();
            assert_eq!(s.revoked_reason, Some(tessera_store::RevokeReason::PasswordChanged));
        }
        assert!(
            !store.session(&b1.id).await.unwrap().unwrap().is_revoked(),
            "other users keep theirs"
        );
        assert_eq!(
            store
                .change_password(999, "x", tessera_store::RevokeReason::PasswordChanged, NOW)
                .await
                .unwrap(),
            None
        );
    }

    async fn upgrade_password_hash_replaces_only_the_hash_it_was_given(db: &TestDatabase) {
        let store = db.store().await;
        let django = "pbkdf2_sha256$1000$salt$c2FsdA==";
        let ada = user(&store, "ada@x.com").await;
        let bob = user(&store, "bob@x.com").await;
        for u in [&ada, &bob] {
            assert!(store.set_password_hash(u.id, django).await.unwrap());
        }
        let a1 = session(&store, ada.id, "a1").await;

        // The stored hash is the one given: replaced, and nothing else changes.
        assert!(store.upgrade_password_hash(ada.id, django, "$argon2id$fresh").await.unwrap());
        let after = store.user_by_id(ada.id).await.unwrap().unwrap();
        assert_eq!(after.password_hash, "$argon2id$fresh");
        assert_eq!(after.password_changed_at, None, "sessions and tokens stay valid");
        assert_eq!(
            after,
            tessera_store::User { password_hash: "$argon2id$fresh".into(), ..ada.clone() }
        );
        assert!(!store.session(&a1.id).await.unwrap().unwrap().is_revoked());
        assert_eq!(
            store.user_by_id(bob.id).await.unwrap().unwrap().password_hash,
            django,
            "other users keep theirs"
        );

        // Twice: the stored hash is no longer the old one.
        assert!(!store.upgrade_password_hash(ada.id, django, "$argon2id$again").await.unwrap());
        assert_eq!(
            store.user_by_id(ada.id).await.unwrap().unwrap().password_hash,
            "$argon2id$fresh"
        );

        // A password changed between the check and the upgrade is never overwritten.
        store
            .change_password(bob.id, "$argon2id$changed", tessera_store::RevokeReason::PasswordChanged, NOW.add_micros(3))
            .await
            .unwrap();
        assert!(!store.upgrade_password_hash(bob.id, django, "$argon2id$stale").await.unwrap());
        let bob_after = store.user_by_id(bob.id).await.unwrap().unwrap();
        assert_eq!(
            (bob_after.password_hash.as_str(), bob_after.password_changed_at),
            ("$argon2id$changed", Some(NOW.add_micros(3)))
        );

        assert!(!store.upgrade_password_hash(999, django, "$argon2id$x").await.unwrap());
    }

    async fn log_out_everywhere_records_the_time_and_revokes(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@x.com").await;
        session(&store, ada.id, "a1").await;
        session(&store, ada.id, "a2").await;
        assert_eq!(
            store
                .log_out_everywhere(ada.id, tessera_store::RevokeReason::LogoutAll, NOW.add_micros(9))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .user_by_id(ada.id)
                .await
                .unwrap()
                .unwrap()
                .password_changed_at,
            Some(NOW.add_micros(9))
        );
        assert!(store.live_sessions(ada.id, tessera_core::Timestamp::UNIX_EPOCH).await.unwrap().is_empty());
    }

    async fn revoke_user_session_touches_only_the_owners_live_session(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@x.com").await;
        let bob = user(&store, "bob@x.com").await;
        let s = session(&store, ada.id, "a1").await;
        assert!(
            !store
                .revoke_user_session(bob.id, &s.id, tessera_store::RevokeReason::EndedByUser, NOW)
                .await
                .unwrap()
        );
        assert!(
            store
                .revoke_user_session(ada.id, &s.id, tessera_store::RevokeReason::EndedByUser, NOW)
                .await
                .unwrap()
        );
        assert!(
            !store
                .revoke_user_session(ada.id, &s.id, tessera_store::RevokeReason::EndedByUser, NOW)
                .await
                .unwrap(),
            "already revoked"
        );
    }

    async fn search_users_pages_counts_and_matches_literally(db: &TestDatabase) {
        let store = db.store().await;
        for i in 0..7 {
            user(&store, &format!("user{i}@example.com")).await;
        }
        user(&store, "odd%_name@x.com").await;
        let (count, page) = store.search_users(None, 3, 3).await.unwrap();
        assert_eq!(count, 8);
        assert_eq!(
            page.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
            [
                "user3@example.com",
                "user4@example.com",
                "user5@example.com"
            ]
        );

        let (count, found) = store.search_users(Some("USER6"), 10, 0).await.unwrap();
        assert_eq!((count, found[0].email.as_str()), (1, "user6@example.com"));
        let (count, _) = store.search_users(Some("lovelace"), 10, 0).await.unwrap();
        assert_eq!(count, 8, "last names match too");
        let (count, found) = store.search_users(Some("%_"), 10, 0).await.unwrap();
        assert_eq!(
            (count, found[0].email.as_str()),
            (1, "odd%_name@x.com"),
            "wildcards are literal"
        );
        let (count, found) = store.search_users(Some("nobody"), 10, 0).await.unwrap();
        assert_eq!((count, found.len()), (0, 0));
    }

    async fn filter_users_narrows_by_each_flag_and_the_search(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        let cy = user(&store, "cy@example.com").await;
        let flags = tessera_store::UserFlags {
            is_active: Some(false),
            ..Default::default()
        };
        store.set_user_flags(bob.id, &flags).await.unwrap();
        let flags = tessera_store::UserFlags {
            is_staff: Some(true),
            ..Default::default()
        };
        store.set_user_flags(cy.id, &flags).await.unwrap();
        store.set_email_verified(ada.id, true).await.unwrap();
        use tessera_store::UserFilter;
        let cases = [
            (UserFilter::default(), vec!["ada@example.com", "bob@example.com", "cy@example.com"]),
            (
                UserFilter { is_active: Some(false), ..UserFilter::default() },
                vec!["bob@example.com"],
            ),
            (
                UserFilter { is_staff: Some(true), ..UserFilter::default() },
                vec!["cy@example.com"],
            ),
            (
                UserFilter {
                    is_active: Some(true),
                    email_verified: Some(false),
                    ..UserFilter::default()
                },
                vec!["cy@example.com"],
            ),
            (
                UserFilter {
                    search: Some("B".into()),
                    is_staff: Some(false),
                    ..UserFilter::default()
                },
                vec!["bob@example.com"],
            ),
        ];
        for (filter, expected) in cases {
            let (count, users) = store.filter_users(&filter, 10, 0).await.unwrap();
            let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
            assert_eq!(emails, expected, "{filter:?}");
            assert_eq!(count, i64::try_from(expected.len()).unwrap(), "{filter:?}");
        }
    }
}

engine_tests! {
    /// Two profile updates at once, each setting another custom field: both are kept.
    async fn concurrent_profile_updates_lose_nothing(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@x.com").await;
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut extra = tessera_store::Extra::new();
                    extra.insert(format!("field_{i}"), json!(i));
                    let update = UserUpdate { extra, ..UserUpdate::default() };
                    store.update_user(ada.id, &update).await.unwrap().unwrap()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let extra = store.user_by_id(ada.id).await.unwrap().unwrap().extra;
        assert_eq!(extra.len(), 8, "{extra:?}");
    }

    /// Custom field values come back as they went in (JSONB on PostgreSQL, text on SQLite).
    async fn custom_field_values_round_trip(db: &TestDatabase) {
        let store = db.store().await;
        let values = json!({
            "phone_number": "+44 20 7946 0958",
            "nickname": "Zoë 🦀 \"quoted\" \\ back",
            "is_premium": true,
            "age": 36,
            "big": 9_007_199_254_740_993_i64,
            "ratio": 0.25,
            "date_of_birth": null,
            "nested": {"b": [1, 2, {"c": null}], "a": "x"}
        });
        let created = store
            .create_user(&tessera_store::NewUser {
                extra: values.as_object().unwrap().clone(),
                ..common::new_user("json@x.com")
            })
            .await
            .unwrap();
        let read = store.user_by_id(created.id).await.unwrap().unwrap();
        assert_eq!(serde_json::Value::Object(read.extra.clone()), values);
        assert_eq!(read, created);
    }
}
