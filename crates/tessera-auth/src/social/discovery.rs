//! Talking to a provider: its discovery document (fetched when first needed, cached for
//! [`DISCOVERY_TTL`]), the token endpoint, the ID token's verification with the provider's
//! JWKS ([`RemoteJwks`], the fetching and caching of `jwk_url`), and GitHub's user API.
//! Every call is limited to [`REMOTE_TIMEOUT`] and its answer to [`MAX_REMOTE_BYTES`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tessera_core::remote::{RemoteJwks, RemoteJwksOptions, fetch_capped, http_client};
use tessera_core::{Algorithm, KeySource as _, Timestamp};

use super::{ProviderConfig, ProviderKind};

/// How long a discovery document is trusted before it is fetched again.
pub(crate) const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The time limit of each call to a provider (connecting included).
pub(crate) const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider.
pub(crate) const MAX_REMOTE_BYTES: usize = 64 * 1024;
/// How long a failed discovery is remembered: meanwhile starts are refused at once rather
/// than each waiting for the provider again.
pub(crate) const FAILURE_TTL: Duration = Duration::from_secs(30);
/// The clock skew an ID token's `exp` and `iat` are allowed.
pub(crate) const LEEWAY_SECS: f64 = 60.0;
/// The longest subject and claim text kept.
const MAX_CLAIM_CHARS: usize = 255;

/// What a provider says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The provider's stable id of the account.
    pub(crate) subject: String,
    /// The address, if any.
    pub(crate) email: Option<String>,
    /// Whether the provider vouches for the address.
    pub(crate) email_verified: bool,
    pub(crate) given_name: String,
    pub(crate) family_name: String,
    /// A username to start from (`preferred_username`, GitHub's `login`).
    pub(crate) username_hint: Option<String>,
}

/// The parts of a discovery document used.
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    jwks: Arc<RemoteJwks>,
    fetched_at: Instant,
}

/// The discovery document held, and the last failure to fetch it.
#[derive(Debug, Default)]
struct DiscoverySlot {
    held: Option<Discovery>,
    failed: Option<(Instant, RemoteError)>,
}

/// A provider's configuration and what was learnt from it.
#[derive(Debug)]
pub(crate) struct ProviderRuntime {
    pub(crate) config: ProviderConfig,
    discovery: tokio::sync::Mutex<DiscoverySlot>,
    client: Option<reqwest::Client>,
}

/// A provider call that failed; the text is for the logs and the audit (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteError(pub(crate) String);

fn fail(message: impl Into<String>) -> RemoteError {
    RemoteError(message.into())
}

impl ProviderRuntime {
    pub(crate) fn new(config: ProviderConfig) -> Self {
        let client = http_client(REMOTE_TIMEOUT)
            .inspect_err(|error| tracing::error!(%error, "no HTTP client for social login"))
            .ok();
        Self {
            config,
            discovery: tokio::sync::Mutex::new(DiscoverySlot::default()),
            client,
        }
    }

    fn client(&self) -> Result<&reqwest::Client, RemoteError> {
        self.client.as_ref().ok_or_else(|| fail("no HTTP client"))
    }

    /// The authorization endpoint.
    pub(crate) async fn authorization_endpoint(&self) -> Result<String, RemoteError> {
        match self.config.kind {
            ProviderKind::Github => Ok(self.config.github_authorize_url()),
            ProviderKind::Oidc => Ok(self.discovered().await?.authorization_endpoint),
        }
    }

