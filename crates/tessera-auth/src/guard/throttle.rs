//! DRF's throttling: rates such as `"5/min"`, a sliding-window log per key, and DRF's wait
//! before the next request is allowed.
//!
//! The counters live in memory for one server, or in the store when several servers share
//! it ([`ThrottleStorage`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use tessera_core::{Clock, SettingsError, Timestamp};
use tessera_store::Store;

use crate::error::AuthError;

/// A rate: so many requests per period (DRF's `num_requests` / `duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed in one period.
    pub requests: u32,
    /// The period.
    pub period: Duration,
}

impl Rate {
    /// DRF's `parse_rate`: `"<n>/<period>"`, the period's first letter being `s`, `m`, `h`
    /// or `d` (`"5/min"`, `"100/day"`, `"10/s"`).
    pub fn parse(text: &str) -> Option<Self> {
        let (count, period) = text.split_once('/')?;
        let requests: u32 = count.trim().parse().ok()?;
        let seconds = match period.trim().chars().next()? {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        (requests > 0).then_some(Self {
            requests,
            period: Duration::from_secs(seconds),
        })
    }
}

/// Throttle and lockout settings, named after DRF's where DRF has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleSettings {
    /// DRF's `DEFAULT_THROTTLE_RATES`: `anon` and `user` apply to every request (anonymous
    /// by client address, authenticated by user), `login` and `register` to those routes
    /// (by client address), `password_change` to password changes (by user, and by client
    /// address apart), `ws_ticket` to WebSocket tickets (by user, and by client address
    /// apart). The account flows by e-mail have three: `email_request` (asking for a mail,
    /// by client address; an e-mail change also by user), `email_recipient` (mails to one
    /// address: over it, the request is answered as usual but nothing is sent) and
    /// `email_confirm` (confirming, verifying, logging in by code, by client address).
    /// `api_key_create` counts the API keys a user creates (by user) and `client_token` the
    /// client-credentials grant (by client address). `mfa` counts a login's second steps and
    /// their passkey options (by client address, the second steps also by user), TOTP setups
    /// (by user) and TOTP confirmations, removals and new recovery codes (by user and by
    /// client address apart); the server
    /// sets it as `login`. `social` counts social login's starts, callbacks, code exchanges
    /// and links (by client address). A missing or empty rate turns that throttle off.
    /// Defaults to `register = "10/hour"` and `password_change = "10/hour"` (both spend a
    /// password hash per request), `ws_ticket = "60/min"`, `email_request = "20/hour"`,
    /// `email_recipient = "5/hour"`, `email_confirm = "30/hour"`,
    /// `api_key_create = "20/hour"` and `social = "60/min"`.
    pub throttle_rates: BTreeMap<String, String>,
    /// DRF's `NUM_PROXIES`: how many reverse proxies stand in front, so the client address
    /// is read from `X-Forwarded-For`. Unset: the socket's address, and the header is ignored.
    #[serde(deserialize_with = "count")]
    pub num_proxies: Option<usize>,
    /// Failed logins of one name from one client address before that address is locked out
    /// of it (see [`Lockout`](super::Lockout)). `0` turns lockout off. Defaults to 5.
    pub login_failure_limit: u32,
    /// The first lock's length; each further failure doubles it. Defaults to 1 minute.
    #[serde(with = "tessera_core::duration")]
    pub login_lockout_base: Duration,
    /// The longest lock, and how long a failure count waits after its last failure and the
    /// end of its lock before it starts afresh. Defaults to 1 hour.
    #[serde(with = "tessera_core::duration")]
    pub login_lockout_max: Duration,
    /// Password hashes that may wait for a hashing thread; beyond that, 503 at once. Hashes
    /// for registrations and password changes may take at most half of the places (see
    /// [`Hashing`](super::Hashing)). Defaults to 64.
    pub hash_queue_limit: usize,
    /// Where throttle counters and login lockouts are kept. Defaults to `auto`.
    pub throttle_storage: ThrottleStorage,
}

/// Where throttle counters and login failures are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleStorage {
    /// `database` on PostgreSQL (servers sharing it count together), `memory` on SQLite.
    #[default]
    Auto,
    /// This process's memory: the fastest, but each server counts alone.
    Memory,
    /// The store: every server sharing the database sees the same counts and locks, at the
    /// cost of a short write transaction per throttled request.
    Database,
}

