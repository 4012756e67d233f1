//! docs/API.md §5 `POST /api/auth/login/` (the account service's `CustomTokenObtainPairView`),
//! `POST /api/auth/logout/` (its `LogoutView`, which may only end the caller's own session)
//! and `POST /api/auth/logout/all/`.

use axum::http::Method;
use serde_json::json;

use crate::helpers::{
    Api, NO_ACTIVE_ACCOUNT, NOT_PROVIDED, NOW, NOW_SECS, PASSWORD, PASSWORD_CHANGED, Records,
    VERIFY_BLACKLISTED, access_refused, accounts_app, claim_names, claims, int_claim, str_claim,
    token_error,
};

const LOGGED_OUT: &str = r#"{"message":"Successfully logged out"}"#;
const REFRESH_REQUIRED: &str = r#"{"error":"Refresh token is required"}"#;
const INVALID_OR_EXPIRED: &str = r#"{"error":"Invalid or expired token"}"#;

// ---- login ----

#[tokio::test]
async fn login_answers_200_with_refresh_access_and_the_short_user_object() {
    let app = accounts_app().build().await;
    let ada = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;

    let reply = app.account_login("ada@example.com", PASSWORD).await;

    let (refresh, access) = (reply.field("refresh"), reply.field("access"));
    reply.assert(
        200,
        &format!(
            r#"{{"refresh":"{refresh}","access":"{access}","user":{{"id":{},"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace"}}}}"#,
            ada.id
        ),
    );
}

#[tokio::test]
async fn login_tokens_carry_the_account_claims_after_user_id_and_sid() {
    let app = accounts_app().build().await;
    let ada = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;

    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    let names = [
        "token_type",
        "exp",
        "iat",
        "jti",
        "user_id",
        "sid",
        "email",
        "first_name",
        "last_name",
        "full_name",
    ];
    assert_eq!(claim_names(&pair.refresh), names);
    assert_eq!(claim_names(&pair.access), names);
    let access = claims(&pair.access);
    assert_eq!(access["user_id"], json!(ada.id.to_string()));
    assert_eq!(access["email"], json!("ada@example.com"));
    assert_eq!(access["first_name"], json!("Ada"));
    assert_eq!(access["last_name"], json!("Lovelace"));
    assert_eq!(access["full_name"], json!("Ada Lovelace"));
    assert_eq!(access["sid"], claims(&pair.refresh)["sid"]);
    assert_eq!(int_claim(&pair.access, "exp"), NOW_SECS + 300);
    assert_eq!(int_claim(&pair.refresh, "exp"), NOW_SECS + 86_400);
}

#[tokio::test]
async fn without_names_full_name_is_the_email_in_body_and_claims() {
    let app = accounts_app().build().await;
    app.create_user("grace@example.com", PASSWORD).await;

    let reply = app.account_login("grace@example.com", PASSWORD).await;

    let user = reply.json()["user"].clone();
    assert_eq!(
        (&user["first_name"], &user["last_name"], &user["full_name"]),
        (&json!(""), &json!(""), &json!("grace@example.com"))
    );
    assert_eq!(
        str_claim(&reply.field("access"), "full_name"),
        "grace@example.com"
    );
}

#[tokio::test]
async fn refreshing_a_login_token_keeps_the_account_claims() {
    let app = accounts_app().build().await;
    app.create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    app.advance(30);

    let reply = app.account_refresh(&pair.refresh).await;

    reply.ok();
    assert_eq!(reply.keys(), ["access"]);
    let access = reply.field("access");
    assert_eq!(str_claim(&access, "full_name"), "Ada Lovelace");
    assert_eq!(str_claim(&access, "sid"), str_claim(&pair.refresh, "sid"));
    app.profile(&access).await.ok();
    app.post_json("/api/auth/token/verify/", &json!({"token": access}))
        .await
        .assert(200, "{}");
}

#[tokio::test]
async fn login_tokens_authenticate_the_profile() {
    let app = accounts_app().build().await;
    app.create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;

    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    assert_eq!(
        app.profile(&pair.access).await.ok()["email"],
        json!("ada@example.com")
    );
}

#[tokio::test]
async fn a_wrong_password_an_unknown_email_or_an_inactive_user_is_401() {
    let app = accounts_app().build().await;
    let ada = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    app.create_user("grace@example.com", PASSWORD).await;
    let grace = app.user_by_email("grace@example.com").await.expect("grace");
    app.deactivate(&grace).await;

    app.account_login("ada@example.com", "wrong password")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.account_login("nobody@example.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.account_login("grace@example.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    app.account_login("ada@example.com", &format!(" {PASSWORD}"))
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    assert_eq!(app.user(ada.id).await.last_login, None);
}

#[tokio::test]
async fn the_email_domain_case_does_not_matter_at_login() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;

    app.account_login(" ada@EXAMPLE.com ", PASSWORD).await.ok();
}