    /// The discovery document, from the cache while younger than [`DISCOVERY_TTL`]; a
    /// failed refresh keeps serving the one held. One fetch at a time: the requests that
    /// wait for it take its outcome, and a failure is remembered for [`FAILURE_TTL`], so
    /// that a provider that is down is not asked again by every request.
    async fn discovered(&self) -> Result<Discovery, RemoteError> {
        let mut slot = self.discovery.lock().await;
        if let Some(held) = slot.held.as_ref()
            && held.fetched_at.elapsed() < DISCOVERY_TTL
        {
            return Ok(held.clone());
        }
        if let Some((at, error)) = slot.failed.as_ref()
            && at.elapsed() < FAILURE_TTL
        {
            return match slot.held.as_ref() {
                Some(held) => Ok(held.clone()),
                None => Err(error.clone()),
            };
        }
        match self.fetch_discovery(slot.held.as_ref()).await {
            Ok(fresh) => {
                slot.held = Some(fresh.clone());
                slot.failed = None;
                Ok(fresh)
            }
            Err(error) => {
                slot.failed = Some((Instant::now(), error.clone()));
                match slot.held.as_ref() {
                    Some(held) => {
                        tracing::warn!(provider = %self.config.name, error = %error.0, "could not refresh the discovery document; keeping the one held");
                        Ok(held.clone())
                    }
                    None => Err(error),
                }
            }
        }
    }