impl ThrottleStorage {
    /// Whether counters go to the store on `engine`.
    pub fn shared_on(self, engine: tessera_store::Engine) -> bool {
        match self {
            ThrottleStorage::Auto => engine == tessera_store::Engine::Postgres,
            ThrottleStorage::Memory => false,
            ThrottleStorage::Database => true,
        }
    }
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            throttle_rates: [
                ("register".to_owned(), "10/hour".to_owned()),
                ("password_change".to_owned(), "10/hour".to_owned()),
                ("ws_ticket".to_owned(), "60/min".to_owned()),
                ("email_request".to_owned(), "20/hour".to_owned()),
                ("email_recipient".to_owned(), "5/hour".to_owned()),
                ("email_confirm".to_owned(), "30/hour".to_owned()),
                ("api_key_create".to_owned(), "20/hour".to_owned()),
                ("social".to_owned(), "60/min".to_owned()),
            ]
            .into(),
            num_proxies: None,
            login_failure_limit: 5,
            login_lockout_base: Duration::from_secs(60),
            login_lockout_max: Duration::from_secs(3600),
            hash_queue_limit: 64,
            throttle_storage: ThrottleStorage::Auto,
        }
    }
}

impl ThrottleSettings {
    /// Checks every value; the first problem names its setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (scope, rate) in &self.throttle_rates {
            if !rate.is_empty() && Rate::parse(rate).is_none() {
                return Err(SettingsError {
                    setting: "throttle_rates".into(),
                    message: format!(
                        "{scope}: {rate:?} is not a rate such as \"5/min\" or \"100/day\""
                    ),
                });
            }
        }
        if self.login_lockout_base.is_zero() || self.login_lockout_max < self.login_lockout_base {
            return Err(SettingsError {
                setting: "login_lockout_max".into(),
                message: "must be at least login_lockout_base, which must be above zero".into(),
            });
        }
        Ok(())
    }

    /// What pruning the store's throttle rows may delete at `now`: request records before
    /// the first instant (older than the longest window DRF knows, a day), and failure
    /// counts of names neither locked nor failing since the second (a day, or
    /// `login_lockout_max` if longer).
    pub fn prune_cutoffs(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        const DAY: Duration = Duration::from_secs(86_400);
        (now - DAY, now - self.login_lockout_max.max(DAY))
    }

    /// The rate of a scope, if that throttle is on.
    pub fn rate(&self, scope: &str) -> Option<Rate> {
        self.throttle_rates.get(scope).and_then(|r| Rate::parse(r))
    }
}

/// An optional count given as a number, or as text (as environment variables give it).
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Count(usize),
        Text(String),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Raw::Count(count)) => Ok(Some(count)),
        Some(Raw::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(Raw::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a number"))),
    }
}

/// The request histories, in memory: `key → timestamps, newest first` (DRF's cache entry).
#[derive(Debug, Default)]
pub struct MemoryThrottle {
    histories: Mutex<HashMap<String, VecDeque<f64>>>,
}

/// The most keys kept. A new key arriving at a full map first sweeps out the histories idle
/// for a day (the longest window DRF knows), then — still full — the tenth whose newest
/// request is oldest; so the sweep's cost is spread over at least a tenth of the map's new
/// keys, and memory stays bounded whatever number of addresses a client uses.
const MAX_KEYS: usize = 100_000;

/// A day, in seconds: no throttle window is longer.
const LONGEST_WINDOW_SECS: f64 = 86_400.0;

impl MemoryThrottle {
    /// DRF's `allow_request`: `None` when the request may go on (and is recorded), or
    /// `Some(wait)` in seconds when it is throttled.
    pub fn hit(&self, key: &str, rate: Rate, now: f64) -> Option<f64> {
        let duration = rate.period.as_secs_f64();
        let mut histories = self
            .histories
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if histories.len() >= MAX_KEYS && !histories.contains_key(key) {
            make_room(&mut histories, now);
        }
        let history = histories.entry(key.to_owned()).or_default();
        while history
            .back()
            .is_some_and(|oldest| *oldest <= now - duration)
        {
            history.pop_back();
        }
        if history.len() >= rate.requests as usize {
            return Some(wait(history.len(), history.back().copied(), rate, now));
        }
        history.push_front(now);
        None
    }
}

