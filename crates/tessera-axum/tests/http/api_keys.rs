//! API keys (`Authorization: Api-Key <prefix>.<secret>`): the routes that create, list and
//! revoke them, the extractors that take them (`AuthUser`, `SessionUser`, `ApiKeyUser`,
//! `HasScope`), every refusal (the account and admin routes refuse keys), the privilege
//! rules on superusers' keys, revocation by a password change or reset, the audit events,
//! the throttles, the client-credentials grant (`POST /api/token/client/`), and
//! revocation seen at once by a second instance.

use axum::Json;
use axum::http::Method;
use axum::routing::get;
use serde_json::{Value, json};
use tessera_axum::routes::{admin_routes, api_key_routes, api_routes, jwks_routes, token_routes};
use tessera_axum::testing::{TestAppBuilder, TestDatabase};
use tessera_axum::{ApiKeyUser, AuthUser, AuthVia, HasScope, Require, Scope, SessionUser};
use tessera_core::{Algorithm, Settings};
use tessera_store::{AuditFilter, NewUser, User};

use crate::helpers::{
    Api, CookieApi, NOT_FOUND, NOT_PROVIDED, PASSWORD, Reply, TestApp, WWW_AUTHENTICATE,
};

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const KEYS: &str = "/api/auth/api-keys/";
const CLIENT: &str = "/api/token/client/";
const INVALID_KEY: &str = r#"{"detail":"Invalid API key.","code":"api_key_not_valid"}"#;
const SESSION_REQUIRED: &str = r#"{"detail":"This route needs a login session, not an API key."}"#;
const KEY_REQUIRED: &str =
    r#"{"detail":"This route requires an API key.","code":"api_key_required"}"#;
const DENIED: &str = r#"{"detail":"You do not have permission to perform this action."}"#;

/// The scope `orders:write`.
struct WriteOrders;

impl Scope for WriteOrders {
    const NAME: &'static str = "orders:write";
}

/// `GET /api/whoami/`: any credential (`AuthUser`).
async fn whoami(auth: AuthUser) -> Json<Value> {
    Json(json!({
        "id": auth.user.id,
        "via": if auth.via == AuthVia::ApiKey { "api_key" } else { "token" },
        "prefix": auth.api_key.as_ref().map(|k| k.prefix.clone()),
        "scopes": auth.scopes(),
    }))
}

/// `GET /api/jwt-only/`: the credentials of a login only (`SessionUser`).
async fn jwt_only(auth: SessionUser) -> Json<Value> {
    Json(json!({"id": auth.user.id}))
}

/// `GET /api/key-only/`: keys only (`ApiKeyUser`).
async fn key_only(auth: ApiKeyUser) -> Json<Value> {
    Json(json!({"id": auth.user.id, "prefix": auth.api_key.prefix}))
}

/// `GET /api/orders/`: credentials granting `orders:write`.
async fn orders(auth: Require<HasScope<WriteOrders>>) -> Json<Value> {
    Json(json!({"id": auth.user.id}))
}

/// The token and API key routes, the JWKS and four protected views.
fn keys_app() -> TestAppBuilder {
    TestApp::builder()
        .nest(
            "/api",
            token_routes().merge(api_key_routes()).merge(admin_routes()),
        )
        .merge(jwks_routes())
        .route("/api/whoami/", get(whoami))
        .route("/api/jwt-only/", get(jwt_only))
        .route("/api/key-only/", get(key_only))
        .route("/api/orders/", get(orders))
}

async fn staff(app: &TestApp, email: &str) -> User {
    let new = NewUser {
        email: email.into(),
        is_active: true,
        is_staff: true,
        ..NewUser::default()
    };
    app.create_user_with(new, PASSWORD).await
}

/// A request with `Authorization: Api-Key <key>`.
async fn with_key(app: &TestApp, method: Method, path: &str, key: &str) -> Reply {
    app.send(
        app.request(method, path)
            .header("authorization", format!("Api-Key {key}")),
    )
    .await
}

/// Creates a key through the API with a login of `email`; returns the 201 body.
async fn create_key(app: &TestApp, email: &str, body: Value) -> Value {
    let pair = app.login(email, PASSWORD).await;
    let reply = app
        .send(
            app.request(Method::POST, KEYS)
                .bearer_auth(&pair.access)
                .json(&body),
        )
        .await;
    reply.assert_status(201);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    reply.json()
}

fn key_of(body: &Value) -> String {
    body["key"].as_str().expect("the key").to_owned()
}

