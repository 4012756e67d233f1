//! A small OpenID Connect provider for tests: real HTTP on `127.0.0.1`, the authorization
//! code flow with PKCE, RS256 ID tokens, and GitHub's OAuth2 user API. It has no login
//! page: `/authorize` sends the browser straight back with a code for the user the test
//! chose. Tests drive Tessera's real HTTP client against it; nothing is mocked.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use tessera_oidc_provider::{Fault, OidcProvider, ProviderUser};
//!
//! let provider = OidcProvider::start("client-id", "client-secret").await?;
//! provider.set_user(ProviderUser::new("sub-1", "ada@example.com"));
//! // … configure Tessera with `issuer = provider.issuer()` …
//! provider.set_fault(Some(Fault::WrongNonce));
//! # Ok(()) }
//! ```
//!
//! Routes: `/.well-known/openid-configuration`, `/authorize` (`response_type=code`,
//! `client_id`, `redirect_uri`, `state`, `nonce`, and PKCE — required — as `code_challenge`
//! with `code_challenge_method=S256`; `login_hint` picks a user added with
//! [`OidcProvider::add_user`]), `/token` (client secret by `client_secret_post` or
//! `client_secret_basic`, the PKCE verifier, the same `redirect_uri`, single-use codes),
//! `/jwks`, `/userinfo`, and GitHub's `/login/oauth/authorize`,
//! `/login/oauth/access_token`, `/user`, `/user/emails`.
//!
//! Faults ([`Fault`], set with [`OidcProvider::set_fault`]) spoil the ID tokens (signature,
//! nonce, audience, lifetime, `email_verified`), deny the authorization or take discovery
//! down.
//!
//! The binary `tessera-oidc-provider --client-id ID --client-secret SECRET [--port N]
//! [--email ADDRESS]` serves until interrupted and prints one line, `listening on
//! 127.0.0.1:PORT`, when ready.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tessera_core::{Algorithm, Key};

/// The key id of the provider's signing key.
pub const KID: &str = "test-provider-key";

/// A user of the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUser {
    /// `sub` (and GitHub's numeric `id` when it is digits).
    pub subject: String,
    /// `email`; empty for none.
    pub email: String,
    /// `email_verified` (GitHub: `verified` of the primary address).
    pub email_verified: bool,
    /// `given_name`.
    pub given_name: String,
    /// `family_name`.
    pub family_name: String,
    /// GitHub's `login`, and `preferred_username`.
    pub login: String,
}

impl ProviderUser {
    /// A user with a verified address, named Ada Lovelace, login `ada`.
    pub fn new(subject: &str, email: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            login: email.split('@').next().unwrap_or("user").to_owned(),
        }
    }

    /// The same user with an unverified address.
    pub fn unverified(mut self) -> Self {
        self.email_verified = false;
        self
    }
}

/// What the provider does wrong, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The ID token's signature does not verify.
    TamperSignature,
    /// The ID token carries another nonce.
    WrongNonce,
    /// The ID token's `aud` is another client.
    WrongAudience,
    /// The ID token expired an hour ago.
    Expired,
    /// `email_verified` is `false` (GitHub: the primary address is unverified).
    EmailUnverified,
    /// `/authorize` answers `error=access_denied`.
    Deny,
    /// The discovery document answers 503 (the provider is down).
    DiscoveryDown,
}

/// An authorization code waiting for `/token`.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    user: ProviderUser,
}

#[derive(Debug)]
struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    signing: EncodingKey,
    jwks: Value,
    user: Mutex<Option<ProviderUser>>,
    users: Mutex<HashMap<String, ProviderUser>>,
    fault: Mutex<Option<Fault>>,
    now: Mutex<Option<i64>>,
    grants: Mutex<HashMap<String, Grant>>,
    access: Mutex<HashMap<String, ProviderUser>>,
    discovery_fetches: AtomicUsize,
    token_requests: AtomicUsize,
    signing_algs: Mutex<Vec<String>>,
}

