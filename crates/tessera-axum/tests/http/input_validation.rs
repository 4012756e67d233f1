//! Input validation, the same on both engines: NUL and control characters, over-long values
//! and confusable e-mail addresses are refused with DRF's 400s (never a 500, never a change
//! in the database), and custom user fields cannot take a claim's name.

use axum::http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tessera_auth::ClientInfo;
use tessera_axum::routes::api_routes;
use tessera_axum::testing::{TestAppBuilder, TestDatabase};
use tessera_axum::{AccountSettings, Tessera};
use tessera_core::{Claims, Settings};
use tessera_store::{Engine, NewUser, User};

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, NOT_FOUND, PASSWORD, Pair, Reply, SIGNING_KEY, TestApp, claims,
    field_error,
};

const ADA: &str = "ada@example.com";
const STAFF: &str = "staff@example.com";
const NULL_CHARACTERS: &str = "Null characters are not allowed.";
const CONTROL_CHARACTERS: &str = "Control characters are not allowed.";
const INVALID_EMAIL: &str = "Enter a valid email address.";
const EMAIL_TAKEN: &str = "user with this email already exists.";

/// Every router of the library, with a custom string field users may set.
fn every_route() -> TestAppBuilder {
    TestApp::builder()
        .accounts(|accounts: &mut AccountSettings| {
            accounts.user_fields = serde_json::from_value(json!([
                {"name": "nickname", "type": "string"},
                {"name": "bio", "type": "string", "max_length": 500},
            ]))
            .expect("valid declarations");
        })
        .nest("/api", api_routes())
}

/// The application on `engine`, or `None` when PostgreSQL is skipped.
async fn app_on(engine: Engine, test: &str) -> Option<TestApp> {
    let database = TestDatabase::new(engine, test).await?;
    Some(every_route().database(database).build().await)
}

/// Ada (a user) and a staff member, with their access tokens.
async fn people(app: &TestApp) -> (User, Pair, String) {
    let ada = app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    app.create_user_with(
        NewUser {
            email: STAFF.into(),
            is_active: true,
            is_staff: true,
            ..NewUser::default()
        },
        PASSWORD,
    )
    .await;
    let staff = app.login(STAFF, PASSWORD).await.access;
    (ada, pair, staff)
}

/// Everything a refused request must leave as it was: every user row.
async fn users(app: &TestApp) -> Vec<User> {
    app.tessera.auth().all_users().await.expect("users")
}

/// A registration body with `changes` applied.
fn registration(email: &str, changes: Value) -> Value {
    let mut body = json!({
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
    });
    let object = body.as_object_mut().expect("object");
    for (key, value) in changes.as_object().expect("changes are an object") {
        object.insert(key.clone(), value.clone());
    }
    body
}

/// Every byte but the unreserved ones, percent-encoded (a path segment).
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(name: &str, value: &str) -> String {
    serde_urlencoded::to_string([(name, value)]).expect("query")
}

async fn both_engines<F, Fut>(test: &str, body: F)
where
    F: Fn(TestApp, Engine) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in [Engine::Sqlite, Engine::Postgres] {
        if let Some(app) = app_on(engine, test).await {
            body(app, engine).await;
        }
    }
}

// ---- F10: one regression test per row of the review's table ----

#[tokio::test]
async fn f10_a_login_name_with_nul_is_400_on_every_login_route() {
    both_engines(
        "input_validation::f10_login_nul",
        |app, engine| async move {
            app.create_user(ADA, PASSWORD).await;
            let before = users(&app).await;
            let body = json!({"email": "a\u{0}b@x.com", "password": PASSWORD});
            for path in ["/api/token/", "/api/auth/login/", "/api/token/sliding/"] {
                app.post_json(path, &body)
                    .await
                    .assert(400, &field_error("email", NULL_CHARACTERS));
            }
            // The cookie login has its own body shapes; it must not fail either.
            let reply = app.post_json("/api/auth/cookie/login/", &body).await;
            assert!(
                reply.status().is_client_error(),
                "{engine:?}: {}",
                reply.status()
            );
            assert_eq!(users(&app).await, before, "{engine:?}");
        },
    )
    .await;
}

