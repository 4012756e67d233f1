//! [`Mailer`]: sends one [`Email`] through the configured backend — SMTP (lettre, rustls),
//! the log, or `.eml` files — with timeouts, never panicking.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport as _, Message, Tokio1Executor};
use tessera_core::{SettingsError, Timestamp};

use super::settings::{SmtpTls, SmtpUrl, parse_from};
use super::{EmailBackend, MailSettings};
use crate::AuthError;

/// One message to send: both parts are sent, as `multipart/alternative`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// The subject, one line (the mailer puts `email_subject_prefix` before it).
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Django's body of the test message (`sendtestemail`).
const TEST_BODY: &str = "If you're reading this, it was successful.";

impl Email {
    /// The test message to `to` (Django's `sendtestemail`): the subject
    /// `Test email from <server> on <time>`, where `server` is the public URL and the time
    /// is RFC 3339 in UTC to the second, and Django's one-line body.
    pub fn test_message(to: &str, server: &str, at: Timestamp) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!(
                "Test email from {server} on {}",
                Timestamp::from_secs(at.as_secs())
            ),
            text: TEST_BODY.to_owned(),
            html: format!("<p>{TEST_BODY}</p>"),
        }
    }
}

/// A message that was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// Whether sending it again is pointless: the SMTP server answered 5xx, or the
    /// message cannot be built (a recipient that is no address). Everything else — a 4xx
    /// answer, a refused or lost connection, a timeout, a TLS failure — is transient.
    pub permanent: bool,
    /// What happened, fit for a log line (never a password).
    pub message: String,
}

impl MailError {
    fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
}

