//! Passkeys (WebAuthn) through the HTTP routes, with a software authenticator making real
//! ceremonies (P-256 keys, signatures, counters), on SQLite and PostgreSQL: registering,
//! listing, renaming and deleting; another user's passkey; a wrong origin; a challenge used
//! twice; a replayed assertion; the passkey as the second factor of a password login; and
//! the passwordless sign-in, on and off.
//!
//! The software authenticator keeps no discoverable credentials, so for a discoverable
//! sign-in the test plays the platform's part: it picks the credential and hands back the
//! user handle, as a browser does from the passkeys it holds for the site.

use axum::http::Method;
use serde_json::{Value, json};
use tessera_auth::accounts::LAST_WAY_IN;
use tessera_axum::routes::api_routes;
use tessera_axum::testing::TestDatabase;
use tessera_store::{
    AuditFilter, Engine, NewPasskey, NewWebauthnCeremony, PasskeyInsert, WayIn, WayInRemoval,
};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::helpers::{Api, CookieApi, PASSWORD, Reply, TestApp, csrf_failed};

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
/// The origin of the test application (its public URL is `http://127.0.0.1:8000`: the
/// relying party is `localhost`).
const ORIGIN: &str = "http://localhost:8000";
const PASSKEYS: &str = "/api/auth/passkeys/";
const REGISTER_BEGIN: &str = "/api/auth/passkeys/register/begin/";
const REGISTER_FINISH: &str = "/api/auth/passkeys/register/finish/";
const LOGIN_BEGIN: &str = "/api/auth/passkeys/login/begin/";
const LOGIN_FINISH: &str = "/api/auth/passkeys/login/finish/";
const MFA_BEGIN: &str = "/api/auth/mfa/passkey/begin/";
const MFA_VERIFY: &str = "/api/auth/mfa/verify/";
const COOKIE_PASSKEY: &str = "/api/auth/cookie/passkey/";

/// Every API route, with `passkey_login` as given, on `engine` (`None`: PostgreSQL is
/// skipped).
async fn app_on(engine: Engine, test: &str, passkey_login: bool) -> Option<TestApp> {
    let database = TestDatabase::new(engine, test).await?;
    Some(
        TestApp::builder()
            .passkeys(move |passkeys| passkeys.passkey_login = passkey_login)
            .nest("/api", api_routes())
            .database(database)
            .build()
            .await,
    )
}

/// A software authenticator. It has no PIN pad nor sensor: `true` makes it report the user
/// verified, as an authenticator that asked for a PIN does.
fn soft_authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

/// The engines to run on.
const ENGINES: [Engine; 2] = [Engine::Sqlite, Engine::Postgres];

fn origin() -> Url {
    Url::parse(ORIGIN).expect("an origin")
}

async fn post_bearer(app: &TestApp, path: &str, access: &str, body: &Value) -> Reply {
    app.send(
        app.request(Method::POST, path)
            .bearer_auth(access)
            .json(body),
    )
    .await
}

async fn send_bearer(
    app: &TestApp,
    method: Method,
    path: &str,
    access: &str,
    body: Option<&Value>,
) -> Reply {
    let request = app.request(method, path).bearer_auth(access);
    let request = match body {
        Some(body) => request.json(body),
        None => request,
    };
    app.send(request).await
}

/// The creation options of `begin` as the software authenticator takes them: it keeps
/// no discoverable credentials, so the test asks for none.
fn creation_options(begin: &Value) -> CreationChallengeResponse {
    let mut public_key = begin["publicKey"].clone();
    public_key["authenticatorSelection"]["requireResidentKey"] = json!(false);
    public_key["authenticatorSelection"]["residentKey"] = json!("discouraged");
    serde_json::from_value(json!({ "publicKey": public_key })).expect("creation options")
}

/// Request options; with `allow`, the credential the platform picked for a discoverable
/// sign-in.
fn request_options(begin: &Value, allow: Option<&str>) -> RequestChallengeResponse {
    let mut public_key = begin["publicKey"].clone();
    if let Some(id) = allow {
        public_key["allowCredentials"] = json!([{"type": "public-key", "id": id}]);
    }
    serde_json::from_value(json!({ "publicKey": public_key })).expect("request options")
}

/// A registered passkey: its API id, its credential id and the user handle.
struct Registered {
    id: i64,
    credential_id: String,
    user_handle: String,
}

/// Registers a passkey named `name` for the holder of `access`, on `authenticator`.
async fn register(
    app: &TestApp,
    access: &str,
    authenticator: &mut SoftPasskey,
    name: &str,
) -> Registered {
    let begin = post_bearer(app, REGISTER_BEGIN, access, &json!({})).await;
    begin.assert_status(200);
    let begin = begin.json();
    let credential = authenticator
        .do_registration(origin(), creation_options(&begin))
        .expect("the authenticator registers");
    let credential = serde_json::to_value(&credential).expect("JSON");
    let finish = post_bearer(
        app,
        REGISTER_FINISH,
        access,
        &json!({
            "challenge_id": begin["challenge_id"],
            "name": name,
            "credential": credential,
            "password": PASSWORD,
        }),
    )
    .await;
    finish.assert_status(201);
    let body = finish.json();
    assert_eq!(body["name"], name.trim());
    assert!(body["last_used_at"].is_null(), "{body}");
    Registered {
        id: body["id"].as_i64().expect("an id"),
        credential_id: credential["id"].as_str().expect("an id").to_owned(),
        user_handle: begin["publicKey"]["user"]["id"]
            .as_str()
            .expect("a user handle")
            .to_owned(),
    }
}

