//! docs/API.md §3 `POST /api/token/sliding/` and `POST /api/token/sliding/refresh/`.

use serde_json::json;

use crate::helpers::{
    Api, NO_ACTIVE_ACCOUNT, NOW, NOW_SECS, PASSWORD, claim_names, int_claim, str_claim, token_app,
    token_error,
};

const SLIDING_ONLY: &str = "rest_framework_simplejwt.tokens.SlidingToken";

#[tokio::test]
async fn sliding_obtain_returns_one_token_with_sliding_claims_in_order() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;

    let reply = app.obtain_sliding("a@x.com", PASSWORD).await;

    reply.ok();
    assert_eq!(reply.keys(), ["token"]);
    let token = reply.field("token");
    assert_eq!(
        claim_names(&token),
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "refresh_exp",
            "user_id",
            "sid"
        ]
    );
    assert_eq!(str_claim(&token, "token_type"), "sliding");
    assert_eq!(int_claim(&token, "exp"), NOW_SECS + 300);
    assert_eq!(int_claim(&token, "iat"), NOW_SECS);
    assert_eq!(int_claim(&token, "refresh_exp"), NOW_SECS + 86_400);
    assert_eq!(str_claim(&token, "user_id"), user.id.to_string());
}

#[tokio::test]
async fn sliding_obtain_refuses_bad_credentials_like_the_pair_route() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    app.obtain_sliding("a@x.com", "wrong")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.post_json("/api/token/sliding/", &json!({}))
        .await
        .assert(
            400,
            r#"{"email":["This field is required."],"password":["This field is required."]}"#,
        );
}

#[tokio::test]
async fn sliding_refresh_keeps_jti_and_refresh_exp_and_moves_exp() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");
    app.advance(100);

    let reply = app.refresh_sliding(&token).await;

    reply.ok();
    assert_eq!(reply.keys(), ["token"]);
    let slid = reply.field("token");
    assert_eq!(claim_names(&slid), claim_names(&token));
    assert_eq!(str_claim(&slid, "jti"), str_claim(&token, "jti"));
    assert_eq!(int_claim(&slid, "refresh_exp"), NOW_SECS + 86_400);
    assert_eq!(int_claim(&slid, "exp"), NOW_SECS + 100 + 300);
    assert_eq!(str_claim(&slid, "sid"), str_claim(&token, "sid"));
}

#[tokio::test]
async fn sliding_refresh_works_after_exp_inside_refresh_exp() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");
    app.advance(301);

    let slid = app.refresh_sliding(&token).await.field("token");

    assert_eq!(int_claim(&slid, "exp"), NOW_SECS + 301 + 300);
    app.advance(86_400 - 301 - 1);
    app.refresh_sliding(&token).await.ok();
}

#[tokio::test]
async fn sliding_refresh_past_refresh_exp_is_401_refresh_exp_expired() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");
    app.advance(86_400);

    let reply = app.refresh_sliding(&token).await;

    reply.assert(
        401,
        r#"{"detail":"Token 'refresh_exp' claim has expired","code":"token_not_valid"}"#,
    );
}

#[tokio::test]
async fn sliding_refresh_refuses_other_token_types_and_garbage() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.refresh_sliding(&pair.access)
        .await
        .assert(401, &token_error("Token has wrong type"));
    app.refresh_sliding(&pair.refresh)
        .await
        .assert(401, &token_error("Token has wrong type"));
    app.refresh_sliding("garbage")
        .await
        .assert(401, &token_error("Token is invalid"));
    app.post_json(
        "/api/token/sliding/refresh/",
        &json!({"refresh": pair.refresh}),
    )
    .await
    .assert(400, r#"{"token":["This field is required."]}"#);
}

#[tokio::test]
async fn a_sliding_token_authenticates_when_sliding_tokens_are_accepted() {
    let app = token_app()
        .settings(|s| s.auth_token_classes = vec![SLIDING_ONLY.into()])
        .build()
        .await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");

    let reply = app.get_bearer("/api/protected/", &token).await;

    assert_eq!(reply.ok(), json!({"id": user.id, "email": "a@x.com"}));
}

#[tokio::test]
async fn a_slid_token_authenticates_after_the_original_exp() {
    let app = token_app()
        .settings(|s| s.auth_token_classes = vec![SLIDING_ONLY.into()])
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");
    app.advance(400);
    app.get_bearer("/api/protected/", &token).await.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"SlidingToken","token_type":"sliding","message":"Token is expired"}]}"#,
    );

    let slid = app.refresh_sliding(&token).await.field("token");

    app.get_bearer("/api/protected/", &slid).await.ok();
}

#[tokio::test]
async fn a_sliding_token_does_not_authenticate_by_default() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");

    app.get_bearer("/api/protected/", &token).await.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token has wrong type"}]}"#,
    );
}

#[tokio::test]
async fn leeway_applies_to_refresh_exp() {
    let app = token_app()
        .settings(|s| s.leeway = std::time::Duration::from_secs(10))
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");

    app.advance(86_409);
    app.refresh_sliding(&token).await.ok();
    app.advance(1);

    app.refresh_sliding(&token).await.assert(
        401,
        r#"{"detail":"Token 'refresh_exp' claim has expired","code":"token_not_valid"}"#,
    );
}

#[tokio::test]
async fn a_revoked_sliding_session_no_longer_slides() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let token = app.obtain_sliding("a@x.com", PASSWORD).await.field("token");
    let sid = str_claim(&token, "sid");
    assert!(
        app.tessera
            .auth()
            .store()
            .revoke_session(&sid, tessera_store::RevokeReason::Blacklisted, NOW)
            .await
            .expect("revoke")
    );

    app.refresh_sliding(&token)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.verify(&token)
        .await
        .assert(400, r#"{"non_field_errors":["Token is blacklisted"]}"#);
}
