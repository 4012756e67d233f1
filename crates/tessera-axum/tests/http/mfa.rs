//! Multi-factor authentication (docs/API.md §MFA): TOTP setup, confirmation and removal,
//! recovery codes, and the second step every login route takes — on both engines where the
//! store decides (single use, attempts, replay).

use axum::http::Method;
use serde_json::{Value, json};
use tessera_axum::routes::api_routes;
use tessera_axum::testing::{TestAppBuilder, TestDatabase};
use tessera_store::{Engine, NewUser, User};

use crate::helpers::{
    Api, CookieApi, PASSWORD, Records, Reply, TestApp, WWW_AUTHENTICATE, csrf_failed, field_error,
};

const ADA: &str = "ada@example.com";
const MFA_REQUIRED: &str = "Multi-factor authentication required.";
const TOKEN_INVALID: &str =
    r#"{"detail":"Invalid or expired MFA token.","code":"mfa_token_not_valid"}"#;

/// Every router of the library, login by code off, no throttles.
fn every_route() -> TestAppBuilder {
    TestApp::builder().nest("/api", api_routes())
}

/// The application on `engine`, or `None` when PostgreSQL is skipped.
async fn app_on(engine: Engine, test: &str, builder: TestAppBuilder) -> Option<TestApp> {
    let database = TestDatabase::new(engine, test).await?;
    Some(builder.database(database).build().await)
}

/// Runs `body` on SQLite, then on PostgreSQL (unless it is skipped).
async fn both_engines<F, Fut>(test: &str, body: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in [Engine::Sqlite, Engine::Postgres] {
        if let Some(app) = app_on(engine, test, every_route()).await {
            body(app).await;
        }
    }
}

/// The TOTP code of `secret` at the application's clock, `steps` steps away.
fn code_at(app: &TestApp, secret: &str, steps: i64) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("totp");
    let at = app.now().as_secs() + steps * 30;
    totp.generate(u64::try_from(at).expect("after 1970"))
        .to_string()
}

async fn post_bearer(app: &TestApp, path: &str, access: &str, body: &Value) -> Reply {
    app.send(
        app.request(Method::POST, path)
            .bearer_auth(access)
            .json(body),
    )
    .await
}

/// Ada with TOTP on: her secret, her recovery codes, and her user.
async fn ada_with_totp(app: &TestApp) -> (User, String, Vec<String>) {
    user_with_totp(app, ADA).await
}

/// A user with TOTP on: their secret, their recovery codes, and their user.
async fn user_with_totp(app: &TestApp, email: &str) -> (User, String, Vec<String>) {
    let user = app.create_user(email, PASSWORD).await;
    let (secret, codes) = enroll(app, email).await;
    (user, secret, codes)
}

/// Sets TOTP up for the user `email` (password [`PASSWORD`]): their secret and recovery
/// codes.
async fn enroll(app: &TestApp, email: &str) -> (String, Vec<String>) {
    let access = app.login(email, PASSWORD).await.access;
    let setup = post_bearer(app, "/api/auth/mfa/totp/setup/", &access, &json!({})).await;
    let body = setup.ok();
    let secret = body["secret"].as_str().expect("secret").to_owned();
    let url = body["otpauth_url"].as_str().expect("url");
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains("issuer=Tessera"), "{url}");
    assert!(url.contains(&email.replace('@', "%40")), "{url}");
    assert!(body["qr_svg"].as_str().expect("svg").contains("<svg"));
    let confirmed = post_bearer(
        app,
        "/api/auth/mfa/totp/confirm/",
        &access,
        &json!({"code": code_at(app, &secret, 0)}),
    )
    .await;
    let codes: Vec<String> =
        serde_json::from_value(confirmed.ok()["recovery_codes"].clone()).expect("codes");
    assert_eq!(codes.len(), 10);
    // The confirming code's step is used: the next code is the next step's.
    app.advance(30);
    (secret, codes)
}

