//! The switches of the account flows by e-mail over HTTP: registration under
//! `require_verified_email = "login"` (dj-rest-auth's mandatory verification: no session
//! before the address is verified), and `email_backend = "off"` (no mail routes, no mail).

use std::time::Duration;

use axum::http::Method;
use serde_json::json;
use tessera_auth::email_flows::RequireVerifiedEmail;
use tessera_auth::mail::EmailBackend;
use tessera_axum::routes::api_routes;
use tessera_axum::testing::{TestApp, TestAppBuilder};
use tessera_smtp_sink::SmtpSink;
use tessera_store::NewUser;

use crate::helpers::{ACCOUNT_PASSWORD, Api, CookieApi, PASSWORD};

const ADA: &str = "ada@example.com";
const VERIFICATION_SENT: &str = r#"{"detail":"Verification e-mail sent."}"#;
const MAIL_OFF: &str = r#"{"detail":"E-mail is switched off."}"#;
/// How long a test waits for the outbox sender to deliver a mail.
const MAIL_WAIT: Duration = Duration::from_secs(15);

/// Every router of the library, mail sent over SMTP to `sink`, logins requiring a
/// verified address.
fn verified_logins_app(sink: &SmtpSink) -> TestAppBuilder {
    let port = sink.port();
    TestApp::builder()
        .nest("/api", api_routes())
        .public_url("http://testserver")
        .mail(move |mail| {
            mail.email_backend = EmailBackend::Smtp;
            mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}?tls=none").into());
        })
        .email_flows(|flows| flows.require_verified_email = RequireVerifiedEmail::Login)
}

/// Every router of the library, with `email_backend = "off"`.
fn mail_off_app() -> TestAppBuilder {
    TestApp::builder()
        .nest("/api", api_routes())
        .mail(|mail| mail.email_backend = EmailBackend::Off)
}

/// Ada's registration body.
fn ada() -> serde_json::Value {
    json!({
        "email": ADA,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password": ACCOUNT_PASSWORD,
        "password_confirm": ACCOUNT_PASSWORD,
    })
}

/// Waits for the verification mail to `to`; fails when none comes.
async fn verification_mail_arrives(sink: &SmtpSink, to: &str) {
    let found = sink
        .wait_for(
            |m| {
                m.to.iter().any(|t| t == to)
                    && m.text_body()
                        .unwrap_or_default()
                        .contains("/account/verify-email/")
            },
            MAIL_WAIT,
        )
        .await;
    assert!(found.is_some(), "no verification mail to {to}");
}

#[tokio::test]
async fn registration_under_mandatory_verification_answers_without_tokens_and_sends_the_mail() {
    let sink = SmtpSink::start().await.expect("the SMTP sink starts");
    let app = verified_logins_app(&sink).build().await;

    let reply = app.register(&ada()).await;

    reply.assert(201, VERIFICATION_SENT);
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.headers());
    verification_mail_arrives(&sink, ADA).await;
    let store = app.tessera.auth().store();
    let ada = store
        .user_by_email(ADA)
        .await
        .unwrap()
        .expect("the account exists");
    let sessions = store.live_sessions(ada.id, app.now()).await.unwrap();
    assert!(sessions.is_empty(), "no session was opened: {sessions:?}");
}

#[tokio::test]
async fn cookie_registration_under_mandatory_verification_sets_no_cookie() {
    let sink = SmtpSink::start().await.expect("the SMTP sink starts");
    let app = verified_logins_app(&sink).build().await;

    let reply = app.cookie_post("register", &[], &ada()).await;

    reply.assert(201, VERIFICATION_SENT);
    assert_eq!(reply.cookie_names(), Vec::<String>::new());
    verification_mail_arrives(&sink, ADA).await;
}

#[tokio::test]
async fn registration_without_mandatory_verification_still_logs_in() {
    let sink = SmtpSink::start().await.expect("the SMTP sink starts");
    let app = verified_logins_app(&sink)
        .email_flows(|flows| flows.require_verified_email = RequireVerifiedEmail::Optional)
        .build()
        .await;

    let reply = app.register(&ada()).await;

    reply.assert_status(201);
    assert!(
        reply.json()["tokens"]["access"].is_string(),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn with_mail_off_the_mail_routes_answer_as_unknown_paths() {
    let app = mail_off_app().build().await;
    let user = app.create_user(ADA, PASSWORD).await;
    let pair = app.login(ADA, PASSWORD).await;
    let unknown = app.post_json("/api/auth/no-such-route/", &json!({})).await;
    assert_eq!(unknown.status(), 404);

    for route in [
        "password/reset/",
        "password/reset/confirm/",
        "verify-email/",
        "verify-email/resend/",
        "email/change/",
        "email/change/confirm/",
        "code/request/",
        "code/login/",
    ] {
        let path = format!("/api/auth/{route}");
        let anonymous = app.post_json(&path, &json!({"email": ADA})).await;
        anonymous.assert(404, unknown.text());
        let signed_in = app.post_bearer(&path, &pair.access, &json!({})).await;
        signed_in.assert(404, unknown.text());
        for method in [Method::GET, Method::OPTIONS] {
            let other = app.send(app.request(method.clone(), &path)).await;
            assert_eq!(other.status(), 404, "{method} {path}: {}", other.text());
        }
    }
    assert_eq!(user.email, ADA);
}

#[tokio::test]
async fn with_mail_off_registration_queues_nothing_and_staff_cannot_resend() {
    let app = mail_off_app().build().await;
    let staff_member = NewUser {
        email: "admin@example.com".into(),
        is_active: true,
        is_staff: true,
        ..NewUser::default()
    };
    app.create_user_with(staff_member, PASSWORD).await;

    let registered = app.register_ada().await;

    assert!(!registered.access.is_empty());
    let store = app.tessera.auth().store();
    assert_eq!(store.outbox().await.unwrap().len(), 0, "nothing queued");
    let ada = store.user_by_email(ADA).await.unwrap().unwrap();
    let staff = app.login("admin@example.com", PASSWORD).await;
    let path = format!("/api/admin/users/{}/resend-verification/", ada.id);
    app.post_bearer(&path, &staff.access, &json!({}))
        .await
        .assert(400, MAIL_OFF);
    assert_eq!(store.outbox().await.unwrap().len(), 0, "nothing queued");
}
