//! Signing and verifying tokens with every algorithm, each next to the bare cryptographic
//! primitive (jsonwebtoken's `crypto::sign`/`verify` on the same bytes and key) measured in
//! the same run, plus claim building and parsing.
//!
//! Run with `cargo bench -p tessera-core --bench tokens`.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, EncodingKey};
use tessera_core::{Algorithm, Key, KeyRing, Settings, Timestamp, Token, TokenBackend, TokenKind};

const NOW: Timestamp = Timestamp::from_secs(1_795_000_000);
const SECRET: &str = "a-benchmark-signing-secret-of-sixty-four-bytes-for-hs512-keys!!";

/// The key files of the core's tests: one per family.
fn pem(name: &str) -> &'static str {
    match name {
        "rsa" => include_str!("../src/keys/testdata/rsa2048.pem"),
        "rsa.pub" => include_str!("../src/keys/testdata/rsa2048.pub.pem"),
        "ec256" => include_str!("../src/keys/testdata/ec256.pem"),
        "ec256.pub" => include_str!("../src/keys/testdata/ec256.pub.pem"),
        "ec384" => include_str!("../src/keys/testdata/ec384.pem"),
        "ec384.pub" => include_str!("../src/keys/testdata/ec384.pub.pem"),
        "ed25519" => include_str!("../src/keys/testdata/ed25519.pem"),
        "ed25519.pub" => include_str!("../src/keys/testdata/ed25519.pub.pem"),
        _ => unreachable!("no such key file"),
    }
}

/// The backend, and the same key as jsonwebtoken's own types, for one algorithm.
fn setup(
    algorithm: Algorithm,
) -> (
    TokenBackend,
    EncodingKey,
    DecodingKey,
    jsonwebtoken::Algorithm,
) {
    use jsonwebtoken::Algorithm as J;
    let (key, encoding, decoding, raw) = match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let key = Key::hmac(algorithm, SECRET.as_bytes()).unwrap();
            let raw = match algorithm {
                Algorithm::HS256 => J::HS256,
                Algorithm::HS384 => J::HS384,
                _ => J::HS512,
            };
            (
                key,
                EncodingKey::from_secret(SECRET.as_bytes()),
                DecodingKey::from_secret(SECRET.as_bytes()),
                raw,
            )
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            let raw = match algorithm {
                Algorithm::RS256 => J::RS256,
                Algorithm::RS384 => J::RS384,
                Algorithm::RS512 => J::RS512,
                Algorithm::PS256 => J::PS256,
                Algorithm::PS384 => J::PS384,
                _ => J::PS512,
            };
            (
                Key::from_private_pem(algorithm, pem("rsa")).unwrap(),
                EncodingKey::from_rsa_pem(pem("rsa").as_bytes()).unwrap(),
                DecodingKey::from_rsa_pem(pem("rsa.pub").as_bytes()).unwrap(),
                raw,
            )
        }
        Algorithm::ES256 | Algorithm::ES384 => {
            let (private, public, raw) = if algorithm == Algorithm::ES256 {
                ("ec256", "ec256.pub", J::ES256)
            } else {
                ("ec384", "ec384.pub", J::ES384)
            };
            (
                Key::from_private_pem(algorithm, pem(private)).unwrap(),
                EncodingKey::from_ec_pem(pem(private).as_bytes()).unwrap(),
                DecodingKey::from_ec_pem(pem(public).as_bytes()).unwrap(),
                raw,
            )
        }
        Algorithm::EdDSA => (
            Key::from_private_pem(algorithm, pem("ed25519")).unwrap(),
            EncodingKey::from_ed_pem(pem("ed25519").as_bytes()).unwrap(),
            DecodingKey::from_ed_pem(pem("ed25519.pub").as_bytes()).unwrap(),
            J::EdDSA,
        ),
    };
    let settings = Settings {
        algorithm,
        ..Settings::default()
    };
    let backend = TokenBackend::new(KeyRing::new(key, []).unwrap(), &settings);
    (backend, encoding, decoding, raw)
}

fn access_token(backend: &TokenBackend) -> Token {
    let mut refresh = Token::for_user(backend, TokenKind::refresh(), "42", NOW);
    refresh.insert("sid", "0123456789abcdef0123456789abcdef");
    refresh.access_token(backend, NOW)
}

fn sign_and_verify(c: &mut Criterion) {
    let algorithms = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    for algorithm in algorithms {
        let (backend, encoding, decoding, raw_alg) = setup(algorithm);
        let token = access_token(&backend);
        let text = backend.encode(&token).unwrap();
        let (message, signature) = text.rsplit_once('.').unwrap();

        let mut group = c.benchmark_group(format!("sign/{}", algorithm.name()));
        group.bench_function("tessera", |b| {
            b.iter(|| backend.encode(black_box(&token)).unwrap())
        });
        group.bench_function("primitive", |b| {
            b.iter(|| {
                jsonwebtoken::crypto::sign(black_box(message.as_bytes()), &encoding, raw_alg)
                    .unwrap()
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("verify/{}", algorithm.name()));
        group.bench_function("tessera", |b| {
            b.iter(|| {
                backend
                    .decode(&TokenKind::access(), black_box(&text), NOW)
                    .unwrap()
            })
        });
        group.bench_function("primitive", |b| {
            b.iter(|| {
                jsonwebtoken::crypto::verify(
                    black_box(signature),
                    message.as_bytes(),
                    &decoding,
                    raw_alg,
                )
                .unwrap()
            })
        });
        if algorithm == Algorithm::HS256 {
            // The bare HMAC itself, its key prepared once: the floor of any HS256 check.
            let prepared =
                aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
            let tag = URL_SAFE_NO_PAD.decode(signature).unwrap();
            group.bench_function("hmac, key prepared (aws-lc)", |b| {
                b.iter(|| {
                    aws_lc_rs::hmac::verify(&prepared, black_box(message.as_bytes()), &tag).unwrap()
                })
            });
        }
        group.finish();
    }
}

fn claims(c: &mut Criterion) {
    let (backend, ..) = setup(Algorithm::HS256);
    let token = access_token(&backend);
    let payload = serde_json::to_vec(token.payload()).unwrap();
    let encoded = URL_SAFE_NO_PAD.encode(&payload);
    let mut group = c.benchmark_group("claims");
    group.bench_function("build access from refresh", |b| {
        b.iter(|| {
            let mut refresh = Token::for_user(&backend, TokenKind::refresh(), black_box("42"), NOW);
            refresh.insert("sid", "0123456789abcdef0123456789abcdef");
            refresh.access_token(&backend, NOW)
        })
    });
    group.bench_function("encode payload (json + base64url)", |b| {
        b.iter(|| URL_SAFE_NO_PAD.encode(serde_json::to_vec(black_box(token.payload())).unwrap()))
    });
    group.bench_function("parse payload (json only)", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(black_box(
                &payload,
            ))
            .unwrap()
        })
    });
    group.bench_function("decode payload (base64url + json)", |b| {
        b.iter(|| {
            let bytes = URL_SAFE_NO_PAD.decode(black_box(&encoded)).unwrap();
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, sign_and_verify, claims);
criterion_main!(benches);
