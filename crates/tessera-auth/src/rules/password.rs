//! Django's four default password validators, each configurable and each with its own
//! message: user-attribute similarity, minimum length, common passwords, entirely numeric.

use serde::{Deserialize, Serialize};

/// The attributes a password may not resemble, by name (`email`, `first_name` …).
pub type UserAttributes<'a> = Vec<(&'a str, &'a str)>;

/// Which password rules apply (Django's `AUTH_PASSWORD_VALIDATORS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    /// `MinimumLengthValidator`: the fewest characters allowed; `0` turns it off. Defaults to 8.
    pub password_min_length: usize,
    /// `CommonPasswordValidator` (a list of about 100,000 common passwords). Defaults to `true`.
    #[serde(with = "tessera_core::boolean")]
    pub password_reject_common: bool,
    /// `NumericPasswordValidator`. Defaults to `true`.
    #[serde(with = "tessera_core::boolean")]
    pub password_reject_numeric: bool,
    /// `UserAttributeSimilarityValidator`'s `max_similarity`; `0` turns it off. Defaults to 0.7.
    pub password_max_similarity: f64,
    /// The user attributes compared. Defaults to username, first name, last name, e-mail.
    pub password_similarity_attributes: Vec<String>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            password_min_length: 8,
            password_reject_common: true,
            password_reject_numeric: true,
            password_max_similarity: 0.7,
            password_similarity_attributes: ["username", "first_name", "last_name", "email"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Passwords longer than this are in no common-password list; they skip that check.
const LONGEST_COMMON_PASSWORD: usize = 64;

impl PasswordPolicy {
    /// Checks the settings; the message names the setting.
    pub fn validate_settings(&self) -> Result<(), tessera_core::SettingsError> {
        let similarity = self.password_max_similarity;
        if similarity != 0.0 && !(0.1..=1.0).contains(&similarity) {
            return Err(tessera_core::SettingsError {
                setting: "password_max_similarity".into(),
                message: "must be 0 (off) or between 0.1 and 1".into(),
            });
        }
        Ok(())
    }

    /// Every rule the password breaks, in Django's order, each with Django's message.
    pub fn check(&self, password: &str, attributes: &UserAttributes<'_>) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(field) = self.too_similar(password, attributes) {
            errors.push(format!(
                "The password is too similar to the {}.",
                verbose_name(field)
            ));
        }
        let min = self.password_min_length;
        if min > 0 && password.chars().count() < min {
            let unit = if min == 1 { "character" } else { "characters" };
            errors.push(format!(
                "This password is too short. It must contain at least {min} {unit}."
            ));
        }
        if self.password_reject_common && is_common(password) {
            errors.push("This password is too common.".to_owned());
        }
        if self.password_reject_numeric
            && !password.is_empty()
            && password.chars().all(char::is_numeric)
        {
            errors.push("This password is entirely numeric.".to_owned());
        }
        errors
    }

    /// The first attribute the password resembles, as Django's
    /// `UserAttributeSimilarityValidator` decides.
    fn too_similar<'a>(&self, password: &str, attributes: &UserAttributes<'a>) -> Option<&'a str> {
        let max = self.password_max_similarity;
        if max == 0.0 {
            return None;
        }
        let password: Vec<char> = password.to_lowercase().chars().collect();
        for name in &self.password_similarity_attributes {
            let Some((field, value)) = attributes.iter().find(|(field, _)| field == name) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            let value = value.to_lowercase();
            let parts = value
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .chain(std::iter::once(value.as_str()));
            for part in parts {
                let part: Vec<char> = part.chars().collect();
                if exceeds_maximum_length_ratio(&password, max, &part) {
                    continue;
                }
                if quick_ratio(&password, &part) >= max {
                    return Some(field);
                }
            }
        }
        None
    }
}

/// Django's shortcut: a value far shorter than the password cannot be similar enough.
fn exceeds_maximum_length_ratio(password: &[char], max_similarity: f64, value: &[char]) -> bool {
    let pwd_len = password.len() as f64;
    let value_len = value.len() as f64;
    let length_bound_similarity = max_similarity / 2.0 * pwd_len;
    pwd_len >= 10.0 * value_len && value_len < length_bound_similarity
}

