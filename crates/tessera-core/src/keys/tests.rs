//! Keys for every algorithm, known-answer vectors made by PyJWT, JWK import and export.
//!
//! `testdata/` holds the PEM keys (made with `openssl genpkey`) and `vectors.json`, tokens
//! PyJWT 2.15 signed with them (`testdata/make_vectors.py`).

use super::*;

const HMAC_SECRET: &str = "known-answer-secret-of-at-least-64-bytes-for-every-hmac-algorithm!!";
const RSA: &str = include_str!("testdata/rsa2048.pem");
const RSA_PKCS1: &str = include_str!("testdata/rsa2048.pkcs1.pem");
const RSA_PUB: &str = include_str!("testdata/rsa2048.pub.pem");
const EC256: &str = include_str!("testdata/ec256.pem");
const EC256_PUB: &str = include_str!("testdata/ec256.pub.pem");
const EC384: &str = include_str!("testdata/ec384.pem");
const EC384_PUB: &str = include_str!("testdata/ec384.pub.pem");
const ED25519: &str = include_str!("testdata/ed25519.pem");
const ED25519_PUB: &str = include_str!("testdata/ed25519.pub.pem");
const VECTORS: &str = include_str!("testdata/vectors.json");

/// The fixture private key for `algorithm` (the shared secret for HMAC).
pub(crate) fn private_key(algorithm: Algorithm) -> Key {
    match algorithm.family() {
        KeyFamily::Hmac => Key::hmac(algorithm, HMAC_SECRET.as_bytes()).unwrap(),
        KeyFamily::Rsa => Key::from_private_pem(algorithm, RSA).unwrap(),
        KeyFamily::Ec if algorithm == Algorithm::ES256 => {
            Key::from_private_pem(algorithm, EC256).unwrap()
        }
        KeyFamily::Ec => Key::from_private_pem(algorithm, EC384).unwrap(),
        KeyFamily::Ed => Key::from_private_pem(algorithm, ED25519).unwrap(),
    }
}

/// The fixture public key for an asymmetric `algorithm`.
pub(crate) fn public_key(algorithm: Algorithm) -> Key {
    let pem = match algorithm.family() {
        KeyFamily::Rsa => RSA_PUB,
        KeyFamily::Ec if algorithm == Algorithm::ES256 => EC256_PUB,
        KeyFamily::Ec => EC384_PUB,
        KeyFamily::Ed => ED25519_PUB,
        KeyFamily::Hmac => panic!("no public key for {algorithm}"),
    };
    Key::from_public_pem(algorithm, pem).unwrap()
}

fn asymmetric() -> impl Iterator<Item = Algorithm> {
    Algorithm::ALL.into_iter().filter(|a| !a.is_hmac())
}