/// Asserts the 401 of a login that owes its second step, and returns its token.
fn challenge_of(reply: &Reply) -> String {
    reply.assert_status(401);
    assert_eq!(reply.header("www-authenticate"), Some(WWW_AUTHENTICATE));
    let body = reply.json();
    assert_eq!(body["detail"], MFA_REQUIRED, "{body}");
    assert_eq!(body["code"], "mfa_required");
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(body.as_object().expect("object").len(), 4, "{body}");
    body["mfa_token"].as_str().expect("token").to_owned()
}

async fn verify(app: &TestApp, token: &str, code: &str) -> Reply {
    app.post_json(
        "/api/auth/mfa/verify/",
        &json!({"mfa_token": token, "code": code}),
    )
    .await
}

#[tokio::test]
async fn a_user_without_mfa_logs_in_exactly_as_before() {
    let app = every_route().build().await;
    app.create_user(ADA, PASSWORD).await;

    let reply = app.obtain(ADA, PASSWORD).await;

    assert_eq!(reply.ok().as_object().expect("object").len(), 2);
    assert_eq!(reply.keys(), ["refresh", "access"]);
}

#[tokio::test]
async fn every_login_route_asks_for_the_second_step_and_opens_no_session() {
    both_engines("mfa::every_login_route_asks", |app| async move {
        let (ada, _, _) = ada_with_totp(&app).await;
        let sessions = app.session_count(&ada).await;

        for reply in [
            app.obtain(ADA, PASSWORD).await,
            app.obtain_sliding(ADA, PASSWORD).await,
            app.account_login(ADA, PASSWORD).await,
            app.cookie_login(ADA, PASSWORD).await,
        ] {
            challenge_of(&reply);
            assert!(reply.set_cookies().is_empty());
        }
        assert_eq!(app.session_count(&ada).await, sessions);
        // A wrong password is still the plain failure.
        app.obtain(ADA, "wrong").await.assert_status(401);
        assert!(
            app.obtain(ADA, "wrong")
                .await
                .json()
                .get("mfa_token")
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn the_second_step_answers_each_routes_own_shape() {
    let app = every_route().build().await;
    let (ada, secret, _) = ada_with_totp(&app).await;
    let before = app.session_count(&ada).await;

    let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
    let pair = verify(&app, &token, &code_at(&app, &secret, 0)).await;
    pair.ok();
    assert_eq!(pair.keys(), ["refresh", "access"]);

    app.advance(30);
    let token = challenge_of(&app.obtain_sliding(ADA, PASSWORD).await);
    let sliding = verify(&app, &token, &code_at(&app, &secret, 0)).await;
    sliding.ok();
    assert_eq!(sliding.keys(), ["token"]);

    app.advance(30);
    let token = challenge_of(&app.account_login(ADA, PASSWORD).await);
    let login = verify(&app, &token, &code_at(&app, &secret, 0)).await;
    login.ok();
    assert_eq!(login.keys(), ["refresh", "access", "user"]);
    assert_eq!(login.json()["user"]["email"], ADA);

    app.advance(30);
    let token = challenge_of(&app.cookie_login(ADA, PASSWORD).await);
    let cookie = verify(&app, &token, &code_at(&app, &secret, 0)).await;
    assert_eq!(cookie.ok()["message"], "Login successful");
    assert_eq!(cookie.keys(), ["message", "user"]);
    // The cookies a direct cookie login sets, by name and attributes (values apart).
    app.create_user("bob@example.com", PASSWORD).await;
    let direct = app.cookie_login("bob@example.com", PASSWORD).await;
    direct.ok();
    let shape = |reply: &Reply| {
        let mut cookies: Vec<_> = reply
            .set_cookies()
            .into_iter()
            .map(|c| (c.name, c.attributes))
            .collect();
        cookies.sort();
        cookies
    };
    assert_eq!(shape(&cookie), shape(&direct));
    assert_eq!(
        cookie.cookie_names().len(),
        3,
        "{:?}",
        cookie.cookie_names()
    );
    // Credentials are never cached.
    for reply in [&pair, &sliding, &login, &cookie] {
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }

    assert_eq!(app.session_count(&ada).await, before + 4);
}

#[tokio::test]
async fn a_code_is_accepted_once_and_one_step_either_way() {
    both_engines("mfa::a_code_is_accepted_once", |app| async move {
        let (_, secret, _) = ada_with_totp(&app).await;
        // One more step, so that the step before now is not the confirming one.
        app.advance(30);

        // Two steps back: refused, and the token lives on.
        let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
        verify(&app, &token, &code_at(&app, &secret, -2))
            .await
            .assert(400, &field_error("code", "Invalid code."));
        // One step back: accepted.
        let late = code_at(&app, &secret, -1);
        verify(&app, &token, &late).await.ok();
        // The same code (the same step) never again, even within its window.
        let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
        verify(&app, &token, &late)
            .await
            .assert(400, &field_error("code", "Invalid code."));
        // The next step is.
        verify(&app, &token, &code_at(&app, &secret, 1)).await.ok();
        // And the step before it no longer is (steps only move forward).
        let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
        verify(&app, &token, &code_at(&app, &secret, 0))
            .await
            .assert_status(400);
    })
    .await;
}

#[tokio::test]
async fn a_recovery_code_works_once_and_the_token_is_single_use() {
    both_engines("mfa::a_recovery_code_works_once", |app| async move {
        let (_, _, codes) = ada_with_totp(&app).await;

        let token = challenge_of(&app.account_login(ADA, PASSWORD).await);
        verify(&app, &token, &codes[0].to_uppercase()).await.ok();
        // The token is used up.
        verify(&app, &token, &codes[1])
            .await
            .assert(401, TOKEN_INVALID);
        // The code is used up.
        let token = challenge_of(&app.account_login(ADA, PASSWORD).await);
        verify(&app, &token, &codes[0]).await.assert_status(400);
        verify(&app, &token, &codes[1]).await.ok();

        let access = login_with_recovery_code(&app, &codes[2]).await;
        let status = app
            .send(
                app.request(Method::GET, "/api/auth/mfa/")
                    .bearer_auth(&access),
            )
            .await;
        status.assert_json(&json!({
            "totp": true,
            "recovery_codes_left": 7,
            "methods": ["totp", "recovery_code"],
            "has_usable_password": true,
        }));
    })
    .await;
}

#[tokio::test]
async fn a_token_expires_and_dies_after_five_wrong_codes() {
    both_engines("mfa::a_token_expires", |app| async move {
        let (_, secret, _) = ada_with_totp(&app).await;

        let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
        app.advance(301);
        verify(&app, &token, &code_at(&app, &secret, 0))
            .await
            .assert(401, TOKEN_INVALID);

        app.advance(30);
        let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
        for _ in 0..4 {
            verify(&app, &token, "000000").await.assert_status(400);
        }
        // The fifth wrong code is the last guess: the right one comes too late.
        verify(&app, &token, "000001").await.assert_status(400);
        verify(&app, &token, &code_at(&app, &secret, 0))
            .await
            .assert(401, TOKEN_INVALID);
        // Unknown and malformed tokens.
        verify(&app, &"A".repeat(43), "123456")
            .await
            .assert(401, TOKEN_INVALID);
        verify(&app, "short", "123456")
            .await
            .assert(401, TOKEN_INVALID);
    })
    .await;
}

#[tokio::test]
async fn wrong_codes_count_towards_the_lockout() {
    let app = every_route().build().await;
    let (_, secret, _) = ada_with_totp(&app).await;

    // Five failures lock the name for this client (the library's default).
    for _ in 0..5 {
        let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
        verify(&app, &token, "000000").await.assert_status(400);
    }

    // Locked: even the right password answers the plain failure.
    let reply = app.obtain(ADA, PASSWORD).await;
    reply.assert_status(401);
    assert!(reply.json().get("mfa_token").is_none(), "{}", reply.text());
    let _ = secret;
}

#[tokio::test]
async fn setup_is_refused_while_totp_is_on_and_disable_needs_password_and_code() {
    let app = every_route().build().await;
    let (ada, secret, codes) = ada_with_totp(&app).await;
    let access = app
        .tessera
        .auth()
        .issue_account_pair(&ada, &Default::default())
        .await
        .expect("pair")
        .access;

    post_bearer(&app, "/api/auth/mfa/totp/setup/", &access, &json!({}))
        .await
        .assert(
            400,
            r#"{"detail":"Two-factor authentication is already enabled."}"#,
        );
    let disable = "/api/auth/mfa/totp/disable/";
    post_bearer(
        &app,
        disable,
        &access,
        &json!({"password": "wrong", "code": codes[0]}),
    )
    .await
    .assert(400, &field_error("password", "Incorrect password."));
    post_bearer(
        &app,
        disable,
        &access,
        &json!({"password": PASSWORD, "code": "000000"}),
    )
    .await
    .assert(400, &field_error("code", "Invalid code."));
    post_bearer(
        &app,
        disable,
        &access,
        &json!({"password": PASSWORD, "code": code_at(&app, &secret, 0)}),
    )
    .await
    .ok();

    // Logins are as before.
    app.obtain(ADA, PASSWORD).await.ok();
}

#[tokio::test]
async fn regenerated_recovery_codes_replace_the_old_ones() {
    let app = every_route().build().await;
    let (ada, _, old) = ada_with_totp(&app).await;
    let access = app
        .tessera
        .auth()
        .issue_account_pair(&ada, &Default::default())
        .await
        .expect("pair")
        .access;

    let reply = post_bearer(
        &app,
        "/api/auth/mfa/recovery-codes/",
        &access,
        &json!({"password": PASSWORD}),
    )
    .await;
    let new: Vec<String> = serde_json::from_value(reply.ok()["recovery_codes"].clone()).unwrap();
    assert_eq!(new.len(), 10);

    let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
    verify(&app, &token, &old[0]).await.assert_status(400);
    verify(&app, &token, &new[0]).await.ok();
}

#[tokio::test]
async fn staff_without_mfa_set_it_up_during_the_login_when_it_is_required() {
    let app = every_route()
        .mfa(|mfa| mfa.mfa_required_for_staff = true)
        .build()
        .await;
    let staff = app
        .create_user_with(
            NewUser {
                email: "staff@example.com".into(),
                is_active: true,
                is_staff: true,
                ..NewUser::default()
            },
            PASSWORD,
        )
        .await;
    app.create_user(ADA, PASSWORD).await;
    // Users are not concerned.
    app.obtain(ADA, PASSWORD).await.ok();

    let reply = app.obtain("staff@example.com", PASSWORD).await;
    reply.assert_status(401);
    let body = reply.json();
    assert_eq!(body["code"], "mfa_setup_required");
    assert_eq!(
        body["detail"],
        "Multi-factor authentication must be set up for this account."
    );
    let token = body["mfa_token"].as_str().expect("token").to_owned();
    assert_eq!(app.session_count(&staff).await, 0);

    // The setup token is no second factor.
    verify(&app, &token, "123456")
        .await
        .assert(401, TOKEN_INVALID);
    let setup = app
        .post_json("/api/auth/mfa/totp/setup/", &json!({"mfa_token": token}))
        .await;
    let secret = setup.ok()["secret"].as_str().expect("secret").to_owned();
    let confirm = app
        .post_json(
            "/api/auth/mfa/totp/confirm/",
            &json!({"mfa_token": token, "code": code_at(&app, &secret, 0)}),
        )
        .await;

    // The login completes with the pair route's answer and the recovery codes, uncached.
    confirm.ok();
    assert_eq!(confirm.keys(), ["refresh", "access", "recovery_codes"]);
    assert_eq!(confirm.header("cache-control"), Some("no-store"));
    assert_eq!(app.session_count(&staff).await, 1);
    // The token is spent; the next login asks for the second step.
    app.post_json("/api/auth/mfa/totp/setup/", &json!({"mfa_token": token}))
        .await
        .assert(401, TOKEN_INVALID);
    challenge_of(&app.obtain("staff@example.com", PASSWORD).await);
}

#[tokio::test]
async fn staff_reset_a_users_mfa() {
    let app = every_route().build().await;
    let (ada, _, _) = ada_with_totp(&app).await;
    app.create_user_with(
        NewUser {
            email: "root@example.com".into(),
            is_active: true,
            is_staff: true,
            is_superuser: true,
            ..NewUser::default()
        },
        PASSWORD,
    )
    .await;
    let root = app.login("root@example.com", PASSWORD).await.access;

    // Staff see it in the admin user object, one and listed.
    let user_path = format!("/api/admin/users/{}/", ada.id);
    let mfa_enabled = |reply: Reply| reply.json()["mfa_enabled"].clone();
    let one = app
        .send(app.request(Method::GET, &user_path).bearer_auth(&root))
        .await;
    assert_eq!(mfa_enabled(one), json!(true));
    let listed = app
        .send(
            app.request(Method::GET, "/api/admin/users/")
                .bearer_auth(&root),
        )
        .await
        .json();
    let enabled: Vec<(Value, Value)> = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|u| (u["email"].clone(), u["mfa_enabled"].clone()))
        .collect();
    assert!(enabled.contains(&(json!(ADA), json!(true))), "{enabled:?}");
    assert!(
        enabled.contains(&(json!("root@example.com"), json!(false))),
        "{enabled:?}"
    );

    let path = format!("/api/admin/users/{}/reset-mfa/", ada.id);
    post_bearer(&app, &path, &root, &json!({}))
        .await
        .assert_json(
            &json!({"message": "MFA reset", "totp": true, "passkeys": 0, "no_way_in": false}),
        );
    let one = app
        .send(app.request(Method::GET, &user_path).bearer_auth(&root))
        .await;
    assert_eq!(mfa_enabled(one), json!(false));

    // Logins are as before, and the user object says so.
    app.obtain(ADA, PASSWORD).await.ok();
    let status = app.tessera.auth().mfa_status(&ada).await.expect("status");
    assert!(!status.totp);
    assert_eq!(status.recovery_codes_left, 0);
}

/// Logs Ada in with a recovery code; the access token.
async fn login_with_recovery_code(app: &TestApp, code: &str) -> String {
    let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
    verify(app, &token, code).await.field("access")
}

#[tokio::test]
async fn a_code_login_asks_for_the_second_step_and_verify_answers_as_it() {
    let sink = tessera_smtp_sink::SmtpSink::start()
        .await
        .expect("the SMTP sink starts");
    let port = sink.port();
    let app = every_route()
        .mail(move |mail| {
            mail.email_backend = tessera_auth::mail::EmailBackend::Smtp;
            mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}?tls=none").into());
            mail.email_from = "accounts@example.com".into();
        })
        .email_flows(|flows| flows.login_by_code = true)
        .build()
        .await;
    let (ada, secret, _) = ada_with_totp(&app).await;

    app.post_json("/api/auth/code/request/", &json!({"email": ADA}))
        .await
        .assert_status(200);
    let mail = sink
        .wait_for(
            |m: &tessera_smtp_sink::Received| m.to.iter().any(|t| t == ADA),
            std::time::Duration::from_secs(15),
        )
        .await
        .expect("the login code mail");
    let text = mail.text_body().unwrap_or_default();
    let digits: Vec<char> = text.chars().collect();
    let mailed: String = digits
        .windows(8)
        .enumerate()
        .find(|(i, w)| {
            w.iter().all(char::is_ascii_digit)
                && !digits.get(i + 8).is_some_and(char::is_ascii_digit)
                && (*i == 0 || !digits[i - 1].is_ascii_digit())
        })
        .map(|(_, w)| w.iter().collect())
        .unwrap_or_else(|| panic!("no 8-digit code in the mail:\n{text}"));

    let before = app.session_count(&ada).await;
    let reply = app
        .post_json(
            "/api/auth/code/login/",
            &json!({"email": ADA, "code": mailed}),
        )
        .await;
    let token = challenge_of(&reply);
    assert_eq!(app.session_count(&ada).await, before);
    let passed = verify(&app, &token, &code_at(&app, &secret, 0)).await;
    passed.ok();
    assert_eq!(passed.keys(), ["refresh", "access", "user"]);
    assert_eq!(passed.json()["user"]["email"], ADA);
    assert_eq!(app.session_count(&ada).await, before + 1);
    // The session says how the first factor was proved.
    app.tessera.auth().audit_log().flush().await;
    let filter = tessera_store::AuditFilter {
        user_id: Some(ada.id),
        event: Some("login.succeeded".into()),
        ..tessera_store::AuditFilter::default()
    };
    let (_, events) = app
        .tessera
        .auth()
        .store()
        .list_audit_events(&filter, 10, 0)
        .await
        .expect("events");
    let methods: Vec<Value> = events
        .iter()
        .filter_map(|e| e.detail_json())
        .map(|d| d["method"].clone())
        .collect();
    assert!(methods.contains(&json!("code")), "{methods:?}");
}

#[tokio::test]
async fn a_cookie_logins_second_step_is_csrf_checked() {
    let app = every_route().build().await;
    let (_, secret, _) = ada_with_totp(&app).await;
    let cross_site = |token: &str, code: &str| {
        app.request(Method::POST, "/api/auth/mfa/verify/")
            .header("sec-fetch-site", "cross-site")
            .json(&json!({"mfa_token": token, "code": code}))
    };

    // A cookie login's second step from another site sets no cookie.
    let token = challenge_of(&app.cookie_login(ADA, PASSWORD).await);
    let refused = app
        .send(cross_site(&token, &code_at(&app, &secret, 0)))
        .await;
    refused.assert(403, &csrf_failed("Cross-site request refused."));
    assert!(refused.set_cookies().is_empty());
    // Nothing was spent: the same token and code pass from the page.
    let passed = verify(&app, &token, &code_at(&app, &secret, 0)).await;
    passed.ok();
    assert_eq!(passed.cookie_names().len(), 3);

    // A token login's second step carries no cookie: no CSRF check.
    app.advance(30);
    let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
    let reply = app
        .send(cross_site(&token, &code_at(&app, &secret, 0)))
        .await;
    reply.ok();
    assert_eq!(reply.keys(), ["refresh", "access"]);
}

#[tokio::test]
async fn the_mfa_throttle_limits_a_users_guesses_from_every_address() {
    let app = every_route()
        .throttling(|throttling| {
            throttling.num_proxies = Some(1);
            throttling
                .throttle_rates
                .insert("mfa".into(), "3/min".into());
        })
        .build()
        .await;
    let (_, secret, _) = ada_with_totp(&app).await;
    // The set-up's confirmation is forgotten.
    app.advance(60);
    let verify_from = |address: &'static str, token: String, code: String| {
        app.send(
            app.request(Method::POST, "/api/auth/mfa/verify/")
                .header("x-forwarded-for", address)
                .json(&json!({"mfa_token": token, "code": code})),
        )
    };

    for address in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let token = challenge_of(&app.obtain_forwarded(address, ADA, PASSWORD).await);
        verify_from(address, token, "000000".into())
            .await
            .assert(400, &field_error("code", "Invalid code."));
    }
    // A fourth address, a fresh token, the right code: throttled all the same.
    let address = "198.51.100.4";
    let token = challenge_of(&app.obtain_forwarded(address, ADA, PASSWORD).await);
    let throttled = verify_from(address, token.clone(), code_at(&app, &secret, 0)).await;
    throttled.assert_status(429);
    assert!(
        throttled.json()["detail"]
            .as_str()
            .expect("detail")
            .starts_with("Request was throttled."),
        "{}",
        throttled.text()
    );
    assert!(throttled.header("retry-after").is_some());
    // A minute on, it passes.
    app.advance(61);
    verify_from(address, token, code_at(&app, &secret, 0))
        .await
        .ok();
}

