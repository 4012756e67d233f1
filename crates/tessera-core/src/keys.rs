//! Signing algorithms and the keys that sign and verify tokens.

use std::fmt;

use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::error::SettingsError;
use crate::secret::Secret;

/// A JWS algorithm, named as in the token header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// The name written in the `alg` header.
    pub fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether the algorithm is a shared-secret one.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// Whether Tessera can sign with it today (HMAC; asymmetric keys are not wired yet).
    pub fn is_supported(self) -> bool {
        self.is_hmac()
    }

    /// The smallest key, in bytes, that gives the algorithm its full strength (RFC 7518 §3.2).
    pub fn min_secret_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }

    fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::HS256 => A::HS256,
            Self::HS384 => A::HS384,
            Self::HS512 => A::HS512,
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The keys a server signs and verifies with: one signing key, with its algorithm.
///
/// Key ids and several verifying keys come with asymmetric algorithms; the header layout
/// already leaves room for a `kid`.
#[derive(Clone)]
pub struct KeyRing {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The header JSON, base64url-encoded once: `{"alg":"HS256","typ":"JWT"}`.
    header_b64: String,
}

impl KeyRing {
    /// A ring with one shared secret (simplejwt's `SIGNING_KEY` with an HS algorithm).
    /// The secret's UTF-8 bytes are the key, as in simplejwt.
    pub fn hmac(algorithm: Algorithm, secret: &Secret) -> Result<Self, SettingsError> {
        if !algorithm.is_hmac() {
            return Err(SettingsError::new(
                "algorithm",
                format!("{algorithm} is not an HMAC algorithm"),
            ));
        }
        if secret.expose().is_empty() {
            return Err(SettingsError::new("signing_key", "may not be empty"));
        }
        let bytes = secret.expose().as_bytes();
        // PyJWT writes header keys sorted: alg, kid, typ.
        let header = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, algorithm.name());
        Ok(Self {
            algorithm,
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            header_b64: crate::backend::b64(header.as_bytes()),
        })
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(crate) fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// Signs `message` (`header.payload`), returning the base64url signature.
    pub(crate) fn sign(&self, message: &[u8]) -> Option<String> {
        jsonwebtoken::crypto::sign(message, &self.encoding, self.algorithm.to_jsonwebtoken()).ok()
    }

    /// Checks a base64url signature over `message`; constant-time for HMAC.
    pub(crate) fn verify(
        &self,
        alg: &str,
        kid: Option<&str>,
        message: &[u8],
        signature: &str,
    ) -> bool {
        if alg != self.algorithm.name() || kid.is_some() {
            return false;
        }
        jsonwebtoken::crypto::verify(
            signature,
            message,
            &self.decoding,
            self.algorithm.to_jsonwebtoken(),
        )
        .unwrap_or(false)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hmac_algorithm_signs_and_verifies() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let ring = KeyRing::hmac(alg, &"secret".into()).unwrap();
            let sig = ring.sign(b"a.b").unwrap();
            assert!(ring.verify(alg.name(), None, b"a.b", &sig), "{alg}");
            assert!(!ring.verify(alg.name(), None, b"a.c", &sig), "{alg}");
            assert!(!ring.verify("none", None, b"a.b", &sig), "{alg}");
        }
    }

    #[test]
    fn hs256_matches_a_known_vector() {
        // Computed independently with Python: base64url(hmac_sha256(b"secret", message)), as
        // PyJWT signs jwt.encode({"sub": "1"}, "secret").
        let ring = KeyRing::hmac(Algorithm::HS256, &"secret".into()).unwrap();
        let message = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0";
        assert_eq!(
            ring.sign(message).unwrap(),
            "8qZF8vbN3UpcanXFc-mPXJkOPN01-bRch8XX3rToP1U"
        );
    }

    #[test]
    fn asymmetric_algorithms_are_refused_for_hmac() {
        assert_eq!(
            KeyRing::hmac(Algorithm::RS256, &"x".into())
                .unwrap_err()
                .setting,
            "algorithm"
        );
        assert_eq!(
            KeyRing::hmac(Algorithm::HS256, &"".into())
                .unwrap_err()
                .setting,
            "signing_key"
        );
    }
}
