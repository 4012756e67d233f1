//! The answers a simplejwt tutorial's own views give — a `RegisterView` that reads
//! `username`, `email` and `password` and answers `RefreshToken.for_user`'s pair, a
//! `LogoutView` that answers 205 — chosen with `register_password_confirm = false`,
//! `register_answer = "tokens"` and `logout_answer = "reset_content"`, so that a frontend
//! written for them works unchanged.

use serde_json::json;
use tessera_auth::accounts::{LogoutAnswer, RegisterAnswer};
use tessera_axum::routes::api_routes;
use tessera_axum::testing::TestAppBuilder;
use tessera_core::UsernameField;

use crate::helpers::{ACCOUNT_PASSWORD, Api, TestApp, claims, field_error};

/// Every router, users logging in by username, the tutorial's answers.
fn tutorial_app() -> TestAppBuilder {
    TestApp::builder()
        .settings(|s| s.username_field = UsernameField::Username)
        .accounts(|a| {
            a.register_password_confirm = false;
            a.register_answer = RegisterAnswer::Tokens;
            a.logout_answer = LogoutAnswer::ResetContent;
        })
        .nest("/api", api_routes())
}

#[tokio::test]
async fn the_tutorials_frontend_registers_logs_in_refreshes_and_logs_out_unchanged() {
    let app = tutorial_app().build().await;

    let registered = app
        .register(
            &json!({"username": "ada", "password": ACCOUNT_PASSWORD, "email": "ada@example.com"}),
        )
        .await;
    registered.assert_status(201);
    assert_eq!(registered.keys(), ["refresh", "access"]);
    let user_id = claims(&registered.field("access"))["user_id"].clone();

    let login = app
        .post_json(
            "/api/token/",
            &json!({"username": "ada", "password": ACCOUNT_PASSWORD}),
        )
        .await;
    login.ok();
    assert_eq!(claims(&login.field("access"))["user_id"], user_id);
    // simplejwt's defaults: no rotation, the refresh token stays the login's.
    let refreshed = app.refresh(&login.field("refresh")).await;
    assert_eq!(refreshed.keys(), ["access"]);
    let profile = app.profile(&refreshed.field("access")).await;
    assert_eq!(profile.ok()["username"], json!("ada"));

    let logout = app
        .logout(&refreshed.field("access"), &login.field("refresh"))
        .await;
    logout.assert_status(205);
    assert_eq!(logout.text(), "");
    // The token is dead; logging it out again is the tutorial's 400.
    app.refresh(&login.field("refresh"))
        .await
        .assert_status(401);
    app.logout(&registered.field("access"), &login.field("refresh"))
        .await
        .assert_status(400);
}

#[tokio::test]
async fn without_confirmation_the_password_rules_still_apply_and_a_taken_name_is_refused() {
    let app = tutorial_app().build().await;

    let weak = app
        .register(&json!({"username": "ada", "password": "12345"}))
        .await;
    weak.assert_status(400);
    assert!(weak.json()["password"].is_array(), "{}", weak.text());
    assert!(
        weak.json().get("password_confirm").is_none(),
        "{}",
        weak.text()
    );

    app.register(&json!({"username": "ada", "password": ACCOUNT_PASSWORD}))
        .await
        .assert_status(201);
    app.register(&json!({"username": "ada", "password": ACCOUNT_PASSWORD}))
        .await
        .assert(
            400,
            &field_error("username", "A user with that username already exists."),
        );
}

#[tokio::test]
async fn by_default_registration_confirms_the_password_and_answers_the_account() {
    let app = TestApp::builder().nest("/api", api_routes()).build().await;

    app.register(&json!({"email": "ada@example.com", "password": ACCOUNT_PASSWORD}))
        .await
        .assert(
            400,
            &field_error("password_confirm", "This field is required."),
        );
    let pair = app.register_ada().await;
    let logout = app.logout(&pair.access, &pair.refresh).await;
    logout.assert(200, r#"{"message":"Successfully logged out"}"#);
}