/// A discoverable assertion of `passkey` for `begin`, with its user handle, as a browser
/// sends it.
fn discoverable_assertion(
    authenticator: &mut SoftPasskey,
    begin: &Value,
    passkey: &Registered,
) -> Value {
    let assertion = authenticator
        .do_authentication(
            origin(),
            request_options(begin, Some(&passkey.credential_id)),
        )
        .expect("the authenticator signs");
    let mut assertion = serde_json::to_value(&assertion).expect("JSON");
    assertion["response"]["userHandle"] = json!(passkey.user_handle);
    assertion
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
        .expect("events")
        .1
}

#[tokio::test]
async fn a_user_registers_two_passkeys_lists_renames_and_deletes_them() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::register_two", false).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut phone = soft_authenticator();
        let mut laptop = soft_authenticator();

        let first = register(&app, &access, &mut phone, "  Phone  ").await;
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let options = &begin["publicKey"];
        assert_eq!(options["rp"]["id"], "localhost", "{options}");
        // Discoverable preferred, not required: a security key with no resident slot left
        // still registers (as a second factor).
        assert_eq!(
            options["authenticatorSelection"]["residentKey"],
            "preferred"
        );
        assert_eq!(
            options["authenticatorSelection"]["requireResidentKey"],
            false
        );
        assert_eq!(
            options["authenticatorSelection"]["userVerification"],
            "required"
        );
        assert_eq!(
            options["excludeCredentials"][0]["id"],
            first.credential_id.as_str()
        );
        assert_eq!(
            options["user"]["id"],
            first.user_handle.as_str(),
            "one handle per user"
        );
        let second = register(&app, &access, &mut laptop, "Laptop").await;

        let list = send_bearer(&app, Method::GET, PASSKEYS, &access, None).await;
        list.assert_status(200);
        let list = list.json();
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Phone", "Laptop"], "{engine:?}");
        let mut keys: Vec<&String> = list[0].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "id", "last_used_at", "name"]);

        let path = format!("{PASSKEYS}{}/", second.id);
        let renamed = send_bearer(
            &app,
            Method::PATCH,
            &path,
            &access,
            Some(&json!({"name": "Work laptop"})),
        )
        .await;
        renamed.assert_status(200);
        assert_eq!(renamed.json()["name"], "Work laptop");
        let blank = send_bearer(
            &app,
            Method::PATCH,
            &path,
            &access,
            Some(&json!({"name": "  "})),
        )
        .await;
        blank.assert_status(400);
        assert_eq!(
            blank.json(),
            json!({"name": ["This field may not be blank."]})
        );
        let long = send_bearer(
            &app,
            Method::PATCH,
            &path,
            &access,
            Some(&json!({"name": "x".repeat(65)})),
        )
        .await;
        long.assert_status(400);
        assert_eq!(
            long.json(),
            json!({"name": ["Ensure this field has no more than 64 characters."]})
        );

        // Bob sees none of Ada's passkeys and can touch none.
        app.create_user(BOB, PASSWORD).await;
        let bob = app.login(BOB, PASSWORD).await.access;
        assert_eq!(
            send_bearer(&app, Method::GET, PASSKEYS, &bob, None)
                .await
                .json(),
            json!([])
        );
        send_bearer(
            &app,
            Method::PATCH,
            &path,
            &bob,
            Some(&json!({"name": "mine"})),
        )
        .await
        .assert_status(404);
        send_bearer(&app, Method::DELETE, &path, &bob, None)
            .await
            .assert_status(404);

        send_bearer(&app, Method::DELETE, &path, &access, None)
            .await
            .assert_status(204);
        send_bearer(&app, Method::DELETE, &path, &access, None)
            .await
            .assert_status(404);
        let left = send_bearer(&app, Method::GET, PASSKEYS, &access, None)
            .await
            .json();
        assert_eq!(left.as_array().unwrap().len(), 1);
        assert_eq!(left[0]["id"], first.id);

        assert_eq!(events(&app, "passkey.registered").await.len(), 2);
        let renamed = events(&app, "passkey.renamed").await;
        assert_eq!(renamed.len(), 1);
        assert_eq!(renamed[0].user_id, Some(ada.id));
        assert_eq!(events(&app, "passkey.deleted").await.len(), 1);
    }
}

