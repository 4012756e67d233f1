//! The sink against a real SMTP client (lettre) and against raw SMTP over TCP.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use tessera_smtp_sink::{Received, SmtpSink};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

fn transport(sink: &SmtpSink) -> lettre::transport::smtp::AsyncSmtpTransportBuilder {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port())
        .tls(Tls::None)
        .timeout(Some(WAIT))
}

fn message(to: &str, text: &str, html: &str) -> Message {
    Message::builder()
        .from("Tessera <noreply@example.com>".parse::<Mailbox>().unwrap())
        .to(to.parse::<Mailbox>().unwrap())
        .subject("Réinitialisation — code")
        .multipart(MultiPart::alternative_plain_html(
            text.to_owned(),
            html.to_owned(),
        ))
        .unwrap()
}

#[tokio::test]
async fn a_message_sent_with_lettre_reads_back_decoded() {
    // Arrange
    let sink = SmtpSink::start().await.unwrap();
    let transport = transport(&sink).build();
    // Mostly ASCII with a long line: quoted-printable; all non-ASCII: base64.
    let text = format!(
        "Café {}\n.a line that starts with a dot\ncode: 12345678",
        "word ".repeat(40)
    );
    let html = format!("<p>{}</p><p>code: <b>12345678</b></p>", "ü".repeat(300));

    // Act
    transport
        .send(message("ann@example.com", &text, &html))
        .await
        .unwrap();

    // Assert
    let mail = sink
        .wait_for(|m| m.to == ["ann@example.com"], WAIT)
        .await
        .expect("the message arrives");
    assert_eq!(mail.from, "noreply@example.com");
    assert_eq!(mail.user, None);
    assert!(
        mail.data
            .contains("Content-Transfer-Encoding: quoted-printable")
    );
    assert!(mail.data.contains("Content-Transfer-Encoding: base64"));
    assert_eq!(mail.subject().unwrap(), "Réinitialisation — code");
    assert_eq!(mail.text_body().unwrap().trim_end(), text);
    assert_eq!(mail.html_body().unwrap().trim_end(), html);
    assert_eq!(sink.messages(), vec![mail]);
}

#[tokio::test]
async fn auth_is_required_and_checked_when_credentials_are_set() {
    let sink = SmtpSink::builder()
        .credentials("mailer", "s3cret pass")
        .start()
        .await
        .unwrap();

    let anonymous = transport(&sink).build();
    let error = anonymous
        .send(message("a@example.com", "x", "<p>x</p>"))
        .await
        .unwrap_err();
    assert!(error.is_permanent(), "{error}");

    let wrong = transport(&sink)
        .credentials(Credentials::new("mailer".into(), "wrong".into()))
        .build();
    let error = wrong
        .send(message("a@example.com", "x", "<p>x</p>"))
        .await
        .unwrap_err();
    assert!(error.is_permanent(), "{error}");

    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let right = transport(&sink)
            .credentials(Credentials::new("mailer".into(), "s3cret pass".into()))
            .authentication(vec![mechanism])
            .build();
        right
            .send(message("b@example.com", "hello", "<p>hello</p>"))
            .await
            .unwrap();
    }
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.user.as_deref() == Some("mailer")));
}

#[tokio::test]
async fn injected_failures_answer_data_with_the_code_and_keep_nothing() {
    let sink = SmtpSink::start().await.unwrap();
    let transport = transport(&sink).build();
    sink.fail_next(1, 451);
    sink.fail_next(1, 550);

    let transient = transport
        .send(message("a@example.com", "1", "<p>1</p>"))
        .await
        .unwrap_err();
    assert!(transient.is_transient(), "{transient}");
    assert_eq!(
        transient.status().map(|c| c.to_string()),
        Some("451".into())
    );
    let permanent = transport
        .send(message("a@example.com", "2", "<p>2</p>"))
        .await
        .unwrap_err();
    assert!(permanent.is_permanent(), "{permanent}");
    assert!(sink.messages().is_empty());

    transport
        .send(message("a@example.com", "3", "<p>3</p>"))
        .await
        .unwrap();
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn closed_connections_fail_the_send_then_the_next_one_works() {
    let sink = SmtpSink::start().await.unwrap();
    sink.close_next(1);
    let transport = transport(&sink).build();

    let error = transport
        .send(message("a@example.com", "x", "<p>x</p>"))
        .await
        .unwrap_err();
    assert!(!error.is_permanent(), "{error}");
    transport
        .send(message("a@example.com", "y", "<p>y</p>"))
        .await
        .unwrap();
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(sink.connections(), 2);
}

#[tokio::test]
async fn wait_for_gives_up_after_the_timeout() {
    let sink = SmtpSink::start().await.unwrap();
    let started = std::time::Instant::now();
    let found = sink.wait_for(|_| true, Duration::from_millis(100)).await;
    assert!(found.is_none());
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn the_dir_option_writes_each_message_as_an_eml_file() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::builder().dir(dir.path()).start().await.unwrap();
    transport(&sink)
        .build()
        .send(message("a@example.com", "file body", "<p>x</p>"))
        .await
        .unwrap();
    let mail = sink.wait_for(|_| true, WAIT).await.unwrap();
    let file = std::fs::read_to_string(dir.path().join("1.eml")).unwrap();
    assert_eq!(file, mail.data);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no partial file left"
    );
}

