//! `spawn_app()`: the token routes and three protected routes served on a random port, with
//! a fresh SQLite file and a manual clock; plus small helpers to call and inspect them.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Map, Value, json};
use tempfile::TempDir;
use tessera_axum::routes::{account_routes, cookie_routes, session_routes, token_routes};
use tessera_axum::{
    AccountSettings, AdminUser, AuthUser, BrowserSettings, Tessera, TokenUser, install,
};
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
    let (tessera, clock, dir) = build_state(configure, None).await;
    let router = Router::new()
        .nest("/api", token_routes())
        .route("/api/protected/", get(protected))
        .route("/api/stateless/", get(stateless))
        .route("/api/admin/", get(admin));
    serve(router, tessera, clock, dir).await
}

/// Serves the token, account and session routes (API.md §3, §5 and the sessions routes)
/// with the test settings changed by `configure`, and the account settings changed by
/// `configure_accounts`.
pub async fn spawn_accounts_app(
    configure: impl FnOnce(&mut Settings),
    configure_accounts: impl FnOnce(&mut AccountSettings),
) -> TestApp {
    let mut accounts = AccountSettings::default();
    configure_accounts(&mut accounts);
    let (tessera, clock, dir) = build_state(configure, Some(accounts)).await;
    let router = Router::new().nest(
        "/api",
        token_routes()
            .merge(account_routes())
            .merge(session_routes()),
    );
    serve(router, tessera, clock, dir).await
}

/// Serves the account routes with the default settings.
pub async fn spawn_accounts() -> TestApp {
    spawn_accounts_app(|_| {}, |_| {}).await
}

/// A fresh SQLite file, the test settings and a manual clock at [`NOW`].
async fn build_state(
    configure: impl FnOnce(&mut Settings),
    accounts: Option<AccountSettings>,
) -> (Tessera, ManualClock, TempDir) {
    build_state_with(configure, accounts, PasswordHasher::new(2)).await
}

/// [`build_state`] with this password hasher.
async fn build_state_with(
    configure: impl FnOnce(&mut Settings),
    accounts: Option<AccountSettings>,
    hasher: PasswordHasher,
) -> (Tessera, ManualClock, TempDir) {
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
    let mut builder = Tessera::builder(settings, store)
        .hasher(hasher)
        .clock(clock);
    if let Some(accounts) = accounts {
        builder = builder.accounts(accounts);
    }
    let tessera = builder.build().await.expect("valid settings");
    (tessera, hand, dir)
}

/// Serves `router` on a random port.
async fn serve(
    router: Router<Tessera>,
    tessera: Tessera,
    clock: ManualClock,
    dir: TempDir,
) -> TestApp {
    let app = install(router, tessera.clone());
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
        clock,
        _dir: dir,
    }
}

/// Serves the finished application `build` makes from the state (the test settings, the
/// default account settings): for tests of how an application composes the library.
pub async fn spawn_router(build: impl FnOnce(Tessera) -> axum::Router) -> TestApp {
    let (tessera, clock, dir) = build_state(|_| {}, Some(AccountSettings::default())).await;
    let app = build(tessera.clone());
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
        clock,
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
            .auth()
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
                .auth()
                .store()
                .set_user_flags(user.id, &flags)
                .await
                .expect("set flags")
        );
    }

    pub async fn delete(&self, user: &User) {
        assert!(
            self.tessera
                .auth()
                .store()
                .delete_user(user.id)
                .await
                .expect("delete user")
        );
    }

    pub async fn user(&self, id: i64) -> User {
        self.tessera
            .auth()
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
            .auth()
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
        self.tessera.auth().now_secs()
    }

    /// Signs a token with the app's backend.
    pub fn encode(&self, token: &Token) -> String {
        self.tessera.auth().backend().encode(token).unwrap()
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

/// 401 for a token issued before the user's password change or "log out everywhere".
pub const PASSWORD_CHANGED: &str =
    r#"{"detail":"The user's password has been changed.","code":"password_changed"}"#;
/// 401 for a token of a deactivated user.
pub const USER_INACTIVE: &str = r#"{"detail":"User is inactive","code":"user_inactive"}"#;
/// 401 for a token of a deleted user.
pub const USER_NOT_FOUND: &str = r#"{"detail":"User not found","code":"user_not_found"}"#;
/// 404 of an unknown route or object.
pub const NOT_FOUND: &str = r#"{"detail":"Not found."}"#;
/// The password of users registered through the account routes unless a test says
/// otherwise: long, uncommon, and unlike any name used in the tests.
pub const ACCOUNT_PASSWORD: &str = "analytical engine 1843";

/// The 401 body of authentication for an access token refused with `message`.
pub fn access_refused(message: &str) -> String {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}],
    })
    .to_string()
}

