//! [`Templates`]: the subject, text and HTML of each [`MailKind`], built in or read once
//! from `email_templates_dir`, with `{{name}}` variables.
//!
//! The variables the mails use: `site` (the host of the public URL), `url` (the link),
//! `code`, `email` (the recipient), `new_email` (masked, in the notice to the old address),
//! `expires` (how long the link works, as text: "1 hour"), `login` (the login name). A
//! variable that is not given renders as nothing; in the HTML part every value is
//! HTML-escaped.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use tessera_core::SettingsError;

use super::MailKind;
use crate::AuthError;

/// The longest subject kept, in characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// The three parts of one kind's mail.
#[derive(Debug, Clone)]
struct Parts {
    subject: String,
    text: String,
    html: String,
}

/// The mail texts of every kind. Cheap to share (`Arc` it); rendering reads no file.
#[derive(Debug, Clone)]
pub struct Templates {
    parts: HashMap<MailKind, Parts>,
}

/// The built-in texts of `kind`: subject, text, HTML.
fn built_in(kind: MailKind) -> [&'static str; 3] {
    macro_rules! files {
        ($name:literal) => {
            [
                include_str!(concat!("templates/", $name, ".subject.txt")),
                include_str!(concat!("templates/", $name, ".txt")),
                include_str!(concat!("templates/", $name, ".html")),
            ]
        };
    }
    match kind {
        MailKind::PasswordReset => files!("password_reset"),
        MailKind::VerifyEmail => files!("verify_email"),
        MailKind::EmailChangeConfirm => files!("email_change_confirm"),
        MailKind::EmailChangeNotice => files!("email_change_notice"),
        MailKind::LoginCode => files!("login_code"),
    }
}

impl Default for Templates {
    /// The built-in texts.
    fn default() -> Self {
        Self::load(None).unwrap_or_else(|_| unreachable!("the built-in texts need no file"))
    }
}

impl Templates {
    /// The built-in texts, each replaced by the file of the same name in `dir` when there is
    /// one (`password_reset.subject.txt`, `password_reset.txt`, `password_reset.html`, …).
    /// A file that is there but cannot be read (or is not UTF-8) is an error naming
    /// `email_templates_dir`; a missing directory is one too.
    pub fn load(dir: Option<&Path>) -> Result<Templates, AuthError> {
        let fail = |message: String| {
            AuthError::Settings(SettingsError {
                setting: "email_templates_dir".into(),
                message,
            })
        };
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            return Err(fail(format!("{} is not a directory", dir.display())));
        }
        let mut parts = HashMap::new();
        for kind in MailKind::ALL {
            let [subject, text, html] = built_in(kind);
            let read = |suffix: &str, default: &str| -> Result<String, AuthError> {
                let Some(dir) = dir else {
                    return Ok(default.to_owned());
                };
                let path = dir.join(format!("{}.{suffix}", kind.as_str()));
                match std::fs::read_to_string(&path) {
                    Ok(content) => Ok(content),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(default.to_owned()),
                    Err(e) => Err(fail(format!("cannot read {}: {e}", path.display()))),
                }
            };
            let kind_parts = Parts {
                subject: read("subject.txt", subject)?,
                text: read("txt", text)?,
                html: read("html", html)?,
            };
            parts.insert(kind, kind_parts);
        }
        Ok(Self { parts })
    }

    /// The mail of `kind` with `vars` filled in: (subject, text, HTML). The subject is one
    /// line (the first of its template, control characters turned into spaces, trimmed,
    /// at most 200 characters); the HTML part gets every value HTML-escaped.
    pub fn render(&self, kind: MailKind, vars: &[(&str, &str)]) -> (String, String, String) {
        let Some(parts) = self.parts.get(&kind) else {
            return (String::new(), String::new(), String::new());
        };
        let first_line = parts.subject.lines().next().unwrap_or("");
        let subject: String = substitute(first_line, vars, false)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .chars()
            .take(MAX_SUBJECT_CHARS)
            .collect();
        (
            subject,
            substitute(&parts.text, vars, false),
            substitute(&parts.html, vars, true),
        )
    }
}

