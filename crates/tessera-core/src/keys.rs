//! Signing algorithms, the keys that sign and verify tokens, and the key ring that holds them.
//!
//! A [`Key`] is one key with its algorithm and, for keys that verify by `kid`, its key id.
//! A [`KeyRing`] holds one active signing key and any number of keys that only verify
//! (published ahead of a rotation, or retired but still verifying the tokens they signed).
//! Every key carries its own algorithm: a token verifies only when its `alg` header names
//! the algorithm of the key its `kid` selects, so neither `none` nor HMAC-with-a-public-key
//! confusion can get through.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self as aws_sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::encoding::{b64, b64_decode};
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

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// A shared secret (HS*).
    Hmac,
    /// An RSA key pair (RS*, PS*).
    Rsa,
    /// An elliptic-curve key pair (ES*).
    Ec,
    /// An Edwards-curve key pair (EdDSA).
    Ed,
}

impl Algorithm {
    /// Every algorithm Tessera signs and verifies with.
    pub const ALL: [Algorithm; 12] = [
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

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

    /// The kind of key the algorithm needs.
    pub fn family(self) -> KeyFamily {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => KeyFamily::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyFamily::Rsa
            }
            Self::ES256 | Self::ES384 => KeyFamily::Ec,
            Self::EdDSA => KeyFamily::Ed,
        }
    }

    /// Whether the algorithm is a shared-secret one.
    pub fn is_hmac(self) -> bool {
        self.family() == KeyFamily::Hmac
    }

    /// Whether Tessera can sign with it: every variant can.
    pub fn is_supported(self) -> bool {
        true
    }

    /// The smallest key, in bytes, that gives an HMAC algorithm its full strength
    /// (RFC 7518 §3.2). Asymmetric algorithms answer 32, unused.
    pub fn min_secret_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
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

impl FromStr for Algorithm {
    type Err = KeyError;

    /// Parses a header name (`"RS256"`), exactly as written.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| KeyError::new(format!("{s:?} is not a supported algorithm")))
    }
}

/// A key that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl KeyError {
    /// A key error with this reason.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// The reason, without the key.
    pub fn message(&self) -> &str {
        &self.0
    }

    /// The same reason as an error about `setting`.
    pub fn for_setting(&self, setting: &str) -> SettingsError {
        SettingsError::new(setting, self.0.clone())
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// The longest key id accepted.
pub const MAX_KID_LEN: usize = 128;

/// Whether `kid` is a key id Tessera accepts: 1 to 128 characters from `A–Z a–z 0–9 . _ ~ + = : -`.
///
/// Anything else — path separators, `%`, white space, quotes, control characters — is refused
/// before any lookup, so a `kid` can never be used to reach a file or a URL.
pub fn is_valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~+=:-".contains(&b))
}

/// What signing a probe message proves: that a key pair belongs together.
const PROBE: &[u8] = b"tessera key check";

/// One key: its algorithm, its optional key id, and what it can do.
///
/// Private keys sign and verify; public keys and keys taken from a JWKS only verify.
#[derive(Clone)]
pub struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    /// The public JWK parameters (`kty`, `n`, `e`, `crv`, `x`, `y`); `None` for HMAC secrets.
    public: Option<AlgorithmParameters>,
    /// The verifying half, prepared once for the key's algorithm (shared by clones).
    verifier: Arc<Verifier>,
}

/// A key prepared for its one algorithm: the HMAC key schedule, or the parsed public key.
/// Building either costs more than checking a signature with it, so it is built once per
/// key — when the key is made — never per token. It lives behind the key's `Arc`, so the
/// size of the HMAC variant costs nothing per clone.
#[allow(clippy::large_enum_variant)]
enum Verifier {
    /// A shared secret's HMAC key; it also signs.
    Hmac(hmac::Key),
    /// A parsed RSA, ECDSA or Ed25519 public key.
    Public(ParsedPublicKey),
}

impl Verifier {
    /// The HMAC key for an HS algorithm.
    fn hmac(algorithm: Algorithm, secret: &[u8]) -> Self {
        let hash = match algorithm {
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        };
        Self::Hmac(hmac::Key::new(hash, secret))
    }

