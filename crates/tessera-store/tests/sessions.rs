//! Login sessions on both engines: creation, atomic rotation, revocation, expiry.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{NOW, new_session, session, user};
use tessera_core::Timestamp;
use tessera_store::testing::TestDatabase;
use tessera_store::{NewSession, Rotation, SessionKind, engine_tests};

fn rotation(jti: &str, now: Timestamp) -> Rotation {
    Rotation {
        new_jti: jti.to_owned(),
        new_iat: NOW.add_secs(60),
        new_expires_at: NOW.add_secs(60 + 86_400),
        now,
    }
}

engine_tests! {
    async fn create_and_fetch_session(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "s@x.com").await;
        let created = store
            .create_session(&NewSession {
                kind: SessionKind::Sliding,
                user_agent: Some("x".repeat(600)),
                ip: Some("1".repeat(100)),
                ..new_session(u.id, "jti-1", NOW.add_secs(300))
            })
            .await
            .unwrap();

        assert_eq!(created.id.len(), 32);
        assert!(
            created
                .id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_eq!(created.user_id, u.id);
        assert_eq!(created.kind, SessionKind::Sliding);
        assert_eq!(created.current_jti, "jti-1");
        assert_eq!(created.current_iat, NOW);
        assert_eq!(created.expires_at, NOW.add_secs(300));
        assert_eq!(created.previous_jti, None);
        assert_eq!(created.rotated_at, None);
        assert_eq!(created.rotation_counter, 0);
        assert_eq!(created.created_at, NOW);
        assert_eq!(created.last_used_at, NOW);
        assert!(!created.is_revoked());
        assert_eq!(created.user_agent.as_ref().map(String::len), Some(512));
        assert_eq!(created.ip.as_ref().map(String::len), Some(64));

        let fetched = store.session(&created.id).await.unwrap();
        assert_eq!(fetched, Some(created.clone()));
        assert_eq!(store.session("nope").await.unwrap(), None);

        let other = session(&store, u.id, "jti-2").await;
        assert_ne!(other.id, created.id);
        assert_eq!(other.kind, SessionKind::Refresh);
    }

    async fn rotate_with_current_jti_wins_once(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "r@x.com").await;
        let s = session(&store, u.id, "old").await;

        let owner = store
            .rotate_session(&s.id, "old", &rotation("new", NOW.add_micros(5)))
            .await
            .unwrap()
            .expect("first rotation wins");
        assert_eq!(owner, u.id, "the winner learns the session's owner");
        let rotated = store.session(&s.id).await.unwrap().unwrap();
        assert_eq!(rotated.current_jti, "new");
        assert_eq!(rotated.previous_jti.as_deref(), Some("old"));
        assert_eq!(rotated.rotation_counter, 1);
        assert_eq!(rotated.current_iat, NOW.add_secs(60));
        assert_eq!(rotated.expires_at, NOW.add_secs(60 + 86_400));
        assert_eq!(rotated.rotated_at, Some(NOW.add_micros(5)));
        assert_eq!(rotated.last_used_at, NOW.add_micros(5));
        assert_eq!(rotated.created_at, NOW);

        // Replaying the old jti loses.
        let replay = store
            .rotate_session(&s.id, "old", &rotation("other", NOW.add_micros(6)))
            .await
            .unwrap();
        assert_eq!(replay, None);
        let unchanged = store.session(&s.id).await.unwrap().unwrap();
        assert_eq!(unchanged, rotated);

        // The new jti can rotate again.
        assert_eq!(
            store
                .rotate_session(&s.id, "new", &rotation("newer", NOW.add_micros(7)))
                .await
                .unwrap(),
            Some(u.id)
        );
        let again = store.session(&s.id).await.unwrap().unwrap();
        assert_eq!(again.rotation_counter, 2);
        assert_eq!(again.previous_jti.as_deref(), Some("new"));

        // Unknown session.
        assert_eq!(
            store
                .rotate_session("missing", "newer", &rotation("x", NOW))
                .await
                .unwrap(),
            None
        );
    }

    async fn concurrent_rotations_have_exactly_one_winner(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "c@x.com").await;
        let s = session(&store, u.id, "old").await;

        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let store = store.clone();
                let id = s.id.clone();
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let owner = store
                        .rotate_session(&id, "old", &rotation(&format!("new-{i}"), NOW.add_micros(i)))
                        .await
                        .unwrap();
                    owner.map(|owner| (owner, format!("new-{i}")))
                })
            })
            .collect();

        let mut winners = Vec::new();
        for task in tasks {
            if let Some(won) = task.await.unwrap() {
                winners.push(won);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one rotation must win");
        let stored = store.session(&s.id).await.unwrap().unwrap();
        assert_eq!((stored.user_id, stored.current_jti.clone()), winners[0]);
        assert_eq!(stored.rotation_counter, 1);
        assert_eq!(stored.previous_jti.as_deref(), Some("old"));
    }

    async fn touch_and_slide(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "t@x.com").await;
        let s = session(&store, u.id, "j").await;

        let touched = store
            .touch_session(&s.id, "j", NOW.add_micros(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(touched.last_used_at, NOW.add_micros(10));
        assert_eq!(touched.current_jti, "j");
        assert_eq!(touched.rotation_counter, 0);
        assert_eq!(touched.current_iat, s.current_iat);
        assert_eq!(
            store.touch_session(&s.id, "wrong", NOW).await.unwrap(),
            None
        );

        let slid = store
            .slide_session(&s.id, "j", NOW.add_secs(100), NOW.add_micros(20))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(slid.current_iat, NOW.add_secs(100));
        assert_eq!(slid.expires_at, s.expires_at);
        assert_eq!(slid.current_jti, "j");
        assert_eq!(slid.last_used_at, NOW.add_micros(20));
        assert_eq!(
            store
                .slide_session(&s.id, "wrong", NOW.add_secs(200), NOW.add_micros(30))
                .await
                .unwrap(),
            None
        );
    }

    async fn revoke_keeps_first_reason_and_blocks_use(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "v@x.com").await;
        let s = session(&store, u.id, "j").await;

        assert!(
            store
                .revoke_session(&s.id, tessera_store::RevokeReason::Logout, NOW.add_micros(1))
                .await
                .unwrap()
        );
        assert!(!store.revoke_session(&s.id, tessera_store::RevokeReason::ReuseDetected, NOW.add_micros(2)).await.unwrap());
        let revoked = store.session(&s.id).await.unwrap().unwrap();
        assert!(revoked.is_revoked());
        assert_eq!(revoked.revoked_at, Some(NOW.add_micros(1)));
        assert_eq!(revoked.revoked_reason, Some(tessera_store::RevokeReason::Logout));

        assert_eq!(
            store
                .rotate_session(&s.id, "j", &rotation("n", NOW.add_micros(3)))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.touch_session(&s.id, "j", NOW.add_micros(3)).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .slide_session(&s.id, "j", NOW.add_secs(9), NOW.add_micros(3))
                .await
                .unwrap(),
            None
        );
        assert!(!store.revoke_session("missing", tessera_store::RevokeReason::Logout, NOW).await.unwrap());
    }

    async fn revoke_if_current_needs_the_current_jti(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "i@x.com").await;
        let s = session(&store, u.id, "old").await;
        store
            .rotate_session(&s.id, "old", &rotation("new", NOW.add_micros(1)))
            .await
            .unwrap()
            .unwrap();

        assert!(
            !store
                .revoke_session_if_current(&s.id, "old", tessera_store::RevokeReason::Logout, NOW.add_micros(2))
                .await
                .unwrap()
        );
        assert!(!store.session(&s.id).await.unwrap().unwrap().is_revoked());

        assert!(
            store
                .revoke_session_if_current(&s.id, "new", tessera_store::RevokeReason::Logout, NOW.add_micros(3))
                .await
                .unwrap()
        );
        let revoked = store.session(&s.id).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(NOW.add_micros(3)));
        assert_eq!(revoked.revoked_reason, Some(tessera_store::RevokeReason::Logout));

        // Already revoked: not again, reason kept.
        assert!(
            !store
                .revoke_session_if_current(&s.id, "new", tessera_store::RevokeReason::Admin, NOW.add_micros(4))
                .await
                .unwrap()
        );
        let still = store.session(&s.id).await.unwrap().unwrap();
        assert_eq!(still.revoked_reason, Some(tessera_store::RevokeReason::Logout));
    }

    async fn revoke_user_sessions_counts_only_unrevoked_of_that_user(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "u@x.com").await;
        let other = user(&store, "o@x.com").await;
        let a = session(&store, u.id, "a").await;
        let b = session(&store, u.id, "b").await;
        let c = session(&store, u.id, "c").await;
        let o = session(&store, other.id, "o").await;
        assert!(store.revoke_session(&a.id, tessera_store::RevokeReason::Logout, NOW).await.unwrap());

        let n = store
            .revoke_user_sessions(u.id, tessera_store::RevokeReason::PasswordChanged, NOW.add_micros(1))
            .await
            .unwrap();
        assert_eq!(n, 2);
        for id in [&b.id, &c.id] {
            let s = store.session(id).await.unwrap().unwrap();
            assert_eq!(s.revoked_reason, Some(tessera_store::RevokeReason::PasswordChanged));
        }
        let a2 = store.session(&a.id).await.unwrap().unwrap();
        assert_eq!(a2.revoked_reason, Some(tessera_store::RevokeReason::Logout));
        assert!(!store.session(&o.id).await.unwrap().unwrap().is_revoked());

        assert_eq!(
            store
                .revoke_user_sessions(u.id, tessera_store::RevokeReason::Admin, NOW.add_micros(2))
                .await
                .unwrap(),
            0
        );
    }

    async fn live_sessions_excludes_revoked_and_expired(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "live@x.com").await;
        let other = user(&store, "other@x.com").await;

        let mk = |jti: &str, expires_at: Timestamp, now: Timestamp| NewSession {
            now,
            ..new_session(u.id, jti, expires_at)
        };
        let older = store
            .create_session(&mk("older", NOW.add_secs(100), NOW))
            .await
            .unwrap();
        let newer = store
            .create_session(&mk("newer", NOW.add_secs(100), NOW.add_micros(1)))
            .await
            .unwrap();
        let expired = store
            .create_session(&mk("expired", NOW.add_secs(-1), NOW))
            .await
            .unwrap();
        let revoked = store
            .create_session(&mk("revoked", NOW.add_secs(100), NOW))
            .await
            .unwrap();
        store
            .revoke_session(&revoked.id, tessera_store::RevokeReason::Logout, NOW)
            .await
            .unwrap();
        session(&store, other.id, "theirs").await;

        let live = store.live_sessions(u.id, NOW).await.unwrap();
        let ids: Vec<&str> = live.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec![newer.id.as_str(), older.id.as_str()]);
        assert!(!ids.contains(&expired.id.as_str()));

        // Later, everything has expired.
        assert!(
            store
                .live_sessions(u.id, NOW.add_secs(101))
                .await
                .unwrap()
                .is_empty()
        );
    }

    async fn flush_expired_sessions_in_batches(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "flush@x.com").await;

        let mut expired = HashSet::new();
        for i in 0..25 {
            let s = store
                .create_session(&new_session(u.id, &format!("e{i}"), NOW.add_secs(-1 - i)))
                .await
                .unwrap();
            expired.insert(s.id);
        }
        let mut live = Vec::new();
        for i in 0..5 {
            // expires_at == now is not yet expired.
            let s = store
                .create_session(&new_session(u.id, &format!("l{i}"), NOW.add_secs(i)))
                .await
                .unwrap();
            live.push(s.id);
        }

        let deleted = store.flush_expired_sessions(NOW, 10).await.unwrap();
        assert_eq!(deleted, 25);
        for id in &expired {
            assert_eq!(store.session(id).await.unwrap(), None);
        }
        for id in &live {
            assert!(store.session(id).await.unwrap().is_some());
        }
        assert_eq!(store.flush_expired_sessions(NOW, 10).await.unwrap(), 0);

        // An exact multiple of the batch size, and batch 0 treated as 1.
        assert_eq!(
            store.flush_expired_sessions(NOW.add_secs(2), 2).await.unwrap(),
            2
        );
        assert_eq!(
            store.flush_expired_sessions(NOW.add_secs(4), 0).await.unwrap(),
            2
        );
        assert_eq!(store.live_sessions(u.id, NOW).await.unwrap().len(), 1);
    }
}

