//! `GET /api/auth/sessions/` lists the caller's live sessions and
//! `DELETE /api/auth/sessions/{id}/` ends one of them.

use axum::http::Method;
use axum::http::header::USER_AGENT;
use serde_json::json;

use crate::helpers::{
    Api, NOT_FOUND, NOT_PROVIDED, PASSWORD, Pair, Records, TestApp, access_refused, accounts_app,
    str_claim, token_error,
};

/// Logs in through `/api/auth/login/` with this `User-Agent`.
async fn login_as(app: &TestApp, email: &str, agent: &str) -> Pair {
    let reply = app
        .send(
            app.request(Method::POST, "/api/auth/login/")
                .header(USER_AGENT, agent)
                .json(&json!({"email": email, "password": PASSWORD})),
        )
        .await;
    reply.ok();
    Pair {
        refresh: reply.field("refresh"),
        access: reply.field("access"),
    }
}

async fn list(app: &TestApp, access: &str) -> crate::helpers::Reply {
    app.get_bearer("/api/auth/sessions/", access).await
}

async fn end(app: &TestApp, access: &str, id: &str) -> crate::helpers::Reply {
    app.bearer(
        Method::DELETE,
        &format!("/api/auth/sessions/{id}/"),
        access,
        None,
    )
    .await
}

fn sid(pair: &Pair) -> String {
    str_claim(&pair.refresh, "sid")
}

#[tokio::test]
async fn the_list_shows_each_login_newest_first_and_marks_the_current_one() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let laptop = login_as(&app, "ada@example.com", "Laptop/1.0").await;
    app.advance(60);
    let phone = login_as(&app, "ada@example.com", "Phone/2.0").await;
    app.advance(60);

    let expected = |current_is_phone: bool| {
        format!(
            r#"[{{"id":"{}","created_at":"2025-06-15T15:07:40Z","last_used_at":"2025-06-15T15:07:40Z","expires_at":"2025-06-16T15:07:40Z","user_agent":"Phone/2.0","ip":"127.0.0.1","current":{current_is_phone}}},{{"id":"{}","created_at":"2025-06-15T15:06:40Z","last_used_at":"2025-06-15T15:06:40Z","expires_at":"2025-06-16T15:06:40Z","user_agent":"Laptop/1.0","ip":"127.0.0.1","current":{}}}]"#,
            sid(&phone),
            sid(&laptop),
            !current_is_phone
        )
    };
    list(&app, &phone.access).await.assert(200, &expected(true));
    list(&app, &laptop.access)
        .await
        .assert(200, &expected(false));
}

#[tokio::test]
async fn a_session_without_a_user_agent_lists_null() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    let reply = list(&app, &pair.access).await;

    let sessions = reply.ok();
    assert_eq!(
        sessions.as_array().map(Vec::len),
        Some(1),
        "{}",
        reply.text()
    );
    assert_eq!(sessions[0]["user_agent"], json!(null));
    assert_eq!(sessions[0]["id"], json!(sid(&pair)));
    assert_eq!(sessions[0]["current"], json!(true));
}

#[tokio::test]
async fn a_refresh_moves_last_used_at() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    app.advance(90);

    let access = app.account_refresh(&pair.refresh).await.field("access");

    let sessions = list(&app, &access).await.ok();
    assert_eq!(sessions[0]["created_at"], json!("2025-06-15T15:06:40Z"));
    assert_eq!(sessions[0]["last_used_at"], json!("2025-06-15T15:08:10Z"));
    assert_eq!(sessions[0]["current"], json!(true));
}

#[tokio::test]
async fn only_the_callers_live_sessions_are_listed() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    app.create_user("grace@example.com", PASSWORD).await;
    let ended = app.account_pair("ada@example.com", PASSWORD).await;
    app.advance(1);
    let live = app.account_pair("ada@example.com", PASSWORD).await;
    app.account_pair("grace@example.com", PASSWORD).await;
    app.logout(&ended.access, &ended.refresh).await.ok();

    let sessions = list(&app, &live.access).await.ok();

    let ids: Vec<_> = sessions
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, [json!(sid(&live))]);
}

#[tokio::test]
async fn expired_sessions_are_not_listed() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let old = app.account_pair("ada@example.com", PASSWORD).await;
    app.advance(86_401);
    let new = app.account_pair("ada@example.com", PASSWORD).await;

    let sessions = list(&app, &new.access).await.ok();

    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    assert_eq!(sessions[0]["id"], json!(sid(&new)));
    assert_ne!(sid(&old), sid(&new));
}

#[tokio::test]
async fn deleting_a_session_answers_204_and_ends_only_that_session() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let laptop = login_as(&app, "ada@example.com", "Laptop/1.0").await;
    app.advance(1);
    let phone = login_as(&app, "ada@example.com", "Phone/2.0").await;

    end(&app, &phone.access, &sid(&laptop))
        .await
        .assert(204, "");

    app.profile(&laptop.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.account_refresh(&laptop.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.profile(&phone.access).await.ok();
    app.account_refresh(&phone.refresh).await.ok();
    let sessions = list(&app, &phone.access).await.ok();
    assert_eq!(sessions.as_array().map(Vec::len), Some(1));
    assert_eq!(sessions[0]["id"], json!(sid(&phone)));
}

#[tokio::test]
async fn deleting_the_current_session_ends_it() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    end(&app, &pair.access, &sid(&pair)).await.assert(204, "");

    app.profile(&pair.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.account_refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
}

#[tokio::test]
async fn another_users_session_is_404_and_stays_alive() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    app.create_user("mallory@example.com", PASSWORD).await;
    let ada = app.account_pair("ada@example.com", PASSWORD).await;
    let mallory = app.account_pair("mallory@example.com", PASSWORD).await;

    end(&app, &mallory.access, &sid(&ada))
        .await
        .assert(404, NOT_FOUND);

    app.profile(&ada.access).await.ok();
    app.account_refresh(&ada.refresh).await.ok();
    assert!(!app.session_of(&ada.refresh).await.is_revoked());
}

#[tokio::test]
async fn an_unknown_or_already_ended_session_is_404() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let laptop = app.account_pair("ada@example.com", PASSWORD).await;
    let phone = app.account_pair("ada@example.com", PASSWORD).await;
    end(&app, &phone.access, &sid(&laptop))
        .await
        .assert(204, "");

    end(&app, &phone.access, &sid(&laptop))
        .await
        .assert(404, NOT_FOUND);
    end(&app, &phone.access, "0123456789abcdef0123456789abcdef")
        .await
        .assert(404, NOT_FOUND);
    end(&app, &phone.access, "not-a-session")
        .await
        .assert(404, NOT_FOUND);
    app.profile(&phone.access).await.ok();
}

#[tokio::test]
async fn the_sessions_routes_need_authentication() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.get_auth("/api/auth/sessions/", None)
        .await
        .assert(401, NOT_PROVIDED);
    app.send(app.request(
        Method::DELETE,
        &format!("/api/auth/sessions/{}/", sid(&pair)),
    ))
    .await
    .assert(401, NOT_PROVIDED);
    list(&app, &pair.refresh)
        .await
        .assert(401, &access_refused("Token has wrong type"));

    app.profile(&pair.access).await.ok();
}