    /// The public key of `public`, parsed for `algorithm`; `None` when the parameters are
    /// not a usable key of that type (such a key could never verify a signature).
    fn public(algorithm: Algorithm, public: &AlgorithmParameters) -> Option<Self> {
        let parsed = match public {
            AlgorithmParameters::RSA(rsa) => {
                let params: &'static aws_sig::RsaParameters = match algorithm {
                    Algorithm::RS256 => &aws_sig::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &aws_sig::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &aws_sig::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &aws_sig::RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &aws_sig::RSA_PSS_2048_8192_SHA384,
                    Algorithm::PS512 => &aws_sig::RSA_PSS_2048_8192_SHA512,
                    _ => return None,
                };
                let components = RsaPublicKeyComponents {
                    n: b64_decode(&rsa.n)?,
                    e: b64_decode(&rsa.e)?,
                };
                components.to_parsed_public_key(params).ok()?
            }
            AlgorithmParameters::EllipticCurve(ec) => {
                let verification: &'static dyn aws_sig::VerificationAlgorithm = match algorithm {
                    Algorithm::ES256 => &aws_sig::ECDSA_P256_SHA256_FIXED,
                    Algorithm::ES384 => &aws_sig::ECDSA_P384_SHA384_FIXED,
                    _ => return None,
                };
                // The uncompressed point, as jsonwebtoken builds it from a JWK.
                let mut point = vec![0x04];
                point.extend(b64_decode(&ec.x)?);
                point.extend(b64_decode(&ec.y)?);
                ParsedPublicKey::new(verification, point).ok()?
            }
            AlgorithmParameters::OctetKeyPair(okp) if algorithm == Algorithm::EdDSA => {
                ParsedPublicKey::new(&aws_sig::ED25519, b64_decode(&okp.x)?).ok()?
            }
            _ => return None,
        };
        Some(Self::Public(parsed))
    }

    /// Whether `signature` (raw bytes) is valid over `message`; constant-time for HMAC.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Self::Public(key) => key.verify_sig(message, signature).is_ok(),
        }
    }
}

/// Keys are shared by every request thread.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Key>();
    send_sync::<KeyRing>();
};

impl Key {
    /// A shared secret; its bytes are the key, as in simplejwt.
    pub fn hmac(algorithm: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        if !algorithm.is_hmac() {
            return Err(KeyError::new(format!(
                "{algorithm} is not an HMAC algorithm"
            )));
        }
        if secret.is_empty() {
            return Err(KeyError::new("may not be empty"));
        }
        Ok(Self {
            kid: None,
            algorithm,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            public: None,
            verifier: Arc::new(Verifier::hmac(algorithm, secret)),
        })
    }

