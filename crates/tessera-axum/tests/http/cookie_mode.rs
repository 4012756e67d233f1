//! docs/API.md §6: the cookie routes (the cookie views, done
//! completely) under `/api/auth/cookie/`, the attributes of the cookies they set, and the
//! access cookie authenticating protected routes like the Bearer header.
//!
//! The client keeps no cookies: every request names exactly the cookies it sends, and every
//! `Set-Cookie` is parsed and checked.

use std::sync::Arc;

use axum::http::Method;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{
    ACCOUNT_PASSWORD, Api, CookieApi, NOT_PROVIDED, PASSWORD, PASSWORD_CHANGED, Records, Reply,
    SetCookie, TestApp, USER_INACTIVE, access_refused, browser_app, claims, str_claim,
};

const REQUIRED: &str = r#"{"error":"Email and password are required"}"#;
const INVALID_CREDENTIALS: &str = r#"{"error":"Invalid credentials"}"#;
const REFRESHED: &str = r#"{"message":"Token refreshed successfully"}"#;
const REFRESH_NOT_FOUND: &str = r#"{"error":"Refresh token not found"}"#;
const INVALID_REFRESH: &str = r#"{"error":"Invalid or expired refresh token"}"#;
const LOGGED_OUT: &str = r#"{"message":"Successfully logged out"}"#;
const DUPLICATE: &str = r#"{"email":["user with this email already exists."]}"#;
/// `date_joined` of every user made at the tests' `NOW`.
const JOINED: &str = "2025-06-15T15:06:40Z";
/// simplejwt's default lifetimes, which the test settings keep.
const ACCESS_LIFETIME: i64 = 300;
const REFRESH_LIFETIME: i64 = 86_400;
/// `refresh_reuse_grace` of the test settings.
const GRACE: i64 = 10;

/// Ada's registration body.
fn ada() -> Value {
    json!({
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
    })
}

/// The full user object of a user made at `NOW`.
fn user_json(id: i64, email: &str, first: &str, last: &str) -> String {
    format!(
        r#"{{"id":{id},"email":"{email}","first_name":"{first}","last_name":"{last}","full_name":"{first} {last}","is_active":true,"email_verified":false,"date_joined":"{JOINED}"}}"#
    )
}

/// A token cookie as docs/API.md §6 sets it by default.
#[track_caller]
fn assert_token_cookie(cookie: &SetCookie, path: &str, max_age: i64) {
    assert_eq!(cookie.get("Path"), Some(path), "{}", cookie.raw);
    assert_eq!(cookie.attribute("HttpOnly"), Some(None), "{}", cookie.raw);
    assert_eq!(cookie.get("SameSite"), Some("Lax"), "{}", cookie.raw);
    assert_eq!(cookie.attribute("Secure"), Some(None), "{}", cookie.raw);
    assert_eq!(cookie.max_age(), Some(max_age), "{}", cookie.raw);
    assert_eq!(cookie.attribute("Domain"), None, "{}", cookie.raw);
    assert!(!cookie.value.is_empty(), "{}", cookie.raw);
}

/// The CSRF cookie: readable by the page's script, sent everywhere.
#[track_caller]
fn assert_csrf_cookie(cookie: &SetCookie) {
    assert_eq!(cookie.attribute("HttpOnly"), None, "{}", cookie.raw);
    assert_eq!(cookie.get("Path"), Some("/"), "{}", cookie.raw);
    assert_eq!(cookie.attribute("Secure"), Some(None), "{}", cookie.raw);
    assert!(
        cookie.value.len() >= 32,
        "a short CSRF token: {}",
        cookie.raw
    );
}

/// The reply deletes both token cookies (and sets nothing else).
#[track_caller]
fn assert_cleared(reply: &Reply) {
    assert_eq!(
        reply.cookie_names(),
        ["access_token", "refresh_token"],
        "{:?}",
        reply.headers()
    );
    for (name, path) in [("access_token", "/"), ("refresh_token", "/api/auth/")] {
        let cookie = reply.cookie(name);
        assert!(
            cookie.is_cleared(),
            "{} is not cleared: {}",
            name,
            cookie.raw
        );
        assert_eq!(cookie.get("Path"), Some(path), "{}", cookie.raw);
    }
}

/// The names of the cookies a reply sets, sorted.
fn sorted_names(reply: &Reply) -> Vec<String> {
    let mut names = reply.cookie_names();
    names.sort();
    names
}

