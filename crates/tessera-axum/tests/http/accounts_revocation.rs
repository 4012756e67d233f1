//! revocation that actually revokes. An access token stops working once its
//! session ends — logout, password change, "log out everywhere", deactivation, reuse
//! detection, deletion — and a token without a session is judged by its issue time.

use serde_json::json;
use tessera_core::{Timestamp, Token, TokenKind};

use crate::helpers::{
    Api, NO_ACTIVE_ACCOUNT, NO_ACTIVE_ACCOUNT_FOR_TOKEN, NOW, PASSWORD, PASSWORD_CHANGED, Records,
    TestApp, USER_INACTIVE, USER_NOT_FOUND, access_refused, accounts_app, token_error,
};

const NEW_PASSWORD: &str = "difference engine 1822";

/// A rotating app: refresh tokens rotate and are blacklisted, with a 10 s reuse grace.
async fn rotating_accounts_app() -> TestApp {
    accounts_app()
        .settings(|s| {
            s.rotate_refresh_tokens = true;
            s.blacklist_after_rotation = true;
            s.refresh_reuse_grace = std::time::Duration::from_secs(10);
        })
        .build()
        .await
}

/// An access token for `user_id` with no `sid`, issued at `iat`.
fn sessionless_access(app: &TestApp, user_id: i64, iat: Timestamp) -> String {
    let backend = app.tessera.auth().backend();
    let token = Token::for_user(backend, TokenKind::access(), &user_id.to_string(), iat);
    assert!(token.get("sid").is_none());
    backend.encode(&token).unwrap()
}

#[tokio::test]
async fn the_access_token_dies_with_a_logout() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    app.profile(&pair.access).await.ok();

    app.logout(&pair.access, &pair.refresh).await.ok();

    app.profile(&pair.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
}

#[tokio::test]
async fn the_access_token_dies_with_a_blacklisted_refresh_token() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.blacklist(&pair.refresh).await.assert(200, "{}");

    app.profile(&pair.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
}

#[tokio::test]
async fn the_access_token_dies_with_a_password_change() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.change_password(&pair.access, PASSWORD, NEW_PASSWORD)
        .await
        .ok();

    app.profile(&pair.access)
        .await
        .assert(401, PASSWORD_CHANGED);
}

#[tokio::test]
async fn the_access_token_dies_with_logout_all() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    let other = app.account_pair("ada@example.com", PASSWORD).await;

    app.post_bearer("/api/auth/logout/all/", &other.access, &json!({}))
        .await
        .ok();

    app.profile(&pair.access)
        .await
        .assert(401, PASSWORD_CHANGED);
    app.profile(&other.access)
        .await
        .assert(401, PASSWORD_CHANGED);
}

#[tokio::test]
async fn the_access_token_dies_with_deactivation_and_the_user_cannot_refresh_or_log_in() {
    let app = accounts_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.deactivate(&ada).await;

    app.profile(&pair.access).await.assert(401, USER_INACTIVE);
    app.account_refresh(&pair.refresh)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT_FOR_TOKEN);
    app.refresh(&pair.refresh)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT_FOR_TOKEN);
    app.account_login("ada@example.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
}

#[tokio::test]
async fn an_inactive_user_cannot_refresh_with_rotation_either() {
    let app = rotating_accounts_app().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    app.deactivate(&ada).await;

    app.account_refresh(&pair.refresh)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT_FOR_TOKEN);

    // Nothing rotated: the session still holds the login's refresh token.
    let session = app.session_of(&pair.refresh).await;
    assert_eq!(session.rotation_counter, 0);
}

#[tokio::test]
async fn the_access_token_dies_with_the_user() {
    let app = accounts_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.delete(&ada).await;

    app.profile(&pair.access).await.assert(401, USER_NOT_FOUND);
    app.account_refresh(&pair.refresh)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT_FOR_TOKEN);
}