#[tokio::test]
async fn a_wrong_origin_and_a_reused_challenge_are_refused() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::refusals", false).await else {
            continue;
        };
        app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();

        // A challenge expires after five minutes.
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let mut other = soft_authenticator();
        let credential = other
            .do_registration(origin(), creation_options(&begin))
            .expect("the authenticator registers");
        app.advance(301);
        // (the access token expired too)
        let access = app.login(ADA, PASSWORD).await.access;
        let late = post_bearer(
            &app,
            REGISTER_FINISH,
            &access,
            &json!({"challenge_id": begin["challenge_id"], "name": "Late", "credential": credential, "password": PASSWORD}),
        )
        .await;
        late.assert_status(400);
        assert_eq!(
            late.json(),
            json!({"challenge_id": ["Invalid or expired challenge."]})
        );

        // Another port of localhost is another origin.
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let elsewhere = Url::parse("http://localhost:9999").unwrap();
        let credential = authenticator
            .do_registration(elsewhere, creation_options(&begin))
            .expect("the authenticator registers");
        let refused = post_bearer(
            &app,
            REGISTER_FINISH,
            &access,
            &json!({"challenge_id": begin["challenge_id"], "name": "Phone", "credential": credential, "password": PASSWORD}),
        )
        .await;
        refused.assert_status(400);
        assert_eq!(
            refused.json(),
            json!({"credential": ["The passkey could not be verified."]})
        );

        // A challenge finishes once.
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let credential = authenticator
            .do_registration(origin(), creation_options(&begin))
            .expect("the authenticator registers");
        let body = json!({"challenge_id": begin["challenge_id"], "name": "Phone", "credential": credential, "password": PASSWORD});
        post_bearer(&app, REGISTER_FINISH, &access, &body)
            .await
            .assert_status(201);
        let again = post_bearer(&app, REGISTER_FINISH, &access, &body).await;
        again.assert_status(400);
        assert_eq!(
            again.json(),
            json!({"challenge_id": ["Invalid or expired challenge."]})
        );

        // Fields are checked before the challenge is spent.
        let missing = post_bearer(&app, REGISTER_FINISH, &access, &json!({})).await;
        missing.assert_status(400);
        assert_eq!(
            missing.json(),
            json!({
                "challenge_id": ["This field is required."],
                "name": ["This field is required."],
                "credential": ["This field is required."],
                "password": ["This field is required."],
            })
        );
        let failures = events(&app, "passkey.registration_failed").await;
        assert_eq!(failures.len(), 3, "{engine:?}");
    }
}

#[tokio::test]
async fn passwordless_sign_in_works_once_per_assertion() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::passwordless", true).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let passkey = register(&app, &access, &mut authenticator, "Phone").await;

        let begin = app.post_json(LOGIN_BEGIN, &json!({})).await;
        begin.assert_status(200);
        let begin = begin.json();
        assert_eq!(
            begin["publicKey"]["allowCredentials"],
            json!([]),
            "discoverable"
        );
        assert_eq!(begin["publicKey"]["userVerification"], "required");
        let assertion = discoverable_assertion(&mut authenticator, &begin, &passkey);
        let body = json!({"challenge_id": begin["challenge_id"], "credential": assertion});
        let signed_in = app.post_json(LOGIN_FINISH, &body).await;
        signed_in.assert_status(200);
        let pair = signed_in.json();
        assert!(
            pair["access"].is_string() && pair["refresh"].is_string(),
            "{pair}"
        );
        let verified = app.verify(pair["access"].as_str().unwrap()).await;
        verified.assert_status(200);

        // The same body again: the challenge is spent.
        app.post_json(LOGIN_FINISH, &body).await.assert_status(401);
        // The same assertion under a new challenge: its signature is over the old one.
        let fresh = app.post_json(LOGIN_BEGIN, &json!({})).await.json();
        let replayed = json!({"challenge_id": fresh["challenge_id"], "credential": assertion});
        let refused = app.post_json(LOGIN_FINISH, &replayed).await;
        refused.assert_status(401);
        assert_eq!(
            refused.json(),
            json!({"detail": "No active account found with the given credentials"})
        );

        let list = send_bearer(&app, Method::GET, PASSKEYS, &access, None)
            .await
            .json();
        assert!(list[0]["last_used_at"].is_string(), "{list}");
        let used = events(&app, "passkey.used").await;
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].user_id, Some(ada.id));
        assert_eq!(
            events(&app, "passkey.login_failed").await.len(),
            2,
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn the_passwordless_routes_are_absent_unless_passkey_login_is_on() {
    let Some(app) = app_on(Engine::Sqlite, "passkeys::off", false).await else {
        return;
    };
    for path in [LOGIN_BEGIN, LOGIN_FINISH, "/api/auth/cookie/passkey/"] {
        let reply = app.post_json(path, &json!({})).await;
        reply.assert_status(404);
        assert_eq!(reply.json(), json!({"detail": "Not found."}), "{path}");
    }
}

#[tokio::test]
async fn the_last_passkey_of_an_account_without_a_password_stays() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::last_way_in", true).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut phone = soft_authenticator();
        let mut laptop = soft_authenticator();
        let first = register(&app, &access, &mut phone, "Phone").await;
        let second = register(&app, &access, &mut laptop, "Laptop").await;
        app.tessera
            .auth()
            .store()
            .set_password_hash(ada.id, "!unusable")
            .await
            .expect("unusable password");

        let path = |id: i64| format!("{PASSKEYS}{id}/");
        send_bearer(&app, Method::DELETE, &path(first.id), &access, None)
            .await
            .assert_status(204);
        let last = send_bearer(&app, Method::DELETE, &path(second.id), &access, None).await;
        last.assert_status(400);
        assert_eq!(last.json(), json!({"non_field_errors": [LAST_WAY_IN]}));
        let list = send_bearer(&app, Method::GET, PASSKEYS, &access, None)
            .await
            .json();
        assert_eq!(list.as_array().unwrap().len(), 1, "{engine:?}");
    }
}

#[tokio::test]
async fn without_passwordless_sign_in_the_last_passkey_is_only_a_second_factor() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::second_factor_only", false).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut phone = soft_authenticator();
        let only = register(&app, &access, &mut phone, "Phone").await;
        app.tessera
            .auth()
            .store()
            .set_password_hash(ada.id, "!unusable")
            .await
            .expect("unusable password");
        // It opens nothing by itself (no passwordless sign-in): no way in is lost.
        send_bearer(
            &app,
            Method::DELETE,
            &format!("{PASSKEYS}{}/", only.id),
            &access,
            None,
        )
        .await
        .assert_status(204);
        let list = send_bearer(&app, Method::GET, PASSKEYS, &access, None)
            .await
            .json();
        assert_eq!(list, json!([]), "{engine:?}");
    }
}

