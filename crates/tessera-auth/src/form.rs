//! Input as DRF's serializers read it: a JSON object read field by field with `CharField`'s
//! rules and messages, and the errors collected per field in the order they were checked.

use serde_json::{Map, Value};

/// Django's `ProhibitNullCharactersValidator` message, which DRF's `CharField` applies to
/// every string field.
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";

/// The message for a control character in a field that does not take it.
pub const CONTROL_CHARACTERS: &str = "Control characters are not allowed.";

/// Which characters a text field takes beyond those every field takes (no NUL ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// Anything but NUL (Django's `CharField`: passwords, tokens, login names).
    Any,
    /// One line: no control character at all (C0, DEL, C1) — names, usernames, filters.
    Line,
    /// Free text: tabs and line breaks, but no other control character.
    Multiline,
}

impl Text {
    /// The message for the first character of `value` this kind of field refuses, if any.
    pub fn refusal(self, value: &str) -> Option<&'static str> {
        if value.contains('\0') {
            return Some(NULL_CHARACTERS);
        }
        let refused = |c: char| match self {
            Self::Any => false,
            Self::Line => c.is_control(),
            Self::Multiline => c.is_control() && !matches!(c, '\t' | '\n' | '\r'),
        };
        value.chars().any(refused).then_some(CONTROL_CHARACTERS)
    }
}

/// DRF's `MaxLengthValidator` message.
pub fn too_long(max: usize) -> String {
    format!("Ensure this field has no more than {max} characters.")
}

/// Checks a query or path parameter as a one-line text field of at most `max` characters:
/// the DRF message, or `None` when it is fine.
pub fn check_line(value: &str, max: usize) -> Option<String> {
    if value.chars().nth(max).is_some() {
        return Some(too_long(max));
    }
    Text::Line.refusal(value).map(str::to_owned)
}

/// Field errors in the order the fields were checked: `{"field": ["message", …]}`, or for
/// the items of a list field, by index as DRF's `ListField` reports them:
/// `{"field": {"0": ["message", …]}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, Messages)>);

/// One field's messages: its own, or its items' by index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Messages {
    Field(Vec<String>),
    Items(Vec<(usize, Vec<String>)>),
}

