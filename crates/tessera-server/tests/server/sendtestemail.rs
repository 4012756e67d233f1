//! The mail commands: `tessera sendtestemail ADDRESS…` — one test message to each address
//! now, over real SMTP (`tessera-smtp-sink`), one line per address, and exit status 1 when
//! one failed — and `tessera user resend-verification LOGIN`, which queues a mail.

use std::process::Output;
use std::time::Duration;

use tessera_smtp_sink::SmtpSink;

use crate::helpers::{run, stdout, tessera};

/// `tessera sendtestemail` with these addresses, sending through `sink`.
async fn send_test_email(sink: &SmtpSink, addresses: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    command
        .env("TESSERA_EMAIL_BACKEND", "smtp")
        .env(
            "TESSERA_SMTP_URL",
            format!("smtp://127.0.0.1:{}", sink.port()),
        )
        .env("TESSERA_EMAIL_FROM", "Example <accounts@example.com>")
        .env("TESSERA_EMAIL_SUBJECT_PREFIX", "[Example] ")
        .env("TESSERA_PUBLIC_URL", "https://api.example.com")
        .arg("sendtestemail")
        .args(addresses);
    // The sink answers on this runtime while the command runs.
    let output = tokio::task::spawn_blocking(move || run(command, None))
        .await
        .unwrap();
    drop(dir);
    output
}

#[tokio::test]
async fn each_address_gets_a_test_message_and_a_line() {
    let sink = SmtpSink::start().await.unwrap();

    let output = send_test_email(&sink, &["ada@example.com", "bob@example.com"]).await;

    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "Sent a test e-mail to ada@example.com.",
            "Sent a test e-mail to bob@example.com."
        ]
    );
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    let first = &messages[0];
    assert_eq!(first.to, ["ada@example.com"]);
    assert_eq!(first.from, "accounts@example.com");
    let subject = first.subject().unwrap_or_default();
    assert!(
        subject.starts_with("[Example] Test email from https://api.example.com on "),
        "{subject}"
    );
    assert!(
        first
            .text_body()
            .unwrap_or_default()
            .contains("If you're reading this, it was successful."),
        "{:?}",
        first.text_body()
    );
}

#[tokio::test]
async fn a_refused_message_is_reported_and_the_exit_status_is_1() {
    let sink = SmtpSink::start().await.unwrap();
    sink.fail_next(1, 550);

    let output = send_test_email(&sink, &["refused@example.com", "ada@example.com"]).await;

    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let lines: Vec<_> = text.lines().collect();
    assert!(
        lines[0].starts_with("Could not send a test e-mail to refused@example.com: "),
        "{text}"
    );
    assert_eq!(lines[1], "Sent a test e-mail to ada@example.com.");
    let arrived = sink
        .wait_for(|m| m.to == ["ada@example.com"], Duration::from_secs(5))
        .await;
    assert!(arrived.is_some());
    assert!(
        sink.messages()
            .iter()
            .all(|m| m.to != ["refused@example.com"])
    );
}

#[tokio::test]
async fn staff_queue_a_verification_mail_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut create = tessera(dir.path());
    create
        .args([
            "createsuperuser",
            "--email",
            "root@example.com",
            "--no-input",
        ])
        .env("TESSERA_SUPERUSER_PASSWORD", crate::helpers::PASSWORD);
    let created = tokio::task::spawn_blocking(move || run(create, None))
        .await
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        crate::helpers::stderr(&created)
    );

    let mut resend = tessera(dir.path());
    resend.args(["user", "resend-verification", "root@example.com"]);
    let output = tokio::task::spawn_blocking(move || run(resend, None))
        .await
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        crate::helpers::stderr(&output)
    );
    assert_eq!(
        stdout(&output).trim(),
        "A verification mail to root@example.com is queued; a running server sends it."
    );
    let url = format!("sqlite://{}", dir.path().join("data/tessera.db").display());
    let store = tessera_store::Store::connect(&url).await.unwrap();
    let queued = store.outbox().await.unwrap();
    store.close().await;
    assert_eq!(
        queued
            .iter()
            .map(|m| (m.kind.as_str(), m.recipient.as_str()))
            .collect::<Vec<_>>(),
        [("verify_email", "root@example.com")]
    );
}
