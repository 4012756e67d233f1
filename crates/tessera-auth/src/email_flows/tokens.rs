//! The secrets the mails carry and how they are kept: a long token (32 random bytes,
//! base64url without padding) and a short code (8 digits), stored only as SHA-256; the
//! binding of a token to the state it changes; the `uid` of reset links.

use aws_lc_rs::constant_time;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_core::KeyError;
use tessera_store::User;

use crate::api_keys::ApiKeyHasher;
use crate::error::AuthError;
use crate::secret::{random_token, sha256_hex};

/// Characters of a token: 32 bytes in base64url without padding.
pub(crate) const TOKEN_CHARS: usize = 43;
/// Digits of a code.
pub(crate) const CODE_DIGITS: usize = 8;
/// Wrong codes a token takes before its code is disabled (its link still works).
pub(crate) const MAX_CODE_ATTEMPTS: i64 = 5;

/// What a token is for: its row's `purpose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Choosing a new password.
    PasswordReset,
    /// Proving the address.
    VerifyEmail,
    /// Confirming a new address.
    EmailChange,
    /// Logging in.
    LoginCode,
}

impl Purpose {
    /// The stored name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
            Self::EmailChange => "email_change",
            Self::LoginCode => "login_code",
        }
    }

    /// What the token of this purpose for `user` is bound to, hashed: the state whose change
    /// kills it. `new_email` is the target of an e-mail change, which also dies with the
    /// password (a changed or reset password ends a pending change).
    pub(crate) fn binding(self, user: &User, new_email: Option<&str>) -> String {
        let state = match self {
            Self::PasswordReset => format!("{}\0{}", user.password_hash, user.email),
            Self::VerifyEmail => user.email.clone(),
            Self::EmailChange => format!(
                "{}\0{}\0{}",
                user.email,
                new_email.unwrap_or_default(),
                user.password_hash
            ),
            Self::LoginCode => format!("{}\0{}", user.email, user.password_hash),
        };
        sha256_hex(state.as_bytes())
    }
}

/// A fresh token and code.
pub(crate) struct Secrets {
    /// The token, for links.
    pub(crate) token: String,
    /// The code, to type.
    pub(crate) code: String,
}

impl Secrets {
    /// 32 random bytes for the token, 8 random digits for the code.
    pub(crate) fn generate() -> Result<Self, AuthError> {
        let token = random_token()?;
        let code = loop {
            let mut raw = [0u8; 4];
            aws_lc_rs::rand::fill(&mut raw)
                .map_err(|_| KeyError::new("the random generator failed"))?;
            let n = u32::from_le_bytes(raw);
            // Rejection sampling: the largest multiple of 10^8 below 2^32 keeps every code
            // equally likely.
            if n < 4_200_000_000 {
                break format!("{:08}", n % 100_000_000);
            }
        };
        Ok(Self { token, code })
    }
}

/// What is stored of the code of the token row `id`: keyed with the server's secret (the
/// one API keys are hashed with), so that a copy of the database does not give the codes
/// away - eight digits would fall to an offline search in a second. Without any secret
/// (nothing to derive one from), the plain SHA-256.
pub(crate) fn code_hash(hasher: &ApiKeyHasher, id: i64, code: &str) -> String {
    // The colon never appears in an API key, so the two uses of the key cannot collide.
    let input = format!("account-code:{id}:{code}");
    hasher
        .hash(&input)
        .unwrap_or_else(|| sha256_hex(input.as_bytes()))
}

/// Whether two hex hashes are equal, in constant time.
pub(crate) fn same_hash(a: &str, b: &str) -> bool {
    constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// Whether `token` could be a token (43 base64url characters): anything else is not looked
/// up.
pub(crate) fn token_shape(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `code` could be a code (8 ASCII digits).
pub(crate) fn code_shape(code: &str) -> bool {
    code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// The `uid` of a reset link: base64url (no padding) of the id's decimal text, as Django's
/// `urlsafe_base64_encode(force_bytes(pk))` (user 1: `MQ`).
pub fn encode_uid(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

/// The user id a reset link's `uid` names, if it names one (Django's
/// `urlsafe_base64_decode`, which also accepts padding).
pub fn decode_uid(uid: &str) -> Option<i64> {
    if uid.len() > 32 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(uid.trim_end_matches('=')).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::ApiKeySettings;
    use crate::secret::token_hash;

    #[test]
    fn uids_are_djangos() {
        assert_eq!(encode_uid(1), "MQ");
        assert_eq!(encode_uid(42), "NDI");
        assert_eq!(decode_uid("MQ"), Some(1));
        assert_eq!(decode_uid("MQ=="), Some(1));
        assert_eq!(decode_uid("NDI"), Some(42));
        for bad in ["", "!!", "LTE", "YQ", "MA", &"MQ".repeat(40)] {
            assert_eq!(decode_uid(bad), None, "{bad}");
        }
    }

    #[test]
    fn secrets_have_their_shapes_and_differ() {
        let one = Secrets::generate().unwrap();
        let two = Secrets::generate().unwrap();
        assert!(token_shape(&one.token), "{}", one.token);
        assert!(code_shape(&one.code), "{}", one.code);
        assert_ne!(one.token, two.token);
        assert!(!token_shape("short"));
        assert!(!code_shape("1234567a"));
        assert!(!code_shape("123456789"));
    }

    #[test]
    fn hashes_are_sha256_hex_and_codes_are_salted_with_the_row() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let unkeyed = ApiKeyHasher::new(&ApiKeySettings::default(), None, None);
        assert_ne!(
            code_hash(&unkeyed, 1, "12345678"),
            code_hash(&unkeyed, 2, "12345678")
        );
        let keyed = ApiKeyHasher::new(
            &ApiKeySettings::default(),
            None,
            Some(&"k".repeat(40).into()),
        );
        assert_ne!(
            code_hash(&keyed, 1, "12345678"),
            code_hash(&unkeyed, 1, "12345678")
        );
        assert!(same_hash(&token_hash("t"), &token_hash("t")));
        assert!(!same_hash(&token_hash("t"), &token_hash("u")));
    }

    #[test]
    fn a_reset_binding_changes_with_the_password_and_the_address() {
        let user = User {
            id: 1,
            email: "a@x.com".into(),
            username: None,
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: tessera_core::Timestamp::UNIX_EPOCH,
            last_login: None,
            password_changed_at: None,
            extra: Default::default(),
            email_verified: false,
            password_hash: "h1".into(),
        };
        let reset = Purpose::PasswordReset.binding(&user, None);
        let verify = Purpose::VerifyEmail.binding(&user, None);
        let moved = User {
            email: "b@x.com".into(),
            ..user.clone()
        };
        let rehashed = User {
            password_hash: "h2".into(),
            ..user.clone()
        };
        assert_ne!(reset, Purpose::PasswordReset.binding(&moved, None));
        assert_ne!(reset, Purpose::PasswordReset.binding(&rehashed, None));
        assert_eq!(verify, Purpose::VerifyEmail.binding(&rehashed, None));
        assert_ne!(verify, Purpose::VerifyEmail.binding(&moved, None));
        assert_ne!(
            Purpose::EmailChange.binding(&user, Some("n@x.com")),
            Purpose::EmailChange.binding(&user, Some("m@x.com"))
        );
        assert_ne!(
            Purpose::EmailChange.binding(&user, Some("n@x.com")),
            Purpose::EmailChange.binding(&rehashed, Some("n@x.com")),
            "a pending e-mail change dies with the password"
        );
    }
}
