//! Does the cost of the hot paths stay flat as data grows? Seeds `N` users and `N` sessions
//! into a fresh database (one SQL statement per table: a recursive CTE on SQLite,
//! `generate_series` on PostgreSQL), then times the store work behind each hot path — the
//! very `Store` calls the HTTP handlers make — on random rows, and reports median and p99
//! per path, per engine, per size. `scripts/growth` runs it; `docs/SCALING.md` holds the
//! figures and the method.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use tessera_core::Timestamp;
use tessera_store::testing::TestDatabase;
use tessera_store::{Engine, NewSession, QueryPlan, Rotation, SessionKind, Store};

/// "Now" for every seeded row and every timed call (2025-01-01T00:00:00Z).
const NOW: Timestamp = Timestamp::from_secs(1_735_689_600);
/// One session in ten is expired, for `flushexpiredtokens` to delete.
const EXPIRED_EVERY: i64 = 10;
/// Rows per `flushexpiredtokens` statement (what `tessera flushexpiredtokens` uses).
const FLUSH_BATCH: u32 = 1000;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Numbers of users (and of sessions) to seed, one fresh database each.
    pub sizes: Vec<i64>,
    /// Engines to measure on.
    pub engines: Vec<Engine>,
    /// Timed calls per path and size.
    pub ops: usize,
}

/// The timings of one path at one size on one engine.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The path, e.g. `"refresh"`.
    pub path: &'static str,
    /// The engine.
    pub engine: Engine,
    /// Users (and sessions) seeded.
    pub size: i64,
    /// Median of one call of the path.
    pub median: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Calls timed.
    pub samples: usize,
}

/// A whole `flushexpiredtokens` run at the largest size, with refreshes beside it.
#[derive(Debug, Clone)]
pub struct FullFlush {
    /// The engine.
    pub engine: Engine,
    /// Users (and sessions) seeded.
    pub size: i64,
    /// Sessions deleted.
    pub deleted: u64,
    /// How long it took.
    pub took: Duration,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// One entry per path, engine and size.
    pub timings: Vec<Timing>,
    /// How long seeding took, per engine and size.
    pub seeding: Vec<(Engine, i64, Duration)>,
    /// Full flushes, per engine.
    pub flushes: Vec<FullFlush>,
    /// Query plans at each engine's largest size, with any full scan noted.
    pub plans: Vec<(Engine, i64, Vec<QueryPlan>)>,
    /// Engines that could not be measured (PostgreSQL not answering), and why.
    pub skipped: Vec<(Engine, String)>,
}

/// The paths, in report order, with what each one calls.
pub const PATHS: [(&str, &str); 8] = [
    (
        "authenticated request",
        "`user_with_session` (the user and the session's state, one query)",
    ),
    ("verify", "`session`"),
    ("refresh", "`user_by_id` + `rotate_session`"),
    (
        "login",
        "`user_by_email` + `create_session` + `set_last_login` (argon2 left out: it costs the same at any size)",
    ),
    (
        "logout",
        "`revoke_session_if_current` (of a session the login step opened)",
    ),
    ("sessions list", "`live_sessions`"),
    (
        "flushexpiredtokens, 10 rows",
        "`flush_expired_sessions` with a cut-off that 10 more expired sessions fall under",
    ),
    (
        "refresh while a flush runs",
        "refresh, while `flush_expired_sessions` deletes every expired session (largest size only)",
    ),
];

/// The paths timed call by call, interleaved across sizes.
const TIMED: [&str; 6] = [
    "authenticated request",
    "verify",
    "refresh",
    "login",
    "logout",
    "sessions list",
];
/// Each path's calls are made in this many blocks, alternating between the sizes, so that
/// whatever else the machine does weighs on every size alike.
const BLOCKS: usize = 10;

