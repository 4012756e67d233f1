//! One duration for every failed login, whatever the account's hash format.
//!
//! A wrong password costs what its stored hash costs: Tessera's argon2id (the dummy hash an
//! unknown user is checked against has the same parameters) takes tens of milliseconds, an
//! imported Django `pbkdf2_sha256` hash with 1,000,000 iterations hundreds. Unpadded, the
//! difference tells which names are imported accounts. So every failure is padded, after
//! its hashing thread is released (an async sleep), to the *failure time*: the longest of
//!
//! * the running average of a check with Tessera's own parameters (the dummy's, and any
//!   argon2id hash of Tessera's own) — kept apart from the slow formats, so that they never
//!   skew it;
//! * for each other format checked in the last [`FORGET_AFTER`], the slowest of its last
//!   [`RECENT_CHECKS`] checks — so that once every imported account has logged in (and had
//!   its hash upgraded), that format is forgotten and failures are fast again;
//!
//! and never more than [`MAX_FAILURE_TIME`]. Times are measured on the hashing thread, so
//! the wait for a thread (the same for every request) is not counted twice.
//!
//! Everything here takes the time (`now`) from its caller: the arithmetic is tested with
//! made-up durations and instants.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The longest a failed login is padded to, however slow the slowest format checked.
pub const MAX_FAILURE_TIME: Duration = Duration::from_secs(2);

/// A format not checked for this long is forgotten: its accounts have all been upgraded
/// (or stopped logging in).
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How many of each format's latest check times are kept; the slowest of them counts.
pub const RECENT_CHECKS: usize = 16;

/// The failure time before any check has been measured.
const INITIAL: Duration = Duration::from_millis(30);

/// The check times behind the failure time.
#[derive(Debug, Default)]
pub(crate) struct FailureTime {
    /// The running average of a check with Tessera's own parameters, in microseconds
    /// (0: none measured yet).
    own_micros: u64,
    /// The latest check times of each other format, by its name.
    formats: HashMap<&'static str, Recent>,
}

/// A format's latest check times.
#[derive(Debug)]
struct Recent {
    took: VecDeque<Duration>,
    last_checked: Instant,
}

impl FailureTime {
    /// Records a check that took `took`: of a hash in `format`, or with Tessera's own
    /// parameters (`None`: the dummy, an argon2id hash of Tessera's own, a new hash).
    pub(crate) fn record(&mut self, format: Option<&'static str>, took: Duration, now: Instant) {
        let Some(format) = format else {
            let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            self.own_micros = if self.own_micros == 0 {
                took
            } else {
                self.own_micros.saturating_mul(7).saturating_add(took) / 8
            };
            return;
        };
        let recent = self.formats.entry(format).or_insert_with(|| Recent {
            took: VecDeque::with_capacity(RECENT_CHECKS),
            last_checked: now,
        });
        if recent.took.len() == RECENT_CHECKS {
            recent.took.pop_front();
        }
        recent.took.push_back(took);
        recent.last_checked = recent.last_checked.max(now);
    }

    /// The average check with Tessera's own parameters (before any: 30 ms).
    pub(crate) fn own(&self) -> Duration {
        if self.own_micros == 0 {
            INITIAL
        } else {
            Duration::from_micros(self.own_micros)
        }
    }

    /// How long a failed login takes at `now`: the longest of [`own`](Self::own) and the
    /// slowest recent check of each format checked within [`FORGET_AFTER`], at most
    /// [`MAX_FAILURE_TIME`]. Forgets the formats not checked for longer.
    pub(crate) fn target(&mut self, now: Instant) -> Duration {
        self.formats
            .retain(|_, recent| now.saturating_duration_since(recent.last_checked) <= FORGET_AFTER);
        let slowest = self
            .formats
            .values()
            .flat_map(|recent| recent.took.iter().copied())
            .max()
            .unwrap_or_default();
        self.own().max(slowest).min(MAX_FAILURE_TIME)
    }

