//! The server's side of the mail switches: `email_backend = "off"` (no mail routes in the
//! index, the mail commands refuse) and production's refusal of mail settings unfit for it.

use tessera_auth::email_flows::RequireVerifiedEmail;
use tessera_auth::mail::EmailBackend;
use tessera_server::config::Config;

use crate::helpers::{PASSWORD, SIGNING_KEY, TestApp, run, stderr, stdout, tessera};

#[tokio::test]
async fn with_mail_off_the_index_lists_no_mail_route_and_they_answer_404() {
    let on = TestApp::build().await;
    let (_, index, _) = on.get("/", None).await;
    assert!(index["links"]["password_reset"].is_string(), "{index}");

    let off = TestApp::build_with(|config| config.mail.email_backend = EmailBackend::Off).await;

    let (status, index, _) = off.get("/", None).await;
    assert_eq!(status, 200);
    for name in [
        "password_reset",
        "password_reset_confirm",
        "verify_email",
        "verify_email_resend",
        "email_change",
        "email_change_confirm",
    ] {
        assert!(index["links"].get(name).is_none(), "{name}: {index}");
    }
    assert_eq!(index["links"]["login"], "/api/auth/login/");
    let (status, body, _) = off
        .post(
            "/api/auth/password/reset/",
            serde_json::json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (404, serde_json::json!({"detail": "Not found."}))
    );

    // The account page: no link page (no mail named one), no mail form.
    let (status, _, _) = on.get("/account/reset/MQ/a-token/", None).await;
    assert_eq!(status, 200);
    let (status, body, _) = off.get("/account/reset/MQ/a-token/", None).await;
    assert_eq!(
        (status, body),
        (404, serde_json::json!({"detail": "Not found."}))
    );
    let (_, page, _) = off.get("/account/", None).await;
    assert!(
        page.as_str()
            .unwrap_or_default()
            .contains(r#"data-mail="off""#),
        "{page}"
    );
    let (_, page, _) = on.get("/account/", None).await;
    assert!(
        page.as_str()
            .unwrap_or_default()
            .contains(r#"data-mail="on""#),
        "{page}"
    );
}

#[test]
fn with_mail_off_a_verified_address_cannot_be_required() {
    let mut config = Config::default();
    config.mail.email_backend = EmailBackend::Off;
    config.email_flows.require_verified_email = RequireVerifiedEmail::Login;
    let error = config.validate().unwrap_err().to_string();
    assert!(
        error.contains("require_verified_email") && error.contains("email_backend"),
        "{error}"
    );
}

#[test]
fn with_mail_off_the_mail_commands_refuse_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut create = tessera(dir.path());
    create
        .args([
            "createsuperuser",
            "--email",
            "root@example.com",
            "--no-input",
        ])
        .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
    let created = run(create, None);
    assert!(created.status.success(), "{}", stderr(&created));

    let mut resend = tessera(dir.path());
    resend
        .args(["user", "resend-verification", "root@example.com"])
        .env("TESSERA_EMAIL_BACKEND", "off");
    let output = run(resend, None);
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("E-mail is switched off."),
        "{}",
        stderr(&output)
    );

    let mut test_mail = tessera(dir.path());
    test_mail
        .args(["sendtestemail", "ada@example.com"])
        .env("TESSERA_EMAIL_BACKEND", "off");
    let output = run(test_mail, None);
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("e-mail is switched off (email_backend = \"off\")"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn production_refuses_to_start_with_mail_that_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = tessera(dir.path());
    serve
        .arg("serve")
        .env("TESSERA_BIND", "127.0.0.1:0")
        .env("TESSERA_DEBUG", "false")
        .env("TESSERA_ALLOWED_HOSTS", "api.example.com")
        .env("TESSERA_SIGNING_KEY", SIGNING_KEY);

    let output = run(serve, None);

    assert!(
        !output.status.success(),
        "the console backend in production"
    );
    let text = stderr(&output);
    for needed in [
        "`email_backend`",
        "`public_url`",
        "email_backend = \"off\"",
        "smtp_url",
    ] {
        assert!(text.contains(needed), "{needed}: {text}");
    }
}