/// The events named `name` so far.
async fn events(app: &TestApp, name: &str) -> Vec<tessera_store::AuditEvent> {
    app.tessera.auth().audit_log().flush().await;
    let filter = AuditFilter {
        event: Some(name.into()),
        ..AuditFilter::default()
    };
    app.tessera
        .auth()
        .store()
        .list_audit_events(&filter, 100, 0)
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn a_user_creates_a_key_sees_it_once_uses_it_and_revokes_it() {
    let app = keys_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;

    let created = create_key(&app, ADA, json!({"name": "deploy bot"})).await;
    let mut fields: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "created_at",
            "expires_at",
            "id",
            "key",
            "last_used_at",
            "name",
            "prefix",
            "revoked_at",
            "scopes"
        ]
    );
    let key = key_of(&created);
    let (prefix, secret) = key.split_once('.').unwrap();
    assert_eq!((prefix.len(), secret.len()), (8, 32));
    assert_eq!(created["prefix"], prefix);
    assert_eq!(created["name"], "deploy bot");
    assert_eq!(created["scopes"], json!([]));
    assert_eq!(created["expires_at"], Value::Null);
    // Stored as a keyed hash only.
    let stored = app
        .tessera
        .auth()
        .store()
        .api_key_by_prefix(prefix)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.hash.len(), 64);
    assert!(!stored.hash.contains(secret));

    // The key authenticates as Ada.
    let me = with_key(&app, Method::GET, "/api/whoami/", &key).await.ok();
    assert_eq!(
        me,
        json!({"id": ada.id, "via": "api_key", "prefix": prefix, "scopes": []})
    );

    // Listed (a page) without the key, with its last use.
    let pair = app.login(ADA, PASSWORD).await;
    let page = app.get_bearer(KEYS, &pair.access).await.ok();
    assert_eq!(
        (&page["count"], &page["next"], &page["previous"]),
        (&json!(1), &Value::Null, &Value::Null)
    );
    let list = page["results"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].get("key").is_none(), "{}", list[0]);
    assert_eq!(list[0]["prefix"], prefix);
    assert!(list[0]["last_used_at"].is_string());
    // The key itself does not list keys.
    with_key(&app, Method::GET, KEYS, &key)
        .await
        .assert(403, SESSION_REQUIRED);

    // Revoked: 204, refused at once, still listed as revoked; revoking again is 204.
    let path = format!("{KEYS}{prefix}/");
    let revoke = app
        .send(app.request(Method::DELETE, &path).bearer_auth(&pair.access))
        .await;
    revoke.assert_status(204);
    let refused = with_key(&app, Method::GET, "/api/whoami/", &key).await;
    refused.assert(401, INVALID_KEY);
    assert_eq!(refused.header("www-authenticate"), Some(WWW_AUTHENTICATE));
    let list = app.get_bearer(KEYS, &pair.access).await.ok();
    assert!(list["results"][0]["revoked_at"].is_string());
    app.send(app.request(Method::DELETE, &path).bearer_auth(&pair.access))
        .await
        .assert_status(204);

    let created = events(&app, "api_key.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].user_id, Some(ada.id));
    assert_eq!(created[0].detail_json().unwrap()["prefix"], prefix);
    assert_eq!(events(&app, "api_key.revoked").await.len(), 2);
}

