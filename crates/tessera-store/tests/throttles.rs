//! Throttle counters and login lockouts shared through the database.

mod common;

use std::time::Duration;

use common::NOW;
use tessera_core::Timestamp;
use tessera_store::testing::TestDatabase;
use tessera_store::{ThrottleWindow, engine_tests};

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
/// The throttles' window: a minute.
const WINDOW: Duration = Duration::from_secs(60);

engine_tests! {
    /// DRF's sliding window: three a minute, the fourth refused until the first leaves.
    async fn the_window_slides(db: &TestDatabase) {
        let store = db.store().await;
        for (i, at) in [0, 10, 20].into_iter().enumerate() {
            let hit = store.throttle_hit("k", 3, WINDOW, NOW.add_micros(at * SECOND)).await.unwrap();
            assert!(hit.allowed, "request {i}");
            assert_eq!(hit.count, i as u32);
        }
        let refused = store.throttle_hit("k", 3, WINDOW, NOW.add_micros(30 * SECOND)).await.unwrap();
        assert_eq!(refused, ThrottleWindow { allowed: false, count: 3, oldest: Some(NOW) });
        // A refused request is not recorded, and other keys are independent.
        assert!(store.throttle_hit("other", 3, WINDOW, NOW.add_micros(30 * SECOND)).await.unwrap().allowed);
        // At exactly one minute the first request has left the window.
        let later = store.throttle_hit("k", 3, WINDOW, NOW.add_micros(MINUTE)).await.unwrap();
        assert!(later.allowed);
        assert_eq!(later.oldest, Some(NOW.add_micros(10 * SECOND)));
        assert!(!store.throttle_hit("k", 3, WINDOW, NOW.add_micros(MINUTE + SECOND)).await.unwrap().allowed);
    }

    /// Forty requests at once from several connections: exactly the limit gets through.
    async fn concurrent_hits_never_exceed_the_limit(db: &TestDatabase) {
        let store = db.store().await;
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.throttle_hit("login_1.2.3.4", 5, WINDOW, NOW).await.unwrap().allowed
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += usize::from(task.await.unwrap());
        }
        assert_eq!(allowed, 5);
    }

    /// Failures count up, a lock only ever lengthens, and clearing forgets both.
    async fn login_failures_count_and_lock(db: &TestDatabase) {
        let store = db.store().await;
        assert_eq!(store.login_locked_until("ada").await.unwrap(), None);
        for expected in 1..=3 {
            assert_eq!(store.add_login_failure("ada", NOW).await.unwrap(), expected);
        }
        assert_eq!(store.add_login_failure("bob", NOW).await.unwrap(), 1);
        assert_eq!(store.login_locked_until("ada").await.unwrap(), Some(Timestamp::UNIX_EPOCH));
        store.lock_login("ada", NOW.add_micros(MINUTE)).await.unwrap();
        store.lock_login("ada", NOW.add_micros(SECOND)).await.unwrap();
        assert_eq!(store.login_locked_until("ada").await.unwrap(), Some(NOW.add_micros(MINUTE)));
        store.clear_login_failures("ada").await.unwrap();
        assert_eq!(store.login_locked_until("ada").await.unwrap(), None);
        assert_eq!(store.add_login_failure("ada", NOW).await.unwrap(), 1);
    }

    /// A count starts afresh once its last failure and its lock's end are both at or
    /// before the cutoff; a lock that ended later keeps it counting up.
    async fn login_failures_decay(db: &TestDatabase) {
        let store = db.store().await;
        let before = |micros: i64| NOW.add_micros(-micros);
        assert_eq!(store.add_decaying_login_failure("ada", before(2 * MINUTE), before(3 * MINUTE)).await.unwrap(), 1);
        assert_eq!(store.add_decaying_login_failure("ada", before(MINUTE), before(3 * MINUTE)).await.unwrap(), 2);
        // Cutoff at the last failure: afresh.
        assert_eq!(store.add_decaying_login_failure("ada", before(SECOND), before(MINUTE)).await.unwrap(), 1);
        // Cutoff after the last failure: afresh.
        assert_eq!(store.add_decaying_login_failure("ada", NOW, before(SECOND)).await.unwrap(), 1);
        // A lock ending after the cutoff keeps the count, although the failure came before.
        store.lock_login("ada", NOW.add_micros(MINUTE)).await.unwrap();
        let later = NOW.add_micros(2 * MINUTE);
        assert_eq!(store.add_decaying_login_failure("ada", later, NOW.add_micros(30 * SECOND)).await.unwrap(), 2);
        // Once the last failure and the lock's end are both at or before the cutoff: afresh.
        let quiet = NOW.add_micros(4 * MINUTE);
        assert_eq!(store.add_decaying_login_failure("ada", quiet, NOW.add_micros(2 * MINUTE)).await.unwrap(), 1);
    }

    /// A name's counts from every client (`name\u{1f}client`) are cleared at once; other
    /// names, even ones that begin alike, are not.
    async fn every_clients_count_of_a_name_is_cleared_together(db: &TestDatabase) {
        let store = db.store().await;
        for key in ["ada", "ada\u{1f}10.0.0.1", "ada\u{1f}10.0.0.2", "ada2\u{1f}10.0.0.1", "adb\u{1f}x", "ad\u{1f}x"] {
            store.add_login_failure(key, NOW).await.unwrap();
        }
        store.clear_login_failures_under("ada").await.unwrap();
        for gone in ["ada", "ada\u{1f}10.0.0.1", "ada\u{1f}10.0.0.2"] {
            assert_eq!(store.login_locked_until(gone).await.unwrap(), None, "{gone:?}");
        }
        for kept in ["ada2\u{1f}10.0.0.1", "adb\u{1f}x", "ad\u{1f}x"] {
            assert!(store.login_locked_until(kept).await.unwrap().is_some(), "{kept:?}");
        }
    }

    /// Pruning drops old throttle rows and idle, unlocked failure counts only.
    async fn pruning_keeps_what_still_counts(db: &TestDatabase) {
        let store = db.store().await;
        store.throttle_hit("old", 5, WINDOW, NOW.add_micros(-(2 * MINUTE))).await.unwrap();
        store.throttle_hit("new", 5, WINDOW, NOW).await.unwrap();
        store.add_login_failure("idle", NOW.add_micros(-(2 * MINUTE))).await.unwrap();
        store.add_login_failure("locked", NOW.add_micros(-(2 * MINUTE))).await.unwrap();
        store.lock_login("locked", NOW.add_micros(MINUTE)).await.unwrap();
        store.add_login_failure("recent", NOW).await.unwrap();
        let deleted = store.prune_throttles(NOW.add_micros(-MINUTE), NOW.add_micros(-MINUTE), NOW).await.unwrap();
        assert_eq!(deleted, 2);
        assert_eq!(store.login_locked_until("idle").await.unwrap(), None);
        assert!(store.login_locked_until("locked").await.unwrap().is_some());
        assert!(store.login_locked_until("recent").await.unwrap().is_some());
        assert_eq!(store.throttle_hit("new", 5, WINDOW, NOW).await.unwrap().count, 1);
        assert_eq!(store.throttle_hit("old", 5, WINDOW, NOW).await.unwrap().count, 0);
    }
}