    /// A private key in PEM form (PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY`), for an
    /// asymmetric algorithm. The public half is derived from it.
    pub fn from_private_pem(algorithm: Algorithm, pem: &str) -> Result<Self, KeyError> {
        let bytes = pem.trim().as_bytes();
        let encoding = match algorithm.family() {
            KeyFamily::Hmac => {
                return Err(KeyError::new(format!(
                    "{algorithm} takes a shared secret, not a PEM key"
                )));
            }
            KeyFamily::Rsa => EncodingKey::from_rsa_pem(bytes),
            KeyFamily::Ec => EncodingKey::from_ec_pem(bytes),
            KeyFamily::Ed => EncodingKey::from_ed_pem(bytes),
        }
        .map_err(|_| not_a_key(algorithm, "private"))?;
        let jwk = Jwk::from_encoding_key(&encoding, algorithm.to_jsonwebtoken())
            .ok()
            .filter(|jwk| fits(algorithm, &jwk.algorithm))
            .ok_or_else(|| not_a_key(algorithm, "private"))?;
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| not_a_key(algorithm, "private"))?;
        let verifier = Verifier::public(algorithm, &jwk.algorithm)
            .ok_or_else(|| not_a_key(algorithm, "private"))?;
        let key = Self {
            kid: None,
            algorithm,
            encoding: Some(encoding),
            decoding,
            public: Some(jwk.algorithm),
            verifier: Arc::new(verifier),
        };
        key.check_pair(&key)?;
        Ok(key)
    }

    /// A public key in PEM form (`PUBLIC KEY`, or `RSA PUBLIC KEY`); it only verifies.
    pub fn from_public_pem(algorithm: Algorithm, pem: &str) -> Result<Self, KeyError> {
        let bytes = pem.trim().as_bytes();
        let decoding = match algorithm.family() {
            KeyFamily::Hmac => {
                return Err(KeyError::new(format!(
                    "{algorithm} takes a shared secret, not a PEM key"
                )));
            }
            KeyFamily::Rsa => DecodingKey::from_rsa_pem(bytes),
            KeyFamily::Ec => DecodingKey::from_ec_pem(bytes),
            KeyFamily::Ed => DecodingKey::from_ed_pem(bytes),
        }
        .map_err(|_| not_a_key(algorithm, "public"))?;
        let jwk = Jwk::from_decoding_key(&decoding, Some(algorithm.to_jsonwebtoken()))
            .ok()
            .filter(|jwk| fits(algorithm, &jwk.algorithm))
            .ok_or_else(|| not_a_key(algorithm, "public"))?;
        let verifier = Verifier::public(algorithm, &jwk.algorithm)
            .ok_or_else(|| not_a_key(algorithm, "public"))?;
        Ok(Self {
            kid: None,
            algorithm,
            encoding: None,
            decoding,
            public: Some(jwk.algorithm),
            verifier: Arc::new(verifier),
        })
    }

    /// A public key from a JWK of a JWKS document, for tokens signed with `algorithm` only.
    ///
    /// Refused: symmetric (`oct`) keys — a JWKS never carries a usable HMAC secret —, keys
    /// whose `use` is not `sig`, keys without a valid `kid`, and keys whose `alg` (or, when
    /// absent, whose type and curve) does not match `algorithm`.
    pub fn from_jwk(jwk: &Value, algorithm: Algorithm) -> Result<Self, KeyError> {
        if algorithm.is_hmac() {
            return Err(KeyError::new("HMAC keys are never taken from a JWKS"));
        }
        let parsed: Jwk = serde_json::from_value(jwk.clone())
            .map_err(|e| KeyError::new(format!("not a JWK ({e})")))?;
        let kid = parsed
            .common
            .key_id
            .clone()
            .filter(|kid| is_valid_kid(kid))
            .ok_or_else(|| KeyError::new("the JWK has no valid `kid`"))?;
        if let Some(usage) = jwk.get("use")
            && usage != "sig"
        {
            return Err(KeyError::new("the JWK is not a signing key (`use`)"));
        }
        let declared = match jwk.get("alg") {
            None => None,
            Some(Value::String(alg)) => Some(alg.parse::<Algorithm>()?),
            Some(_) => return Err(KeyError::new("the JWK's `alg` is not text")),
        };
        if let AlgorithmParameters::OctetKey(_) = parsed.algorithm {
            return Err(KeyError::new("symmetric JWKs are never accepted"));
        }
        if !fits(algorithm, &parsed.algorithm) || declared.is_some_and(|d| d != algorithm) {
            return Err(KeyError::new(format!("the JWK is not a {algorithm} key")));
        }
        let decoding =
            DecodingKey::from_jwk(&parsed).map_err(|_| not_a_key(algorithm, "public"))?;
        let verifier = Verifier::public(algorithm, &parsed.algorithm)
            .ok_or_else(|| not_a_key(algorithm, "public"))?;
        Ok(Self {
            kid: Some(kid),
            algorithm,
            encoding: None,
            decoding,
            public: Some(parsed.algorithm),
            verifier: Arc::new(verifier),
        })
    }

    /// The same key with a key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, KeyError> {
        let kid = kid.into();
        if !is_valid_kid(&kid) {
            return Err(KeyError::new(format!(
                "{kid:?} is not a key id (1–{MAX_KID_LEN} characters of A–Z a–z 0–9 . _ ~ + = : -)"
            )));
        }
        self.kid = Some(kid);
        Ok(self)
    }

    /// The key id written in the `kid` header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the key signs and verifies with — and the only one.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The verifying half, to check a JWS with `jsonwebtoken` directly (an OpenID
    /// provider's ID token, whose claims are not simplejwt's).
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Whether the key can sign (a private key or a shared secret).
    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key, base64url: the same key gets the
    /// same id on every server. `None` for HMAC secrets.
    pub fn thumbprint(&self) -> Option<String> {
        let public = self.public.clone()?;
        let jwk = Jwk {
            common: Default::default(),
            algorithm: public,
        };
        jwk.thumbprint(ThumbprintHash::SHA256).ok()
    }

    /// The public key as a JWK with `use`, `alg` and `kid`; `None` for HMAC secrets and for
    /// keys without an id — secrets are never published.
    pub fn public_jwk(&self) -> Option<Value> {
        let kid = self.kid.as_ref()?;
        let mut object = match serde_json::to_value(self.public.as_ref()?) {
            Ok(Value::Object(object)) => object,
            _ => return None,
        };
        object.insert("use".into(), Value::from("sig"));
        object.insert("alg".into(), Value::from(self.algorithm.name()));
        object.insert("kid".into(), Value::from(kid.as_str()));
        Some(Value::Object(object))
    }

    /// Checks that `other` verifies what this key signs (a verifying key for a signing key).
    pub fn check_pair(&self, other: &Key) -> Result<(), KeyError> {
        let signature = self
            .sign(PROBE)
            .ok_or_else(|| not_a_key(self.algorithm, "private"))?;
        if other.algorithm != self.algorithm
            || !other.verify(self.algorithm.name(), PROBE, &signature)
        {
            return Err(KeyError::new(
                "the verifying key does not belong to the signing key",
            ));
        }
        Ok(())
    }

    /// Signs `message`, returning the base64url signature. A shared secret signs with its
    /// prepared HMAC key; a private key through jsonwebtoken.
    pub(crate) fn sign(&self, message: &[u8]) -> Option<String> {
        let encoding = self.encoding.as_ref()?;
        if let Verifier::Hmac(key) = &*self.verifier {
            return Some(b64(hmac::sign(key, message).as_ref()));
        }
        jsonwebtoken::crypto::sign(message, encoding, self.algorithm.to_jsonwebtoken()).ok()
    }

    /// Checks a base64url signature made with `alg` over `message`: false unless `alg` is
    /// this key's own algorithm. Uses the key prepared when it was made; constant-time for
    /// HMAC.
    pub(crate) fn verify(&self, alg: &str, message: &[u8], signature: &str) -> bool {
        alg == self.algorithm.name()
            && b64_decode(signature)
                .is_some_and(|signature| self.verifier.verify(message, &signature))
    }
}