    /// The formats remembered at the moment (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn formats(&self) -> Vec<&'static str> {
        let mut formats: Vec<_> = self.formats.keys().copied().collect();
        formats.sort_unstable();
        formats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn before_any_check_a_failure_takes_the_initial_time() {
        let mut time = FailureTime::default();
        assert_eq!(time.target(Instant::now()), INITIAL);
    }

    #[test]
    fn own_checks_are_averaged_apart_from_the_slow_formats() {
        let now = Instant::now();
        let mut time = FailureTime::default();
        time.record(None, 40 * MS, now);
        assert_eq!(time.own(), 40 * MS);
        time.record(None, 80 * MS, now);
        assert_eq!(time.own(), 45 * MS);
        // A slow imported check raises the failure time, not the own average.
        time.record(Some("pbkdf2_sha256"), 500 * MS, now);
        assert_eq!(time.own(), 45 * MS);
        assert_eq!(time.target(now), 500 * MS);
    }

    #[test]
    fn the_slowest_recent_check_of_any_format_sets_the_failure_time() {
        let now = Instant::now();
        let mut time = FailureTime::default();
        time.record(None, 25 * MS, now);
        time.record(Some("bcrypt_sha256"), 250 * MS, now);
        time.record(Some("pbkdf2_sha256"), 450 * MS, now);
        time.record(Some("pbkdf2_sha256"), 420 * MS, now);
        assert_eq!(time.target(now), 450 * MS);
        assert_eq!(time.formats(), ["bcrypt_sha256", "pbkdf2_sha256"]);
    }

    #[test]
    fn an_old_outlier_falls_out_after_sixteen_newer_checks() {
        let now = Instant::now();
        let mut time = FailureTime::default();
        time.record(Some("pbkdf2_sha256"), 900 * MS, now);
        for _ in 0..RECENT_CHECKS - 1 {
            time.record(Some("pbkdf2_sha256"), 400 * MS, now);
        }
        assert_eq!(time.target(now), 900 * MS);
        time.record(Some("pbkdf2_sha256"), 400 * MS, now);
        assert_eq!(time.target(now), 400 * MS);
    }

    #[test]
    fn a_format_not_checked_for_a_day_is_forgotten() {
        let start = Instant::now();
        let mut time = FailureTime::default();
        time.record(None, 30 * MS, start);
        time.record(Some("pbkdf2_sha256"), 500 * MS, start);
        assert_eq!(time.target(start + FORGET_AFTER), 500 * MS);
        // Checked again: remembered for another day from then.
        let later = start + FORGET_AFTER / 2;
        time.record(Some("pbkdf2_sha256"), 480 * MS, later);
        assert_eq!(time.target(start + FORGET_AFTER + MS), 500 * MS);
        // Every imported account upgraded: nothing checks that format any more.
        assert_eq!(time.target(later + FORGET_AFTER + MS), 30 * MS);
        assert!(time.formats().is_empty());
    }

    #[test]
    fn the_failure_time_never_exceeds_the_cap() {
        let now = Instant::now();
        let mut time = FailureTime::default();
        time.record(Some("pbkdf2_sha256"), 7 * MAX_FAILURE_TIME, now);
        assert_eq!(time.target(now), MAX_FAILURE_TIME);
        time.record(None, Duration::MAX, now);
        assert_eq!(time.target(now), MAX_FAILURE_TIME);
    }

    #[test]
    fn an_instant_out_of_order_does_not_move_the_last_check_back() {
        let start = Instant::now();
        let mut time = FailureTime::default();
        time.record(Some("scrypt"), 100 * MS, start + FORGET_AFTER);
        time.record(Some("scrypt"), 100 * MS, start);
        // Remembered for a day from the latest check, not from the one recorded last.
        assert_eq!(time.target(start + 2 * FORGET_AFTER), 100 * MS);
        assert_eq!(time.target(start + 2 * FORGET_AFTER + MS), INITIAL);
    }
}
