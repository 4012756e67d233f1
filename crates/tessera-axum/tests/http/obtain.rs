//! docs/API.md §3 `POST /api/token/`, and §2: the shape of the tokens it issues.

use std::time::Duration;

use serde_json::{Value, json};
use tessera_store::NewUser;

use crate::helpers::{
    Api, NO_ACTIVE_ACCOUNT, NOW, NOW_SECS, PASSWORD, Records, claim_names, claims, header_text,
    int_claim, str_claim, token_app,
};

fn is_jti(value: &str) -> bool {
    value.len() == 32
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn obtain_answers_200_with_refresh_then_access() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    let reply = app.obtain("a@x.com", PASSWORD).await;

    reply.ok();
    assert_eq!(reply.keys(), ["refresh", "access"]);
    assert!(
        reply.text().starts_with(r#"{"refresh":""#),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn obtained_tokens_have_the_default_hs256_header() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    let pair = app.login("a@x.com", PASSWORD).await;

    assert_eq!(header_text(&pair.refresh), r#"{"alg":"HS256","typ":"JWT"}"#);
    assert_eq!(header_text(&pair.access), r#"{"alg":"HS256","typ":"JWT"}"#);
}

#[tokio::test]
async fn refresh_claims_are_type_exp_iat_jti_user_id_then_sid() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;

    let pair = app.login("a@x.com", PASSWORD).await;

    assert_eq!(
        claim_names(&pair.refresh),
        ["token_type", "exp", "iat", "jti", "user_id", "sid"]
    );
    let claims = claims(&pair.refresh);
    assert_eq!(claims["token_type"], json!("refresh"));
    assert_eq!(claims["user_id"], json!(user.id.to_string()));
    assert_eq!(claims["iat"], json!(NOW_SECS));
    assert_eq!(claims["exp"], json!(NOW_SECS + 86_400));
}

#[tokio::test]
async fn access_claims_are_in_the_same_order_and_copy_user_id_and_sid() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;

    let pair = app.login("a@x.com", PASSWORD).await;

    assert_eq!(
        claim_names(&pair.access),
        ["token_type", "exp", "iat", "jti", "user_id", "sid"]
    );
    let claims = claims(&pair.access);
    assert_eq!(claims["token_type"], json!("access"));
    assert_eq!(claims["user_id"], json!(user.id.to_string()));
    assert_eq!(claims["iat"], json!(NOW_SECS));
    assert_eq!(claims["exp"], json!(NOW_SECS + 300));
    assert_eq!(
        str_claim(&pair.access, "sid"),
        str_claim(&pair.refresh, "sid")
    );
}

#[tokio::test]
async fn user_id_is_always_a_string() {
    let app = token_app().build().await;
    app.create_user("first@x.com", PASSWORD).await;
    let user = app.create_user("a@x.com", PASSWORD).await;

    let pair = app.login("a@x.com", PASSWORD).await;

    assert_eq!(
        claims(&pair.access)["user_id"],
        Value::String(user.id.to_string())
    );
    assert_eq!(claims(&pair.refresh)["user_id"], Value::String("2".into()));
}

#[tokio::test]
async fn jtis_are_32_lowercase_hex_and_never_repeat() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    let first = app.login("a@x.com", PASSWORD).await;
    let second = app.login("a@x.com", PASSWORD).await;

    let jtis: Vec<String> = [
        &first.refresh,
        &first.access,
        &second.refresh,
        &second.access,
    ]
    .iter()
    .map(|t| str_claim(t, "jti"))
    .collect();
    for jti in &jtis {
        assert!(is_jti(jti), "{jti:?}");
    }
    let mut unique = jtis.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{jtis:?}");
    assert_ne!(
        str_claim(&first.refresh, "sid"),
        str_claim(&second.refresh, "sid")
    );
}

#[tokio::test]
async fn lifetimes_follow_the_settings() {
    let app = token_app()
        .settings(|s| {
            s.access_token_lifetime = Duration::from_secs(60);
            s.refresh_token_lifetime = Duration::from_secs(3600);
        })
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    app.advance(7);

    let pair = app.login("a@x.com", PASSWORD).await;

    assert_eq!(int_claim(&pair.access, "exp"), NOW_SECS + 7 + 60);
    assert_eq!(int_claim(&pair.refresh, "exp"), NOW_SECS + 7 + 3600);
    assert_eq!(int_claim(&pair.access, "iat"), NOW_SECS + 7);
}

#[tokio::test]
async fn wrong_password_is_401_no_active_account() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    app.obtain("a@x.com", "wrong password")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
}

