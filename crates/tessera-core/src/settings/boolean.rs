//! Switches in settings, spelt as Django projects spell them in `.env` files: a boolean, or
//! the text django-environ's `env.bool` reads as one, in any case — `true`/`false`,
//! `True`/`False`, `1`/`0`, `yes`/`no`, `y`/`n`, `on`/`off` (and `ok`, which it reads as
//! true). Anything else is refused with a message that lists the accepted spellings, so a
//! typo such as `DEBUG=Flase` never quietly becomes either value.
//!
//! Use `#[serde(with = "tessera_core::boolean")]` on every `bool` setting and
//! `#[serde(default, with = "tessera_core::boolean::option")]` on every `Option<bool>` one.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// The words read as `true`, in lower case (django-environ's `BOOLEAN_TRUE_STRINGS`).
pub const TRUE_WORDS: &[&str] = &["true", "on", "ok", "y", "yes", "1"];

/// The words read as `false`, in lower case: the negations of [`TRUE_WORDS`].
pub const FALSE_WORDS: &[&str] = &["false", "off", "n", "no", "0"];

/// Reads a switch from text: one of [`TRUE_WORDS`] or [`FALSE_WORDS`], in any case,
/// surrounding spaces ignored.
///
/// # Errors
/// Any other text, with a message naming the accepted spellings.
pub fn parse(text: &str) -> Result<bool, String> {
    let word = text.trim().to_ascii_lowercase();
    if TRUE_WORDS.contains(&word.as_str()) {
        Ok(true)
    } else if FALSE_WORDS.contains(&word.as_str()) {
        Ok(false)
    } else {
        // The value is not echoed in full: a misplaced secret must not reach a log.
        Err(format!(
            "{:?} is not a boolean; use true/false, yes/no, on/off or 1/0 (any case)",
            text.chars().take(16).collect::<String>()
        ))
    }
}

/// Writes the boolean.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` passes a reference
pub fn serialize<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bool(*value)
}

/// Reads a boolean, the integer 0 or 1, or text as [`parse`] reads it.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(Switch)
}

struct Switch;

impl Visitor<'_> for Switch {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean: true/false, yes/no, on/off or 1/0")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<bool, E> {
        match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::custom(format!("{value} is not a boolean; use 1 or 0"))),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<bool, E> {
        u64::try_from(value)
            .map_err(|_| E::custom(format!("{value} is not a boolean; use 1 or 0")))
            .and_then(|value| self.visit_u64(value))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<bool, E> {
        parse(text).map_err(E::custom)
    }
}

/// `Option<bool>` settings: unset (`None`), or a switch as [`deserialize`] reads it.
pub mod option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes the boolean, or nothing.
    #[allow(clippy::ref_option)] // serde's `with` passes a reference
    pub fn serialize<S: Serializer>(
        value: &Option<bool>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    /// Reads nothing as `None`, else a switch.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<bool>, D::Error> {
        #[derive(Deserialize)]
        struct Switch(#[serde(deserialize_with = "super::deserialize")] bool);
        Ok(Option::<Switch>::deserialize(deserializer)?.map(|Switch(value)| value))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Settings {
        #[serde(with = "super")]
        on: bool,
        #[serde(default, with = "super::option")]
        maybe: Option<bool>,
    }

    fn read(value: serde_json::Value) -> Result<Settings, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn djangos_spellings_in_any_case_are_booleans() {
        for (text, expected) in [
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("Yes", true),
            ("on", true),
            ("ON", true),
            ("y", true),
            ("ok", true),
            (" true ", true),
            ("false", false),
            ("False", false),
            ("0", false),
            ("no", false),
            ("NO", false),
            ("off", false),
            ("Off", false),
            ("n", false),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
            let settings = read(serde_json::json!({"on": text, "maybe": text})).unwrap();
            assert_eq!((settings.on, settings.maybe), (expected, Some(expected)));
        }
    }

    #[test]
    fn real_booleans_and_zero_or_one_are_read_and_nothing_else() {
        let settings = read(serde_json::json!({"on": true, "maybe": false})).unwrap();
        assert_eq!((settings.on, settings.maybe), (true, Some(false)));
        assert!(read(serde_json::json!({"on": 1})).unwrap().on);
        assert!(!read(serde_json::json!({"on": 0})).unwrap().on);
        assert_eq!(
            read(serde_json::json!({"on": false, "maybe": null}))
                .unwrap()
                .maybe,
            None
        );
        assert_eq!(read(serde_json::json!({"on": false})).unwrap().maybe, None);
        for bad in [
            serde_json::json!("maybe"),
            serde_json::json!("Flase"),
            serde_json::json!(""),
            serde_json::json!(2),
            serde_json::json!(-1),
            serde_json::json!(["true"]),
        ] {
            let err = read(serde_json::json!({"on": bad.clone()})).unwrap_err();
            assert!(err.contains("boolean"), "{bad}: {err}");
            let err = read(serde_json::json!({"on": true, "maybe": bad.clone()})).unwrap_err();
            assert!(err.contains("boolean"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_long_value_is_not_echoed_whole() {
        let err = parse("a-secret-that-was-pasted-into-the-wrong-variable").unwrap_err();
        assert!(!err.contains("wrong-variable"), "{err}");
    }
}