/// Where the mailer sends.
enum Backend {
    /// `email_backend = "off"`: every message is refused.
    Off,
    Console,
    File(PathBuf),
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port`, for messages.
        server: String,
    },
}

struct Inner {
    from: Mailbox,
    subject_prefix: String,
    timeout: Duration,
    backend: Backend,
}

/// Sends mail through the backend of [`MailSettings`]. Cheap to clone (one `Arc`); the SMTP
/// backend keeps a small pool of connections.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.inner.backend {
            Backend::Off => "off".to_owned(),
            Backend::Console => "console".to_owned(),
            Backend::File(dir) => format!("file {}", dir.display()),
            Backend::Smtp { server, .. } => format!("smtp {server}"),
        };
        f.debug_struct("Mailer")
            .field("backend", &backend)
            .field("from", &self.inner.from.to_string())
            .finish_non_exhaustive()
    }
}

/// How many `email_timeout`s one SMTP send may take in all (connect, greeting, EHLO,
/// STARTTLS, AUTH, MAIL, RCPT, DATA …). lettre's own timeout covers only the TCP connect,
/// so this bound is what stops a server that accepts and then stays silent.
const WHOLE_SEND_TIMEOUTS: u32 = 4;

impl Mailer {
    /// Checks `settings` ([`MailSettings::validate`]) and sets the backend up: the SMTP
    /// connection pool (which needs a Tokio runtime, hence `async`), or the file backend's
    /// directory (created with mode 0700). Connects to nothing yet.
    pub async fn from_settings(settings: &MailSettings) -> Result<Mailer, AuthError> {
        settings.validate()?;
        let fail = |setting: &str, message: String| {
            AuthError::Settings(SettingsError {
                setting: setting.into(),
                message,
            })
        };
        let from = parse_from(&settings.email_from).map_err(|m| fail("email_from", m))?;
        let backend = match settings.email_backend {
            EmailBackend::Off => Backend::Off,
            EmailBackend::Console => Backend::Console,
            EmailBackend::File => {
                let dir = settings
                    .email_file_path
                    .clone()
                    .ok_or_else(|| fail("email_file_path", "is required".into()))?;
                create_private_dir(&dir).map_err(|e| {
                    fail(
                        "email_file_path",
                        format!("cannot create {}: {e}", dir.display()),
                    )
                })?;
                Backend::File(dir)
            }
            EmailBackend::Smtp => {
                let url = settings
                    .smtp_url
                    .as_ref()
                    .ok_or_else(|| fail("smtp_url", "is required".into()))?;
                let url = SmtpUrl::parse(url.expose()).map_err(|m| fail("smtp_url", m))?;
                smtp_backend(&url, settings.email_timeout)
                    .map_err(|e| fail("smtp_url", format!("cannot set TLS up: {e}")))?
            }
        };
        Ok(Mailer {
            inner: Arc::new(Inner {
                from,
                subject_prefix: settings.email_subject_prefix.clone(),
                timeout: settings.email_timeout,
                backend,
            }),
        })
    }

    /// Sends `email` now from `email_from`, its subject prefixed with
    /// `email_subject_prefix`. Connecting waits at most `email_timeout`, the whole SMTP
    /// conversation four times that; a timeout is a transient [`MailError`].
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let inner = &self.inner;
        let subject = format!("{}{}", inner.subject_prefix, email.subject);
        let message = || -> Result<Message, MailError> {
            let to = email
                .to
                .parse::<Mailbox>()
                .map_err(|_| MailError::permanent("the recipient is not an e-mail address"))?;
            Message::builder()
                .from(inner.from.clone())
                .to(to)
                .subject(subject.clone())
                .multipart(MultiPart::alternative_plain_html(
                    email.text.clone(),
                    email.html.clone(),
                ))
                .map_err(|e| MailError::permanent(format!("cannot build the message: {e}")))
        };
        match &inner.backend {
            Backend::Off => Err(MailError::permanent(
                "e-mail is switched off (email_backend = \"off\")",
            )),
            Backend::Console => {
                message()?;
                tracing::info!(
                    target: "tessera::mail",
                    to = %email.to,
                    subject = %subject,
                    body = %email.text,
                    "mail (console backend: not sent)"
                );
                Ok(())
            }
            Backend::File(dir) => {
                let bytes = message()?.formatted();
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_eml(&dir, &bytes))
                    .await
                    .map_err(|e| MailError::transient(format!("the file writer failed: {e}")))?
                    .map_err(|e| MailError::transient(format!("cannot write the message: {e}")))
            }
            Backend::Smtp { transport, server } => {
                let message = message()?;
                let whole = inner.timeout.saturating_mul(WHOLE_SEND_TIMEOUTS);
                match tokio::time::timeout(whole, transport.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(classify(&e, server)),
                    Err(_) => Err(MailError::transient(format!(
                        "{server}: timed out after {} s",
                        whole.as_secs()
                    ))),
                }
            }
        }
    }
}

/// The lettre transport for `url`.
fn smtp_backend(
    url: &SmtpUrl,
    timeout: Duration,
) -> Result<Backend, lettre::transport::smtp::Error> {
    let tls = match url.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Opportunistic => Tls::Opportunistic(TlsParameters::new(url.host.clone())?),
        SmtpTls::StartTls => Tls::Required(TlsParameters::new(url.host.clone())?),
        SmtpTls::Wrapper => Tls::Wrapper(TlsParameters::new(url.host.clone())?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.as_str())
        .port(url.port)
        .tls(tls)
        .timeout(Some(timeout))
        .pool_config(
            PoolConfig::new()
                .max_size(4)
                .idle_timeout(Duration::from_secs(30)),
        );
    if let Some((user, password)) = &url.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    let server = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    Ok(Backend::Smtp {
        transport: builder.build(),
        server,
    })
}

/// A lettre error as a [`MailError`]: 5xx answers are permanent, the rest transient.
fn classify(error: &lettre::transport::smtp::Error, server: &str) -> MailError {
    let message = if error.is_timeout() {
        format!("{server}: timed out")
    } else {
        format!("{server}: {error}")
    };
    if error.is_permanent() {
        MailError::permanent(message)
    } else {
        MailError::transient(message)
    }
}

/// Creates `dir` (and its parents) with mode 0700 when it is missing.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes one message as `<timestamp>-<random>.eml` (mode 0600) in `dir`.
fn write_eml(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_private_dir(dir)?;
    let now = time::OffsetDateTime::now_utc();
    let mut random = [0u8; 8];
    aws_lc_rs::rand::fill(&mut random)
        .map_err(|_| std::io::Error::other("the random generator failed"))?;
    let random = crate::secret::hex(&random);
    let name = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{random}.eml",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(dir.join(name))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_message_is_djangos() {
        let at = Timestamp::from_micros(1_795_445_447_123_456);
        let email = Email::test_message("ann@example.com", "https://api.example.com", at);
        assert_eq!(email.to, "ann@example.com");
        assert_eq!(
            email.subject,
            format!(
                "Test email from https://api.example.com on {}",
                Timestamp::from_secs(at.as_secs())
            )
        );
        assert_eq!(email.text, "If you're reading this, it was successful.");
    }

    #[tokio::test]
    async fn the_off_backend_sends_nothing_and_says_why() {
        let settings = MailSettings {
            email_backend: EmailBackend::Off,
            ..MailSettings::default()
        };
        let mailer = Mailer::from_settings(&settings).await.unwrap();
        let error = mailer.send(&email()).await.unwrap_err();
        assert!(error.permanent);
        assert!(error.message.contains("switched off"), "{error}");
    }

    fn email() -> Email {
        Email {
            to: "ann@example.com".into(),
            subject: "Hello".into(),
            text: "plain body".into(),
            html: "<p>html body</p>".into(),
        }
    }

    #[tokio::test]
    async fn file_backend_writes_one_private_eml_per_message() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mail/out");
        let settings = MailSettings {
            email_backend: EmailBackend::File,
            email_file_path: Some(dir.clone()),
            email_subject_prefix: "[Tessera] ".into(),
            ..MailSettings::default()
        };
        let mailer = Mailer::from_settings(&settings).await.unwrap();

        mailer.send(&email()).await.unwrap();
        mailer.send(&email()).await.unwrap();

        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 2);
        let content = std::fs::read_to_string(&files[0]).unwrap();
        assert!(content.contains("Subject: [Tessera] Hello"), "{content}");
        assert!(content.contains("To: ann@example.com"), "{content}");
        assert!(content.contains("From: webmaster@localhost"), "{content}");
        assert!(content.contains("multipart/alternative"), "{content}");
        assert!(files[0].extension().is_some_and(|e| e == "eml"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&files[0]), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
    }

    #[tokio::test]
    async fn console_backend_sends_and_a_bad_recipient_is_permanent() {
        let mailer = Mailer::from_settings(&MailSettings::default())
            .await
            .unwrap();
        mailer.send(&email()).await.unwrap();
        let bad = Email {
            to: "not an address".into(),
            ..email()
        };
        let error = mailer.send(&bad).await.unwrap_err();
        assert!(error.permanent);
        assert!(!error.message.contains("not an address"));
    }

    #[tokio::test]
    async fn from_settings_refuses_invalid_settings() {
        let settings = MailSettings {
            email_backend: EmailBackend::Smtp,
            ..MailSettings::default()
        };
        let error = Mailer::from_settings(&settings).await.unwrap_err();
        assert_eq!(error.setting(), Some("smtp_url"));
    }

    #[tokio::test]
    async fn debug_never_shows_the_smtp_password() {
        let settings = MailSettings {
            email_backend: EmailBackend::Smtp,
            smtp_url: Some("smtp://user:hunter2@127.0.0.1:2525".into()),
            ..MailSettings::default()
        };
        let mailer = Mailer::from_settings(&settings).await.unwrap();
        let debug = format!("{mailer:?} {settings:?}");
        assert!(debug.contains("smtp 127.0.0.1:2525"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