/// Runs the measurement.
///
/// # Errors
/// A database error, or seeding that did not produce the expected rows.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut sizes = options.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    for &engine in &options.engines {
        let mut databases = Vec::new();
        for &size in &sizes {
            let Some(db) = TestDatabase::new(engine, "tessera-growth").await else {
                break;
            };
            eprintln!("== {engine}: seeding {size} users and {size} sessions");
            let store = db.store().await;
            let started = Instant::now();
            seed(engine, db.url(), size).await?;
            let took = started.elapsed();
            eprintln!("   seeded in {:.1} s", took.as_secs_f64());
            report.seeding.push((engine, size, took));
            databases.push((db, store));
        }
        if databases.len() < sizes.len() {
            report
                .skipped
                .push((engine, "PostgreSQL does not answer".into()));
            continue;
        }
        let (_, largest) = databases.last().unwrap();
        report.plans.push((
            engine,
            *sizes.last().unwrap(),
            largest.query_plans(false).await?,
        ));

        let mut benches: Vec<Bench<'_>> = databases
            .iter()
            .zip(&sizes)
            .map(|((_, store), &size)| Bench::new(store, engine, size))
            .collect();
        for path in TIMED {
            eprintln!("   timing {path}");
            let block = options.ops.div_ceil(BLOCKS);
            let mut samples = vec![Vec::new(); benches.len()];
            for bench in &mut benches {
                bench.calls(path, block).await?; // warm-up
            }
            for _ in 0..BLOCKS {
                for (bench, samples) in benches.iter_mut().zip(&mut samples) {
                    samples.extend(bench.calls(path, block).await?);
                }
            }
            for (bench, samples) in benches.iter().zip(samples) {
                report.timings.push(bench.timing(path, samples));
            }
        }
        eprintln!("   timing flushexpiredtokens");
        for bench in &benches {
            report.timings.push(bench.small_flushes(options.ops).await?);
        }
        let (refreshes, flush) = benches.last_mut().unwrap().flush_beside_refreshes().await?;
        report.timings.push(refreshes);
        report.flushes.push(flush);
        for (_, store) in &databases {
            store.close().await;
        }
    }
    report.timings.sort_by_key(|t| {
        (
            PATHS.iter().position(|(p, _)| *p == t.path),
            t.engine == Engine::Postgres,
            t.size,
        )
    });
    Ok(report)
}

/// Inserts users `1..=size` (`user<i>@example.com`) and one session each (id: `i` as 32
/// hex digits, `jti`: `j<i>`). Every tenth session has expired: at `expires_at = i`
/// (seconds after 1970), so that cut-offs can pick them off ten at a time.
async fn seed(engine: Engine, url: &str, size: i64) -> anyhow::Result<()> {
    const USERS: &str = "INSERT INTO users (email, first_name, last_name, password_hash, \
         is_active, is_staff, is_superuser, date_joined, extra) \
         SELECT 'user' || i || '@example.com', 'First' || i, 'Last' || i, '!', \
         TRUE, FALSE, FALSE, $2, '{}' FROM series";
    const SESSIONS: &str = "INSERT INTO sessions (id, user_id, kind, current_jti, current_iat, \
         expires_at, created_at, last_used_at, user_agent, ip) \
         SELECT HEX_ID, i, 'refresh', 'j' || i, $3, \
         CASE WHEN i % $4 = 0 THEN i ELSE $3 + 86400 END, $2, $2, 'growth/1.0', '127.0.0.1' \
         FROM series";
    let (series, hex_id, afterwards) = match engine {
        Engine::Sqlite => (
            "WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < $1) ",
            "printf('%032x', i)",
            // Tessera never runs ANALYZE on SQLite; neither does the measurement.
            None,
        ),
        Engine::Postgres => (
            "WITH series AS (SELECT i FROM generate_series(1::BIGINT, $1) AS i) ",
            "lpad(to_hex(i), 32, '0')",
            // What autovacuum does soon after a bulk load, done now.
            Some("VACUUM ANALYZE"),
        ),
    };
    let statements =
        [USERS, SESSIONS].map(|sql| format!("{series}{}", sql.replace("HEX_ID", hex_id)));
    // The same work on either engine's connection type.
    macro_rules! seed_on {
        ($conn:expr) => {{
            let mut conn = $conn;
            for sql in &statements {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(size)
                    .bind(NOW)
                    .bind(NOW.as_secs())
                    .bind(EXPIRED_EVERY)
                    .execute(&mut conn)
                    .await?;
            }
            if let Some(sql) = afterwards {
                sqlx::query(sql).execute(&mut conn).await?;
            }
            sqlx::query_as("SELECT COUNT(*), MAX(id) FROM users")
                .fetch_one(&mut conn)
                .await?
        }};
    }
    let counts = match engine {
        Engine::Sqlite => seed_on!(sqlx::SqliteConnection::connect(url).await?),
        Engine::Postgres => seed_on!(sqlx::PgConnection::connect(url).await?),
    };
    check_seeded(counts, size)
}

fn check_seeded((count, max): (i64, Option<i64>), size: i64) -> anyhow::Result<()> {
    if count != size || max != Some(size) {
        bail!("seeding made {count} users up to id {max:?}, expected 1..={size}");
    }
    Ok(())
}