#[tokio::test]
async fn reuse_of_a_rotated_refresh_token_kills_the_new_access_token() {
    let app = rotating_accounts_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let first = app.account_pair("ada@example.com", PASSWORD).await;
    let rotated = app.account_refresh(&first.refresh).await;
    let (refresh, access) = (rotated.field("refresh"), rotated.field("access"));
    app.profile(&access).await.ok();
    app.advance(11);

    app.account_refresh(&first.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));

    app.profile(&access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.profile(&first.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.account_refresh(&refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
}

#[tokio::test]
async fn a_duplicate_refresh_within_the_grace_revokes_nothing() {
    let app = rotating_accounts_app().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let first = app.account_pair("ada@example.com", PASSWORD).await;
    let rotated = app.account_refresh(&first.refresh).await;
    let access = rotated.field("access");
    app.advance(5);

    app.account_refresh(&first.refresh).await.ok();

    app.profile(&access).await.ok();
    app.account_refresh(&rotated.field("refresh")).await.ok();
}

#[tokio::test]
async fn the_access_token_dies_when_its_session_is_deleted_from_the_store() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    // Deletes every session that will have expired two days from now: all of them.
    let deleted = app
        .tessera
        .auth()
        .store()
        .flush_expired_sessions(NOW.add_secs(2 * 86_400), 100)
        .await
        .expect("flush");
    assert_eq!(deleted, 1);

    app.profile(&pair.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.account_refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
}

#[tokio::test]
async fn an_access_token_naming_another_users_session_is_refused() {
    let app = accounts_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    app.create_user("mallory@example.com", PASSWORD).await;
    let mallory = app.account_pair("mallory@example.com", PASSWORD).await;
    let backend = app.tessera.auth().backend();
    let mut token = Token::for_user(backend, TokenKind::access(), &ada.id.to_string(), NOW);
    token.insert("sid", crate::helpers::str_claim(&mallory.refresh, "sid"));

    app.profile(&backend.encode(&token).unwrap())
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.profile(&mallory.access).await.ok();
}

#[tokio::test]
async fn a_sessionless_token_issued_before_a_password_change_is_refused() {
    let app = accounts_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    let early = sessionless_access(&app, ada.id, NOW);
    app.profile(&early).await.ok();
    app.advance(100);
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.change_password(&pair.access, PASSWORD, NEW_PASSWORD)
        .await
        .ok();

    app.profile(&early).await.assert(401, PASSWORD_CHANGED);
    app.advance(10);
    let late = sessionless_access(&app, ada.id, NOW.add_secs(110));
    app.profile(&late).await.ok();
}

#[tokio::test]
async fn a_sessionless_token_issued_one_second_before_a_change_is_refused() {
    let app = accounts_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    app.advance(100);
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    let early = sessionless_access(&app, ada.id, NOW.add_secs(99));

    app.change_password(&pair.access, PASSWORD, NEW_PASSWORD)
        .await
        .ok();

    app.profile(&early).await.assert(401, PASSWORD_CHANGED);
}

#[tokio::test]
async fn a_sessionless_token_issued_before_logout_all_is_refused() {
    let app = accounts_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    let early = sessionless_access(&app, ada.id, NOW);
    app.advance(60);
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.post_bearer("/api/auth/logout/all/", &pair.access, &json!({}))
        .await
        .ok();

    app.profile(&early).await.assert(401, PASSWORD_CHANGED);
    app.advance(1);
    app.profile(&sessionless_access(&app, ada.id, NOW.add_secs(61)))
        .await
        .ok();
}

#[tokio::test]
async fn revoking_one_users_sessions_leaves_the_others_tokens_working() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let grace = app.create_user("grace@example.com", PASSWORD).await;
    let ada_pair = app.account_pair("ada@example.com", PASSWORD).await;
    let grace_pair = app.account_pair("grace@example.com", PASSWORD).await;
    let grace_sessionless = sessionless_access(&app, grace.id, NOW);
    app.advance(5);

    app.change_password(&ada_pair.access, PASSWORD, NEW_PASSWORD)
        .await
        .ok();

    app.profile(&grace_pair.access).await.ok();
    app.profile(&grace_sessionless).await.ok();
}
