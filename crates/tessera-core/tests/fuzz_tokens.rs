//! Fuzz target: token decoding. Arbitrary text and structured near-JWTs (random header and
//! payload JSON, every base64 variant, one to five segments, genuine, foreign and mutated
//! signatures) go through `TokenBackend::decode` and `decode_untyped` for an HMAC key and
//! three asymmetric keys. Decoding never panics, and a token is accepted only when an
//! independent verifier (jsonwebtoken's own `crypto::verify`, with the backend's key and
//! algorithm) confirms the backend's key signed it under the header's algorithm.
//!
//! Cases per property: 256, or `PROPTEST_CASES` (`scripts/fuzz` runs a million).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};
#[path = "support/fuzz.rs"]
mod support;

use support::fuzz;
use tessera_core::{Algorithm, Settings, Timestamp, Token, TokenBackend, TokenKind};

const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);
const HMAC_SECRET: &str = "fuzz-target-hmac-secret-that-is-long-enough-0123456789";
const ED25519: &str = include_str!("../src/keys/testdata/ed25519.pem");
const ED25519_PUB: &str = include_str!("../src/keys/testdata/ed25519.pub.pem");
const RSA: &str = include_str!("../src/keys/testdata/rsa2048.pem");
const RSA_PUB: &str = include_str!("../src/keys/testdata/rsa2048.pub.pem");
const EC256: &str = include_str!("../src/keys/testdata/ec256.pem");
const EC256_PUB: &str = include_str!("../src/keys/testdata/ec256.pub.pem");

/// A backend and what the independent check needs to recognise its signatures.
struct Subject {
    backend: TokenBackend,
    algorithm: Algorithm,
    jwt_alg: jsonwebtoken::Algorithm,
    encoding: jsonwebtoken::EncodingKey,
    decoding: jsonwebtoken::DecodingKey,
    /// A key of the same algorithm that the backend does not hold.
    foreign: jsonwebtoken::EncodingKey,
    kid: Option<String>,
}

fn subjects() -> Vec<Subject> {
    use jsonwebtoken::{DecodingKey as D, EncodingKey as E};
    let hmac = |algorithm, jwt_alg| {
        subject(
            algorithm,
            HMAC_SECRET,
            jwt_alg,
            E::from_secret(HMAC_SECRET.as_bytes()),
            D::from_secret(HMAC_SECRET.as_bytes()),
            E::from_secret(b"another-secret-of-an-attacker-0123456789abcdef"),
        )
    };
    let other_ed = tessera_core::generate_private_key(Algorithm::EdDSA).unwrap();
    let other_ec = tessera_core::generate_private_key(Algorithm::ES256).unwrap();
    vec![
        hmac(Algorithm::HS256, jsonwebtoken::Algorithm::HS256),
        hmac(Algorithm::HS512, jsonwebtoken::Algorithm::HS512),
        subject(
            Algorithm::EdDSA,
            ED25519,
            jsonwebtoken::Algorithm::EdDSA,
            E::from_ed_pem(ED25519.as_bytes()).unwrap(),
            D::from_ed_pem(ED25519_PUB.as_bytes()).unwrap(),
            E::from_ed_pem(other_ed.expose().as_bytes()).unwrap(),
        ),
        subject(
            Algorithm::ES256,
            EC256,
            jsonwebtoken::Algorithm::ES256,
            E::from_ec_pem(EC256.as_bytes()).unwrap(),
            D::from_ec_pem(EC256_PUB.as_bytes()).unwrap(),
            E::from_ec_pem(other_ec.expose().as_bytes()).unwrap(),
        ),
        subject(
            Algorithm::RS256,
            RSA,
            jsonwebtoken::Algorithm::RS256,
            E::from_rsa_pem(RSA.as_bytes()).unwrap(),
            D::from_rsa_pem(RSA_PUB.as_bytes()).unwrap(),
            // An attacker's HMAC "signature" keyed with the public key (algorithm confusion).
            E::from_secret(RSA_PUB.as_bytes()),
        ),
    ]
}

fn subject(
    algorithm: Algorithm,
    key: &str,
    jwt_alg: jsonwebtoken::Algorithm,
    encoding: jsonwebtoken::EncodingKey,
    decoding: jsonwebtoken::DecodingKey,
    foreign: jsonwebtoken::EncodingKey,
) -> Subject {
    let settings = Settings {
        algorithm,
        signing_key: Some(key.into()),
        ..Settings::default()
    };
    let backend = TokenBackend::from_settings(&settings).unwrap();
    let kid = backend
        .keys()
        .active()
        .and_then(|k| k.kid().map(str::to_owned));
    Subject {
        backend,
        algorithm,
        jwt_alg,
        encoding,
        decoding,
        foreign,
        kid,
    }
}