/// Frees at least a tenth of a full map: idle histories first, then the least recent ones.
fn make_room(histories: &mut HashMap<String, VecDeque<f64>>, now: f64) {
    let newest = |h: &VecDeque<f64>| h.front().copied().unwrap_or(f64::NEG_INFINITY);
    histories.retain(|_, h| newest(h) > now - LONGEST_WINDOW_SECS);
    if histories.len() < MAX_KEYS - MAX_KEYS / 10 {
        return;
    }
    let mut times: Vec<f64> = histories.values().map(newest).collect();
    let cut = times.len() / 10;
    let (_, cutoff, _) = times.select_nth_unstable_by(cut, f64::total_cmp);
    let cutoff = *cutoff;
    histories.retain(|_, h| newest(h) > cutoff);
}

/// DRF's `wait()` for a window holding `count` requests, the oldest at `oldest` (seconds):
/// the time until the oldest leaves the window, spread over the requests then available.
fn wait(count: usize, oldest: Option<f64>, rate: Rate, now: f64) -> f64 {
    let duration = rate.period.as_secs_f64();
    let remaining = match oldest {
        Some(oldest) => duration - (now - oldest),
        None => duration,
    };
    let available = rate.requests as f64 - count as f64 + 1.0;
    if available <= 0.0 {
        remaining
    } else {
        remaining / available
    }
}

/// The throttles of every scope, counting in memory or in the store.
#[derive(Debug)]
pub struct Throttles {
    settings: ThrottleSettings,
    /// The rates, parsed once: a scope without one is not throttled.
    rates: HashMap<String, Rate>,
    /// Counters are kept in the store rather than in `memory`.
    shared: bool,
    memory: MemoryThrottle,
    store: Store,
    clock: Clock,
}