#[tokio::test]
async fn a_passkey_is_a_second_factor_of_a_password_login() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::second_factor", false).await else {
            continue;
        };
        app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let passkey = register(&app, &access, &mut authenticator, "Phone").await;

        // The password alone now asks for the second factor.
        let step = app.obtain(ADA, PASSWORD).await.json();
        let token = step["mfa_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{step}"))
            .to_owned();
        assert!(
            step["methods"]
                .as_array()
                .is_some_and(|m| m.contains(&json!("passkey"))),
            "{step}"
        );
        let begin = app.post_json(MFA_BEGIN, &json!({"mfa_token": token})).await;
        begin.assert_status(200);
        let begin = begin.json();
        assert_eq!(
            begin["publicKey"]["allowCredentials"][0]["id"],
            passkey.credential_id.as_str()
        );
        let assertion = authenticator
            .do_authentication(origin(), request_options(&begin, None))
            .expect("the authenticator signs");
        let passkey_body = json!({"challenge_id": begin["challenge_id"], "credential": assertion});

        // Bound to its pending login: another login's token does not finish it.
        let other = app.obtain(ADA, PASSWORD).await.json();
        let wrong = app
            .post_json(
                MFA_VERIFY,
                &json!({"mfa_token": other["mfa_token"], "passkey": passkey_body}),
            )
            .await;
        wrong.assert_status(400);
        assert_eq!(wrong.json(), json!({"passkey": ["Invalid code."]}));

        // A fresh ceremony for this login succeeds, once.
        let begin = app
            .post_json(MFA_BEGIN, &json!({"mfa_token": token}))
            .await
            .json();
        let assertion = authenticator
            .do_authentication(origin(), request_options(&begin, None))
            .expect("the authenticator signs");
        let passkey_body = json!({"challenge_id": begin["challenge_id"], "credential": assertion});
        let verified = app
            .post_json(
                MFA_VERIFY,
                &json!({"mfa_token": token, "passkey": passkey_body}),
            )
            .await;
        verified.assert_status(200);
        let pair = verified.json();
        assert!(
            pair["access"].is_string() && pair["refresh"].is_string(),
            "{pair}"
        );
        let used = events(&app, "passkey.used").await;
        assert_eq!(used.len(), 1, "{engine:?}");
        let detail: Value =
            serde_json::from_str(used[0].detail.as_deref().unwrap_or("{}")).unwrap();
        assert_eq!(detail["purpose"], "mfa");

        // Unknown token: nothing to begin, in `mfa/verify/`'s words.
        let unknown = app
            .post_json(MFA_BEGIN, &json!({"mfa_token": "nope"}))
            .await;
        unknown.assert_status(401);
        assert_eq!(
            unknown.json(),
            json!({"detail": "Invalid or expired MFA token.", "code": "mfa_token_not_valid"})
        );
    }
}

#[tokio::test]
async fn the_cookie_passkey_route_sets_the_session_cookies_behind_the_csrf_checks() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::cookie", true).await else {
            continue;
        };
        app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let passkey = register(&app, &access, &mut authenticator, "Phone").await;
        let begin = app.post_json(LOGIN_BEGIN, &json!({})).await.json();
        let assertion = discoverable_assertion(&mut authenticator, &begin, &passkey);
        let body = json!({"challenge_id": begin["challenge_id"], "credential": assertion});

        // Login CSRF: a cross-site post, and a double-submit token that does not match,
        // are refused before the assertion is read (its ceremony is not spent).
        let evil = "https://evil.example";
        let cross_site = app
            .send(
                app.request(Method::POST, COOKIE_PASSKEY)
                    .header("sec-fetch-site", "cross-site")
                    .header("origin", evil)
                    .json(&body),
            )
            .await;
        cross_site.assert(
            403,
            &csrf_failed(&format!(
                "Origin checking failed - {evil} does not match any trusted origins."
            )),
        );
        let mismatch = app
            .send(
                app.with_cookies(
                    Method::POST,
                    COOKIE_PASSKEY,
                    &[("csrftoken", "cookie-token")],
                )
                .header("x-csrftoken", "other-token")
                .json(&body),
            )
            .await;
        mismatch.assert(403, &csrf_failed("CSRF token incorrect."));
        assert_eq!(mismatch.cookie_names(), Vec::<String>::new());
        assert!(events(&app, "passkey.used").await.is_empty(), "{engine:?}");

        // The browser's own page: the tokens only in HttpOnly cookies.
        let reply = app
            .send(
                app.with_cookies(Method::POST, COOKIE_PASSKEY, &[("csrftoken", "page-token")])
                    .header("sec-fetch-site", "same-origin")
                    .header("x-csrftoken", "page-token")
                    .json(&body),
            )
            .await;
        reply.assert_status(200);
        let answer = reply.json();
        assert_eq!(answer["message"], "Login successful", "{answer}");
        assert_eq!(answer["user"]["email"], ADA, "{answer}");
        assert!(
            answer.get("access").is_none() && answer.get("refresh").is_none(),
            "{answer}"
        );
        let mut names = reply.cookie_names();
        names.sort();
        assert_eq!(names, ["access_token", "csrftoken", "refresh_token"]);
        for name in ["access_token", "refresh_token"] {
            let cookie = reply.cookie(name);
            assert_eq!(cookie.attribute("HttpOnly"), Some(None), "{}", cookie.raw);
            assert!(!cookie.value.is_empty(), "{}", cookie.raw);
        }
        assert_ne!(reply.cookie("csrftoken").value, "page-token", "rotated");
        app.verify(&reply.cookie("access_token").value)
            .await
            .assert_status(200);
        let used = events(&app, "passkey.used").await;
        assert_eq!(used.len(), 1, "{engine:?}");
        // Recorded as a login like the others, by its method.
        let logins = events(&app, "login.succeeded").await;
        let methods: Vec<Value> = logins
            .iter()
            .map(|e| serde_json::from_str::<Value>(e.detail.as_deref().unwrap_or("{}")).unwrap())
            .map(|detail| detail["method"].clone())
            .collect();
        assert_eq!(methods.len(), 2, "{methods:?}");
        assert!(
            methods.contains(&Value::Null),
            "the password login: {methods:?}"
        );
        assert!(methods.contains(&json!("passkey")), "{methods:?}");
        // Spent: the same assertion signs no one in again.
        app.send(
            app.request(Method::POST, COOKIE_PASSKEY)
                .header("sec-fetch-site", "same-origin")
                .json(&body),
        )
        .await
        .assert_status(401);
    }
}

