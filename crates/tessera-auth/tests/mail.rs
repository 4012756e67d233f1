//! The mail transport against a real SMTP server on a random port (`tessera-smtp-sink`):
//! what arrives, AUTH, and how failures are classified.

use std::time::{Duration, Instant};

use tessera_auth::mail::{Email, EmailBackend, MailKind, MailSettings, Mailer, Templates};
use tessera_smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(5);

fn settings(url: String) -> MailSettings {
    MailSettings {
        email_backend: EmailBackend::Smtp,
        smtp_url: Some(url.into()),
        email_from: "Tessera <noreply@example.com>".into(),
        email_timeout: Duration::from_secs(2),
        ..MailSettings::default()
    }
}

fn email(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Hello".into(),
        text: "plain".into(),
        html: "<p>html</p>".into(),
    }
}

#[tokio::test]
async fn a_rendered_mail_arrives_through_smtp_with_both_parts() {
    // Arrange
    let sink = SmtpSink::start().await.unwrap();
    let mut settings = settings(format!("smtp://127.0.0.1:{}", sink.port()));
    settings.email_subject_prefix = "[Tessera] ".into();
    let mailer = Mailer::from_settings(&settings).await.unwrap();
    let (subject, text, html) = Templates::default().render(
        MailKind::PasswordReset,
        &[
            ("site", "example.com"),
            ("url", "https://example.com/account/reset/MQ/t0k3n/?a=1&b=2"),
            ("code", "12345678"),
            ("expires", "1 hour"),
        ],
    );

    // Act
    mailer
        .send(&Email {
            to: "ann@example.com".into(),
            subject,
            text,
            html,
        })
        .await
        .unwrap();

    // Assert
    let mail = sink
        .wait_for(|m| m.to == ["ann@example.com"], WAIT)
        .await
        .expect("the mail arrives");
    assert_eq!(mail.from, "noreply@example.com");
    assert_eq!(mail.user, None);
    assert_eq!(
        mail.subject().as_deref(),
        Some("[Tessera] Password reset on example.com")
    );
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Tessera <noreply@example.com>")
    );
    let text = mail.text_body().unwrap();
    assert!(
        text.contains("https://example.com/account/reset/MQ/t0k3n/?a=1&b=2"),
        "{text}"
    );
    assert!(text.contains("or type this code: 12345678"), "{text}");
    let html = mail.html_body().unwrap();
    assert!(
        html.contains(r#"href="https://example.com/account/reset/MQ/t0k3n/?a=1&amp;b=2""#),
        "{html}"
    );
}

#[tokio::test]
async fn smtp_auth_uses_the_percent_decoded_credentials_of_the_url() {
    let sink = SmtpSink::builder()
        .credentials("mailer@example.com", "p@ss:w rd")
        .start()
        .await
        .unwrap();
    let url = format!(
        "smtp://mailer%40example.com:p%40ss%3Aw%20rd@127.0.0.1:{}",
        sink.port()
    );
    let mailer = Mailer::from_settings(&settings(url)).await.unwrap();

    mailer.send(&email("bob@example.com")).await.unwrap();

    let mail = sink.wait_for(|_| true, WAIT).await.unwrap();
    assert_eq!(mail.user.as_deref(), Some("mailer@example.com"));
    assert_eq!(mail.to, ["bob@example.com"]);
}

#[tokio::test]
async fn a_wrong_password_or_a_missing_login_is_permanent() {
    let sink = SmtpSink::builder()
        .credentials("mailer", "right")
        .start()
        .await
        .unwrap();
    for url in [
        format!("smtp://mailer:wrong@127.0.0.1:{}", sink.port()),
        format!("smtp://127.0.0.1:{}", sink.port()),
    ] {
        let mailer = Mailer::from_settings(&settings(url)).await.unwrap();
        let error = mailer.send(&email("a@example.com")).await.unwrap_err();
        assert!(error.permanent, "{error}");
        assert!(!error.message.contains("wrong"), "{error}");
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_451_answer_is_transient_and_a_550_permanent() {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::from_settings(&settings(format!("smtp://127.0.0.1:{}", sink.port())))
        .await
        .unwrap();
    sink.fail_next(1, 451);
    sink.fail_next(1, 550);

    let transient = mailer.send(&email("a@example.com")).await.unwrap_err();
    let permanent = mailer.send(&email("a@example.com")).await.unwrap_err();
    mailer.send(&email("a@example.com")).await.unwrap();

    assert!(!transient.permanent, "{transient}");
    assert!(transient.message.contains("451"), "{transient}");
    assert!(permanent.permanent, "{permanent}");
    assert!(permanent.message.contains("550"), "{permanent}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_or_a_closed_port_is_transient() {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::from_settings(&settings(format!("smtp://127.0.0.1:{}", sink.port())))
        .await
        .unwrap();
    sink.close_next(1);

    let dropped = mailer.send(&email("a@example.com")).await.unwrap_err();
    assert!(!dropped.permanent, "{dropped}");
    mailer.send(&email("a@example.com")).await.unwrap();
    assert_eq!(sink.messages().len(), 1);

    let port = sink.port();
    sink.stop();
    drop(sink);
    let closed = Mailer::from_settings(&settings(format!("smtp://127.0.0.1:{port}")))
        .await
        .unwrap();
    // The port may take a moment to close after the sink's task is aborted; the send
    // fails either way (refused, or dropped by the stopping sink).
    let error = closed.send(&email("a@example.com")).await.unwrap_err();
    assert!(!error.permanent, "{error}");
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_timeout() {
    // Arrange: accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut settings = settings(format!("smtp://127.0.0.1:{port}"));
    settings.email_timeout = Duration::from_secs(1);
    let mailer = Mailer::from_settings(&settings).await.unwrap();

    // Act
    let started = Instant::now();
    let error = mailer.send(&email("a@example.com")).await.unwrap_err();

    // Assert
    let elapsed = started.elapsed();
    assert!(!error.permanent, "{error}");
    assert!(error.message.contains("timed out"), "{error}");
    assert!(elapsed >= Duration::from_secs(4), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4) + WAIT, "{elapsed:?}");
    silent.abort();
}

#[tokio::test]
async fn required_tls_never_falls_back_to_plain_text() {
    // The sink offers no STARTTLS and speaks no TLS: nothing may reach it.
    let sink = SmtpSink::builder()
        .credentials("mailer", "secret")
        .start()
        .await
        .unwrap();
    for url in [
        format!(
            "smtp://mailer:secret@127.0.0.1:{}?tls=starttls",
            sink.port()
        ),
        format!("smtps://mailer:secret@127.0.0.1:{}", sink.port()),
    ] {
        let mailer = Mailer::from_settings(&settings(url.clone())).await.unwrap();
        let error = mailer.send(&email("a@example.com")).await.unwrap_err();
        assert!(!error.permanent, "{url}: {error}");
        assert!(!error.message.contains("secret"), "{url}: {error}");
    }
    assert!(sink.messages().is_empty());
}