/// Whether public key parameters are of the type (and curve) `algorithm` needs.
fn fits(algorithm: Algorithm, public: &AlgorithmParameters) -> bool {
    match public {
        AlgorithmParameters::RSA(_) => algorithm.family() == KeyFamily::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => matches!(
            (ec.curve.clone(), algorithm),
            (EllipticCurve::P256, Algorithm::ES256) | (EllipticCurve::P384, Algorithm::ES384)
        ),
        AlgorithmParameters::OctetKeyPair(okp) => {
            okp.curve == EllipticCurve::Ed25519 && algorithm == Algorithm::EdDSA
        }
        _ => false,
    }
}

fn not_a_key(algorithm: Algorithm, half: &str) -> KeyError {
    let kind = match algorithm.family() {
        KeyFamily::Rsa => "an RSA (2048 bits or more)",
        KeyFamily::Ec if algorithm == Algorithm::ES256 => "a P-256",
        KeyFamily::Ec => "a P-384",
        KeyFamily::Ed => "an Ed25519",
        KeyFamily::Hmac => "an HMAC",
    };
    KeyError::new(format!(
        "is not {kind} {half} key in PEM form, as {algorithm} needs"
    ))
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

/// A new private key for `algorithm`: 64 random bytes (base64url) for HMAC, else a PKCS#8
/// PEM key (RSA 2048 bits, P-256, P-384 or Ed25519), from aws-lc's CSPRNG.
pub fn generate_private_key(algorithm: Algorithm) -> Result<Secret, KeyError> {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair,
    };
    let failed = |_| KeyError::new(format!("generating a {algorithm} key failed"));
    let der: Vec<u8> = match algorithm.family() {
        KeyFamily::Hmac => {
            let mut bytes = [0u8; 64];
            aws_lc_rs::rand::fill(&mut bytes).map_err(failed)?;
            return Ok(Secret::from(b64(&bytes)));
        }
        KeyFamily::Rsa => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(failed)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = pair.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
        KeyFamily::Ec => {
            let signing = if algorithm == Algorithm::ES256 {
                &ECDSA_P256_SHA256_FIXED_SIGNING
            } else {
                &ECDSA_P384_SHA384_FIXED_SIGNING
            };
            let pair = EcdsaKeyPair::generate(signing).map_err(failed)?;
            pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
        }
        KeyFamily::Ed => {
            // PKCS#8 v1 (48 bytes), the form jsonwebtoken reads Ed25519 keys in.
            let pair = Ed25519KeyPair::generate().map_err(failed)?;
            pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
        }
    };
    Ok(Secret::from(pem_encode("PRIVATE KEY", &der)))
}