#[tokio::test]
async fn passkeys_are_unavailable_when_the_public_url_gives_no_relying_party() {
    let Some(database) = TestDatabase::new(Engine::Sqlite, "passkeys::unavailable").await else {
        return;
    };
    // `testserver` is no domain passkeys can be bound to; derived from `public_url`, it
    // switches passkeys off rather than failing the build.
    let app = TestApp::builder()
        .public_url("http://testserver")
        .nest("/api", api_routes())
        .database(database)
        .build()
        .await;
    let unavailable = app
        .tessera
        .auth()
        .passkeys_unavailable()
        .expect("passkeys are unavailable");
    assert_eq!(unavailable.setting, "webauthn_rp_id");
    assert!(app.tessera.auth().relying_party().is_none());

    app.create_user(ADA, PASSWORD).await;
    // Password logins are untouched: no second step.
    let access = app.login(ADA, PASSWORD).await.access;
    let off = json!({"detail": "Passkeys are not configured on this server."});
    let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({})).await;
    begin.assert_status(400);
    assert_eq!(begin.json(), off);
    let finish = post_bearer(
        &app,
        REGISTER_FINISH,
        &access,
        &json!({"challenge_id": "x", "name": "Phone", "credential": {}}),
    )
    .await;
    finish.assert_status(400);
    assert_eq!(finish.json(), off);
    let list = send_bearer(&app, Method::GET, PASSKEYS, &access, None).await;
    list.assert_status(200);
    assert_eq!(list.json(), json!([]));
    // The second-factor ceremony says the same (even before the token is looked at).
    let mfa = app.post_json(MFA_BEGIN, &json!({"mfa_token": "t"})).await;
    mfa.assert_status(400);
    assert_eq!(mfa.json(), off);
}

/// Stores a passkey row for `user_id` straight in the store (no authenticator): enough for
/// the bounds and the deletes, which never read the credential.
async fn stored_passkey(app: &TestApp, user_id: i64, credential_id: &str, handle: &str) -> i64 {
    let inserted = app
        .tessera
        .auth()
        .store()
        .insert_passkey(
            &NewPasskey {
                user_id,
                credential_id,
                user_handle: handle,
                passkey: "{}",
                name: credential_id,
                created_at: app.now(),
            },
            MAX_PASSKEYS,
        )
        .await
        .expect("stored");
    match inserted {
        PasskeyInsert::Stored(stored) => stored.id,
        other => panic!("{other:?}"),
    }
}

const MAX_PASSKEYS: u32 = 20;
const A_HANDLE: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test]
async fn registering_a_passkey_takes_the_current_password() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::password", false).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let credential = authenticator
            .do_registration(origin(), creation_options(&begin))
            .expect("the authenticator registers");
        let mut body = json!({"challenge_id": begin["challenge_id"], "name": "Phone", "credential": credential});

        // A stolen access token alone adds no passkey.
        let missing = post_bearer(&app, REGISTER_FINISH, &access, &body).await;
        missing.assert_status(400);
        assert_eq!(
            missing.json(),
            json!({"password": ["This field is required."]})
        );
        body["password"] = json!("not the password");
        let wrong = post_bearer(&app, REGISTER_FINISH, &access, &body).await;
        wrong.assert_status(400);
        assert_eq!(
            wrong.json(),
            json!({"password": ["Current password is incorrect."]})
        );
        // A wrong password counts as a failed login of the user.
        let failed = events(&app, "login.failed").await;
        assert_eq!(failed.len(), 1, "{engine:?}");
        assert_eq!(failed[0].user_id, Some(ada.id));
        // The refusals did not spend the challenge.
        body["password"] = json!(PASSWORD);
        post_bearer(&app, REGISTER_FINISH, &access, &body)
            .await
            .assert_status(201);

        // Without a usable password there is none to give.
        app.tessera
            .auth()
            .store()
            .set_password_hash(ada.id, "!unusable")
            .await
            .expect("unusable password");
        let mut laptop = soft_authenticator();
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let credential = laptop
            .do_registration(origin(), creation_options(&begin))
            .expect("the authenticator registers");
        post_bearer(
            &app,
            REGISTER_FINISH,
            &access,
            &json!({"challenge_id": begin["challenge_id"], "name": "Laptop", "credential": credential}),
        )
        .await
        .assert_status(201);
    }
}

