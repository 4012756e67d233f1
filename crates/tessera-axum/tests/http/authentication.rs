//! docs/API.md §4: authenticating requests with the token in a header.

use axum::http::HeaderValue;
use serde_json::json;
use tessera_core::{Token, TokenKind};
use tessera_store::NewUser;

use crate::helpers::{
    Api, NOT_PROVIDED, NOW_SECS, PASSWORD, Records, WWW_AUTHENTICATE, forge, token_app,
};

const BAD_HEADER: &str = r#"{"detail":"Authorization header must contain two space-delimited values","code":"bad_authorization_header"}"#;
const FORBIDDEN: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// The 401 body for a token no accepted class takes, with one message for `AccessToken`.
fn access_refused(message: &str) -> String {
    format!(
        r#"{{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{{"token_class":"AccessToken","token_type":"access","message":"{message}"}}]}}"#
    )
}

#[tokio::test]
async fn a_valid_access_token_authenticates_the_user() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    let reply = app.get_bearer("/api/protected/", &pair.access).await;

    assert_eq!(reply.ok(), json!({"id": user.id, "email": "a@x.com"}));
}

#[tokio::test]
async fn no_header_is_401_credentials_not_provided() {
    let app = token_app().build().await;

    app.get_auth("/api/protected/", None)
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn bearer_alone_or_with_two_values_is_401_bad_authorization_header() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    for header in [
        "Bearer".to_owned(),
        "Bearer a b".to_owned(),
        format!("Bearer {} extra", pair.access),
    ] {
        app.get_auth("/api/protected/", Some(&header))
            .await
            .assert(401, BAD_HEADER);
    }
}

#[tokio::test]
async fn another_scheme_is_anonymous() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    for header in [
        "Basic xyz".to_owned(),
        "Token abc".to_owned(),
        format!("JWT {}", pair.access),
        String::new(),
    ] {
        app.get_auth("/api/protected/", Some(&header))
            .await
            .assert(401, NOT_PROVIDED);
    }
}

#[tokio::test]
async fn the_scheme_is_case_sensitive_so_lowercase_bearer_is_anonymous() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    for scheme in ["bearer", "BEARER"] {
        let header = format!("{scheme} {}", pair.access);
        app.get_auth("/api/protected/", Some(&header))
            .await
            .assert(401, NOT_PROVIDED);
    }
}

#[tokio::test]
async fn a_refresh_token_as_bearer_is_401_with_one_message_per_class() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    let reply = app.get_bearer("/api/protected/", &pair.refresh).await;

    reply.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token has wrong type"}]}"#,
    );
}

#[tokio::test]
async fn with_two_accepted_classes_a_bad_token_gets_two_messages_in_that_order() {
    let app = token_app()
        .settings(|s| {
            s.auth_token_classes = vec![
                "rest_framework_simplejwt.tokens.AccessToken".into(),
                "rest_framework_simplejwt.tokens.SlidingToken".into(),
            ];
        })
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.get_bearer("/api/protected/", &pair.refresh).await.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token has wrong type"},{"token_class":"SlidingToken","token_type":"sliding","message":"Token has wrong type"}]}"#,
    );
    app.get_bearer("/api/protected/", "garbage").await.assert(
        401,
        r#"{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid"},{"token_class":"SlidingToken","token_type":"sliding","message":"Token is invalid"}]}"#,
    );
    app.get_bearer("/api/protected/", &pair.access).await.ok();
}

#[tokio::test]
async fn an_access_token_whose_exp_equals_now_is_expired() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.advance(299);
    app.get_bearer("/api/protected/", &pair.access).await.ok();
    app.advance(1);

    app.get_bearer("/api/protected/", &pair.access)
        .await
        .assert(401, &access_refused("Token is expired"));
}

#[tokio::test]
async fn leeway_keeps_an_access_token_alive_past_exp() {
    let app = token_app()
        .settings(|s| s.leeway = std::time::Duration::from_secs(5))
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.advance(304);
    app.get_bearer("/api/protected/", &pair.access).await.ok();
    app.advance(1);

    app.get_bearer("/api/protected/", &pair.access)
        .await
        .assert(401, &access_refused("Token is expired"));
}

#[tokio::test]
async fn forged_algorithms_and_future_tokens_are_invalid() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let payload = json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc", "user_id": user.id.to_string()});
    let valid = forge(&payload);
    let (_, rest) = valid.split_once('.').expect("segments");
    let (body, _) = rest.rsplit_once('.').expect("segments");
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
    let future = forge(
        &json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS + 1, "jti": "abc", "user_id": "1"}),
    );
    let not_yet = forge(
        &json!({"token_type": "access", "exp": NOW_SECS + 60, "nbf": NOW_SECS + 1, "jti": "abc", "user_id": "1"}),
    );

    app.get_bearer("/api/protected/", &valid).await.ok();
    for token in [unsigned, future, not_yet] {
        app.get_bearer("/api/protected/", &token)
            .await
            .assert(401, &access_refused("Token is invalid"));
    }
}