impl FieldErrors {
    /// Adds a message to a field (a field keeps its first position). A message about the
    /// field replaces those about its items.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        match self.0.iter_mut().find(|(name, _)| name == field) {
            Some((_, Messages::Field(messages))) => messages.push(message.into()),
            Some((_, messages)) => *messages = Messages::Field(vec![message.into()]),
            None => self
                .0
                .push((field.to_owned(), Messages::Field(vec![message.into()]))),
        }
    }

    /// Adds a message about item `index` of the list field `field` (items in index
    /// order); nothing when the field itself already failed.
    pub fn add_item(&mut self, field: &str, index: usize, message: impl Into<String>) {
        let items = match self.0.iter_mut().find(|(name, _)| name == field) {
            Some((_, Messages::Field(_))) => return,
            Some((_, Messages::Items(items))) => items,
            None => {
                self.0.push((field.to_owned(), Messages::Items(Vec::new())));
                match self.0.last_mut() {
                    Some((_, Messages::Items(items))) => items,
                    _ => return,
                }
            }
        };
        match items.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(at) => items[at].1.push(message.into()),
            Err(at) => items.insert(at, (index, vec![message.into()])),
        }
    }

    /// Whether no field failed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a field already failed.
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(name, _)| name == field)
    }

    /// `Ok(())` when nothing failed.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Every message as a sentence, field by field: `email: Enter a valid email address.`,
    /// `permissions[0]: …` (for a terminal).
    pub fn sentences(&self) -> String {
        self.0
            .iter()
            .flat_map(|(name, messages)| match messages {
                Messages::Field(messages) => vec![format!("{name}: {}", messages.join(" "))],
                Messages::Items(items) => items
                    .iter()
                    .map(|(i, messages)| format!("{name}[{i}]: {}", messages.join(" ")))
                    .collect(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The DRF body.
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .0
            .iter()
            .map(|(name, messages)| {
                let value = match messages {
                    Messages::Field(messages) => Value::from(messages.clone()),
                    Messages::Items(items) => Value::Object(
                        items
                            .iter()
                            .map(|(i, messages)| (i.to_string(), Value::from(messages.clone())))
                            .collect(),
                    ),
                };
                (name.clone(), value)
            })
            .collect();
        Value::Object(map)
    }
}

impl std::fmt::Display for FieldErrors {
    /// The DRF body as compact JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// How a string field treats surrounding white space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Trim it (DRF's default for every `CharField`).
    Yes,
    /// Keep it: passwords are used exactly as typed.
    No,
}

/// An input object being read field by field; failures are collected, not returned early.
#[derive(Debug)]
pub struct Fields<'a> {
    data: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl<'a> Fields<'a> {
    /// Starts reading `data`.
    pub fn new(data: &'a Map<String, Value>) -> Self {
        Self {
            data,
            errors: FieldErrors::default(),
        }
    }

    /// A required, non-blank string (numbers are taken as their text).
    pub fn required(&mut self, name: &str, trim: Trim) -> Option<String> {
        match self.data.get(name) {
            None => {
                self.errors.add(name, "This field is required.");
                None
            }
            Some(value) => self.string(name, value, trim, false),
        }
    }

    /// An optional string: absent gives `None`; present, it must be valid (blank allowed).
    pub fn optional(&mut self, name: &str, trim: Trim) -> Option<String> {
        let value = self.data.get(name)?;
        self.string(name, value, trim, true)
    }

    fn string(
        &mut self,
        name: &str,
        value: &Value,
        trim: Trim,
        allow_blank: bool,
    ) -> Option<String> {
        let text = match value {
            Value::Null => {
                self.errors.add(name, "This field may not be null.");
                return None;
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                self.errors.add(name, "Not a valid string.");
                return None;
            }
        };
        let text = match trim {
            Trim::Yes => text.trim().to_owned(),
            Trim::No => text,
        };
        if text.is_empty() && !allow_blank {
            self.errors.add(name, "This field may not be blank.");
            return None;
        }
        // DRF's `CharField` runs Django's `ProhibitNullCharactersValidator` on every string:
        // PostgreSQL cannot store NUL, and no field needs it.
        if let Some(message) = Text::Any.refusal(&text) {
            self.errors.add(name, message);
            return None;
        }
        Some(text)
    }

    /// Records a failure found by the caller.
    pub fn fail(&mut self, name: &str, message: impl Into<String>) {
        self.errors.add(name, message);
    }

    /// Records a failure of item `index` of the list field `name`.
    pub fn fail_item(&mut self, name: &str, index: usize, message: impl Into<String>) {
        self.errors.add_item(name, index, message);
    }

    /// The collected errors, `Ok` when there are none.
    pub fn finish(self) -> Result<(), FieldErrors> {
        self.errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn drf_messages_in_field_order() {
        let data = object(json!({"b": null, "c": "  ", "d": [1], "e": true}));
        let mut fields = Fields::new(&data);
        assert_eq!(fields.required("a", Trim::Yes), None);
        assert_eq!(fields.required("b", Trim::Yes), None);
        assert_eq!(fields.required("c", Trim::Yes), None);
        assert_eq!(fields.required("d", Trim::Yes), None);
        assert_eq!(fields.required("e", Trim::Yes), None);
        assert_eq!(
            fields.finish().unwrap_err().to_json().to_string(),
            r#"{"a":["This field is required."],"b":["This field may not be null."],"c":["This field may not be blank."],"d":["Not a valid string."],"e":["Not a valid string."]}"#
        );
    }

    #[test]
    fn strings_are_trimmed_except_when_told_and_numbers_become_text() {
        let data = object(json!({"email": "  a@x.com ", "password": " pw ", "n": 12, "f": 1.5}));
        let mut fields = Fields::new(&data);
        assert_eq!(
            fields.required("email", Trim::Yes).as_deref(),
            Some("a@x.com")
        );
        assert_eq!(
            fields.required("password", Trim::No).as_deref(),
            Some(" pw ")
        );
        assert_eq!(fields.required("n", Trim::Yes).as_deref(), Some("12"));
        assert_eq!(fields.required("f", Trim::Yes).as_deref(), Some("1.5"));
        assert_eq!(fields.optional("missing", Trim::Yes), None);
        assert!(fields.finish().is_ok());
    }

    #[test]
    fn nul_is_refused_in_every_string_with_djangos_message() {
        let data = object(json!({"p": "pass\u{0}word", "e": " a\u{0}@x.com ", "ok": "a\tb"}));
        let mut fields = Fields::new(&data);
        assert_eq!(fields.required("p", Trim::No), None);
        assert_eq!(fields.optional("e", Trim::Yes), None);
        assert_eq!(fields.required("ok", Trim::No).as_deref(), Some("a\tb"));
        assert_eq!(
            fields.finish().unwrap_err().to_json(),
            json!({"p": [NULL_CHARACTERS], "e": [NULL_CHARACTERS]})
        );
    }

    #[test]
    fn control_characters_are_refused_as_the_field_says() {
        assert_eq!(Text::Any.refusal("a\u{1b}b\n"), None);
        assert_eq!(Text::Any.refusal("a\u{0}"), Some(NULL_CHARACTERS));
        for bad in ["a\u{1b}[31m", "a\nb", "a\tb", "\u{7f}", "\u{85}", "\u{9b}"] {
            assert_eq!(Text::Line.refusal(bad), Some(CONTROL_CHARACTERS), "{bad:?}");
        }
        assert_eq!(Text::Line.refusal("a\u{0}\n"), Some(NULL_CHARACTERS));
        assert_eq!(Text::Line.refusal("Zoë O'Brien-Ngô \u{200d}"), None);
        assert_eq!(Text::Multiline.refusal("one\r\ntwo\tthree"), None);
        assert_eq!(
            Text::Multiline.refusal("bell\u{7}"),
            Some(CONTROL_CHARACTERS)
        );
        assert_eq!(check_line("abc", 3), None);
        assert_eq!(check_line("abcd", 3), Some(too_long(3)));
        assert_eq!(check_line("ab\u{0}", 3).as_deref(), Some(NULL_CHARACTERS));
    }

    #[test]
    fn list_items_fail_by_index_and_a_field_error_replaces_them() {
        let data = Map::new();
        let mut fields = Fields::new(&data);
        fields.fail_item("permissions", 2, "two");
        fields.fail("name", "bad");
        fields.fail_item("permissions", 0, "zero");
        fields.fail_item("permissions", 2, "again");
        let errors = fields.finish().unwrap_err();
        assert_eq!(
            errors.to_json().to_string(),
            r#"{"permissions":{"0":["zero"],"2":["two","again"]},"name":["bad"]}"#
        );
        assert_eq!(
            errors.sentences(),
            "permissions[0]: zero; permissions[2]: two again; name: bad"
        );
        let mut errors = errors;
        errors.add("permissions", "Not a list.");
        errors.add_item("permissions", 1, "ignored");
        assert_eq!(errors.to_json()["permissions"], json!(["Not a list."]));
    }

    #[test]
    fn whitespace_only_password_is_kept_but_empty_is_blank() {
        let data = object(json!({"p": "   ", "q": ""}));
        let mut fields = Fields::new(&data);
        assert_eq!(fields.required("p", Trim::No).as_deref(), Some("   "));
        assert_eq!(fields.required("q", Trim::No), None);
        assert!(fields.finish().unwrap_err().has("q"));
    }
}