#[test]
fn every_algorithm_signs_and_verifies() {
    for alg in Algorithm::ALL {
        let key = private_key(alg);
        let sig = key.sign(b"a.b").unwrap();
        assert!(key.verify(alg.name(), b"a.b", &sig), "{alg}");
        assert!(
            !key.verify(alg.name(), b"a.c", &sig),
            "{alg}: other message"
        );
        assert!(!key.verify("none", b"a.b", &sig), "{alg}: none");
        assert!(
            !key.verify("", b"a.b", "") && !key.verify("none", b"a.b", ""),
            "{alg}"
        );
        for other in Algorithm::ALL.into_iter().filter(|o| *o != alg) {
            assert!(!key.verify(other.name(), b"a.b", &sig), "{alg} as {other}");
        }
        if !alg.is_hmac() {
            let public = public_key(alg);
            assert!(public.verify(alg.name(), b"a.b", &sig), "{alg}: public key");
            assert!(!public.can_sign() && public.sign(b"a.b").is_none(), "{alg}");
        }
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
fn pyjwt_vectors_verify_and_deterministic_signatures_match_exactly() {
    let vectors: Vec<Value> = serde_json::from_str(VECTORS).unwrap();
    assert_eq!(vectors.len(), Algorithm::ALL.len());
    for vector in vectors {
        let alg: Algorithm = vector["alg"].as_str().unwrap().parse().unwrap();
        let token = vector["token"].as_str().unwrap();
        let (message, signature) = token.rsplit_once('.').unwrap();
        let key = private_key(alg).with_kid("kat").unwrap();
        // Tessera writes the same header bytes PyJWT does.
        let header = message.split('.').next().unwrap();
        assert_eq!(
            header,
            crate::encoding::b64(header_json(&key).as_bytes()),
            "{alg}"
        );
        assert!(
            key.verify(alg.name(), message.as_bytes(), signature),
            "{alg}"
        );
        if !alg.is_hmac() {
            assert!(
                public_key(alg).verify(alg.name(), message.as_bytes(), signature),
                "{alg}"
            );
        }
        // HS*, RS* (PKCS#1 v1.5) and Ed25519 are deterministic: the same bytes as PyJWT.
        // PS* and ES* use fresh randomness in every signature.
        let deterministic = !matches!(alg.family(), KeyFamily::Ec)
            && !matches!(alg, Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512);
        if deterministic {
            assert_eq!(key.sign(message.as_bytes()).unwrap(), signature, "{alg}");
        }
    }
}

#[test]
fn pkcs1_rsa_keys_are_read_too() {
    let pkcs1 = Key::from_private_pem(Algorithm::RS256, RSA_PKCS1).unwrap();
    let pkcs8 = private_key(Algorithm::RS256);
    assert_eq!(pkcs1.thumbprint(), pkcs8.thumbprint());
    pkcs1.check_pair(&public_key(Algorithm::RS256)).unwrap();
}

#[test]
fn keys_that_do_not_fit_the_algorithm_are_refused() {
    for (alg, pem) in [
        (Algorithm::ES256, EC384),
        (Algorithm::ES384, EC256),
        (Algorithm::RS256, ED25519),
        (Algorithm::EdDSA, RSA),
        (Algorithm::PS256, EC256),
        (Algorithm::RS256, "not a pem"),
        (Algorithm::RS256, RSA_PUB),
    ] {
        let err = Key::from_private_pem(alg, pem).unwrap_err();
        assert!(err.to_string().contains(alg.name()), "{alg}: {err}");
    }
    assert!(Key::from_private_pem(Algorithm::HS256, RSA).is_err());
    assert!(Key::from_public_pem(Algorithm::ES256, EC384_PUB).is_err());
    assert!(Key::hmac(Algorithm::RS256, b"secret").is_err());
    assert!(Key::hmac(Algorithm::HS256, b"").is_err());
    // A verifying key of another pair is caught.
    let other = Key::from_public_pem(Algorithm::ES384, EC384_PUB).unwrap();
    assert!(private_key(Algorithm::ES256).check_pair(&other).is_err());
}

#[test]
fn generated_keys_work_for_every_algorithm() {
    for alg in Algorithm::ALL {
        let secret = generate_private_key(alg).unwrap();
        let key = if alg.is_hmac() {
            assert!(secret.expose().len() >= 64, "{alg}");
            Key::hmac(alg, secret.expose().as_bytes()).unwrap()
        } else {
            assert!(
                secret.expose().starts_with("-----BEGIN PRIVATE KEY-----\n"),
                "{alg}"
            );
            Key::from_private_pem(alg, secret.expose()).unwrap()
        };
        let sig = key.sign(b"m").unwrap();
        assert!(key.verify(alg.name(), b"m", &sig), "{alg}");
        assert_ne!(
            generate_private_key(alg).unwrap(),
            secret,
            "{alg}: fresh every time"
        );
    }
}

#[test]
fn the_jwks_holds_public_keys_only_with_kid_alg_and_use() {
    let mut keys = vec![];
    for alg in asymmetric() {
        keys.push(private_key(alg).with_kid(format!("k-{alg}")).unwrap());
    }
    let hmac = private_key(Algorithm::HS256)
        .with_kid("secret-kid")
        .unwrap();
    let ring = KeyRing::new(hmac, keys).unwrap();
    let jwks = ring.jwks();
    let list = jwks["keys"].as_array().unwrap();
    assert_eq!(list.len(), 9, "{jwks}");
    for jwk in list {
        let alg = jwk["alg"].as_str().unwrap();
        assert_eq!(jwk["kid"], format!("k-{alg}"));
        assert_eq!(jwk["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(jwk.get(private).is_none(), "{alg} publishes {private}");
        }
    }
    assert!(!jwks.to_string().contains("secret-kid"));
    let ed = list.iter().find(|k| k["alg"] == "EdDSA").unwrap();
    assert_eq!(
        (ed["kty"].as_str(), ed["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let rsa = list.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(
        (rsa["kty"].as_str(), rsa["e"].as_str()),
        (Some("RSA"), Some("AQAB"))
    );
}

#[test]
fn jwks_keys_round_trip_and_verify_what_the_private_key_signs() {
    for alg in asymmetric() {
        let private = private_key(alg).with_kid("k1").unwrap();
        let jwk = private.public_jwk().unwrap();
        let public = Key::from_jwk(&jwk, alg).unwrap();
        assert_eq!(public.kid(), Some("k1"));
        assert!(!public.can_sign());
        private.check_pair(&public).unwrap();
        assert_eq!(public.thumbprint(), private.thumbprint(), "{alg}");
    }
}

#[test]
fn unusable_jwks_entries_are_refused() {
    let rsa = private_key(Algorithm::RS256)
        .with_kid("k1")
        .unwrap()
        .public_jwk()
        .unwrap();
    let mut cases = vec![];
    let mut encryption = rsa.clone();
    encryption["use"] = "enc".into();
    cases.push(("use enc", encryption, Algorithm::RS256));
    cases.push(("other alg", rsa.clone(), Algorithm::PS256));
    cases.push(("other family", rsa.clone(), Algorithm::ES256));
    let mut no_kid = rsa.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    cases.push(("no kid", no_kid, Algorithm::RS256));
    let mut path_kid = rsa.clone();
    path_kid["kid"] = "../../keys/k1".into();
    cases.push(("path kid", path_kid, Algorithm::RS256));
    cases.push((
        "oct",
        serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"}),
        Algorithm::RS256,
    ));
    cases.push((
        "hmac wanted",
        serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"}),
        Algorithm::HS256,
    ));
    let es384 = private_key(Algorithm::ES384)
        .with_kid("e")
        .unwrap()
        .public_jwk()
        .unwrap();
    let mut mislabeled = es384.clone();
    mislabeled["alg"] = "ES256".into();
    cases.push(("curve P-384 as ES256", mislabeled, Algorithm::ES256));
    cases.push(("not a jwk", serde_json::json!("text"), Algorithm::RS256));
    for (name, jwk, alg) in cases {
        assert!(Key::from_jwk(&jwk, alg).is_err(), "{name}");
    }
    // Without `alg`, the key type and curve decide.
    let mut no_alg = es384;
    no_alg.as_object_mut().unwrap().remove("alg");
    assert!(Key::from_jwk(&no_alg, Algorithm::ES384).is_ok());
}

#[test]
fn a_ring_needs_a_signing_key_and_unique_kids() {
    assert!(KeyRing::new(public_key(Algorithm::RS256).with_kid("p").unwrap(), []).is_err());
    let active = private_key(Algorithm::EdDSA).with_kid("a").unwrap();
    assert!(KeyRing::new(active.clone(), [public_key(Algorithm::RS256)]).is_err());
    assert!(
        KeyRing::new(
            active.clone(),
            [public_key(Algorithm::RS256).with_kid("a").unwrap()]
        )
        .is_err()
    );
    let ring = KeyRing::new(
        active,
        [public_key(Algorithm::RS256).with_kid("b").unwrap()],
    )
    .unwrap();
    assert_eq!(ring.algorithm(), Some(Algorithm::EdDSA));
    assert_eq!(ring.lookup(None).and_then(Key::kid), Some("a"));
    assert_eq!(
        ring.lookup(Some("b")).map(Key::algorithm),
        Some(Algorithm::RS256)
    );
    assert!(ring.lookup(Some("c")).is_none());
    let verify_only =
        KeyRing::verify_only([public_key(Algorithm::RS256).with_kid("b").unwrap()]).unwrap();
    assert!(verify_only.active().is_none() && verify_only.lookup(None).is_none());
    assert!(verify_only.sign(b"m").is_none());
}

#[test]
fn headers_are_sorted_like_pyjwts() {
    let hmac = private_key(Algorithm::HS256);
    assert_eq!(header_json(&hmac), r#"{"alg":"HS256","typ":"JWT"}"#);
    let ed = private_key(Algorithm::EdDSA).with_kid("2026-01").unwrap();
    assert_eq!(
        header_json(&ed),
        r#"{"alg":"EdDSA","kid":"2026-01","typ":"JWT"}"#
    );
}

#[test]
fn kids_with_path_or_odd_characters_are_refused() {
    for good in ["a", "2026-11-23.1", "kid_x~y+z=:", &"k".repeat(MAX_KID_LEN)] {
        assert!(is_valid_kid(good), "{good}");
    }
    for bad in [
        "",
        "../etc/passwd",
        "a/b",
        "a\\b",
        "%2e%2e",
        "a b",
        "a\nb",
        "\"",
        "é",
        &"k".repeat(MAX_KID_LEN + 1),
    ] {
        assert!(!is_valid_kid(bad), "{bad:?}");
        assert!(
            private_key(Algorithm::HS256).with_kid(bad).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn algorithms_parse_from_their_header_names_only() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.name().parse::<Algorithm>().unwrap(), alg);
    }
    for bad in ["none", "hs256", "ES512", ""] {
        assert!(bad.parse::<Algorithm>().is_err(), "{bad}");
    }
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
