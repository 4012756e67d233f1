//! What a DRF project writes as a `TokenObtainPairSerializer` subclass, said in
//! configuration (`[token_obtain]`, `[token_obtain_sliding]`) or in code (`ObtainHook`), and
//! the token views at the paths of its `urls.py` (`RoutePaths`).

use axum::Router;
use serde_json::{Map, Value, json};
use tessera_auth::accounts::{FieldKind, UserField};
use tessera_auth::obtain::{ObtainHook, ObtainRoute};
use tessera_axum::Tessera;
use tessera_axum::routes::{RoutePaths, api_routes_at, token_routes_at};
use tessera_core::Claims;
use tessera_store::{NewUser, User};

use tessera_auth::datetime::drf_datetime;

use crate::helpers::{Api, NOW, PASSWORD, TestApp, claims, rotating, token_app};

/// Seed-style names and a premium flag staff set.
async fn ada(app: &TestApp) -> User {
    let mut extra = Map::new();
    extra.insert("is_premium".into(), json!(true));
    app.create_user_with(
        NewUser {
            email: "ada@example.com".into(),
            username: Some("ada".into()),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            is_active: true,
            extra,
            ..NewUser::default()
        },
        PASSWORD,
    )
    .await
}

fn premium_field() -> UserField {
    UserField {
        name: "is_premium".into(),
        kind: FieldKind::Boolean,
        required: false,
        max_length: None,
        read_only: true,
        claim: false,
        default: Some(json!(false)),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The seed's `CustomTokenObtainPairSerializer`, in configuration.
fn seed_serializer(accounts: &mut tessera_auth::accounts::AccountSettings) {
    accounts.user_fields = vec![premium_field()];
    accounts.token_obtain.claims = names(&["email", "first_name", "last_name", "full_name"]);
    accounts.token_obtain.response_user =
        names(&["id", "email", "first_name", "last_name", "full_name"]);
}

#[tokio::test]
async fn configured_claims_go_into_both_tokens_and_the_user_into_the_answer() {
    let app = token_app().accounts(seed_serializer).build().await;
    let user = ada(&app).await;

    let reply = app.obtain("ada@example.com", PASSWORD).await;

    let body = reply.ok();
    assert_eq!(reply.keys(), ["refresh", "access", "user"]);
    assert_eq!(
        body["user"],
        json!({"id": user.id, "email": "ada@example.com", "first_name": "Ada",
               "last_name": "Lovelace", "full_name": "Ada Lovelace"})
    );
    for token in [reply.field("refresh"), reply.field("access")] {
        let claims = claims(&token);
        let keys: Vec<&str> = claims.keys().map(String::as_str).collect();
        assert_eq!(
            keys[keys.len() - 4..],
            ["email", "first_name", "last_name", "full_name"]
        );
        assert_eq!(claims["full_name"], json!("Ada Lovelace"));
        assert_eq!(claims["user_id"], json!(user.id.to_string()));
    }
}

#[tokio::test]
async fn a_refreshed_access_token_carries_the_refresh_tokens_claims() {
    for rotate in [false, true] {
        let app = token_app()
            .accounts(seed_serializer)
            .settings(move |s| {
                if rotate {
                    rotating(0)(s);
                }
            })
            .build()
            .await;
        ada(&app).await;
        let pair = app.login("ada@example.com", PASSWORD).await;

        let reply = app.refresh(&pair.refresh).await;

        reply.ok();
        let access = claims(&reply.field("access"));
        assert_eq!(access["email"], json!("ada@example.com"), "rotate={rotate}");
        assert_eq!(access["full_name"], json!("Ada Lovelace"));
        if rotate {
            let successor = claims(&reply.field("refresh"));
            assert_eq!(successor["first_name"], json!("Ada"));
            // And the successor's own refresh carries them on.
            let again = app.refresh(&reply.field("refresh")).await;
            assert_eq!(
                claims(&again.field("access"))["last_name"],
                json!("Lovelace")
            );
        }
    }
}

#[tokio::test]
async fn the_sliding_route_has_its_own_configuration() {
    let app = token_app()
        .accounts(|accounts| {
            seed_serializer(accounts);
            accounts.token_obtain_sliding.claims = names(&["username", "is_premium"]);
            accounts.token_obtain_sliding.response_user = names(&["username", "date_joined"]);
        })
        .build()
        .await;
    ada(&app).await;

    let reply = app.obtain_sliding("ada@example.com", PASSWORD).await;

    let body = reply.ok();
    assert_eq!(reply.keys(), ["token", "user"]);
    assert_eq!(body["user"]["username"], json!("ada"));
    assert_eq!(body["user"]["date_joined"], json!(drf_datetime(NOW)));
    let token = claims(&reply.field("token"));
    assert_eq!(token["username"], json!("ada"));
    assert_eq!(token["is_premium"], json!(true));
    assert!(token.get("email").is_none(), "{token:?}");

    // A refreshed sliding token keeps the configured claims.
    let refreshed = app.refresh_sliding(&reply.field("token")).await;
    let token = claims(&refreshed.field("token"));
    assert_eq!(token["username"], json!("ada"));
    assert_eq!(token["is_premium"], json!(true));
    assert!(token.get("email").is_none(), "{token:?}");
}

#[tokio::test]
async fn without_configuration_the_answer_and_claims_are_simplejwts() {
    let app = token_app().build().await;
    ada(&app).await;

    let reply = app.obtain("ada@example.com", PASSWORD).await;

    reply.ok();
    assert_eq!(reply.keys(), ["refresh", "access"]);
    let keys: Vec<String> = claims(&reply.field("access")).keys().cloned().collect();
    assert_eq!(keys, ["token_type", "exp", "iat", "jti", "user_id", "sid"]);
}

/// seed 003's `get_token` with a computed claim, and a `validate` adding to the answer —
/// and trying to replace what it must not.
struct Roles;

impl ObtainHook for Roles {
    fn claims(&self, user: &User, route: ObtainRoute, claims: &mut Claims) {
        let role = if user.is_staff { "staff" } else { "member" };
        claims.insert("role".into(), json!(role));
        claims.insert("route".into(), json!(format!("{route:?}")));
        claims.insert("user_id".into(), json!("999"));
    }

    fn answer(&self, user: &User, _route: ObtainRoute, answer: &mut Map<String, Value>) {
        answer.insert(
            "greeting".into(),
            json!(format!("Hello, {}", user.first_name)),
        );
        answer.insert("access".into(), json!("forged"));
    }
}

#[tokio::test]
async fn a_code_hook_adds_claims_and_answer_fields_but_replaces_no_token() {
    let app = token_app()
        .accounts(seed_serializer)
        .obtain_hook(Roles)
        .build()
        .await;
    let user = ada(&app).await;

    let reply = app.obtain("ada@example.com", PASSWORD).await;

    let body = reply.ok();
    assert_eq!(reply.keys(), ["refresh", "access", "user", "greeting"]);
    assert_eq!(body["greeting"], json!("Hello, Ada"));
    let access = claims(&reply.field("access"));
    assert_eq!(access["role"], json!("member"));
    assert_eq!(access["route"], json!("Pair"));
    assert_eq!(access["user_id"], json!(user.id.to_string()));
    // The access token answered is the one issued: it authenticates.
    app.get_bearer("/api/protected/", &reply.field("access"))
        .await
        .ok();

    let sliding = app.obtain_sliding("ada@example.com", PASSWORD).await;
    sliding.ok();
    assert_eq!(claims(&sliding.field("token"))["route"], json!("Sliding"));
}

/// seed 002's `urls.py`: the token views at the site's root, under names of its own.
fn seed_paths() -> RoutePaths {
    RoutePaths {
        prefix: "/api/v1/".into(),
        token_obtain: "/gettoken/".into(),
        token_refresh: "/refreshtoken/".into(),
        token_verify: "/verifytoken/".into(),
        token_sliding: String::new(),
        ..RoutePaths::default()
    }
}

#[tokio::test]
async fn the_token_views_answer_at_the_configured_paths_only() {
    let paths = seed_paths();
    let app = TestApp::builder()
        .merge(api_routes_at::<Tessera>(&paths))
        .build()
        .await;
    ada(&app).await;
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD});

    let reply = app.post_json("/gettoken/", &credentials).await;
    reply.ok();
    let (refresh, access) = (reply.field("refresh"), reply.field("access"));
    app.post_json("/refreshtoken/", &json!({"refresh": refresh}))
        .await
        .ok();
    app.post_json("/verifytoken/", &json!({"token": access}))
        .await
        .assert(200, "{}");
    // Relative paths follow the prefix; the rest of the API is under it too.
    app.post_json("/api/v1/token/blacklist/", &json!({"refresh": refresh}))
        .await
        .assert(200, "{}");
    app.post_json("/api/v1/auth/login/", &credentials)
        .await
        .ok();
    // Nothing at the default paths, nor at a view left out.
    for path in ["/api/token/", "/api/v1/token/", "/api/v1/token/sliding/"] {
        app.post_json(path, &credentials).await.assert_status(404);
    }
}

#[tokio::test]
async fn the_default_paths_serve_what_nesting_api_routes_serves() {
    let app = TestApp::builder()
        .merge(api_routes_at::<Tessera>(&RoutePaths::default()))
        .build()
        .await;
    ada(&app).await;

    app.obtain("ada@example.com", PASSWORD).await.ok();
    app.obtain_sliding("ada@example.com", PASSWORD).await.ok();
    app.account_login("ada@example.com", PASSWORD).await.ok();
    // Only the token views, at their own paths, in an application of its own.
    let only: Router<Tessera> = token_routes_at(&seed_paths());
    let app = TestApp::builder().merge(only).build().await;
    ada(&app).await;
    app.post_json(
        "/gettoken/",
        &json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await
    .ok();
    app.post_json(
        "/api/v1/auth/login/",
        &json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await
    .assert_status(404);
}
