//! Unit tests of the token backend: encoding, decoding and every check PyJWT applies,
//! key rings and key sources.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::encoding::b64;
use crate::keys::Algorithm;

/// The tests' "now", in whole seconds as claims count it…
const NOW: i64 = 1_700_000_000;
/// …and as the instant the backend is given.
const AT: Timestamp = Timestamp::from_secs(NOW);

fn settings() -> Settings {
    Settings {
        signing_key: Some("test-signing-key-of-at-least-32-bytes".into()),
        ..Settings::default()
    }
}

fn backend() -> TokenBackend {
    TokenBackend::from_settings(&settings()).unwrap()
}

/// Signs an arbitrary header and payload with the backend's key.
fn forge(backend: &TokenBackend, header: Value, payload: Value) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signature = backend.keys().sign(message.as_bytes()).unwrap();
    format!("{message}.{signature}")
}

fn access_payload(exp: i64, iat: i64) -> Value {
    json!({"token_type": "access", "exp": exp, "iat": iat, "jti": "abc", "user_id": "1"})
}

fn hs256() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

#[test]
fn header_is_sorted_like_pyjwt_and_payload_keeps_claim_order() {
    let b = backend();
    let raw = b
        .encode(&Token::for_user(&b, TokenKind::access(), "7", AT))
        .unwrap();
    let mut parts = raw.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload: Claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let keys: Vec<_> = payload.keys().map(String::as_str).collect();
    assert_eq!(keys, ["token_type", "exp", "iat", "jti", "user_id"]);
    assert_eq!(payload["user_id"], json!("7"));
    assert_eq!(payload["exp"], json!(NOW + 300));
}

#[test]
fn exp_equal_to_now_is_expired() {
    let b = backend();
    let raw = forge(&b, hs256(), access_payload(NOW, NOW - 10));
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::Expired
    );
    assert!(
        b.decode(&TokenKind::access(), &raw, AT.add_secs(-1))
            .is_ok()
    );
}

#[test]
fn leeway_extends_exp_and_tolerates_future_iat() {
    let b = TokenBackend::from_settings(&Settings {
        leeway: Duration::from_secs(5),
        ..settings()
    })
    .unwrap();
    let raw = forge(&b, hs256(), access_payload(NOW - 4, NOW - 100));
    assert!(b.decode(&TokenKind::access(), &raw, AT).is_ok());
    let raw = forge(&b, hs256(), access_payload(NOW - 5, NOW - 100));
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::Expired
    );
    let raw = forge(&b, hs256(), access_payload(NOW + 100, NOW + 5));
    assert!(b.decode(&TokenKind::access(), &raw, AT).is_ok());
    let raw = forge(&b, hs256(), access_payload(NOW + 100, NOW + 6));
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::Invalid
    );
}

#[test]
fn future_iat_and_nbf_are_invalid() {
    let b = backend();
    let raw = forge(&b, hs256(), access_payload(NOW + 100, NOW + 1));
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::Invalid
    );
    let mut payload = access_payload(NOW + 100, NOW);
    payload["nbf"] = json!(NOW + 1);
    let raw = forge(&b, hs256(), payload);
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::Invalid
    );
}

#[test]
fn missing_exp_jti_and_type_have_their_own_messages() {
    let b = backend();
    let raw = forge(
        &b,
        hs256(),
        json!({"token_type": "access", "jti": "a", "user_id": "1"}),
    );
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT)
            .unwrap_err()
            .to_string(),
        "Token has no 'exp' claim"
    );
    let raw = forge(
        &b,
        hs256(),
        json!({"token_type": "access", "exp": NOW + 9, "user_id": "1"}),
    );
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::NoId
    );
    let raw = forge(&b, hs256(), json!({"exp": NOW + 9, "jti": "a"}));
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::NoType
    );
    let raw = forge(
        &b,
        hs256(),
        json!({"token_type": "refresh", "exp": NOW + 9, "jti": "a"}),
    );
    assert_eq!(
        b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
        TokenError::WrongType
    );
}

