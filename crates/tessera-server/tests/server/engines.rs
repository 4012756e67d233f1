//! The HTTP behaviour that depends on the store — concurrent refreshes, revocation, account
//! flows — through the server's `Application`, on SQLite and on PostgreSQL, from the same
//! test bodies.

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_server::config::Config;
use tessera_store::engine_tests;
use tessera_store::testing::TestDatabase;

use crate::helpers::{PASSWORD, TestApp, all_at_once, jwt_part, successors};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The server on `db`, with `configure` applied on top of the test defaults.
async fn app_on(db: &TestDatabase, configure: impl FnOnce(&mut Config)) -> TestApp {
    let url = db.url().to_owned();
    TestApp::build_with(move |config| {
        config.database_url = Some(url);
        configure(config);
    })
    .await
}

/// Logs in through the JSON route; returns `(refresh, access)`.
async fn login(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let (status, body, _) = app
        .post("/api/token/", json!({"email": email, "password": password}))
        .await;
    assert_eq!(status, 200, "{body}");
    (text(&body, "refresh"), text(&body, "access"))
}

fn text(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .to_owned()
}

/// The `sid` claim of a token.
fn sid(token: &str) -> String {
    text(&jwt_part(token, 1), "sid")
}

/// 20 refreshes of one token at once; returns the replies.
async fn race(app: &Arc<TestApp>, refresh: &str) -> Vec<(u16, Value)> {
    all_at_once(20, |_| {
        let (app, body) = (Arc::clone(app), json!({"refresh": refresh}));
        async move {
            let (status, body, _) = app.post("/api/token/refresh/", body).await;
            (status, body)
        }
    })
    .await
}