/// Every way the backend decodes; `Ok` kinds are returned for the acceptance check.
fn decode_all(backend: &TokenBackend, raw: &str) -> Vec<&'static str> {
    let mut accepted = Vec::new();
    for (name, kind) in [
        ("access", TokenKind::access()),
        ("refresh", TokenKind::refresh()),
        ("sliding", TokenKind::sliding()),
    ] {
        if backend.decode(&kind, raw, NOW).is_ok() {
            accepted.push(name);
        }
    }
    if backend.decode_untyped(raw, NOW).is_ok() {
        accepted.push("untyped");
    }
    let _ = backend.unknown_kid(raw);
    let _ = backend.refresh_for(raw).is_some();
    accepted
}

/// Whether `raw` is a compact JWS that the subject's key signed under the header's `alg`,
/// judged without Tessera's code.
fn genuinely_signed(subject: &Subject, raw: &str) -> bool {
    let mut parts = raw.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let header_alg = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_owned));
    if header_alg.as_deref() != Some(subject.algorithm.name()) {
        return false;
    }
    let message = &raw[..header.len() + 1 + payload.len()];
    jsonwebtoken::crypto::verify(
        signature,
        message.as_bytes(),
        &subject.decoding,
        subject.jwt_alg,
    )
    .unwrap_or(false)
}

fn check(subject: &Subject, raw: &str) -> Result<(), TestCaseError> {
    let accepted = decode_all(&subject.backend, raw);
    if !accepted.is_empty() && !genuinely_signed(subject, raw) {
        return Err(TestCaseError::fail(format!(
            "{} accepted a token its key did not sign ({accepted:?}): {raw:?}",
            subject.algorithm.name()
        )));
    }
    Ok(())
}

// ---- structured near-JWTs ----

/// How a segment is encoded.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    UrlNoPad,
    UrlPadded,
    Standard,
    StandardNoPad,
    Raw,
}

fn encode(encoding: Encoding, bytes: &[u8]) -> String {
    match encoding {
        Encoding::UrlNoPad => URL_SAFE_NO_PAD.encode(bytes),
        Encoding::UrlPadded => URL_SAFE.encode(bytes),
        Encoding::Standard => STANDARD.encode(bytes),
        Encoding::StandardNoPad => STANDARD_NO_PAD.encode(bytes),
        Encoding::Raw => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        6 => Just(Encoding::UrlNoPad),
        1 => Just(Encoding::UrlPadded),
        1 => Just(Encoding::Standard),
        1 => Just(Encoding::StandardNoPad),
        1 => Just(Encoding::Raw),
    ]
}

/// Any JSON value, small and nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A claim value that is usually plausible and sometimes anything.
fn claim(plausible: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        6 => plausible.prop_map(Some),
        2 => json_value().prop_map(Some),
    ]
    .boxed()
}

fn epoch(offset: std::ops::Range<i64>) -> impl Strategy<Value = Value> {
    prop_oneof![
        offset.prop_map(|o| Value::from(NOW.as_secs() + o)),
        any::<i64>().prop_map(Value::from),
        (0.0f64..4e9).prop_map(|f| json!(f)),
        Just(json!(1e308)),
        Just(json!(u64::MAX)),
        Just(json!("1800000000")),
    ]
}

fn header(alg_names: Vec<&'static str>) -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        8 => prop::sample::select(alg_names).prop_map(Value::from),
        1 => prop::sample::select(vec!["none", "None", "NONE", "", "hs256", "HS256 ", "EdDSA\0"])
            .prop_map(Value::from),
        1 => json_value(),
    ];
    let extra = prop::sample::select(vec![
        "typ", "kid", "crit", "jku", "jwk", "x5u", "x5c", "x5t#S256", "cty", "b64", "zip", "x",
    ]);
    (
        prop::option::weighted(0.95, alg),
        prop::collection::vec((extra, json_value()), 0..3),
        prop::option::of(prop_oneof![
            ".{0,20}".prop_map(Value::from),
            "[A-Za-z0-9_-]{120,140}".prop_map(Value::from),
            json_value(),
        ]),
    )
        .prop_map(|(alg, extra, kid)| {
            let mut map = Map::new();
            if let Some(alg) = alg {
                map.insert("alg".into(), alg);
            }
            map.insert("typ".into(), "JWT".into());
            for (name, value) in extra {
                map.insert(name.into(), value);
            }
            if let Some(kid) = kid {
                map.insert("kid".into(), kid);
            }
            Value::Object(map)
        })
}