async fn refresh_with(app: &TestApp, refresh: &str) -> Reply {
    app.cookie_post("refresh", &[("refresh_token", refresh)], &json!({}))
        .await
}

async fn profile_with_cookie(app: &TestApp, access: &str) -> Reply {
    app.send(app.with_cookies(
        Method::GET,
        "/api/auth/profile/",
        &[("access_token", access)],
    ))
    .await
}

// ---- register ----

#[tokio::test]
async fn register_answers_201_with_the_user_and_puts_the_tokens_only_in_httponly_cookies() {
    let app = browser_app().build().await;

    let reply = app.cookie_post("register", &[], &ada()).await;

    reply.assert(
        201,
        &format!(
            r#"{{"message":"User registered successfully","user":{}}}"#,
            user_json(1, "ada@example.com", "Ada", "Lovelace")
        ),
    );
    assert_eq!(
        sorted_names(&reply),
        ["access_token", "csrftoken", "refresh_token"]
    );
    let (access, refresh) = (reply.cookie("access_token"), reply.cookie("refresh_token"));
    assert_token_cookie(&access, "/", ACCESS_LIFETIME);
    assert_token_cookie(&refresh, "/api/auth/", REFRESH_LIFETIME);
    assert_csrf_cookie(&reply.cookie("csrftoken"));
    assert_eq!(str_claim(&access.value, "token_type"), "access");
    assert_eq!(str_claim(&refresh.value, "token_type"), "refresh");
    assert_eq!(str_claim(&access.value, "user_id"), "1");
    assert_eq!(claims(&access.value)["sid"], claims(&refresh.value)["sid"]);
    assert_eq!(app.user_count().await, 1);

    // The cookies work: the access cookie authenticates, the refresh cookie refreshes.
    profile_with_cookie(&app, &access.value)
        .await
        .assert(200, &user_json(1, "ada@example.com", "Ada", "Lovelace"));
    refresh_with(&app, &refresh.value)
        .await
        .assert(200, REFRESHED);
}

#[tokio::test]
async fn register_errors_are_the_json_routes_and_set_no_cookies() {
    // Eleven registrations from one address: past the default `register` rate.
    let app = browser_app()
        .throttling(|t| {
            t.throttle_rates.remove("register");
        })
        .build()
        .await;
    app.register_ada().await;

    let mut mismatch = ada();
    mismatch["email"] = json!("grace@example.com");
    mismatch["password_confirm"] = json!("another long phrase 1906");
    let mut weak = ada();
    weak["email"] = json!("grace@example.com");
    weak["password"] = json!("12345678");
    weak["password_confirm"] = json!("12345678");
    let mut invalid = ada();
    invalid["email"] = json!("not-an-address");
    let cases = [ada(), mismatch, weak, invalid, json!({})];

    for body in &cases {
        let json_reply = app.register(body).await;
        let cookie_reply = app.cookie_post("register", &[], body).await;
        assert_eq!(json_reply.status(), 400, "{body}: {}", json_reply.text());
        cookie_reply.assert(400, json_reply.text());
        assert_eq!(cookie_reply.cookie_names(), Vec::<String>::new(), "{body}");
    }
    app.cookie_post("register", &[], &ada())
        .await
        .assert(400, DUPLICATE);
    assert_eq!(
        app.user_count().await,
        1,
        "a rejected registration created a user"
    );
}

// ---- login ----

#[tokio::test]
async fn login_answers_200_with_the_user_and_sets_both_token_cookies_and_a_csrf_cookie() {
    let app = browser_app().build().await;
    let ada = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;

    let reply = app.cookie_login("ada@example.com", PASSWORD).await;

    reply.assert(
        200,
        &format!(
            r#"{{"message":"Login successful","user":{}}}"#,
            user_json(ada.id, "ada@example.com", "Ada", "Lovelace")
        ),
    );
    assert_eq!(
        sorted_names(&reply),
        ["access_token", "csrftoken", "refresh_token"]
    );
    let (access, refresh) = (reply.cookie("access_token"), reply.cookie("refresh_token"));
    assert_token_cookie(&access, "/", ACCESS_LIFETIME);
    assert_token_cookie(&refresh, "/api/auth/", REFRESH_LIFETIME);
    assert_csrf_cookie(&reply.cookie("csrftoken"));
    assert_eq!(str_claim(&access.value, "user_id"), ada.id.to_string());
    // The same account claims as the JSON login.
    assert_eq!(str_claim(&access.value, "email"), "ada@example.com");
    assert_eq!(str_claim(&access.value, "full_name"), "Ada Lovelace");

    // Each login has its own session and its own CSRF token.
    let again = app.cookie_login("ada@example.com", PASSWORD).await;
    again.ok();
    assert_ne!(
        again.cookie("csrftoken").value,
        reply.cookie("csrftoken").value
    );
    assert_ne!(
        claims(&again.cookie("refresh_token").value)["sid"],
        claims(&refresh.value)["sid"]
    );
}