/// PEM text: base64 in 64-character lines between `BEGIN`/`END` lines (RFC 7468).
fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The keys a server signs and verifies with: one active signing key (none for a
/// verify-only ring) and any number of keys that only verify, found by `kid`.
#[derive(Clone)]
pub struct KeyRing {
    active: Option<Arc<Key>>,
    /// The active key's header, base64url-encoded once: `{"alg":…,"kid":…,"typ":"JWT"}`.
    header_b64: String,
    /// Every key that verifies, the active one included.
    keys: Vec<Arc<Key>>,
}

impl KeyRing {
    /// A ring with one shared secret and no key id (simplejwt's `SIGNING_KEY` with an HS
    /// algorithm). The secret's UTF-8 bytes are the key, as in simplejwt.
    pub fn hmac(algorithm: Algorithm, secret: &Secret) -> Result<Self, SettingsError> {
        let key = Key::hmac(algorithm, secret.expose().as_bytes()).map_err(|e| {
            let setting = if algorithm.is_hmac() {
                "signing_key"
            } else {
                "algorithm"
            };
            e.for_setting(setting)
        })?;
        Self::new(key, []).map_err(|e| e.for_setting("signing_key"))
    }

    /// A ring that signs with `active` and also verifies with `others`.
    ///
    /// Every key but the active one needs a key id, and ids are unique: a token is matched
    /// to its key by `kid` alone.
    pub fn new(active: Key, others: impl IntoIterator<Item = Key>) -> Result<Self, KeyError> {
        if !active.can_sign() {
            return Err(KeyError::new("the active key cannot sign (a public key)"));
        }
        let header = header_json(&active);
        let active = Arc::new(active);
        let mut ring = Self {
            active: Some(active.clone()),
            header_b64: b64(header.as_bytes()),
            keys: vec![active],
        };
        for key in others {
            ring.add(key)?;
        }
        Ok(ring)
    }

    /// A ring that only verifies (a service that checks tokens another server issues).
    pub fn verify_only(keys: impl IntoIterator<Item = Key>) -> Result<Self, KeyError> {
        let mut ring = Self {
            active: None,
            header_b64: String::new(),
            keys: Vec::new(),
        };
        for key in keys {
            ring.add(key)?;
        }
        Ok(ring)
    }

    fn add(&mut self, key: Key) -> Result<(), KeyError> {
        let Some(kid) = key.kid() else {
            return Err(KeyError::new("a verifying key needs a key id"));
        };
        if self.find(kid).is_some() {
            return Err(KeyError::new(format!("two keys have the id {kid:?}")));
        }
        self.keys.push(Arc::new(key));
        Ok(())
    }

    /// The active signing key, if the ring signs.
    pub fn active(&self) -> Option<&Key> {
        self.active.as_deref()
    }

    /// The algorithm tokens are signed with, if the ring signs.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.active().map(Key::algorithm)
    }

    /// Every key that verifies, the active one first.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().map(|k| &**k)
    }

    /// The key with this id.
    pub fn find(&self, kid: &str) -> Option<&Key> {
        self.keys().find(|k| k.kid() == Some(kid))
    }

    /// The JWKS document of the ring's public keys: `{"keys": [...]}`. HMAC secrets are
    /// never in it.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys().filter_map(Key::public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }

    pub(crate) fn header_b64(&self) -> Option<&str> {
        self.active.as_ref().map(|_| self.header_b64.as_str())
    }

    /// The active key when `header_b64` is, byte for byte, the header this ring writes —
    /// what every token it signed carries — so that the header need not be decoded.
    pub(crate) fn own_header(&self, header_b64: &str) -> Option<&Key> {
        self.active
            .as_deref()
            .filter(|_| header_b64.as_bytes() == self.header_b64.as_bytes())
    }

    /// Signs `message` (`header.payload`) with the active key.
    pub(crate) fn sign(&self, message: &[u8]) -> Option<String> {
        self.active()?.sign(message)
    }

    /// The key a token names: by `kid` when it has one, else the active key only.
    pub(crate) fn lookup(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.find(kid),
            None => self.active(),
        }
    }
}

/// The header PyJWT writes: keys sorted — `alg`, `kid`, `typ`.
fn header_json(key: &Key) -> String {
    let alg = key.algorithm().name();
    match key.kid() {
        Some(kid) => format!(
            r#"{{"alg":"{alg}","kid":{},"typ":"JWT"}}"#,
            Value::from(kid)
        ),
        None => format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active().map(|k| (k.kid(), k.algorithm())))
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod tests;
