//! Where "now" comes from: the system clock in production, a settable one in tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in microseconds since the Unix epoch.
///
/// Cloning is cheap; every clone reads the same source.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The operating system's wall clock.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that stands still until told to move; returns the handle that moves it.
    pub fn manual(start_micros: i64) -> (Self, ManualClock) {
        let cell = Arc::new(AtomicI64::new(start_micros));
        (Self(Source::Manual(cell.clone())), ManualClock(cell))
    }

    /// Microseconds since the Unix epoch.
    pub fn now_micros(&self) -> i64 {
        match &self.0 {
            Source::System => {
                let since = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
            }
            Source::Manual(cell) => cell.load(Ordering::SeqCst),
        }
    }

    /// Whole seconds since the Unix epoch, as JWT claims count them.
    pub fn now_secs(&self) -> i64 {
        self.now_micros().div_euclid(1_000_000)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(_) => f.write_str("Clock::manual"),
        }
    }
}

/// The handle that moves a [`Clock::manual`] clock.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Moves the clock forward (or back, with a negative amount) by whole seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.0
            .fetch_add(secs.saturating_mul(1_000_000), Ordering::SeqCst);
    }

    /// Sets the clock to an instant, in microseconds since the epoch.
    pub fn set_micros(&self, micros: i64) {
        self.0.store(micros, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let (clock, hand) = Clock::manual(1_700_000_000_500_000);
        assert_eq!(clock.now_secs(), 1_700_000_000);
        hand.advance_secs(10);
        assert_eq!(clock.now_secs(), 1_700_000_010);
        assert_eq!(clock.clone().now_micros(), 1_700_000_010_500_000);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(Clock::system().now_secs() > 1_700_000_000);
    }
}
