//! [`MailSettings`]: how mail leaves the server (Django's `EMAIL_*` settings), and the
//! parsing of `smtp_url`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use tessera_core::{Secret, SettingsError};

/// The shortest `email_timeout` accepted.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest `email_timeout` accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// How mail is sent, flattened into the server's configuration next to the other settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    /// Where mail goes: `console` (the log, for development), `smtp` (`smtp_url`), `file`
    /// (one `.eml` file per message in `email_file_path`), or `off` (no mail at all: the
    /// account flows by e-mail are switched off). Defaults to `console`.
    pub email_backend: EmailBackend,
    /// The SMTP server, with the `smtp` backend:
    ///
    /// - `smtp://host:25` — plain SMTP, no TLS (Django's default `EMAIL_USE_TLS = False`);
    /// - `smtp://user:pass@host:587?tls=starttls` — STARTTLS, required (Django's
    ///   `EMAIL_USE_TLS`); `tls=required` is the same; without a port, 587;
    /// - `smtp://host?tls=opportunistic` — STARTTLS when the server offers it, else plain;
    /// - `smtps://user:pass@host:465` — TLS from the first byte (Django's `EMAIL_USE_SSL`);
    ///   without a port, 465.
    ///
    /// User and password are percent-decoded (`%40` for `@`). Without a port, `smtp://` is
    /// port 25. Defaults to none.
    pub smtp_url: Option<Secret>,
    /// The sender of every mail (Django's `DEFAULT_FROM_EMAIL`), an address or
    /// `Name <address>`. Defaults to `webmaster@localhost`.
    pub email_from: String,
    /// The `file` backend's directory (Django's `EMAIL_FILE_PATH`), created (mode 0700) when
    /// missing. Defaults to none.
    pub email_file_path: Option<PathBuf>,
    /// How long connecting to the SMTP server may take (Django's `EMAIL_TIMEOUT`); the whole
    /// conversation for one message (greeting, EHLO, TLS, AUTH, MAIL, RCPT, DATA) may take
    /// four times as long. Between 1 s and 5 min. Defaults to 10 s.
    #[serde(with = "tessera_core::duration")]
    pub email_timeout: Duration,
    /// A directory whose files replace the built-in mail texts: `<kind>.subject.txt`,
    /// `<kind>.txt`, `<kind>.html`, where `<kind>` is `password_reset`, `verify_email`,
    /// `email_change_confirm`, `email_change_notice` or `login_code`. A file that is not
    /// there keeps the built-in text. Read once at start. Defaults to none.
    pub email_templates_dir: Option<PathBuf>,
    /// Put before every subject (Django's `EMAIL_SUBJECT_PREFIX`, whose default is
    /// `"[Django] "`). Defaults to empty.
    pub email_subject_prefix: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            email_backend: EmailBackend::Console,
            smtp_url: None,
            email_from: "webmaster@localhost".into(),
            email_file_path: None,
            email_timeout: Duration::from_secs(10),
            email_templates_dir: None,
            email_subject_prefix: String::new(),
        }
    }
}

/// Where mail goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailBackend {
    /// One log event per message (target `tessera::mail`) with the recipient, the subject
    /// and the text: development only.
    #[default]
    Console,
    /// An SMTP server (`smtp_url`).
    Smtp,
    /// One `<timestamp>-<random>.eml` file per message in `email_file_path`.
    File,
    /// No mail: the account flows by e-mail (password reset, verification, address change,
    /// login by code) are switched off, their routes absent, and nothing is queued.
    Off,
}