/// One DRF field error body: `{"<field>":["<message>"]}`.
pub fn field_error(field: &str, message: &str) -> String {
    json!({ field: [message] }).to_string()
}

/// The account routes (API.md §5) and the sessions routes.
impl TestApp {
    /// `POST /api/auth/register/` with a JSON body.
    pub async fn register(&self, body: &Value) -> Reply {
        self.post_json("/api/auth/register/", body).await
    }

    /// Registers Ada Lovelace (`ada@example.com`, [`ACCOUNT_PASSWORD`]); must succeed.
    pub async fn register_ada(&self) -> Pair {
        let reply = self
            .register(&json!({
                "email": "ada@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "password": ACCOUNT_PASSWORD,
                "password_confirm": ACCOUNT_PASSWORD,
            }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let tokens = &reply.json()["tokens"];
        Pair {
            refresh: tokens["refresh"].as_str().expect("refresh").to_owned(),
            access: tokens["access"].as_str().expect("access").to_owned(),
        }
    }

    /// Creates an active user with names, straight in the store.
    pub async fn create_named_user(&self, email: &str, first: &str, last: &str) -> User {
        self.create_user_with(
            NewUser {
                email: email.into(),
                first_name: first.into(),
                last_name: last.into(),
                is_active: true,
                ..NewUser::default()
            },
            PASSWORD,
        )
        .await
    }

    /// `POST /api/auth/login/`.
    pub async fn account_login(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/auth/login/",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in through `/api/auth/login/` and returns the pair; the login must succeed.
    pub async fn account_pair(&self, email: &str, password: &str) -> Pair {
        let reply = self.account_login(email, password).await;
        reply.ok();
        Pair {
            refresh: reply.field("refresh"),
            access: reply.field("access"),
        }
    }

    /// A request with `Authorization: Bearer <token>` and, if given, a JSON body.
    pub async fn bearer(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .request(method, path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// A POST with `Authorization: Bearer <token>` and a JSON body.
    pub async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.bearer(Method::POST, path, token, Some(body)).await
    }

    /// `GET /api/auth/profile/` with the access token.
    pub async fn profile(&self, access: &str) -> Reply {
        self.get_bearer("/api/auth/profile/", access).await
    }

    /// `POST /api/auth/logout/` with the access token and `{"refresh": refresh}`.
    pub async fn logout(&self, access: &str, refresh: &str) -> Reply {
        self.post_bearer("/api/auth/logout/", access, &json!({"refresh": refresh}))
            .await
    }

    /// `POST /api/auth/token/refresh/`.
    pub async fn account_refresh(&self, refresh: &str) -> Reply {
        self.post_json("/api/auth/token/refresh/", &json!({"refresh": refresh}))
            .await
    }

    /// `POST /api/auth/password/change/` with the access token.
    pub async fn change_password(&self, access: &str, old: &str, new: &str) -> Reply {
        self.post_bearer(
            "/api/auth/password/change/",
            access,
            &json!({"old_password": old, "new_password": new, "new_password_confirm": new}),
        )
        .await
    }

    /// How many users the store holds.
    pub async fn user_count(&self) -> usize {
        self.tessera
            .auth()
            .store()
            .list_users()
            .await
            .expect("list users")
            .len()
    }

    /// The stored user with this e-mail address, if any.
    pub async fn user_by_email(&self, email: &str) -> Option<User> {
        self.tessera
            .auth()
            .store()
            .user_by_email(email)
            .await
            .expect("load user")
    }
}

// ---- browsers: cookie mode, CSRF and CORS (API.md §6, issue 5) ----

/// Serves the token, account, session and cookie routes and `/api/protected/` and
/// `/api/stateless/` with the server's defaults for rotation (on, with blacklisting after
/// rotation), the test settings changed by `configure` and the browser settings (cookies,
/// CSRF, CORS) changed by `configure_browser`.
pub async fn spawn_browser_app(
    configure: impl FnOnce(&mut Settings),
    configure_browser: impl FnOnce(&mut BrowserSettings),
) -> TestApp {
    let mut browser = BrowserSettings::default();
    configure_browser(&mut browser);
    let rotating = |settings: &mut Settings| {
        settings.rotate_refresh_tokens = true;
        settings.blacklist_after_rotation = true;
        configure(settings);
    };
    let (tessera, clock, dir) = build_state(rotating, Some(AccountSettings::default())).await;
    let tessera = tessera
        .to_builder()
        .browser(browser)
        .build()
        .await
        .expect("valid browser settings");
    let router = Router::new()
        .nest(
            "/api",
            token_routes()
                .merge(account_routes())
                .merge(session_routes())
                .merge(cookie_routes()),
        )
        .route("/api/protected/", get(protected))
        .route("/api/stateless/", get(stateless));
    serve(router, tessera, clock, dir).await
}

/// [`spawn_browser_app`] with the default settings.
pub async fn spawn_browser() -> TestApp {
    spawn_browser_app(|_| {}, |_| {}).await
}

/// The 403 body of a refused CSRF check: `{"detail":"CSRF Failed: <reason>"}`.
pub fn csrf_failed(reason: &str) -> String {
    json!({ "detail": format!("CSRF Failed: {reason}") }).to_string()
}

/// One `Set-Cookie` header, parsed: name, value and attributes in order.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Attribute names as sent, with their values (`None` for flags such as `HttpOnly`).
    pub attributes: Vec<(String, Option<String>)>,
    /// The header as sent.
    pub raw: String,
}

impl SetCookie {
    #[track_caller]
    pub fn parse(line: &str) -> Self {
        let mut parts = line.split(';').map(str::trim);
        let (name, value) = parts
            .next()
            .and_then(|pair| pair.split_once('='))
            .unwrap_or_else(|| panic!("Set-Cookie without name=value: {line:?}"));
        let attributes = parts
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((key, value)) => (key.trim().to_owned(), Some(value.trim().to_owned())),
                None => (part.to_owned(), None),
            })
            .collect();
        Self {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes,
            raw: line.to_owned(),
        }
    }

    /// The attribute `name` (case-insensitive): `None` when absent, `Some(None)` for a flag.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_deref())
    }

