//! Tokens: the pair of a login, what a token says, and tokens signed behind the
//! application's back.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use tessera_axum::testing::SIGNING_KEY;

/// The two tokens of a login.
#[derive(Debug, Clone)]
pub struct Pair {
    pub refresh: String,
    pub access: String,
}

/// Signs any JSON payload with the app's key under the default header.
pub fn forge(payload: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload.to_string()));
    let key = jsonwebtoken::EncodingKey::from_secret(SIGNING_KEY.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .expect("sign");
    format!("{message}.{signature}")
}

fn segment(token: &str, index: usize) -> String {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("no segment {index} in {token:?}"));
    String::from_utf8(URL_SAFE_NO_PAD.decode(part).expect("base64url segment"))
        .expect("UTF-8 segment")
}

/// The token's header, exactly as encoded.
pub fn header_text(token: &str) -> String {
    segment(token, 0)
}

/// The token's claims, in order.
pub fn claims(token: &str) -> Map<String, Value> {
    serde_json::from_str(&segment(token, 1)).expect("payload is a JSON object")
}

/// The token's claim names, in order.
pub fn claim_names(token: &str) -> Vec<String> {
    claims(token).keys().cloned().collect()
}

/// An integer claim.
#[track_caller]
pub fn int_claim(token: &str, name: &str) -> i64 {
    claims(token)[name]
        .as_i64()
        .unwrap_or_else(|| panic!("claim {name} is not an integer"))
}

/// A string claim.
#[track_caller]
pub fn str_claim(token: &str, name: &str) -> String {
    claims(token)[name]
        .as_str()
        .unwrap_or_else(|| panic!("claim {name} is not a string"))
        .to_owned()
}