/// The account page's way: a cookie-mode login creates and revokes keys, with the CSRF
/// header; without it the change is refused.
#[tokio::test]
async fn the_access_cookie_creates_and_revokes_keys_with_the_csrf_header() {
    let app = keys_app()
        .nest("/api", tessera_axum::routes::cookie_routes())
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    let browser = app.cookie_session(ADA, PASSWORD).await;
    let cookies = [
        ("access_token", browser.access.as_str()),
        ("csrftoken", browser.csrf.as_str()),
    ];

    // From another site, or with a CSRF header that is not the cookie's: refused.
    let cross_site = app
        .send(
            app.with_cookies(Method::POST, KEYS, &cookies)
                .header("origin", "https://evil.example")
                .json(&json!({"name": "page"})),
        )
        .await;
    assert_eq!(cross_site.status(), 403, "{}", cross_site.text());
    assert!(
        cross_site.text().contains("CSRF Failed"),
        "{}",
        cross_site.text()
    );
    let forged = app
        .send(
            app.with_cookies(Method::POST, KEYS, &cookies)
                .header("x-csrftoken", "not-the-cookie")
                .json(&json!({"name": "page"})),
        )
        .await;
    assert_eq!(forged.status(), 403, "{}", forged.text());
    assert!(
        app.tessera
            .auth()
            .store()
            .list_api_keys(10, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let created = app
        .send(
            app.with_cookies(Method::POST, KEYS, &cookies)
                .header("x-csrftoken", &browser.csrf)
                .json(&json!({"name": "page"})),
        )
        .await;
    created.assert_status(201);
    let key = key_of(&created.json());
    let list = app
        .send(app.with_cookies(Method::GET, KEYS, &cookies))
        .await
        .ok();
    assert_eq!(list["results"][0]["prefix"], &key[..8]);
    app.send(
        app.with_cookies(Method::DELETE, &format!("{KEYS}{}/", &key[..8]), &cookies)
            .header("x-csrftoken", &browser.csrf),
    )
    .await
    .assert_status(204);
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert(401, INVALID_KEY);
}

#[tokio::test]
async fn keys_can_be_limited_in_time_and_scope() {
    let app = keys_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let expires = tessera_auth::datetime::drf_datetime(app.now().add_secs(60));
    let created = create_key(
        &app,
        ADA,
        json!({"name": "ci", "expires_at": expires, "scopes": ["orders:read", "orders:read"]}),
    )
    .await;
    assert_eq!(created["expires_at"], expires);
    assert_eq!(created["scopes"], json!(["orders:read"]));
    let key = key_of(&created);

    // A scope the key lacks is refused on the routes that check it; other routes let it in.
    with_key(&app, Method::GET, "/api/orders/", &key)
        .await
        .assert(403, DENIED);
    let me = with_key(&app, Method::GET, "/api/whoami/", &key).await.ok();
    assert_eq!(me["scopes"], json!(["orders:read"]));
    // A key with the scope, a key without scopes, and a login's token pass.
    let writer =
        key_of(&create_key(&app, ADA, json!({"name": "w", "scopes": "orders:write"})).await);
    with_key(&app, Method::GET, "/api/orders/", &writer)
        .await
        .assert_status(200);
    let unlimited = key_of(&create_key(&app, ADA, json!({"name": "all"})).await);
    with_key(&app, Method::GET, "/api/orders/", &unlimited)
        .await
        .assert_status(200);
    let pair = app.login(ADA, PASSWORD).await;
    app.get_bearer("/api/orders/", &pair.access)
        .await
        .assert_status(200);

    // At its expiry the key is refused.
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert_status(200);
    app.advance(60);
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert(401, INVALID_KEY);
}

#[tokio::test]
async fn bad_keys_are_refused_with_one_answer() {
    let app = keys_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    let (prefix, secret) = key.split_once('.').unwrap();
    let last = if secret.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{prefix}.{}{last}", &secret[..31]);
    let unknown_prefix = format!(
        "{}.{secret}",
        if prefix == "AAAAAAAA" {
            "BBBBBBBB"
        } else {
            "AAAAAAAA"
        }
    );
    for bad in [
        tampered.as_str(),
        unknown_prefix.as_str(),
        &key[..40],
        &format!("{key}x"),
        &key.replace('.', "-"),
        "",
    ] {
        app.get_auth("/api/whoami/", Some(&format!("Api-Key {bad}")))
            .await
            .assert(401, INVALID_KEY);
    }
    // Two values after the scheme, and the scheme in another case.
    app.get_auth("/api/whoami/", Some(&format!("Api-Key {key} {key}")))
        .await
        .assert(401, INVALID_KEY);
    app.get_auth("/api/whoami/", Some(&format!("api-key {key}")))
        .await
        .assert_status(200);
    // Nothing was recorded for the refusals but the one good use.
    let stored = app
        .tessera
        .auth()
        .store()
        .api_key_by_prefix(prefix)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.last_used_at.is_some());
}

#[tokio::test]
async fn the_key_of_an_inactive_or_deleted_user_is_refused() {
    let app = keys_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    let store = app.tessera.auth().store();
    let inactive = tessera_store::UserFlags {
        is_active: Some(false),
        ..Default::default()
    };
    store.set_user_flags(ada.id, &inactive).await.unwrap();
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert(401, INVALID_KEY);
    store.delete_user(ada.id).await.unwrap();
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert(401, INVALID_KEY);
}

#[tokio::test]
async fn routes_can_require_a_token_or_a_key() {
    let app = keys_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    let pair = app.login(ADA, PASSWORD).await;

    with_key(&app, Method::GET, "/api/jwt-only/", &key)
        .await
        .assert(403, SESSION_REQUIRED);
    app.get_bearer("/api/jwt-only/", &pair.access)
        .await
        .assert_status(200);

    app.get_bearer("/api/key-only/", &pair.access)
        .await
        .assert(401, KEY_REQUIRED);
    app.get_auth("/api/key-only/", None)
        .await
        .assert(401, KEY_REQUIRED);
    let body = with_key(&app, Method::GET, "/api/key-only/", &key)
        .await
        .ok();
    assert_eq!(body["id"], ada.id);
    assert_eq!(body["prefix"], &key[..8]);
}

#[tokio::test]
async fn a_key_cannot_mint_keys_and_anonymous_callers_are_refused() {
    let app = keys_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    let by_key = app
        .send(
            app.request(Method::POST, KEYS)
                .header("authorization", format!("Api-Key {key}"))
                .json(&json!({"name": "child"})),
        )
        .await;
    by_key.assert(403, SESSION_REQUIRED);
    // Nor can a token minted from a key.
    let access = app
        .send(
            app.request(Method::POST, CLIENT)
                .header("authorization", format!("Api-Key {key}")),
        )
        .await
        .field("access");
    let by_token = app
        .send(
            app.request(Method::POST, KEYS)
                .bearer_auth(&access)
                .json(&json!({"name": "child"})),
        )
        .await;
    by_token.assert(403, SESSION_REQUIRED);

    app.get_auth(KEYS, None).await.assert(401, NOT_PROVIDED);
    app.post_json(KEYS, &json!({"name": "x"}))
        .await
        .assert(401, NOT_PROVIDED);
    app.send(app.request(Method::DELETE, &format!("{KEYS}{}/", &key[..8])))
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn bad_requests_are_field_errors_and_other_users_keys_are_not_found() {
    let app = keys_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    app.create_user(BOB, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let past = tessera_auth::datetime::drf_datetime(app.now());
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "x".repeat(51)}), "name"),
        (json!({"name": "bell\u{7}"}), "name"),
        (json!({"name": "two\nlines"}), "name"),
        (json!({"name": "x", "expires_at": past}), "expires_at"),
        (json!({"name": "x", "expires_at": "tomorrow"}), "expires_at"),
        (json!({"name": "x", "scopes": ["has space"]}), "scopes"),
        (json!({"name": "x", "scopes": [1]}), "scopes"),
    ] {
        let reply = app
            .send(
                app.request(Method::POST, KEYS)
                    .bearer_auth(&pair.access)
                    .json(&body),
            )
            .await;
        reply.assert_status(400);
        assert!(
            reply.json().get(field).is_some(),
            "{body}: {}",
            reply.text()
        );
    }

    let bobs = key_of(&create_key(&app, BOB, json!({"name": "bob's"})).await);
    for path in [
        format!("{KEYS}{}/", &bobs[..8]),
        format!("{KEYS}unknown0/"),
        format!("{KEYS}a%20b/"),
    ] {
        app.send(app.request(Method::DELETE, &path).bearer_auth(&pair.access))
            .await
            .assert(404, NOT_FOUND);
    }
    with_key(&app, Method::GET, "/api/whoami/", &bobs)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_live_keys() {
    let app = keys_app()
        .throttling(|t: &mut tessera_axum::ThrottleSettings| {
            t.throttle_rates.remove("api_key_create");
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let max = app.tessera.auth().api_key_settings().api_key_max_per_user;
    let ada = app
        .tessera
        .auth()
        .store()
        .user_by_email(ADA)
        .await
        .unwrap()
        .unwrap();
    for i in 0..max {
        let request = tessera_auth::api_keys::ApiKeyRequest {
            name: format!("k{i}"),
            ..Default::default()
        };
        app.tessera
            .auth()
            .create_api_key(
                &ada,
                &request,
                tessera_auth::audit::Audit::new("api_key.created"),
            )
            .await
            .unwrap();
    }
    let reply = app
        .send(
            app.request(Method::POST, KEYS)
                .bearer_auth(&pair.access)
                .json(&json!({"name": "one more"})),
        )
        .await;
    reply.assert_status(400);
    assert!(
        reply.text().contains("revoke one first"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn staff_list_and_revoke_anyones_keys() {
    let app = keys_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let admin = staff(&app, "admin@example.com").await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    create_key(&app, "admin@example.com", json!({"name": "mine"})).await;
    let staff_pair = app.login("admin@example.com", PASSWORD).await;
    let ada_pair = app.login(ADA, PASSWORD).await;

    let all = app
        .get_bearer("/api/admin/api-keys/", &staff_pair.access)
        .await
        .ok();
    assert_eq!(all["count"], 2);
    assert_eq!(all["results"].as_array().unwrap().len(), 2);
    let adas = app
        .get_bearer(
            &format!("/api/admin/api-keys/?user={}", ada.id),
            &staff_pair.access,
        )
        .await
        .ok();
    let adas = adas["results"].as_array().unwrap();
    assert_eq!(adas.len(), 1);
    assert_eq!(adas[0]["user_id"], ada.id);
    assert_eq!(adas[0]["prefix"], &key[..8]);
    app.get_bearer("/api/admin/api-keys/?user=x", &staff_pair.access)
        .await
        .assert_status(400);
    // Not for users.
    app.get_bearer("/api/admin/api-keys/", &ada_pair.access)
        .await
        .assert(403, DENIED);
    app.send(
        app.request(
            Method::DELETE,
            &format!("/api/admin/api-keys/{}/", &key[..8]),
        )
        .bearer_auth(&ada_pair.access),
    )
    .await
    .assert(403, DENIED);

    app.send(
        app.request(
            Method::DELETE,
            &format!("/api/admin/api-keys/{}/", &key[..8]),
        )
        .bearer_auth(&staff_pair.access),
    )
    .await
    .assert_status(204);
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert(401, INVALID_KEY);
    app.send(
        app.request(Method::DELETE, "/api/admin/api-keys/unknown0/")
            .bearer_auth(&staff_pair.access),
    )
    .await
    .assert(404, NOT_FOUND);
    let revoked = events(&app, "api_key.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        (revoked[0].user_id, revoked[0].actor_id),
        (Some(ada.id), Some(admin.id))
    );
}

#[tokio::test]
async fn uses_are_recorded_once_a_minute_and_a_new_address_is_audited() {
    let app = keys_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    let prefix = &key[..8];
    let store = app.tessera.auth().store().clone();
    let get_from = |ip: [u8; 4]| {
        app.client_from(ip)
            .get("/api/whoami/")
            .header("authorization", format!("Api-Key {key}"))
    };
    get_from([10, 0, 0, 1]).send().await.assert_status(200);
    let first = store.api_key_by_prefix(prefix).await.unwrap().unwrap();
    assert_eq!(first.last_used_ip.as_deref(), Some("10.0.0.1"));
    app.advance(30);
    get_from([10, 0, 0, 1]).send().await.assert_status(200);
    let same = store.api_key_by_prefix(prefix).await.unwrap().unwrap();
    assert_eq!(same.last_used_at, first.last_used_at);
    app.advance(30);
    get_from([10, 0, 0, 1]).send().await.assert_status(200);
    let later = store.api_key_by_prefix(prefix).await.unwrap().unwrap();
    assert_eq!(later.last_used_at, Some(app.now()));

    app.advance(60);
    get_from([10, 0, 0, 2]).send().await.assert_status(200);
    let moved = events(&app, "api_key.used_new_ip").await;
    // The first use ever, and the move.
    assert_eq!(moved.len(), 2, "{moved:?}");
    let newest = &moved[0];
    assert_eq!(newest.ip.as_deref(), Some("10.0.0.2"));
    assert_eq!(newest.detail_json().unwrap()["previous_ip"], "10.0.0.1");
}

/// A key alternating between two addresses is written, and audited, at most once a minute —
/// not once a request.
#[tokio::test]
async fn a_key_alternating_between_addresses_is_audited_at_most_once_a_minute() {
    let app = keys_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    let get_from = |ip: [u8; 4]| {
        app.client_from(ip)
            .get("/api/whoami/")
            .header("authorization", format!("Api-Key {key}"))
    };
    for _ in 0..5 {
        get_from([10, 0, 0, 1]).send().await.assert_status(200);
        get_from([10, 0, 0, 2]).send().await.assert_status(200);
        app.advance(5);
    }
    // The first use only, within the minute.
    assert_eq!(events(&app, "api_key.used_new_ip").await.len(), 1);
    let stored = app
        .tessera
        .auth()
        .store()
        .api_key_by_prefix(&key[..8])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_used_ip.as_deref(), Some("10.0.0.1"));
    app.advance(60);
    get_from([10, 0, 0, 2]).send().await.assert_status(200);
    get_from([10, 0, 0, 1]).send().await.assert_status(200);
    assert_eq!(events(&app, "api_key.used_new_ip").await.len(), 2);
}

#[tokio::test]
async fn the_client_credentials_grant_trades_a_key_for_an_access_token() {
    let app = keys_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let key = key_of(
        &create_key(
            &app,
            ADA,
            json!({"name": "svc", "scopes": ["orders:write"]}),
        )
        .await,
    );

    // In the header.
    let reply = app
        .send(
            app.request(Method::POST, CLIENT)
                .header("authorization", format!("Api-Key {key}")),
        )
        .await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.ok();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let access = body["access"].as_str().unwrap().to_owned();
    let claims = crate::helpers::claims(&access);
    assert_eq!(claims["token_type"], "access");
    assert_eq!(claims["user_id"], ada.id.to_string());
    assert_eq!(claims["scope"], "orders:write");
    assert_eq!(claims["client_id"], &key[..8]);
    assert!(claims.get("sid").is_none());
    app.verify(&access).await.assert(200, "{}");
    let me = app.get_bearer("/api/whoami/", &access).await.ok();
    assert_eq!(me["via"], "token");
    assert_eq!(me["scopes"], json!(["orders:write"]));
    app.get_bearer("/api/orders/", &access)
        .await
        .assert_status(200);

    // In a JSON body, and in an OAuth 2.0 form.
    app.post_json(CLIENT, &json!({"client_secret": key}))
        .await
        .ok();
    app.send(app.request(Method::POST, CLIENT).form(&[
        ("grant_type", "client_credentials"),
        ("client_secret", key.as_str()),
    ]))
    .await
    .ok();

    // Refusals.
    app.post_json(CLIENT, &json!({}))
        .await
        .assert(401, NOT_PROVIDED);
    app.post_json(CLIENT, &json!({"client_secret": "nope"}))
        .await
        .assert(401, INVALID_KEY);
    app.send(
        app.request(Method::POST, CLIENT)
            .form(&[("grant_type", "password"), ("client_secret", key.as_str())]),
    )
    .await
    .assert_status(400);
    app.send(app.request(Method::GET, CLIENT))
        .await
        .assert_status(405);
    let pair = app.login(ADA, PASSWORD).await;
    app.send(app.request(Method::POST, CLIENT).bearer_auth(&pair.access))
        .await
        .assert(401, NOT_PROVIDED);
    let path = format!("{KEYS}{}/", &key[..8]);
    app.send(app.request(Method::DELETE, &path).bearer_auth(&pair.access))
        .await
        .assert_status(204);
    app.post_json(CLIENT, &json!({"client_secret": key}))
        .await
        .assert(401, INVALID_KEY);
    // Its tokens end with it where the user is loaded; stateless checks hold to `exp`.
    app.get_bearer("/api/whoami/", &access)
        .await
        .assert(401, INVALID_KEY);
    app.verify(&access).await.assert(200, "{}");
}

#[tokio::test]
async fn the_client_credentials_grant_is_throttled_per_address_when_given_a_rate() {
    let app = keys_app()
        .throttling(|t: &mut tessera_axum::ThrottleSettings| {
            t.throttle_rates
                .insert("client_token".into(), "2/min".into());
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "svc"})).await);
    let from = |ip: [u8; 4]| {
        app.client_from(ip)
            .post(CLIENT)
            .json(&json!({"client_secret": key}))
    };
    from([10, 0, 0, 1]).send().await.assert_status(200);
    // A wrong key counts too: guessing is throttled like using.
    app.client_from([10, 0, 0, 1])
        .post(CLIENT)
        .json(&json!({"client_secret": "nope"}))
        .send()
        .await
        .assert_status(401);
    from([10, 0, 0, 1]).send().await.assert_status(429);
    from([10, 0, 0, 2]).send().await.assert_status(200);
}

#[tokio::test]
async fn a_client_token_verifies_through_the_jwks() {
    let pem = tessera_core::generate_private_key(Algorithm::EdDSA).unwrap();
    let app = keys_app()
        .settings(move |s: &mut Settings| {
            s.algorithm = Algorithm::EdDSA;
            s.signing_key = Some(pem);
            s.signing_key_id = Some("ed-1".into());
        })
        .build()
        .await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "svc"})).await);
    let access = app
        .post_json(CLIENT, &json!({"client_secret": key}))
        .await
        .field("access");

    let jwks = app.client().get("/.well-known/jwks.json").send().await.ok();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_exp = false;
    let claims =
        jsonwebtoken::decode::<serde_json::Map<String, Value>>(&access, &decoding, &validation)
            .unwrap()
            .claims;
    assert_eq!(claims["user_id"], ada.id.to_string());
    assert_eq!(claims["client_id"], &key[..8]);
    // A forged signature does not verify.
    let mut forged = access.clone();
    forged.pop();
    forged.push(if access.ends_with('A') { 'B' } else { 'A' });
    assert!(
        jsonwebtoken::decode::<serde_json::Map<String, Value>>(&forged, &decoding, &validation)
            .is_err()
    );
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_at_once_by_another() {
    let Some(database) = TestDatabase::postgres(
        "api_keys::a_key_revoked_on_one_instance_is_refused_at_once_by_another",
    )
    .await
    else {
        return;
    };
    let first = keys_app().database(database).build().await;
    let second = keys_app()
        .same_database(&first)
        .same_clock(&first)
        .build()
        .await;
    first.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&first, ADA, json!({"name": "shared"})).await);

    // The second instance has the same secret (the same signing key here) and the same rows.
    with_key(&second, Method::GET, "/api/whoami/", &key)
        .await
        .assert_status(200);
    let pair = first.login(ADA, PASSWORD).await;
    first
        .send(
            first
                .request(Method::DELETE, &format!("{KEYS}{}/", &key[..8]))
                .bearer_auth(&pair.access),
        )
        .await
        .assert_status(204);
    with_key(&second, Method::GET, "/api/whoami/", &key)
        .await
        .assert(401, INVALID_KEY);
    second
        .post_json(CLIENT, &json!({"client_secret": key}))
        .await
        .assert(401, INVALID_KEY);
}

