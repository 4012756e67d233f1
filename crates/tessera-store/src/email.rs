//! Email normalization: Django's `BaseUserManager.normalize_email`, made safe for Unicode.

use unicode_normalization::UnicodeNormalization;

/// The form an address is validated, compared and stored in: surrounding whitespace
/// trimmed, the whole address in Unicode NFKC (compatibility characters such as `ﬀ` or
/// full-width letters become their plain forms), and the part after the **last** `@` in
/// its IDNA processed form (UTS #46: lower-cased, mapped, invisible code points dropped,
/// `xn--` labels shown in Unicode). The local part keeps its case, as in Django. Without an
/// `@`, or with a domain IDNA refuses, the domain is only lower-cased (validation refuses
/// such addresses).
///
/// ```
/// assert_eq!(tessera_store::normalize_email(" A@X.COM "), "A@x.com");
/// assert_eq!(tessera_store::normalize_email("admin@ﬀ.com"), "admin@ff.com");
/// ```
pub fn normalize_email(email: &str) -> String {
    let email: String = email.trim().nfkc().collect();
    match email.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", normalize_domain(domain)),
        None => email,
    }
}

fn normalize_domain(domain: &str) -> String {
    // ASCII domains (and address literals such as `[127.0.0.1]`) need no mapping beyond
    // case, and IDNA would refuse literals.
    if domain.is_ascii() && !domain.to_ascii_lowercase().contains("xn--") {
        return domain.to_ascii_lowercase();
    }
    match idna::domain_to_unicode(domain) {
        (mapped, Ok(())) => mapped,
        (_, Err(_)) => domain.to_lowercase(),
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

    #[test]
    fn compatibility_forms_and_idna_mappings_become_one_address() {
        // NFKC: the `ff` ligature, full-width letters and at sign.
        assert_eq!(normalize_email("admin@ﬀ.com"), "admin@ff.com");
        assert_eq!(
            normalize_email("ａｄｍｉｎ＠ＥＸＡＭＰＬＥ.com"),
            "admin@example.com"
        );
        // UTS #46 drops invisible code points from the domain and lower-cases it.
        assert_eq!(
            normalize_email("admin@example.com\u{200B}"),
            "admin@example.com"
        );
        assert_eq!(normalize_email("a@BÜCHER.de"), "a@bücher.de");
        // A punycode label is stored as the same Unicode name its owner would type.
        assert_eq!(normalize_email("a@xn--bcher-kva.de"), "a@bücher.de");
        // The local part keeps its case (Django); literals are left alone.
        assert_eq!(normalize_email("Ada@[127.0.0.1]"), "Ada@[127.0.0.1]");
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for email in [
            "admin@ﬀ.com",
            "A@BÜCHER.de",
            "a@xn--bcher-kva.de",
            "x@ex\u{0430}mple.com",
            "\"q\"@[::1]",
            "no-at",
        ] {
            let once = normalize_email(email);
            assert_eq!(normalize_email(&once), once, "{email}");
        }
    }
}