engine_tests! {
    /// Many sessions rotated at the same moment, each by two clients presenting its current
    /// token and one presenting a stale one, until the store committed some rotations
    /// together (SQLite; PostgreSQL runs each alone): every session has exactly one winner,
    /// whose answer is what was committed, and the stale token never wins.
    async fn rotations_at_the_same_moment_each_get_their_own_answer(db: &TestDatabase) {
        let store = db.store().await;
        let u = user(&store, "group@x.com").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for round in 0.. {
            let mut ids = Vec::new();
            for _ in 0..16 {
                ids.push(session(&store, u.id, "old").await.id);
            }
            let barrier = Arc::new(tokio::sync::Barrier::new(ids.len() * 3));
            let mut tasks = Vec::new();
            for id in &ids {
                for (presented, new) in [("old", "a"), ("old", "b"), ("stale", "c")] {
                    let store = store.clone();
                    let id = id.clone();
                    let barrier = Arc::clone(&barrier);
                    let new = format!("{new}-{round}");
                    tasks.push(tokio::spawn(async move {
                        barrier.wait().await;
                        let rotated = store
                            .rotate_session(&id, presented, &rotation(&new, NOW))
                            .await
                            .unwrap();
                        (id, presented, new, rotated)
                    }));
                }
            }
            let mut winners = std::collections::HashMap::new();
            for task in tasks {
                let (id, presented, new, rotated) = task.await.unwrap();
                let Some(owner) = rotated else { continue };
                assert_eq!(presented, "old", "a stale token never rotates");
                assert!(winners.insert(id, (owner, new)).is_none(), "one winner per session");
            }
            assert_eq!(winners.len(), ids.len(), "every session rotated once");
            for (id, (owner, new)) in &winners {
                let stored = store.session(id).await.unwrap().unwrap();
                assert_eq!((&stored.user_id, &stored.current_jti), (owner, new));
                assert_eq!(stored.previous_jti.as_deref(), Some("old"));
            }
            match db.engine() {
                tessera_store::Engine::Postgres => {
                    assert_eq!(store.rotations_grouped(), 0);
                    break;
                }
                tessera_store::Engine::Sqlite if store.rotations_grouped() > 0 => break,
                tessera_store::Engine::Sqlite => assert!(
                    std::time::Instant::now() < deadline,
                    "no rotations were committed together after {round} rounds"
                ),
            }
        }
    }
}
