//! `spawn_app()`: the token routes and three protected routes served on a random port, with
//! a fresh SQLite file and a manual clock; plus small helpers to call and inspect them.

use std::net::SocketAddr;

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Map, Value, json};
use tempfile::TempDir;
use tessera_axum::routes::token_routes;
use tessera_axum::{AdminUser, AuthUser, Tessera, TokenUser, finish};
use tessera_core::{Clock, ManualClock, Settings, Token};
use tessera_store::{NewUser, PasswordHasher, Session, Store, User, UserFlags};

/// The instant every test starts at, in whole seconds.
pub const NOW: i64 = 1_750_000_000;
/// The HMAC secret the app signs with.
pub const SIGNING_KEY: &str = "test-key-that-is-at-least-32-bytes-long";
/// The password of users made with [`TestApp::create_user`] unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery staple";

/// 401 for requests without credentials on a protected route.
pub const NOT_PROVIDED: &str = r#"{"detail":"Authentication credentials were not provided."}"#;
/// 401 of the obtain routes.
pub const NO_ACTIVE_ACCOUNT: &str =
    r#"{"detail":"No active account found with the given credentials"}"#;
/// 401 of the refresh route for a deleted or inactive user.
pub const NO_ACTIVE_ACCOUNT_FOR_TOKEN: &str =
    r#"{"detail":"No active account found for the given token."}"#;
/// 400 of the verify route for a blacklisted token.
pub const VERIFY_BLACKLISTED: &str = r#"{"non_field_errors":["Token is blacklisted"]}"#;
/// The `WWW-Authenticate` value of every 401.
pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="api""#;

/// simplejwt's body for a token that fails a check: `{"detail":…,"code":"token_not_valid"}`.
pub fn token_error(detail: &str) -> String {
    json!({"detail": detail, "code": "token_not_valid"}).to_string()
}

/// A response, read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON; keys keep the order they have in the text.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// A string field of a JSON object body.
    #[track_caller]
    pub fn field(&self, name: &str) -> String {
        match self.json().get(name) {
            Some(Value::String(s)) => s.clone(),
            other => panic!(
                "no string field {name:?} (found {other:?}) in {}",
                self.text
            ),
        }
    }

    /// The body's top-level keys, in order.
    #[track_caller]
    pub fn keys(&self) -> Vec<String> {
        self.json()
            .as_object()
            .expect("body is not an object")
            .keys()
            .cloned()
            .collect()
    }

    /// One header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Checks the status and the exact body text; a body must be `application/json`, and a
    /// 401 must carry `WWW-Authenticate: Bearer realm="api"`.
    #[track_caller]
    pub fn assert(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status.as_u16(), self.text.as_str()),
            (status, body),
            "headers: {:?}",
            self.headers
        );
        if !body.is_empty() {
            assert_eq!(
                self.header("content-type"),
                Some("application/json"),
                "{body}"
            );
        }
        if status == 401 {
            assert_eq!(
                self.header("www-authenticate"),
                Some(WWW_AUTHENTICATE),
                "401 without WWW-Authenticate"
            );
        }
    }

    /// Checks a 200 and returns the body.
    #[track_caller]
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        self.json()
    }
}

/// The two tokens of a login.
#[derive(Debug, Clone)]
pub struct Pair {
    pub refresh: String,
    pub access: String,
}

/// A running app.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub tessera: Tessera,
    pub clock: ManualClock,
    _dir: TempDir,
}

async fn protected(user: AuthUser) -> Json<Value> {
    Json(json!({"id": user.user.id, "email": user.user.email}))
}

async fn stateless(user: TokenUser) -> Json<Value> {
    Json(json!({"user_id": user.id}))
}

async fn admin(_: AdminUser) -> Json<Value> {
    Json(json!({"ok": true}))
}

/// Serves the app with the test settings, changed by `configure`.
pub async fn spawn_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .expect("open store");
    store.migrate().await.expect("migrate");
    let mut settings = Settings {
        signing_key: Some(SIGNING_KEY.into()),
        ..Settings::default()
    };
    configure(&mut settings);
    let (clock, hand) = Clock::manual(NOW * 1_000_000);
    let tessera = Tessera::with_parts(settings, store, PasswordHasher::new(2), clock)
        .expect("valid settings");
    let app = finish(
        token_routes()
            .route("/api/protected/", get(protected))
            .route("/api/stateless/", get(stateless))
            .route("/api/admin/", get(admin)),
        tessera.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server failed");
    });
    TestApp {
        base_url: format!("http://{address}"),
        client: reqwest::Client::new(),
        tessera,
        clock: hand,
        _dir: dir,
    }
}

/// Serves the app with the default settings.
pub async fn spawn_default() -> TestApp {
    spawn_app(|_| {}).await
}

