//! Times as DRF's `DateTimeField` writes and reads them, from and to [`Timestamp`]s.

use tessera_core::Timestamp;
use time::OffsetDateTime;

/// A time as DRF's `DateTimeField` writes it: ISO 8601 in UTC with a `Z`, microseconds only
/// when there are any (`2026-11-23T14:50:47.123456Z`).
pub fn drf_datetime(at: Timestamp) -> String {
    let nanos = i128::from(at.as_micros()) * 1000;
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
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
/// Digits after the sixth of a fraction are ignored. `None` when the text is no such time.
pub fn parse_drf_datetime(text: &str) -> Option<Timestamp> {
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
    i64::try_from(at.unix_timestamp_nanos() / 1000)
        .ok()
        .map(Timestamp::from_micros)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_drfs() {
        assert_eq!(
            drf_datetime(Timestamp::from_micros(1_795_445_447_123_456)),
            "2026-11-23T14:50:47.123456Z"
        );
        assert_eq!(
            drf_datetime(Timestamp::from_micros(1_795_445_447_000_000)),
            "2026-11-23T14:50:47Z"
        );
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
            assert_eq!(
                parse_drf_datetime(text),
                Some(Timestamp::from_micros(at)),
                "{text}"
            );
        }
        assert_eq!(
            parse_drf_datetime("2026-11-23T14:50Z"),
            Some(Timestamp::from_micros(1_795_445_400_000_000))
        );
        assert_eq!(
            parse_drf_datetime("2026-11-23"),
            Some(Timestamp::from_micros(1_795_392_000_000_000))
        );
        assert_eq!(
            parse_drf_datetime("2026-11-23T14:50:47.5Z"),
            Some(Timestamp::from_micros(1_795_445_447_500_000))
        );
        assert_eq!(
            parse_drf_datetime(&drf_datetime(Timestamp::from_micros(at))),
            Some(Timestamp::from_micros(at))
        );
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
}