/// The 32-hex-digit id of seeded session `i`.
fn session_id(i: i64) -> String {
    format!("{i:032x}")
}

/// Times the paths on one seeded store.
struct Bench<'a> {
    store: &'a Store,
    engine: Engine,
    size: i64,
    /// Current `jti` of sessions that were rotated.
    jtis: HashMap<i64, String>,
    /// Sessions the login step opened, `(id, jti)`, for the logout step to end.
    opened: Vec<(String, String)>,
    /// A counter making every new `jti` unique.
    next: u64,
}

impl<'a> Bench<'a> {
    fn new(store: &'a Store, engine: Engine, size: i64) -> Self {
        Bench {
            store,
            engine,
            size,
            jtis: HashMap::new(),
            opened: Vec::new(),
            next: 0,
        }
    }

    /// A random user whose session is live.
    fn live_user(&self) -> i64 {
        loop {
            let i = rand::random_range(1..=self.size);
            if i % EXPIRED_EVERY != 0 {
                return i;
            }
        }
    }

    fn jti(&self, i: i64) -> String {
        self.jtis
            .get(&i)
            .cloned()
            .unwrap_or_else(|| format!("j{i}"))
    }

    fn timing(&self, path: &'static str, mut samples: Vec<Duration>) -> Timing {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Timing {
            path,
            engine: self.engine,
            size: self.size,
            median: at(0.5),
            p99: at(0.99),
            samples: samples.len(),
        }
    }

    /// Calls `path` `count` times, each on a random live user, and times each call.
    async fn calls(&mut self, path: &str, count: usize) -> anyhow::Result<Vec<Duration>> {
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let i = self.live_user();
            let started = Instant::now();
            self.call(path, i).await?;
            samples.push(started.elapsed());
        }
        Ok(samples)
    }

    async fn call(&mut self, path: &str, i: i64) -> anyhow::Result<()> {
        let store = self.store;
        let sid = session_id(i);
        match path {
            "authenticated request" => {
                let found = store.user_with_session(i, &sid).await?.context("no user")?;
                anyhow::ensure!(found.session.is_some(), "session {sid} not found");
            }
            "verify" => {
                store.session(&sid).await?.context("no session")?;
            }
            "refresh" => {
                store.user_by_id(i).await?.context("no user")?;
                self.next += 1;
                let new_jti = format!("r{}", self.next);
                let rotation = Rotation {
                    new_jti: new_jti.clone(),
                    new_iat: NOW,
                    new_expires_at: NOW.add_secs(86_400),
                    now: NOW,
                };
                let rotated = store.rotate_session(&sid, &self.jti(i), &rotation).await?;
                anyhow::ensure!(rotated.is_some(), "session {sid} did not rotate");
                self.jtis.insert(i, new_jti);
            }
            "login" => {
                let user = store
                    .user_by_email(&format!("user{i}@example.com"))
                    .await?
                    .context("no user")?;
                self.next += 1;
                let jti = format!("l{}", self.next);
                let session = store
                    .create_session(&NewSession {
                        user_id: user.id,
                        kind: SessionKind::Refresh,
                        jti: jti.clone(),
                        iat: NOW,
                        expires_at: NOW.add_secs(86_400),
                        user_agent: Some("growth/1.0".into()),
                        ip: Some("127.0.0.1".into()),
                        now: NOW,
                    })
                    .await?;
                store.set_last_login(user.id, NOW).await?;
                self.opened.push((session.id, jti));
            }
            "logout" => {
                let (id, jti) = self.opened.pop().context("logout needs a login first")?;
                let ended = store
                    .revoke_session_if_current(&id, &jti, tessera_store::RevokeReason::Logout, NOW)
                    .await?;
                anyhow::ensure!(ended, "session {id} was not ended");
            }
            "sessions list" => {
                store.live_sessions(i, NOW).await?;
            }
            other => bail!("unknown path {other}"),
        }
        Ok(())
    }

    /// `flush_expired_sessions` calls that each delete the next 10 expired sessions (at most
    /// `count` calls; a thousand seeded sessions hold ten such groups).
    async fn small_flushes(&self, count: usize) -> anyhow::Result<Timing> {
        let groups = (self.size / (EXPIRED_EVERY * 10)).min(count as i64);
        let mut samples = Vec::new();
        for group in 1..=groups {
            let cutoff = Timestamp::from_secs(group * EXPIRED_EVERY * 10 + 1);
            let started = Instant::now();
            let deleted = self
                .store
                .flush_expired_sessions(cutoff, FLUSH_BATCH)
                .await?;
            samples.push(started.elapsed());
            anyhow::ensure!(
                deleted == 10,
                "the cut-off {cutoff} flushed {deleted} sessions, not 10"
            );
        }
        Ok(self.timing("flushexpiredtokens, 10 rows", samples))
    }

    /// Deletes every remaining expired session (`tessera flushexpiredtokens`) while
    /// refreshing on other connections; returns the refreshes' timings and the flush.
    async fn flush_beside_refreshes(&mut self) -> anyhow::Result<(Timing, FullFlush)> {
        let store = self.store.clone();
        let flush = tokio::spawn(async move {
            let started = Instant::now();
            let deleted = store.flush_expired_sessions(NOW, FLUSH_BATCH).await?;
            anyhow::Ok((deleted, started.elapsed()))
        });
        let mut samples = Vec::new();
        while !flush.is_finished() {
            samples.extend(self.calls("refresh", 1).await?);
        }
        let (deleted, took) = flush.await??;
        let flush = FullFlush {
            engine: self.engine,
            size: self.size,
            deleted,
            took,
        };
        if samples.is_empty() {
            samples.extend(self.calls("refresh", 1).await?);
        }
        Ok((self.timing("refresh while a flush runs", samples), flush))
    }
}

