//! Private keys at rest: AES-256-GCM under a key-encryption key from the configuration.
//!
//! The AES key is derived from the configured secret with HKDF-SHA256, so any random text of
//! 32 bytes or more will do (`openssl rand -base64 32`). Each private key is sealed with a
//! fresh random 96-bit nonce and its key id as associated data, so a sealed key copied onto
//! another row does not open. Stored form: `aes256gcm:<base64url(nonce ‖ ciphertext ‖ tag)>`;
//! without a key-encryption key (development only) `plain:<pem>`.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::SettingsError;
use crate::keys::KeyError;
use crate::secret::Secret;

const SEALED: &str = "aes256gcm:";
const PLAIN: &str = "plain:";
/// HKDF salt and info: change them and every sealed key needs re-sealing.
const HKDF_SALT: &[u8] = b"tessera key-encryption salt v1";
const HKDF_INFO: &[u8] = b"tessera signing keys at rest v1";
/// The shortest accepted key-encryption secret, in bytes.
pub const MIN_KEK_LEN: usize = 32;

/// The key that seals private keys in the store (`key_encryption_key`).
pub struct KeyEncryptionKey(RandomizedNonceKey);

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl KeyEncryptionKey {
    /// Derives the AES-256 key from the configured secret (32 bytes or more).
    pub fn from_secret(secret: &Secret) -> Result<Self, SettingsError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < MIN_KEK_LEN {
            return Err(SettingsError::new(
                "key_encryption_key",
                format!("must be at least {MIN_KEK_LEN} bytes, e.g. `openssl rand -base64 32`"),
            ));
        }
        let mut key = [0u8; 32];
        let derived = Salt::new(HKDF_SHA256, HKDF_SALT)
            .extract(bytes)
            .expand(&[HKDF_INFO], Len(key.len()))
            .and_then(|okm| okm.fill(&mut key));
        let cipher = derived.and_then(|()| RandomizedNonceKey::new(&AES_256_GCM, &key));
        key.fill(0);
        cipher.map(Self).map_err(|_| {
            SettingsError::new("key_encryption_key", "could not derive an AES-256 key")
        })
    }

    /// Seals `plaintext` (a PEM private key or a secret) bound to `kid`.
    pub fn seal(&self, kid: &str, plaintext: &str) -> Result<String, KeyError> {
        let mut buffer = plaintext.as_bytes().to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| KeyError::new("sealing the key failed"))?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buffer);
        Ok(format!("{SEALED}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<Secret, KeyError> {
        let wrong = || {
            KeyError::new(format!(
                "the private part of key {kid:?} does not open with this `key_encryption_key`"
            ))
        };
        let bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| wrong())?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| wrong())?;
        buffer.fill(0);
        Ok(Secret::from(text))
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

/// The stored form of a private key: sealed when a key-encryption key is configured, else
/// `plain:` (development only; `tessera check` flags it).
pub fn seal_private_key(
    kek: Option<&KeyEncryptionKey>,
    kid: &str,
    private: &Secret,
) -> Result<String, KeyError> {
    match kek {
        Some(kek) => kek.seal(kid, private.expose()),
        None => Ok(format!("{PLAIN}{}", private.expose())),
    }
}

/// The private key back from its stored form. With a key-encryption key, a `plain:` key is
/// refused: it was written by someone without the key (the server seals the ones made
/// before the key was configured when it starts, see [`plain_private_key`]).
pub fn open_private_key(
    kek: Option<&KeyEncryptionKey>,
    kid: &str,
    stored: &str,
) -> Result<Secret, KeyError> {
    if let Some(plain) = stored.strip_prefix(PLAIN) {
        return match kek {
            None => Ok(Secret::from(plain)),
            Some(_) => Err(KeyError::new(format!(
                "key {kid:?} is stored unencrypted although `key_encryption_key` is set; \
                 restart the server to seal it"
            ))),
        };
    }
    let Some(sealed) = stored.strip_prefix(SEALED) else {
        return Err(KeyError::new(format!(
            "the private part of key {kid:?} is in an unknown form"
        )));
    };
    match kek {
        Some(kek) => kek.open(kid, sealed),
        None => Err(KeyError::new(format!(
            "key {kid:?} is encrypted; set `key_encryption_key` to open it"
        ))),
    }
}