#[tokio::test]
async fn login_fields_are_required() {
    let app = accounts_app().build().await;

    app.post_json("/api/auth/login/", &json!({})).await.assert(
        400,
        r#"{"email":["This field is required."],"password":["This field is required."]}"#,
    );
    app.post_json("/api/auth/login/", &json!({"email": "", "password": ""}))
        .await
        .assert(
            400,
            r#"{"email":["This field may not be blank."],"password":["This field may not be blank."]}"#,
        );
}

#[tokio::test]
async fn update_last_login_on_records_the_login_time() {
    let app = accounts_app()
        .settings(|s| s.update_last_login = true)
        .build()
        .await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    app.advance(42);

    app.account_pair("ada@example.com", PASSWORD).await;

    assert_eq!(app.user(ada.id).await.last_login, Some(NOW.add_secs(42)));
}

#[tokio::test]
async fn update_last_login_off_leaves_last_login_alone() {
    let app = accounts_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;

    app.account_pair("ada@example.com", PASSWORD).await;

    assert_eq!(app.user(ada.id).await.last_login, None);
}

// ---- logout ----

#[tokio::test]
async fn logout_needs_a_bearer_token() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.post_json("/api/auth/logout/", &json!({"refresh": pair.refresh}))
        .await
        .assert(401, NOT_PROVIDED);
    // The refresh token is no access token.
    app.logout(&pair.refresh, &pair.refresh)
        .await
        .assert(401, &access_refused("Token has wrong type"));
    app.account_refresh(&pair.refresh).await.ok();
}

#[tokio::test]
async fn logout_without_a_refresh_token_is_400_required() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    for body in [json!({}), json!({"refresh": ""}), json!({"refresh": null})] {
        app.post_bearer("/api/auth/logout/", &pair.access, &body)
            .await
            .assert(400, REFRESH_REQUIRED);
    }
    app.send(
        app.request(Method::POST, "/api/auth/logout/")
            .bearer_auth(&pair.access),
    )
    .await
    .assert(400, REFRESH_REQUIRED);
    app.account_refresh(&pair.refresh).await.ok();
}

#[tokio::test]
async fn logout_with_a_bad_token_is_400_invalid_or_expired() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let old = app.account_pair("ada@example.com", PASSWORD).await;
    app.advance(86_401);
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    for refresh in [
        json!("garbage"),
        json!("a.b.c"),
        json!(pair.access),
        json!(old.refresh),
        json!(42),
    ] {
        let reply = app
            .post_bearer(
                "/api/auth/logout/",
                &pair.access,
                &json!({"refresh": refresh}),
            )
            .await;
        assert_eq!(
            (reply.status().as_u16(), reply.text()),
            (400, INVALID_OR_EXPIRED),
            "{refresh}"
        );
    }
    app.profile(&pair.access).await.ok();
    app.account_refresh(&pair.refresh).await.ok();
}

#[tokio::test]
async fn logout_ends_the_session_refresh_and_access_tokens_alike() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.logout(&pair.access, &pair.refresh)
        .await
        .assert(200, LOGGED_OUT);

    app.account_refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.profile(&pair.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.verify(&pair.refresh)
        .await
        .assert(400, VERIFY_BLACKLISTED);
    app.verify(&pair.access)
        .await
        .assert(400, VERIFY_BLACKLISTED);
    assert!(app.session_of(&pair.refresh).await.is_revoked());
}

#[tokio::test]
async fn logout_leaves_the_users_other_sessions_alone() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let laptop = app.account_pair("ada@example.com", PASSWORD).await;
    let phone = app.account_pair("ada@example.com", PASSWORD).await;

    app.logout(&laptop.access, &laptop.refresh)
        .await
        .assert(200, LOGGED_OUT);

    app.profile(&phone.access).await.ok();
    app.account_refresh(&phone.refresh).await.ok();
}

#[tokio::test]
async fn one_session_may_log_out_another_session_of_the_same_user() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let laptop = app.account_pair("ada@example.com", PASSWORD).await;
    let phone = app.account_pair("ada@example.com", PASSWORD).await;

    app.logout(&phone.access, &laptop.refresh)
        .await
        .assert(200, LOGGED_OUT);

    app.profile(&laptop.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.profile(&phone.access).await.ok();
}