#[tokio::test]
async fn login_accepts_form_bodies_and_trims_the_email() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;

    let reply = app
        .send(
            app.request(Method::POST, "/api/auth/cookie/login/")
                .form(&[("email", "  ada@example.com "), ("password", PASSWORD)]),
        )
        .await;

    reply.ok();
    assert_eq!(
        sorted_names(&reply),
        ["access_token", "csrftoken", "refresh_token"]
    );
}

#[tokio::test]
async fn login_without_email_or_password_answers_400() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;

    for body in [
        json!({}),
        json!({"email": "ada@example.com"}),
        json!({"password": PASSWORD}),
        json!({"email": "", "password": PASSWORD}),
        json!({"email": "ada@example.com", "password": ""}),
        json!({"email": null, "password": PASSWORD}),
    ] {
        let reply = app.cookie_post("login", &[], &body).await;
        reply.assert(400, REQUIRED);
        assert_eq!(reply.cookie_names(), Vec::<String>::new(), "{body}");
    }
}

#[tokio::test]
async fn wrong_password_unknown_email_and_inactive_user_get_the_same_401() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let bob = app.create_user("bob@example.com", PASSWORD).await;
    app.deactivate(&bob).await;

    for (email, password) in [
        ("ada@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("bob@example.com", PASSWORD),
    ] {
        let reply = app.cookie_login(email, password).await;
        reply.assert(401, INVALID_CREDENTIALS);
        assert_eq!(reply.cookie_names(), Vec::<String>::new(), "{email}");
    }
    // No session was opened for the inactive user.
    let sessions = app
        .tessera
        .auth()
        .store()
        .live_sessions(bob.id, app.now())
        .await
        .expect("list sessions");
    assert!(sessions.is_empty(), "{sessions:?}");
}

// ---- refresh ----

#[tokio::test]
async fn refresh_rotates_both_cookies_and_the_old_refresh_cookie_fails_after_the_grace_window() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    app.advance(5);

    let reply = refresh_with(&app, &browser.refresh).await;

    reply.assert(200, REFRESHED);
    let (access, refresh) = (reply.cookie("access_token"), reply.cookie("refresh_token"));
    assert_token_cookie(&access, "/", ACCESS_LIFETIME);
    assert_token_cookie(&refresh, "/api/auth/", REFRESH_LIFETIME);
    assert_ne!(access.value, browser.access);
    assert_ne!(
        refresh.value, browser.refresh,
        "the refresh token was not rotated"
    );
    assert_eq!(str_claim(&access.value, "token_type"), "access");
    assert_eq!(
        claims(&refresh.value)["sid"],
        claims(&browser.refresh)["sid"]
    );
    assert_eq!(app.session_of(&refresh.value).await.rotation_counter, 1);
    profile_with_cookie(&app, &access.value).await.ok();

    // Past the grace window the rotated-away cookie is refused, cleared, and its reuse
    // revokes the whole family.
    app.advance(GRACE + 1);
    let replay = refresh_with(&app, &browser.refresh).await;
    replay.assert(401, INVALID_REFRESH);
    assert_cleared(&replay);
    refresh_with(&app, &refresh.value)
        .await
        .assert(401, INVALID_REFRESH);
    profile_with_cookie(&app, &access.value)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
}

#[tokio::test]
async fn refresh_inside_the_grace_window_hands_out_the_same_successor() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;

    let first = refresh_with(&app, &browser.refresh).await;
    app.advance(GRACE - 1);
    let second = refresh_with(&app, &browser.refresh).await;

    first.assert(200, REFRESHED);
    second.assert(200, REFRESHED);
    assert_eq!(
        first.cookie("refresh_token").value,
        second.cookie("refresh_token").value
    );
    assert!(!app.session_of(&browser.refresh).await.is_revoked());
}

