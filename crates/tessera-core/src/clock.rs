//! Where "now" comes from: the system clock in production, a settable one in tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::SystemTime;

use crate::timestamp::Timestamp;

/// A source of the current [`Timestamp`].
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

    /// A clock that stands still at `start` until told to move; returns the handle that
    /// moves it.
    pub fn manual(start: Timestamp) -> (Self, ManualClock) {
        let cell = Arc::new(AtomicI64::new(start.as_micros()));
        (Self(Source::Manual(cell.clone())), ManualClock(cell))
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            Source::System => Timestamp::from_system_time(SystemTime::now()),
            Source::Manual(cell) => Timestamp::from_micros(cell.load(Ordering::SeqCst)),
        }
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

    /// Sets the clock to an instant.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_micros(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let (clock, hand) = Clock::manual(Timestamp::from_micros(1_700_000_000_500_000));
        assert_eq!(clock.now().as_secs(), 1_700_000_000);
        hand.advance_secs(10);
        assert_eq!(clock.now().as_secs(), 1_700_000_010);
        assert_eq!(clock.clone().now().as_micros(), 1_700_000_010_500_000);
        hand.set(Timestamp::from_secs(5));
        assert_eq!(clock.now(), Timestamp::from_secs(5));
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(Clock::system().now().as_secs() > 1_700_000_000);
    }
}