/// Every router of the library under `/api`, and the protected views of [`keys_app`].
fn full_app() -> TestAppBuilder {
    TestApp::builder()
        .nest("/api", api_routes())
        .route("/api/whoami/", get(whoami))
        .route("/api/orders/", get(orders))
}

/// A user with the given flags.
async fn user_with(app: &TestApp, email: &str, is_staff: bool, is_superuser: bool) -> User {
    let new = NewUser {
        email: email.into(),
        is_active: true,
        is_staff,
        is_superuser,
        ..NewUser::default()
    };
    app.create_user_with(new, PASSWORD).await
}

/// An access token minted from `key` (`POST /api/token/client/`).
async fn minted(app: &TestApp, key: &str) -> String {
    app.post_json(CLIENT, &json!({ "client_secret": key }))
        .await
        .field("access")
}

/// Keys and the tokens minted from them are for the application's routes: every route that
/// manages the account or administers the service refuses them with 403, even a staff
/// member's; reading the profile takes one.
#[tokio::test]
async fn keys_and_their_tokens_are_refused_on_the_account_and_admin_routes() {
    let app = full_app().build().await;
    let root = user_with(&app, "root@example.com", true, true).await;
    let key = key_of(&create_key(&app, "root@example.com", json!({"name": "k"})).await);
    let access = minted(&app, &key).await;
    let prefix = &key[..8];
    let password = json!({
        "old_password": PASSWORD,
        "new_password": "difference engine 1822",
        "new_password_confirm": "difference engine 1822",
    });
    let refused = [
        (
            Method::POST,
            "/api/auth/logout/".to_owned(),
            json!({"refresh": "x"}),
        ),
        (Method::POST, "/api/auth/logout/all/".into(), json!({})),
        (Method::POST, "/api/auth/password/change/".into(), password),
        (
            Method::PUT,
            "/api/auth/profile/".into(),
            json!({"first_name": "R"}),
        ),
        (
            Method::PATCH,
            "/api/auth/profile/".into(),
            json!({"first_name": "R"}),
        ),
        (Method::POST, "/api/auth/ws-ticket/".into(), json!({})),
        (
            Method::POST,
            "/api/auth/email/change/".into(),
            json!({"new_email": "new@example.com", "password": PASSWORD}),
        ),
        (Method::GET, "/api/auth/sessions/".into(), json!({})),
        (
            Method::DELETE,
            "/api/auth/sessions/abcdef/".into(),
            json!({}),
        ),
        (Method::GET, KEYS.into(), json!({})),
        (Method::POST, KEYS.into(), json!({"name": "child"})),
        (Method::DELETE, format!("{KEYS}{prefix}/"), json!({})),
        (Method::GET, "/api/admin/users/".into(), json!({})),
        (
            Method::GET,
            format!("/api/admin/users/{}/", root.id),
            json!({}),
        ),
        (Method::GET, "/api/admin/api-keys/".into(), json!({})),
        (
            Method::DELETE,
            format!("/api/admin/api-keys/{prefix}/"),
            json!({}),
        ),
        (Method::GET, "/api/admin/groups/".into(), json!({})),
        (Method::GET, "/api/admin/audit/".into(), json!({})),
        (Method::GET, "/api/admin/keys/".into(), json!({})),
        // Second factors, passkeys and linked identities: a key must not turn TOTP on and
        // keep the recovery codes, nor read what guards the account.
        (Method::GET, "/api/auth/mfa/".into(), json!({})),
        (Method::POST, "/api/auth/mfa/totp/setup/".into(), json!({})),
        (
            Method::POST,
            "/api/auth/mfa/totp/confirm/".into(),
            json!({"code": "123456"}),
        ),
        (
            Method::POST,
            "/api/auth/mfa/totp/disable/".into(),
            json!({"password": PASSWORD, "code": "123456"}),
        ),
        (
            Method::POST,
            "/api/auth/mfa/recovery-codes/".into(),
            json!({"password": PASSWORD}),
        ),
        (Method::GET, "/api/auth/passkeys/".into(), json!({})),
        (
            Method::POST,
            "/api/auth/passkeys/register/begin/".into(),
            json!({}),
        ),
        (Method::DELETE, "/api/auth/passkeys/1/".into(), json!({})),
        (
            Method::POST,
            "/api/auth/social/github/connect/".into(),
            json!({}),
        ),
        (
            Method::POST,
            "/api/auth/social/link/".into(),
            json!({"link_token": "x"}),
        ),
        (
            Method::GET,
            "/api/auth/social/identities/".into(),
            json!({}),
        ),
        (
            Method::DELETE,
            "/api/auth/social/identities/1/".into(),
            json!({}),
        ),
    ];
    for (method, path, body) in &refused {
        let by_key = app
            .send(
                app.request(method.clone(), path)
                    .header("authorization", format!("Api-Key {key}"))
                    .json(body),
            )
            .await;
        assert_eq!(
            (by_key.status().as_u16(), by_key.text()),
            (403, SESSION_REQUIRED),
            "{method} {path} with the key"
        );
        let by_token = app
            .send(
                app.request(method.clone(), path)
                    .bearer_auth(&access)
                    .json(body),
            )
            .await;
        assert_eq!(
            (by_token.status().as_u16(), by_token.text()),
            (403, SESSION_REQUIRED),
            "{method} {path} with a token minted from the key"
        );
    }
    // Nothing was changed by the refusals: no TOTP device was set up; the key works, the
    // profile reads with it.
    assert!(
        app.tessera
            .auth()
            .store()
            .totp_device(root.id)
            .await
            .unwrap()
            .is_none()
    );
    let profile = with_key(&app, Method::GET, "/api/auth/profile/", &key)
        .await
        .ok();
    assert_eq!(profile["id"], root.id);
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert_status(200);
    // The same staff member's login passes.
    let pair = app.login("root@example.com", PASSWORD).await;
    app.get_bearer("/api/admin/users/", &pair.access)
        .await
        .assert_status(200);
    app.get_bearer("/api/admin/api-keys/", &pair.access)
        .await
        .assert_status(200);
}

