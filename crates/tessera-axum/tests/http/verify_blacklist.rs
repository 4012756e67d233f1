//! docs/API.md §3 `POST /api/token/verify/` and `POST /api/token/blacklist/`.

use serde_json::json;

use crate::helpers::{
    Api, NOW_SECS, PASSWORD, Records, VERIFY_BLACKLISTED, forge, rotating, token_app, token_error,
};

#[tokio::test]
async fn verify_answers_200_empty_for_valid_access_and_refresh_tokens() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.verify(&pair.access).await.assert(200, "{}");
    app.verify(&pair.refresh).await.assert(200, "{}");
}

#[tokio::test]
async fn verify_ignores_the_token_type() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let sliding = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");
    let odd = forge(
        &json!({"token_type": "email_verification", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc"}),
    );
    let typeless =
        forge(&json!({"exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc", "user_id": "1"}));

    app.verify(&sliding).await.assert(200, "{}");
    app.verify(&odd).await.assert(200, "{}");
    app.verify(&typeless).await.assert(200, "{}");
}

#[tokio::test]
async fn verify_of_an_expired_token_is_401_token_is_expired() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.advance(300);

    app.verify(&pair.access)
        .await
        .assert(401, &token_error("Token is expired"));
    app.verify(&pair.refresh).await.assert(200, "{}");
}

#[tokio::test]
async fn verify_reports_simplejwts_messages_for_broken_claims() {
    let app = token_app().build().await;
    let cases = [
        (
            json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS}),
            "Token has no id",
        ),
        (
            json!({"token_type": "access", "iat": NOW_SECS, "jti": "abc"}),
            "Token has no 'exp' claim",
        ),
        (
            json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS + 1, "jti": "abc"}),
            "Token is invalid",
        ),
        (
            json!({"token_type": "access", "exp": NOW_SECS, "iat": NOW_SECS - 1, "jti": "abc"}),
            "Token is expired",
        ),
        (
            json!({"token_type": "access", "exp": "tomorrow", "jti": "abc"}),
            "Token is invalid",
        ),
    ];

    for (payload, message) in cases {
        app.verify(&forge(&payload))
            .await
            .assert(401, &token_error(message));
    }
}

#[tokio::test]
async fn verify_of_garbage_is_401_token_is_invalid() {
    let app = token_app().build().await;

    app.verify("not.a.token")
        .await
        .assert(401, &token_error("Token is invalid"));
}

#[tokio::test]
async fn verify_without_a_token_field_is_400_required() {
    let app = token_app().build().await;

    app.post_json("/api/token/verify/", &json!({"refresh": "x"}))
        .await
        .assert(400, r#"{"token":["This field is required."]}"#);
    app.post_json("/api/token/verify/", &json!({"token": ""}))
        .await
        .assert(400, r#"{"token":["This field may not be blank."]}"#);
}

#[tokio::test]
async fn verify_of_a_blacklisted_refresh_token_is_400_non_field_errors() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.blacklist(&pair.refresh).await.assert(200, "{}");

    app.verify(&pair.refresh)
        .await
        .assert(400, VERIFY_BLACKLISTED);
}

#[tokio::test]
async fn verify_of_a_refresh_token_rotated_away_and_blacklisted_is_400() {
    let app = token_app().settings(rotating(10)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let new = app.refresh(&pair.refresh).await.field("refresh");

    app.verify(&pair.refresh)
        .await
        .assert(400, VERIFY_BLACKLISTED);
    app.verify(&new).await.assert(200, "{}");
}

#[tokio::test]
async fn verify_of_a_refresh_token_rotated_away_without_blacklisting_is_200() {
    // Without BLACKLIST_AFTER_ROTATION the old token is not blacklisted: it still refreshes,
    // so verify must accept it too.
    let app = token_app()
        .settings(|s| s.rotate_refresh_tokens = true)
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let new = app.refresh(&pair.refresh).await.field("refresh");

    app.verify(&pair.refresh).await.assert(200, "{}");
    app.verify(&new).await.assert(200, "{}");
    app.refresh(&pair.refresh).await.ok();
}

#[tokio::test]
async fn blacklist_answers_200_empty_and_the_token_no_longer_refreshes() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    let reply = app.blacklist(&pair.refresh).await;

    reply.assert(200, "{}");
    app.refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    let session = app.session_of(&pair.refresh).await;
    assert_eq!(
        session.revoked_reason,
        Some(tessera_store::RevokeReason::Blacklisted)
    );
}

#[tokio::test]
async fn blacklisting_a_blacklisted_token_is_401_token_is_blacklisted() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.blacklist(&pair.refresh).await.assert(200, "{}");

    app.blacklist(&pair.refresh).await.assert(
        401,
        r#"{"detail":"Token is blacklisted","code":"token_not_valid"}"#,
    );
}

#[tokio::test]
async fn blacklisting_an_access_token_is_401_wrong_type() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.blacklist(&pair.access)
        .await
        .assert(401, &token_error("Token has wrong type"));

    app.refresh(&pair.refresh).await.ok();
}

#[tokio::test]
async fn blacklisting_garbage_or_an_expired_token_fails_as_a_token() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.advance(86_400);

    app.blacklist("garbage")
        .await
        .assert(401, &token_error("Token is invalid"));
    app.blacklist(&pair.refresh)
        .await
        .assert(401, &token_error("Token is expired"));
}

#[tokio::test]
async fn blacklist_without_a_refresh_field_is_400_required() {
    let app = token_app().build().await;

    app.post_json("/api/token/blacklist/", &json!({}))
        .await
        .assert(400, r#"{"refresh":["This field is required."]}"#);
}

#[tokio::test]
async fn blacklisting_the_newest_rotated_token_ends_the_session() {
    let app = token_app().settings(rotating(10)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let new = app.refresh(&pair.refresh).await.field("refresh");

    app.blacklist(&new).await.assert(200, "{}");

    app.refresh(&new)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.verify(&new).await.assert(400, VERIFY_BLACKLISTED);
}