    async fn fetch_discovery(&self, held: Option<&Discovery>) -> Result<Discovery, RemoteError> {
        let issuer = self.config.issuer.clone().unwrap_or_default();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let request = self
            .client()?
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json");
        let body = fetch_capped(request, MAX_REMOTE_BYTES)
            .await
            .map_err(|e| fail(format!("discovery at {url}: {e}")))?;
        let document: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("discovery at {url} is not a JSON object ({e})")))?;
        let text = |name: &str| {
            document
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if text("issuer").as_deref() != Some(issuer.as_str()) {
            return Err(fail(format!(
                "discovery at {url}: its issuer is not the configured {issuer:?}"
            )));
        }
        let endpoint = |name: &str| {
            let value = text(name).ok_or_else(|| fail(format!("discovery: no `{name}`")))?;
            match url::Url::parse(&value) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(value),
                _ => Err(fail(format!("discovery: `{name}` is not an http(s) URL"))),
            }
        };
        let authorization_endpoint = endpoint("authorization_endpoint")?;
        let token_endpoint = endpoint("token_endpoint")?;
        let jwks_uri = endpoint("jwks_uri")?;
        // RS256, OpenID Connect's default, whenever the document lists it (or lists
        // nothing): the order of the list says nothing of which key signs ID tokens. Else
        // the first asymmetric algorithm Tessera knows. `none` and HMAC are never taken.
        let algorithm = match document.get("id_token_signing_alg_values_supported") {
            Some(Value::Array(names)) => {
                let known: Vec<Algorithm> = names
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|name| name.parse::<Algorithm>().ok())
                    .filter(|alg| !alg.is_hmac())
                    .collect();
                if known.contains(&Algorithm::RS256) {
                    Algorithm::RS256
                } else {
                    known
                        .first()
                        .copied()
                        .ok_or_else(|| fail("discovery: no supported ID token algorithm"))?
                }
            }
            _ => Algorithm::RS256,
        };
        let jwks = match held {
            Some(held) if held.jwks.url() == jwks_uri && held.jwks.algorithm() == algorithm => {
                held.jwks.clone()
            }
            _ => RemoteJwks::with_options(
                jwks_uri,
                algorithm,
                RemoteJwksOptions {
                    timeout: REMOTE_TIMEOUT,
                    min_interval: Duration::from_secs(30),
                    ttl: DISCOVERY_TTL,
                },
            )
            .map_err(|e| fail(e.message))?,
        };
        Ok(Discovery {
            authorization_endpoint,
            token_endpoint,
            jwks,
            fetched_at: Instant::now(),
        })
    }

    /// Redeems `code` at the token endpoint and reads who signed in: the ID token's claims
    /// (OpenID Connect), or GitHub's user and verified primary address.
    pub(crate) async fn profile(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        nonce: &str,
        now: Timestamp,
    ) -> Result<Profile, (&'static str, RemoteError)> {
        match self.config.kind {
            ProviderKind::Oidc => {
                let discovery = self.discovered().await.map_err(|e| ("discovery", e))?;
                let answer = self
                    .redeem(&discovery.token_endpoint, code, redirect_uri, verifier)
                    .await
                    .map_err(|e| ("token_exchange", e))?;
                let id_token = answer
                    .get("id_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ("id_token", fail("the token answer has no id_token")))?;
                self.verify_id_token(&discovery, id_token, nonce, now)
                    .await
                    .map_err(|e| ("id_token", e))
            }
            ProviderKind::Github => {
                let answer = self
                    .redeem(
                        &self.config.github_token_url(),
                        code,
                        redirect_uri,
                        verifier,
                    )
                    .await
                    .map_err(|e| ("token_exchange", e))?;
                let access = answer
                    .get("access_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ("token_exchange", fail("no access_token")))?;
                self.github_profile(access)
                    .await
                    .map_err(|e| ("provider_api", e))
            }
        }
    }

    /// POSTs the authorization code grant; the client authenticates with HTTP Basic
    /// (OpenID Connect's default) or in the form (GitHub).
    async fn redeem(
        &self,
        endpoint: &str,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<Map<String, Value>, RemoteError> {
        let config = &self.config;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut request = self
            .client()?
            .post(endpoint)
            .header(reqwest::header::ACCEPT, "application/json");
        match config.kind {
            ProviderKind::Oidc => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(
                    encode(&config.client_id),
                    Some(encode(config.client_secret.expose())),
                );
            }
            ProviderKind::Github => {
                form.push(("client_id", config.client_id.as_str()));
                form.push(("client_secret", config.client_secret.expose()));
            }
        }
        let body = fetch_capped(request.form(&form), MAX_REMOTE_BYTES)
            .await
            .map_err(|e| fail(format!("the token endpoint: {e}")))?;
        let answer: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|_| fail("the token endpoint's answer is not a JSON object"))?;
        if let Some(error) = answer.get("error").and_then(Value::as_str) {
            let error: String = error.chars().take(64).collect();
            return Err(fail(format!("the token endpoint refused: {error}")));
        }
        Ok(answer)
    }

    /// Checks an ID token: its `alg` is the key set's (never `none` or HMAC), its signature
    /// verifies with the JWKS key of its `kid`, `iss` is the issuer, `aud` holds the client
    /// id (and `azp`, if any, is it), `exp` is ahead and `iat` not ahead (60 s of leeway,
    /// by the service's clock), `nonce` is the one stored.
    async fn verify_id_token(
        &self,
        discovery: &Discovery,
        raw: &str,
        nonce: &str,
        now: Timestamp,
    ) -> Result<Profile, RemoteError> {
        if raw.len() > MAX_REMOTE_BYTES {
            return Err(fail("the ID token is too long"));
        }
        let header =
            jsonwebtoken::decode_header(raw).map_err(|_| fail("the ID token is malformed"))?;
        let jwks = &discovery.jwks;
        let expected = jwks.algorithm();
        if format!("{:?}", header.alg) != expected.name() {
            return Err(fail(format!(
                "the ID token is signed with {:?}, not {}",
                header.alg,
                expected.name()
            )));
        }
        let kid = match header.kid {
            Some(kid) => kid,
            None => {
                // One key and no `kid`: that key.
                jwks.ensure("").await;
                match jwks.kids().as_slice() {
                    [only] => only.clone(),
                    _ => return Err(fail("the ID token names no key")),
                }
            }
        };
        jwks.ensure(&kid).await;
        let key = jwks
            .key(&kid)
            .ok_or_else(|| fail("the ID token's key is not in the provider's JWKS"))?;
        let issuer = self.config.issuer.clone().unwrap_or_default();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&[self.config.client_id.as_str()]);
        // Times are checked below, by the service's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = ["iss", "aud", "sub"].map(String::from).into();
        let claims =
            jsonwebtoken::decode::<Map<String, Value>>(raw, key.decoding_key(), &validation)
                .map_err(|e| fail(format!("the ID token does not verify ({e})")))?
                .claims;
        let now = now.as_secs_f64();
        let number = |name: &str| claims.get(name).and_then(Value::as_f64);
        match number("exp") {
            Some(exp) if exp + LEEWAY_SECS > now => {}
            _ => return Err(fail("the ID token has expired")),
        }
        match number("iat") {
            Some(iat) if iat <= now + LEEWAY_SECS => {}
            _ => return Err(fail("the ID token has no valid `iat`")),
        }
        if let Some(azp) = claims.get("azp")
            && azp.as_str() != Some(self.config.client_id.as_str())
        {
            return Err(fail("the ID token's `azp` is another client"));
        }
        let given = claims
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), nonce.as_bytes())
            .is_err()
        {
            return Err(fail("the ID token's nonce is not the one sent"));
        }
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(|s| s.trim().chars().take(MAX_CLAIM_CHARS).collect::<String>())
                .filter(|s| !s.is_empty())
        };
        // An address is never cut short: a longer one is refused, not made another.
        let email = match claims.get("email").and_then(Value::as_str).map(str::trim) {
            Some(email) if email.chars().count() > MAX_CLAIM_CHARS => {
                return Err(fail("the ID token's `email` is too long"));
            }
            Some(email) if !email.is_empty() => Some(email.to_owned()),
            _ => None,
        };
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= MAX_CLAIM_CHARS)
            .ok_or_else(|| fail("the ID token's `sub` is empty or too long"))?
            .to_owned();
        // `email_verified` is a boolean; some providers send the text "true".
        let email_verified = match claims.get("email_verified") {
            Some(Value::Bool(verified)) => *verified,
            Some(Value::String(text)) => text == "true",
            _ => false,
        };
        Ok(Profile {
            subject,
            email,
            email_verified,
            given_name: text("given_name").unwrap_or_default(),
            family_name: text("family_name").unwrap_or_default(),
            username_hint: text("preferred_username").or_else(|| text("nickname")),
        })
    }

    /// GitHub's `/user` (the numeric id, the login, the name) and `/user/emails` (the
    /// primary address and whether GitHub verified it).
    async fn github_profile(&self, access: &str) -> Result<Profile, RemoteError> {
        let api = self.config.github_api_url();
        let get = |path: &str| {
            self.client().map(|client| {
                client
                    .get(format!("{api}{path}"))
                    .bearer_auth(access)
                    .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            })
        };
        let user: Map<String, Value> = serde_json::from_slice(
            &fetch_capped(get("/user")?, MAX_REMOTE_BYTES)
                .await
                .map_err(|e| fail(format!("GitHub's /user: {e}")))?,
        )
        .map_err(|_| fail("GitHub's /user is not a JSON object"))?;
        let subject = match user.get("id") {
            Some(Value::Number(id)) => id.to_string(),
            Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_CLAIM_CHARS => id.clone(),
            _ => return Err(fail("GitHub's /user has no id")),
        };
        let emails: Vec<Value> = serde_json::from_slice(
            &fetch_capped(get("/user/emails")?, MAX_REMOTE_BYTES)
                .await
                .map_err(|e| fail(format!("GitHub's /user/emails: {e}")))?,
        )
        .map_err(|_| fail("GitHub's /user/emails is not a list"))?;
        let primary = emails
            .iter()
            .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
        let email = primary
            .and_then(|e| e.get("email"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if email
            .as_ref()
            .is_some_and(|e| e.chars().count() > MAX_CLAIM_CHARS)
        {
            return Err(fail("GitHub's primary address is too long"));
        }
        let email_verified = primary
            .and_then(|e| e.get("verified"))
            .and_then(Value::as_bool)
            == Some(true);
        let name = user
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .chars()
            .take(MAX_CLAIM_CHARS)
            .collect::<String>();
        let (given_name, family_name) = match name.split_once(' ') {
            Some((given, family)) => (given.to_owned(), family.trim().to_owned()),
            None => (name, String::new()),
        };
        Ok(Profile {
            subject,
            email,
            email_verified,
            given_name,
            family_name,
            username_hint: user
                .get("login")
                .and_then(Value::as_str)
                .map(|s| s.chars().take(MAX_CLAIM_CHARS).collect()),
        })
    }
}