#[tokio::test]
async fn logging_out_twice_is_400_invalid() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let laptop = app.account_pair("ada@example.com", PASSWORD).await;
    let phone = app.account_pair("ada@example.com", PASSWORD).await;
    app.logout(&laptop.access, &laptop.refresh)
        .await
        .assert(200, LOGGED_OUT);

    app.logout(&phone.access, &laptop.refresh)
        .await
        .assert(400, INVALID_OR_EXPIRED);
    // The ended session's own access token no longer authenticates at all.
    app.logout(&laptop.access, &laptop.refresh)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.profile(&phone.access).await.ok();
}

#[tokio::test]
async fn logout_with_another_users_refresh_token_is_400_and_ends_nothing() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    app.create_user("mallory@example.com", PASSWORD).await;
    let ada = app.account_pair("ada@example.com", PASSWORD).await;
    let mallory = app.account_pair("mallory@example.com", PASSWORD).await;

    app.logout(&mallory.access, &ada.refresh)
        .await
        .assert(400, INVALID_OR_EXPIRED);

    assert!(!app.session_of(&ada.refresh).await.is_revoked());
    app.profile(&ada.access).await.ok();
    app.account_refresh(&ada.refresh).await.ok();
    app.verify(&ada.refresh).await.assert(200, "{}");
    app.profile(&mallory.access).await.ok();
}

#[tokio::test]
async fn a_form_encoded_logout_works() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.send(
        app.request(Method::POST, "/api/auth/logout/")
            .bearer_auth(&pair.access)
            .form(&[("refresh", pair.refresh.as_str())]),
    )
    .await
    .assert(200, LOGGED_OUT);

    app.account_refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
}

#[tokio::test]
async fn with_rotation_logging_out_with_the_newest_refresh_token_ends_the_session() {
    let app = accounts_app()
        .settings(|s| {
            s.rotate_refresh_tokens = true;
            s.blacklist_after_rotation = true;
        })
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;
    let rotated = app.account_refresh(&pair.refresh).await;
    let (refresh, access) = (rotated.field("refresh"), rotated.field("access"));

    app.logout(&access, &refresh).await.assert(200, LOGGED_OUT);

    app.account_refresh(&refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.profile(&access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
}

// ---- logout/all ----

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let sessions = [
        app.account_pair("ada@example.com", PASSWORD).await,
        app.account_pair("ada@example.com", PASSWORD).await,
        app.account_pair("ada@example.com", PASSWORD).await,
    ];
    app.advance(10);

    app.post_bearer("/api/auth/logout/all/", &sessions[1].access, &json!({}))
        .await
        .assert(
            200,
            r#"{"message":"Successfully logged out of all sessions","sessions_ended":3}"#,
        );

    for pair in &sessions {
        app.account_refresh(&pair.refresh)
            .await
            .assert(401, &token_error("Token is blacklisted"));
        app.profile(&pair.access)
            .await
            .assert(401, PASSWORD_CHANGED);
    }
}

#[tokio::test]
async fn logout_all_leaves_other_users_alone() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    app.create_user("grace@example.com", PASSWORD).await;
    let ada = app.account_pair("ada@example.com", PASSWORD).await;
    let grace = app.account_pair("grace@example.com", PASSWORD).await;

    app.post_bearer("/api/auth/logout/all/", &ada.access, &json!({}))
        .await
        .ok();

    app.profile(&grace.access).await.ok();
    app.account_refresh(&grace.refresh).await.ok();
    assert!(!app.session_of(&grace.refresh).await.is_revoked());
}

#[tokio::test]
async fn a_new_login_after_logout_all_works_even_in_the_same_second() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let before = app.account_pair("ada@example.com", PASSWORD).await;
    app.post_bearer("/api/auth/logout/all/", &before.access, &json!({}))
        .await
        .ok();

    let after = app.account_pair("ada@example.com", PASSWORD).await;

    app.profile(&after.access).await.ok();
    app.account_refresh(&after.refresh).await.ok();
    app.profile(&before.access)
        .await
        .assert(401, PASSWORD_CHANGED);
}

#[tokio::test]
async fn logout_all_needs_a_bearer_token() {
    let app = accounts_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let pair = app.account_pair("ada@example.com", PASSWORD).await;

    app.post_json("/api/auth/logout/all/", &json!({}))
        .await
        .assert(401, NOT_PROVIDED);
    app.profile(&pair.access).await.ok();
}