#[tokio::test]
async fn f10_registering_with_nul_in_a_name_is_400_and_creates_nobody() {
    both_engines(
        "input_validation::f10_register_nul",
        |app, engine| async move {
            for field in ["first_name", "last_name"] {
                app.register(&registration(ADA, json!({field: "A\u{0}da"})))
                    .await
                    .assert(400, &field_error(field, NULL_CHARACTERS));
            }
            app.register(&registration(
                ADA,
                json!({"password": "analytical\u{0}engine 1843"}),
            ))
            .await
            .assert_status(400);
            assert_eq!(users(&app).await, Vec::<User>::new(), "{engine:?}");
        },
    )
    .await;
}

#[tokio::test]
async fn f10_registering_with_nul_in_a_custom_string_field_is_400() {
    both_engines(
        "input_validation::f10_custom_nul",
        |app, engine| async move {
            app.register(&registration(ADA, json!({"nickname": "x\u{0}y"})))
                .await
                .assert(400, &field_error("nickname", NULL_CHARACTERS));
            assert_eq!(users(&app).await, Vec::<User>::new(), "{engine:?}");
        },
    )
    .await;
}

#[tokio::test]
async fn f10_a_profile_patch_with_nul_is_400_and_changes_nothing() {
    both_engines(
        "input_validation::f10_profile_nul",
        |app, engine| async move {
            let (_, pair, _) = people(&app).await;
            let before = users(&app).await;
            // (`email` is read-only on the profile: ignored, whatever it holds.)
            for (field, value) in [
                ("last_name", "x\u{0}"),
                ("first_name", "\u{0}"),
                ("nickname", "\u{0}"),
            ] {
                let reply = app
                    .bearer(
                        Method::PATCH,
                        "/api/auth/profile/",
                        &pair.access,
                        Some(&json!({ field: value })),
                    )
                    .await;
                reply.assert(400, &field_error(field, NULL_CHARACTERS));
            }
            assert_eq!(users(&app).await, before, "{engine:?}");
        },
    )
    .await;
}

#[tokio::test]
async fn f10_ending_a_session_named_with_nul_or_at_length_is_404() {
    both_engines(
        "input_validation::f10_session_nul",
        |app, engine| async move {
            let (_, pair, _) = people(&app).await;
            for id in ["a%00b", "f".repeat(3000).as_str(), "%E2%80%8B"] {
                let path = format!("/api/auth/sessions/{id}/");
                let reply = app.bearer(Method::DELETE, &path, &pair.access, None).await;
                reply.assert(404, NOT_FOUND);
            }
            // The session is still live.
            app.get_bearer("/api/auth/profile/", &pair.access)
                .await
                .ok();
            let _ = engine;
        },
    )
    .await;
}

#[tokio::test]
async fn f10_admin_search_and_audit_filter_with_nul_are_400() {
    both_engines("input_validation::f10_admin_nul", |app, _| async move {
        let (_, _, staff) = people(&app).await;
        app.bearer(Method::GET, "/api/admin/users/?search=%00", &staff, None)
            .await
            .assert(400, &field_error("search", NULL_CHARACTERS));
        app.bearer(Method::GET, "/api/admin/audit/?event=%00", &staff, None)
            .await
            .assert(400, &field_error("event", NULL_CHARACTERS));
        // Over-long searches are bounded before they reach the database.
        let long = format!("/api/admin/users/?{}", query("search", &"é".repeat(300)));
        app.bearer(Method::GET, &long, &staff, None).await.assert(
            400,
            &field_error(
                "search",
                "Ensure this field has no more than 255 characters.",
            ),
        );
    })
    .await;
}