/// Serves the app with rotation and blacklisting after rotation, and this reuse grace.
pub async fn spawn_rotating(grace_secs: u64) -> TestApp {
    spawn_app(|s| {
        s.rotate_refresh_tokens = true;
        s.blacklist_after_rotation = true;
        s.refresh_reuse_grace = std::time::Duration::from_secs(grace_secs);
    })
    .await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let response = request.send().await.expect("request failed");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// A POST with a raw body and a `Content-Type`.
    pub async fn post_body(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        self.send(
            self.request(Method::POST, path)
                .header(header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    /// A GET with this `Authorization` header value, or none.
    pub async fn get_auth(&self, path: &str, authorization: Option<&str>) -> Reply {
        let mut request = self.request(Method::GET, path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        self.send(request).await
    }

    /// A GET with `Authorization: Bearer <token>`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Reply {
        self.get_auth(path, Some(&format!("Bearer {token}"))).await
    }

    /// A GET with a raw header value (any bytes) under any header name.
    pub async fn get_with_header(&self, path: &str, name: &str, value: HeaderValue) -> Reply {
        self.send(self.request(Method::GET, path).header(name, value))
            .await
    }

    pub async fn obtain(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/token/",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in and returns the pair; the login must succeed.
    pub async fn login(&self, email: &str, password: &str) -> Pair {
        let reply = self.obtain(email, password).await;
        reply.ok();
        Pair {
            refresh: reply.field("refresh"),
            access: reply.field("access"),
        }
    }

    pub async fn refresh(&self, refresh: &str) -> Reply {
        self.post_json("/api/token/refresh/", &json!({"refresh": refresh}))
            .await
    }

    pub async fn verify(&self, token: &str) -> Reply {
        self.post_json("/api/token/verify/", &json!({"token": token}))
            .await
    }

    pub async fn blacklist(&self, refresh: &str) -> Reply {
        self.post_json("/api/token/blacklist/", &json!({"refresh": refresh}))
            .await
    }

    pub async fn obtain_sliding(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/token/sliding/",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn refresh_sliding(&self, token: &str) -> Reply {
        self.post_json("/api/token/sliding/refresh/", &json!({"token": token}))
            .await
    }

    /// Creates an active user with a hashed password.
    pub async fn create_user(&self, email: &str, password: &str) -> User {
        self.create_user_with(
            NewUser {
                email: email.into(),
                is_active: true,
                ..NewUser::default()
            },
            password,
        )
        .await
    }

    /// Creates a user from `new`, hashing `password` into it.
    pub async fn create_user_with(&self, new: NewUser, password: &str) -> User {
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || PasswordHasher::hash_blocking(&password))
            .await
            .expect("hashing task")
            .expect("hash");
        let new = NewUser {
            password_hash: hash,
            date_joined: NOW * 1_000_000,
            ..new
        };
        self.tessera
            .store()
            .create_user(&new)
            .await
            .expect("create user")
    }

    pub async fn deactivate(&self, user: &User) {
        let flags = UserFlags {
            is_active: Some(false),
            ..UserFlags::default()
        };
        assert!(
            self.tessera
                .store()
                .set_user_flags(user.id, &flags)
                .await
                .expect("set flags")
        );
    }

    pub async fn delete(&self, user: &User) {
        assert!(
            self.tessera
                .store()
                .delete_user(user.id)
                .await
                .expect("delete user")
        );
    }

    pub async fn user(&self, id: i64) -> User {
        self.tessera
            .store()
            .user_by_id(id)
            .await
            .expect("load user")
            .expect("user exists")
    }

    /// The session a token names through its `sid` claim.
    pub async fn session_of(&self, token: &str) -> Session {
        let claims = claims(token);
        let sid = claims["sid"].as_str().expect("sid claim");
        self.tessera
            .store()
            .session(sid)
            .await
            .expect("load session")
            .expect("session exists")
    }

    /// Moves the app's clock.
    pub fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
    }

    pub fn now(&self) -> i64 {
        self.tessera.now_secs()
    }

    /// Signs a token with the app's backend.
    pub fn encode(&self, token: &Token) -> String {
        self.tessera.backend().encode(token)
    }
}

/// Signs any JSON payload with the app's key under the default header.
pub fn forge(payload: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload.to_string()));
    let key = jsonwebtoken::EncodingKey::from_secret(SIGNING_KEY.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .expect("sign");
    format!("{message}.{signature}")
}

fn segment(token: &str, index: usize) -> String {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("no segment {index} in {token:?}"));
    String::from_utf8(URL_SAFE_NO_PAD.decode(part).expect("base64url segment"))
        .expect("UTF-8 segment")
}

/// The token's header, exactly as encoded.
pub fn header_text(token: &str) -> String {
    segment(token, 0)
}

/// The token's claims, in order.
pub fn claims(token: &str) -> Map<String, Value> {
    serde_json::from_str(&segment(token, 1)).expect("payload is a JSON object")
}

/// The token's claim names, in order.
pub fn claim_names(token: &str) -> Vec<String> {
    claims(token).keys().cloned().collect()
}

/// An integer claim.
#[track_caller]
pub fn int_claim(token: &str, name: &str) -> i64 {
    claims(token)[name]
        .as_i64()
        .unwrap_or_else(|| panic!("claim {name} is not an integer"))
}

/// A string claim.
#[track_caller]
pub fn str_claim(token: &str, name: &str) -> String {
    claims(token)[name]
        .as_str()
        .unwrap_or_else(|| panic!("claim {name} is not a string"))
        .to_owned()
}
