//! The audit log: batches written whole, filters, pages newest first, pruning by age — on
//! both engines.

mod common;

use common::NOW;
use serde_json::json;
use tessera_core::Timestamp;
use tessera_store::testing::TestDatabase;
use tessera_store::{AuditFilter, AuditOutcome, NewAuditEvent, engine_tests};

const SECOND: i64 = 1_000_000;

fn event(at: Timestamp, name: &str, outcome: AuditOutcome, user: Option<i64>) -> NewAuditEvent {
    NewAuditEvent {
        user_id: user,
        ip: Some("203.0.113.7".into()),
        user_agent: Some("curl/8".into()),
        ..NewAuditEvent::new(at, name, outcome)
    }
}

/// Ten events a second apart: logins of users 1 and 2, a lockout, refreshes.
fn history() -> Vec<NewAuditEvent> {
    use AuditOutcome::{Failure, Success};
    let mut events = vec![
        event(NOW, "login.succeeded", Success, Some(1)),
        event(NOW.add_micros(SECOND), "login.failed", Failure, Some(2)),
        event(NOW.add_micros(2 * SECOND), "login.failed", Failure, None),
        event(NOW.add_micros(3 * SECOND), "account.locked", Failure, None),
        event(NOW.add_micros(4 * SECOND), "login.locked", Failure, None),
        event(
            NOW.add_micros(5 * SECOND),
            "token.refreshed",
            Success,
            Some(1),
        ),
        event(
            NOW.add_micros(6 * SECOND),
            "token.refreshed",
            Success,
            Some(1),
        ),
        event(
            NOW.add_micros(7 * SECOND),
            "session.logout",
            Success,
            Some(1),
        ),
        event(
            NOW.add_micros(8 * SECOND),
            "login.succeeded",
            Success,
            Some(2),
        ),
        event(NOW.add_micros(9 * SECOND), "loginx", Success, Some(2)),
    ];
    events[9].ip = Some("198.51.100.1".into());
    events
}

fn names(events: &[tessera_store::AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

engine_tests! {
    async fn a_batch_is_written_whole_and_read_back_newest_first(db: &TestDatabase) {
        let store = db.store().await;
        let mut first = event(NOW, "admin.user_updated", AuditOutcome::Success, Some(7));
        first.actor_id = Some(1);
        first.username = Some("x".repeat(300));
        first.session_id = Some("abc".into());
        first.detail = Some(json!({"is_staff": true, "via": "cli"}));
        let mut batch = vec![first];
        // More rows than one INSERT holds.
        for i in 0..1200 {
            batch.push(event(NOW.add_micros(1 + i), "token.refreshed", AuditOutcome::Success, Some(2)));
        }
        store.insert_audit_events(&batch).await.unwrap();
        store.insert_audit_events(&[]).await.unwrap();

        let (count, page) = store
            .list_audit_events(&AuditFilter::default(), 5, 0)
            .await
            .unwrap();
        assert_eq!(count, 1201);
        assert_eq!(page.len(), 5);
        assert_eq!(page[0].at, NOW.add_micros(1200));
        assert!(page.windows(2).all(|w| w[0].at > w[1].at));

        let (count, page) = store
            .list_audit_events(&AuditFilter { user_id: Some(7), ..AuditFilter::default() }, 5, 0)
            .await
            .unwrap();
        assert_eq!(count, 1);
        let stored = &page[0];
        assert_eq!(
            (stored.event.as_str(), stored.outcome.as_str(), stored.user_id, stored.actor_id),
            ("admin.user_updated", "success", Some(7), Some(1))
        );
        assert_eq!(stored.username.as_ref().unwrap().len(), 254);
        assert_eq!(stored.session_id.as_deref(), Some("abc"));
        assert_eq!(stored.ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(stored.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(stored.detail_json(), Some(json!({"is_staff": true, "via": "cli"})));
    }

    async fn filters_select_events_and_pages_follow_each_other(db: &TestDatabase) {
        let store = db.store().await;
        store.insert_audit_events(&history()).await.unwrap();
        let list = |filter: AuditFilter| {
            let store = store.clone();
            async move { store.list_audit_events(&filter, 100, 0).await.unwrap() }
        };

        let (count, events) = list(AuditFilter { user_id: Some(1), ..Default::default() }).await;
        assert_eq!(count, 4);
        assert_eq!(names(&events), ["session.logout", "token.refreshed", "token.refreshed", "login.succeeded"]);

        let (_, events) = list(AuditFilter { event: Some("login.".into()), ..Default::default() }).await;
        assert_eq!(
            names(&events),
            ["login.succeeded", "login.locked", "login.failed", "login.failed", "login.succeeded"],
            "a prefix takes every login event and nothing else"
        );
        let (count, _) = list(AuditFilter { event: Some("login.failed".into()), ..Default::default() }).await;
        assert_eq!(count, 2);
        let (count, _) = list(AuditFilter { event: Some("login".into()), ..Default::default() }).await;
        assert_eq!(count, 0, "without the dot the name is exact");

        let (count, _) = list(AuditFilter { outcome: Some(AuditOutcome::Failure), ..Default::default() }).await;
        assert_eq!(count, 4);
        let (_, events) = list(AuditFilter { ip: Some("198.51.100.1".into()), ..Default::default() }).await;
        assert_eq!(names(&events), ["loginx"]);

        let (_, events) = list(AuditFilter {
            since: Some(NOW.add_micros(3 * SECOND)),
            until: Some(NOW.add_micros(5 * SECOND)),
            ..Default::default()
        })
        .await;
        assert_eq!(names(&events), ["token.refreshed", "login.locked", "account.locked"], "both ends included");

        let (_, events) = list(AuditFilter {
            user_id: Some(2),
            event: Some("login.".into()),
            outcome: Some(AuditOutcome::Success),
            ..Default::default()
        })
        .await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].at, NOW.add_micros(8 * SECOND));

        // Pages: newest first, without overlap; past the end, the count and nothing.
        let mut seen = Vec::new();
        for offset in [0, 4, 8] {
            let (count, page) = store.list_audit_events(&AuditFilter::default(), 4, offset).await.unwrap();
            assert_eq!(count, 10);
            seen.extend(page.into_iter().map(|e| e.at));
        }
        let expected: Vec<Timestamp> = (0..10).rev().map(|i| NOW.add_micros(i * SECOND)).collect();
        assert_eq!(seen, expected);
        let (count, page) = store.list_audit_events(&AuditFilter::default(), 4, 12).await.unwrap();
        assert_eq!((count, page.len()), (10, 0));
    }

    async fn pruning_deletes_only_what_is_older(db: &TestDatabase) {
        let store = db.store().await;
        let events: Vec<NewAuditEvent> = (0..2500)
            .map(|i| event(NOW.add_micros(i), "token.refreshed", AuditOutcome::Success, Some(1)))
            .collect();
        store.insert_audit_events(&events).await.unwrap();

        assert_eq!(store.prune_audit_events(NOW).await.unwrap(), 0);
        assert_eq!(store.prune_audit_events(NOW.add_micros(2100)).await.unwrap(), 2100, "over several batches");
        let (count, page) = store.list_audit_events(&AuditFilter::default(), 1000, 0).await.unwrap();
        assert_eq!(count, 400);
        assert!(page.iter().all(|e| e.at >= NOW.add_micros(2100)));
        assert_eq!(store.prune_audit_events(NOW.add_micros(2100)).await.unwrap(), 0);
    }
}