impl MailSettings {
    /// Checks every value; the first problem names its setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let error = |setting: &str, message: String| SettingsError {
            setting: setting.into(),
            message,
        };
        match self.email_backend {
            EmailBackend::Smtp => match &self.smtp_url {
                None => {
                    return Err(error(
                        "smtp_url",
                        "is required with email_backend = \"smtp\"".into(),
                    ));
                }
                Some(url) => {
                    SmtpUrl::parse(url.expose()).map_err(|message| error("smtp_url", message))?;
                }
            },
            EmailBackend::File if self.email_file_path.is_none() => {
                return Err(error(
                    "email_file_path",
                    "is required with email_backend = \"file\"".into(),
                ));
            }
            _ => {}
        }
        parse_from(&self.email_from).map_err(|message| error("email_from", message))?;
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&self.email_timeout) {
            return Err(error(
                "email_timeout",
                "must be between 1 s and 5 min".into(),
            ));
        }
        if self.email_subject_prefix.chars().any(char::is_control) {
            return Err(error(
                "email_subject_prefix",
                "must not contain line breaks or other control characters".into(),
            ));
        }
        Ok(())
    }

    /// What makes these settings unfit for production, one sentence each (for
    /// `tessera check --deploy`): the console or file backend, or SMTP without TLS to a
    /// host that is not this machine. `off` has none: no mail leaves at all.
    pub fn deploy_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.email_backend {
            EmailBackend::Console => problems.push(
                "email_backend is \"console\": mail is only written to the log, never sent; \
                 set email_backend = \"smtp\" and smtp_url."
                    .to_owned(),
            ),
            EmailBackend::File => problems.push(
                "email_backend is \"file\": mail is only written to email_file_path, never \
                 sent; set email_backend = \"smtp\" and smtp_url."
                    .to_owned(),
            ),
            EmailBackend::Off => {}
            EmailBackend::Smtp => {
                let Some(Ok(url)) = self.smtp_url.as_ref().map(|u| SmtpUrl::parse(u.expose()))
                else {
                    return problems;
                };
                if url.is_loopback() {
                    return problems;
                }
                match url.tls {
                    SmtpTls::None => problems.push(format!(
                        "smtp_url sends mail to {} without TLS: reset links and codes cross \
                         the network in clear text; use smtps:// or ?tls=starttls.",
                        url.host
                    )),
                    SmtpTls::Opportunistic => problems.push(format!(
                        "smtp_url uses opportunistic STARTTLS to {}, which an attacker on the \
                         path can turn off; use smtps:// or ?tls=starttls.",
                        url.host
                    )),
                    SmtpTls::StartTls | SmtpTls::Wrapper => {}
                }
            }
        }
        problems
    }
}

/// `email_from` as a mailbox.
pub(super) fn parse_from(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>()
        .map_err(|e| format!("{text:?} is not an e-mail address ({e})"))
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SmtpTls {
    /// Plain text.
    None,
    /// STARTTLS when offered.
    Opportunistic,
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Wrapper,
}

/// A parsed `smtp_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SmtpUrl {
    /// Host name or IP address (without brackets).
    pub(crate) host: String,
    /// Port.
    pub(crate) port: u16,
    /// Protection.
    pub(crate) tls: SmtpTls,
    /// User and password for AUTH, when given.
    pub(crate) credentials: Option<(String, Secret)>,
}

impl SmtpUrl {
    /// Parses `smtp://` and `smtps://` URLs; the message never repeats the password.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| format!("is not a URL ({e})"))?;
        let wrapper = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(format!("has scheme {other:?}; use smtp:// or smtps://")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("names no host".into()),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err("must have no path or fragment".into());
        }
        let mut tls = if wrapper {
            SmtpTls::Wrapper
        } else {
            SmtpTls::None
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref(), wrapper) {
                ("tls", "starttls" | "required", false) => tls = SmtpTls::StartTls,
                ("tls", "opportunistic", false) => tls = SmtpTls::Opportunistic,
                ("tls", "none", false) => tls = SmtpTls::None,
                ("tls", _, true) => {
                    return Err("smtps:// is TLS already; it takes no tls option".into());
                }
                ("tls", other, false) => {
                    return Err(format!(
                        "has tls={other:?}; use starttls, required, opportunistic or none"
                    ));
                }
                (other, _, _) => return Err(unknown_option(other)),
            }
        }
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Wrapper => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::None | SmtpTls::Opportunistic => 25,
        });
        let credentials = if url.username().is_empty() {
            if url.password().is_some() {
                return Err("has a password but no user".into());
            }
            None
        } else {
            let user = percent_decode(url.username()).ok_or("has a user that is not UTF-8")?;
            let password = percent_decode(url.password().unwrap_or(""))
                .ok_or("has a password that is not UTF-8")?;
            Some((user, Secret::from(password)))
        };
        Ok(Self {
            host,
            port,
            tls,
            credentials,
        })
    }

    /// Whether the host is this machine (`localhost` or a loopback address).
    pub(crate) fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// The message for an unknown query option. Its name is repeated only when it is a short
