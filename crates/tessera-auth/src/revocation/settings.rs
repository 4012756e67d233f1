//! The settings of the in-memory revocation state (`revocation_*`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_core::SettingsError;

/// How far authentication may trust memory, how often it reads the change log, and how much
/// it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RevocationSettings {
    /// How far behind the change log the in-memory state may be and still decide: past it,
    /// authentication reads the database until the feed has caught up. `0` turns the
    /// in-memory state off (every check reads the database). Defaults to 1 second.
    #[serde(with = "tessera_core::duration")]
    pub revocation_max_staleness: Duration,
    /// How often the feed reads the change log when nothing woke it (a PostgreSQL `NOTIFY`
    /// wakes it at once): at least 10 ms, at most half of `revocation_max_staleness`.
    /// Defaults to 250 milliseconds.
    #[serde(with = "tessera_core::duration")]
    pub revocation_poll_interval: Duration,
    /// The most user records held for authentication (and, apart, the most API keys), from
    /// 100 to 10,000,000. Defaults to 100,000.
    pub revocation_cache_capacity: usize,
    /// The most ended sessions held. Beyond it, authentication reads the database until the
    /// surplus has aged out of the window. From 1,000 to 100,000,000; defaults to 1,000,000.
    pub revocation_window_capacity: usize,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            revocation_max_staleness: Duration::from_secs(1),
            revocation_poll_interval: Duration::from_millis(250),
            revocation_cache_capacity: 100_000,
            revocation_window_capacity: 1_000_000,
        }
    }
}

impl RevocationSettings {
    /// Settings that keep nothing in memory: every check reads the database.
    pub fn database_only() -> Self {
        Self {
            revocation_max_staleness: Duration::ZERO,
            ..Self::default()
        }
    }

    /// Whether authentication may decide from memory at all.
    pub fn enabled(&self) -> bool {
        !self.revocation_max_staleness.is_zero()
    }

    /// Checks every value; the first problem names its setting.
    ///
    /// # Errors
    /// A poll interval out of bounds, or a capacity out of bounds.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let error = |setting: &str, message: String| {
            Err(SettingsError {
                setting: setting.into(),
                message,
            })
        };
        if self.revocation_max_staleness > Duration::from_secs(3600) {
            return error("revocation_max_staleness", "must be at most 1 hour".into());
        }
        if self.enabled()
            && (self.revocation_poll_interval < Duration::from_millis(10)
                || self.revocation_poll_interval > self.revocation_max_staleness / 2)
        {
            return error(
                "revocation_poll_interval",
                "must be at least 10ms and at most half of revocation_max_staleness".into(),
            );
        }
        if !(100..=10_000_000).contains(&self.revocation_cache_capacity) {
            return error(
                "revocation_cache_capacity",
                "must be between 100 and 10000000".into(),
            );
        }
        if !(1_000..=100_000_000).contains(&self.revocation_window_capacity) {
            return error(
                "revocation_window_capacity",
                "must be between 1000 and 100000000".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bounds_are_named() {
        assert!(RevocationSettings::default().validate().is_ok());
        assert!(RevocationSettings::database_only().validate().is_ok());
        let too_slow = RevocationSettings {
            revocation_poll_interval: Duration::from_millis(600),
            ..RevocationSettings::default()
        };
        let error = too_slow.validate().unwrap_err();
        assert_eq!(error.setting, "revocation_poll_interval");
        let tiny = RevocationSettings {
            revocation_cache_capacity: 10,
            ..RevocationSettings::default()
        };
        assert_eq!(
            tiny.validate().unwrap_err().setting,
            "revocation_cache_capacity"
        );
    }
}
