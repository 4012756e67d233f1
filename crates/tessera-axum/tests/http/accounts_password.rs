//! docs/API.md §5 `POST /api/auth/password/change/` (the account service's `PasswordChangeView`), which
//! beyond the tutorial ends every session of the user, and docs/API.md §7: a rejected
//! change keeps the old password.

use serde_json::{Value, json};

use crate::helpers::{
    Api, NO_ACTIVE_ACCOUNT, NOT_PROVIDED, NOW, PASSWORD, PASSWORD_CHANGED, Pair, Records, TestApp,
    accounts_app, field_error, token_error,
};

const CHANGED: &str = r#"{"message":"Password changed successfully. Please log in again."}"#;
const INCORRECT: &str = r#"{"old_password":["Current password is incorrect."]}"#;
const NEW_PASSWORD: &str = "difference engine 1822";

async fn post_change(app: &TestApp, access: &str, body: &Value) -> crate::helpers::Reply {
    app.post_bearer("/api/auth/password/change/", access, body)
        .await
}

/// Ada with two sessions.
async fn ada_twice(app: &TestApp) -> (i64, Pair, Pair) {
    let ada = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    let laptop = app.account_pair("ada@example.com", PASSWORD).await;
    let phone = app.account_pair("ada@example.com", PASSWORD).await;
    (ada.id, laptop, phone)
}

/// The old password still logs in and the new one does not; the sessions still work.
async fn assert_unchanged(app: &TestApp, id: i64, sessions: &[&Pair]) {
    app.account_login("ada@example.com", NEW_PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.account_login("ada@example.com", PASSWORD).await.ok();
    for pair in sessions {
        app.profile(&pair.access).await.ok();
    }
    assert_eq!(app.user(id).await.password_changed_at, None);
}

#[tokio::test]
async fn a_password_change_answers_200_and_asks_to_log_in_again() {
    let app = accounts_app().build().await;
    let (_, laptop, _) = ada_twice(&app).await;

    app.change_password(&laptop.access, PASSWORD, NEW_PASSWORD)
        .await
        .assert(200, CHANGED);
}

#[tokio::test]
async fn after_a_change_every_token_of_the_user_stops_working() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;
    app.advance(5);

    app.change_password(&laptop.access, PASSWORD, NEW_PASSWORD)
        .await
        .assert(200, CHANGED);

    for pair in [&laptop, &phone] {
        app.profile(&pair.access)
            .await
            .assert(401, PASSWORD_CHANGED);
        app.account_refresh(&pair.refresh)
            .await
            .assert(401, &token_error("Token is blacklisted"));
        assert!(app.session_of(&pair.refresh).await.is_revoked());
    }
    assert_eq!(
        app.user(id).await.password_changed_at,
        Some(NOW.add_secs(5))
    );
}

#[tokio::test]
async fn after_a_change_the_old_password_fails_and_the_new_one_logs_in() {
    let app = accounts_app().build().await;
    let (_, laptop, _) = ada_twice(&app).await;

    app.change_password(&laptop.access, PASSWORD, NEW_PASSWORD)
        .await
        .assert(200, CHANGED);

    app.account_login("ada@example.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    let fresh = app.account_pair("ada@example.com", NEW_PASSWORD).await;
    app.profile(&fresh.access).await.ok();
    app.account_refresh(&fresh.refresh).await.ok();
}

#[tokio::test]
async fn a_change_leaves_other_users_alone() {
    let app = accounts_app().build().await;
    let (_, laptop, _) = ada_twice(&app).await;
    app.create_user("grace@example.com", PASSWORD).await;
    let grace = app.account_pair("grace@example.com", PASSWORD).await;

    app.change_password(&laptop.access, PASSWORD, NEW_PASSWORD)
        .await
        .assert(200, CHANGED);

    app.profile(&grace.access).await.ok();
    app.account_refresh(&grace.refresh).await.ok();
    app.account_login("grace@example.com", PASSWORD).await.ok();
}

#[tokio::test]
async fn a_wrong_old_password_is_400_and_changes_nothing() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;

    app.change_password(&laptop.access, "not my password", NEW_PASSWORD)
        .await
        .assert(400, INCORRECT);
    // The old password is compared exactly as typed.
    app.change_password(&laptop.access, &format!("{PASSWORD} "), NEW_PASSWORD)
        .await
        .assert(400, INCORRECT);

    assert_unchanged(&app, id, &[&laptop, &phone]).await;
}

#[tokio::test]
async fn a_mismatched_confirmation_is_400_and_changes_nothing() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;

    post_change(
        &app,
        &laptop.access,
        &json!({"old_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": "difference engine 1823"}),
    )
    .await
    .assert(400, r#"{"new_password_confirm":["New password fields do not match."]}"#);

    assert_unchanged(&app, id, &[&laptop, &phone]).await;
}

