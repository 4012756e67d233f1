//! Rotation without downtime: publish, switch, retire, drop — on one instance and across two
//! that share a database, under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_rotation_publishes_first_then_signs_and_old_tokens_keep_working() {
    // Arrange: the first key is created at start.
    let app = keys_app(store_settings(|_| {})).build().await;
    create_user(&app, "admin@example.com", true).await;
    let (refresh_1, access_1) = app.login("admin@example.com").await;
    let k1 = kid_of(&access_1).unwrap();
    assert_eq!(app.jwks_kids().await, std::slice::from_ref(&k1));

    // Act: rotate.
    let (status, key) = app
        .post("/api/admin/keys/rotate/", &access_1, json!({}))
        .await;

    // Assert: the new key is published at once, but does not sign yet.
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["state"], "scheduled");
    let k2 = key["kid"].as_str().unwrap().to_owned();
    assert_eq!(app.jwks_kids().await, [k1.clone(), k2.clone()]);
    let (_, access) = app.login("admin@example.com").await;
    assert_eq!(kid_of(&access).unwrap(), k1);

    // After the lead time the new key signs (the refresher switches by itself) …
    app.advance(61);
    eventually(10, "the new key signs", || async {
        kid_of(&app.login("admin@example.com").await.1).as_deref() == Some(k2.as_str())
    })
    .await;
    // … and tokens of the old key still work, refresh included.
    assert_eq!(app.get("/api/protected/", Some(&access_1)).await.0, 200);
    let reply = app
        .client()
        .post("/api/token/refresh/")
        .json(&json!({"refresh": refresh_1}))
        .send()
        .await;
    assert_eq!(reply.status(), 200);
    let refreshed: serde_json::Value = reply.json();
    assert_eq!(kid_of(refreshed["access"].as_str().unwrap()).unwrap(), k2);
    let keys = app
        .client()
        .get("/api/admin/keys/")
        .bearer_auth(refreshed["access"].as_str().unwrap())
        .send()
        .await;
    let keys: serde_json::Value = keys.json();
    let states: Vec<_> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (k1.clone(), "retired".into()),
            (k2.clone(), "active".into())
        ]
    );
    assert!(keys[0]["encrypted"].as_bool().unwrap());

    // Once every token the old key signed has expired (1 day + one refresh), it drops out.
    app.advance(86_400 + 2);
    eventually(10, "the retired key drops out of the JWKS", || async {
        app.jwks_kids().await == [k2.clone()]
    })
    .await;
}

#[tokio::test]
async fn instances_pick_up_a_rotation_and_no_valid_token_is_refused_under_load() {
    // Arrange: two instances on one database, one clock.
    let a = Arc::new(keys_app(store_settings(|_| {})).build().await);
    create_user(&a, "admin@example.com", true).await;
    let b = Arc::new(
        keys_app(store_settings(|_| {}))
            .same_database(&a)
            .same_clock(&a)
            .build()
            .await,
    );
    let hand = a.clock.clone();
    let (_, admin) = a.login("admin@example.com").await;
    let k1 = kid_of(&admin).unwrap();
    assert_eq!(
        b.jwks_kids().await,
        std::slice::from_ref(&k1),
        "one first key for both"
    );

    // Load: tokens obtained on one instance are used on the other, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (a, b, stop, failures, requests) = (
            a.clone(),
            b.clone(),
            stop.clone(),
            failures.clone(),
            requests.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut kids = std::collections::BTreeSet::new();
            for round in 0..2_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (issuer, user) = if (worker + round) % 2 == 0 {
                    (&a, &b)
                } else {
                    (&b, &a)
                };
                let (_, access) = issuer.login("admin@example.com").await;
                kids.insert(kid_of(&access).unwrap());
                let (status, body) = user.get("/api/protected/", Some(&access)).await;
                requests.fetch_add(1, Ordering::SeqCst);
                if status != 200 {
                    eprintln!("refused: {status} {body}");
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
            kids
        }));
    }

    // Act: rotate on A; B learns the new key by itself; then the switch.
    let (status, key) = a.post("/api/admin/keys/rotate/", &admin, json!({})).await;
    assert_eq!(status, 200, "{key}");
    let k2 = key["kid"].as_str().unwrap().to_owned();
    eventually(10, "B publishes the new key", || async {
        b.jwks_kids().await.contains(&k2)
    })
    .await;
    hand.advance_secs(61);
    for app in [&a, &b] {
        eventually(10, "the new key signs", || async {
            kid_of(&app.login("admin@example.com").await.1).as_deref() == Some(k2.as_str())
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut seen = std::collections::BTreeSet::new();
    for worker in workers {
        seen.extend(worker.await.unwrap());
    }

    // Assert: both keys signed tokens during the load, and none was refused.
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert!(
        requests.load(Ordering::SeqCst) >= 8,
        "too little load to mean anything"
    );
    assert!(seen.contains(&k1) && seen.contains(&k2), "{seen:?}");
}
