//! Users on both engines: creation, look-up by id and e-mail, updates, flags, deletion.

mod common;

use common::{NOW, new_user, session, user};
use tessera_store::testing::TestDatabase;
use tessera_store::{NewUser, Store, StoreError, UserFlags, engine_tests};

engine_tests! {
    async fn create_and_fetch_by_id_and_email(db: &TestDatabase) {
        let store = db.store().await;
        let created = store
            .create_user(&NewUser {
                username: Some("ada".into()),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                is_staff: true,
                ..new_user("  Ada@Example.COM ")
            })
            .await
            .unwrap();

        assert!(created.id > 0);
        assert_eq!(created.email, "Ada@example.com");
        assert_eq!(created.username.as_deref(), Some("ada"));
        assert_eq!(created.first_name, "Ada");
        assert_eq!(created.last_name, "Lovelace");
        assert!(created.is_active);
        assert!(created.is_staff);
        assert!(!created.is_superuser);
        assert_eq!(created.date_joined, NOW);
        assert_eq!(created.last_login, None);
        assert!(created.has_usable_password());

        let by_id = store.user_by_id(created.id).await.unwrap();
        assert_eq!(by_id.as_ref(), Some(&created));
        let by_email = store.user_by_email("Ada@EXAMPLE.com").await.unwrap();
        assert_eq!(by_email.as_ref(), Some(&created));
        let by_username = store.user_by_username("ada").await.unwrap();
        assert_eq!(by_username.as_ref(), Some(&created));

        assert_eq!(store.user_by_id(created.id + 1).await.unwrap(), None);
        assert_eq!(store.user_by_email("ada@example.com").await.unwrap(), None);
        assert_eq!(store.user_by_username("ADA").await.unwrap(), None);
    }

    async fn email_domain_is_case_insensitive_local_part_is_not(db: &TestDatabase) {
        let store = db.store().await;
        let first = user(&store, "A@X.COM").await;
        assert_eq!(first.email, "A@x.com");

        let found = store.user_by_email("A@x.com").await.unwrap().unwrap();
        assert_eq!(found.id, first.id);

        // A different local part is a different user.
        let other = user(&store, "a@x.com").await;
        assert_ne!(other.id, first.id);

        // Same local part, domain in another case: duplicate.
        let err = store.create_user(&new_user("A@x.COM")).await.unwrap_err();
        assert!(matches!(err, StoreError::DuplicateEmail), "{err:?}");
        assert_eq!(store.list_users().await.unwrap().len(), 2);
    }

    async fn duplicate_username(db: &TestDatabase) {
        let store = db.store().await;
        let with_name = |email: &str| NewUser {
            username: Some("grace".into()),
            ..new_user(email)
        };
        store.create_user(&with_name("g1@x.com")).await.unwrap();
        let err = store.create_user(&with_name("g2@x.com")).await.unwrap_err();
        assert!(matches!(err, StoreError::DuplicateUsername), "{err:?}");

        // Several users without a username (and an empty one, stored as NULL) are fine.
        let a = user(&store, "n1@x.com").await;
        let b = store
            .create_user(&NewUser {
                username: Some(String::new()),
                ..new_user("n2@x.com")
            })
            .await
            .unwrap();
        assert_eq!(a.username, None);
        assert_eq!(b.username, None);
    }

    async fn list_users_is_ordered_by_id(db: &TestDatabase) {
        let store = db.store().await;
        let ids = [
            user(&store, "c@x.com").await.id,
            user(&store, "a@x.com").await.id,
            user(&store, "b@x.com").await.id,
        ];
        let listed: Vec<i64> = store
            .list_users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.id)
            .collect();
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        assert_eq!(listed, sorted);
    }

    async fn set_password_hash(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "p@x.com").await;
        assert!(!u.has_usable_password());

        assert!(
            store
                .set_password_hash(u.id, "$argon2id$new")
                .await
                .unwrap()
        );
        let u2 = store.user_by_id(u.id).await.unwrap().unwrap();
        assert_eq!(u2.password_hash, "$argon2id$new");
        assert!(u2.has_usable_password());

        assert!(!store.set_password_hash(u.id + 100, "$x").await.unwrap());
    }

    async fn set_user_flags_changes_only_given_flags(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "f@x.com").await;
        assert!(u.is_active && !u.is_staff && !u.is_superuser);

        let changed = store
            .set_user_flags(
                u.id,
                &UserFlags {
                    is_staff: Some(true),
                    is_superuser: Some(true),
                    ..UserFlags::default()
                },
            )
            .await
            .unwrap();
        assert!(changed);
        let u2 = store.user_by_id(u.id).await.unwrap().unwrap();
        assert!(u2.is_active && u2.is_staff && u2.is_superuser);

        let changed = store
            .set_user_flags(
                u.id,
                &UserFlags {
                    is_active: Some(false),
                    ..UserFlags::default()
                },
            )
            .await
            .unwrap();
        assert!(changed);
        let u3 = store.user_by_id(u.id).await.unwrap().unwrap();
        assert!(!u3.is_active && u3.is_staff && u3.is_superuser);

        assert!(
            !store
                .set_user_flags(u.id + 100, &UserFlags::default())
                .await
                .unwrap()
        );
    }

    async fn set_last_login(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "l@x.com").await;
        store.set_last_login(u.id, NOW.add_micros(42)).await.unwrap();
        let u2 = store.user_by_id(u.id).await.unwrap().unwrap();
        assert_eq!(u2.last_login, Some(NOW.add_micros(42)));
        // A missing user is not an error.
        store.set_last_login(u.id + 100, NOW).await.unwrap();
    }

    async fn delete_user_cascades_to_sessions(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "d@x.com").await;
        let keep = user(&store, "k@x.com").await;
        let s1 = session(&store, u.id, "j1").await;
        let s2 = session(&store, u.id, "j2").await;
        let other = session(&store, keep.id, "j3").await;

        assert!(store.delete_user(u.id).await.unwrap());
        assert_eq!(store.user_by_id(u.id).await.unwrap(), None);
        assert_eq!(store.session(&s1.id).await.unwrap(), None);
        assert_eq!(store.session(&s2.id).await.unwrap(), None);
        assert!(store.session(&other.id).await.unwrap().is_some());

        assert!(!store.delete_user(u.id).await.unwrap());
    }

    async fn sessions_need_an_existing_user(db: &TestDatabase) {
        let store = db.store().await;
        let err = store
            .create_session(&common::new_session(999, "j", common::NOW.add_secs(10)))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    }

    async fn ping_and_reopen_keeps_data(db: &TestDatabase) {
        let store = Store::connect(db.url()).await.unwrap();
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        let u = user(&store, "r@x.com").await;
        store.close().await;
        assert!(store.ping().await.is_err(), "a closed store does not answer");

        let reopened = Store::connect(db.url()).await.unwrap();
        reopened.migrate().await.unwrap();
        assert_eq!(reopened.engine(), db.engine());
        assert_eq!(reopened.user_by_id(u.id).await.unwrap(), Some(u));
    }
}