/// The private key of a `plain:` stored form, to seal it; `None` for any other form.
pub fn plain_private_key(stored: &str) -> Option<Secret> {
    stored.strip_prefix(PLAIN).map(Secret::from)
}

/// Whether a stored private key is sealed (not `plain:`).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(text: &str) -> KeyEncryptionKey {
        KeyEncryptionKey::from_secret(&Secret::from(text)).unwrap()
    }

    const KEK: &str = "0123456789abcdef0123456789abcdef-test";

    #[test]
    fn sealed_keys_open_with_the_same_key_and_kid_only() {
        let private = Secret::from("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n");
        let stored = seal_private_key(Some(&kek(KEK)), "k1", &private).unwrap();
        assert!(is_sealed(&stored));
        assert!(!stored.contains("PRIVATE KEY"));
        assert_eq!(
            open_private_key(Some(&kek(KEK)), "k1", &stored).unwrap(),
            private
        );
        // Another kid (the row's ciphertext moved elsewhere) or another key does not open.
        assert!(open_private_key(Some(&kek(KEK)), "k2", &stored).is_err());
        let other = kek("another-key-encryption-key-of-32-bytes!");
        let err = open_private_key(Some(&other), "k1", &stored).unwrap_err();
        assert!(err.to_string().contains("key_encryption_key"), "{err}");
        // Without a key it says which setting is missing.
        let err = open_private_key(None, "k1", &stored).unwrap_err();
        assert!(err.to_string().contains("key_encryption_key"), "{err}");
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let private = Secret::from("same text");
        let a = seal_private_key(Some(&kek(KEK)), "k", &private).unwrap();
        let b = seal_private_key(Some(&kek(KEK)), "k", &private).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn tampering_is_detected() {
        let stored = seal_private_key(Some(&kek(KEK)), "k", &Secret::from("secret")).unwrap();
        let mut bytes = URL_SAFE_NO_PAD
            .decode(stored.strip_prefix(SEALED).unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{SEALED}{}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(open_private_key(Some(&kek(KEK)), "k", &tampered).is_err());
        assert!(open_private_key(Some(&kek(KEK)), "k", "aes256gcm:!!").is_err());
        assert!(open_private_key(Some(&kek(KEK)), "k", "rot13:abc").is_err());
    }

    #[test]
    fn plain_storage_without_a_key_round_trips() {
        let stored = seal_private_key(None, "k", &Secret::from("pem")).unwrap();
        assert_eq!(stored, "plain:pem");
        assert!(!is_sealed(&stored));
        assert_eq!(
            open_private_key(None, "k", &stored).unwrap().expose(),
            "pem"
        );
    }

    #[test]
    fn a_plain_key_does_not_open_once_a_key_encryption_key_is_set() {
        let stored = seal_private_key(None, "k", &Secret::from("pem")).unwrap();
        let err = open_private_key(Some(&kek(KEK)), "k", &stored).unwrap_err();
        assert!(
            err.to_string().contains("stored unencrypted") && err.to_string().contains("\"k\""),
            "{err}"
        );
        assert_eq!(plain_private_key(&stored).unwrap().expose(), "pem");
        let sealed = seal_private_key(Some(&kek(KEK)), "k", &Secret::from("pem")).unwrap();
        assert!(plain_private_key(&sealed).is_none());
    }

    #[test]
    fn short_key_encryption_keys_are_refused() {
        let err = KeyEncryptionKey::from_secret(&Secret::from("short")).unwrap_err();
        assert_eq!(err.setting, "key_encryption_key");
    }
}
