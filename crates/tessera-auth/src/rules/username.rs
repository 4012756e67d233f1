//! Django's username rules (`django.contrib.auth`): `AbstractUser.username` is at most 150
//! characters, NFKC-normalised (`AbstractBaseUser.normalize_username`) and checked by
//! `UnicodeUsernameValidator` (`\A[\w.@+-]+\Z` with Python's Unicode `\w`).

use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory as _};

/// `AbstractUser.username`'s `max_length`.
pub const USERNAME_MAX_LENGTH: usize = 150;

/// `UnicodeUsernameValidator`'s message.
pub const USERNAME_INVALID: &str = "Enter a valid username. This value may contain only letters, \
     numbers, and @/./+/-/_ characters.";

/// `AbstractUser.username`'s `unique` error message.
pub const USERNAME_TAKEN: &str = "A user with that username already exists.";

/// The username as Django stores and compares it: NFKC-normalised
/// (`AbstractBaseUser.normalize_username`), so that `ｊｏｅ` and `joe` are one name.
pub fn normalize_username(username: &str) -> String {
    username.nfkc().collect()
}

/// Whether `username` passes `UnicodeUsernameValidator`: not empty, and only letters,
/// numbers (any script — Python's `\w` is a Unicode letter or number, or `_`) and
/// `@ . + - _`. Combining marks are not letters there (Python's `str.isalnum`), so they
/// are refused here too.
pub fn is_valid_username(username: &str) -> bool {
    !username.is_empty()
        && username.chars().all(|c| {
            matches!(c, '@' | '.' | '+' | '-' | '_')
                || matches!(
                    c.general_category_group(),
                    GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_numbers_and_the_five_signs_of_any_script_pass() {
        for name in [
            "ada",
            "Ada.Lovelace",
            "a+b@c-d_e",
            "ﾃｽﾄ",
            "Łukasz",
            "日本語",
            "٣٤",
            "_",
        ] {
            assert!(is_valid_username(name), "{name}");
        }
    }

    #[test]
    fn spaces_punctuation_controls_marks_and_the_empty_name_fail() {
        for name in [
            "",
            "ada lovelace",
            "ada!",
            "a/b",
            "a\nb",
            "ada\n",
            "a\u{301}",
            "😀",
            "a\0",
        ] {
            assert!(!is_valid_username(name), "{name:?}");
        }
    }

    #[test]
    fn normalisation_is_nfkc() {
        assert_eq!(normalize_username("ｊｏｅ"), "joe");
        assert_eq!(normalize_username("ﬁx"), "fix");
        assert_eq!(normalize_username("e\u{301}"), "é");
        assert_eq!(normalize_username("x²"), "x2");
    }
}
