//! `username_field = "username"` (Django's default user): registration on every route takes
//! a username under Django's rules and messages, the e-mail address becomes optional (still
//! checked and unique when given), every obtain and login route reads `username`, and the
//! user object, the profile and the admin API show it — on both engines.

use axum::http::Method;
use serde_json::{Value, json};
use tessera_axum::routes::api_routes;
use tessera_axum::testing::{TestAppBuilder, TestDatabase};
use tessera_core::UsernameField;
use tessera_store::{Engine, NewUser};

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, CookieApi, NO_ACTIVE_ACCOUNT, PASSWORD, Reply, TestApp, claims,
    field_error,
};

const REQUIRED: &str = "This field is required.";
const BLANK: &str = "This field may not be blank.";
const INVALID: &str = "Enter a valid username. This value may contain only letters, numbers, \
                       and @/./+/-/_ characters.";
const TOO_LONG: &str = "Ensure this field has no more than 150 characters.";
const TAKEN: &str = "A user with that username already exists.";
const INVALID_EMAIL: &str = "Enter a valid email address.";
const EMAIL_TAKEN: &str = "user with this email already exists.";
const COOKIE_REQUIRED: &str = r#"{"error":"Username and password are required"}"#;
/// `date_joined` of every user made at the tests' `NOW`.
const JOINED: &str = "2025-06-15T15:06:40Z";

/// Every router of the library, users logging in by username.
fn username_app() -> TestAppBuilder {
    TestApp::builder()
        .settings(|s| s.username_field = UsernameField::Username)
        .nest("/api", api_routes())
}

/// Runs `body` on an application on each engine (PostgreSQL skipped when it does not answer).
async fn on_both_engines<F, Fut>(test: &str, body: F)
where
    F: Fn(TestApp, Engine) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in [Engine::Sqlite, Engine::Postgres] {
        if let Some(database) = TestDatabase::new(engine, test).await {
            body(username_app().database(database).build().await, engine).await;
        }
    }
}