#[tokio::test]
async fn concurrent_finishes_of_one_challenge_store_one_passkey() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::concurrent_finish", false).await else {
            continue;
        };
        app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let credential = authenticator
            .do_registration(origin(), creation_options(&begin))
            .expect("the authenticator registers");
        let body = json!({"challenge_id": begin["challenge_id"], "name": "Phone", "credential": credential, "password": PASSWORD});
        let (one, two) = tokio::join!(
            post_bearer(&app, REGISTER_FINISH, &access, &body),
            post_bearer(&app, REGISTER_FINISH, &access, &body)
        );
        let mut statuses = [one.status().as_u16(), two.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 400], "{engine:?}");
        let loser = if one.status().as_u16() == 400 {
            one
        } else {
            two
        };
        assert_eq!(
            loser.json(),
            json!({"challenge_id": ["Invalid or expired challenge."]})
        );
        let list = send_bearer(&app, Method::GET, PASSKEYS, &access, None)
            .await
            .json();
        assert_eq!(list.as_array().unwrap().len(), 1, "{engine:?}");
    }
}

#[tokio::test]
async fn a_user_holds_at_most_twenty_passkeys() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::twenty", false).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let first = register(&app, &access, &mut authenticator, "Phone").await;
        for n in 2..MAX_PASSKEYS {
            stored_passkey(&app, ada.id, &format!("key-{n}"), &first.user_handle).await;
        }
        // 19 held: a registration begins, and another passkey arrives meanwhile.
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
            .await
            .json();
        let credential = soft_authenticator()
            .do_registration(origin(), creation_options(&begin))
            .expect("the authenticator registers");
        stored_passkey(&app, ada.id, "key-20", &first.user_handle).await;
        let too_many = json!({"non_field_errors": ["You cannot have more than 20 passkeys; delete one first."]});
        let finish = post_bearer(
            &app,
            REGISTER_FINISH,
            &access,
            &json!({"challenge_id": begin["challenge_id"], "name": "21st", "credential": credential, "password": PASSWORD}),
        )
        .await;
        finish.assert_status(400);
        assert_eq!(finish.json(), too_many, "{engine:?}");
        let begin = post_bearer(&app, REGISTER_BEGIN, &access, &json!({})).await;
        begin.assert_status(400);
        assert_eq!(begin.json(), too_many);
        let list = send_bearer(&app, Method::GET, PASSKEYS, &access, None)
            .await
            .json();
        assert_eq!(list.as_array().unwrap().len(), 20);
    }
}

#[tokio::test]
async fn anonymous_ceremonies_cannot_crowd_out_a_users() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::ceremony_caps", true).await else {
            continue;
        };
        app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        // Ten registrations under way are one user's most: the eleventh is busy.
        for _ in 0..10 {
            post_bearer(&app, REGISTER_BEGIN, &access, &json!({}))
                .await
                .assert_status(200);
        }
        let busy = post_bearer(&app, REGISTER_BEGIN, &access, &json!({})).await;
        busy.assert_status(503);
        assert_eq!(busy.header("retry-after"), Some("300"));
        // Another user's ceremonies, and anonymous sign-ins, are not touched by Ada's.
        app.create_user(BOB, PASSWORD).await;
        let bob = app.login(BOB, PASSWORD).await.access;
        post_bearer(&app, REGISTER_BEGIN, &bob, &json!({}))
            .await
            .assert_status(200);
        app.post_json(LOGIN_BEGIN, &json!({}))
            .await
            .assert_status(200);

        // The bound of anonymous ceremonies (small here) counts only those: once it is
        // reached, sign-ins wait, and a user's ceremony is still stored.
        let store = app.tessera.auth().store();
        let now = app.now();
        let ceremony = |hash: &'static str, user_id: Option<i64>| NewWebauthnCeremony {
            hash,
            user_id,
            kind: "login",
            state: "{}",
            created_at: now,
            expires_at: now + std::time::Duration::from_secs(300),
        };
        for hash in ["a1", "a2"] {
            assert!(
                store
                    .insert_webauthn_ceremony(&ceremony(hash, None), 10, 3)
                    .await
                    .unwrap()
            );
        }
        // (the sign-in begun above is the third)
        assert!(
            !store
                .insert_webauthn_ceremony(&ceremony("a4", None), 10, 3)
                .await
                .unwrap(),
            "{engine:?}"
        );
        let carol = app.create_user("carol@example.com", PASSWORD).await;
        assert!(
            store
                .insert_webauthn_ceremony(&ceremony("c1", Some(carol.id)), 10, 3)
                .await
                .unwrap(),
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_deletes_never_remove_the_last_passkey() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::concurrent_delete", false).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let store = app.tessera.auth().store();
        store.set_password_hash(ada.id, "!").await.unwrap();
        for round in 0..25 {
            let one = stored_passkey(&app, ada.id, &format!("one-{round}"), A_HANDLE).await;
            let two = stored_passkey(&app, ada.id, &format!("two-{round}"), A_HANDLE).await;
            let (first, second) = tokio::join!(
                store.remove_way_in(ada.id, WayIn::Passkey(one), true),
                store.remove_way_in(ada.id, WayIn::Passkey(two), true)
            );
            let mut outcomes = [first.unwrap(), second.unwrap()];
            outcomes.sort_by_key(|outcome| matches!(outcome, WayInRemoval::LastWayIn));
            assert!(
                matches!(
                    outcomes,
                    [WayInRemoval::Passkey(_), WayInRemoval::LastWayIn]
                ),
                "{engine:?}, round {round}: {outcomes:?}"
            );
            let left = store.passkeys_of(ada.id).await.unwrap();
            assert_eq!(left.len(), 1, "{engine:?}, round {round}");
            // A passkey that signs nothing in is never a last way in.
            assert!(matches!(
                store
                    .remove_way_in(ada.id, WayIn::Passkey(left[0].id), false)
                    .await
                    .unwrap(),
                WayInRemoval::Passkey(_)
            ));
        }
    }
}

