//! Email normalization (Django's `BaseUserManager.normalize_email`).

/// Django's `normalize_email`: the part after the **last** `@` is lower-cased, the local part
/// is kept as is. Surrounding whitespace is trimmed. Without an `@` the trimmed input is
/// returned unchanged.
///
/// ```
/// assert_eq!(tessera_store::normalize_email(" A@X.COM "), "A@x.com");
/// ```
pub fn normalize_email(email: &str) -> String {
    let email = email.trim();
    match email.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => email.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn lowercases_domain_only() {
        assert_eq!(normalize_email("A@X.COM"), "A@x.com");
        assert_eq!(
            normalize_email("John.Doe@Example.Org"),
            "John.Doe@example.org"
        );
    }

    #[test]
    fn splits_on_last_at() {
        assert_eq!(
            normalize_email("\"A@B\"@EXAMPLE.COM"),
            "\"A@B\"@example.com"
        );
    }

    #[test]
    fn trims_whitespace() {
        assert_eq!(normalize_email("  a@B.com \n"), "a@b.com");
    }

    #[test]
    fn without_at_is_returned_trimmed() {
        assert_eq!(normalize_email("  NoAtSign "), "NoAtSign");
        assert_eq!(normalize_email(""), "");
    }

    #[test]
    fn empty_parts_are_kept() {
        assert_eq!(normalize_email("@EXAMPLE.COM"), "@example.com");
        assert_eq!(normalize_email("User@"), "User@");
    }
}