/// A registration of `username` with no e-mail address, and `changes` applied (a `null`
/// removes the field).
fn registration(username: &str, changes: Value) -> Value {
    let mut body = json!({
        "username": username,
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
    });
    let object = body.as_object_mut().expect("object");
    for (key, value) in changes.as_object().expect("changes are an object") {
        if value.is_null() {
            object.remove(key);
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    body
}

/// `{"username": …, "password": …}`.
fn credentials(username: &str, password: &str) -> Value {
    json!({"username": username, "password": password})
}

#[tokio::test]
async fn users_register_without_an_address_and_log_in_by_username_on_every_route() {
    on_both_engines("username_mode::register_and_log_in", |app, engine| async move {
        let reply = app.register(&registration("ada", json!({}))).await;
        let body = reply.json();
        assert_eq!(reply.status(), 201, "{engine:?}: {}", reply.text());
        assert_eq!(
            body["user"].to_string(),
            format!(
                r#"{{"id":1,"username":"ada","email":"","first_name":"","last_name":"","full_name":"ada","is_active":true,"email_verified":false,"date_joined":"{JOINED}"}}"#
            ),
            "{engine:?}"
        );
        // Two, three accounts without an address: blank is none, as absent is.
        app.register(&registration("grace", json!({})))
            .await
            .assert_status(201);
        app.register(&registration("alan", json!({"email": ""})))
            .await
            .assert_status(201);
        let stored = app.tessera.auth().all_users().await.expect("users");
        let stored: Vec<_> = stored
            .iter()
            .map(|u| (u.username.as_deref(), u.email.as_str()))
            .collect();
        assert_eq!(
            stored,
            [(Some("ada"), ""), (Some("grace"), ""), (Some("alan"), "")],
            "{engine:?}"
        );

        // The four login routes read `username`.
        let body = credentials("ada", ACCOUNT_PASSWORD);
        let pair = app.post_json("/api/token/", &body).await.ok();
        assert_eq!(claims(pair["access"].as_str().expect("access"))["user_id"], "1");
        let sliding = app.post_json("/api/token/sliding/", &body).await.ok();
        assert!(sliding["token"].is_string(), "{engine:?}");
        let login = app.post_json("/api/auth/login/", &body).await.ok();
        assert_eq!(
            login["user"].to_string(),
            r#"{"id":1,"username":"ada","email":"","first_name":"","last_name":"","full_name":"ada"}"#
        );
        let cookie = app.cookie_post("login", &[], &body).await.ok();
        assert_eq!(cookie["user"]["username"], "ada", "{engine:?}");

        // The profile shows the username.
        let access = login["access"].as_str().expect("access");
        assert_eq!(app.profile(access).await.ok()["username"], "ada");
    })
    .await;
}

#[tokio::test]
async fn logging_in_takes_the_username_not_the_address() {
    on_both_engines("username_mode::login_field", |app, _| async move {
        app.register(&registration("ada", json!({"email": "ada@example.com"})))
            .await
            .assert_status(201);
        let by_email = json!({"email": "ada@example.com", "password": ACCOUNT_PASSWORD});
        for path in ["/api/token/", "/api/token/sliding/", "/api/auth/login/"] {
            app.post_json(path, &by_email)
                .await
                .assert(400, &field_error("username", REQUIRED));
            app.post_json(path, &credentials("ada", "wrong password"))
                .await
                .assert(401, NO_ACTIVE_ACCOUNT);
            // The address is no login name.
            app.post_json(path, &credentials("ada@example.com", ACCOUNT_PASSWORD))
                .await
                .assert(401, NO_ACTIVE_ACCOUNT);
        }
        app.cookie_post("login", &[], &by_email)
            .await
            .assert(400, COOKIE_REQUIRED);
        app.cookie_post("login", &[], &json!({"username": "ada"}))
            .await
            .assert(400, COOKIE_REQUIRED);
        app.cookie_post("login", &[], &credentials("ada", "wrong password"))
            .await
            .assert(401, r#"{"error":"Invalid credentials"}"#);
    })
    .await;
}

#[tokio::test]
async fn the_username_gets_djangos_messages_in_field_order() {
    on_both_engines("username_mode::messages", |app, engine| async move {
        let cases = [
            (json!({"username": null}), vec![REQUIRED]),
            (json!({"username": "   "}), vec![BLANK]),
            (json!({"username": "ada lovelace"}), vec![INVALID]),
            (json!({"username": "ada!"}), vec![INVALID]),
            (json!({"username": "a".repeat(151)}), vec![TOO_LONG]),
            (
                json!({"username": "a b".repeat(51)}),
                vec![INVALID, TOO_LONG],
            ),
        ];
        for (changes, messages) in cases {
            let reply = app.register(&registration("ada", changes.clone())).await;
            reply.assert(400, &json!({"username": messages}).to_string());
            assert_eq!(
                app.tessera.auth().all_users().await.unwrap().len(),
                0,
                "{engine:?}"
            );
        }
        // 150 characters are fine.
        let longest = "a".repeat(150);
        app.register(&registration(&longest, json!({})))
            .await
            .assert_status(201);

        // Errors follow the fields' order: username, email, names, password, confirmation.
        let reply = app
            .register(&json!({
                "password_confirm": "x",
                "password": "",
                "email": "nope",
                "username": "",
            }))
            .await;
        reply.assert_status(400);
        assert_eq!(
            reply.keys(),
            ["username", "email", "password"],
            "{engine:?}"
        );
        assert_eq!(reply.json()["email"], json!([INVALID_EMAIL]));
    })
    .await;
}

#[tokio::test]
async fn usernames_are_unique_after_nfkc_normalisation() {
    on_both_engines("username_mode::unique_nfkc", |app, engine| async move {
        // Full-width letters are stored as their NFKC form.
        let reply = app.register(&registration("ｊｏｅ", json!({}))).await;
        reply.assert_status(201);
        assert_eq!(reply.json()["user"]["username"], "joe", "{engine:?}");
        for name in ["joe", "ｊｏｅ", " joe "] {
            app.register(&registration(name, json!({})))
                .await
                .assert(400, &field_error("username", TAKEN));
        }
        // Case matters, as in Django.
        app.register(&registration("Joe", json!({})))
            .await
            .assert_status(201);
        app.post_json("/api/token/", &credentials("joe", ACCOUNT_PASSWORD))
            .await
            .ok();
    })
    .await;
}

#[tokio::test]
async fn an_address_given_is_still_checked_and_unique() {
    on_both_engines("username_mode::optional_email", |app, _| async move {
        app.register(&registration("ada", json!({"email": "not an address"})))
            .await
            .assert(400, &field_error("email", INVALID_EMAIL));
        app.register(&registration("ada", json!({"email": "ada@example.com"})))
            .await
            .assert_status(201);
        app.register(&registration("grace", json!({"email": "ada@EXAMPLE.com"})))
            .await
            .assert(400, &field_error("email", EMAIL_TAKEN));
        app.register(&registration("grace", json!({"email": null})))
            .await
            .assert_status(201);
    })
    .await;
}

#[tokio::test]
async fn registration_email_required_makes_the_address_required() {
    let app = username_app()
        .accounts(|accounts| accounts.registration_email_required = true)
        .build()
        .await;

    app.register(&registration("ada", json!({})))
        .await
        .assert(400, &field_error("email", REQUIRED));
    app.register(&registration("ada", json!({"email": ""})))
        .await
        .assert(400, &field_error("email", BLANK));
    app.register(&registration("ada", json!({"email": "ada@example.com"})))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn the_cookie_routes_register_and_log_in_by_username() {
    on_both_engines("username_mode::cookie", |app, engine| async move {
        let reply = app
            .cookie_post("register", &[], &registration("ada", json!({})))
            .await;
        assert_eq!(reply.status(), 201, "{engine:?}: {}", reply.text());
        assert_eq!(reply.json()["user"]["username"], "ada");
        app.cookie_post("register", &[], &registration("ada", json!({})))
            .await
            .assert(400, &field_error("username", TAKEN));
        app.cookie_post("register", &[], &registration("", json!({})))
            .await
            .assert(400, &field_error("username", BLANK));

        let access = app.cookie_session_by_username("ada").await;
        let name = app.tessera.browser().auth_cookie_access_name.clone();
        let profile = app
            .with_cookies(Method::GET, "/api/auth/profile/", &[(&name, &access)])
            .send()
            .await;
        assert_eq!(profile.ok()["username"], "ada", "{engine:?}");
    })
    .await;
}

#[tokio::test]
async fn users_may_change_their_username_under_the_same_rules() {
    on_both_engines("username_mode::profile", |app, engine| async move {
        app.register(&registration("grace", json!({})))
            .await
            .assert_status(201);
        let ada = app.register(&registration("ada", json!({}))).await.json();
        let access = ada["tokens"]["access"].as_str().expect("access").to_owned();
        let patch = |body: Value| {
            let (app, access) = (&app, access.clone());
            async move {
                app.bearer(Method::PATCH, "/api/auth/profile/", &access, Some(&body))
                    .await
            }
        };

        patch(json!({"username": "grace"}))
            .await
            .assert(400, &field_error("username", TAKEN));
        patch(json!({"username": "ada lovelace"}))
            .await
            .assert(400, &field_error("username", INVALID));
        patch(json!({"username": ""}))
            .await
            .assert(400, &field_error("username", BLANK));
        // Keeping one's own name is no clash.
        patch(json!({"username": "ada"})).await.assert_status(200);

        // The address is read-only here (it changes through `email/change/`): ignored.
        let changed = patch(json!({"username": "ｌｏｖｅｌａｃｅ", "email": "ada@example.com"}))
            .await
            .ok();
        assert_eq!(
            (&changed["username"], &changed["email"]),
            (&json!("lovelace"), &json!("")),
            "{engine:?}"
        );
        app.post_json("/api/token/", &credentials("lovelace", ACCOUNT_PASSWORD))
            .await
            .ok();
        app.post_json("/api/token/", &credentials("ada", ACCOUNT_PASSWORD))
            .await
            .assert(401, NO_ACTIVE_ACCOUNT);
    })
    .await;
}

#[tokio::test]
async fn staff_see_and_search_usernames() {
    on_both_engines("username_mode::admin", |app, engine| async move {
        app.create_user_with(
            NewUser {
                username: Some("root".into()),
                is_active: true,
                is_staff: true,
                ..NewUser::default()
            },
            PASSWORD,
        )
        .await;
        for name in ["grace", "ada", "Gracie"] {
            app.register(&registration(name, json!({})))
                .await
                .assert_status(201);
        }
        let staff = app
            .post_json("/api/token/", &credentials("root", PASSWORD))
            .await
            .ok();
        let staff = staff["access"].as_str().expect("access");

        let found = app
            .bearer(Method::GET, "/api/admin/users/?search=GRAC", staff, None)
            .await
            .ok();
        let names: Vec<_> = found["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|u| u["username"].clone())
            .collect();
        assert_eq!(names, [json!("grace"), json!("Gracie")], "{engine:?}");
        let first = &found["results"][0];
        let keys: Vec<_> = first.as_object().expect("object").keys().collect();
        assert_eq!(keys[..3], ["id", "username", "email"], "{engine:?}");
    })
    .await;
}

/// Cookie-mode login by username, for [`TestApp`].
trait UsernameCookies: CookieApi {
    /// Logs `username` in through the cookie route (with [`ACCOUNT_PASSWORD`]); the access
    /// cookie's value.
    async fn cookie_session_by_username(&self, username: &str) -> String {
        let reply: Reply = self
            .cookie_post("login", &[], &credentials(username, ACCOUNT_PASSWORD))
            .await;
        reply.ok();
        reply
            .cookie(&self.app().tessera.browser().auth_cookie_access_name)
            .value
    }
}

impl UsernameCookies for TestApp {}

#[tokio::test]
async fn a_password_like_the_username_is_refused() {
    let app = username_app().build().await;

    let body = registration(
        "lovelace1843",
        json!({"password": "Lovelace1843!", "password_confirm": "Lovelace1843!"}),
    );
    app.register(&body).await.assert(
        400,
        &field_error("password", "The password is too similar to the username."),
    );
}