    /// The value of attribute `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attribute(name).flatten()
    }

    /// `Max-Age`, as a number.
    #[track_caller]
    pub fn max_age(&self) -> Option<i64> {
        self.get("Max-Age").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("Max-Age is not a number: {}", self.raw))
        })
    }

    /// Whether the header deletes the cookie: an empty value and `Max-Age=0`.
    pub fn is_cleared(&self) -> bool {
        self.value.is_empty() && self.max_age() == Some(0)
    }
}

impl Reply {
    /// Every `Set-Cookie` header, parsed, in order.
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| SetCookie::parse(v.to_str().expect("Set-Cookie is text")))
            .collect()
    }

    /// The one `Set-Cookie` header for cookie `name`; fails when there is none or several.
    #[track_caller]
    pub fn cookie(&self, name: &str) -> SetCookie {
        let mut found: Vec<SetCookie> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one Set-Cookie for {name:?}, got {:?}",
            self.headers.get_all(header::SET_COOKIE)
        );
        found.remove(0)
    }

    /// The names of the cookies set, in order.
    pub fn cookie_names(&self) -> Vec<String> {
        self.set_cookies().into_iter().map(|c| c.name).collect()
    }
}

/// The three cookies a browser holds after a cookie-mode login.
#[derive(Debug, Clone)]
pub struct BrowserCookies {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

/// A `Cookie` header value for these name/value pairs.
pub fn cookie_header(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Cookie mode (API.md §6); the client keeps no cookies, every request says what it sends.
impl TestApp {
    /// A request carrying exactly these cookies (no `Cookie` header when there are none).
    pub fn with_cookies(
        &self,
        method: Method,
        path: &str,
        cookies: &[(&str, &str)],
    ) -> RequestBuilder {
        let request = self.request(method, path);
        if cookies.is_empty() {
            request
        } else {
            request.header(header::COOKIE, cookie_header(cookies))
        }
    }

    /// A POST to a cookie route (`/api/auth/cookie/<route>/`) with these cookies and a JSON body.
    pub async fn cookie_post(&self, route: &str, cookies: &[(&str, &str)], body: &Value) -> Reply {
        let path = format!("/api/auth/cookie/{route}/");
        self.send(self.with_cookies(Method::POST, &path, cookies).json(body))
            .await
    }

    /// `POST /api/auth/cookie/login/` with no cookies.
    pub async fn cookie_login(&self, email: &str, password: &str) -> Reply {
        self.cookie_post("login", &[], &json!({"email": email, "password": password}))
            .await
    }

    /// Logs in through the cookie route and returns the cookies set; it must succeed.
    pub async fn cookie_session(&self, email: &str, password: &str) -> BrowserCookies {
        let reply = self.cookie_login(email, password).await;
        reply.ok();
        let browser = self.tessera.browser();
        BrowserCookies {
            access: reply.cookie(&browser.auth_cookie_access_name).value,
            refresh: reply.cookie(&browser.auth_cookie_refresh_name).value,
            csrf: reply.cookie(&browser.csrf_cookie_name).value,
        }
    }
}

// ---- abuse resistance: throttles, lockout, back-pressure and limits (issue 7) ----

/// The 429 body of a throttled request: DRF's `Throttled` with its `wait`, in seconds.
pub fn throttled(wait: u64) -> String {
    let unit = if wait == 1 { "second" } else { "seconds" };
    json!({ "detail": format!("Request was throttled. Expected available in {wait} {unit}.") })
        .to_string()
}

impl Reply {
    /// Checks DRF's 429: the exact body and `Retry-After: <wait>`.
    #[track_caller]
    pub fn assert_throttled(&self, wait: u64) {
        self.assert(429, &throttled(wait));
        assert_eq!(
            self.header("retry-after"),
            Some(wait.to_string().as_str()),
            "Retry-After"
        );
    }
}

/// The 503 body of a request refused because the hashing queue is full.
pub const UNAVAILABLE: &str = r#"{"detail":"Service temporarily unavailable, try again later."}"#;

async fn public() -> Json<Value> {
    Json(json!({"ok": true}))
}

/// Serves the token, account, session and cookie routes, `/api/protected/` (authenticated)
/// and `/api/public/` (anyone), with the throttling and lockout settings changed by
/// `configure_throttling` (the library's defaults otherwise: no throttle, lockout after 5).
pub async fn spawn_throttled_app(
    configure_throttling: impl FnOnce(&mut tessera_axum::ThrottleSettings),
) -> TestApp {
    spawn_throttled_with(2, |_| {}, configure_throttling).await
}

/// [`spawn_throttled_app`] with `hashing_threads` password-hashing threads and the test
/// settings changed by `configure`.
pub async fn spawn_throttled_with(
    hashing_threads: usize,
    configure: impl FnOnce(&mut Settings),
    configure_throttling: impl FnOnce(&mut tessera_axum::ThrottleSettings),
) -> TestApp {
    let mut throttling = tessera_axum::ThrottleSettings::default();
    configure_throttling(&mut throttling);
    let (tessera, clock, dir) = build_state_with(
        configure,
        Some(AccountSettings::default()),
        PasswordHasher::new(hashing_threads),
    )
    .await;
    let tessera = tessera
        .to_builder()
        .throttling(throttling)
        .build()
        .await
        .expect("valid throttle settings");
    let router = Router::new()
        .nest(
            "/api",
            token_routes()
                .merge(account_routes())
                .merge(session_routes())
                .merge(cookie_routes()),
        )
        .route("/api/protected/", get(protected))
        .route("/api/public/", get(public));
    serve(router, tessera, clock, dir).await
}

/// A client whose connections come from `ip`: on Linux every address of 127.0.0.0/8 is
/// this machine, so tests can be several clients.
pub fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("client")
}

impl TestApp {
    /// A request sent by another client (see [`client_from`]).
    pub fn request_by(
        &self,
        client: &reqwest::Client,
        method: Method,
        path: &str,
    ) -> RequestBuilder {
        client.request(method, self.url(path))
    }