#[tokio::test]
async fn without_rotation_refresh_sets_only_a_new_access_cookie() {
    let app = browser_app()
        .settings(|s| s.rotate_refresh_tokens = false)
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;

    let reply = refresh_with(&app, &browser.refresh).await;

    reply.assert(200, REFRESHED);
    assert_eq!(reply.cookie_names(), ["access_token"]);
    assert_token_cookie(&reply.cookie("access_token"), "/", ACCESS_LIFETIME);
    refresh_with(&app, &browser.refresh)
        .await
        .assert(200, REFRESHED);
}

#[tokio::test]
async fn refresh_without_the_refresh_cookie_answers_401_refresh_token_not_found() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;

    let none = app.cookie_post("refresh", &[], &json!({})).await;
    none.assert(401, REFRESH_NOT_FOUND);
    // The access cookie is not a refresh cookie, and a token in the body is not read.
    let access_only = app
        .cookie_post(
            "refresh",
            &[("access_token", &browser.access)],
            &json!({"refresh": browser.refresh}),
        )
        .await;
    access_only.assert(401, REFRESH_NOT_FOUND);
    let empty = app
        .cookie_post("refresh", &[("refresh_token", "")], &json!({}))
        .await;
    empty.assert(401, REFRESH_NOT_FOUND);
    assert_eq!(app.session_of(&browser.refresh).await.rotation_counter, 0);
}

#[tokio::test]
async fn a_malformed_or_wrong_type_refresh_cookie_answers_401_and_clears_both_cookies() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;

    for bad in ["not-a-token", "a.b.c", browser.access.as_str()] {
        let reply = refresh_with(&app, bad).await;
        reply.assert(401, INVALID_REFRESH);
        assert_cleared(&reply);
    }
    // Nothing happened to the session.
    refresh_with(&app, &browser.refresh)
        .await
        .assert(200, REFRESHED);
}

#[tokio::test]
async fn an_expired_refresh_cookie_answers_401_and_clears_both_cookies() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    app.advance(REFRESH_LIFETIME);

    let reply = refresh_with(&app, &browser.refresh).await;

    reply.assert(401, INVALID_REFRESH);
    assert_cleared(&reply);
}

#[tokio::test]
async fn a_blacklisted_refresh_cookie_answers_401_and_clears_both_cookies() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    app.blacklist(&browser.refresh).await.assert(200, "{}");

    let reply = refresh_with(&app, &browser.refresh).await;

    reply.assert(401, INVALID_REFRESH);
    assert_cleared(&reply);
}

#[tokio::test]
async fn a_deactivated_or_deleted_users_refresh_cookie_answers_401_and_clears_both_cookies() {
    let app = browser_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    let bob = app.create_user("bob@example.com", PASSWORD).await;
    let ada_browser = app.cookie_session("ada@example.com", PASSWORD).await;
    let bob_browser = app.cookie_session("bob@example.com", PASSWORD).await;
    app.deactivate(&ada).await;
    app.delete(&bob).await;

    for refresh in [&ada_browser.refresh, &bob_browser.refresh] {
        let reply = refresh_with(&app, refresh).await;
        reply.assert(401, INVALID_REFRESH);
        assert_cleared(&reply);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cookie_refreshes_with_one_refresh_cookie_all_set_the_one_successor() {
    const RACERS: usize = 12;
    let app = Arc::new(browser_app().build().await);
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;

    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks = (0..RACERS).map(|_| {
        let (app, start, refresh) = (
            Arc::clone(&app),
            Arc::clone(&start),
            browser.refresh.clone(),
        );
        tokio::spawn(async move {
            let request = app
                .with_cookies(
                    Method::POST,
                    "/api/auth/cookie/refresh/",
                    &[("refresh_token", &refresh)],
                )
                .json(&json!({}));
            start.wait().await;
            app.send(request).await
        })
    });
    let replies: Vec<Reply> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("racer task"))
        .collect();

    let mut successors = Vec::new();
    for reply in &replies {
        reply.assert(200, REFRESHED);
        successors.push(reply.cookie("refresh_token").value);
        profile_with_cookie(&app, &reply.cookie("access_token").value)
            .await
            .ok();
    }
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "several successors were issued"
    );
    assert_ne!(successors[0], browser.refresh);
    let session = app.session_of(&browser.refresh).await;
    assert_eq!(session.rotation_counter, 1);
    assert!(!session.is_revoked());
    refresh_with(&app, &successors[0])
        .await
        .assert(200, REFRESHED);
}

