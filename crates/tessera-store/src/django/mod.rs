//! A Django project's users, their groups and permissions, and simplejwt refresh tokens:
//! reading them (from its database,
//! either engine, or from a `manage.py dumpdata` file) and the writes that take them over.
//!
//! * [`DjangoSource`] reads the rows ([`DjangoData`]); the token strings themselves are
//!   never read, only their ids.
//! * [`DjangoImport`] is the import's one write transaction ([`Store::begin_django_import`](crate::Store::begin_django_import)),
//!   committed or — for a dry run — rolled back.
//! * [`ForeignToken`] and the cut-over's writes ([`Store::adopt_foreign_token`](crate::Store::adopt_foreign_token)):
//!   a simplejwt refresh token adopted once into a session.

mod dump;
mod foreign;
mod import;
mod source;

pub(crate) use foreign::BLACKLIST_USER_FOREIGN;
pub use foreign::{Adoption, ForeignToken};
pub use import::{DjangoImport, ImportRecord, ImportedUser};
pub use source::{DjangoSource, DjangoSourceError};

use tessera_core::Timestamp;

/// simplejwt's table of outstanding refresh tokens (the blacklist app's), read by the import.
pub const OUTSTANDING_TABLE: &str = "token_blacklist_outstandingtoken";

/// The longest `jti` kept: the length of simplejwt's `jti` column.
pub const MAX_JTI_CHARS: usize = 255;

/// Most bytes of a `dumpdata` file read.
pub const MAX_DUMP_BYTES: u64 = 512 * 1024 * 1024;

/// One row of Django's user table (`auth_user`, or a custom user model's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DjangoUser {
    /// Primary key (kept: simplejwt tokens name it as `user_id`).
    pub id: i64,
    /// `username`; `None` for a user model without one (the e-mail is the login name).
    pub username: Option<String>,
    /// `email`, as Django stored it (may be empty in `auth_user`).
    pub email: String,
    /// `first_name` (`""` when the model has none).
    pub first_name: String,
    /// `last_name` (`""` when the model has none).
    pub last_name: String,
    /// `password`: Django's encoded hash (`pbkdf2_sha256$…`, `argon2$…`, `!…` unusable).
    pub password: String,
    /// `is_active` (`true` when the model has none).
    pub is_active: bool,
    /// `is_staff` (`false` when the model has none).
    pub is_staff: bool,
    /// `is_superuser` (`false` when the model has none).
    pub is_superuser: bool,
    /// `date_joined`, `None` when the model has none.
    pub date_joined: Option<Timestamp>,
    /// `last_login`.
    pub last_login: Option<Timestamp>,
}

/// One row of `token_blacklist_outstandingtoken` (with whether it is blacklisted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DjangoToken {
    /// Primary key.
    pub id: i64,
    /// The token's `jti`.
    pub jti: String,
    /// Its user, if any.
    pub user_id: Option<i64>,
    /// `expires_at`.
    pub expires_at: Timestamp,
    /// Whether `token_blacklist_blacklistedtoken` names it.
    pub blacklisted: bool,
}

/// One row of `auth_group`, with its permissions (`auth_group_permissions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DjangoGroup {
    /// Primary key (memberships name it).
    pub id: i64,
    /// `name`.
    pub name: String,
    /// Its permissions as `app_label.codename` (`django_content_type.app_label` and
    /// `auth_permission.codename`), sorted.
    pub permissions: Vec<String>,
}

/// A Django project's groups and the grants of its users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DjangoGrants {
    /// `auth_group`, by id.
    pub groups: Vec<DjangoGroup>,
    /// The user table's group memberships (`auth_user_groups`): `(user id, group id)`.
    pub memberships: Vec<(i64, i64)>,
    /// The user table's direct permissions (`auth_user_user_permissions`):
    /// `(user id, "app_label.codename")`.
    pub user_permissions: Vec<(i64, String)>,
    /// Grants whose permission could not be named (a permission or content type the data
    /// does not hold): `(table, row id)`, reported, not imported.
    pub unresolved: Vec<(String, i64)>,
}

/// Everything read from a Django project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DjangoData {
    /// The user table read (`auth_user`, `authentication_user`; for a dump, the model
    /// label's table name).
    pub user_table: String,
    /// Its rows, by id.
    pub users: Vec<DjangoUser>,
    /// Outstanding simplejwt tokens, by id (empty when the blacklist app is not installed).
    pub tokens: Vec<DjangoToken>,
    /// Groups, memberships and direct permissions (empty when `django.contrib.auth`'s
    /// tables are not there).
    pub grants: DjangoGrants,
}

/// A Django date-time as stored (`2024-05-01 10:20:30.123456` in SQLite) or dumped
/// (`2024-05-01T10:20:30.123Z`, `…+02:00`): the instant, a time without offset read as
/// UTC (Django's storage with `USE_TZ = True`). `None` when it is not one.
pub fn parse_datetime(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 19 || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let padded = format!("{:0<6}", &fraction[..digits.min(6)]);
        micros = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_secs = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = &rest[1..];
            let (h, m) = match zone.len() {
                5 if zone.as_bytes()[2] == b':' => (zone.get(0..2)?, zone.get(3..5)?),
                4 => (zone.get(0..2)?, zone.get(2..4)?),
                2 => (zone, "00"),
                _ => return None,
            };
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(Timestamp::from_micros(
        secs.checked_mul(1_000_000)?.checked_add(micros)?,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_times_in_each_stored_and_dumped_form_are_read() {
        let at = Timestamp::from_micros(1_714_558_830_123_456);
        assert_eq!(parse_datetime("2024-05-01 10:20:30.123456"), Some(at));
        assert_eq!(parse_datetime("2024-05-01T10:20:30.123456Z"), Some(at));
        assert_eq!(parse_datetime("2024-05-01T12:20:30.123456+02:00"), Some(at));
        assert_eq!(
            parse_datetime("2024-05-01T10:20:30.123Z"),
            Some(Timestamp::from_micros(1_714_558_830_123_000))
        );
        assert_eq!(
            parse_datetime("2024-05-01 10:20:30"),
            Some(Timestamp::from_secs(1_714_558_830))
        );
        assert_eq!(
            parse_datetime("1970-01-01T00:00:00Z"),
            Some(Timestamp::UNIX_EPOCH)
        );
    }

    #[test]
    fn anything_else_is_none() {
        for text in [
            "",
            "2024-05-01",
            "2024-13-01 00:00:00",
            "2024-05-01X10:20:30",
            "2024-05-01 10:20:30+x",
            "２０２４-05-01 10:20:30",
        ] {
            assert_eq!(parse_datetime(text), None, "{text:?}");
        }
    }
}