engine_tests! {
    async fn concurrent_refreshes_bring_one_successor_to_life(db: &TestDatabase) {
        let app = Arc::new(app_on(db, |_| {}).await);
        app.create_user("race@example.com").await;
        let (refresh, _) = login(&app, "race@example.com", PASSWORD).await;

        let replies = race(&app, &refresh).await;

        let successors = successors(&replies);
        assert_eq!(successors.len(), 1, "one successor, handed to every winner of the grace");
        let session = app.tessera.auth().store().session(&sid(&refresh)).await.unwrap().unwrap();
        assert_eq!(session.rotation_counter, 1);
        assert!(!session.is_revoked());
        let successor = successors.into_iter().next().unwrap();
        let (status, body, _) = app.post("/api/token/refresh/", json!({"refresh": successor})).await;
        assert_eq!(status, 200, "the successor refreshes: {body}");
    }

    async fn without_grace_one_concurrent_refresh_wins_and_reuse_revokes(db: &TestDatabase) {
        let app = Arc::new(app_on(db, |config| {
            config.jwt.refresh_reuse_grace = std::time::Duration::ZERO;
        }).await);
        app.create_user("nograce@example.com").await;
        let (refresh, _) = login(&app, "nograce@example.com", PASSWORD).await;

        let replies = race(&app, &refresh).await;

        let winners: Vec<_> = replies.iter().filter(|(status, _)| *status == 200).collect();
        assert_eq!(winners.len(), 1, "{replies:?}");
        assert!(replies.iter().all(|(status, _)| matches!(status, 200 | 401)), "{replies:?}");
        // The losers presented a rotated-away token: reuse, so the session is over.
        let session = app.tessera.auth().store().session(&sid(&refresh)).await.unwrap().unwrap();
        assert_eq!(session.rotation_counter, 1);
        assert_eq!(session.revoked_reason, Some(tessera_store::RevokeReason::ReuseDetected));
        let successor = text(&winners[0].1, "refresh");
        let (status, _, _) = app.post("/api/token/refresh/", json!({"refresh": successor})).await;
        assert_eq!(status, 401);
    }

    async fn a_blacklisted_session_is_refused_everywhere(db: &TestDatabase) {
        let app = app_on(db, |_| {}).await;
        app.create_user("bl@example.com").await;
        let (refresh, access) = login(&app, "bl@example.com", PASSWORD).await;
        assert_eq!(app.get("/api/auth/profile/", Some(&access)).await.0, 200);

        let (status, body, _) = app.post("/api/token/blacklist/", json!({"refresh": refresh})).await;
        assert_eq!((status, body), (200, json!({})));

        let (status, body, _) = app.get("/api/auth/profile/", Some(&access)).await;
        assert_eq!(status, 401, "{body}");
        let (status, body, _) = app.post("/api/token/refresh/", json!({"refresh": refresh})).await;
        assert_eq!((status, &body["detail"]), (401, &json!("Token is blacklisted")));
        let (status, body, _) = app.post("/api/token/verify/", json!({"token": refresh})).await;
        assert_eq!((status, body), (400, json!({"non_field_errors": ["Token is blacklisted"]})));
    }

    async fn a_password_change_ends_every_session(db: &TestDatabase) {
        let app = app_on(db, |_| {}).await;
        app.create_user("pw@example.com").await;
        let (laptop_refresh, laptop) = login(&app, "pw@example.com", PASSWORD).await;
        let (_, phone) = login(&app, "pw@example.com", PASSWORD).await;

        let (status, body, _) = app
            .send(
                "POST",
                "/api/auth/password/change/",
                Some(&phone),
                Some(json!({
                    "old_password": PASSWORD,
                    "new_password": NEW_PASSWORD,
                    "new_password_confirm": NEW_PASSWORD
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");

        for access in [&laptop, &phone] {
            let (status, body, _) = app.get("/api/auth/profile/", Some(access)).await;
            assert_eq!((status, &body["code"]), (401, &json!("password_changed")), "{body}");
        }
        let (status, _, _) = app.post("/api/token/refresh/", json!({"refresh": laptop_refresh})).await;
        assert_eq!(status, 401);
        let (status, _, _) = app
            .post("/api/token/", json!({"email": "pw@example.com", "password": PASSWORD}))
            .await;
        assert_eq!(status, 401, "the old password is gone");
        login(&app, "pw@example.com", NEW_PASSWORD).await;
    }

    async fn account_flows_register_profile_sessions_and_deactivation(db: &TestDatabase) {
        let app = app_on(db, |config| {
            config.accounts.user_fields = serde_json::from_value(json!([
                {"name": "phone_number", "type": "string", "max_length": 20, "claim": true},
                {"name": "is_premium", "type": "boolean", "read_only": true, "default": false},
                {"name": "date_of_birth", "type": "date"}
            ]))
            .unwrap();
        })
        .await;

        // Register: custom fields stored (JSONB on PostgreSQL) and shown in configured order.
        let (status, body, _) = app
            .post(
                "/api/auth/register/",
                json!({
                    "email": "Grace@Example.COM",
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "password": PASSWORD,
                    "password_confirm": PASSWORD,
                    "phone_number": "+1 555 0100",
                    "date_of_birth": "1906-12-09"
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["user"]["email"], "Grace@example.com");
        let user_keys: Vec<&String> = body["user"].as_object().unwrap().keys().collect();
        assert_eq!(
            user_keys[user_keys.len() - 3..],
            ["phone_number", "is_premium", "date_of_birth"]
        );
        let first_access = text(&body["tokens"], "access");

        // Profile update merges the custom fields.
        let (status, body, _) = app
            .send(
                "PATCH",
                "/api/auth/profile/",
                Some(&first_access),
                Some(json!({"phone_number": "+1 555 0199", "last_name": "Murray Hopper"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (&body["phone_number"], &body["date_of_birth"], &body["is_premium"], &body["last_name"]),
            (&json!("+1 555 0199"), &json!("1906-12-09"), &json!(false), &json!("Murray Hopper"))
        );

        // Two sessions; ending one refuses its tokens and keeps the other.
        let (_, second_access) = login(&app, "Grace@example.com", PASSWORD).await;
        let (status, sessions, _) = app.get("/api/auth/sessions/", Some(&second_access)).await;
        assert_eq!(status, 200, "{sessions}");
        let sessions = sessions.as_array().unwrap().clone();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0]["current"], true, "newest first, and it is this one");
        let first_sid = sid(&first_access);
        assert_eq!(sessions[1]["id"], first_sid);
        let (status, _, _) = app
            .send("DELETE", &format!("/api/auth/sessions/{first_sid}/"), Some(&second_access), None)
            .await;
        assert_eq!(status, 204);
        assert_eq!(app.get("/api/auth/profile/", Some(&first_access)).await.0, 401);
        assert_eq!(app.get("/api/auth/profile/", Some(&second_access)).await.0, 200);

        // A staff member finds and deactivates the account: every session ends.
        app.create_staff("admin@example.com").await;
        let admin = app.access_token("admin@example.com").await;
        let (status, found, _) = app.get("/api/admin/users/?search=hopper", Some(&admin)).await;
        assert_eq!((status, &found["count"]), (200, &json!(1)), "{found}");
        let id = found["results"][0]["id"].as_i64().unwrap();
        let (status, body, _) = app
            .send("PATCH", &format!("/api/admin/users/{id}/"), Some(&admin), Some(json!({"is_active": false})))
            .await;
        assert_eq!((status, &body["is_active"]), (200, &json!(false)), "{body}");
        let (status, body, _) = app.get("/api/auth/profile/", Some(&second_access)).await;
        assert_eq!(status, 401, "{body}");
        assert!(app.tessera.auth().store().live_sessions(id, tessera_core::Timestamp::UNIX_EPOCH).await.unwrap().is_empty());
    }
}