// ---- logout ----

#[tokio::test]
async fn logout_with_only_the_refresh_cookie_ends_the_session_and_clears_both_cookies() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;

    let reply = app
        .cookie_post("logout", &[("refresh_token", &browser.refresh)], &json!({}))
        .await;

    reply.assert(200, LOGGED_OUT);
    assert_cleared(&reply);
    let session = app.session_of(&browser.refresh).await;
    assert_eq!(
        session.revoked_reason,
        Some(tessera_store::RevokeReason::Logout)
    );
    // The session is over: neither its refresh token nor its access token works.
    refresh_with(&app, &browser.refresh)
        .await
        .assert(401, INVALID_REFRESH);
    profile_with_cookie(&app, &browser.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
    app.profile(&browser.access)
        .await
        .assert(401, &access_refused("Token is blacklisted"));
}

#[tokio::test]
async fn logout_after_the_access_cookie_expired_still_ends_the_session() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    app.advance(ACCESS_LIFETIME + 1);

    let reply = app
        .cookie_post(
            "logout",
            &[
                ("access_token", &browser.access),
                ("refresh_token", &browser.refresh),
            ],
            &json!({}),
        )
        .await;

    reply.assert(200, LOGGED_OUT);
    assert_cleared(&reply);
    assert!(app.session_of(&browser.refresh).await.is_revoked());
    refresh_with(&app, &browser.refresh)
        .await
        .assert(401, INVALID_REFRESH);
}

#[tokio::test]
async fn logout_without_cookies_or_with_a_dead_refresh_cookie_answers_200_and_clears_both() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    app.blacklist(&browser.refresh).await.assert(200, "{}");

    for cookies in [
        vec![],
        vec![("refresh_token", "not-a-token")],
        vec![("refresh_token", browser.refresh.as_str())],
    ] {
        let reply = app.cookie_post("logout", &cookies, &json!({})).await;
        reply.assert(200, LOGGED_OUT);
        assert_cleared(&reply);
    }
}

#[tokio::test]
async fn logout_ends_only_its_own_session() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let laptop = app.cookie_session("ada@example.com", PASSWORD).await;
    let phone = app.cookie_session("ada@example.com", PASSWORD).await;

    app.cookie_post("logout", &[("refresh_token", &laptop.refresh)], &json!({}))
        .await
        .assert(200, LOGGED_OUT);

    refresh_with(&app, &phone.refresh)
        .await
        .assert(200, REFRESHED);
    profile_with_cookie(&app, &phone.access).await.ok();
}

// ---- settings ----

