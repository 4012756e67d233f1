//! docs/API.md §3 `POST /api/token/refresh/`: plain refresh, rotation, reuse detection and the
//! reuse grace.

use serde_json::json;
use tessera_axum::ClientInfo;
use tessera_core::{Claims, Token, TokenKind};

use crate::helpers::{
    Api, NO_ACTIVE_ACCOUNT_FOR_TOKEN, NOW_SECS, PASSWORD, Records, VERIFY_BLACKLISTED, claim_names,
    claims, forge, int_claim, rotating, str_claim, token_app, token_error,
};

#[tokio::test]
async fn refresh_without_rotation_returns_only_an_access_token() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.advance(100);

    let reply = app.refresh(&pair.refresh).await;

    reply.ok();
    assert_eq!(reply.keys(), ["access"]);
    let access = reply.field("access");
    assert_eq!(
        claim_names(&access),
        ["token_type", "exp", "iat", "jti", "user_id", "sid"]
    );
    assert_eq!(str_claim(&access, "token_type"), "access");
    assert_eq!(int_claim(&access, "exp"), NOW_SECS + 100 + 300);
    assert_eq!(int_claim(&access, "iat"), NOW_SECS + 100);
    assert_eq!(
        str_claim(&access, "user_id"),
        str_claim(&pair.refresh, "user_id")
    );
    assert_eq!(str_claim(&access, "sid"), str_claim(&pair.refresh, "sid"));
    assert_ne!(str_claim(&access, "jti"), str_claim(&pair.access, "jti"));
}

#[tokio::test]
async fn without_rotation_the_same_refresh_token_keeps_working() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.refresh(&pair.refresh).await.ok();
    app.advance(20);
    app.refresh(&pair.refresh).await.ok();
    app.verify(&pair.refresh).await.assert(200, "{}");
}

#[tokio::test]
async fn an_access_token_from_a_refresh_token_copies_the_custom_claims() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let mut custom = Claims::new();
    custom.insert("email".into(), json!("a@x.com"));
    custom.insert("role".into(), json!("editor"));
    custom.insert("n".into(), json!([1, {"k": null}]));
    let pair = app
        .tessera
        .auth()
        .issue_pair(&user, &ClientInfo::default(), &custom)
        .await
        .expect("issue pair");
    app.advance(60);

    let access = app.refresh(&pair.refresh).await.field("access");

    assert_eq!(
        claim_names(&access),
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "user_id",
            "sid",
            "email",
            "role",
            "n"
        ]
    );
    let claims = claims(&access);
    assert_eq!(claims["email"], json!("a@x.com"));
    assert_eq!(claims["role"], json!("editor"));
    assert_eq!(claims["n"], json!([1, {"k": null}]));
    assert_eq!(claims["exp"], json!(NOW_SECS + 60 + 300));
}

#[tokio::test]
async fn rotation_returns_access_then_a_new_refresh_token_of_the_same_session() {
    let app = token_app().settings(rotating(10)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.advance(30);

    let reply = app.refresh(&pair.refresh).await;

    reply.ok();
    assert_eq!(reply.keys(), ["access", "refresh"]);
    let new = reply.field("refresh");
    assert_eq!(
        claim_names(&new),
        ["token_type", "exp", "iat", "jti", "user_id", "sid"]
    );
    assert_ne!(str_claim(&new, "jti"), str_claim(&pair.refresh, "jti"));
    assert_eq!(str_claim(&new, "sid"), str_claim(&pair.refresh, "sid"));
    assert_eq!(int_claim(&new, "exp"), NOW_SECS + 30 + 86_400);
    assert_eq!(int_claim(&new, "iat"), NOW_SECS + 30);
    let session = app.session_of(&new).await;
    assert_eq!(session.current_jti, str_claim(&new, "jti"));
    assert_eq!(session.rotation_counter, 1);
}

#[tokio::test]
async fn the_rotated_refresh_token_refreshes_again() {
    let app = token_app().settings(rotating(10)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    let second = app.refresh(&pair.refresh).await.field("refresh");
    let third = app.refresh(&second).await.field("refresh");

    assert_ne!(second, third);
    assert_eq!(app.session_of(&third).await.rotation_counter, 2);
}

#[tokio::test]
async fn a_rotated_away_token_after_the_grace_is_blacklisted_and_revokes_the_session() {
    let app = token_app().settings(rotating(10)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let new = app.refresh(&pair.refresh).await.field("refresh");
    app.advance(11);

    app.refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));

    let session = app.session_of(&new).await;
    assert!(session.is_revoked());
    assert_eq!(
        session.revoked_reason,
        Some(tessera_store::RevokeReason::ReuseDetected)
    );
    app.refresh(&new)
        .await
        .assert(401, &token_error("Token is blacklisted"));
    app.verify(&new).await.assert(400, VERIFY_BLACKLISTED);
    app.refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));
}

