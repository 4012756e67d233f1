//! How users appear in response bodies (API.md §5's user object).

use serde_json::{Value, json};
use tessera_core::Claims;
use tessera_store::User;

use crate::user_fields::UserField;
use time::OffsetDateTime;

/// `first last`, trimmed, or the e-mail address when both names are empty.
pub fn full_name(user: &User) -> String {
    let name = format!("{} {}", user.first_name, user.last_name)
        .trim()
        .to_owned();
    if name.is_empty() {
        user.email.clone()
    } else {
        name
    }
}

/// A time as DRF's `DateTimeField` writes it: ISO 8601 in UTC with a `Z`, microseconds only
/// when there are any (`2026-11-23T14:50:47.123456Z`).
pub fn drf_datetime(micros: i64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000) else {
        return String::new();
    };
    let (date, time) = (at.date(), at.time());
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    match time.microsecond() {
        0 => format!("{base}Z"),
        us => format!("{base}.{us:06}Z"),
    }
}

/// DRF's message for a time it cannot read.
pub const DATETIME_FORMAT_ERROR: &str = "Datetime has wrong format. Use one of these formats instead: \
     YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

/// Reads a time as DRF's `DateTimeField` does (Django's `parse_datetime`):
/// `YYYY-MM-DD`, optionally followed by `T` or a space, `hh:mm[:ss[.uuuuuu]]` and a zone —
/// `Z`, `±hh`, `±hhmm` or `±hh:mm`; without a zone, UTC (Django's default `TIME_ZONE`).
/// Digits after the sixth of a fraction are ignored. Microseconds since the Unix epoch, or
/// `None` when the text is no such time.
pub fn parse_drf_datetime(text: &str) -> Option<i64> {
    use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

    let mut rest = text.trim();
    let year = digits(&mut rest, 4, 4)?;
    rest = rest.strip_prefix('-')?;
    let month = digits(&mut rest, 1, 2)?;
    rest = rest.strip_prefix('-')?;
    let day = digits(&mut rest, 1, 2)?;
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let (mut hour, mut minute, mut second, mut micro) = (0, 0, 0, 0);
    let mut offset = 0i32;
    if !rest.is_empty() {
        rest = rest.strip_prefix(['T', ' '])?;
        hour = digits(&mut rest, 1, 2)?;
        rest = rest.strip_prefix(':')?;
        minute = digits(&mut rest, 1, 2)?;
        if let Some(after) = rest.strip_prefix(':') {
            rest = after;
            second = digits(&mut rest, 1, 2)?;
            if let Some(after) = rest.strip_prefix(['.', ',']) {
                rest = after;
                let fraction: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if fraction.is_empty() || fraction.len() > 12 {
                    return None;
                }
                rest = &rest[fraction.len()..];
                micro = format!("{:0<6}", &fraction[..fraction.len().min(6)])
                    .parse()
                    .ok()?;
            }
        }
        rest = rest.trim_start();
        if let Some(zone) = rest.strip_prefix(['+', '-']) {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            rest = zone;
            let hours = digits(&mut rest, 2, 2)?;
            rest = rest.strip_prefix(':').unwrap_or(rest);
            let minutes = if rest.is_empty() {
                0
            } else {
                digits(&mut rest, 2, 2)?
            };
            offset = sign * i32::try_from(hours * 3600 + minutes * 60).ok()?;
        } else if let Some(after) = rest.strip_prefix('Z') {
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
    }
    let time = Time::from_hms_micro(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        micro,
    )
    .ok()?;
    let at = PrimitiveDateTime::new(date, time)
        .assume_offset(UtcOffset::from_whole_seconds(offset).ok()?);
    i64::try_from(at.unix_timestamp_nanos() / 1000).ok()
}

/// Takes `min` to `max` ASCII digits from the front of `rest`.
fn digits(rest: &mut &str, min: usize, max: usize) -> Option<u32> {
    let count = rest
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if count < min {
        return None;
    }
    let value = rest[..count].parse().ok()?;
    *rest = &rest[count..];
    Some(value)
}

/// `{"id","email","first_name","last_name","full_name","is_active","date_joined"}`, then
/// each custom field (its stored value, its default, or `null`).
pub fn user_object(user: &User, fields: &[UserField]) -> Value {
    let mut object = json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": full_name(user),
        "is_active": user.is_active,
        "date_joined": drf_datetime(user.date_joined),
    });
    if let Value::Object(map) = &mut object {
        for field in fields {
            map.insert(field.name.clone(), custom_value(user, field));
        }
    }
    object
}

/// A custom field's value for a user: stored, else its default, else `null`.
pub fn custom_value(user: &User, field: &UserField) -> Value {
    user.extra
        .get(&field.name)
        .or(field.default.as_ref())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The short user object of the login response: `{"id","email","first_name","last_name","full_name"}`.
pub fn login_user_object(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": full_name(user),
    })
}

