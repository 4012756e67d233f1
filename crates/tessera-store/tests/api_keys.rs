//! API keys: creation under the per-user bound, lookup by prefix, revocation (by owner or
//! by anyone), recording uses, and the upkeep's flush.

mod common;

use common::{NOW, user};
use tessera_store::testing::TestDatabase;
use tessera_store::{ApiKey, NewApiKey, Store, engine_tests};

/// One minute, in microseconds.
const MINUTE: i64 = 60_000_000;

fn new_key<'a>(user_id: i64, prefix: &'a str, scopes: &'a [String]) -> NewApiKey<'a> {
    NewApiKey {
        prefix,
        hash: "ab12",
        user_id,
        name: "deploy bot",
        scopes,
        created_at: NOW,
        expires_at: None,
    }
}

async fn key(store: &Store, user_id: i64, prefix: &str) -> ApiKey {
    store
        .insert_api_key(&new_key(user_id, prefix, &[]), 100)
        .await
        .unwrap()
        .expect("under the bound")
}

engine_tests! {
    /// A stored key is found by its prefix with everything it was created with.
    async fn a_key_is_found_by_its_prefix(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let scopes = vec!["read".to_owned(), "orders:write".to_owned()];
        let mut new = new_key(ada.id, "AbCd1234", &scopes);
        new.expires_at = Some(NOW.add_secs(3600));
        let created = store.insert_api_key(&new, 100).await.unwrap().unwrap();
        assert_eq!(created.prefix, "AbCd1234");
        assert_eq!(created.scopes, scopes);
        assert_eq!(created.expires_at, Some(NOW.add_secs(3600)));
        assert_eq!((created.revoked_at, created.last_used_at), (None, None));
        assert!(created.is_usable(NOW));
        assert!(!created.is_usable(NOW.add_secs(3600)));

        let found = store.api_key_by_prefix("AbCd1234").await.unwrap();
        assert_eq!(found, Some(created.clone()));
        // Prefixes compare exactly (case included).
        assert_eq!(store.api_key_by_prefix("abcd1234").await.unwrap(), None);
        assert_eq!(store.api_key_by_prefix(&"x".repeat(10_000)).await.unwrap(), None);
        assert_eq!(store.api_keys_of(ada.id).await.unwrap(), vec![created]);
    }

    /// A prefix is unique.
    async fn a_duplicate_prefix_is_refused(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        key(&store, ada.id, "same0000").await;
        assert!(store.insert_api_key(&new_key(ada.id, "same0000", &[]), 100).await.is_err());
    }

    /// A user holds at most the bound of live keys; revoked and expired ones do not count.
    async fn live_keys_are_bounded_per_user(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        for prefix in ["k0000001", "k0000002", "k0000003"] {
            assert!(store.insert_api_key(&new_key(ada.id, prefix, &[]), 3).await.unwrap().is_some());
        }
        assert_eq!(store.insert_api_key(&new_key(ada.id, "k0000004", &[]), 3).await.unwrap(), None);
        // Another user's count is their own.
        assert!(store.insert_api_key(&new_key(bob.id, "b0000001", &[]), 3).await.unwrap().is_some());
        // Revoking one makes room.
        store.revoke_api_key("k0000001", Some(ada.id), NOW).await.unwrap().unwrap();
        assert!(store.insert_api_key(&new_key(ada.id, "k0000004", &[]), 3).await.unwrap().is_some());
        assert_eq!(store.api_keys_of(ada.id).await.unwrap().len(), 4);
    }

    /// An owner revokes only their own keys; without an owner any key is revoked; the first
    /// revocation time stays.
    async fn revocation_is_by_owner_or_by_anyone(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        key(&store, ada.id, "adaadaad").await;
        assert_eq!(store.revoke_api_key("adaadaad", Some(bob.id), NOW).await.unwrap(), None);
        assert_eq!(store.revoke_api_key("unknown0", None, NOW).await.unwrap(), None);
        assert!(store.api_key_by_prefix("adaadaad").await.unwrap().unwrap().is_usable(NOW));

        let revoked = store.revoke_api_key("adaadaad", None, NOW).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(NOW));
        assert!(!revoked.is_usable(NOW));
        let again = store.revoke_api_key("adaadaad", Some(ada.id), NOW.add_secs(5)).await.unwrap().unwrap();
        assert_eq!(again.revoked_at, Some(NOW));
    }

    /// A use is written when the last recorded one is a minute old (or there is none),
    /// whatever the address: a key alternating between two addresses is written once a
    /// minute, not once a request; of two concurrent callers, one writes.
    async fn uses_are_recorded_at_most_once_a_minute(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let k = key(&store, ada.id, "useuseus").await;
        let (ip, other) = (Some("10.0.0.1"), Some("10.0.0.2"));
        // The first use.
        assert!(store.record_api_key_use(k.id, NOW, ip, NOW.add_micros(-MINUTE)).await.unwrap());
        // A second caller that read the row before the first wrote loses.
        assert!(!store.record_api_key_use(k.id, NOW, ip, NOW.add_micros(-MINUTE)).await.unwrap());
        // Within the minute, from either address: nothing is written.
        let later = NOW.add_micros(MINUTE / 2);
        for address in [other, ip, other] {
            assert!(!store.record_api_key_use(k.id, later, address, later.add_micros(-MINUTE)).await.unwrap());
        }
        let stored = store.api_key_by_prefix("useuseus").await.unwrap().unwrap();
        assert_eq!((stored.last_used_at, stored.last_used_ip.as_deref()), (Some(NOW), ip));
        // A minute on: written, with the address of that use.
        let much_later = NOW.add_micros(MINUTE);
        assert!(store.record_api_key_use(k.id, much_later, other, much_later.add_micros(-MINUTE)).await.unwrap());
        let stored = store.api_key_by_prefix("useuseus").await.unwrap().unwrap();
        assert_eq!(stored.last_used_at, Some(much_later));
        assert_eq!(stored.last_used_ip.as_deref(), Some("10.0.0.2"));
    }

    /// Pages of keys, newest first, with their count: one user's or everyone's, and without
    /// the superusers' keys when asked.
    async fn keys_are_listed_by_page_and_superusers_keys_can_be_left_out(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let root = user(&store, "root@example.com").await;
        let flags = tessera_store::UserFlags { is_superuser: Some(true), ..Default::default() };
        store.set_user_flags(root.id, &flags).await.unwrap();
        for prefix in ["ada00001", "ada00002", "ada00003"] {
            key(&store, ada.id, prefix).await;
        }
        key(&store, root.id, "root0001").await;
        let prefixes = |keys: Vec<ApiKey>| keys.into_iter().map(|k| k.prefix).collect::<Vec<_>>();

        let (count, first) = store.api_keys_page(None, false, 2, 0).await.unwrap();
        assert_eq!((count, prefixes(first)), (4, vec!["root0001".to_owned(), "ada00003".into()]));
        let (count, second) = store.api_keys_page(None, false, 2, 2).await.unwrap();
        assert_eq!((count, prefixes(second)), (4, vec!["ada00002".to_owned(), "ada00001".into()]));
        let (count, hidden) = store.api_keys_page(None, true, 10, 0).await.unwrap();
        assert_eq!((count, prefixes(hidden).len()), (3, 3));
        let (count, adas) = store.api_keys_page(Some(ada.id), false, 1, 1).await.unwrap();
        assert_eq!((count, prefixes(adas)), (3, vec!["ada00002".to_owned()]));
        let (count, roots) = store.api_keys_page(Some(root.id), true, 10, 0).await.unwrap();
        assert_eq!((count, roots.len()), (0, 0));
        let (count, roots) = store.api_keys_page(Some(root.id), false, 10, 0).await.unwrap();
        assert_eq!((count, prefixes(roots)), (1, vec!["root0001".to_owned()]));
    }

    /// Every live key of a user is revoked at once; revoked ones keep their time, other
    /// users' keys stay.
    async fn every_key_of_a_user_is_revoked_at_once(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        key(&store, ada.id, "ada00001").await;
        key(&store, ada.id, "ada00002").await;
        key(&store, bob.id, "bob00001").await;
        store.revoke_api_key("ada00001", None, NOW).await.unwrap().unwrap();
        let later = NOW.add_secs(10);
        let revoked = store.revoke_api_keys_of(ada.id, later).await.unwrap();
        assert_eq!(revoked.iter().map(|k| k.prefix.as_str()).collect::<Vec<_>>(), ["ada00002"]);
        assert_eq!(revoked[0].revoked_at, Some(later));
        let first = store.api_key_by_prefix("ada00001").await.unwrap().unwrap();
        assert_eq!(first.revoked_at, Some(NOW));
        assert!(store.api_key_by_prefix("bob00001").await.unwrap().unwrap().is_usable(later));
        assert!(store.revoke_api_keys_of(ada.id, later).await.unwrap().is_empty());
    }

    /// A key's `Debug` never shows its hash.
    async fn a_keys_debug_leaves_the_hash_out(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let mut new = new_key(ada.id, "dbgdbg01", &[]);
        new.hash = "0123456789abcdef0123456789abcdef";
        let stored = store.insert_api_key(&new, 100).await.unwrap().unwrap();
        let printed = format!("{stored:?}");
        assert!(printed.contains("dbgdbg01"), "{printed}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
    }

    /// The flush deletes keys revoked or expired by then, and keeps the others; deleting a
    /// user deletes their keys.
    async fn old_keys_are_flushed_and_keys_go_with_their_user(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        key(&store, ada.id, "revoked1").await;
        store.revoke_api_key("revoked1", None, NOW).await.unwrap();
        let mut expiring = new_key(ada.id, "expires1", &[]);
        expiring.expires_at = Some(NOW.add_secs(10));
        store.insert_api_key(&expiring, 100).await.unwrap().unwrap();
        key(&store, ada.id, "current1").await;
        assert_eq!(store.flush_api_keys(NOW.add_secs(5)).await.unwrap(), 1);
        assert_eq!(store.flush_api_keys(NOW.add_secs(10)).await.unwrap(), 1);
        let left: Vec<_> = store.list_api_keys(100, 0).await.unwrap().into_iter().map(|k| k.prefix).collect();
        assert_eq!(left, ["current1"]);
        assert!(store.delete_user(ada.id).await.unwrap());
        assert_eq!(store.api_key_by_prefix("current1").await.unwrap(), None);
    }
}
