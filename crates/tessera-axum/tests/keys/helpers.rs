//! Tessera apps on the one harness (`tessera_axum::testing`) — several may share a database
//! and a clock — and a fake issuer, served on a local port for the apps to fetch, whose JWKS
//! endpoint can be told to fail or to hang.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_axum::routes::{jwks_routes, key_routes, token_routes};
use tessera_axum::testing::{TestAppBuilder, serve};
use tessera_axum::{AuthUser, TokenUser};
use tessera_core::{Algorithm, Key, KeyRing, Settings, Token, TokenBackend, TokenKind};
use tessera_store::NewUser;

pub use tessera_axum::testing::{NOW, TestApp};

pub const PASSWORD: &str = "correct horse battery staple";
pub const KEK: &str = "a-key-encryption-key-of-32-bytes-or-more!";

pub const RSA_PEM: &str = include_str!("../../../tessera-core/src/keys/testdata/rsa2048.pem");
pub const ED_PEM: &str = include_str!("../../../tessera-core/src/keys/testdata/ed25519.pem");
pub const EC_PEM: &str = include_str!("../../../tessera-core/src/keys/testdata/ec256.pem");

async fn protected(user: AuthUser) -> Json<Value> {
    Json(json!({"id": user.user.id}))
}

async fn stateless(user: TokenUser) -> Json<Value> {
    Json(json!({"user_id": user.id}))
}

/// Settings for store-kept keys with short intervals, changed by `configure`.
pub fn store_settings(configure: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = Settings {
        key_source: tessera_core::KeyOrigin::Store,
        key_encryption_key: Some(KEK.into()),
        algorithm: Algorithm::EdDSA,
        key_refresh_interval: Duration::from_secs(1),
        jwks_cache_ttl: Duration::from_secs(10),
        key_publish_lead: Duration::from_secs(60),
        ..Settings::default()
    };
    configure(&mut settings);
    settings
}

/// An app with exactly these settings (its keys start when it is built), serving the token,
/// JWKS and key routes plus `/api/protected/` and `/api/stateless/`.
pub fn keys_app(settings: Settings) -> TestAppBuilder {
    TestApp::builder()
        .settings(move |s| *s = settings)
        .nest("/api", token_routes().merge(key_routes()))
        .merge(jwks_routes())
        .route("/api/protected/", get(protected))
        .route("/api/stateless/", get(stateless))
}

/// A user with [`PASSWORD`], staff or not.
pub async fn create_user(app: &TestApp, email: &str, staff: bool) -> i64 {
    app.create_user_with(
        NewUser {
            email: email.into(),
            is_active: true,
            is_staff: staff,
            ..NewUser::default()
        },
        PASSWORD,
    )
    .await
    .id
}

/// Requests to a [`TestApp`], each from a new client.
pub trait KeysApi {
    /// The application.
    fn app(&self) -> &TestApp;

    /// A token pair for `email`: `(refresh, access)`.
    async fn login(&self, email: &str) -> (String, String) {
        let reply = self
            .app()
            .client()
            .post("/api/token/")
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await;
        assert_eq!(reply.status(), 200);
        let body = reply.json();
        (
            body["refresh"].as_str().unwrap().to_owned(),
            body["access"].as_str().unwrap().to_owned(),
        )
    }

    /// GET `path` with a bearer token: status and body text.
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.app().client().get(path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.send().await;
        (reply.status().as_u16(), reply.text().to_owned())
    }

    /// POST JSON with a bearer token: status and body.
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let reply = self
            .app()
            .client()
            .post(path)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await;
        let status = reply.status().as_u16();
        (
            status,
            serde_json::from_slice(reply.bytes()).unwrap_or(Value::Null),
        )
    }

    /// The kids of the JWKS this app serves.
    async fn jwks_kids(&self) -> Vec<String> {
        let jwks = self
            .app()
            .client()
            .get("/.well-known/jwks.json")
            .send()
            .await
            .json();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl KeysApi for TestApp {
    fn app(&self) -> &TestApp {
        self
    }
}

/// The `kid` in a token's header.
pub fn kid_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next()?)
        .ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header["kid"].as_str().map(str::to_owned)
}

/// Polls `check` every 20 ms until it holds; fails after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fake issuer: signs tokens with its own keys and serves their JWKS — or a failure,
/// or nothing for a while — counting the requests. It is served on a real port: the apps
/// fetch its JWKS over HTTP, as they would another issuer's.
#[derive(Clone)]
pub struct Issuer(Arc<IssuerState>);

pub struct IssuerState {
    backends: Mutex<Vec<TokenBackend>>,
    pub status: Mutex<StatusCode>,
    pub delay: Mutex<Duration>,
    pub body: Mutex<Option<String>>,
    pub hits: AtomicUsize,
    pub url: Mutex<String>,
}

async fn issuer_jwks(State(issuer): State<Issuer>) -> impl IntoResponse {
    issuer.0.hits.fetch_add(1, Ordering::SeqCst);
    let delay = *issuer.0.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = *issuer.0.status.lock().unwrap();
    let body = issuer.0.body.lock().unwrap().clone().unwrap_or_else(|| {
        let keys: Vec<Value> = issuer
            .0
            .backends
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| {
                b.keys().jwks()["keys"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        json!({"keys": keys}).to_string()
    });
    (status, [("content-type", "application/json")], body)
}

impl Issuer {
    /// An issuer with one key, serving its JWKS at `<url>/jwks.json`.
    pub async fn start(algorithm: Algorithm, pem: &str, kid: &str) -> Self {
        let issuer = Self(Arc::new(IssuerState {
            backends: Mutex::new(vec![]),
            status: Mutex::new(StatusCode::OK),
            delay: Mutex::new(Duration::ZERO),
            body: Mutex::new(None),
            hits: AtomicUsize::new(0),
            url: Mutex::new(String::new()),
        }));
        issuer.add_key(algorithm, pem, kid);
        let router = Router::new()
            .route("/jwks.json", get(issuer_jwks))
            .with_state(issuer.clone());
        let address = serve(router).await;
        *issuer.0.url.lock().unwrap() = format!("http://{address}/jwks.json");
        issuer
    }

    pub fn url(&self) -> String {
        self.0.url.lock().unwrap().clone()
    }

    pub fn state(&self) -> &IssuerState {
        &self.0
    }

    pub fn hits(&self) -> usize {
        self.0.hits.load(Ordering::SeqCst)
    }

    /// Publishes another key.
    pub fn add_key(&self, algorithm: Algorithm, pem: &str, kid: &str) {
        let key = Key::from_private_pem(algorithm, pem)
            .unwrap()
            .with_kid(kid)
            .unwrap();
        let backend = TokenBackend::new(KeyRing::new(key, []).unwrap(), &Settings::default());
        self.0.backends.lock().unwrap().push(backend);
    }

    /// An access token for `user_id` signed with the key `kid`, with `claims` added.
    pub fn token(&self, kid: &str, user_id: &str, claims: Value) -> String {
        let backends = self.0.backends.lock().unwrap();
        let backend = backends
            .iter()
            .find(|b| b.keys().active().and_then(Key::kid) == Some(kid))
            .expect("a key with this kid");
        let mut token = Token::for_user(backend, TokenKind::access(), user_id, NOW);
        for (name, value) in claims.as_object().unwrap() {
            token.insert(name, value.clone());
        }
        backend.encode(&token).unwrap()
    }
}