#[tokio::test]
async fn cookie_names_paths_domain_samesite_and_lifetimes_come_from_the_settings() {
    let app = browser_app()
        .settings(|s| {
            s.access_token_lifetime = std::time::Duration::from_secs(600);
            s.refresh_token_lifetime = std::time::Duration::from_secs(3600);
        })
        .browser(|b| {
            b.auth_cookie_access_name = "at".into();
            b.auth_cookie_refresh_name = "rt".into();
            b.auth_cookie_access_path = "/api/".into();
            b.auth_cookie_refresh_path = "/api/auth/cookie/".into();
            b.auth_cookie_domain = Some("example.test".into());
            b.auth_cookie_samesite = tessera_axum::CookieSameSite::Strict;
        })
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;

    let login = app.cookie_login("ada@example.com", PASSWORD).await;

    login.ok();
    assert_eq!(sorted_names(&login), ["at", "csrftoken", "rt"]);
    for (name, path, max_age) in [("at", "/api/", 600), ("rt", "/api/auth/cookie/", 3600)] {
        let cookie = login.cookie(name);
        assert_eq!(cookie.get("Path"), Some(path), "{}", cookie.raw);
        assert_eq!(cookie.get("Domain"), Some("example.test"), "{}", cookie.raw);
        assert_eq!(cookie.get("SameSite"), Some("Strict"), "{}", cookie.raw);
        assert_eq!(cookie.attribute("HttpOnly"), Some(None), "{}", cookie.raw);
        assert_eq!(cookie.attribute("Secure"), Some(None), "{}", cookie.raw);
        assert_eq!(cookie.max_age(), Some(max_age), "{}", cookie.raw);
    }
    let (access, refresh) = (login.cookie("at").value, login.cookie("rt").value);

    // Only the configured names are read.
    app.send(app.with_cookies(Method::GET, "/api/auth/profile/", &[("at", &access)]))
        .await
        .ok();
    profile_with_cookie(&app, &access)
        .await
        .assert(401, NOT_PROVIDED);
    refresh_with(&app, &refresh)
        .await
        .assert(401, REFRESH_NOT_FOUND);
    let refreshed = app
        .cookie_post("refresh", &[("rt", &refresh)], &json!({}))
        .await;
    refreshed.assert(200, REFRESHED);
    assert_eq!(sorted_names(&refreshed), ["at", "rt"]);
    let refresh = refreshed.cookie("rt").value;

    let logout = app
        .cookie_post("logout", &[("rt", &refresh)], &json!({}))
        .await;
    logout.assert(200, LOGGED_OUT);
    assert_eq!(logout.cookie_names(), ["at", "rt"]);
    for (name, path) in [("at", "/api/"), ("rt", "/api/auth/cookie/")] {
        let cookie = logout.cookie(name);
        assert!(cookie.is_cleared(), "{}", cookie.raw);
        assert_eq!(cookie.get("Path"), Some(path), "{}", cookie.raw);
        assert_eq!(cookie.get("Domain"), Some("example.test"), "{}", cookie.raw);
    }
    app.cookie_post("refresh", &[("rt", &refresh)], &json!({}))
        .await
        .assert(401, INVALID_REFRESH);
}

#[tokio::test]
async fn auth_cookie_secure_false_drops_secure_from_every_cookie() {
    let app = browser_app()
        .browser(|b| b.auth_cookie_secure = Some(false))
        .build()
        .await;
    app.create_user("ada@example.com", PASSWORD).await;

    let login = app.cookie_login("ada@example.com", PASSWORD).await;
    login.ok();
    let logout = app
        .cookie_post(
            "logout",
            &[("refresh_token", &login.cookie("refresh_token").value)],
            &json!({}),
        )
        .await;
    logout.assert(200, LOGGED_OUT);

    let cookies: Vec<SetCookie> = login
        .set_cookies()
        .into_iter()
        .chain(logout.set_cookies())
        .collect();
    assert_eq!(cookies.len(), 5);
    for cookie in cookies {
        assert_eq!(cookie.attribute("Secure"), None, "{}", cookie.raw);
    }
    // Everything else stays.
    assert_token_cookie_insecure(&login.cookie("access_token"), "/");
    assert_token_cookie_insecure(&login.cookie("refresh_token"), "/api/auth/");
}

#[track_caller]
fn assert_token_cookie_insecure(cookie: &SetCookie, path: &str) {
    assert_eq!(cookie.get("Path"), Some(path), "{}", cookie.raw);
    assert_eq!(cookie.attribute("HttpOnly"), Some(None), "{}", cookie.raw);
    assert_eq!(cookie.get("SameSite"), Some("Lax"), "{}", cookie.raw);
}

#[tokio::test]
async fn unusable_cookie_settings_are_refused_naming_the_setting() {
    let app = browser_app().build().await;
    let settings = tessera_axum::BrowserSettings {
        auth_cookie_samesite: tessera_axum::CookieSameSite::None,
        auth_cookie_secure: Some(false),
        ..tessera_axum::BrowserSettings::default()
    };
    let error = app
        .tessera
        .clone()
        .to_builder()
        .browser(settings)
        .build()
        .await
        .expect_err("SameSite=None without Secure");
    assert_eq!(error.setting(), Some("auth_cookie_samesite"));
}

// ---- the access cookie authenticates ----

