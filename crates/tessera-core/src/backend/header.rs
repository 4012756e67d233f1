//! The JOSE header of a token, read for what the backend needs — `alg`, `kid`, and whether
//! a parameter the backend refuses is present — without building a map of it.
//!
//! It accepts exactly the headers a `serde_json::Map` would (any JSON object, every value
//! checked as `serde_json::Value` checks it, a repeated name keeping its last value), so
//! reading it this way changes no token's fate.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::encoding::b64_decode;
use crate::error::TokenError;
use crate::keys::is_valid_kid;

/// Header parameters that point at keys outside the ring (RFC 7515 §4.1.2–4.1.6). Honouring
/// them would let a token choose its own key, so a token carrying one is invalid.
const FOREIGN_KEY_HEADERS: [&str; 5] = ["jku", "jwk", "x5u", "x5c", "x5t#S256"];

/// What the backend reads from a token's header.
#[derive(Debug)]
pub(super) struct Header<'a> {
    alg: Field<'a>,
    kid: Field<'a>,
    /// `crit` or one of [`FOREIGN_KEY_HEADERS`] is present.
    refused: bool,
}

impl<'a> Header<'a> {
    /// Decodes a base64url header segment; `Token is invalid` unless it is a JSON object.
    /// The header's text is borrowed from `buffer`, which holds the decoded bytes.
    pub(super) fn decode(segment: &str, buffer: &'a mut Vec<u8>) -> Result<Self, TokenError> {
        *buffer = b64_decode(segment).ok_or(TokenError::Invalid)?;
        let bytes: &'a Vec<u8> = buffer;
        serde_json::from_slice(bytes).map_err(|_| TokenError::Invalid)
    }

    /// The `alg` and the `kid` (if any) a token may be verified with: `Token is invalid`
    /// when `alg` is not text, when `kid` is present but not a valid key id, or when the
    /// header carries `crit` or a parameter naming a key outside the ring.
    pub(super) fn checked(&self) -> Result<(&str, Option<&str>), TokenError> {
        let Field::Text(alg) = &self.alg else {
            return Err(TokenError::Invalid);
        };
        if self.refused {
            return Err(TokenError::Invalid);
        }
        let kid = match &self.kid {
            Field::Absent => None,
            Field::Text(kid) if is_valid_kid(kid) => Some(kid.as_ref()),
            _ => return Err(TokenError::Invalid),
        };
        Ok((alg, kid))
    }

    /// The `kid` when it is text (valid or not).
    pub(super) fn kid(&self) -> Option<&str> {
        match &self.kid {
            Field::Text(kid) => Some(kid),
            _ => None,
        }
    }
}

/// A header parameter the backend reads: absent, text, or any other JSON value.
#[derive(Debug)]
enum Field<'a> {
    Absent,
    Text(Cow<'a, str>),
    Other,
}

impl<'de> Deserialize<'de> for Header<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = Header {
            alg: Field::Absent,
            kid: Field::Absent,
            refused: false,
        };
        while let Some(Name(name)) = map.next_key()? {
            match name.as_ref() {
                "alg" => header.alg = map.next_value()?,
                "kid" => header.kid = map.next_value()?,
                other => {
                    header.refused |= other == "crit" || FOREIGN_KEY_HEADERS.contains(&other);
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(header)
    }
}

/// A parameter name, borrowed unless it holds escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a parameter name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Text(Cow::Owned(v)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        CheckedVisitor.visit_seq(seq).map(|_| Field::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        CheckedVisitor.visit_map(map).map(|_| Field::Other)
    }
}

/// Any JSON value, parsed as fully as `serde_json::Value` parses it (numbers in range,
/// strings well-formed, the same depth limit) but kept nowhere.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Claims;
    use crate::encoding::b64;

    /// The map-based reading this module replaces: `alg`, `kid` and the refusals read from a
    /// `serde_json::Map`.
    fn by_map(json: &str) -> Result<(String, Option<String>), TokenError> {
        let header: Claims = match serde_json::from_str::<serde_json::Value>(json) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(TokenError::Invalid),
        };
        let Some(serde_json::Value::String(alg)) = header.get("alg") else {
            return Err(TokenError::Invalid);
        };
        if header.contains_key("crit")
            || FOREIGN_KEY_HEADERS.iter().any(|h| header.contains_key(*h))
        {
            return Err(TokenError::Invalid);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(serde_json::Value::String(kid)) if is_valid_kid(kid) => Some(kid.clone()),
            Some(_) => return Err(TokenError::Invalid),
        };
        Ok((alg.clone(), kid))
    }

    fn by_struct(json: &str) -> Result<(String, Option<String>), TokenError> {
        let mut buffer = Vec::new();
        let header = Header::decode(&b64(json.as_bytes()), &mut buffer)?;
        let (alg, kid) = header.checked()?;
        Ok((alg.to_owned(), kid.map(str::to_owned)))
    }

    #[test]
    fn reads_every_header_as_the_map_did() {
        let cases = [
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"RS256","kid":"k-1","typ":"JWT"}"#,
            r#"{"alg":"none"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":5}"#,
            r#"{"alg":null}"#,
            r#"{"alg":["HS256"]}"#,
            r#"{"alg":"HS256","kid":""}"#,
            r#"{"alg":"HS256","kid":"../etc/passwd"}"#,
            r#"{"alg":"HS256","kid":7}"#,
            r#"{"alg":"HS256","kid":{"a":1}}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","jku":"https://evil.example/jwks"}"#,
            r#"{"alg":"HS256","jwk":{"kty":"oct"}}"#,
            r#"{"alg":"HS256","x5u":null}"#,
            r#"{"alg":"HS256","x5c":[]}"#,
            r#"{"alg":"HS256","x5t#S256":"x"}"#,
            r#"{"alg":"HS256","x5t":"x"}"#,
            // a repeated name keeps its last value, as in a map
            r#"{"alg":"none","alg":"HS256"}"#,
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"alg":"HS256","kid":5,"kid":"k"}"#,
            r#"{"alg":"HS256","kid":"k","kid":5}"#,
            // escapes in names and values
            r#"{"\u0061lg":"HS256"}"#,
            r#"{"alg":"HS\u0032\u00356"}"#,
            r#"{"alg":"HS256","\u006aku":"x"}"#,
            r#"{"alg":"HS256","kid":"k\u002d1"}"#,
            // values a `Value` refuses
            r#"{"alg":"HS256","x":1e999}"#,
            r#"{"alg":"HS256","x":"\ud800"}"#,
            r#"{"alg":"HS256","x":[1,2,{"y":-1.5e3}],"z":true}"#,
            // not an object, or not only one
            r#"["alg","HS256"]"#,
            r#""HS256""#,
            r#"{"alg":"HS256"} {}"#,
            r#"{"alg":"HS256",}"#,
            r#" {"alg" : "HS256"} "#,
            "",
        ];
        for json in cases {
            assert_eq!(by_struct(json), by_map(json), "{json}");
        }
        let deep = format!(
            r#"{{"alg":"HS256","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(by_struct(&deep), by_map(&deep));
        assert_eq!(by_map(&deep), Err(TokenError::Invalid));
    }

    #[test]
    fn refuses_what_is_not_base64url_json() {
        let mut buffer = Vec::new();
        assert!(Header::decode("eyJhbGciOiJIUzI1NiJ9=", &mut buffer).is_err());
        assert!(Header::decode("not*base64", &mut buffer).is_err());
        assert!(Header::decode(&b64(&[0xff, 0xfe]), &mut buffer).is_err());
    }
}
