//! `simplejwt_cutover`: a refresh token made by simplejwt (no `sid`) whose `jti` was
//! imported is adopted once at each refresh route — the token route, the account route and
//! the cookie route — and the blacklist route blacklists one.

use serde_json::json;
use tessera_axum::testing::SIGNING_KEY;
use tessera_core::Timestamp;
use tessera_store::django::{DjangoData, DjangoToken, DjangoUser};

use crate::helpers::{CookieApi, TestApp, browser_app};

/// The error simplejwt gives a blacklisted refresh token.
const BLACKLISTED: &str = r#"{"detail":"Token is blacklisted","code":"token_not_valid"}"#;

/// A refresh token exactly as simplejwt 5.x makes it for user 7, at the app's time.
fn simplejwt_refresh(app: &TestApp, jti: &str) -> String {
    let now = app.now().as_secs();
    let claims = json!({
        "token_type": "refresh",
        "exp": now + 3600,
        "iat": now - 60,
        "jti": jti,
        "user_id": 7,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SIGNING_KEY.as_bytes()),
    )
    .unwrap()
}

/// User 7 and four outstanding tokens (`1…` to `4…`), imported as from Django.
async fn imported_app() -> TestApp {
    let app = browser_app()
        .settings(|s| s.simplejwt_cutover = true)
        .build()
        .await;
    let expires_at = app.now().add_secs(3600);
    let data = DjangoData {
        user_table: "auth_user".into(),
        users: vec![DjangoUser {
            id: 7,
            username: Some("ada".into()),
            email: "ada@example.com".into(),
            first_name: String::new(),
            last_name: String::new(),
            password: "!unusable".into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: Some(Timestamp::from_secs(1_700_000_000)),
            last_login: None,
        }],
        tokens: (1..=4)
            .map(|id| DjangoToken {
                id,
                jti: id.to_string().repeat(32),
                user_id: Some(7),
                expires_at,
                blacklisted: false,
            })
            .collect(),
        ..DjangoData::default()
    };
    let report = app
        .tessera
        .auth()
        .import_django(
            &data,
            &tessera_auth::django_import::ImportOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.tokens.created, 4);
    app
}

#[tokio::test]
async fn every_refresh_route_adopts_a_simplejwt_refresh_token_once() {
    let app = imported_app().await;
    for (digit, path) in [
        ("1", "/api/token/refresh/"),
        ("2", "/api/auth/token/refresh/"),
    ] {
        let raw = simplejwt_refresh(&app, &digit.repeat(32));
        let answer = app
            .client()
            .post(path)
            .json(&json!({"refresh": raw}))
            .send()
            .await
            .ok();
        assert!(
            answer["access"].is_string() && answer["refresh"].is_string(),
            "{answer}"
        );
        // A second tab within `refresh_reuse_grace` gets the same successor …
        let twin = app
            .client()
            .post(path)
            .json(&json!({"refresh": raw}))
            .send()
            .await
            .ok();
        assert_eq!(twin["refresh"], answer["refresh"]);
        // … and past it, the token is reuse.
        app.advance(11);
        app.client()
            .post(path)
            .json(&json!({"refresh": raw}))
            .send()
            .await
            .assert(401, BLACKLISTED);
    }
    let raw = simplejwt_refresh(&app, &"3".repeat(32));
    app.cookie_post("refresh", &[("refresh_token", &raw)], &json!({}))
        .await
        .ok();
    app.advance(11);
    app.cookie_post("refresh", &[("refresh_token", &raw)], &json!({}))
        .await
        .assert_status(401);
}

#[tokio::test]
async fn the_blacklist_route_blacklists_a_simplejwt_refresh_token() {
    let app = imported_app().await;
    let raw = simplejwt_refresh(&app, &"4".repeat(32));
    app.client()
        .post("/api/token/blacklist/")
        .json(&json!({"refresh": raw}))
        .send()
        .await
        .ok();
    app.client()
        .post("/api/token/refresh/")
        .json(&json!({"refresh": raw}))
        .send()
        .await
        .assert(401, BLACKLISTED);
}
