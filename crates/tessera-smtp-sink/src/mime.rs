//! [`Received`] and a minimal MIME reader (RFC 2045–2047): headers with folding and
//! encoded words, `multipart/*` bodies, quoted-printable and base64 parts. Enough to read
//! what lettre sends; not a general mail parser (charsets other than UTF-8 are read as
//! UTF-8).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), in order, without angle brackets.
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, with its CRLF line ends.
    pub data: String,
    /// The user that logged in with AUTH, if any.
    pub user: Option<String>,
}

impl Received {
    /// The first header called `name` (case-insensitive), unfolded, encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (headers, _) = split_entity(&normalize(&self.data));
        header(&headers, name).map(|value| decode_words(&value))
    }

    /// The `Subject` header, decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("subject")
    }

    /// The first `text/plain` part (or the body of a message without a content type),
    /// decoded, with `\n` line ends.
    pub fn text_body(&self) -> Option<String> {
        find_part(&normalize(&self.data), "text/plain")
    }

    /// The first `text/html` part, decoded, with `\n` line ends.
    pub fn html_body(&self) -> Option<String> {
        find_part(&normalize(&self.data), "text/html")
    }
}

fn normalize(data: &str) -> String {
    data.replace("\r\n", "\n")
}

/// Headers (unfolded, in order) and the body of one entity.
fn split_entity(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = match raw.find("\n\n") {
        Some(at) => (&raw[..at], &raw[at + 2..]),
        None => (raw, ""),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim().to_owned())
}

/// The media type (lower case) and a parameter of a `Content-Type` value.
fn param(value: &str, wanted: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (key, val) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(wanted)
            .then(|| val.trim().trim_matches('"').to_owned())
    })
}

/// The first part of type `wanted` in the entity `raw`, decoded.
fn find_part(raw: &str, wanted: &str) -> Option<String> {
    let (headers, body) = split_entity(raw);
    let content_type = header(&headers, "content-type").unwrap_or_else(|| "text/plain".into());
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.starts_with("multipart/") {
        let boundary = param(&content_type, "boundary")?;
        return parts(body, &boundary)
            .into_iter()
            .find_map(|part| find_part(&part, wanted));
    }
    if media != wanted {
        return None;
    }
    let encoding = header(&headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "quoted-printable" => quoted_printable(body, false),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = BASE64.decode(compact).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => body.to_owned(),
    };
    // Encoded parts carry their own CRLF line ends.
    Some(decoded.replace("\r\n", "\n"))
}

/// The parts of a multipart body, each without the line end before its delimiter.
fn parts(body: &str, boundary: &str) -> Vec<String> {
    let delimiter = format!("--{boundary}");
    let closing = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        let trimmed = line.trim_end();
        if trimmed == closing {
            parts.extend(current.take().map(|lines| lines.join("\n")));
            break;
        }
        if trimmed == delimiter {
            parts.extend(current.take().map(|lines| lines.join("\n")));
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    parts.extend(current.map(|lines| lines.join("\n")));
    parts
}

/// Decodes quoted-printable text (RFC 2045 §6.7); with `header`, `_` is a space (the Q
/// encoding of RFC 2047).
fn quoted_printable(text: &str, header: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => {
                i += 3;
            }
            b'=' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if header => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); the blanks between
/// two encoded words go.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let Some(word) = encoded_word(&rest[start..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            after_word = false;
            continue;
        };
        let between = &rest[..start];
        if !(after_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        out.push_str(&word.0);
        rest = &rest[start + word.1..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// The decoded text of the encoded word at the start of `text`, and its length.
fn encoded_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let payload = &inner[..end];
    if payload.contains(char::is_whitespace) {
        return None;
    }
    let decoded = match encoding {
        "b" | "B" => String::from_utf8_lossy(&BASE64.decode(payload).ok()?).into_owned(),
        "q" | "Q" => quoted_printable(payload, true),
        _ => return None,
    };
    let length = text.len() - inner.len() + end + 2;
    Some((decoded, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(data: &str) -> Received {
        Received {
            from: "a@example.com".into(),
            to: vec!["b@example.com".into()],
            data: data.replace('\n', "\r\n"),
            user: None,
        }
    }

    #[test]
    fn reads_a_multipart_alternative_message_with_both_encodings() {
        let mail = received(
            "From: a@example.com\n\
             Subject: =?utf-8?b?UGFzc3dvcmQgcmVzZXQg4oCU?=\n =?utf-8?q?_on_caf=C3=A9?=\n\
             MIME-Version: 1.0\n\
             Content-Type: multipart/alternative;\n boundary=\"XyZ\"\n\
             \n\
             --XyZ\n\
             Content-Type: text/plain; charset=utf-8\n\
             Content-Transfer-Encoding: quoted-printable\n\
             \n\
             Caf=C3=A9 code: 1234=\n\
             5678\n\
             --XyZ\n\
             Content-Type: text/html; charset=utf-8\n\
             Content-Transfer-Encoding: base64\n\
             \n\
             PHA+Q2Fmw6k8L3A+\n\
             --XyZ--\n",
        );
        assert_eq!(mail.subject().unwrap(), "Password reset — on café");
        assert_eq!(mail.text_body().unwrap(), "Café code: 12345678");
        assert_eq!(mail.html_body().unwrap(), "<p>Café</p>");
    }

    #[test]
    fn a_message_without_content_type_is_its_own_text_body() {
        let mail = received("Subject: plain\n\nline one\nline two");
        assert_eq!(mail.subject().unwrap(), "plain");
        assert_eq!(mail.text_body().unwrap(), "line one\nline two");
        assert_eq!(mail.html_body(), None);
        assert_eq!(mail.header("X-Missing"), None);
    }

    #[test]
    fn not_encoded_words_stay_as_they_are() {
        assert_eq!(decode_words("a =? b"), "a =? b");
        assert_eq!(decode_words("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
        assert_eq!(decode_words("x =?utf-8?q?a_b?= y"), "x a b y");
    }
}