fn payload() -> impl Strategy<Value = Value> {
    (
        claim(
            prop::sample::select(vec!["access", "refresh", "sliding", "Access", ""])
                .prop_map(Value::from),
        ),
        claim("[0-9a-f]{32}".prop_map(Value::from)),
        claim(prop_oneof![
            "[0-9]{1,4}".prop_map(Value::from),
            any::<i64>().prop_map(Value::from)
        ]),
        claim(epoch(-100..100_000)),
        claim(epoch(-100_000..100)),
        claim(epoch(-100_000..100_000)),
        prop::collection::vec((".{0,8}", json_value()), 0..3),
    )
        .prop_map(|(token_type, jti, user_id, exp, iat, nbf, extra)| {
            let mut map = Map::new();
            for (name, value) in [
                ("token_type", token_type),
                ("exp", exp),
                ("iat", iat),
                ("nbf", nbf),
                ("jti", jti),
                ("user_id", user_id),
            ] {
                if let Some(value) = value {
                    map.insert(name.into(), value);
                }
            }
            for (name, value) in extra {
                map.insert(name, value);
            }
            Value::Object(map)
        })
}

/// Where the signature comes from.
#[derive(Debug, Clone)]
enum Signature {
    /// The backend's own key over the message (the header's `alg` may still be wrong).
    Genuine,
    /// A key the backend does not hold, same algorithm family (or the public key as an
    /// HMAC secret, for RSA).
    Foreign,
    /// Random bytes.
    Random(Vec<u8>),
    /// Nothing.
    Empty,
}

fn signature() -> impl Strategy<Value = Signature> {
    prop_oneof![
        4 => Just(Signature::Genuine),
        2 => Just(Signature::Foreign),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Signature::Random),
        1 => Just(Signature::Empty),
    ]
}

/// A change to the finished text.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    /// Replace the byte at (index mod length) with a character.
    Replace(usize, char),
    /// Cut at (index mod length).
    Truncate(usize),
    /// Append text.
    Append(String),
    /// Keep only some segments, or repeat one.
    Segments(Vec<usize>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        2 => (any::<usize>(), prop::sample::select(vec!['A', 'B', '_', '-', '.', '=', '+', '/', ' ', '\0', 'é']))
            .prop_map(|(i, c)| Mutation::Replace(i, c)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => ".{0,8}".prop_map(Mutation::Append),
        1 => prop::collection::vec(0usize..4, 0..6).prop_map(Mutation::Segments),
    ]
}

#[derive(Debug, Clone)]
struct NearJwt {
    subject: usize,
    header: Value,
    header_kid: bool,
    payload: Value,
    encodings: (Encoding, Encoding),
    signature: Signature,
    mutation: Mutation,
}

fn near_jwt(subjects: usize) -> impl Strategy<Value = NearJwt> {
    let algs = vec![
        "HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "ES384", "EdDSA",
    ];
    (
        0..subjects,
        header(algs),
        any::<bool>(),
        payload(),
        (encoding(), encoding()),
        signature(),
        mutation(),
    )
        .prop_map(
            |(subject, header, header_kid, payload, encodings, signature, mutation)| NearJwt {
                subject,
                header,
                header_kid,
                payload,
                encodings,
                signature,
                mutation,
            },
        )
}

fn build(subject: &Subject, case: &NearJwt) -> String {
    let mut header = case.header.clone();
    // Often the backend's own `alg` and `kid`, so that genuine signatures get far.
    if case.header_kid
        && let Value::Object(map) = &mut header
    {
        map.insert("alg".into(), subject.algorithm.name().into());
        match &subject.kid {
            Some(kid) => map.insert("kid".into(), kid.clone().into()),
            None => map.remove("kid"),
        };
    }
    let header = serde_json::to_vec(&header).unwrap();
    let payload = serde_json::to_vec(&case.payload).unwrap();
    let mut text = encode(case.encodings.0, &header);
    text.push('.');
    text.push_str(&encode(case.encodings.1, &payload));
    let signature = match &case.signature {
        Signature::Genuine => {
            jsonwebtoken::crypto::sign(text.as_bytes(), &subject.encoding, subject.jwt_alg).unwrap()
        }
        Signature::Foreign => {
            let alg = match subject.algorithm {
                Algorithm::RS256 => jsonwebtoken::Algorithm::HS256,
                _ => subject.jwt_alg,
            };
            jsonwebtoken::crypto::sign(text.as_bytes(), &subject.foreign, alg).unwrap()
        }
        Signature::Random(bytes) => URL_SAFE_NO_PAD.encode(bytes),
        Signature::Empty => String::new(),
    };
    text.push('.');
    text.push_str(&signature);
    mutate(text, &case.mutation)
}