/// word of `[a-z_]`: anything else may be part of a password that held a `?` or `&`.
fn unknown_option(name: &str) -> String {
    let word =
        (1..=24).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if word {
        format!("has an unknown option {name:?}; the only option is tls")
    } else {
        "has an unknown option; the only option is tls (percent-encode ? & # in the password)"
            .to_owned()
    }
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                let value = hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0);
                out.push(value as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(url: &str) -> MailSettings {
        MailSettings {
            email_backend: EmailBackend::Smtp,
            smtp_url: Some(url.into()),
            ..MailSettings::default()
        }
    }

    #[test]
    fn smtp_url_without_options_is_plain_on_port_25() {
        let url = SmtpUrl::parse("smtp://mail.example.com").unwrap();
        assert_eq!(url.host, "mail.example.com");
        assert_eq!(url.port, 25);
        assert_eq!(url.tls, SmtpTls::None);
        assert_eq!(url.credentials, None);
    }

    #[test]
    fn smtp_url_with_starttls_defaults_to_port_587() {
        let url = SmtpUrl::parse("smtp://u:p@mail.example.com?tls=starttls").unwrap();
        assert_eq!((url.port, url.tls), (587, SmtpTls::StartTls));
        let url = SmtpUrl::parse("smtp://mail.example.com:2525?tls=required").unwrap();
        assert_eq!((url.port, url.tls), (2525, SmtpTls::StartTls));
        let url = SmtpUrl::parse("smtp://mail.example.com?tls=opportunistic").unwrap();
        assert_eq!((url.port, url.tls), (25, SmtpTls::Opportunistic));
    }

    #[test]
    fn smtps_url_is_tls_on_port_465() {
        let url = SmtpUrl::parse("smtps://mail.example.com").unwrap();
        assert_eq!((url.port, url.tls), (465, SmtpTls::Wrapper));
        assert!(SmtpUrl::parse("smtps://mail.example.com?tls=none").is_err());
    }

    #[test]
    fn smtp_url_credentials_are_percent_decoded() {
        let url = SmtpUrl::parse("smtp://me%40example.com:p%3Ass%20w%25rd@[::1]:1025").unwrap();
        let (user, password) = url.credentials.clone().unwrap();
        assert_eq!(user, "me@example.com");
        assert_eq!(password.expose(), "p:ss w%rd");
        assert_eq!(url.host, "::1");
        assert_eq!(url.port, 1025);
        assert!(url.is_loopback());
    }

    #[test]
    fn bad_smtp_urls_are_refused_without_repeating_the_password() {
        for bad in [
            "http://host",
            "smtp://",
            "smtp://host/path",
            "smtp://host?tls=maybe",
            "smtp://host?verify=no",
            "smtp://:secret@host",
            "not a url",
        ] {
            let message = SmtpUrl::parse(bad).unwrap_err();
            assert!(!message.contains("secret"), "{bad}: {message}");
        }
    }

    #[test]
    fn an_unknown_option_is_named_only_when_it_is_a_plain_word() {
        // A `?` in an unencoded password starts the query: its rest must not be repeated.
        let message = SmtpUrl::parse("smtp://u:123?secret@h").unwrap_err();
        assert!(!message.contains("secret"), "{message}");
        assert!(message.contains("unknown option"), "{message}");
        let message = SmtpUrl::parse("smtp://u:p@h?pw=1&x9!=2").unwrap_err();
        assert_eq!(
            message,
            "has an unknown option \"pw\"; the only option is tls"
        );
        let message = SmtpUrl::parse("smtp://h?Secret-Part=1").unwrap_err();
        assert!(!message.contains("Secret"), "{message}");
    }

    #[test]
    fn off_is_valid_and_has_no_deploy_problem() {
        let off: MailSettings =
            serde_json::from_value(serde_json::json!({"email_backend": "off"})).unwrap();
        assert_eq!(off.email_backend, EmailBackend::Off);
        off.validate().unwrap();
        assert_eq!(off.deploy_problems(), Vec::<String>::new());
    }

    #[test]
    fn defaults_are_valid_and_console() {
        let settings = MailSettings::default();
        settings.validate().unwrap();
        assert_eq!(settings.email_backend, EmailBackend::Console);
        assert_eq!(settings.email_from, "webmaster@localhost");
        assert_eq!(settings.email_timeout, Duration::from_secs(10));
    }

    #[test]
    fn validate_names_the_missing_or_bad_setting() {
        let setting = |s: MailSettings| s.validate().unwrap_err().setting;
        let smtp_without_url = MailSettings {
            email_backend: EmailBackend::Smtp,
            ..MailSettings::default()
        };
        assert_eq!(setting(smtp_without_url), "smtp_url");
        assert_eq!(setting(smtp("ftp://host")), "smtp_url");
        let file_without_path = MailSettings {
            email_backend: EmailBackend::File,
            ..MailSettings::default()
        };
        assert_eq!(setting(file_without_path), "email_file_path");
        let bad_from = MailSettings {
            email_from: "not an address".into(),
            ..MailSettings::default()
        };
        assert_eq!(setting(bad_from), "email_from");
        for secs in [0, 301] {
            let timeout = MailSettings {
                email_timeout: Duration::from_secs(secs),
                ..MailSettings::default()
            };
            assert_eq!(setting(timeout), "email_timeout");
        }
        let prefix = MailSettings {
            email_subject_prefix: "[x]\r\nBcc: a@b.c ".into(),
            ..MailSettings::default()
        };
        assert_eq!(setting(prefix), "email_subject_prefix");
        let named = MailSettings {
            email_from: "Tessera <noreply@example.com>".into(),
            ..smtp("smtps://mail.example.com")
        };
        named.validate().unwrap();
    }

    #[test]
    fn deploy_problems_flag_console_file_and_clear_text_smtp() {
        assert_eq!(MailSettings::default().deploy_problems().len(), 1);
        let file = MailSettings {
            email_backend: EmailBackend::File,
            email_file_path: Some("/tmp/mail".into()),
            ..MailSettings::default()
        };
        assert_eq!(file.deploy_problems().len(), 1);
        assert_eq!(smtp("smtp://mail.example.com").deploy_problems().len(), 1);
        assert_eq!(
            smtp("smtp://mail.example.com?tls=opportunistic")
                .deploy_problems()
                .len(),
            1
        );
        for fine in [
            "smtp://mail.example.com?tls=starttls",
            "smtps://mail.example.com",
            "smtp://localhost:25",
            "smtp://127.0.0.1:1025",
        ] {
            assert_eq!(smtp(fine).deploy_problems(), Vec::<String>::new(), "{fine}");
        }
    }

    #[test]
    fn settings_read_from_toml_names() {
        let settings: MailSettings = serde_json::from_value(serde_json::json!({
            "email_backend": "smtp",
            "smtp_url": "smtp://localhost:1025",
            "email_timeout": "30s",
        }))
        .unwrap();
        assert_eq!(settings.email_backend, EmailBackend::Smtp);
        assert_eq!(settings.email_timeout, Duration::from_secs(30));
        assert!(!format!("{settings:?}").contains("localhost:1025"));
    }
}