/// The report as Markdown: one table with a row per path and engine, a column pair per
/// size, and the ratio of the largest size's median to the smallest's.
pub fn markdown(report: &Report, options: &Options) -> String {
    let mut out = String::new();
    let mut sizes = options.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let _ = write!(out, "| path | engine |");
    for size in &sizes {
        let _ = write!(out, " N = {} median | p99 |", thousands(*size));
    }
    let _ = writeln!(out, " median ratio |");
    let _ = writeln!(out, "|---|---|{}---:|", "---:|---:|".repeat(sizes.len()));
    for (path, _) in PATHS {
        for engine in &options.engines {
            let row: Vec<Option<&Timing>> = sizes
                .iter()
                .map(|size| {
                    report
                        .timings
                        .iter()
                        .find(|t| t.path == path && t.engine == *engine && t.size == *size)
                })
                .collect();
            if row.iter().all(Option::is_none) {
                continue;
            }
            let _ = write!(out, "| {path} | {engine} |");
            for timing in &row {
                match timing {
                    Some(t) => {
                        let _ = write!(out, " {} | {} |", micros(t.median), micros(t.p99));
                    }
                    None => out.push_str(" — | — |"),
                }
            }
            match (row.first(), row.last()) {
                (Some(Some(first)), Some(Some(last))) if row.len() > 1 => {
                    let ratio = last.median.as_secs_f64() / first.median.as_secs_f64();
                    let _ = writeln!(out, " {ratio:.2} |");
                }
                _ => out.push_str(" — |\n"),
            }
        }
    }
    out.push('\n');
    for (engine, size, took) in &report.seeding {
        let _ = writeln!(
            out,
            "- Seeding {} users and {0} sessions on {engine}: {:.1} s.",
            thousands(*size),
            took.as_secs_f64()
        );
    }
    for flush in &report.flushes {
        let _ = writeln!(
            out,
            "- `flushexpiredtokens` on {} with {} sessions: {} expired sessions deleted in {:.2} s \
             (batches of {FLUSH_BATCH}), while refreshes went on beside it.",
            flush.engine,
            thousands(flush.size),
            thousands(flush.deleted as i64),
            flush.took.as_secs_f64()
        );
    }
    for (engine, reason) in &report.skipped {
        let _ = writeln!(out, "- SKIPPED: {engine}: {reason}.");
    }
    for (engine, size, plans) in &report.plans {
        let _ = writeln!(
            out,
            "\nQuery plans on {engine} with {} rows:\n",
            thousands(*size)
        );
        for plan in plans {
            let scan = if plan.has_full_scan() {
                " **FULL SCAN**"
            } else {
                ""
            };
            let text = plan.plan.join(" / ");
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, "- {}{scan}: `{text}`", plan.name);
        }
    }
    out
}

/// `1234567` → `"1,234,567"`.
fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(d: Duration) -> String {
    format!("{} µs", d.as_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(1), "1");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn session_ids_look_like_real_ones() {
        assert_eq!(session_id(255), format!("{}ff", "0".repeat(30)));
        assert_eq!(session_id(1).len(), 32);
    }
}
