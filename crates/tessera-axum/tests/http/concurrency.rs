//! docs/API.md §3, rotation: of any number of concurrent refreshes with one token exactly one
//! rotates.

use std::sync::Arc;

use futures_util::future::join_all;

use crate::helpers::{Api, PASSWORD, Records, Reply, TestApp, rotating, token_app, token_error};

const RACERS: usize = 25;

/// Fires `RACERS` refreshes with the same token at once, each on its own task.
async fn race(app: &Arc<TestApp>, refresh: &str) -> Vec<Reply> {
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks = (0..RACERS).map(|_| {
        let (app, start, refresh) = (Arc::clone(app), Arc::clone(&start), refresh.to_owned());
        tokio::spawn(async move {
            let request = app
                .request(axum::http::Method::POST, "/api/token/refresh/")
                .json(&serde_json::json!({
                    "refresh": refresh
                }));
            start.wait().await;
            app.send(request).await
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("racer task"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_bring_one_successor_to_life() {
    let app = Arc::new(token_app().settings(rotating(10)).build().await);
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    let replies = race(&app, &pair.refresh).await;

    let mut successors = Vec::new();
    for reply in &replies {
        match reply.status().as_u16() {
            200 => {
                assert_eq!(reply.keys(), ["access", "refresh"]);
                successors.push(reply.field("refresh"));
            }
            401 => reply.assert(401, &token_error("Token is blacklisted")),
            other => panic!("unexpected {other}: {}", reply.text()),
        }
    }
    assert!(!successors.is_empty(), "no refresh succeeded");
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "several successors were issued"
    );
    let session = app.session_of(&pair.refresh).await;
    assert_eq!(session.rotation_counter, 1);
    assert!(!session.is_revoked());
    app.refresh(&successors[0]).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_grace_exactly_one_concurrent_refresh_wins_and_the_rest_revoke_the_session() {
    let app = Arc::new(token_app().settings(rotating(0)).build().await);
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    let replies = race(&app, &pair.refresh).await;

    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status() == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status() != 200) {
        reply.assert(401, &token_error("Token is blacklisted"));
    }
    let session = app.session_of(&pair.refresh).await;
    assert_eq!(session.rotation_counter, 1);
    assert!(session.is_revoked());
    assert_eq!(
        session.revoked_reason,
        Some(tessera_store::RevokeReason::ReuseDetected)
    );
    let successor = winners[0].field("refresh");
    app.refresh(&successor)
        .await
        .assert(401, &token_error("Token is blacklisted"));
}
