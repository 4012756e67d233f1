//! The test provider over real HTTP: what its discovery document says, and what its token
//! endpoint refuses (the client secret, the PKCE verifier, the redirect URI, a second use).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tessera_oidc_provider::{OidcProvider, ProviderUser};

const REDIRECT: &str = "http://localhost/callback/";
const VERIFIER: &str = "a-pkce-verifier-of-at-least-forty-three-characters";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An authorization code for the provider's user.
async fn code(provider: &OidcProvider) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes()).as_ref(),
    );
    let answer = http()
        .get(format!("{}/authorize", provider.issuer()))
        .query(&[
            ("response_type", "code"),
            ("client_id", "client"),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("state".into(), "s".into())));
    pairs
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .expect("a code")
}

async fn redeem(
    provider: &OidcProvider,
    code: &str,
    secret: &str,
    verifier: &str,
    redirect: &str,
) -> (u16, Value) {
    let answer = http()
        .post(format!("{}/token", provider.issuer()))
        .basic_auth("client", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

#[tokio::test]
async fn discovery_names_the_issuer_and_its_endpoints() {
    let provider = OidcProvider::start("client", "secret").await.unwrap();
    let document: Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["issuer"], provider.issuer());
    assert_eq!(document["jwks_uri"], format!("{}/jwks", provider.issuer()));
    let jwks: Value = http()
        .get(format!("{}/jwks", provider.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(provider.discovery_fetches(), 1);
}

#[tokio::test]
async fn the_token_endpoint_checks_the_secret_the_verifier_the_redirect_and_single_use() {
    let provider = OidcProvider::start("client", "secret").await.unwrap();
    provider.set_user(ProviderUser::new("sub-1", "ada@example.com"));
    let (status, body) = redeem(
        &provider,
        &code(&provider).await,
        "wrong",
        VERIFIER,
        REDIRECT,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = redeem(
        &provider,
        &code(&provider).await,
        "secret",
        "another-verifier",
        REDIRECT,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = redeem(
        &provider,
        &code(&provider).await,
        "secret",
        VERIFIER,
        "http://elsewhere/",
    )
    .await;
    assert_eq!(status, 400);
    let good = code(&provider).await;
    let (status, body) = redeem(&provider, &good, "secret", VERIFIER, REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string() && body["access_token"].is_string());
    let (status, body) = redeem(&provider, &good, "secret", VERIFIER, REDIRECT).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

/// Where `/authorize` sends the browser back for `pairs` (plus the client and redirect).
async fn authorize_back(provider: &OidcProvider, pairs: &[(&str, &str)]) -> url::Url {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", "client"),
        ("redirect_uri", REDIRECT),
        ("state", "s"),
    ];
    query.extend_from_slice(pairs);
    let answer = http()
        .get(format!("{}/authorize", provider.issuer()))
        .query(&query)
        .send()
        .await
        .unwrap();
    url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn authorize_requires_pkce_with_s256() {
    let provider = OidcProvider::start("client", "secret").await.unwrap();
    provider.set_user(ProviderUser::new("sub-1", "ada@example.com"));
    let param = |url: &url::Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes()).as_ref(),
    );
    for pairs in [
        vec![],
        vec![("code_challenge", challenge.as_str())],
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
        vec![
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    ] {
        let back = authorize_back(&provider, &pairs).await;
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("invalid_request"),
            "{pairs:?}"
        );
        assert_eq!(param(&back, "code"), None, "{pairs:?}");
    }
    let back = authorize_back(
        &provider,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let code = param(&back, "code").expect("a code with S256");
    // The code is redeemed only with its verifier: none at all is refused.
    let answer = http()
        .post(format!("{}/token", provider.issuer()))
        .basic_auth("client", Some("secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
}

#[tokio::test]
async fn discovery_lists_the_algorithms_set_and_can_be_taken_down() {
    let provider = OidcProvider::start("client", "secret").await.unwrap();
    provider.set_signing_algs(&["PS384", "RS256"]);
    let url = format!("{}/.well-known/openid-configuration", provider.issuer());
    let document: Value = http().get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        serde_json::json!(["PS384", "RS256"])
    );
    provider.set_fault(Some(tessera_oidc_provider::Fault::DiscoveryDown));
    assert_eq!(http().get(&url).send().await.unwrap().status(), 503);
    assert_eq!(provider.discovery_fetches(), 2);
}