/// Replaces each `{{ name }}` by its value (or nothing); with `escape`, values are
/// HTML-escaped. Text that is not a well-formed variable stays as it is.
fn substitute(template: &str, vars: &[(&str, &str)], escape: bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name = after
            .find("}}")
            .map(|end| (end, after[..end].trim()))
            .filter(|(_, name)| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        match name {
            Some((end, name)) => {
                let value = vars
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map_or("", |(_, value)| value);
                if escape {
                    escape_html(value, &mut out);
                } else {
                    out.push_str(value);
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Appends `value` with `& < > " '` escaped (Django's `escape`).
fn escape_html(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: &[(&str, &str)] = &[
        ("site", "example.com"),
        ("url", "https://example.com/account/reset/MQ/abc/"),
        ("code", "12345678"),
        ("email", "ann@example.com"),
        ("expires", "1 hour"),
        ("login", "ann"),
    ];

    #[test]
    fn built_in_password_reset_has_the_link_the_code_and_the_lifetime() {
        let (subject, text, html) = Templates::default().render(MailKind::PasswordReset, VARS);
        assert_eq!(subject, "Password reset on example.com");
        assert!(
            text.contains("https://example.com/account/reset/MQ/abc/"),
            "{text}"
        );
        assert!(text.contains("or type this code: 12345678"), "{text}");
        assert!(text.contains("1 hour"), "{text}");
        assert!(text.contains("If you did not ask"), "{text}");
        assert!(html.contains(r#"<a href="https://example.com/account/reset/MQ/abc/">"#));
    }

    #[test]
    fn every_built_in_kind_renders_without_leftover_variables() {
        let templates = Templates::default();
        for kind in MailKind::ALL {
            let (subject, text, html) = templates.render(kind, VARS);
            for part in [&subject, &text, &html] {
                assert!(!part.is_empty(), "{kind}");
                assert!(!part.contains("{{"), "{kind}: {part}");
            }
            assert!(subject.contains("example.com"), "{kind}: {subject}");
            assert!(html.starts_with("<!DOCTYPE html>"), "{kind}");
        }
    }

    #[test]
    fn unknown_and_missing_variables_render_as_nothing() {
        let out = substitute("a{{nope}}b{{ code }}c", &[("code", "1")], false);
        assert_eq!(out, "ab1c");
        assert_eq!(substitute("{{ not closed", &[], false), "{{ not closed");
        assert_eq!(substitute("{{a b}}", &[("a b", "x")], false), "{{a b}}");
        assert_eq!(substitute("}}{{{{x}}", &[("x", "1")], false), "}}{{1");
    }

    #[test]
    fn values_are_html_escaped_in_the_html_part_only() {
        let vars = [("login", "<b>\"O'Neil\" & co</b>")];
        assert_eq!(
            substitute("{{login}}", &vars, true),
            "&lt;b&gt;&quot;O&#x27;Neil&quot; &amp; co&lt;/b&gt;"
        );
        assert_eq!(substitute("{{login}}", &vars, false), vars[0].1);
    }

    #[test]
    fn a_value_cannot_break_the_subject_into_headers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("login_code.subject.txt"),
            "Code for {{site}}\nsecond line",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let (subject, _, _) = templates.render(
            MailKind::LoginCode,
            &[("site", "x\r\nBcc: evil@example.com")],
        );
        assert_eq!(subject, "Code for x  Bcc: evil@example.com");
    }

    #[test]
    fn overrides_replace_only_the_files_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("verify_email.txt"), "Click {{url}}").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let (subject, text, html) = templates.render(MailKind::VerifyEmail, VARS);
        assert_eq!(text, "Click https://example.com/account/reset/MQ/abc/");
        assert_eq!(subject, "Confirm your e-mail address on example.com");
        assert!(html.contains("Confirm my e-mail address"));
    }

    #[test]
    fn an_unreadable_override_or_a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where a file is expected cannot be read as one.
        std::fs::create_dir(dir.path().join("login_code.html")).unwrap();
        let error = Templates::load(Some(dir.path())).unwrap_err();
        assert_eq!(error.setting(), Some("email_templates_dir"));
        let error = Templates::load(Some(&dir.path().join("absent"))).unwrap_err();
        assert_eq!(error.setting(), Some("email_templates_dir"));
    }
}