/// Python's `SequenceMatcher(a, b).quick_ratio()`: the multiset intersection of the two
/// character sequences, as a ratio of their total length.
fn quick_ratio(a: &[char], b: &[char]) -> f64 {
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    let mut available = std::collections::HashMap::<char, usize>::new();
    for &c in b {
        *available.entry(c).or_default() += 1;
    }
    let mut matches = 0usize;
    for c in a {
        if let Some(n) = available.get_mut(c)
            && *n > 0
        {
            *n -= 1;
            matches += 1;
        }
    }
    2.0 * matches as f64 / total as f64
}

/// The field's human name in the messages (Django's verbose names).
fn verbose_name(field: &str) -> String {
    field.replace('_', " ")
}

/// Django's check: the password, lower-cased and trimmed, is in the list (about 100,000
/// common passwords from the `passwords` crate).
fn is_common(password: &str) -> bool {
    let candidate = password.trim().to_lowercase();
    !candidate.is_empty()
        && candidate.chars().count() <= LONGEST_COMMON_PASSWORD
        && passwords::analyzer::is_common_password(&candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Vec<String> {
        PasswordPolicy::default().check(
            password,
            &vec![("email", "ada.lovelace@example.com"), ("first_name", "Ada")],
        )
    }

    #[test]
    fn each_rule_reports_its_own_message_in_djangos_order() {
        assert_eq!(check("a-long and unguessable phrase"), Vec::<String>::new());
        assert_eq!(
            check("Xy7#q"),
            ["This password is too short. It must contain at least 8 characters."]
        );
        assert_eq!(check("password"), ["This password is too common."]);
        assert_eq!(check("83719462"), ["This password is entirely numeric."]);
        assert_eq!(
            check("1234567"),
            [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric."
            ]
        );
        assert_eq!(
            check("lovelace.ada"),
            ["The password is too similar to the email."]
        );
    }

    #[test]
    fn common_passwords_come_from_a_list_of_thousands() {
        for common in [
            "password1",
            "iloveyou",
            "qwerty123",
            "trustno1",
            "Sunshine",
            " football ",
        ] {
            assert!(is_common(common), "{common}");
        }
        for uncommon in [
            "p4ssw0rd-but-longer",
            "xk29fj2lq",
            "correct horse battery staple",
            "",
        ] {
            assert!(!is_common(uncommon), "{uncommon}");
        }
        assert!(
            !is_common(&"a".repeat(1000)),
            "long input is not sent to the matcher"
        );
    }

    #[test]
    fn similarity_follows_djangos_quick_ratio() {
        // SequenceMatcher(None, "adalovelace", "ada lovelace").quick_ratio() = 22/23
        let ratio = quick_ratio(
            &"adalovelace".chars().collect::<Vec<_>>(),
            &"ada lovelace".chars().collect::<Vec<_>>(),
        );
        assert!((ratio - 22.0 / 23.0).abs() < 1e-12);
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.check(
                "Ada Lovelace",
                &vec![("first_name", "Ada"), ("last_name", "Lovelace")]
            ),
            ["The password is too similar to the last name."]
        );
        // Parts of the e-mail count: "ada.lovelace" splits into "ada", "lovelace".
        assert!(
            policy
                .too_similar("lovelace", &vec![("email", "ada.lovelace@example.com")])
                .is_some()
        );
        // A short attribute against a long password is skipped by the length shortcut.
        assert!(
            policy
                .too_similar("averylongpasswordwithada", &vec![("first_name", "Al")])
                .is_none()
        );
    }

    #[test]
    fn each_rule_can_be_turned_off() {
        let off = PasswordPolicy {
            password_min_length: 0,
            password_reject_common: false,
            password_reject_numeric: false,
            password_max_similarity: 0.0,
            ..PasswordPolicy::default()
        };
        assert!(off.check("123", &vec![("email", "123@x.com")]).is_empty());
        let strict = PasswordPolicy {
            password_min_length: 12,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            strict.check("Xy7#q-Zp9w!", &vec![]),
            ["This password is too short. It must contain at least 12 characters."]
        );
        assert!(
            PasswordPolicy {
                password_max_similarity: 0.05,
                ..PasswordPolicy::default()
            }
            .validate_settings()
            .is_err()
        );
    }
}