/// Staff who are not superusers neither list nor revoke a superuser's keys (and the list
/// of everyone's leaves them out); a superuser does both.
#[tokio::test]
async fn only_a_superuser_lists_or_revokes_a_superusers_keys() {
    let app = keys_app().build().await;
    let root = user_with(&app, "root@example.com", true, true).await;
    let clerk = user_with(&app, "clerk@example.com", true, false).await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let roots = key_of(&create_key(&app, "root@example.com", json!({"name": "r"})).await);
    let adas = key_of(&create_key(&app, ADA, json!({"name": "a"})).await);
    with_key(&app, Method::GET, "/api/whoami/", &roots)
        .await
        .assert_status(200);
    let clerk_pair = app.login("clerk@example.com", PASSWORD).await;
    let root_pair = app.login("root@example.com", PASSWORD).await;
    let superuser_only = json!({"detail": tessera_auth::accounts::SUPERUSER_ONLY}).to_string();

    let all = app
        .get_bearer("/api/admin/api-keys/", &clerk_pair.access)
        .await
        .ok();
    assert_eq!(all["count"], 1, "{all}");
    assert_eq!(all["results"][0]["prefix"], &adas[..8]);
    app.get_bearer(
        &format!("/api/admin/api-keys/?user={}", root.id),
        &clerk_pair.access,
    )
    .await
    .assert(403, &superuser_only);
    let revoke_roots = format!("/api/admin/api-keys/{}/", &roots[..8]);
    app.send(
        app.request(Method::DELETE, &revoke_roots)
            .bearer_auth(&clerk_pair.access),
    )
    .await
    .assert(403, &superuser_only);
    with_key(&app, Method::GET, "/api/whoami/", &roots)
        .await
        .assert_status(200);
    let denied = events(&app, "admin.permission_denied").await;
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert_eq!(
        (denied[0].user_id, denied[0].actor_id),
        (Some(root.id), Some(clerk.id))
    );
    assert_eq!(denied[0].detail_json().unwrap()["action"], "api_keys");
    // Other users' keys stay open to staff.
    app.send(
        app.request(
            Method::DELETE,
            &format!("/api/admin/api-keys/{}/", &adas[..8]),
        )
        .bearer_auth(&clerk_pair.access),
    )
    .await
    .assert_status(204);

    // A superuser sees and revokes them.
    let all = app
        .get_bearer("/api/admin/api-keys/", &root_pair.access)
        .await
        .ok();
    assert_eq!(all["count"], 2);
    let only_roots = app
        .get_bearer(
            &format!("/api/admin/api-keys/?user={}", root.id),
            &root_pair.access,
        )
        .await
        .ok();
    assert_eq!(only_roots["results"][0]["last_used_ip"], "127.0.0.1");
    app.send(
        app.request(Method::DELETE, &revoke_roots)
            .bearer_auth(&root_pair.access),
    )
    .await
    .assert_status(204);
    with_key(&app, Method::GET, "/api/whoami/", &roots)
        .await
        .assert(401, INVALID_KEY);
    let revoked = events(&app, "api_key.revoked").await;
    assert_eq!(
        (revoked[0].user_id, revoked[0].actor_id),
        (Some(root.id), Some(root.id))
    );
    assert_eq!(
        (revoked[1].user_id, revoked[1].actor_id),
        (Some(ada.id), Some(clerk.id))
    );
    // An unknown user has no keys.
    let nobody = app
        .get_bearer("/api/admin/api-keys/?user=999999", &clerk_pair.access)
        .await
        .ok();
    assert_eq!(nobody["count"], 0);
}