#[tokio::test]
async fn unknown_email_is_401_no_active_account() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    app.obtain("b@x.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
}

#[tokio::test]
async fn inactive_user_is_401_no_active_account_even_with_the_right_password() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    app.deactivate(&user).await;

    app.obtain("a@x.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
}

#[tokio::test]
async fn user_with_an_unusable_password_cannot_log_in() {
    let app = token_app().build().await;
    let new = NewUser {
        email: "a@x.com".into(),
        password_hash: "!".into(),
        is_active: true,
        ..NewUser::default()
    };
    app.tessera
        .auth()
        .store()
        .create_user(&new)
        .await
        .expect("create user");

    app.obtain("a@x.com", "!")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
}

#[tokio::test]
async fn email_domain_is_case_insensitive_but_the_local_part_is_not() {
    let app = token_app().build().await;
    app.create_user("A@X.COM", PASSWORD).await;

    app.obtain("A@x.com", PASSWORD).await.ok();
    app.obtain("A@X.COM", PASSWORD).await.ok();
    app.obtain("A@X.com", PASSWORD).await.ok();
    app.obtain("a@x.com", PASSWORD)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
}

#[tokio::test]
async fn update_last_login_on_sets_last_login_to_now() {
    let app = token_app()
        .settings(|s| s.update_last_login = true)
        .build()
        .await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    app.advance(42);

    app.login("a@x.com", PASSWORD).await;

    assert_eq!(app.user(user.id).await.last_login, Some(NOW.add_secs(42)));
}

#[tokio::test]
async fn update_last_login_on_leaves_last_login_alone_after_a_failed_login() {
    let app = token_app()
        .settings(|s| s.update_last_login = true)
        .build()
        .await;
    let user = app.create_user("a@x.com", PASSWORD).await;

    app.obtain("a@x.com", "wrong")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);

    assert_eq!(app.user(user.id).await.last_login, None);
}

#[tokio::test]
async fn update_last_login_off_leaves_last_login_unset() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;

    app.login("a@x.com", PASSWORD).await;

    assert_eq!(app.user(user.id).await.last_login, None);
}

#[tokio::test]
async fn obtain_ignores_an_invalid_authorization_header() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;

    for header in ["Bearer garbage", "Bearer", "Bearer a b", "Basic eHl6"] {
        let request = app
            .request(axum::http::Method::POST, "/api/token/")
            .header("authorization", header)
            .json(&json!({"email": "a@x.com", "password": PASSWORD}));

        let reply = app.send(request).await;

        reply.ok();
        assert_eq!(reply.keys(), ["refresh", "access"], "{header}");
    }
}

#[tokio::test]
async fn a_login_opens_one_session_and_a_failed_one_none() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;

    app.obtain("a@x.com", "wrong")
        .await
        .assert(401, NO_ACTIVE_ACCOUNT);
    assert!(
        app.tessera
            .auth()
            .store()
            .live_sessions(user.id, NOW)
            .await
            .expect("sessions")
            .is_empty()
    );
    let pair = app.login("a@x.com", PASSWORD).await;

    let sessions = app
        .tessera
        .auth()
        .store()
        .live_sessions(user.id, NOW)
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, str_claim(&pair.refresh, "sid"));
    assert_eq!(sessions[0].current_jti, str_claim(&pair.refresh, "jti"));
    assert_eq!(sessions[0].ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn username_field_username_reads_the_username() {
    let app = token_app()
        .settings(|s| s.username_field = tessera_core::UsernameField::Username)
        .build()
        .await;
    let new = NewUser {
        email: "a@x.com".into(),
        username: Some("alice".into()),
        is_active: true,
        ..NewUser::default()
    };
    app.create_user_with(new, PASSWORD).await;

    app.post_json("/api/token/", &json!({})).await.assert(
        400,
        r#"{"username":["This field is required."],"password":["This field is required."]}"#,
    );
    app.post_json(
        "/api/token/",
        &json!({"email": "a@x.com", "password": PASSWORD}),
    )
    .await
    .assert(400, r#"{"username":["This field is required."]}"#);
    app.post_json(
        "/api/token/",
        &json!({"username": "alice", "password": PASSWORD}),
    )
    .await
    .ok();
}