#[tokio::test]
async fn a_passkey_is_among_the_methods() {
    let app = every_route().build().await;
    let (ada, _, _) = ada_with_totp(&app).await;
    let stored = app
        .tessera
        .auth()
        .store()
        .insert_passkey(
            &tessera_store::NewPasskey {
                user_id: ada.id,
                credential_id: "Y3JlZGVudGlhbA",
                user_handle: "00000000-0000-4000-8000-000000000000",
                passkey: "{}",
                name: "Phone",
                created_at: app.now(),
            },
            10,
        )
        .await
        .expect("stored");
    assert!(matches!(stored, tessera_store::PasskeyInsert::Stored(_)));

    let reply = app.obtain(ADA, PASSWORD).await;
    reply.assert_status(401);
    assert_eq!(
        reply.json()["methods"],
        json!(["totp", "recovery_code", "passkey"])
    );
}

#[tokio::test]
async fn a_token_is_passed_only_with_its_own_users_factor() {
    both_engines(
        "mfa::a_token_is_passed_only_with_its_own_users",
        |app| async move {
            let (_, ada_secret, _) = ada_with_totp(&app).await;
            let (_, bob_secret, bob_codes) = user_with_totp(&app, "bob@example.com").await;

            let token = challenge_of(&app.obtain(ADA, PASSWORD).await);
            // Bob's current code and Bob's recovery code are no factor of Ada's.
            verify(&app, &token, &code_at(&app, &bob_secret, 0))
                .await
                .assert(400, &field_error("code", "Invalid code."));
            verify(&app, &token, &bob_codes[0])
                .await
                .assert(400, &field_error("code", "Invalid code."));
            // Ada's are, and the answer is Ada's.
            let passed = verify(&app, &token, &code_at(&app, &ada_secret, 0)).await;
            let access = passed.field("access");
            let me = app
                .send(
                    app.request(Method::GET, "/api/auth/mfa/")
                        .bearer_auth(&access),
                )
                .await;
            me.ok();
            // Bob's recovery code is still his.
            let token = challenge_of(&app.obtain("bob@example.com", PASSWORD).await);
            verify(&app, &token, &bob_codes[0]).await.ok();
        },
    )
    .await;
}