impl Throttles {
    /// Throttles under `settings`, counting where `throttle_storage` says for `store`'s engine.
    pub fn new(settings: &ThrottleSettings, store: Store, clock: Clock) -> Self {
        let rates = settings
            .throttle_rates
            .keys()
            .filter_map(|scope| Some((scope.clone(), settings.rate(scope)?)))
            .collect();
        Self {
            settings: settings.clone(),
            rates,
            shared: settings.throttle_storage.shared_on(store.engine()),
            memory: MemoryThrottle::default(),
            store,
            clock,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &ThrottleSettings {
        &self.settings
    }

    /// The rate of `scope`, if that throttle is on.
    pub fn rate(&self, scope: &str) -> Option<Rate> {
        self.rates.get(scope).copied()
    }

    /// Counts a request of `scope` (`login`, `register`, `anon`, `user` …) by `ident` (a
    /// client address or a user id).
    ///
    /// # Errors
    /// [`AuthError::Throttled`] with DRF's wait when over the scope's rate; the store's error.
    pub async fn check(&self, scope: &str, ident: &str) -> Result<(), AuthError> {
        self.check_each(scope, &[ident]).await
    }

    /// Counts a request of `scope` against each of `idents` (a user and a client address,
    /// say) as DRF runs several throttles: each counts the request when it allows it, and
    /// the request goes on only when all allow it.
    ///
    /// # Errors
    /// [`AuthError::Throttled`] with the longest of the waits when any is over the rate;
    /// the store's error.
    pub async fn check_each(&self, scope: &str, idents: &[&str]) -> Result<(), AuthError> {
        let mut longest: Option<u64> = None;
        for ident in idents {
            if let Err(error) = self.hit(scope, ident).await {
                match error {
                    AuthError::Throttled { wait } => {
                        longest = Some(longest.map_or(wait, |other| other.max(wait)));
                    }
                    other => return Err(other),
                }
            }
        }
        match longest {
            None => Ok(()),
            Some(wait) => Err(AuthError::Throttled { wait }),
        }
    }

    /// One request of `scope` by `ident`.
    async fn hit(&self, scope: &str, ident: &str) -> Result<(), AuthError> {
        let Some(rate) = self.rate(scope) else {
            return Ok(());
        };
        let key = format!("throttle_{scope}_{ident}");
        let now = self.clock.now();
        let wait = if self.shared {
            let hit = self
                .store
                .throttle_hit(&key, rate.requests, rate.period, now)
                .await?;
            (!hit.allowed).then(|| {
                let oldest = hit.oldest.map(Timestamp::as_secs_f64);
                wait(hit.count as usize, oldest, rate, now.as_secs_f64())
            })
        } else {
            self.memory.hit(&key, rate, now.as_secs_f64())
        };
        match wait {
            None => Ok(()),
            Some(wait) => {
                metrics::counter!("tessera_throttled_total", "scope" => scope.to_owned())
                    .increment(1);
                Err(AuthError::Throttled {
                    wait: wait.ceil().max(1.0) as u64,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_like_drf() {
        assert_eq!(
            Rate::parse("5/min"),
            Some(Rate {
                requests: 5,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!(
            Rate::parse("100/day").unwrap().period,
            Duration::from_secs(86_400)
        );
        assert_eq!(Rate::parse("3/s").unwrap().period, Duration::from_secs(1));
        assert_eq!(
            Rate::parse("10/hour").unwrap().period,
            Duration::from_secs(3600)
        );
        for bad in ["5", "x/min", "5/year", "0/min", "5/"] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_window_slides_and_the_wait_is_drfs() {
        let throttle = MemoryThrottle::default();
        let rate = Rate::parse("3/min").unwrap();
        for t in [0.0, 10.0, 20.0] {
            assert_eq!(throttle.hit("k", rate, t), None);
        }
        // Fourth request at t=30: the oldest (t=0) leaves at t=60 → 30 s, one slot → 30/1.
        assert_eq!(throttle.hit("k", rate, 30.0), Some(30.0));
        // Another key is independent.
        assert_eq!(throttle.hit("other", rate, 30.0), None);
        // At t=60 the first request has left the window.
        assert_eq!(throttle.hit("k", rate, 60.0), None);
        assert!(throttle.hit("k", rate, 61.0).is_some());
    }

    #[test]
    fn the_memory_map_stays_bounded_and_keeps_the_recent_keys() {
        let throttle = MemoryThrottle::default();
        let (rate, busy) = (
            Rate::parse("5/min").unwrap(),
            Rate::parse("100/min").unwrap(),
        );
        let start = 1_750_000_000.0;
        assert!(throttle.hit("recent", busy, start).is_none());
        for i in 0..(MAX_KEYS + 50_000) {
            let now = start + 1.0 + i as f64 * 1e-3;
            assert!(throttle.hit(&format!("address-{i}"), rate, now).is_none());
            if i % 10_000 == 0 {
                // A key in use keeps being hit: it is never the least recent.
                assert!(throttle.hit("recent", busy, now).is_none());
            }
        }
        let histories = throttle.histories.lock().unwrap();
        assert!(histories.len() <= MAX_KEYS, "{}", histories.len());
        assert!(histories.contains_key("recent"));
        assert!(
            !histories.contains_key("address-0"),
            "the least recent went first"
        );
    }

    #[test]
    fn settings_are_checked() {
        let mut s = ThrottleSettings::default();
        s.throttle_rates.insert("login".into(), "5/min".into());
        assert!(s.validate().is_ok());
        assert_eq!(s.rate("login"), Rate::parse("5/min"));
        assert_eq!(s.rate("anon"), None);
        let day = |n: i64| Timestamp::from_secs(n * 86_400);
        assert_eq!(s.prune_cutoffs(day(10)), (day(9), day(9)));
        assert!(ThrottleStorage::Auto.shared_on(tessera_store::Engine::Postgres));
        assert!(!ThrottleStorage::Auto.shared_on(tessera_store::Engine::Sqlite));
        assert!(ThrottleStorage::Database.shared_on(tessera_store::Engine::Sqlite));
        assert!(!ThrottleStorage::Memory.shared_on(tessera_store::Engine::Postgres));
        s.throttle_rates.insert("anon".into(), "lots".into());
        assert_eq!(s.validate().unwrap_err().setting, "throttle_rates");
    }
}