#[tokio::test]
async fn the_mismatch_is_only_reported_when_no_field_failed() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;

    post_change(
        &app,
        &laptop.access,
        &json!({"old_password": "wrong", "new_password": NEW_PASSWORD, "new_password_confirm": "other"}),
    )
    .await
    .assert(400, INCORRECT);

    assert_unchanged(&app, id, &[&laptop, &phone]).await;
}

#[tokio::test]
async fn the_password_validators_apply_to_the_new_password() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;

    app.change_password(&laptop.access, PASSWORD, "iloveyou")
        .await
        .assert(
            400,
            &field_error("new_password", "This password is too common."),
        );
    app.change_password(&laptop.access, PASSWORD, "1234567")
        .await
        .assert(
            400,
            r#"{"new_password":["This password is too short. It must contain at least 8 characters.","This password is too common.","This password is entirely numeric."]}"#,
        );
    app.change_password(&laptop.access, PASSWORD, "Lovelace!1")
        .await
        .assert(
            400,
            &field_error(
                "new_password",
                "The password is too similar to the last name.",
            ),
        );
    app.change_password(&laptop.access, PASSWORD, "Ada.Lovelace")
        .await
        .assert(
            400,
            &field_error(
                "new_password",
                "The password is too similar to the last name.",
            ),
        );

    assert_unchanged(&app, id, &[&laptop, &phone]).await;
}

#[tokio::test]
async fn a_new_password_like_the_email_is_too_similar_to_the_email() {
    let app = accounts_app().build().await;
    app.create_user("babbage@example.com", PASSWORD).await;
    let pair = app.account_pair("babbage@example.com", PASSWORD).await;

    app.change_password(&pair.access, PASSWORD, "babbage1791")
        .await
        .assert(
            400,
            &field_error("new_password", "The password is too similar to the email."),
        );
    app.profile(&pair.access).await.ok();
}

#[tokio::test]
async fn missing_fields_are_required_in_field_order() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;

    post_change(&app, &laptop.access, &json!({}))
        .await
        .assert(
            400,
            r#"{"old_password":["This field is required."],"new_password":["This field is required."],"new_password_confirm":["This field is required."]}"#,
        );
    post_change(&app, &laptop.access, &json!({"old_password": PASSWORD, "new_password": ""}))
        .await
        .assert(
            400,
            r#"{"new_password":["This field may not be blank."],"new_password_confirm":["This field is required."]}"#,
        );

    assert_unchanged(&app, id, &[&laptop, &phone]).await;
}

#[tokio::test]
async fn every_failing_field_is_listed_together() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;

    post_change(
        &app,
        &laptop.access,
        &json!({"old_password": "wrong", "new_password": "iloveyou", "new_password_confirm": null}),
    )
    .await
    .assert(
        400,
        r#"{"old_password":["Current password is incorrect."],"new_password":["This password is too common."],"new_password_confirm":["This field may not be null."]}"#,
    );

    assert_unchanged(&app, id, &[&laptop, &phone]).await;
}

#[tokio::test]
async fn the_new_password_is_kept_exactly_as_typed() {
    let app = accounts_app().build().await;
    let (_, laptop, _) = ada_twice(&app).await;
    let padded = format!(" {NEW_PASSWORD} ");

    app.change_password(&laptop.access, PASSWORD, &padded)
        .await
        .assert(200, CHANGED);

    app.account_login("ada@example.com", NEW_PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.account_login("ada@example.com", &padded).await.ok();
}

#[tokio::test]
async fn the_password_change_needs_authentication() {
    let app = accounts_app().build().await;
    let (id, laptop, phone) = ada_twice(&app).await;

    app.post_json(
        "/api/auth/password/change/",
        &json!({"old_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}),
    )
    .await
    .assert(401, NOT_PROVIDED);
    app.change_password(&laptop.refresh, PASSWORD, NEW_PASSWORD)
        .await
        .assert(
            401,
            r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token has wrong type"}]}"#,
        );

    assert_unchanged(&app, id, &[&laptop, &phone]).await;
}

#[tokio::test]
async fn a_second_change_with_the_revoked_token_is_refused() {
    let app = accounts_app().build().await;
    let (_, laptop, _) = ada_twice(&app).await;
    app.change_password(&laptop.access, PASSWORD, NEW_PASSWORD)
        .await
        .assert(200, CHANGED);

    app.change_password(&laptop.access, NEW_PASSWORD, "babbage engine 1791")
        .await
        .assert(401, PASSWORD_CHANGED);

    app.account_login("ada@example.com", NEW_PASSWORD)
        .await
        .ok();
}