/// A raw SMTP client: sends lines, reads whole (multi-line) replies.
struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(sink: &SmtpSink) -> (Raw, String) {
        let (read, writer) = TcpStream::connect(sink.addr()).await.unwrap().into_split();
        let mut raw = Raw {
            reader: BufReader::new(read),
            writer,
        };
        let greeting = raw.reply().await;
        (raw, greeting)
    }

    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.unwrap() == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn send(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }
}

#[tokio::test]
async fn raw_conversation_follows_rfc_5321() {
    let sink = SmtpSink::builder()
        .max_message_bytes(100)
        .start()
        .await
        .unwrap();
    let (mut c, greeting) = Raw::connect(&sink).await;
    assert!(greeting.starts_with("220 "), "{greeting}");

    assert!(c.send("MAIL FROM:<a@b.c>").await.starts_with("503"));
    let ehlo = c.send("EHLO client.example").await;
    assert!(ehlo.contains("250-SIZE 100\r\n"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert!(c.send("AUTH PLAIN AGEAYg==").await.starts_with("502"));
    assert!(c.send("STARTTLS").await.starts_with("502"));
    assert!(c.send("VRFY a").await.starts_with("502"));
    assert!(c.send("NOOP").await.starts_with("250"));
    assert!(c.send("RCPT TO:<x@y.z>").await.starts_with("503"));
    assert!(c.send("DATA").await.starts_with("503"));
    assert!(
        c.send("MAIL FROM:<a@b.c> SIZE=101")
            .await
            .starts_with("552")
    );
    assert!(c.send("MAIL FROM:<a@b.c> SIZE=50").await.starts_with("250"));
    assert!(c.send("MAIL FROM:<a@b.c>").await.starts_with("503"));
    assert!(c.send("RSET").await.starts_with("250"));
    assert!(c.send("mail from:<a@b.c>").await.starts_with("250"));
    assert!(c.send("RCPT TO:<x@y.z>").await.starts_with("250"));
    assert!(c.send("DATA").await.starts_with("354"));
    c.writer
        .write_all(b"Subject: dots\r\n\r\n..one dot\r\n.\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("250"));
    // Too big: the whole message is read, then refused.
    c.send("MAIL FROM:<a@b.c>").await;
    c.send("RCPT TO:<x@y.z>").await;
    c.send("DATA").await;
    let big = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "x".repeat(200));
    c.writer.write_all(big.as_bytes()).await.unwrap();
    assert!(c.reply().await.starts_with("552"));
    assert!(c.send("QUIT").await.starts_with("221"));

    let messages: Vec<Received> = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].data, "Subject: dots\r\n\r\n.one dot\r\n");
    assert_eq!(messages[0].to, ["x@y.z"]);
}

#[tokio::test]
async fn an_overlong_line_is_refused_and_the_connection_closed() {
    let sink = SmtpSink::start().await.unwrap();
    let (mut c, _) = Raw::connect(&sink).await;
    let reply = c.send(&format!("EHLO {}", "a".repeat(2000))).await;
    assert!(reply.starts_with("500"), "{reply}");
    assert_eq!(c.reply().await, "", "closed");
}

#[tokio::test]
async fn stop_closes_the_listener() {
    let sink = SmtpSink::start().await.unwrap();
    let addr = sink.addr();
    sink.stop();
    drop(sink);
    // The listener goes with the aborted task; poll until connecting fails.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still listening");
        tokio::task::yield_now().await;
    }
}