#[tokio::test]
async fn a_token_without_a_user_claim_is_401_no_recognizable_user() {
    let app = token_app().build().await;
    let token = Token::new(app.tessera.auth().backend(), TokenKind::access(), app.now());
    let raw = app.encode(&token);

    let reply = app.get_bearer("/api/protected/", &raw).await;

    reply.assert(401, r#"{"detail":"Token contained no recognizable user identification","code":"token_not_valid"}"#);
    app.get_bearer("/api/stateless/", &raw)
        .await
        .assert(401, r#"{"detail":"Token contained no recognizable user identification","code":"token_not_valid"}"#);
}

#[tokio::test]
async fn a_deleted_user_is_401_user_not_found() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.delete(&user).await;

    let reply = app.get_bearer("/api/protected/", &pair.access).await;

    reply.assert(
        401,
        r#"{"detail":"User not found","code":"user_not_found"}"#,
    );
}

#[tokio::test]
async fn a_user_id_that_is_no_user_is_401_user_not_found() {
    let app = token_app().build().await;
    let token = forge(
        &json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc", "user_id": "x"}),
    );

    app.get_bearer("/api/protected/", &token).await.assert(
        401,
        r#"{"detail":"User not found","code":"user_not_found"}"#,
    );
}

#[tokio::test]
async fn an_inactive_user_is_401_user_inactive() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.deactivate(&user).await;

    let reply = app.get_bearer("/api/protected/", &pair.access).await;

    reply.assert(
        401,
        r#"{"detail":"User is inactive","code":"user_inactive"}"#,
    );
}

#[tokio::test]
async fn stateless_authentication_needs_no_user_row_and_gives_the_id_as_text() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.delete(&user).await;

    let reply = app.get_bearer("/api/stateless/", &pair.access).await;

    reply.assert(200, &format!(r#"{{"user_id":"{}"}}"#, user.id));
}

#[tokio::test]
async fn stateless_authentication_still_checks_the_token_and_the_header() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.get_auth("/api/stateless/", None)
        .await
        .assert(401, NOT_PROVIDED);
    app.get_auth("/api/stateless/", Some("Bearer"))
        .await
        .assert(401, BAD_HEADER);
    app.get_bearer("/api/stateless/", &pair.refresh)
        .await
        .assert(401, &access_refused("Token has wrong type"));
}

#[tokio::test]
async fn admin_route_is_403_for_non_staff_200_for_staff_and_401_for_anonymous() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let staff = NewUser {
        email: "s@x.com".into(),
        is_active: true,
        is_staff: true,
        ..NewUser::default()
    };
    app.create_user_with(staff, PASSWORD).await;
    let plain = app.login("a@x.com", PASSWORD).await;
    let admin = app.login("s@x.com", PASSWORD).await;

    app.get_bearer("/api/admin/", &plain.access)
        .await
        .assert(403, FORBIDDEN);
    app.get_bearer("/api/admin/", &admin.access)
        .await
        .assert(200, r#"{"ok":true}"#);
    app.get_auth("/api/admin/", None)
        .await
        .assert(401, NOT_PROVIDED);
    app.get_bearer("/api/admin/", "garbage")
        .await
        .assert(401, &access_refused("Token is invalid"));
}

#[tokio::test]
async fn a_403_carries_no_www_authenticate() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    let reply = app.get_bearer("/api/admin/", &pair.access).await;

    assert_eq!(reply.status(), 403);
    assert_eq!(reply.header("www-authenticate"), None);
}

#[tokio::test]
async fn custom_header_types_accept_jwt_and_keep_bearer_in_www_authenticate() {
    let app = token_app()
        .settings(|s| s.auth_header_types = vec!["Bearer".into(), "JWT".into()])
        .build()
        .await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.get_auth("/api/protected/", Some(&format!("JWT {}", pair.access)))
        .await
        .ok();
    app.get_auth("/api/protected/", Some(&format!("Bearer {}", pair.access)))
        .await
        .ok();
    app.get_auth("/api/protected/", Some("JWT"))
        .await
        .assert(401, BAD_HEADER);
    let reply = app.get_auth("/api/protected/", None).await;
    reply.assert(401, NOT_PROVIDED);
    assert_eq!(reply.header("www-authenticate"), Some(WWW_AUTHENTICATE));
}

