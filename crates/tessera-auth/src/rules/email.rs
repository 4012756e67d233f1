//! Django's `EmailValidator`: the same addresses accepted and refused — and, beyond
//! Django, none that only looks like another: no invisible code points, no domain label
//! mixing scripts (a Cyrillic `а` among Latin letters).

use std::net::{Ipv4Addr, Ipv6Addr};

use unicode_security::MixedScript;

/// The longest address stored: a Django custom user's `email = EmailField(max_length=255)`.
pub const EMAIL_MAX_LENGTH: usize = 255;

/// Characters allowed in an unquoted local part (RFC 5322 `atext`).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}

/// Unicode's `Default_Ignorable_Code_Point`s (Unicode 16): invisible when displayed, so an
/// address holding one looks like another.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Whether `value` holds an invisible (default-ignorable) code point. Check what the user
/// typed: normalisation drops some of them from domains.
pub fn has_invisible(value: &str) -> bool {
    value.chars().any(|c| {
        DEFAULT_IGNORABLE
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&c))
    })
}

fn valid_user_part(user: &str) -> bool {
    if let Some(inner) = user.strip_prefix('"').and_then(|u| u.strip_suffix('"')) {
        // quoted-string: printable ASCII except `"` and `\`, or a backslash escape.
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e) if matches!(e as u32, 1..=9 | 11 | 12 | 14..=127) => {}
                    _ => return false,
                },
                '"' => return false,
                c if matches!(c as u32, 1..=8 | 11 | 12 | 14..=31 | 33..=127) => {}
                _ => return false,
            }
        }
        return true;
    }
    // dot-atom
    !user.is_empty()
        && user
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn valid_domain(domain: &str) -> bool {
    if domain == "localhost" {
        return true;
    }
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let allowed = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
        return !literal.is_empty()
            && literal.chars().all(allowed)
            && (literal.parse::<Ipv4Addr>().is_ok() || literal.parse::<Ipv6Addr>().is_ok());
    }
    // A label that mixes scripts is a look-alike of another name (UTS #39), whether it
    // comes in Unicode or as `xn--` punycode.
    let single_script = |unicode: &str| unicode.split('.').all(|label| label.is_single_script());
    let ascii = if domain.is_ascii() {
        if domain.to_ascii_lowercase().contains("xn--")
            && !single_script(&idna::domain_to_unicode(domain).0)
        {
            return false;
        }
        domain.to_owned()
    } else {
        if !single_script(domain) {
            return false;
        }
        // Internationalised domains are checked in their punycode form, as Django does.
        match idna::domain_to_ascii(domain) {
            Ok(ascii) => ascii,
            Err(_) => return false,
        }
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    let Some((tld, rest)) = labels.split_last() else {
        return false;
    };
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    !rest.is_empty()
        && rest.iter().all(label_ok)
        && (2..=63).contains(&tld.len())
        && tld.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !tld.ends_with('-')
}

/// Whether Django's `EmailValidator` accepts `value`, which holds no invisible code point
/// and no domain label mixing scripts. Check addresses in their normalised form
/// (`tessera_store::normalize_email`), which shows `xn--` labels in Unicode.
pub fn validate_email(value: &str) -> bool {
    if value.is_empty() || value.chars().count() > 320 || has_invisible(value) {
        return false;
    }
    let Some((user, domain)) = value.rsplit_once('@') else {
        return false;
    };
    valid_user_part(user) && valid_domain(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_django_accepts() {
        for ok in [
            "email@here.com",
            "weirder-email@here.and.there.com",
            "email@[127.0.0.1]",
            "email@[2001:dB8::1]",
            "example@valid-----hyphens.com",
            "example@valid-with-hyphens.com",
            "test@domain.with.idn.tld.उदाहरण.परीक्षा",
            "email@localhost",
            "\"test@test\"@example.com",
            "a.b+tag@x.io",
            "!#$%&'*+/=?^_`{|}~-@example.org",
            "\"\\\\\\\"quoted\"@example.com",
            "\"\\\t\"@here.com",
        ] {
            assert!(validate_email(ok), "{ok}");
        }
    }

    #[test]
    fn refuses_what_django_refuses() {
        for bad in [
            "",
            "abc",
            "abc@",
            "abc@bar",
            "a @x.cz",
            "abc@.com",
            "something@@somewhere.com",
            "email@127.0.0.1",
            "email@[127.0.0.256]",
            "email@[2001:db8::12345]",
            "example@invalid-.com",
            "example@-invalid.com",
            "example@invalid.com-",
            "example@inv-.alid-.com",
            "test@example.com\n\n<script src=\"x.js\">",
            "\"\\\n\"@here.com",
            "trailingdot@shouldfail.com.",
            "a..b@example.com",
            ".a@example.com",
            "a@b.c",
            "email@x.c0m-",
        ] {
            assert!(!validate_email(bad), "{bad:?}");
        }
        assert!(!validate_email(&format!("{}@example.com", "a".repeat(320))));
    }

    #[test]
    fn refuses_look_alikes() {
        for bad in [
            "admin@example.com\u{200B}",
            "admin@exam\u{00AD}ple.com",
            "ad\u{2060}min@example.com",
            "admin@ex\u{0430}mple.com",
            "admin@p\u{0430}ypal.com",
            "admin@xn--exmple-4nf.com",
        ] {
            assert!(!validate_email(bad), "{bad:?}");
        }
        assert!(has_invisible("a\u{FEFF}"));
        assert!(!has_invisible("zoë@bücher.de"));
        // One script per label is fine, whatever the script.
        for ok in [
            "a@bücher.de",
            "a@пример.рф",
            "a@例え.テスト",
            "a@mañana.com",
        ] {
            assert!(validate_email(ok), "{ok}");
        }
    }
}
