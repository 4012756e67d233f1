//! The account flows by e-mail over HTTP (dj-rest-auth's routes): password reset by link
//! and by code, e-mail verification, e-mail change, login by code and the staff's resend —
//! every answer's status and body, the enumeration contract, and the mails themselves,
//! sent over real SMTP to a sink on this machine.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use tessera_auth::email_flows::RequireVerifiedEmail;
use tessera_auth::mail::EmailBackend;
use tessera_axum::routes::api_routes;
use tessera_axum::testing::{TestApp, TestAppBuilder};
use tessera_smtp_sink::{Received, SmtpSink};
use tessera_store::NewUser;

use crate::helpers::{ACCOUNT_PASSWORD, Api, PASSWORD, Reply};

const ADA: &str = "ada@example.com";
const NOBODY: &str = "nobody@example.com";
const NEW_PASSWORD: &str = "difference engine 1822";
const NOT_FOUND: &str = r#"{"detail":"Not found."}"#;
const INVALID_UID: &str = r#"{"uid":["Invalid value"]}"#;
const INVALID_TOKEN: &str = r#"{"token":["Invalid value"]}"#;
const RESET_SENT: &str = r#"{"detail":"Password reset e-mail has been sent."}"#;
const RESET_DONE: &str = r#"{"detail":"Password has been reset with the new password."}"#;
const OK: &str = r#"{"detail":"ok"}"#;
/// How long a test waits for the outbox sender to deliver a mail.
const MAIL_WAIT: Duration = Duration::from_secs(15);

/// Every router of the library, its links under `http://testserver`, its mail sent over
/// SMTP (plain text, on this machine) to `sink`.
fn mail_app(sink: &SmtpSink) -> TestAppBuilder {
    let port = sink.port();
    TestApp::builder()
        .nest("/api", api_routes())
        .public_url("http://testserver")
        .mail(move |mail| {
            mail.email_backend = EmailBackend::Smtp;
            mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}?tls=none").into());
            mail.email_from = "accounts@example.com".into();
        })
}

async fn sink() -> SmtpSink {
    SmtpSink::start().await.expect("the SMTP sink starts")
}

/// The first mail to `to` whose text contains `needle`, or a failure naming what came.
async fn mail_to(sink: &SmtpSink, to: &str, needle: &str) -> String {
    let found = sink
        .wait_for(
            |m: &Received| {
                m.to.iter().any(|t| t == to) && m.text_body().unwrap_or_default().contains(needle)
            },
            MAIL_WAIT,
        )
        .await;
    let Some(mail) = found else {
        let came: Vec<_> = sink.messages().iter().map(|m| m.to.clone()).collect();
        panic!("no mail to {to} containing {needle:?} came; mails to: {came:?}");
    };
    mail.text_body().unwrap_or_default()
}