#[test]
fn untyped_decoding_ignores_the_type_but_not_exp_or_jti() {
    let b = backend();
    let raw = forge(
        &b,
        hs256(),
        json!({"token_type": "refresh", "exp": NOW + 9, "jti": "a"}),
    );
    assert!(b.decode_untyped(&raw, AT).is_ok());
    let raw = forge(&b, hs256(), json!({"exp": NOW + 9}));
    assert_eq!(b.decode_untyped(&raw, AT).unwrap_err(), TokenError::NoId);
    let raw = forge(&b, hs256(), json!({"exp": NOW, "jti": "a"}));
    assert_eq!(b.decode_untyped(&raw, AT).unwrap_err(), TokenError::Expired);
}

#[test]
fn only_the_configured_algorithm_is_accepted() {
    let b = backend();
    let payload = access_payload(NOW + 100, NOW);
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "HS512", "typ": "JWT"}),
        json!({"alg": "RS256", "typ": "JWT"}),
        json!({"typ": "JWT"}),
        json!({"alg": "HS256", "crit": ["exp"]}),
        json!({"alg": "HS256", "kid": "other"}),
    ] {
        let raw = forge(&b, header.clone(), payload.clone());
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
            TokenError::Invalid,
            "{header}"
        );
    }
    // An unsigned token ("alg":"none" with an empty signature).
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(payload.to_string().as_bytes())
    );
    assert_eq!(
        b.decode(&TokenKind::access(), &unsigned, AT).unwrap_err(),
        TokenError::Invalid
    );
}

#[test]
fn tampering_and_garbage_are_invalid_never_a_panic() {
    let b = backend();
    let raw = b
        .encode(&Token::for_user(&b, TokenKind::access(), "1", AT))
        .unwrap();
    let (head, sig) = raw.rsplit_once('.').unwrap();
    let (header, _) = head.split_once('.').unwrap();
    let forged_payload = b64(access_payload(NOW + 100, NOW)
        .to_string()
        .replace("\"1\"", "\"2\"")
        .as_bytes());
    for garbage in [
        String::new(),
        ".".into(),
        "..".into(),
        "a.b.c".into(),
        format!("{header}.{forged_payload}.{sig}"),
        format!("{raw}."),
        format!("{raw}x"),
        raw.replace('.', ".."),
        "x".repeat(MAX_TOKEN_LEN + 1),
        forge(&b, hs256(), json!([1, 2])),
        forge(
            &b,
            hs256(),
            json!({"exp": "tomorrow", "jti": "a", "token_type": "access"}),
        ),
    ] {
        assert_eq!(
            b.decode(&TokenKind::access(), &garbage, AT).unwrap_err(),
            TokenError::Invalid,
            "{garbage}"
        );
    }
    assert!(b.decode(&TokenKind::access(), &raw, AT).is_ok());
    // Extreme numbers are compared, not converted: far-future exp and far-past iat are fine.
    let extreme = forge(
        &b,
        hs256(),
        json!({"exp": 1e300, "iat": -1e300, "jti": "a", "token_type": "access"}),
    );
    assert!(b.decode(&TokenKind::access(), &extreme, AT).is_ok());
}

#[test]
fn another_key_is_invalid() {
    let other = TokenBackend::from_settings(&Settings {
        signing_key: Some("another-key".into()),
        ..settings()
    })
    .unwrap();
    let raw = other
        .encode(&Token::for_user(&other, TokenKind::access(), "1", AT))
        .unwrap();
    assert_eq!(
        backend()
            .decode(&TokenKind::access(), &raw, AT)
            .unwrap_err(),
        TokenError::Invalid
    );
}

#[test]
fn hs384_and_hs512_round_trip() {
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let b = TokenBackend::from_settings(&Settings {
            algorithm,
            ..settings()
        })
        .unwrap();
        let raw = b
            .encode(&Token::for_user(&b, TokenKind::access(), "1", AT))
            .unwrap();
        assert!(
            b.decode(&TokenKind::access(), &raw, AT).is_ok(),
            "{algorithm}"
        );
        assert_eq!(
            backend()
                .decode(&TokenKind::access(), &raw, AT)
                .unwrap_err(),
            TokenError::Invalid
        );
    }
}