#[tokio::test]
async fn the_access_cookie_alone_authenticates_protected_routes() {
    let app = browser_app().build().await;
    let ada = app
        .create_named_user("ada@example.com", "Ada", "Lovelace")
        .await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    let cookie = [("access_token", browser.access.as_str())];

    profile_with_cookie(&app, &browser.access).await.assert(
        200,
        &user_json(ada.id, "ada@example.com", "Ada", "Lovelace"),
    );
    // Routes of an application built on the library, with either extractor.
    app.send(app.with_cookies(Method::GET, "/api/protected/", &cookie))
        .await
        .assert(
            200,
            &json!({"id": ada.id, "email": "ada@example.com"}).to_string(),
        );
    app.send(app.with_cookies(Method::GET, "/api/stateless/", &cookie))
        .await
        .assert(200, &json!({"user_id": ada.id.to_string()}).to_string());
    let sessions = app
        .send(app.with_cookies(Method::GET, "/api/auth/sessions/", &cookie))
        .await;
    assert_eq!(sessions.status(), 200, "{}", sessions.text());
    // An unsafe request from a non-browser client (no Origin, no Fetch metadata).
    let patched = app
        .send(
            app.with_cookies(Method::PATCH, "/api/auth/profile/", &cookie)
                .json(&json!({"first_name": "Augusta"})),
        )
        .await;
    patched.assert(
        200,
        &user_json(ada.id, "ada@example.com", "Augusta", "Lovelace"),
    );
    // Without any credentials the route still refuses.
    app.send(app.request(Method::GET, "/api/auth/profile/"))
        .await
        .assert(401, NOT_PROVIDED);
}

#[tokio::test]
async fn the_bearer_header_wins_over_the_access_cookie() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    app.create_user("bob@example.com", PASSWORD).await;
    let ada = app.account_pair("ada@example.com", PASSWORD).await;
    let bob = app.cookie_session("bob@example.com", PASSWORD).await;
    let cookie = [("access_token", bob.access.as_str())];

    let both = app
        .send(
            app.with_cookies(Method::GET, "/api/auth/profile/", &cookie)
                .header("authorization", format!("Bearer {}", ada.access)),
        )
        .await;
    assert_eq!(both.ok()["email"], "ada@example.com");

    // A bad header is not rescued by a good cookie.
    app.send(
        app.with_cookies(Method::GET, "/api/auth/profile/", &cookie)
            .header("authorization", "Bearer not-a-token"),
    )
    .await
    .assert(401, &access_refused("Token is invalid"));
    app.send(
        app.with_cookies(Method::GET, "/api/auth/profile/", &cookie)
            .header("authorization", "Bearer"),
    )
    .await
    .assert(
        401,
        r#"{"detail":"Authorization header must contain two space-delimited values","code":"bad_authorization_header"}"#,
    );
}

#[tokio::test]
async fn a_header_of_another_scheme_is_ignored_and_the_cookie_authenticates() {
    let app = browser_app().build().await;
    app.create_user("bob@example.com", PASSWORD).await;
    let bob = app.cookie_session("bob@example.com", PASSWORD).await;

    let reply = app
        .send(
            app.with_cookies(
                Method::GET,
                "/api/auth/profile/",
                &[("access_token", &bob.access)],
            )
            .header("authorization", "Basic Ym9iOnNlY3JldA=="),
        )
        .await;

    assert_eq!(reply.ok()["email"], "bob@example.com");
}

#[tokio::test]
async fn an_expired_access_cookie_is_refused() {
    let app = browser_app().build().await;
    app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    app.advance(ACCESS_LIFETIME);

    profile_with_cookie(&app, &browser.access)
        .await
        .assert(401, &access_refused("Token is expired"));
    // A silent refresh brings a working one.
    let refreshed = refresh_with(&app, &browser.refresh).await;
    refreshed.assert(200, REFRESHED);
    profile_with_cookie(&app, &refreshed.cookie("access_token").value)
        .await
        .ok();
}

#[tokio::test]
async fn the_access_cookie_of_a_revoked_session_or_inactive_user_is_refused() {
    let app = browser_app().build().await;
    let ada = app.create_user("ada@example.com", PASSWORD).await;
    let browser = app.cookie_session("ada@example.com", PASSWORD).await;
    let other = app.cookie_session("ada@example.com", PASSWORD).await;

    // "Log out everywhere" with the Bearer header ends the cookie sessions too.
    app.bearer(Method::POST, "/api/auth/logout/all/", &other.access, None)
        .await
        .ok();
    profile_with_cookie(&app, &browser.access)
        .await
        .assert(401, PASSWORD_CHANGED);

    let fresh = app.cookie_session("ada@example.com", PASSWORD).await;
    profile_with_cookie(&app, &fresh.access).await.ok();
    app.deactivate(&ada).await;
    profile_with_cookie(&app, &fresh.access)
        .await
        .assert(401, USER_INACTIVE);
}