/// A running provider; it stops when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OidcProvider {
    /// Starts a provider on a free port of `127.0.0.1` for one client.
    ///
    /// # Errors
    /// The port cannot be bound, or the key cannot be made.
    pub async fn start(client_id: &str, client_secret: &str) -> io::Result<Self> {
        Self::start_on(0, client_id, client_secret).await
    }

    /// [`OidcProvider::start`] on `port` (`0`: any free one).
    ///
    /// # Errors
    /// The port cannot be bound, or the key cannot be made.
    pub async fn start_on(port: u16, client_id: &str, client_secret: &str) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let failed = |what: &str| io::Error::other(format!("the provider's key: {what}"));
        let pem = tessera_core::generate_private_key(Algorithm::RS256)
            .map_err(|e| failed(&e.to_string()))?;
        let signing = EncodingKey::from_rsa_pem(pem.expose().as_bytes())
            .map_err(|e| failed(&e.to_string()))?;
        let key = Key::from_private_pem(Algorithm::RS256, pem.expose())
            .and_then(|key| key.with_kid(KID))
            .map_err(|e| failed(&e.to_string()))?;
        let jwk = key.public_jwk().ok_or_else(|| failed("no public JWK"))?;
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            signing,
            jwks: json!({"keys": [jwk]}),
            user: Mutex::new(None),
            users: Mutex::new(HashMap::new()),
            fault: Mutex::new(None),
            now: Mutex::new(None),
            grants: Mutex::new(HashMap::new()),
            access: Mutex::new(HashMap::new()),
            discovery_fetches: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            signing_algs: Mutex::new(vec!["RS256".into()]),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/login/oauth/authorize", get(authorize))
            .route("/token", post(token))
            .route("/login/oauth/access_token", post(github_token))
            .route("/jwks", get(jwks))
            .route("/userinfo", get(userinfo))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// The issuer: `http://127.0.0.1:PORT` (no trailing slash).
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The port served on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The user `/authorize` signs in when no `login_hint` names another.
    pub fn set_user(&self, user: ProviderUser) {
        *lock(&self.shared.user) = Some(user);
    }

    /// A user `/authorize?login_hint=LOGIN` signs in, by its `login`.
    pub fn add_user(&self, user: ProviderUser) {
        lock(&self.shared.users).insert(user.login.clone(), user);
    }

    /// The fault applied from now on (`None`: none).
    pub fn set_fault(&self, fault: Option<Fault>) {
        *lock(&self.shared.fault) = fault;
    }

    /// The time ID tokens are issued at, in seconds since the epoch (`None`: the system's).
    pub fn set_now(&self, unix_seconds: Option<i64>) {
        *lock(&self.shared.now) = unix_seconds;
    }

    /// The `id_token_signing_alg_values_supported` the discovery document lists (`RS256`
    /// by default). ID tokens are signed with RS256 whatever it says.
    pub fn set_signing_algs(&self, algs: &[&str]) {
        *lock(&self.shared.signing_algs) = algs.iter().map(|a| (*a).to_owned()).collect();
    }

    /// How many times the discovery document was fetched.
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// How many token requests arrived (answered or refused).
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // A test server: a failure of the system's generator leaves zeros plus a counter.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        bytes[..8].copy_from_slice(&COUNTER.fetch_add(1, Ordering::SeqCst).to_le_bytes());
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({"error": code}))).into_response()
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if *lock(&shared.fault) == Some(Fault::DiscoveryDown) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    }
    let issuer = &shared.issuer;
    let algs = lock(&shared.signing_algs).clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "scopes_supported": ["openid", "email", "profile"],
    }))
    .into_response()
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).cloned();
    let Some(redirect_uri) = param("redirect_uri") else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if param("client_id").as_deref() != Some(shared.client_id.as_str()) {
        return error(StatusCode::BAD_REQUEST, "unauthorized_client");
    }
    let Ok(mut back) = url::Url::parse(&redirect_uri) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    if let Some(state) = param("state") {
        back.query_pairs_mut().append_pair("state", &state);
    }
    let user = match param("login_hint") {
        Some(hint) => lock(&shared.users).get(&hint).cloned(),
        None => lock(&shared.user).clone(),
    };
    let denied = *lock(&shared.fault) == Some(Fault::Deny);
    let (Some(user), false) = (user, denied) else {
        back.query_pairs_mut().append_pair("error", "access_denied");
        return Redirect::to(back.as_str()).into_response();
    };
    // PKCE is required, and only S256 (RFC 9700 §2.1.1).
    let challenge = param("code_challenge").filter(|c| (43..=128).contains(&c.len()));
    let (Some(challenge), Some("S256")) = (challenge, param("code_challenge_method").as_deref())
    else {
        back.query_pairs_mut()
            .append_pair("error", "invalid_request");
        return Redirect::to(back.as_str()).into_response();
    };
    let code = random_token();
    lock(&shared.grants).insert(
        code.clone(),
        Grant {
            client_id: shared.client_id.clone(),
            redirect_uri,
            challenge,
            nonce: param("nonce"),
            user,
        },
    );
    back.query_pairs_mut().append_pair("code", &code);
    Redirect::to(back.as_str()).into_response()
}