#[tokio::test]
async fn f10_control_characters_are_refused_where_a_field_is_one_line() {
    both_engines("input_validation::f10_controls", |app, engine| async move {
        let (_, pair, _) = people(&app).await;
        let before = users(&app).await;
        let patch = |body: Value| {
            let app = &app;
            let access = pair.access.clone();
            async move {
                app.bearer(Method::PATCH, "/api/auth/profile/", &access, Some(&body))
                    .await
            }
        };
        // Names are one line: escape sequences, newlines and DEL are refused.
        for name in [
            "Ada\u{1b}[31m",
            "Ada\nLovelace",
            "Ada\u{7f}",
            "\tAda\u{85}x",
        ] {
            patch(json!({"first_name": name}))
                .await
                .assert(400, &field_error("first_name", CONTROL_CHARACTERS));
        }
        // Free text keeps tabs and line breaks, and refuses the other controls.
        patch(json!({"nickname": "Ada\u{7}"}))
            .await
            .assert(400, &field_error("nickname", CONTROL_CHARACTERS));
        assert_eq!(users(&app).await, before, "{engine:?}");
        let reply = patch(json!({"nickname": "line one\nline two\tend"})).await;
        assert_eq!(reply.ok()["nickname"], json!("line one\nline two\tend"));
    })
    .await;
}

#[tokio::test]
async fn f10_custom_string_fields_without_max_length_are_bounded() {
    both_engines(
        "input_validation::f10_custom_bound",
        |app, engine| async move {
            let (_, pair, _) = people(&app).await;
            let before = users(&app).await;
            let reply = app
                .bearer(
                    Method::PATCH,
                    "/api/auth/profile/",
                    &pair.access,
                    Some(&json!({"nickname": "x".repeat(10_001)})),
                )
                .await;
            reply.assert(
                400,
                &field_error(
                    "nickname",
                    "Ensure this field has no more than 10000 characters.",
                ),
            );
            assert_eq!(users(&app).await, before, "{engine:?}");
        },
    )
    .await;
}

// ---- F10: arbitrary text, on both engines ----

/// Characters worth trying: any Unicode scalar, NUL, C0 and C1 controls, invisible ones.
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => (0u8..0x20).prop_map(char::from),
        1 => Just('\u{0}'),
        1 => Just('\u{7f}'),
        1 => prop::sample::select(vec!['\u{85}', '\u{200B}', '\u{FEFF}', '\u{202E}', 'ﬀ', 'а', '@']),
        4 => prop::char::range('a', 'z'),
    ]
}

/// Short nasty strings, and long ones (past PostgreSQL's btree key limit).
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(nasty_char(), 0..40).prop_map(|c| c.into_iter().collect()),
        1 => prop::collection::vec(any::<char>(), 1000..3000).prop_map(|c| c.into_iter().collect()),
        1 => prop::collection::vec(nasty_char(), 0..12)
            .prop_map(|c| format!("{}@example.com", c.into_iter().collect::<String>())),
    ]
}

/// What one case sends: a text, and where it goes.
#[derive(Debug, Clone)]
struct Case {
    text: String,
    field: &'static str,
}

fn case() -> impl Strategy<Value = Case> {
    (
        nasty_string(),
        prop::sample::select(vec!["email", "first_name", "last_name", "nickname", "bio"]),
    )
        .prop_map(|(text, field)| Case { text, field })
}

fn assert_no_server_error(reply: &Reply, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        reply.status().as_u16() < 500,
        "{what}: {} {}",
        reply.status(),
        reply.text()
    );
    Ok(())
}