/// The path segments after `prefix` in the first link of `text` that has it:
/// `segments(text, "/account/reset/")` is `[uid, token]`.
fn segments(text: &str, prefix: &str) -> Vec<String> {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in the mail:\n{text}"));
    let rest = &text[start + prefix.len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    rest[..end]
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The 8-digit code of a mail.
fn code(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    digits
        .windows(8)
        .enumerate()
        .find(|(i, w)| {
            w.iter().all(char::is_ascii_digit)
                && !digits.get(i + 8).is_some_and(char::is_ascii_digit)
                && (*i == 0 || !digits[i - 1].is_ascii_digit())
        })
        .map(|(_, w)| w.iter().collect())
        .unwrap_or_else(|| panic!("no 8-digit code in the mail:\n{text}"))
}

/// A reset confirmation with these link parts and the new password twice.
fn by_link(uid: &str, token: &str) -> Value {
    json!({"uid": uid, "token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
}

/// The answer as a client sees it, minus `Date`: status, headers and body.
fn seen(reply: &Reply) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = reply
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    headers.sort();
    (reply.status().as_u16(), headers, reply.text().to_owned())
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_refuses_bad_parts() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;
    let ada = app.create_user(ADA, PASSWORD).await;

    app.post_json("/api/auth/password/reset/", &json!({"email": ADA}))
        .await
        .assert(200, RESET_SENT);
    let mail = mail_to(&sink, ADA, "/account/reset/").await;
    let parts = segments(&mail, "http://testserver/account/reset/");
    let [uid, token] = &parts[..] else {
        panic!("a reset link has a uid and a token: {parts:?}")
    };
    // Django's urlsafe_base64_encode(force_bytes(pk)).
    assert_eq!(uid, if ada.id == 1 { "MQ" } else { uid });
    assert_eq!(token.len(), 43, "32 random bytes, base64url: {token}");

    let confirm = "/api/auth/password/reset/confirm/";
    app.post_json(confirm, &by_link("Zm9v!", token))
        .await
        .assert(400, INVALID_UID);
    app.post_json(confirm, &by_link(uid, "not-the-token"))
        .await
        .assert(400, INVALID_TOKEN);
    let mismatch = json!({"uid": uid, "token": token, "new_password1": NEW_PASSWORD, "new_password2": "something else"});
    app.post_json(confirm, &mismatch).await.assert(
        400,
        r#"{"new_password2":["The two password fields didn’t match."]}"#,
    );
    // Nothing above consumed the token.
    app.post_json(confirm, &by_link(uid, token))
        .await
        .assert(200, RESET_DONE);

    app.login(ADA, NEW_PASSWORD).await;
    app.obtain(ADA, PASSWORD).await.assert_status(401);
    app.post_json(confirm, &by_link(uid, token))
        .await
        .assert(400, INVALID_TOKEN);
}

#[tokio::test]
async fn a_reset_by_typed_code_works_and_a_wrong_code_is_an_invalid_token() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;
    app.create_user(ADA, PASSWORD).await;

    app.post_json("/api/auth/password/reset/", &json!({"email": ADA}))
        .await
        .assert(200, RESET_SENT);
    let code = code(&mail_to(&sink, ADA, "/account/reset/").await);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let with = |code: &str| json!({"email": ADA, "code": code, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD});

    app.post_json("/api/auth/password/reset/confirm/", &with(wrong))
        .await
        .assert(400, INVALID_TOKEN);
    app.post_json("/api/auth/password/reset/confirm/", &with(&code))
        .await
        .assert(200, RESET_DONE);
    app.login(ADA, NEW_PASSWORD).await;
    app.post_json("/api/auth/password/reset/confirm/", &with(&code))
        .await
        .assert(400, INVALID_TOKEN);
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answer() {
    let sink = sink().await;
    let app = mail_app(&sink)
        .email_flows(|flows| flows.login_by_code = true)
        .build()
        .await;
    app.create_user(ADA, PASSWORD).await;

    for path in [
        "/api/auth/password/reset/",
        "/api/auth/verify-email/resend/",
        "/api/auth/code/request/",
    ] {
        let known = app.post_json(path, &json!({"email": ADA})).await;
        let unknown = app.post_json(path, &json!({"email": NOBODY})).await;
        assert_eq!(known.status(), 200, "{path}: {}", known.text());
        assert_eq!(seen(&known), seen(&unknown), "{path}");
    }
    // The known address got its mails; the unknown one none of them.
    mail_to(&sink, ADA, "/account/reset/").await;
    assert!(
        sink.messages()
            .iter()
            .all(|m| m.to.iter().all(|t| t != NOBODY))
    );
}

#[tokio::test]
async fn a_malformed_address_is_a_field_error() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;

    let reply = app.post_json("/api/auth/password/reset/", &json!({})).await;
    reply.assert(400, r#"{"email":["This field is required."]}"#);
    let reply = app
        .post_json(
            "/api/auth/password/reset/",
            &json!({"email": "not an address"}),
        )
        .await;
    reply.assert_status(400);
    assert_eq!(reply.keys(), ["email"]);
}

#[tokio::test]
async fn registration_sends_a_verification_link_that_only_a_post_consumes() {
    let sink = sink().await;
    let app = mail_app(&sink)
        .email_flows(|flows| flows.require_verified_email = RequireVerifiedEmail::Optional)
        .build()
        .await;
    let pair = app.register_ada().await;
    assert_eq!(
        app.profile(&pair.access).await.ok()["email_verified"],
        false
    );

    let mail = mail_to(&sink, ADA, "/account/verify-email/").await;
    let key = segments(&mail, "http://testserver/account/verify-email/").remove(0);

    app.post_json("/api/auth/verify-email/", &json!({"key": "nope"}))
        .await
        .assert(404, NOT_FOUND);
    app.post_json("/api/auth/verify-email/", &json!({"key": key}))
        .await
        .assert(200, OK);
    assert_eq!(app.profile(&pair.access).await.ok()["email_verified"], true);
    app.post_json("/api/auth/verify-email/", &json!({"key": key}))
        .await
        .assert(404, NOT_FOUND);
}

#[tokio::test]
async fn a_verification_code_verifies_with_the_address() {
    let sink = sink().await;
    let app = mail_app(&sink)
        .email_flows(|flows| flows.require_verified_email = RequireVerifiedEmail::Optional)
        .build()
        .await;
    let pair = app.register_ada().await;
    let code = code(&mail_to(&sink, ADA, "/account/verify-email/").await);

    app.post_json(
        "/api/auth/verify-email/",
        &json!({"email": NOBODY, "code": code}),
    )
    .await
    .assert(404, NOT_FOUND);
    app.post_json(
        "/api/auth/verify-email/",
        &json!({"email": ADA, "code": code}),
    )
    .await
    .assert(200, OK);
    assert_eq!(app.profile(&pair.access).await.ok()["email_verified"], true);
}

#[tokio::test]
async fn an_address_change_needs_the_password_and_the_new_addresss_confirmation() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let change = "/api/auth/email/change/";
    let new = "augusta@example.com";

    // Anonymous, then a wrong password.
    app.post_json(change, &json!({"new_email": new, "password": PASSWORD}))
        .await
        .assert_status(401);
    let wrong = app
        .post_bearer(
            change,
            &pair.access,
            &json!({"new_email": new, "password": "wrong"}),
        )
        .await;
    wrong.assert_status(400);
    assert_eq!(wrong.keys(), ["password"], "{}", wrong.text());

    app.post_bearer(
        change,
        &pair.access,
        &json!({"new_email": new, "password": PASSWORD}),
    )
    .await
    .assert(200, r#"{"detail":"Confirmation e-mail sent."}"#);
    let mail = mail_to(&sink, new, "/account/email-change/").await;
    let key = segments(&mail, "http://testserver/account/email-change/").remove(0);
    // The old address is told, and the address has not changed yet.
    sink.wait_for(|m| m.to.iter().any(|t| t == ADA), MAIL_WAIT)
        .await
        .expect("a notice to the old address");
    assert_eq!(app.profile(&pair.access).await.ok()["email"], ADA);

    let confirm = "/api/auth/email/change/confirm/";
    app.post_json(confirm, &json!({"key": "nope"}))
        .await
        .assert(404, NOT_FOUND);
    app.post_json(confirm, &json!({"key": key}))
        .await
        .assert(200, OK);
    let profile = app.profile(&pair.access).await.ok();
    assert_eq!(
        (&profile["email"], &profile["email_verified"]),
        (&json!(new), &json!(true))
    );
    app.post_json(confirm, &json!({"key": key}))
        .await
        .assert(404, NOT_FOUND);
}

#[tokio::test]
async fn the_code_routes_are_absent_unless_login_by_code_is_on() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;
    app.create_user(ADA, PASSWORD).await;

    for path in ["/api/auth/code/request/", "/api/auth/code/login/"] {
        app.post_json(path, &json!({"email": ADA}))
            .await
            .assert(404, NOT_FOUND);
        for method in [Method::GET, Method::OPTIONS] {
            app.send(app.request(method, path))
                .await
                .assert(404, NOT_FOUND);
        }
    }
    let on = mail_app(&sink)
        .email_flows(|flows| flows.login_by_code = true)
        .build()
        .await;
    let options = on
        .send(on.request(Method::OPTIONS, "/api/auth/code/login/"))
        .await;
    options.assert_status(200);
    assert_eq!(options.header("allow"), Some("POST, OPTIONS"));
    on.send(on.request(Method::GET, "/api/auth/code/login/"))
        .await
        .assert(405, r#"{"detail":"Method \"GET\" not allowed."}"#);
}

#[tokio::test]
async fn a_login_code_logs_in_once_with_the_login_routes_answer() {
    let sink = sink().await;
    let app = mail_app(&sink)
        .email_flows(|flows| flows.login_by_code = true)
        .build()
        .await;
    let ada = app.create_user(ADA, PASSWORD).await;

    app.post_json("/api/auth/code/request/", &json!({"email": ADA}))
        .await
        .assert(200, OK);
    let code = code(&mail_to(&sink, ADA, "").await);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let login = "/api/auth/code/login/";

    app.post_json(login, &json!({"email": ADA, "code": wrong}))
        .await
        .assert(
            401,
            r#"{"detail":"No active account found with the given credentials"}"#,
        );
    let reply = app
        .post_json(login, &json!({"email": ADA, "code": code}))
        .await;
    assert_eq!(
        reply.keys(),
        ["refresh", "access", "user"],
        "{}",
        reply.text()
    );
    assert_eq!(reply.json()["user"]["id"], json!(ada.id));
    app.profile(&reply.field("access")).await.ok();
    app.post_json(login, &json!({"email": ADA, "code": code}))
        .await
        .assert_status(401);

    // The session's `login.succeeded` says how the user proved who they are.
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
        .unwrap();
    let details: Vec<_> = events.iter().map(|e| e.detail.as_deref()).collect();
    assert_eq!(details, [Some(r#"{"method":"code"}"#)]);
}

#[tokio::test]
async fn an_unverified_address_cannot_log_in_when_the_login_requires_it() {
    let sink = sink().await;
    let app = mail_app(&sink)
        .email_flows(|flows| flows.require_verified_email = RequireVerifiedEmail::Login)
        .build()
        .await;
    app.register(&json!({
        "email": ADA,
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
    }))
    .await;
    let not_verified =
        r#"{"detail":"E-mail address is not verified.","code":"email_not_verified"}"#;

    app.account_login(ADA, ACCOUNT_PASSWORD)
        .await
        .assert(401, not_verified);
    app.obtain(ADA, ACCOUNT_PASSWORD)
        .await
        .assert(401, not_verified);

    let mail = mail_to(&sink, ADA, "/account/verify-email/").await;
    let key = segments(&mail, "http://testserver/account/verify-email/").remove(0);
    app.post_json("/api/auth/verify-email/", &json!({"key": key}))
        .await
        .assert(200, OK);
    app.account_login(ADA, ACCOUNT_PASSWORD).await.ok();
}

#[tokio::test]
async fn staff_and_only_staff_send_a_verification_mail_again() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let staff_member = NewUser {
        email: "admin@example.com".into(),
        is_active: true,
        is_staff: true,
        ..NewUser::default()
    };
    app.create_user_with(staff_member, PASSWORD).await;
    let path = format!("/api/admin/users/{}/resend-verification/", ada.id);

    app.post_json(&path, &json!({})).await.assert_status(401);
    let own = app.login(ADA, PASSWORD).await;
    app.post_bearer(&path, &own.access, &json!({}))
        .await
        .assert_status(403);
    let staff = app.login("admin@example.com", PASSWORD).await;
    app.post_bearer(&path, &staff.access, &json!({}))
        .await
        .assert(200, OK);
    mail_to(&sink, ADA, "/account/verify-email/").await;
    app.post_bearer(
        "/api/admin/users/999999/resend-verification/",
        &staff.access,
        &json!({}),
    )
    .await
    .assert(404, NOT_FOUND);
}

#[tokio::test]
async fn staff_may_mark_an_address_verified() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;
    let ada = app.create_user(ADA, PASSWORD).await;
    let staff_member = NewUser {
        email: "admin@example.com".into(),
        is_active: true,
        is_staff: true,
        ..NewUser::default()
    };
    app.create_user_with(staff_member, PASSWORD).await;
    let staff = app.login("admin@example.com", PASSWORD).await;
    let path = format!("/api/admin/users/{}/", ada.id);

    app.bearer(
        Method::PATCH,
        &path,
        &staff.access,
        Some(&json!({"email_verified": "maybe"})),
    )
    .await
    .assert(400, r#"{"email_verified":["Must be a valid boolean."]}"#);
    let patched = app
        .bearer(
            Method::PATCH,
            &path,
            &staff.access,
            Some(&json!({"email_verified": true})),
        )
        .await
        .ok();
    assert_eq!(patched["email_verified"], true);
    let own = app.login(ADA, PASSWORD).await;
    assert_eq!(app.profile(&own.access).await.ok()["email_verified"], true);
}

#[tokio::test]
async fn the_user_object_shows_whether_the_address_is_verified_and_users_cannot_set_it() {
    let sink = sink().await;
    let app = mail_app(&sink).build().await;
    app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;

    let patched = app
        .bearer(
            Method::PATCH,
            "/api/auth/profile/",
            &pair.access,
            Some(&json!({"email_verified": true, "first_name": "Ada"})),
        )
        .await
        .ok();
    assert_eq!(
        (&patched["first_name"], &patched["email_verified"]),
        (&json!("Ada"), &json!(false))
    );
}

#[tokio::test]
async fn a_reset_by_link_works_on_postgresql_too() {
    let Some(database) = tessera_axum::testing::TestDatabase::postgres(
        "email_flows::a_reset_by_link_works_on_postgresql_too",
    )
    .await
    else {
        return;
    };
    let sink = sink().await;
    let app = mail_app(&sink).database(database).build().await;
    app.create_user(ADA, PASSWORD).await;

    app.post_json("/api/auth/password/reset/", &json!({"email": ADA}))
        .await
        .assert(200, RESET_SENT);
    let mail = mail_to(&sink, ADA, "/account/reset/").await;
    let parts = segments(&mail, "http://testserver/account/reset/");
    let confirm = "/api/auth/password/reset/confirm/";
    app.post_json(confirm, &by_link(&parts[0], &parts[1]))
        .await
        .assert(200, RESET_DONE);
    app.post_json(confirm, &by_link(&parts[0], &parts[1]))
        .await
        .assert(400, INVALID_TOKEN);
    app.login(ADA, NEW_PASSWORD).await;
}