/// The admin list and the own list are paginated like the other admin lists.
#[tokio::test]
async fn key_lists_are_paginated() {
    let app = keys_app()
        .accounts(|a: &mut tessera_auth::accounts::AccountSettings| a.page_size = 2)
        .build()
        .await;
    let ada = app.create_user(ADA, PASSWORD).await;
    staff(&app, "admin@example.com").await;
    for i in 0..3 {
        app.tessera
            .auth()
            .create_api_key(
                &ada,
                &tessera_auth::api_keys::ApiKeyRequest {
                    name: format!("k{i}"),
                    ..Default::default()
                },
                tessera_auth::audit::Audit::new("api_key.created"),
            )
            .await
            .unwrap();
    }
    let pair = app.login(ADA, PASSWORD).await;
    let first = app.get_bearer(KEYS, &pair.access).await.ok();
    assert_eq!(first["count"], 3);
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert_eq!(first["results"][0]["name"], "k2");
    let next = first["next"].as_str().unwrap();
    assert!(next.ends_with("/api/auth/api-keys/?page=2"), "{next}");
    let second = app
        .get_bearer(&format!("{KEYS}?page=2"), &pair.access)
        .await
        .ok();
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert_eq!(second["results"][0]["name"], "k0");
    app.get_bearer(&format!("{KEYS}?page=3"), &pair.access)
        .await
        .assert(404, r#"{"detail":"Invalid page."}"#);

    let staff_pair = app.login("admin@example.com", PASSWORD).await;
    let admin_page = app
        .get_bearer(
            &format!("/api/admin/api-keys/?user={}&page=2", ada.id),
            &staff_pair.access,
        )
        .await
        .ok();
    assert_eq!(admin_page["count"], 3);
    assert_eq!(admin_page["results"][0]["name"], "k0");
    assert!(admin_page["previous"].as_str().unwrap().contains("user="));
}

/// A password change revokes every key of the user (and only theirs), audited with the
/// reason.
#[tokio::test]
async fn a_password_change_revokes_every_key_of_the_user() {
    let app = full_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    app.create_user(BOB, PASSWORD).await;
    let first = key_of(&create_key(&app, ADA, json!({"name": "one"})).await);
    let second = key_of(&create_key(&app, ADA, json!({"name": "two"})).await);
    let bobs = key_of(&create_key(&app, BOB, json!({"name": "bob's"})).await);
    let pair = app.login(ADA, PASSWORD).await;
    let new = "difference engine 1822";
    app.send(
        app.request(Method::POST, "/api/auth/password/change/")
            .bearer_auth(&pair.access)
            .json(&json!({"old_password": PASSWORD, "new_password": new, "new_password_confirm": new})),
    )
    .await
    .assert_status(200);
    for key in [&first, &second] {
        with_key(&app, Method::GET, "/api/whoami/", key)
            .await
            .assert(401, INVALID_KEY);
    }
    with_key(&app, Method::GET, "/api/whoami/", &bobs)
        .await
        .assert_status(200);
    let revoked = events(&app, "api_key.revoked").await;
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    for event in &revoked {
        assert_eq!(event.user_id, Some(ada.id));
        assert_eq!(event.detail_json().unwrap()["reason"], "password_changed");
    }
}

/// A password reset by e-mail revokes every key of the user too.
#[tokio::test]
async fn a_password_reset_revokes_every_key_of_the_user() {
    let sink = tessera_smtp_sink::SmtpSink::start()
        .await
        .expect("the SMTP sink starts");
    let port = sink.port();
    let app = full_app()
        .public_url("http://testserver")
        .mail(move |mail| {
            mail.email_backend = tessera_auth::mail::EmailBackend::Smtp;
            mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}?tls=none").into());
            mail.email_from = "accounts@example.com".into();
        })
        .build()
        .await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let key = key_of(&create_key(&app, ADA, json!({"name": "k"})).await);
    app.post_json("/api/auth/password/reset/", &json!({"email": ADA}))
        .await
        .assert_status(200);
    let mail = sink
        .wait_for(
            |m: &tessera_smtp_sink::Received| m.to.iter().any(|t| t == ADA),
            std::time::Duration::from_secs(15),
        )
        .await
        .expect("the reset mail");
    let text = mail.text_body().unwrap_or_default();
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 8)
        .unwrap_or_else(|| panic!("no 8-digit code in {text}"))
        .to_owned();
    let new = "difference engine 1822";
    app.post_json(
        "/api/auth/password/reset/confirm/",
        &json!({"email": ADA, "code": code, "new_password1": new, "new_password2": new}),
    )
    .await
    .assert_status(200);
    with_key(&app, Method::GET, "/api/whoami/", &key)
        .await
        .assert(401, INVALID_KEY);
    let revoked = events(&app, "api_key.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].user_id, Some(ada.id));
    assert_eq!(
        revoked[0].detail_json().unwrap()["reason"],
        "password_changed"
    );
}