/// One case against every text input that reaches the database.
async fn run_case(
    app: &TestApp,
    pair: &Pair,
    staff: &str,
    n: usize,
    case: &Case,
) -> Result<(), TestCaseError> {
    let text = case.text.as_str();
    // Registration: refused, it creates nobody.
    let before = users(app).await;
    let email = format!("case{n}@example.com");
    let mut body = registration(&email, json!({}));
    body[case.field] = json!(text);
    let reply = app.register(&body).await;
    assert_no_server_error(&reply, "register")?;
    if reply.status() != 201 {
        prop_assert_eq!(users(app).await, before.clone(), "register refused");
    }
    // The profile: refused, it changes nothing.
    let before = users(app).await;
    let reply = app
        .bearer(
            Method::PATCH,
            "/api/auth/profile/",
            &pair.access,
            Some(&json!({ case.field: text })),
        )
        .await;
    assert_no_server_error(&reply, "profile")?;
    if reply.status() != 200 {
        prop_assert_eq!(users(app).await, before, "profile refused");
    }
    // Logins, sessions, admin search and audit filters.
    let login = json!({"email": text, "password": text});
    for path in [
        "/api/token/",
        "/api/auth/login/",
        "/api/token/sliding/",
        "/api/auth/cookie/login/",
    ] {
        assert_no_server_error(&app.post_json(path, &login).await, path)?;
    }
    let path = format!("/api/auth/sessions/{}/", percent_encoded(text));
    let reply = app.bearer(Method::DELETE, &path, &pair.access, None).await;
    assert_no_server_error(&reply, "session")?;
    for path in [
        format!("/api/admin/users/?{}", query("search", text)),
        format!("/api/admin/audit/?{}", query("event", text)),
        format!("/api/admin/users/{}/", percent_encoded(text)),
    ] {
        let reply = app.bearer(Method::GET, &path, staff, None).await;
        assert_no_server_error(&reply, &path)?;
    }
    Ok(())
}

#[test]
fn f10_arbitrary_text_never_gets_a_server_error_and_refusals_change_nothing() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let test = "input_validation::f10_arbitrary_text";
        let Some(app) = runtime.block_on(app_on(engine, test)) else {
            continue;
        };
        let (_, pair, staff) = runtime.block_on(people(&app));
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let counter = std::sync::atomic::AtomicUsize::new(0);
        runner
            .run(&case(), |case| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                runtime.block_on(run_case(&app, &pair, &staff, n, &case))
            })
            .unwrap_or_else(|e| panic!("{engine:?}: {e}"));
    }
}

// ---- F13: confusable e-mail addresses ----

#[tokio::test]
async fn f13_the_reviews_confusable_addresses_are_refused_or_are_the_existing_account() {
    both_engines(
        "input_validation::f13_confusables",
        |app, engine| async move {
            app.create_user("admin@example.com", PASSWORD).await;
            app.create_user("admin@ff.com", PASSWORD).await;
            let before = users(&app).await;
            for (email, message) in [
                // An invisible code point: refused, as Django's validator refuses spaces.
                ("admin@example.com\u{200B}", INVALID_EMAIL),
                ("adm\u{200B}in@example.com", INVALID_EMAIL),
                ("admin@exam\u{00AD}ple.com", INVALID_EMAIL),
                // A compatibility ligature: the same address as `admin@ff.com`.
                ("admin@\u{FB00}.com", EMAIL_TAKEN),
                ("ａｄｍｉｎ@ff.com", EMAIL_TAKEN),
                ("admin@ＦＦ.com", EMAIL_TAKEN),
                // A Cyrillic `а` among Latin letters: refused (mixed scripts in a label).
                ("admin@ex\u{0430}mple.com", INVALID_EMAIL),
                ("admin@xn--exmple-4nf.com", INVALID_EMAIL),
            ] {
                app.register(&registration(email, json!({})))
                    .await
                    .assert(400, &field_error("email", message));
                let _ = engine;
            }
            assert_eq!(users(&app).await, before, "{engine:?}");
            // An internationalised domain in one script is fine, stored in its processed form.
            let reply = app
                .register(&registration("ada@BÜCHER.de", json!({})))
                .await;
            assert_eq!(reply.status(), 201, "{}", reply.text());
            assert_eq!(reply.json()["user"]["email"], json!("ada@bücher.de"));
            app.register(&registration("ada@xn--bcher-kva.de", json!({})))
                .await
                .assert(400, &field_error("email", EMAIL_TAKEN));
        },
    )
    .await;
}