#[tokio::test]
async fn reuse_revokes_only_the_family_of_that_login() {
    let app = token_app().settings(rotating(10)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let stolen = app.login("a@x.com", PASSWORD).await;
    let other = app.login("a@x.com", PASSWORD).await;
    app.refresh(&stolen.refresh).await.ok();
    app.advance(11);

    app.refresh(&stolen.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));

    app.refresh(&other.refresh).await.ok();
}

#[tokio::test]
async fn within_the_grace_the_rotated_away_token_gets_the_same_successor() {
    let app = token_app().settings(rotating(10)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let first = app.refresh(&pair.refresh).await;
    app.advance(5);

    let second = app.refresh(&pair.refresh).await;

    second.ok();
    assert_eq!(second.keys(), ["access", "refresh"]);
    assert_eq!(second.field("refresh"), first.field("refresh"));
    let session = app.session_of(&pair.refresh).await;
    assert!(!session.is_revoked());
    assert_eq!(session.rotation_counter, 1);
    app.refresh(&first.field("refresh")).await.ok();
}

#[tokio::test]
async fn with_grace_zero_a_duplicate_refresh_is_reuse_at_once() {
    let app = token_app().settings(rotating(0)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let new = app.refresh(&pair.refresh).await.field("refresh");

    app.refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is blacklisted"));

    assert!(app.session_of(&new).await.is_revoked());
    app.refresh(&new)
        .await
        .assert(401, &token_error("Token is blacklisted"));
}

#[tokio::test]
async fn rotation_without_blacklisting_keeps_the_old_token_usable() {
    let app = token_app()
        .settings(|s| s.rotate_refresh_tokens = true)
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let new = app.refresh(&pair.refresh).await.field("refresh");
    app.advance(3600);

    let again = app.refresh(&pair.refresh).await;

    again.ok();
    assert_eq!(again.keys(), ["access", "refresh"]);
    app.refresh(&new).await.ok();
}

#[tokio::test]
async fn a_refresh_token_whose_exp_equals_now_is_expired() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.advance(86_399);
    app.refresh(&pair.refresh).await.ok();
    app.advance(1);

    app.refresh(&pair.refresh)
        .await
        .assert(401, &token_error("Token is expired"));
}

#[tokio::test]
async fn an_access_token_given_to_refresh_has_the_wrong_type_and_changes_nothing() {
    let app = token_app().settings(rotating(0)).build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.refresh(&pair.access)
        .await
        .assert(401, &token_error("Token has wrong type"));

    let session = app.session_of(&pair.refresh).await;
    assert!(!session.is_revoked());
    assert_eq!(session.rotation_counter, 0);
    app.refresh(&pair.refresh).await.ok();
}

#[tokio::test]
async fn garbage_is_an_invalid_token() {
    let app = token_app().build().await;

    for garbage in ["garbage", "a.b.c", "", " ", "e30.e30.e30"] {
        let reply = app.refresh(garbage).await;
        if garbage.trim().is_empty() {
            reply.assert(400, r#"{"refresh":["This field may not be blank."]}"#);
        } else {
            reply.assert(401, &token_error("Token is invalid"));
        }
    }
}

#[tokio::test]
async fn a_refresh_token_signed_with_another_key_or_unsigned_is_invalid() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let payload = serde_json::Value::Object(claims(&pair.refresh));
    let other_key =
        jsonwebtoken::EncodingKey::from_secret(b"another-key-that-is-also-32-bytes-long");
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let other = jsonwebtoken::encode(&header, &payload, &other_key).expect("encode");
    let (_, signed_part) = pair.refresh.split_once('.').expect("segments");
    let (payload_b64, _) = signed_part.split_once('.').expect("segments");
    // {"alg":"none","typ":"JWT"}, no signature.
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload_b64}.");

    for token in [other, unsigned] {
        app.refresh(&token)
            .await
            .assert(401, &token_error("Token is invalid"));
    }
    // The same claims under the right key are fine.
    app.refresh(&forge(&payload)).await.ok();
}

