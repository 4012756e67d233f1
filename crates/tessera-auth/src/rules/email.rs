//! Django's `EmailValidator`: the same addresses accepted and refused.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The longest address stored: a Django custom user's `email = EmailField(max_length=255)`.
pub const EMAIL_MAX_LENGTH: usize = 255;

/// Characters allowed in an unquoted local part (RFC 5322 `atext`).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
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
    let ascii = if domain.is_ascii() {
        domain.to_owned()
    } else {
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

/// Whether Django's `EmailValidator` accepts `value`.
pub fn validate_email(value: &str) -> bool {
    if value.is_empty() || value.chars().count() > 320 {
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
}
