//! Social login over HTTP, against a real OpenID Connect provider on this machine
//! (`tessera-oidc-provider`): the browser's redirects are followed by hand — the start's to
//! the provider over real HTTP, the provider's back to Tessera in process — and every test
//! runs on SQLite and on PostgreSQL.

use std::future::Future;

use serde_json::{Value, json};
use tessera_auth::social::{ProviderConfig, ProviderKind};
use tessera_axum::routes::api_routes;
use tessera_axum::testing::{TestApp, TestAppBuilder, TestClient, TestDatabase, TestResponse};
use tessera_oidc_provider::{Fault, OidcProvider, ProviderUser};
use tessera_store::UserFlags;

mod hardening;

const CLIENT_ID: &str = "tessera-test-client";
const CLIENT_SECRET: &str = "provider-client-secret-1234";
const FRONTEND: &str = "https://spa.example.com/social/";
const ADA: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";

/// Runs `body` on a fresh SQLite database, then on a PostgreSQL one (skipped loudly when
/// PostgreSQL does not answer, unless it is required).
async fn on_both_engines<F, Fut>(test: &str, body: F)
where
    F: Fn(TestDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    body(TestDatabase::sqlite()).await;
    if let Some(database) = TestDatabase::postgres(test).await {
        body(database).await;
    }
}

struct Env {
    app: TestApp,
    provider: OidcProvider,
    http: reqwest::Client,
}

fn oidc_provider(issuer: &str) -> ProviderConfig {
    ProviderConfig {
        name: "test".into(),
        kind: ProviderKind::Oidc,
        issuer: Some(issuer.to_owned()),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        scopes: None,
        display_name: Some("Test Provider".into()),
        authorize_url: None,
        token_url: None,
        api_url: None,
    }
}

fn github_provider(base: &str) -> ProviderConfig {
    ProviderConfig {
        name: "github".into(),
        kind: ProviderKind::Github,
        issuer: None,
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        scopes: None,
        display_name: Some("GitHub".into()),
        authorize_url: Some(format!("{base}/login/oauth/authorize")),
        token_url: Some(format!("{base}/login/oauth/access_token")),
        api_url: Some(base.to_owned()),
    }
}

async fn env_with(
    database: TestDatabase,
    change: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> Env {
    let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET)
        .await
        .expect("the test provider starts");
    let issuer = provider.issuer();
    let builder = TestApp::builder()
        .database(database)
        .nest("/api", api_routes())
        .public_url("http://localhost")
        .social(move |social| {
            social.oidc_providers = vec![oidc_provider(&issuer), github_provider(&issuer)];
            social.social_frontend_url = Some(FRONTEND.into());
        });
    let app = change(builder).build().await;
    provider.set_now(Some(app.now().as_secs_f64() as i64));
    provider.set_user(ProviderUser::new("subject-ada", ADA));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    Env {
        app,
        provider,
        http,
    }
}

async fn env(database: TestDatabase) -> Env {
    env_with(database, |builder| builder).await
}

