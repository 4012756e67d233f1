//! The random tokens the service hands out and how they are kept: 32 random bytes in
//! unpadded base64url (43 characters), stored only as their SHA-256 in lower-case hex. A
//! 256-bit random secret needs neither a salt nor a slow hash, and a lookup by its hash
//! reveals nothing of it through its timing.
//!
//! The stored form is the one rows written by earlier releases carry (account tokens, MFA
//! challenges, WebAuthn ceremonies, social states and tickets, WebSocket tickets): it must
//! not change.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tessera_core::KeyError;

use crate::error::AuthError;

/// Random bytes in a token.
pub(crate) const TOKEN_BYTES: usize = 32;

/// A new token: [`TOKEN_BYTES`] random bytes, base64url without padding.
///
/// # Errors
/// A failing random generator.
pub(crate) fn random_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::new("the random generator failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored of a token: the SHA-256 of its text, lower-case hex.
pub(crate) fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// SHA-256 of `bytes`, lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// `bytes` in lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_lower_case_hex_sha256_of_the_text() {
        // FIPS 180-2's test vectors.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(token_hash("abc"), sha256_hex(b"abc"));
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn tokens_are_32_random_bytes_in_unpadded_base64url() {
        let one = random_token().unwrap();
        let two = random_token().unwrap();
        assert_ne!(one, two);
        for token in [&one, &two] {
            assert_eq!(token.len(), 43, "{token}");
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{token}"
            );
            assert_eq!(URL_SAFE_NO_PAD.decode(token).unwrap().len(), TOKEN_BYTES);
        }
    }
}
