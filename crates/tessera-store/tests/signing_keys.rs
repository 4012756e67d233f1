//! The signing-key table: scheduling, retiring, first-key creation.

mod common;

use common::NOW;
use tessera_core::Timestamp;
use tessera_store::testing::TestDatabase;
use tessera_store::{Retirement, StoredKey, engine_tests};

fn key(kid: &str, activates_at: Option<Timestamp>) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        private_key: "plain:pem".into(),
        created_at: NOW,
        activates_at,
        retired_at: None,
    }
}

engine_tests! {
    async fn only_one_first_key_is_created(db: &TestDatabase) {
        let store = db.store().await;
        assert!(
            store
                .insert_first_signing_key(&key("a", Some(NOW)))
                .await
                .unwrap()
        );
        assert!(
            !store
                .insert_first_signing_key(&key("b", Some(NOW)))
                .await
                .unwrap()
        );
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "a");
        assert!(
            !format!("{:?}", keys[0]).contains("plain:pem"),
            "Debug leaves the key out"
        );
    }

    async fn activating_a_key_retires_the_others_at_the_same_instant(db: &TestDatabase) {
        let store = db.store().await;
        store
            .insert_signing_key(&key("a", Some(NOW)))
            .await
            .unwrap();
        store.insert_signing_key(&key("b", None)).await.unwrap();
        let switch = NOW.add_micros(3_600_000_000);
        assert!(store.activate_signing_key("b", switch).await.unwrap());
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(
            (keys[0].kid.as_str(), keys[0].retired_at),
            ("a", Some(switch))
        );
        assert_eq!(
            (keys[1].kid.as_str(), keys[1].activates_at),
            ("b", Some(switch))
        );
        assert_eq!(keys[1].retired_at, None);
        // An unknown or retired key cannot be scheduled.
        assert!(!store.activate_signing_key("zz", switch).await.unwrap());
        store.retire_signing_key("a", NOW).await.unwrap();
        assert!(!store.activate_signing_key("a", switch).await.unwrap());
    }

    async fn a_successor_retired_before_it_signs_cancels_the_hand_over(db: &TestDatabase) {
        let store = db.store().await;
        store
            .insert_signing_key(&key("a", Some(NOW)))
            .await
            .unwrap();
        store.insert_signing_key(&key("b", None)).await.unwrap();
        let switch = NOW.add_micros(3_600_000_000);
        assert!(store.activate_signing_key("b", switch).await.unwrap());
        // The rotation is called off before "b" signs: "a" must not stop at `switch`.
        assert_eq!(
            store.retire_signing_key("b", NOW.add_micros(1)).await.unwrap(),
            Retirement::Retired
        );
        let keys = store.signing_keys().await.unwrap();
        assert_eq!((keys[0].kid.as_str(), keys[0].retired_at), ("a", None));
        assert_eq!(
            (keys[1].kid.as_str(), keys[1].retired_at),
            ("b", Some(NOW.add_micros(1)))
        );
        // "a" can still hand over to a later successor.
        store.insert_signing_key(&key("c", None)).await.unwrap();
        assert!(store.activate_signing_key("c", switch).await.unwrap());
        let keys = store.signing_keys().await.unwrap();
        assert_eq!((keys[0].kid.as_str(), keys[0].retired_at), ("a", Some(switch)));
    }

    async fn the_only_signing_key_cannot_be_retired(db: &TestDatabase) {
        let store = db.store().await;
        store
            .insert_signing_key(&key("a", Some(NOW)))
            .await
            .unwrap();
        store
            .insert_signing_key(&key("standby", None))
            .await
            .unwrap();
        assert_eq!(
            store.retire_signing_key("a", NOW.add_micros(1)).await.unwrap(),
            Retirement::OnlySigningKey
        );
        assert_eq!(
            store.retire_signing_key("nope", NOW).await.unwrap(),
            Retirement::NotFound
        );
        // A key that is only published can go.
        assert_eq!(
            store.retire_signing_key("standby", NOW.add_micros(1)).await.unwrap(),
            Retirement::Retired
        );
        assert_eq!(
            store.retire_signing_key("standby", NOW.add_micros(2)).await.unwrap(),
            Retirement::AlreadyRetired
        );
        // Once another key signs, the old one can be retired.
        store.insert_signing_key(&key("b", None)).await.unwrap();
        store.activate_signing_key("b", NOW.add_micros(10)).await.unwrap();
        assert_eq!(
            store.retire_signing_key("a", NOW.add_micros(5)).await.unwrap(),
            Retirement::OnlySigningKey,
            "b does not sign yet at NOW + 5 µs"
        );
        assert_eq!(
            store.retire_signing_key("a", NOW.add_micros(10)).await.unwrap(),
            Retirement::AlreadyRetired,
            "activating b retired a at NOW + 10 µs"
        );
        assert_eq!(
            store
                .delete_signing_keys_retired_before(NOW.add_micros(11))
                .await
                .unwrap(),
            2
        );
        assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    }
}

engine_tests! {
    /// Several servers starting at once on an empty database create one first key.
    async fn servers_starting_together_create_one_first_key(db: &TestDatabase) {
        let store = db.store().await;
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .insert_first_signing_key(&key(&format!("k{i}"), Some(NOW)))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            created += usize::from(task.await.unwrap());
        }
        assert_eq!(created, 1);
        assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    }

    /// Two admins rotating at once (on two servers) still leave one key signing.
    async fn concurrent_activations_leave_one_signing_key(db: &TestDatabase) {
        let store = db.store().await;
        store.insert_signing_key(&key("old", Some(NOW))).await.unwrap();
        for round in 0..5 {
            let (a, b) = (format!("a{round}"), format!("b{round}"));
            store.insert_signing_key(&key(&a, None)).await.unwrap();
            store.insert_signing_key(&key(&b, None)).await.unwrap();
            let at = NOW.add_micros((round + 1) * 1_000_000);
            let (sa, sb) = (store.clone(), store.clone());
            let (ra, rb) = tokio::join!(
                tokio::spawn(async move { sa.activate_signing_key(&a, at).await.unwrap() }),
                tokio::spawn(async move { sb.activate_signing_key(&b, at).await.unwrap() }),
            );
            assert!(ra.unwrap() && rb.unwrap());
            let signing: Vec<_> = store
                .signing_keys()
                .await
                .unwrap()
                .into_iter()
                .filter(|k| k.activates_at.is_some() && k.retired_at.is_none())
                .collect();
            assert_eq!(signing.len(), 1, "round {round}: {signing:?}");
        }
    }
}