/// Key creation is throttled per user (`api_key_create`, `20/hour` by default).
#[tokio::test]
async fn key_creation_is_throttled_per_user() {
    assert_eq!(
        tessera_axum::ThrottleSettings::default().throttle_rates["api_key_create"],
        "20/hour"
    );
    let app = keys_app()
        .throttling(|t: &mut tessera_axum::ThrottleSettings| {
            t.throttle_rates
                .insert("api_key_create".into(), "2/hour".into());
        })
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;
    app.create_user(BOB, PASSWORD).await;
    create_key(&app, ADA, json!({"name": "one"})).await;
    create_key(&app, ADA, json!({"name": "two"})).await;
    let pair = app.login(ADA, PASSWORD).await;
    let third = app
        .send(
            app.request(Method::POST, KEYS)
                .bearer_auth(&pair.access)
                .json(&json!({"name": "three"})),
        )
        .await;
    assert_eq!(third.status(), 429, "{}", third.text());
    // Another user's budget is their own.
    create_key(&app, BOB, json!({"name": "bob's"})).await;
}

/// A `scope` claim that is not a string of scopes limits the token to nothing.
#[tokio::test]
async fn a_scope_claim_that_is_not_a_string_grants_nothing() {
    let app = keys_app().build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let token = |scope: Value| {
        crate::helpers::forge(&json!({
            "token_type": "access",
            "exp": crate::helpers::NOW_SECS + 60,
            "iat": crate::helpers::NOW_SECS,
            "jti": "0123456789abcdef",
            "user_id": ada.id.to_string(),
            "scope": scope,
        }))
    };
    app.get_bearer("/api/orders/", &token(json!("orders:write")))
        .await
        .assert_status(200);
    for scope in [
        json!(["orders:write"]),
        json!({"orders:write": true}),
        json!(true),
        json!(""),
    ] {
        app.get_bearer("/api/orders/", &token(scope.clone()))
            .await
            .assert(403, DENIED);
    }
}