/// The client's id and secret: `client_secret_basic`, else `client_secret_post`.
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v.trim()).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            let (id, secret) = v.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    basic.unwrap_or_else(|| {
        (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        )
    })
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    exchange(&shared, &headers, &form, true)
}

/// GitHub's token endpoint: an access token, no ID token.
async fn github_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    exchange(&shared, &headers, &form, false)
}

fn exchange(
    shared: &Shared,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    oidc: bool,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let (id, secret) = client_credentials(headers, form);
    if id != shared.client_id || secret != shared.client_secret {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let code = form.get("code").cloned().unwrap_or_default();
    // Single use: the grant goes whatever the outcome.
    let Some(grant) = lock(&shared.grants).remove(&code) else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if grant.client_id != id || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    if verifier.is_empty() || URL_SAFE_NO_PAD.encode(digest.as_ref()) != grant.challenge {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let access = random_token();
    let fault = *lock(&shared.fault);
    let mut user = grant.user.clone();
    if fault == Some(Fault::EmailUnverified) {
        user.email_verified = false;
    }
    lock(&shared.access).insert(access.clone(), user.clone());
    let mut answer = json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600});
    if oidc {
        let now = lock(&shared.now).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
        let (iat, exp) = match fault {
            Some(Fault::Expired) => (now - 7200, now - 3600),
            _ => (now, now + 300),
        };
        let aud = match fault {
            Some(Fault::WrongAudience) => "another-client".to_owned(),
            _ => grant.client_id.clone(),
        };
        let nonce = match fault {
            Some(Fault::WrongNonce) => Some("not-the-nonce".to_owned()),
            _ => grant.nonce.clone(),
        };
        let mut claims = json!({
            "iss": shared.issuer,
            "sub": user.subject,
            "aud": aud,
            "iat": iat,
            "exp": exp,
            "email": user.email,
            "email_verified": user.email_verified,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "preferred_username": user.login,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::String(nonce);
        }
        let mut head = Header::new(jsonwebtoken::Algorithm::RS256);
        head.kid = Some(KID.to_owned());
        let Ok(mut id_token) = jsonwebtoken::encode(&head, &claims, &shared.signing) else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
        };
        if fault == Some(Fault::TamperSignature) {
            // Flip the signature's first character: still base64url, no longer valid.
            if let Some(dot) = id_token.rfind('.') {
                let first = id_token.as_bytes().get(dot + 1).copied();
                let swapped = if first == Some(b'A') { "B" } else { "A" };
                id_token.replace_range(dot + 1..dot + 2, swapped);
            }
        }
        answer["id_token"] = Value::String(id_token);
    }
    Json(answer).into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.jwks.clone())
}

/// The user of the request's bearer token.
fn bearer_user(shared: &Shared, headers: &HeaderMap) -> Option<ProviderUser> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim()
        .to_owned();
    lock(&shared.access).get(&token).cloned()
}

async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(user) = bearer_user(&shared, &headers) else {
        return error(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    Json(json!({
        "sub": user.subject,
        "email": user.email,
        "email_verified": user.email_verified,
        "given_name": user.given_name,
        "family_name": user.family_name,
    }))
    .into_response()
}

async fn github_user(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(user) = bearer_user(&shared, &headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    };
    let id: Value = user
        .subject
        .parse::<u64>()
        .map_or_else(|_| Value::String(user.subject.clone()), Value::from);
    Json(json!({
        "id": id,
        "login": user.login,
        "name": format!("{} {}", user.given_name, user.family_name).trim(),
        // GitHub shows the public address only; the verified one comes from /user/emails.
        "email": Value::Null,
    }))
    .into_response()
}

async fn github_emails(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(user) = bearer_user(&shared, &headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    };
    let mut emails = vec![json!({
        "email": format!("{}@users.noreply.example.com", user.login),
        "primary": false,
        "verified": true,
        "visibility": Value::Null,
    })];
    if !user.email.is_empty() {
        emails.push(json!({
            "email": user.email,
            "primary": true,
            "verified": user.email_verified,
            "visibility": "private",
        }));
    }
    Json(Value::Array(emails)).into_response()
}