#[tokio::test]
async fn a_missing_refresh_field_is_required() {
    let app = token_app().build().await;

    app.post_json("/api/token/refresh/", &json!({}))
        .await
        .assert(400, r#"{"refresh":["This field is required."]}"#);
    app.post_json("/api/token/refresh/", &json!({"token": "x"}))
        .await
        .assert(400, r#"{"refresh":["This field is required."]}"#);
    app.post_json("/api/token/refresh/", &json!({"refresh": null}))
        .await
        .assert(400, r#"{"refresh":["This field may not be null."]}"#);
}

#[tokio::test]
async fn refresh_for_a_deleted_user_is_401_no_active_account() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.delete(&user).await;

    app.refresh(&pair.refresh)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT_FOR_TOKEN);
}

#[tokio::test]
async fn refresh_for_a_deleted_user_with_rotation_is_401_no_active_account() {
    let app = token_app().settings(rotating(10)).build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.delete(&user).await;

    app.refresh(&pair.refresh)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT_FOR_TOKEN);
}

#[tokio::test]
async fn refresh_for_a_deactivated_user_is_401_no_active_account() {
    let app = token_app().settings(rotating(10)).build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.deactivate(&user).await;

    app.refresh(&pair.refresh)
        .await
        .assert(401, NO_ACTIVE_ACCOUNT_FOR_TOKEN);

    assert_eq!(app.session_of(&pair.refresh).await.rotation_counter, 0);
}

#[tokio::test]
async fn a_correctly_signed_refresh_token_without_sid_is_refused() {
    for rotating in [false, true] {
        let app = token_app()
            .settings(move |s| {
                s.rotate_refresh_tokens = rotating;
                s.blacklist_after_rotation = rotating;
            })
            .build()
            .await;
        let user = app.create_user("a@x.com", PASSWORD).await;
        let token = Token::for_user(
            app.tessera.auth().backend(),
            TokenKind::refresh(),
            &user.id.to_string(),
            app.now(),
        );
        let raw = app.encode(&token);
        assert_eq!(
            claim_names(&raw),
            ["token_type", "exp", "iat", "jti", "user_id"]
        );

        let reply = app.refresh(&raw).await;

        let invalid = token_error("Token is invalid");
        let blacklisted = token_error("Token is blacklisted");
        assert!(
            reply.text() == invalid || reply.text() == blacklisted,
            "rotating={rotating}: {}",
            reply.text()
        );
        reply.assert(401, reply.text());
        app.blacklist(&raw).await.assert(401, reply.text());
    }
}

#[tokio::test]
async fn a_refresh_token_naming_an_unknown_session_is_refused() {
    let app = token_app().settings(rotating(10)).build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let mut token = Token::for_user(
        app.tessera.auth().backend(),
        TokenKind::refresh(),
        &user.id.to_string(),
        app.now(),
    );
    token.insert("sid", "0123456789abcdef0123456789abcdef");

    let reply = app.refresh(&app.encode(&token)).await;

    reply.assert(401, &token_error("Token is blacklisted"));
}

#[tokio::test]
async fn refresh_ignores_an_invalid_authorization_header() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let request = app
        .request(axum::http::Method::POST, "/api/token/refresh/")
        .header("authorization", "Bearer garbage")
        .json(&json!({"refresh": pair.refresh}));

    app.send(request).await.ok();
}

#[tokio::test]
async fn token_fields_are_trimmed_like_every_string_field() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.refresh(&format!(" {}\n", pair.refresh)).await.ok();
    app.verify(&format!("\t{} ", pair.access))
        .await
        .assert(200, "{}");
    app.blacklist(&format!(" {} ", pair.refresh))
        .await
        .assert(200, "{}");
    app.refresh(" \n")
        .await
        .assert(400, r#"{"refresh":["This field may not be blank."]}"#);
}