/// A token minted from a key expires no later than the key.
#[tokio::test]
async fn a_client_token_expires_no_later_than_its_key() {
    let app = keys_app().build().await;
    app.create_user(ADA, PASSWORD).await;
    let expires = app.now().add_secs(60);
    let key = key_of(
        &create_key(
            &app,
            ADA,
            json!({"name": "short", "expires_at": tessera_auth::datetime::drf_datetime(expires)}),
        )
        .await,
    );
    let access = minted(&app, &key).await;
    assert_eq!(crate::helpers::int_claim(&access, "exp"), expires.as_secs());
    let lasting = key_of(&create_key(&app, ADA, json!({"name": "lasting"})).await);
    let access = minted(&app, &lasting).await;
    assert_eq!(
        crate::helpers::int_claim(&access, "exp"),
        app.now().add_secs(300).as_secs()
    );
}

/// With the `anon` and `user` rates set, each user's keys count against that user, not
/// all of them against their shared address; a bad key counts against the address.
#[tokio::test]
async fn keys_from_one_address_are_throttled_per_user_not_together() {
    let app = keys_app()
        .throttling(|t: &mut tessera_axum::ThrottleSettings| {
            t.throttle_rates.insert("anon".into(), "2/min".into());
            t.throttle_rates.insert("user".into(), "4/min".into());
        })
        .build()
        .await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let bob = app.create_user(BOB, PASSWORD).await;
    // Made without a request, so that no budget is spent yet.
    let make = |user: User| {
        let auth = app.tessera.auth().clone();
        async move {
            let request = tessera_auth::api_keys::ApiKeyRequest {
                name: "k".into(),
                ..Default::default()
            };
            auth.create_api_key(
                &user,
                &request,
                tessera_auth::audit::Audit::new("api_key.created"),
            )
            .await
            .unwrap()
            .key
        }
    };
    let adas = make(ada).await;
    let bobs = make(bob).await;
    let from = |key: &str| {
        app.client_from([10, 0, 0, 9])
            .get("/api/whoami/")
            .header("authorization", format!("Api-Key {key}"))
    };
    for _ in 0..4 {
        from(&adas).send().await.assert_status(200);
    }
    from(&adas).send().await.assert_status(429);
    // Bob's key, from the same address, has its own budget.
    for _ in 0..4 {
        from(&bobs).send().await.assert_status(200);
    }
    // A key that fails names nobody: it counts against the address.
    let bad = format!("{}.{}", &adas[..8], "A".repeat(32));
    from(&bad).send().await.assert(401, INVALID_KEY);
    from(&bad).send().await.assert(401, INVALID_KEY);
    from(&bad).send().await.assert_status(429);
}