#[tokio::test]
async fn a_passkey_deleted_while_the_last_identity_is_unlinked_leaves_one_way_in() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::delete_unlink_race", true).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let store = app.tessera.auth().store();
        store.set_password_hash(ada.id, "!").await.unwrap();
        for round in 0..25 {
            let passkey = stored_passkey(&app, ada.id, &format!("key-{round}"), A_HANDLE).await;
            let identity = store
                .link_social_identity(ada.id, "github", &format!("gh-{round}"), ADA, app.now())
                .await
                .unwrap()
                .expect("linked");
            // Passkeys sign in here: each of the two is a way in, and one must stay.
            let (deleted, unlinked) = tokio::join!(
                store.remove_way_in(ada.id, WayIn::Passkey(passkey), true),
                store.remove_way_in(ada.id, WayIn::SocialIdentity(identity.id), true)
            );
            let (deleted, unlinked) = (deleted.unwrap(), unlinked.unwrap());
            let passkeys = store.passkeys_of(ada.id).await.unwrap().len();
            let identities = store.social_identities_of(ada.id).await.unwrap().len();
            assert_eq!(
                passkeys + identities,
                1,
                "{engine:?}, round {round}: {deleted:?} {unlinked:?}"
            );
            match (&deleted, &unlinked) {
                (WayInRemoval::Passkey(_), WayInRemoval::LastWayIn) => assert_eq!(identities, 1),
                (WayInRemoval::LastWayIn, WayInRemoval::SocialIdentity(_)) => {
                    assert_eq!(passkeys, 1)
                }
                other => panic!("{engine:?}, round {round}: {other:?}"),
            }
            // Start the next round with neither, a password standing in meanwhile.
            store
                .set_password_hash(ada.id, "argon2$stand-in")
                .await
                .unwrap();
            for left in store.passkeys_of(ada.id).await.unwrap() {
                let removed = store.remove_way_in(ada.id, WayIn::Passkey(left.id), true);
                assert!(matches!(removed.await.unwrap(), WayInRemoval::Passkey(_)));
            }
            for left in store.social_identities_of(ada.id).await.unwrap() {
                let removed = store.remove_way_in(ada.id, WayIn::SocialIdentity(left.id), true);
                assert!(matches!(
                    removed.await.unwrap(),
                    WayInRemoval::SocialIdentity(_)
                ));
            }
            store.set_password_hash(ada.id, "!").await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_staff_reset_takes_the_last_way_in_only_when_forced() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::reset_last_way_in", true).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let store = app.tessera.auth().store();
        stored_passkey(&app, ada.id, "phone", A_HANDLE).await;
        store.set_password_hash(ada.id, "!").await.unwrap();
        app.create_user_with(
            tessera_store::NewUser {
                email: "root@example.com".into(),
                is_active: true,
                is_staff: true,
                is_superuser: true,
                ..tessera_store::NewUser::default()
            },
            PASSWORD,
        )
        .await;
        let root = app.login("root@example.com", PASSWORD).await.access;
        let path = format!("/api/admin/users/{}/reset-mfa/", ada.id);

        let refused = post_bearer(&app, &path, &root, &json!({})).await;
        refused.assert_status(400);
        assert_eq!(
            refused.json(),
            json!({"non_field_errors": [tessera_auth::mfa::RESET_LEAVES_NO_WAY_IN]})
        );
        let not_a_bool = post_bearer(&app, &path, &root, &json!({"force": "maybe"})).await;
        not_a_bool.assert_status(400);
        assert_eq!(
            not_a_bool.json(),
            json!({"force": ["Must be a valid boolean."]})
        );
        assert_eq!(store.passkey_count(ada.id).await.unwrap(), 1, "{engine:?}");

        post_bearer(&app, &path, &root, &json!({"force": true}))
            .await
            .assert_json(&json!({
                "message": "MFA reset",
                "totp": false,
                "passkeys": 1,
                "no_way_in": true,
            }));
        assert_eq!(store.passkey_count(ada.id).await.unwrap(), 0, "{engine:?}");
    }
}