/// The user's account claims for tokens issued at login and registration: `email`,
/// `first_name`, `last_name`, `full_name`, then custom fields marked `claim`.
pub fn account_claims(user: &User, fields: &[UserField]) -> Claims {
    let mut claims = Claims::new();
    claims.insert("email".into(), user.email.clone().into());
    claims.insert("first_name".into(), user.first_name.clone().into());
    claims.insert("last_name".into(), user.last_name.clone().into());
    claims.insert("full_name".into(), full_name(user).into());
    for field in fields.iter().filter(|f| f.claim) {
        claims.insert(field.name.clone(), custom_value(user, field));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(first: &str, last: &str) -> User {
        User {
            id: 3,
            email: "a@x.com".into(),
            username: None,
            first_name: first.into(),
            last_name: last.into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: 1_795_445_447_123_456,
            last_login: None,
            password_changed_at: None,
            extra: Default::default(),
            password_hash: "secret-hash".into(),
        }
    }

    #[test]
    fn full_name_falls_back_to_the_email() {
        assert_eq!(full_name(&user("Ada", "Lovelace")), "Ada Lovelace");
        assert_eq!(full_name(&user("Ada", "")), "Ada");
        assert_eq!(full_name(&user("", "")), "a@x.com");
    }

    #[test]
    fn datetimes_are_drfs() {
        assert_eq!(
            drf_datetime(1_795_445_447_123_456),
            "2026-11-23T14:50:47.123456Z"
        );
        assert_eq!(drf_datetime(1_795_445_447_000_000), "2026-11-23T14:50:47Z");
    }

    #[test]
    fn datetimes_are_read_as_drf_reads_them() {
        let at = 1_795_445_447_123_456;
        for text in [
            "2026-11-23T14:50:47.123456Z",
            "2026-11-23T14:50:47.123456",
            "2026-11-23 14:50:47.123456+00:00",
            "2026-11-23T16:50:47.123456+02:00",
            "2026-11-23T16:50:47.123456+0200",
            "2026-11-23T16:50:47.123456+02",
            "2026-11-23T12:50:47.123456-02:00",
            "2026-11-23T14:50:47,1234569999Z",
            " 2026-11-23T14:50:47.123456 Z ",
        ] {
            assert_eq!(parse_drf_datetime(text), Some(at), "{text}");
        }
        assert_eq!(
            parse_drf_datetime("2026-11-23T14:50Z"),
            Some(1_795_445_400_000_000)
        );
        assert_eq!(
            parse_drf_datetime("2026-11-23"),
            Some(1_795_392_000_000_000)
        );
        assert_eq!(
            parse_drf_datetime("2026-11-23T14:50:47.5Z"),
            Some(1_795_445_447_500_000)
        );
        assert_eq!(parse_drf_datetime(&drf_datetime(at)), Some(at));
        for text in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30T00:00Z",
            "2026-11-23T25:00Z",
            "2026-11-23T14",
            "2026-11-23T14:50:47.Z",
            "2026-11-23T14:50:47Zulu",
            "2026-11-23T14:50:47 02:00",
            "26-11-23T14:50Z",
            "1795445447",
        ] {
            assert_eq!(parse_drf_datetime(text), None, "{text}");
        }
    }

    #[test]
    fn the_user_object_has_the_documented_keys_and_no_hash() {
        let text = user_object(&user("Ada", "Lovelace"), &[]).to_string();
        assert_eq!(
            text,
            r#"{"id":3,"email":"a@x.com","first_name":"Ada","last_name":"Lovelace","full_name":"Ada Lovelace","is_active":true,"date_joined":"2026-11-23T14:50:47.123456Z"}"#
        );
    }

    #[test]
    fn custom_fields_follow_with_stored_value_default_or_null() {
        use crate::user_fields::FieldKind;
        let declared = |name: &str, default: Option<Value>, claim: bool| UserField {
            name: name.into(),
            kind: FieldKind::String,
            required: false,
            max_length: None,
            read_only: false,
            claim,
            default,
        };
        let fields = [
            declared("phone_number", None, true),
            declared("tier", Some(json!("free")), true),
            declared("nickname", None, false),
        ];
        let mut ada = user("Ada", "Lovelace");
        ada.extra.insert("phone_number".into(), json!("+44"));
        let object = user_object(&ada, &fields);
        assert_eq!(
            (
                &object["phone_number"],
                &object["tier"],
                &object["nickname"]
            ),
            (&json!("+44"), &json!("free"), &Value::Null)
        );
        let claims = account_claims(&ada, &fields);
        let names: Vec<_> = claims.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "email",
                "first_name",
                "last_name",
                "full_name",
                "phone_number",
                "tier"
            ]
        );
    }
}
