//! [`Timestamp`]: an instant, the one time type of every Tessera crate.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const MICROS_PER_SEC: i64 = 1_000_000;

/// An instant, counted in microseconds since the Unix epoch (UTC).
///
/// Every time Tessera keeps — in the store, the audit log, sessions, keys and tokens — is a
/// `Timestamp`. JWT claims count whole seconds ([`as_secs`](Self::as_secs),
/// [`from_secs`](Self::from_secs)); everything else keeps the microseconds. Arithmetic with
/// a [`Duration`] saturates instead of overflowing. It serialises as the integer number of
/// microseconds and prints as RFC 3339 (`2026-11-23T14:50:47.123456Z`).
///
/// ```
/// use std::time::Duration;
/// use tessera_core::Timestamp;
///
/// let at = Timestamp::from_secs(1_700_000_000);
/// let later = at + Duration::from_millis(1500);
/// assert_eq!(later.as_micros(), 1_700_000_001_500_000);
/// assert_eq!(later.as_secs(), 1_700_000_001);
/// assert_eq!(later.duration_since(at), Duration::from_millis(1500));
/// assert_eq!(at.to_string(), "2023-11-14T22:13:20Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);
    /// The latest instant a `Timestamp` can hold.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// The instant `secs` whole seconds after the epoch (a JWT's `iat` or `exp`).
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(MICROS_PER_SEC))
    }

    /// A [`SystemTime`] as a timestamp (saturating far outside the representable range).
    pub fn from_system_time(at: SystemTime) -> Self {
        match at.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
            Err(before) => Self(
                i64::try_from(before.duration().as_micros())
                    .map(|micros| -micros)
                    .unwrap_or(i64::MIN),
            ),
        }
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down (as JWT claims count them).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SEC)
    }

    /// Seconds since the epoch with their fraction (for rates and waits, not for storage).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }

    /// This instant moved by `secs` seconds (back when negative), saturating.
    pub const fn add_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(MICROS_PER_SEC)))
    }

    /// This instant moved by `micros` microseconds (back when negative), saturating.
    pub const fn add_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }

    /// The time from `earlier` to this instant; zero when `earlier` is not earlier.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        let micros = self.0.saturating_sub(earlier.0);
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    }
}

fn micros_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(micros_of(rhs)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(micros_of(rhs)))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match u64::try_from(self.0) {
            Ok(micros) => {
                let at = UNIX_EPOCH + Duration::from_micros(micros);
                let text = humantime::format_rfc3339_micros(at).to_string();
                // humantime always writes six digits; drop them when they are all zero.
                f.write_str(&text.replace(".000000Z", "Z"))
            }
            Err(_) => write!(f, "{}µs before the epoch", self.0.unsigned_abs()),
        }
    }
}

/// Stored as a 64-bit integer of microseconds (`INTEGER` in SQLite, `BIGINT` in PostgreSQL).
#[cfg(feature = "sqlx")]
mod sql {
    use super::Timestamp;

    impl<DB: sqlx::Database> sqlx::Type<DB> for Timestamp
    where
        i64: sqlx::Type<DB>,
    {
        fn type_info() -> DB::TypeInfo {
            <i64 as sqlx::Type<DB>>::type_info()
        }

        fn compatible(ty: &DB::TypeInfo) -> bool {
            <i64 as sqlx::Type<DB>>::compatible(ty)
        }
    }

    impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for Timestamp
    where
        i64: sqlx::Encode<'q, DB>,
    {
        fn encode_by_ref(
            &self,
            buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
        ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
            <i64 as sqlx::Encode<'q, DB>>::encode_by_ref(&self.0, buf)
        }
    }

    impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Timestamp
    where
        i64: sqlx::Decode<'r, DB>,
    {
        fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
            <i64 as sqlx::Decode<'r, DB>>::decode(value).map(Timestamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_down_also_before_the_epoch() {
        assert_eq!(Timestamp::from_micros(1_999_999).as_secs(), 1);
        assert_eq!(Timestamp::from_micros(-1).as_secs(), -1);
        assert_eq!(Timestamp::from_secs(-2).as_micros(), -2_000_000);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!(Timestamp::from_secs(i64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::MAX.add_secs(5), Timestamp::MAX);
        assert_eq!(
            Timestamp::from_micros(i64::MIN) - Duration::from_secs(1),
            Timestamp::from_micros(i64::MIN)
        );
    }

    #[test]
    fn duration_since_a_later_instant_is_zero() {
        let at = Timestamp::from_secs(10);
        assert_eq!(at.duration_since(at.add_secs(1)), Duration::ZERO);
        assert_eq!(at.add_secs(-3).as_secs(), 7);
    }

    #[test]
    fn prints_as_rfc_3339_with_micros_only_when_there_are_some() {
        assert_eq!(
            Timestamp::from_micros(1_500_000).to_string(),
            "1970-01-01T00:00:01.500000Z"
        );
        assert_eq!(Timestamp::UNIX_EPOCH.to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            format!("{:?}", Timestamp::from_micros(-5)),
            "Timestamp(5µs before the epoch)"
        );
    }

    #[test]
    fn serialises_as_its_micros() {
        let at = Timestamp::from_micros(1_700_000_000_123_456);
        assert_eq!(serde_json::to_string(&at).unwrap(), "1700000000123456");
        assert_eq!(
            serde_json::from_str::<Timestamp>("42").unwrap(),
            Timestamp::from_micros(42)
        );
    }

    #[test]
    fn system_time_round_trips() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_001);
        assert_eq!(
            Timestamp::from_system_time(at).as_micros(),
            1_700_000_000_000_001
        );
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(Timestamp::from_system_time(before).as_secs(), -1);
    }
}