/// The path and query of an absolute URL.
fn path_of(location: &str) -> String {
    let url = url::Url::parse(location).expect("an absolute URL");
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A query parameter of a URL (absolute or a path).
fn param(location: &str, name: &str) -> Option<String> {
    let absolute = if location.starts_with('/') {
        format!("http://testserver{location}")
    } else {
        location.to_owned()
    };
    url::Url::parse(&absolute)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Env {
    /// The start, then the provider (real HTTP): the callback URL it sends the browser to.
    async fn to_provider_and_back(
        &self,
        client: &TestClient,
        provider: &str,
        mode: &str,
    ) -> String {
        let started = client
            .get(&format!("/api/auth/social/{provider}/start/?mode={mode}"))
            .send()
            .await;
        assert_eq!(started.status(), 302, "{}", started.text());
        let authorize = started.header("location").expect("a Location").to_owned();
        assert!(
            authorize.starts_with(&self.provider.issuer()),
            "{authorize}"
        );
        let back = self
            .http
            .get(&authorize)
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(back.status(), 303, "the provider redirects back");
        let location = back
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("a Location")
            .to_owned();
        assert!(
            location.starts_with(&format!(
                "http://localhost/api/auth/social/{provider}/callback/"
            )),
            "{location}"
        );
        path_of(&location)
    }

    /// A whole login in `mode`: the callback's answer.
    async fn login(&self, client: &TestClient, provider: &str, mode: &str) -> TestResponse {
        let callback = self.to_provider_and_back(client, provider, mode).await;
        client.get(&callback).send().await
    }

    /// A token-mode login: the one-time code the frontend receives (or the error).
    async fn spa_code(&self, client: &TestClient, provider: &str) -> Result<String, String> {
        let answer = self.login(client, provider, "token").await;
        assert_eq!(answer.status(), 302, "{}", answer.text());
        let location = answer.header("location").expect("a Location").to_owned();
        assert!(location.starts_with(FRONTEND), "{location}");
        match (param(&location, "code"), param(&location, "error")) {
            (Some(code), None) => Ok(code),
            (None, Some(error)) => Err(error),
            _ => panic!("neither a code nor an error: {location}"),
        }
    }

    async fn exchange(&self, client: &TestClient, code: &str) -> TestResponse {
        client
            .post("/api/auth/social/exchange/")
            .json(&json!({"code": code}))
            .send()
            .await
    }

    async fn user_count(&self) -> i64 {
        self.app
            .tessera
            .auth()
            .store()
            .list_users()
            .await
            .map(|users| users.len() as i64)
            .unwrap_or(-1)
    }
}

/// The user id an access token names.
fn user_of(answer: &Value, app: &TestApp) -> String {
    let access = answer["access"].as_str().expect("an access token");
    let token = app
        .tessera
        .auth()
        .backend()
        .decode_untyped(access, app.now())
        .expect("a valid access token");
    token
        .user_id(app.tessera.auth().backend())
        .expect("a user id")
}

#[tokio::test]
async fn a_new_user_signs_up_through_the_single_page_applications_code_exchange() {
    on_both_engines("social::signup_spa", |database| async move {
        let env = env(database).await;
        let client = env.app.client();
        let code = env.spa_code(&client, "test").await.expect("a code");
        let answer = env.exchange(&client, &code).await;
        assert_eq!(answer.status(), 200, "{}", answer.text());
        let answer = answer.json();
        assert!(answer["refresh"].is_string() && answer["access"].is_string());
        let user = env
            .app
            .tessera
            .auth()
            .store()
            .user_by_email(ADA)
            .await
            .unwrap()
            .expect("the account was made");
        assert_eq!(user_of(&answer, &env.app), user.id.to_string());
        assert!(user.email_verified, "the provider vouched for the address");
        assert!(!user.has_usable_password(), "no password: Django's `!`");
        assert_eq!(
            (user.first_name.as_str(), user.last_name.as_str()),
            ("Ada", "Lovelace")
        );
        // Single use.
        env.exchange(&client, &code)
            .await
            .assert(400, r#"{"code":["Invalid or expired code."]}"#);
        // The identity is listed.
        let listed = client
            .get("/api/auth/social/identities/")
            .bearer_auth(answer["access"].as_str().unwrap())
            .send()
            .await
            .ok();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        assert_eq!(listed[0]["provider"], "test");
        assert_eq!(listed[0]["email"], ADA);
        assert!(listed[0]["created_at"].is_string() && listed[0].get("last_login").is_some());
    })
    .await;
}

#[tokio::test]
async fn an_exchange_code_dies_after_sixty_seconds() {
    on_both_engines("social::code_expiry", |database| async move {
        let env = env(database).await;
        let client = env.app.client();
        let code = env.spa_code(&client, "test").await.expect("a code");
        env.app.advance(61);
        env.exchange(&client, &code)
            .await
            .assert(400, r#"{"code":["Invalid or expired code."]}"#);
    })
    .await;
}

#[tokio::test]
async fn cookie_mode_sets_the_cookie_logins_session_cookies_and_lands_on_the_account_page() {
    on_both_engines("social::cookie_mode", |database| async move {
        let env = env(database).await;
        let client = env.app.client();
        let answer = env.login(&client, "test", "cookie").await;
        assert_eq!(answer.status(), 302, "{}", answer.text());
        assert_eq!(answer.header("location"), Some("/account/"));
        let names: Vec<String> = answer
            .set_cookies()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let browser = env.app.tessera.browser();
        for name in [
            &browser.auth_cookie_access_name,
            &browser.auth_cookie_refresh_name,
            &browser.csrf_cookie_name,
        ] {
            assert!(names.contains(name), "{name} missing from {names:?}");
        }
        // The access cookie authenticates the account's own routes.
        client.get("/api/auth/profile/").send().await.ok();
    })
    .await;
}

#[tokio::test]
async fn a_linked_identity_signs_its_user_in_again_without_a_new_account() {
    on_both_engines("social::linked_sign_in", |database| async move {
        let env = env(database).await;
        let first = env.app.client();
        let code = env.spa_code(&first, "test").await.expect("a code");
        let first_user = user_of(&env.exchange(&first, &code).await.ok(), &env.app);
        // Another browser, the same provider account — even with another address now.
        let mut user = ProviderUser::new("subject-ada", "ada@new.example.com");
        user.given_name = "Augusta".into();
        env.provider.set_user(user);
        let second = env.app.client();
        let code = env.spa_code(&second, "test").await.expect("a code");
        let second_user = user_of(&env.exchange(&second, &code).await.ok(), &env.app);
        assert_eq!(first_user, second_user);
        assert_eq!(env.user_count().await, 1);
        // An inactive user is refused, as the login refuses them.
        let ada = env
            .app
            .tessera
            .auth()
            .store()
            .user_by_email(ADA)
            .await
            .unwrap()
            .unwrap();
        let inactive = UserFlags {
            is_active: Some(false),
            ..UserFlags::default()
        };
        env.app
            .tessera
            .auth()
            .store()
            .set_user_flags(ada.id, &inactive)
            .await
            .unwrap();
        let third = env.app.client();
        assert_eq!(
            env.spa_code(&third, "test").await,
            Err("login_failed".into())
        );
    })
    .await;
}

#[tokio::test]
async fn a_verified_address_of_an_account_needs_its_owner_to_sign_in_and_link() {
    on_both_engines("social::link_required", |database| async move {
        let env = env(database).await;
        let ada = env.app.create_user(ADA, PASSWORD).await;
        let browser = env.app.client();
        let code = env.spa_code(&browser, "test").await.expect("a code");
        let answer = env.exchange(&browser, &code).await;
        assert_eq!(answer.status(), 409, "{}", answer.text());
        let body = answer.json();
        assert_eq!(body["code"], "link_required");
        assert!(body["detail"].is_string());
        let link_token = body["link_token"]
            .as_str()
            .expect("a link token")
            .to_owned();
        assert_eq!(
            env.user_count().await,
            1,
            "no silent merge, no second account"
        );
        // Someone else signed in cannot use the ticket.
        let eve = env.app.create_user("eve@example.com", PASSWORD).await;
        let other = env.app.client();
        other.force_authenticate(&eve).await;
        other
            .post("/api/auth/social/link/")
            .json(&json!({"link_token": link_token}))
            .send()
            .await
            .assert(400, r#"{"link_token":["Invalid or expired link token."]}"#);
        // The ticket died with that attempt: the owner starts again, signs in the usual
        // way, and links.
        let code = env.spa_code(&browser, "test").await.expect("a code");
        let link_token = env.exchange(&browser, &code).await.json()["link_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let pair = browser
            .post("/api/token/")
            .json(&json!({"email": ADA, "password": PASSWORD}))
            .send()
            .await
            .ok();
        let access = pair["access"].as_str().unwrap().to_owned();
        let linked = browser
            .post("/api/auth/social/link/")
            .bearer_auth(&access)
            .json(&json!({"link_token": link_token}))
            .send()
            .await;
        assert_eq!(linked.status(), 201, "{}", linked.text());
        assert_eq!(linked.json()["provider"], "test");
        // From now on the provider signs Ada in.
        let code = env.spa_code(&browser, "test").await.expect("a code");
        let answer = env.exchange(&browser, &code).await.ok();
        assert_eq!(user_of(&answer, &env.app), ada.id.to_string());
    })
    .await;
}

#[tokio::test]
async fn an_unverified_address_never_links_and_never_makes_an_account() {
    on_both_engines("social::unverified", |database| async move {
        let env = env(database).await;
        env.provider
            .set_user(ProviderUser::new("subject-eve", "eve@example.com").unverified());
        let client = env.app.client();
        assert_eq!(
            env.spa_code(&client, "test").await,
            Err("email_not_verified".into())
        );
        assert_eq!(env.user_count().await, 0);
        // Nor when the address is an account's: no link ticket either.
        env.app.create_user(ADA, PASSWORD).await;
        env.provider.set_user(ProviderUser::new("subject-x", ADA));
        env.provider.set_fault(Some(Fault::EmailUnverified));
        assert_eq!(
            env.spa_code(&client, "test").await,
            Err("email_not_verified".into())
        );
        assert_eq!(env.user_count().await, 1);
    })
    .await;
}

#[tokio::test]
async fn id_tokens_that_do_not_verify_sign_nobody_in() {
    on_both_engines("social::id_token_faults", |database| async move {
        let env = env(database).await;
        let client = env.app.client();
        for fault in [
            Fault::TamperSignature,
            Fault::WrongNonce,
            Fault::WrongAudience,
            Fault::Expired,
        ] {
            env.provider.set_fault(Some(fault));
            assert_eq!(
                env.spa_code(&client, "test").await,
                Err("login_failed".into()),
                "{fault:?}"
            );
        }
        assert_eq!(env.user_count().await, 0);
        // Each refusal was the ID token's, as audited.
        env.app.tessera.auth().audit_log().flush().await;
        let filter = tessera_store::AuditFilter {
            event: Some("social.failed".into()),
            ..tessera_store::AuditFilter::default()
        };
        let (_, failed) = env
            .app
            .tessera
            .auth()
            .store()
            .list_audit_events(&filter, 100, 0)
            .await
            .unwrap();
        let reasons: Vec<Value> = failed
            .iter()
            .map(|e| e.detail_json().unwrap_or_default()["reason"].clone())
            .collect();
        assert_eq!(reasons, vec![json!("id_token"); 4]);
        // The same provider, without the fault, works: the refusals were the token's.
        env.provider.set_fault(None);
        assert!(env.spa_code(&client, "test").await.is_ok());
        // The provider's refusal is sent back as such.
        env.provider.set_fault(Some(Fault::Deny));
        assert_eq!(
            env.spa_code(&client, "test").await,
            Err("access_denied".into())
        );
    })
    .await;
}

#[tokio::test]
async fn a_callback_works_once_in_the_browser_that_started_it_within_ten_minutes() {
    on_both_engines("social::state", |database| async move {
        let env = env(database).await;
        let invalid = r#"{"state":["Invalid or expired state."]}"#;
        let client = env.app.client();
        let callback = env.to_provider_and_back(&client, "test", "token").await;
        assert_eq!(client.get(&callback).send().await.status(), 302);
        // Replayed: the state is used.
        client.get(&callback).send().await.assert(400, invalid);
        // Another browser (without the binding cookie) cannot complete someone's login.
        let callback = env.to_provider_and_back(&client, "test", "token").await;
        env.app
            .client()
            .get(&callback)
            .send()
            .await
            .assert(400, invalid);
        // …and the state died with the attempt.
        client.get(&callback).send().await.assert(400, invalid);
        // Expired after ten minutes.
        let callback = env.to_provider_and_back(&client, "test", "token").await;
        env.app.advance(601);
        client.get(&callback).send().await.assert(400, invalid);
        // A forged state.
        client
            .get("/api/auth/social/test/callback/?code=x&state=forged")
            .send()
            .await
            .assert(400, invalid);
        assert_eq!(env.user_count().await, 1);
    })
    .await;
}

#[tokio::test]
async fn the_github_preset_reads_the_verified_primary_address() {
    on_both_engines("social::github", |database| async move {
        let env = env(database).await;
        let mut user = ProviderUser::new("583231", "octo@example.com");
        user.login = "octocat".into();
        env.provider.set_user(user);
        let client = env.app.client();
        let code = env.spa_code(&client, "github").await.expect("a code");
        env.exchange(&client, &code).await.ok();
        let octo = env
            .app
            .tessera
            .auth()
            .store()
            .user_by_email("octo@example.com")
            .await
            .unwrap()
            .expect("the account");
        assert!(octo.email_verified);
        let identities = env
            .app
            .tessera
            .auth()
            .social_identities(&octo)
            .await
            .unwrap();
        assert_eq!(identities[0].subject, "583231");
        assert_eq!(identities[0].provider, "github");
        // An unverified primary address is refused as an OpenID one is.
        env.provider
            .set_user(ProviderUser::new("583232", "hubot@example.com").unverified());
        assert_eq!(
            env.spa_code(&env.app.client(), "github").await,
            Err("email_not_verified".into())
        );
    })
    .await;
}

#[tokio::test]
async fn the_last_way_into_an_account_cannot_be_unlinked() {
    on_both_engines("social::unlink", |database| async move {
        let env = env(database).await;
        let client = env.app.client();
        let code = env.spa_code(&client, "test").await.expect("a code");
        let access = env.exchange(&client, &code).await.ok()["access"]
            .as_str()
            .unwrap()
            .to_owned();
        let list = |access: String| {
            let client = client.clone();
            async move {
                client
                    .get("/api/auth/social/identities/")
                    .bearer_auth(&access)
                    .send()
                    .await
                    .ok()
            }
        };
        let only = list(access.clone()).await[0]["id"].as_i64().unwrap();
        let refused = client
            .delete(&format!("/api/auth/social/identities/{only}/"))
            .bearer_auth(&access)
            .send()
            .await;
        assert_eq!(refused.status(), 400, "{}", refused.text());
        assert_eq!(
            refused.json(),
            json!({"non_field_errors": [tessera_auth::accounts::LAST_WAY_IN]})
        );
        // Connect GitHub to the account: then either may go.
        let mut octo = ProviderUser::new("77", "octo@example.com");
        octo.login = "octo".into();
        env.provider.set_user(octo);
        let connect = client
            .post("/api/auth/social/github/connect/")
            .bearer_auth(&access)
            .send()
            .await;
        assert_eq!(connect.status(), 200, "{}", connect.text());
        let authorize = connect.json()["authorize_url"].as_str().unwrap().to_owned();
        let back = env.http.get(&authorize).send().await.unwrap();
        let location = back.headers()["location"].to_str().unwrap().to_owned();
        let done = client.get(&path_of(&location)).send().await;
        assert_eq!(done.status(), 302, "{}", done.text());
        assert_eq!(
            param(done.header("location").unwrap(), "linked").as_deref(),
            Some("github")
        );
        assert_eq!(list(access.clone()).await.as_array().unwrap().len(), 2);
        client
            .delete(&format!("/api/auth/social/identities/{only}/"))
            .bearer_auth(&access)
            .send()
            .await
            .assert_status(204);
        let left = list(access.clone()).await;
        assert_eq!(left.as_array().unwrap().len(), 1);
        assert_eq!(left[0]["provider"], "github");
        // Someone else's identity is not found.
        let eve = env.app.create_user("eve@example.com", PASSWORD).await;
        let other = env.app.client();
        other.force_authenticate(&eve).await;
        let theirs = left[0]["id"].as_i64().unwrap();
        other
            .delete(&format!("/api/auth/social/identities/{theirs}/"))
            .send()
            .await
            .assert_status(404);
    })
    .await;
}

#[tokio::test]
async fn a_user_with_a_second_factor_owes_it_after_the_exchange() {
    on_both_engines("social::mfa", |database| async move {
        let env = env_with(database, |builder| {
            builder.mfa(|mfa| mfa.mfa_required_for_staff = true)
        })
        .await;
        let client = env.app.client();
        // A first login makes the account; make it staff, whose logins owe a second step.
        let code = env.spa_code(&client, "test").await.expect("a code");
        env.exchange(&client, &code).await.ok();
        let ada = env
            .app
            .tessera
            .auth()
            .store()
            .user_by_email(ADA)
            .await
            .unwrap()
            .unwrap();
        env.app
            .tessera
            .auth()
            .store()
            .set_user_flags(
                ada.id,
                &UserFlags {
                    is_staff: Some(true),
                    ..UserFlags::default()
                },
            )
            .await
            .unwrap();
        let code = env.spa_code(&client, "test").await.expect("a code");
        let answer = env.exchange(&client, &code).await;
        assert_eq!(answer.status(), 401, "{}", answer.text());
        let body = answer.json();
        assert_eq!(body["code"], "mfa_setup_required", "{body}");
        assert!(body["mfa_token"].is_string());
        assert!(body.get("access").is_none());
    })
    .await;
}

#[tokio::test]
async fn the_providers_are_listed_for_the_account_pages_buttons() {
    on_both_engines("social::providers", |database| async move {
        let env = env(database).await;
        env.app
            .client()
            .get("/api/auth/social/providers/")
            .send()
            .await
            .assert_json(&json!([
                {"name": "test", "display_name": "Test Provider", "start_url": "/api/auth/social/test/start/"},
                {"name": "github", "display_name": "GitHub", "start_url": "/api/auth/social/github/start/"},
            ]));
        env.app
            .client()
            .get("/api/auth/social/nope/start/")
            .send()
            .await
            .assert_status(404);
    })
    .await;
}

/// The TOTP code of `secret` at the application's clock.
fn totp_code(app: &TestApp, secret: &str) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("totp");
    totp.generate(u64::try_from(app.now().as_secs()).unwrap_or(0))
        .to_string()
}

/// The social logins audited, and the last sign-in of user `user_id` and of their first
/// identity.
async fn recorded_sign_ins(
    auth: &tessera_auth::Auth,
    user_id: i64,
) -> (
    usize,
    Option<tessera_core::Timestamp>,
    Option<tessera_core::Timestamp>,
) {
    auth.audit_log().flush().await;
    let store = auth.store();
    let filter = tessera_store::AuditFilter {
        event: Some("social.login".into()),
        ..tessera_store::AuditFilter::default()
    };
    let (_, logins) = store.list_audit_events(&filter, 100, 0).await.unwrap();
    let user = store.user_by_id(user_id).await.unwrap().expect("the user");
    let identity = store.social_identities_of(user_id).await.unwrap()[0].clone();
    (logins.len(), user.last_login, identity.last_login)
}

#[tokio::test]
async fn a_user_with_a_confirmed_totp_finishes_the_social_sign_in_at_mfa_verify() {
    on_both_engines("social::totp", |database| async move {
        let env = env_with(database, |builder| {
            builder.settings(|settings| settings.update_last_login = true)
        })
        .await;
        let client = env.app.client();
        // The first sign-in makes the account; its user turns TOTP on.
        let code = env.spa_code(&client, "test").await.expect("a code");
        let first = env.exchange(&client, &code).await.ok();
        let access = first["access"].as_str().expect("an access token");
        let owner = env.app.client();
        let setup = owner
            .post("/api/auth/mfa/totp/setup/")
            .bearer_auth(access)
            .json(&json!({}))
            .send()
            .await
            .ok();
        let secret = setup["secret"].as_str().expect("a secret").to_owned();
        owner
            .post("/api/auth/mfa/totp/confirm/")
            .bearer_auth(access)
            .json(&json!({"code": totp_code(&env.app, &secret)}))
            .send()
            .await
            .ok();
        // The confirming code's step is spent: the next code is the next step's.
        env.app.advance(30);
        let user_id: i64 = user_of(&first, &env.app).parse().expect("a numeric id");
        let auth = env.app.tessera.auth().clone();
        // The social logins audited, the user's and the identity's last sign-in.
        let recorded = || {
            let auth = auth.clone();
            async move { recorded_sign_ins(&auth, user_id).await }
        };
        let before = recorded().await;
        assert!(before.1.is_some(), "the sign-up's sign-in is recorded");

        let code = env.spa_code(&client, "test").await.expect("a code");
        let answer = env.exchange(&client, &code).await;
        assert_eq!(answer.status(), 401, "{}", answer.text());
        // Stopped at the second step: the sign-in is not recorded yet.
        env.app.advance(5);
        assert_eq!(recorded().await, before);
        let body = answer.json();
        assert_eq!(body["code"], "mfa_required", "{body}");
        assert_eq!(body["methods"], json!(["totp", "recovery_code"]), "{body}");
        assert!(body.get("access").is_none(), "{body}");
        let token = body["mfa_token"].as_str().expect("an mfa_token");

        // A wrong code is refused; the right one answers what the exchange would have.
        let wrong = if totp_code(&env.app, &secret) == "000000" {
            "111111"
        } else {
            "000000"
        };
        client
            .post("/api/auth/mfa/verify/")
            .json(&json!({"mfa_token": token, "code": wrong}))
            .send()
            .await
            .assert(400, r#"{"code":["Invalid code."]}"#);
        assert_eq!(recorded().await, before);
        let verified = client
            .post("/api/auth/mfa/verify/")
            .json(&json!({"mfa_token": token, "code": totp_code(&env.app, &secret)}))
            .send()
            .await
            .ok();
        assert!(verified["refresh"].is_string(), "{verified}");
        assert_eq!(user_of(&verified, &env.app), user_of(&first, &env.app));
        // Now it is: one more social login, the user's and the identity's last sign-in.
        let after = recorded().await;
        assert_eq!(after.0, before.0 + 1);
        assert!(after.1 > before.1, "{after:?} {before:?}");
        assert!(after.2 > before.2, "{after:?} {before:?}");
        // The token is spent.
        client
            .post("/api/auth/mfa/verify/")
            .json(&json!({"mfa_token": token, "code": totp_code(&env.app, &secret)}))
            .send()
            .await
            .assert_status(401);
        // Both sessions are recorded as social logins, the second step's too.
        env.app.tessera.auth().audit_log().flush().await;
        let filter = tessera_store::AuditFilter {
            event: Some("login.succeeded".into()),
            ..tessera_store::AuditFilter::default()
        };
        let (_, logins) = env
            .app
            .tessera
            .auth()
            .store()
            .list_audit_events(&filter, 100, 0)
            .await
            .unwrap();
        let methods: Vec<Value> = logins
            .iter()
            .map(|e| e.detail_json().unwrap_or_default()["method"].clone())
            .collect();
        assert_eq!(methods, [json!("social"), json!("social")]);
    })
    .await;
}