    /// `POST /api/token/` with these credentials and an `X-Forwarded-For` header.
    pub async fn obtain_forwarded(
        &self,
        forwarded_for: &str,
        email: &str,
        password: &str,
    ) -> Reply {
        self.send(
            self.request(Method::POST, "/api/token/")
                .header("x-forwarded-for", forwarded_for)
                .json(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Sets the app's clock to `micros` after [`NOW`].
    pub fn set_offset_micros(&self, micros: i64) {
        self.clock.set_micros(NOW * 1_000_000 + micros);
    }

    /// How many live sessions `user` has.
    pub async fn session_count(&self, user: &User) -> usize {
        self.tessera
            .auth()
            .store()
            .live_sessions(user.id, self.now())
            .await
            .expect("sessions")
            .len()
    }
}

/// A metrics recorder for one test: every counter's total and every value a gauge was set
/// to, by name and labels (`name{label="value",…}`, labels in the order given).
///
/// [`MetricsProbe::install`] puts it on the test's thread only. `#[tokio::test]` runs the
/// test, the served app and the client on that one thread (password hashes run elsewhere
/// but record nothing there), so the probe sees this test's app and no other.
#[derive(Clone, Default)]
pub struct MetricsProbe(std::sync::Arc<ProbeData>);

#[derive(Default)]
pub struct ProbeData {
    counters: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    gauges: std::sync::Mutex<std::collections::BTreeMap<String, Vec<f64>>>,
}

struct ProbeHandle {
    probe: MetricsProbe,
    key: String,
}

fn probe_key(key: &metrics::Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|label| format!("{}=\"{}\"", label.key(), label.value()))
        .collect();
    if labels.is_empty() {
        key.name().to_owned()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl MetricsProbe {
    /// Records this thread's metrics until the guard is dropped.
    pub fn install(&self) -> metrics::LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(self)
    }

    /// A counter's total (0 when it was never incremented).
    pub fn counter(&self, key: &str) -> u64 {
        let counters = self.0.counters.lock().expect("probe lock");
        counters.get(key).copied().unwrap_or(0)
    }

    /// Every value the gauge was set to, in order.
    pub fn gauge_values(&self, key: &str) -> Vec<f64> {
        let gauges = self.0.gauges.lock().expect("probe lock");
        gauges.get(key).cloned().unwrap_or_default()
    }

    /// How many password hashes the hashing pool took on (`tessera_password_hashes_total`).
    pub fn hashes(&self) -> u64 {
        self.counter("tessera_password_hashes_total")
    }

    /// The value `tessera_hash_queue_depth` was last set to.
    pub fn queue_depth(&self) -> Option<f64> {
        self.gauge_values("tessera_hash_queue_depth")
            .last()
            .copied()
    }
}

impl metrics::CounterFn for ProbeHandle {
    fn increment(&self, value: u64) {
        let mut counters = self.probe.0.counters.lock().expect("probe lock");
        *counters.entry(self.key.clone()).or_default() += value;
    }

    fn absolute(&self, value: u64) {
        let mut counters = self.probe.0.counters.lock().expect("probe lock");
        let total = counters.entry(self.key.clone()).or_default();
        *total = (*total).max(value);
    }
}

impl metrics::GaugeFn for ProbeHandle {
    fn increment(&self, value: f64) {
        let mut gauges = self.probe.0.gauges.lock().expect("probe lock");
        let values = gauges.entry(self.key.clone()).or_default();
        let next = values.last().copied().unwrap_or(0.0) + value;
        values.push(next);
    }

    fn decrement(&self, value: f64) {
        self.increment(-value);
    }

    fn set(&self, value: f64) {
        let mut gauges = self.probe.0.gauges.lock().expect("probe lock");
        gauges.entry(self.key.clone()).or_default().push(value);
    }
}

impl metrics::Recorder for MetricsProbe {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }

    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(std::sync::Arc::new(ProbeHandle {
            probe: self.clone(),
            key: probe_key(key),
        }))
    }

    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(std::sync::Arc::new(ProbeHandle {
            probe: self.clone(),
            key: probe_key(key),
        }))
    }

    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

// ---- the audit log (issue 7) ----

/// Serves every router of the library — token, account, session, cookie, admin and key
/// routes — with rotation and blacklisting after rotation, signing keys kept in the store
/// (EdDSA), and the throttling and audit settings changed by `configure_throttling` and
/// `configure_audit`.
pub async fn spawn_audit_app(
    configure_throttling: impl FnOnce(&mut tessera_axum::ThrottleSettings),
    configure_audit: impl FnOnce(&mut tessera_axum::AuditSettings),
) -> TestApp {
    let mut throttling = tessera_axum::ThrottleSettings::default();
    configure_throttling(&mut throttling);
    let mut audit = tessera_axum::AuditSettings::default();
    configure_audit(&mut audit);
    let store_keys = |settings: &mut Settings| {
        settings.rotate_refresh_tokens = true;
        settings.blacklist_after_rotation = true;
        settings.key_source = tessera_core::KeyOrigin::Store;
        settings.algorithm = tessera_core::Algorithm::EdDSA;
        settings.signing_key = None;
    };
    let (tessera, clock, dir) = build_state(store_keys, Some(AccountSettings::default())).await;
    let tessera = tessera
        .to_builder()
        .throttling(throttling)
        .build()
        .await
        .expect("valid throttle settings")
        .to_builder()
        .audit(audit)
        .build()
        .await
        .expect("valid audit settings");
    let router = Router::new().nest(
        "/api",
        token_routes()
            .merge(account_routes())
            .merge(session_routes())
            .merge(cookie_routes())
            .merge(tessera_axum::routes::admin_routes())
            .merge(tessera_axum::routes::key_routes()),
    );
    serve(router, tessera, clock, dir).await
}

impl TestApp {
    /// The app's SQLite file.
    pub fn database_path(&self) -> std::path::PathBuf {
        self._dir.path().join("t.db")
    }
}