#[test]
fn audience_and_issuer_are_written_and_required() {
    let s = Settings {
        audience: Some(Audience::One("api".into())),
        issuer: Some("https://auth.example".into()),
        ..settings()
    };
    let b = TokenBackend::from_settings(&s).unwrap();
    let raw = b
        .encode(&Token::for_user(&b, TokenKind::access(), "1", AT))
        .unwrap();
    let payload: Claims = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(raw.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let keys: Vec<_> = payload.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["token_type", "exp", "iat", "jti", "user_id", "aud", "iss"]
    );
    assert!(b.decode(&TokenKind::access(), &raw, AT).is_ok());

    let mut wrong = access_payload(NOW + 100, NOW);
    wrong["iss"] = json!("https://auth.example");
    assert_eq!(
        b.decode(&TokenKind::access(), &forge(&b, hs256(), wrong.clone()), AT),
        Err(TokenError::Invalid)
    );
    wrong["aud"] = json!(["other", "api"]);
    assert!(
        b.decode(&TokenKind::access(), &forge(&b, hs256(), wrong.clone()), AT)
            .is_ok()
    );
    wrong["aud"] = json!("other");
    assert_eq!(
        b.decode(&TokenKind::access(), &forge(&b, hs256(), wrong.clone()), AT),
        Err(TokenError::Invalid)
    );
    wrong["aud"] = json!("api");
    wrong["iss"] = json!("https://evil.example");
    assert_eq!(
        b.decode(&TokenKind::access(), &forge(&b, hs256(), wrong), AT),
        Err(TokenError::Invalid)
    );
}

fn pem_key(algorithm: Algorithm, kid: &str) -> Key {
    crate::keys::tests::private_key(algorithm)
        .with_kid(kid)
        .unwrap()
}

fn ring_backend(active: Key, others: Vec<Key>) -> TokenBackend {
    TokenBackend::new(KeyRing::new(active, others).unwrap(), &settings())
}

/// Signs `header.payload` with `key`, whatever the header says.
fn forge_with(key: &Key, header: Value, payload: Value) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signature = key.sign(message.as_bytes()).unwrap();
    format!("{message}.{signature}")
}