#[tokio::test]
async fn the_first_header_type_names_the_www_authenticate_scheme() {
    let app = token_app()
        .settings(|s| s.auth_header_types = vec!["JWT".into()])
        .build()
        .await;

    let reply = app.get_auth("/api/protected/", None).await;

    assert_eq!(reply.status(), 401);
    assert_eq!(reply.text(), NOT_PROVIDED);
    assert_eq!(reply.header("www-authenticate"), Some(r#"JWT realm="api""#));
}

#[tokio::test]
async fn a_custom_header_name_reads_that_header_only() {
    let app = token_app()
        .settings(|s| s.auth_header_name = "HTTP_X_AUTH".into())
        .build()
        .await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let value = HeaderValue::from_str(&format!("Bearer {}", pair.access)).expect("header value");

    let reply = app
        .get_with_header("/api/protected/", "X-Auth", value)
        .await;

    assert_eq!(reply.ok(), json!({"id": user.id, "email": "a@x.com"}));
    app.get_bearer("/api/protected/", &pair.access)
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn white_space_runs_separate_the_scheme_and_the_token() {
    let app = token_app().build().await;
    app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;

    app.get_auth(
        "/api/protected/",
        Some(&format!("Bearer   {}", pair.access)),
    )
    .await
    .ok();
    app.get_auth("/api/protected/", Some(&format!("Bearer\t{}", pair.access)))
        .await
        .ok();
}

#[tokio::test]
async fn tokens_missing_a_type_or_an_id_are_refused_with_simplejwts_messages() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let id = user.id.to_string();
    let cases = [
        (
            json!({"exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc", "user_id": id}),
            "Token has no type",
        ),
        (
            json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS, "user_id": id}),
            "Token has no id",
        ),
        (
            json!({"token_type": "access", "iat": NOW_SECS, "jti": "abc", "user_id": id}),
            "Token has no 'exp' claim",
        ),
        (
            json!({"token_type": "sliding", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc", "user_id": id}),
            "Token has wrong type",
        ),
    ];

    for (payload, message) in cases {
        app.get_bearer("/api/protected/", &forge(&payload))
            .await
            .assert(401, &access_refused(message));
    }
}

#[tokio::test]
async fn a_token_signed_with_another_hmac_algorithm_is_invalid() {
    let app = token_app().build().await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let payload = json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "abc", "user_id": user.id.to_string()});
    let key = jsonwebtoken::EncodingKey::from_secret(crate::helpers::SIGNING_KEY.as_bytes());
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512);
    let hs512 = jsonwebtoken::encode(&header, &payload, &key).expect("encode");

    app.get_bearer("/api/protected/", &hs512)
        .await
        .assert(401, &access_refused("Token is invalid"));
}

#[tokio::test]
async fn an_inactive_user_authenticates_when_the_active_check_is_off() {
    let app = token_app()
        .settings(|s| s.check_user_is_active = false)
        .build()
        .await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    app.deactivate(&user).await;

    app.get_bearer("/api/protected/", &pair.access).await.ok();
}

#[tokio::test]
async fn audience_and_issuer_come_last_and_are_required() {
    let app = token_app()
        .settings(|s| {
            s.audience = Some(tessera_core::Audience::One("api".into()));
            s.issuer = Some("https://auth.example".into());
        })
        .build()
        .await;
    let user = app.create_user("a@x.com", PASSWORD).await;
    let pair = app.login("a@x.com", PASSWORD).await;
    let id = user.id.to_string();

    assert_eq!(
        crate::helpers::claim_names(&pair.access),
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "user_id",
            "sid",
            "aud",
            "iss"
        ]
    );
    assert_eq!(
        crate::helpers::claim_names(&pair.refresh),
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "user_id",
            "sid",
            "aud",
            "iss"
        ]
    );
    app.get_bearer("/api/protected/", &pair.access).await.ok();
    let access = app.refresh(&pair.refresh).await.field("access");
    assert_eq!(
        crate::helpers::claim_names(&access),
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "user_id",
            "sid",
            "aud",
            "iss"
        ]
    );
    app.get_bearer("/api/protected/", &access).await.ok();
    let no_aud = forge(
        &json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "a", "user_id": id, "iss": "https://auth.example"}),
    );
    let other_iss = forge(
        &json!({"token_type": "access", "exp": NOW_SECS + 60, "iat": NOW_SECS, "jti": "a", "user_id": id, "aud": "api", "iss": "https://evil.example"}),
    );
    for token in [no_aud, other_iss] {
        app.get_bearer("/api/protected/", &token)
            .await
            .assert(401, &access_refused("Token is invalid"));
    }
}