#[tokio::test]
async fn staff_cannot_reset_a_superusers_mfa() {
    let app = every_route().build().await;
    let root = app
        .create_user_with(
            NewUser {
                email: "root@example.com".into(),
                is_active: true,
                is_staff: true,
                is_superuser: true,
                ..NewUser::default()
            },
            PASSWORD,
        )
        .await;
    enroll(&app, "root@example.com").await;
    app.create_user_with(
        NewUser {
            email: "staff@example.com".into(),
            is_active: true,
            is_staff: true,
            ..NewUser::default()
        },
        PASSWORD,
    )
    .await;
    let staff = app.login("staff@example.com", PASSWORD).await.access;

    let path = format!("/api/admin/users/{}/reset-mfa/", root.id);
    post_bearer(&app, &path, &staff, &json!({}))
        .await
        .assert_status(403);
    // The superuser's second factor stands.
    challenge_of(&app.obtain("root@example.com", PASSWORD).await);
}

#[tokio::test]
async fn totp_setup_is_refused_without_a_key_encryption_key_where_sealing_is_required() {
    let app = every_route()
        .mfa(|mfa| mfa.require_sealed_secrets = true)
        .build()
        .await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let access = app.login(ADA, PASSWORD).await.access;

    post_bearer(&app, "/api/auth/mfa/totp/setup/", &access, &json!({}))
        .await
        .assert(
            400,
            r#"{"detail":"Two-factor authentication needs a key-encryption key on the server."}"#,
        );
    let stored = app.tessera.auth().store().totp_device(ada.id).await;
    assert!(stored.expect("store").is_none());
}