#[tokio::test]
async fn f13_a_profile_cannot_take_a_confusable_of_another_account() {
    both_engines("input_validation::f13_profile", |app, engine| async move {
        let (_, pair, _) = people(&app).await;
        app.create_user("admin@ff.com", PASSWORD).await;
        let before = users(&app).await;
        // The profile's address is read-only (it changes through `email/change/`): ignored.
        for email in ["admin@\u{FB00}.com", "admin@ff.com\u{200B}"] {
            app.bearer(
                Method::PATCH,
                "/api/auth/profile/",
                &pair.access,
                Some(&json!({ "email": email })),
            )
            .await
            .assert_status(200);
        }
        assert_eq!(users(&app).await, before, "{engine:?}");
        let new_email = json!({"new_email": "admin@\u{FB00}.com", "password": PASSWORD});
        app.bearer(
            Method::POST,
            "/api/auth/email/change/",
            &pair.access,
            Some(&new_email),
        )
        .await
        .assert(400, &field_error("new_email", EMAIL_TAKEN));
    })
    .await;
}

// ---- F9: custom fields and reserved claims ----

/// The review's configuration: `user_id_claim = "uid"` and a `uid` field with `claim = true`.
fn colliding(claim: bool) -> AccountSettings {
    AccountSettings {
        user_fields: serde_json::from_value(json!([
            {"name": "uid", "type": "string", "max_length": 20, "claim": claim},
        ]))
        .expect("valid declaration"),
        ..AccountSettings::default()
    }
}

#[tokio::test]
async fn f9_a_custom_field_named_like_a_configured_claim_is_refused_at_load() {
    let database = TestDatabase::sqlite();
    for claim in [true, false] {
        for change in [
            (|s: &mut Settings| s.user_id_claim = "uid".into()) as fn(&mut Settings),
            |s| s.token_type_claim = "uid".into(),
            |s| s.jti_claim = "uid".into(),
            |s| s.sliding_token_refresh_exp_claim = "uid".into(),
        ] {
            let mut settings = Settings {
                signing_key: Some(SIGNING_KEY.into()),
                ..Settings::default()
            };
            change(&mut settings);
            let built = Tessera::builder(settings, database.store().await)
                .accounts(colliding(claim))
                .build()
                .await;
            let Err(error) = built else {
                panic!("a `uid` field (claim = {claim}) was accepted");
            };
            assert_eq!(error.setting(), Some("user_fields"), "{error}");
            assert!(error.to_string().contains("\"uid\""), "{error}");
        }
    }
}

#[tokio::test]
async fn f9_issued_tokens_keep_their_reserved_claims_whatever_the_caller_adds() {
    let app = every_route()
        .settings(|s| s.user_id_claim = "uid".into())
        .build()
        .await;
    let mallory = app.create_user("mallory@example.com", PASSWORD).await;
    let mut extra = Claims::new();
    for claim in ["uid", "token_type", "jti", "sid", "exp", "iat"] {
        extra.insert(claim.into(), json!("999"));
    }
    extra.insert("nickname".into(), json!("m"));
    let pair = app
        .tessera
        .auth()
        .issue_pair(&mallory, &ClientInfo::new(None, None), &extra)
        .await
        .expect("issued");
    for token in [&pair.access, &pair.refresh] {
        let claims = claims(token);
        assert_eq!(claims["uid"], json!(mallory.id.to_string()), "{claims:?}");
        assert_ne!(claims["token_type"], json!("999"));
        assert_ne!(claims["jti"], json!("999"));
        assert_ne!(claims["sid"], json!("999"));
        assert!(
            claims["exp"].is_i64() && claims["iat"].is_i64(),
            "{claims:?}"
        );
        assert_eq!(claims["nickname"], json!("m"));
    }
    // And the token is Mallory's.
    app.get_bearer("/api/auth/profile/", &pair.access)
        .await
        .assert_status(200);
}