#[test]
fn asymmetric_tokens_carry_a_sorted_header_with_kid_and_verify_by_it() {
    for alg in Algorithm::ALL.into_iter().filter(|a| !a.is_hmac()) {
        let b = ring_backend(pem_key(alg, "k1"), vec![]);
        let raw = b
            .encode(&Token::for_user(&b, TokenKind::access(), "1", AT))
            .unwrap();
        let header = URL_SAFE_NO_PAD
            .decode(raw.split('.').next().unwrap())
            .unwrap();
        let expected = format!(r#"{{"alg":"{alg}","kid":"k1","typ":"JWT"}}"#);
        assert_eq!(String::from_utf8(header).unwrap(), expected);
        assert!(b.decode(&TokenKind::access(), &raw, AT).is_ok(), "{alg}");
    }
}

#[test]
fn rotation_keeps_old_tokens_valid_and_new_ones_verifiable() {
    let old = pem_key(Algorithm::RS256, "old");
    let new = pem_key(Algorithm::EdDSA, "new");
    let b = ring_backend(old.clone(), vec![]);
    let before = b
        .encode(&Token::for_user(&b, TokenKind::access(), "1", AT))
        .unwrap();
    // The new key is published (verifies) before it signs …
    b.set_keys(KeyRing::new(old.clone(), [new.clone()]).unwrap());
    let clone = b.clone();
    // … then signs, the old key still verifying.
    b.set_keys(KeyRing::new(new.clone(), [old]).unwrap());
    let after = clone
        .encode(&Token::for_user(&b, TokenKind::access(), "1", AT))
        .unwrap();
    assert!(after.starts_with(&b64(br#"{"alg":"EdDSA","kid":"new","typ":"JWT"}"#)));
    for raw in [&before, &after] {
        assert!(clone.decode(&TokenKind::access(), raw, AT).is_ok());
    }
    // Once the old key drops out, its tokens are invalid.
    b.set_keys(KeyRing::new(new, []).unwrap());
    assert_eq!(
        b.decode(&TokenKind::access(), &before, AT).unwrap_err(),
        TokenError::Invalid
    );
    assert!(b.decode(&TokenKind::access(), &after, AT).is_ok());
}

/// A token whose header is byte for byte the ring's own (so it takes the short way to the
/// active key) but which another key of the same algorithm and kid signed is invalid.
#[test]
fn the_rings_own_header_signed_by_another_key_is_invalid() {
    let victim = ring_backend(pem_key(Algorithm::RS256, "k1"), vec![]);
    let generated = crate::keys::generate_private_key(Algorithm::RS256).unwrap();
    let impostor_key = Key::from_private_pem(Algorithm::RS256, generated.expose())
        .unwrap()
        .with_kid("k1")
        .unwrap();
    let impostor = ring_backend(impostor_key, vec![]);
    let own = victim
        .encode(&Token::for_user(&victim, TokenKind::access(), "1", AT))
        .unwrap();
    let forged = impostor
        .encode(&Token::for_user(&impostor, TokenKind::access(), "1", AT))
        .unwrap();
    assert_eq!(
        own.split('.').next(),
        forged.split('.').next(),
        "same header bytes"
    );
    assert!(victim.decode(&TokenKind::access(), &own, AT).is_ok());
    assert_eq!(
        victim
            .decode(&TokenKind::access(), &forged, AT)
            .unwrap_err(),
        TokenError::Invalid
    );
}

#[test]
fn kid_tricks_are_invalid() {
    let active = pem_key(Algorithm::RS256, "active");
    // Another RSA key pair than the fixture's.
    let generated = crate::keys::generate_private_key(Algorithm::RS256).unwrap();
    let retired = Key::from_private_pem(Algorithm::RS256, generated.expose())
        .unwrap()
        .with_kid("retired")
        .unwrap();
    let b = ring_backend(active.clone(), vec![retired.clone()]);
    let payload = access_payload(NOW + 100, NOW);
    let header = |extra: Value| {
        let mut h = json!({"alg": "RS256", "typ": "JWT"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    // Sanity: both keys verify their own tokens.
    assert!(
        b.decode(
            &TokenKind::access(),
            &forge_with(&active, header(json!({"kid": "active"})), payload.clone()),
            AT
        )
        .is_ok()
    );
    assert!(
        b.decode(
            &TokenKind::access(),
            &forge_with(&retired, header(json!({"kid": "retired"})), payload.clone()),
            AT
        )
        .is_ok()
    );
    let cases = [
        ("unknown kid", &active, header(json!({"kid": "nobody"}))),
        (
            "kid with a path",
            &active,
            header(json!({"kid": "../active"})),
        ),
        (
            "kid with a slash",
            &active,
            header(json!({"kid": "keys/active"})),
        ),
        ("kid not text", &active, header(json!({"kid": 1}))),
        (
            "kid of another key",
            &active,
            header(json!({"kid": "retired"})),
        ),
        // Without kid only the active key is tried.
        ("no kid, retired key", &retired, header(json!({}))),
        (
            "jku",
            &active,
            header(json!({"kid": "active", "jku": "https://evil.example/jwks"})),
        ),
        (
            "x5u",
            &active,
            header(json!({"kid": "active", "x5u": "https://evil.example/cert"})),
        ),
        (
            "jwk",
            &active,
            header(json!({"kid": "active", "jwk": {"kty": "oct", "k": "AA"}})),
        ),
        (
            "x5c",
            &active,
            header(json!({"kid": "active", "x5c": ["MII"]})),
        ),
    ];
    for (name, key, header) in cases {
        let raw = forge_with(key, header, payload.clone());
        assert_eq!(
            b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
            TokenError::Invalid,
            "{name}"
        );
    }
    assert!(
        b.decode(
            &TokenKind::access(),
            &forge_with(&active, header(json!({})), payload),
            AT
        )
        .is_ok()
    );
}

#[test]
fn hmac_signed_with_the_public_key_is_invalid() {
    // The classic confusion: an attacker signs HS256 with the server's public key bytes.
    let public_pem = include_str!("../keys/testdata/rsa2048.pub.pem");
    let b = ring_backend(pem_key(Algorithm::RS256, "rsa"), vec![]);
    let jwk_text = b.keys().jwks().to_string();
    let payload = access_payload(NOW + 100, NOW);
    for secret in [public_pem.as_bytes(), jwk_text.as_bytes()] {
        let hmac = Key::hmac(Algorithm::HS256, secret).unwrap();
        for header in [
            json!({"alg": "HS256", "kid": "rsa", "typ": "JWT"}),
            json!({"alg": "HS256", "typ": "JWT"}),
        ] {
            let raw = forge_with(&hmac, header.clone(), payload.clone());
            assert_eq!(
                b.decode(&TokenKind::access(), &raw, AT).unwrap_err(),
                TokenError::Invalid,
                "{header}"
            );
        }
    }
    // And `none` with the kid of a real key.
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","kid":"rsa"}"#),
        b64(payload.to_string().as_bytes())
    );
    assert_eq!(
        b.decode(&TokenKind::access(), &unsigned, AT).unwrap_err(),
        TokenError::Invalid
    );
}

#[test]
fn a_key_source_verifies_kids_the_ring_does_not_hold() {
    let remote_key = pem_key(Algorithm::ES256, "remote");
    let public = Key::from_jwk(&remote_key.public_jwk().unwrap(), Algorithm::ES256).unwrap();
    let source = crate::jwks::StaticKeys(
        [("remote".to_owned(), Arc::new(public))]
            .into_iter()
            .collect(),
    );
    let verifier = TokenBackend::new(KeyRing::verify_only([]).unwrap(), &settings());
    verifier.set_key_source(Arc::new(source)).unwrap();
    assert!(
        verifier
            .set_key_source(Arc::new(crate::jwks::StaticKeys::default()))
            .is_err()
    );
    assert!(!verifier.can_sign());
    let payload = access_payload(NOW + 100, NOW);
    let good = forge_with(
        &remote_key,
        json!({"alg": "ES256", "kid": "remote"}),
        payload.clone(),
    );
    assert!(verifier.decode(&TokenKind::access(), &good, AT).is_ok());
    assert_eq!(verifier.unknown_kid(&good), None);
    let unknown = forge_with(
        &remote_key,
        json!({"alg": "ES256", "kid": "later"}),
        payload.clone(),
    );
    assert_eq!(verifier.unknown_kid(&unknown).as_deref(), Some("later"));
    assert_eq!(
        verifier
            .decode(&TokenKind::access(), &unknown, AT)
            .unwrap_err(),
        TokenError::Invalid
    );
    let pathy = forge_with(
        &remote_key,
        json!({"alg": "ES256", "kid": "../x"}),
        payload.clone(),
    );
    assert_eq!(verifier.unknown_kid(&pathy), None);
    let no_kid = forge_with(&remote_key, json!({"alg": "ES256"}), payload);
    assert_eq!(
        verifier
            .decode(&TokenKind::access(), &no_kid, AT)
            .unwrap_err(),
        TokenError::Invalid
    );
    assert_eq!(
        backend().unknown_kid(&good),
        None,
        "no key source, nothing to fetch"
    );
}

#[test]
fn pem_keys_come_from_settings_with_a_matching_verifying_key() {
    let s = Settings {
        algorithm: Algorithm::RS256,
        signing_key: Some(include_str!("../keys/testdata/rsa2048.pem").into()),
        verifying_key: include_str!("../keys/testdata/rsa2048.pub.pem").into(),
        ..Settings::default()
    };
    let b = TokenBackend::from_settings(&s).unwrap();
    let kid = b.keys().active().unwrap().kid().unwrap().to_owned();
    assert_eq!(kid.len(), 43, "the RFC 7638 thumbprint: {kid}");
    let raw = b
        .encode(&Token::for_user(&b, TokenKind::access(), "1", AT))
        .unwrap();
    assert!(b.decode(&TokenKind::access(), &raw, AT).is_ok());
    let named = TokenBackend::from_settings(&Settings {
        signing_key_id: Some("2026-11".into()),
        ..s.clone()
    })
    .unwrap();
    assert_eq!(named.keys().active().unwrap().kid(), Some("2026-11"));
    let mismatched = Settings {
        verifying_key: include_str!("../keys/testdata/ec256.pub.pem").into(),
        ..s.clone()
    };
    assert_eq!(
        TokenBackend::from_settings(&mismatched)
            .unwrap_err()
            .setting,
        "verifying_key"
    );
    let wrong = Settings {
        algorithm: Algorithm::ES256,
        verifying_key: String::new(),
        ..s.clone()
    };
    let err = TokenBackend::from_settings(&wrong).unwrap_err();
    assert_eq!(err.setting, "signing_key", "{err}");
    let store = Settings {
        key_source: crate::settings::KeyOrigin::Store,
        signing_key: None,
        verifying_key: String::new(),
        ..s
    };
    let empty = TokenBackend::from_settings(&store).unwrap();
    assert!(!empty.can_sign() && empty.keys().keys().next().is_none());
}

#[test]
fn a_missing_signing_key_is_a_settings_error() {
    assert_eq!(
        TokenBackend::from_settings(&Settings::default())
            .unwrap_err()
            .setting,
        "signing_key"
    );
}
