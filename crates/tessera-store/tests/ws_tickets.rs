//! WebSocket tickets: single use across connections, expiry, and the upkeep's flush.

mod common;

use common::{NOW, session, user};
use tessera_store::testing::TestDatabase;
use tessera_store::{RedeemedTicket, engine_tests};

/// Thirty seconds, in microseconds.
const LIFETIME: i64 = 30_000_000;

engine_tests! {
    /// A ticket is redeemed once: the second redemption, and unknown hashes, find nothing.
    async fn a_ticket_is_redeemed_once(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let login = session(&store, ada.id, "jti-1").await;
        store
            .insert_ws_ticket("h1", ada.id, Some(&login.id), NOW, NOW.add_micros(LIFETIME))
            .await
            .unwrap();
        let redeemed = store.redeem_ws_ticket("h1", NOW.add_micros(1)).await.unwrap();
        assert_eq!(
            redeemed,
            Some(RedeemedTicket { user_id: ada.id, session_id: Some(login.id.clone()), created_at: NOW })
        );
        assert_eq!(store.redeem_ws_ticket("h1", NOW.add_micros(2)).await.unwrap(), None);
        assert_eq!(store.redeem_ws_ticket("unknown", NOW).await.unwrap(), None);
        assert_eq!(store.redeem_ws_ticket(&"x".repeat(10_000), NOW).await.unwrap(), None);
    }

    /// Twenty redemptions of one ticket at once, from several connections: exactly one wins.
    async fn concurrent_redemptions_have_one_winner(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        store
            .insert_ws_ticket("shared", ada.id, None, NOW, NOW.add_micros(LIFETIME))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.redeem_ws_ticket("shared", NOW).await.unwrap() })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            winners.extend(task.await.unwrap());
        }
        assert_eq!(winners, vec![RedeemedTicket { user_id: ada.id, session_id: None, created_at: NOW }]);
    }

    /// At its expiry a ticket is refused; the flush deletes it, and only the expired ones.
    async fn expired_tickets_are_refused_and_flushed(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let expires = NOW.add_micros(LIFETIME);
        store.insert_ws_ticket("old", ada.id, None, NOW, expires).await.unwrap();
        store.insert_ws_ticket("new", ada.id, None, NOW, expires.add_micros(LIFETIME)).await.unwrap();
        assert_eq!(store.redeem_ws_ticket("old", expires).await.unwrap(), None);
        assert_eq!(store.flush_expired_ws_tickets(expires).await.unwrap(), 1);
        assert_eq!(store.flush_expired_ws_tickets(expires).await.unwrap(), 0);
        assert!(store.redeem_ws_ticket("new", expires).await.unwrap().is_some());
    }

    /// Deleting a user (or their session) deletes their tickets.
    async fn tickets_go_with_their_user(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        store.insert_ws_ticket("h", ada.id, None, NOW, NOW.add_micros(LIFETIME)).await.unwrap();
        assert!(store.delete_user(ada.id).await.unwrap());
        assert_eq!(store.redeem_ws_ticket("h", NOW).await.unwrap(), None);
    }
}