fn mutate(text: String, mutation: &Mutation) -> String {
    match mutation {
        Mutation::None => text,
        Mutation::Replace(i, c) => {
            let mut chars: Vec<char> = text.chars().collect();
            if !chars.is_empty() {
                let i = i % chars.len();
                chars[i] = *c;
            }
            chars.into_iter().collect()
        }
        Mutation::Truncate(i) => {
            let chars: Vec<char> = text.chars().collect();
            let cut = if chars.is_empty() { 0 } else { i % chars.len() };
            chars[..cut].iter().collect()
        }
        Mutation::Append(tail) => text + tail,
        Mutation::Segments(picks) => {
            let segments: Vec<&str> = text.split('.').collect();
            picks
                .iter()
                .map(|&i| segments.get(i).copied().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(".")
        }
    }
}

#[test]
fn arbitrary_text_never_decodes_and_never_panics() {
    let subjects = subjects();
    let text = prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_=+/-]{0,64}(\\.[A-Za-z0-9_=+/-]{0,64}){0,5}",
        "eyJ[A-Za-z0-9_-]{0,80}\\.eyJ[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,90}",
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        // Longer than the token limit, in one piece or in three.
        (8_100usize..8_400).prop_map(|n| format!(
            "{}.{}.{}",
            "e".repeat(n / 2),
            "y".repeat(n / 2),
            "J"
        )),
    ];
    fuzz("token_text", 256, (0..subjects.len(), text), |(i, raw)| {
        check(&subjects[i], &raw)
    });
}

#[test]
fn near_jwts_are_accepted_only_when_the_key_signed_them() {
    let subjects = subjects();
    fuzz("token_near_jwt", 256, near_jwt(subjects.len()), |case| {
        let subject = &subjects[case.subject];
        let raw = build(subject, &case);
        check(subject, &raw)
    });
}

#[test]
fn mutated_genuine_tokens_are_refused_unless_unchanged() {
    let subjects = subjects();
    let strategy = (0..subjects.len(), any::<u64>(), mutation(), 0..4usize);
    fuzz(
        "token_mutation",
        256,
        strategy,
        |(i, user, mutation, kind)| {
            let subject = &subjects[i];
            let kind = [
                TokenKind::access(),
                TokenKind::refresh(),
                TokenKind::sliding(),
                TokenKind::access(),
            ][kind]
                .clone();
            let token = Token::for_user(&subject.backend, kind.clone(), &user.to_string(), NOW);
            let raw = subject.backend.encode(&token).unwrap();
            // The oracle works: an untouched token is accepted as its own kind.
            prop_assert!(subject.backend.decode(&kind, &raw, NOW).is_ok());
            let mutated = mutate(raw.clone(), &mutation);
            check(subject, &mutated)?;
            if mutated != raw {
                let accepted = decode_all(&subject.backend, &mutated);
                prop_assert!(
                    accepted.is_empty(),
                    "a changed token was accepted ({accepted:?}): {raw:?} -> {mutated:?}"
                );
            }
            Ok(())
        },
    );
}

/// The acceptance check has teeth: a backend that trusts a key the check does not know (as
/// a backend accepting a forged token would) is caught on the first token it accepts.
#[test]
fn the_acceptance_check_catches_a_backend_that_trusts_another_key() {
    let attacker = b"another-secret-of-an-attacker-0123456789abcdef";
    let mut subject = subjects().remove(0);
    let settings = Settings {
        signing_key: Some(std::str::from_utf8(attacker).unwrap().into()),
        ..Settings::default()
    };
    subject.backend = TokenBackend::from_settings(&settings).unwrap();
    let token = Token::for_user(&subject.backend, TokenKind::access(), "1", NOW);
    let forged = subject.backend.encode(&token).unwrap();
    assert!(check(&subject, &forged).is_err());
    // And the same check passes what the real key signed.
    let real = subjects().remove(0);
    let token = Token::for_user(&real.backend, TokenKind::access(), "1", NOW);
    assert!(check(&real, &real.backend.encode(&token).unwrap()).is_ok());
}