#[tokio::test]
async fn a_use_verified_against_an_older_credential_stores_no_older_counter() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::counter", false).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let store = app.tessera.auth().store();
        let id = stored_passkey(&app, ada.id, "credential", A_HANDLE).await;
        let now = app.now();
        // Two uses both verified against `{}`: the first stores its counter...
        store
            .record_passkey_use(id, "{}", Some(r#"{"counter":6}"#), now)
            .await
            .unwrap();
        // ...the second, finishing later with a lower one, only records its use.
        let later = now + std::time::Duration::from_secs(1);
        store
            .record_passkey_use(id, "{}", Some(r#"{"counter":5}"#), later)
            .await
            .unwrap();
        let stored = &store.passkeys_of(ada.id).await.unwrap()[0];
        assert_eq!(stored.passkey, r#"{"counter":6}"#, "{engine:?}");
        assert_eq!(stored.last_used_at, Some(later));
    }
}

#[tokio::test]
async fn a_wrong_origin_or_an_inactive_user_signs_no_one_in() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::assertion_refusals", true).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let passkey = register(&app, &access, &mut authenticator, "Phone").await;
        let no_account = json!({"detail": "No active account found with the given credentials"});
        let elsewhere = Url::parse("http://localhost:9999").unwrap();

        // Signed for another origin: neither a sign-in nor a second factor.
        let begin = app.post_json(LOGIN_BEGIN, &json!({})).await.json();
        let assertion = authenticator
            .do_authentication(
                elsewhere.clone(),
                request_options(&begin, Some(&passkey.credential_id)),
            )
            .expect("the authenticator signs");
        let mut assertion = serde_json::to_value(&assertion).unwrap();
        assertion["response"]["userHandle"] = json!(passkey.user_handle);
        let refused = app
            .post_json(
                LOGIN_FINISH,
                &json!({"challenge_id": begin["challenge_id"], "credential": assertion}),
            )
            .await;
        refused.assert_status(401);
        assert_eq!(refused.json(), no_account);
        let token = app.obtain(ADA, PASSWORD).await.json()["mfa_token"].clone();
        let begin = app
            .post_json(MFA_BEGIN, &json!({"mfa_token": token}))
            .await
            .json();
        let assertion = authenticator
            .do_authentication(elsewhere, request_options(&begin, None))
            .expect("the authenticator signs");
        let second = app
            .post_json(
                MFA_VERIFY,
                &json!({"mfa_token": token, "passkey": {"challenge_id": begin["challenge_id"], "credential": assertion}}),
            )
            .await;
        second.assert_status(400);
        assert_eq!(second.json(), json!({"passkey": ["Invalid code."]}));

        // An inactive user's passkey, however good, signs no one in.
        let inactive = tessera_store::UserFlags {
            is_active: Some(false),
            ..Default::default()
        };
        app.tessera
            .auth()
            .store()
            .set_user_flags(ada.id, &inactive)
            .await
            .unwrap();
        let begin = app.post_json(LOGIN_BEGIN, &json!({})).await.json();
        let assertion = discoverable_assertion(&mut authenticator, &begin, &passkey);
        let refused = app
            .post_json(
                LOGIN_FINISH,
                &json!({"challenge_id": begin["challenge_id"], "credential": assertion}),
            )
            .await;
        refused.assert_status(401);
        assert_eq!(refused.json(), no_account);
        let reasons: Vec<Value> = events(&app, "passkey.login_failed")
            .await
            .iter()
            .map(|e| serde_json::from_str::<Value>(e.detail.as_deref().unwrap_or("{}")).unwrap())
            .map(|detail| detail["reason"].clone())
            .collect();
        assert!(reasons.contains(&json!("inactive")), "{reasons:?}");
        // The sign-in's refusal only: the second factor's is the second step's failure,
        // with its reason, audited once.
        assert_eq!(
            reasons
                .iter()
                .filter(|r| **r == json!("verification"))
                .count(),
            1,
            "{engine:?}: {reasons:?}"
        );
        let failed: Vec<Value> = events(&app, "mfa.failed")
            .await
            .iter()
            .map(|e| serde_json::from_str::<Value>(e.detail.as_deref().unwrap_or("{}")).unwrap())
            .collect();
        assert_eq!(failed.len(), 1, "{engine:?}: {failed:?}");
        assert_eq!(failed[0]["reason"], "verification", "{failed:?}");
        assert_eq!(failed[0]["route"], "token", "{failed:?}");
        assert!(events(&app, "passkey.used").await.is_empty());
    }
}

#[tokio::test]
async fn a_linked_social_identity_is_another_way_in() {
    for engine in ENGINES {
        let Some(app) = app_on(engine, "passkeys::social_way_in", false).await else {
            continue;
        };
        let ada = app.create_user(ADA, PASSWORD).await;
        let access = app.login(ADA, PASSWORD).await.access;
        let mut authenticator = soft_authenticator();
        let passkey = register(&app, &access, &mut authenticator, "Phone").await;
        let store = app.tessera.auth().store();
        store
            .set_password_hash(ada.id, "!unusable")
            .await
            .expect("unusable password");
        store
            .link_social_identity(ada.id, "github", "ada-1815", ADA, app.now())
            .await
            .unwrap()
            .expect("linked");
        send_bearer(
            &app,
            Method::DELETE,
            &format!("{PASSKEYS}{}/", passkey.id),
            &access,
            None,
        )
        .await
        .assert_status(204);
        assert!(
            store.passkeys_of(ada.id).await.unwrap().is_empty(),
            "{engine:?}"
        );
    }
}

#[tokio::test]
async fn the_second_factors_options_are_throttled_as_the_second_step() {
    let app = TestApp::builder()
        .throttling(|throttling| {
            throttling
                .throttle_rates
                .insert("login".into(), String::new());
            throttling
                .throttle_rates
                .insert("mfa".into(), "1/min".into());
        })
        .nest("/api", api_routes())
        .build()
        .await;
    let body = json!({"mfa_token": "no-such-token"});
    app.post_json(MFA_BEGIN, &body).await.assert(
        401,
        r#"{"detail":"Invalid or expired MFA token.","code":"mfa_token_not_valid"}"#,
    );
    // The `mfa` scope, as `mfa/verify/`: the login's budget is not this one's.
    app.post_json(MFA_BEGIN, &body).await.assert_status(429);
    app.post_json(
        MFA_VERIFY,
        &json!({"mfa_token": "no-such-token", "code": "123456"}),
    )
    .await
    .assert_status(429);
}
