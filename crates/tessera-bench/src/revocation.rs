//! How fast a revocation reaches a server that did not make it.
//!
//! * [`propagation`]: two `tessera serve` instances, A and B, on one fresh PostgreSQL
//!   database. For each revocation the bench opens a session (issued through the library
//!   exactly as a login issues it, without the password hash), waits until B accepts its
//!   access token on the store-backed profile route, blacklists the refresh token on A
//!   (`POST /api/token/blacklist/`), and times from A's answer to the first 401 from B,
//!   polling B back to back.
//! * [`deactivation`]: one instance on a SQLite file; for each of several users with an
//!   accepted access token, `tessera user deactivate <email>` runs as a process of its
//!   own on the same file, and the time from its exit to the server's first 401 is taken.

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tessera_core::Claims;
use tessera_store::{NewUser, Store, User};

use crate::instance::{Instance, Setup, client, poll_until};

/// How long a revocation may take to reach the other server before it counts as a failure.
const DEADLINE: Duration = Duration::from_secs(5);
/// How many users the sessions of [`propagation`] are spread over.
const PROPAGATION_USERS: usize = 10;
/// Where PostgreSQL is reached when `BENCH_POSTGRES_URL` is unset.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Measures `count` logouts on A until B refuses, on PostgreSQL; prints one Markdown row
/// (or a row saying why it was skipped when PostgreSQL does not answer).
///
/// # Errors
/// When a server or a request fails (a revocation that never arrives is counted, not an
/// error).
pub async fn propagation(setup: &Setup, count: usize) -> anyhow::Result<()> {
    let admin_url =
        std::env::var("BENCH_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = match connect(&admin_url).await {
        Ok(admin) => admin,
        Err(error) => {
            println!(
                "| logout on A, refused on B (PostgreSQL, 2 instances) | skipped: PostgreSQL \
                 does not answer at {admin_url} ({error:#}) | | | | | |"
            );
            return Ok(());
        }
    };
    let name = format!(
        "tessera_bench_{}_{}",
        std::process::id(),
        crate::now().as_micros()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating the database {name}"))?;
    let mut url = url::Url::parse(&admin_url).context("BENCH_POSTGRES_URL")?;
    url.set_path(&format!("/{name}"));
    let measured = measure_propagation(setup, url.as_str(), count).await;
    // The instances are gone by now; `FORCE` ends the bench's own pool's connections.
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    let samples = measured?;
    dropped.with_context(|| format!("dropping the database {name}"))?;
    println!(
        "{}",
        samples.row(
            "logout on A (`POST /api/token/blacklist/`), refused on B (PostgreSQL, 2 instances)",
            "p99 ≤ 50 ms"
        )
    );
    Ok(())
}

async fn measure_propagation(setup: &Setup, url: &str, count: usize) -> anyhow::Result<Samples> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let a = Instance::start(setup, "a", url)?;
    let b = Instance::start(setup, "b", url)?;
    let mut users = Vec::with_capacity(PROPAGATION_USERS);
    for i in 0..PROPAGATION_USERS {
        users.push(create_user(&store, &format!("propagation{i}@example.com")).await?);
    }
    let auth = crate::issuer(&setup.key, store.clone()).await?;
    let http = client()?;
    let mut samples = Samples::default();
    for i in 0..count {
        let pair = auth
            .issue_pair(
                &users[i % users.len()],
                &crate::bench_client(),
                &Claims::new(),
            )
            .await?;
        // B holds the token as valid before the revocation.
        let accepted =
            poll_until(&http, b.base(), &pair.access, 200, Instant::now(), DEADLINE).await?;
        if accepted.is_none() {
            bail!("B did not accept a fresh access token within {DEADLINE:?}");
        }
        let response = http
            .post(format!("{}/api/token/blacklist/", a.base()))
            .json(&serde_json::json!({"refresh": pair.refresh}))
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        let revoked = Instant::now();
        if !status.is_success() {
            bail!("A answered the blacklist request with {status}");
        }
        let refused = poll_until(&http, b.base(), &pair.access, 401, revoked, DEADLINE).await?;
        samples.push(refused);
        if (i + 1) % 100 == 0 {
            eprintln!("propagation: {} of {count}", i + 1);
        }
    }
    auth.audit_log().flush().await;
    drop((a, b));
    store.close().await;
    Ok(samples)
}

/// Measures `count` `tessera user deactivate` runs next to a server on SQLite; prints one
/// Markdown row.
///
/// # Errors
/// When the server, the command or a request fails.
pub async fn deactivation(setup: &Setup, count: usize) -> anyhow::Result<()> {
    let url = format!("sqlite://{}", setup.dir.join("deactivation.db").display());
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let server = Instance::start(setup, "deactivation", &url)?;
    let auth = crate::issuer(&setup.key, store.clone()).await?;
    let http = client()?;
    let mut samples = Samples::default();
    for i in 0..count {
        let email = format!("deactivate{i}@example.com");
        let user = create_user(&store, &email).await?;
        let pair = auth
            .issue_pair(&user, &crate::bench_client(), &Claims::new())
            .await?;
        let accepted = poll_until(
            &http,
            server.base(),
            &pair.access,
            200,
            Instant::now(),
            DEADLINE,
        )
        .await?;
        if accepted.is_none() {
            bail!("the server did not accept a fresh access token within {DEADLINE:?}");
        }
        let output = setup
            .command("deactivation-cli", &url)
            .args(["user", "deactivate", &email])
            .output()
            .context("running tessera user deactivate")?;
        let exited = Instant::now();
        if !output.status.success() {
            bail!(
                "tessera user deactivate {email}: {}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let refused = poll_until(&http, server.base(), &pair.access, 401, exited, DEADLINE).await?;
        samples.push(refused);
    }
    auth.audit_log().flush().await;
    drop(server);
    store.close().await;
    println!(
        "{}",
        samples.row(
            "`tessera user deactivate` (CLI process, exit), refused by the server (SQLite)",
            "≤ 1 s"
        )
    );
    Ok(())
}

/// A user with an unusable password (no hash to compute), active.
async fn create_user(store: &Store, email: &str) -> anyhow::Result<User> {
    Ok(store
        .create_user(&NewUser {
            email: email.to_owned(),
            password_hash: "!".to_owned(),
            is_active: true,
            date_joined: crate::now(),
            ..NewUser::default()
        })
        .await?)
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(url)?;
    Ok(
        tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options))
            .await
            .context("no answer within 5 s")??,
    )
}

/// Times until refusal; `None` for a revocation that did not arrive within [`DEADLINE`].
#[derive(Debug, Default)]
struct Samples {
    times: Vec<Duration>,
    failures: usize,
}

impl Samples {
    fn push(&mut self, time: Option<Duration>) {
        match time {
            Some(time) => self.times.push(time),
            None => self.failures += 1,
        }
    }

    /// `| name | n | p50 | p99 | max | failures | target |`; a failure is a revocation not
    /// refused within [`DEADLINE`].
    fn row(&self, name: &str, target: &str) -> String {
        let mut times = self.times.clone();
        times.sort_unstable();
        let quantile = |q: f64| -> String {
            if times.is_empty() {
                return "-".to_owned();
            }
            // The nearest-rank quantile.
            let rank = (q * times.len() as f64).ceil() as usize;
            millis(times[rank.clamp(1, times.len()) - 1])
        };
        format!(
            "| {name} | {} | {} | {} | {} | {} | {target} |",
            times.len() + self.failures,
            quantile(0.5),
            quantile(0.99),
            quantile(1.0),
            self.failures,
        )
    }
}

fn millis(time: Duration) -> String {
    format!("{:.2} ms", time.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_and_failures_are_counted() {
        let mut samples = Samples::default();
        for ms in (1..=100).rev() {
            samples.push(Some(Duration::from_millis(ms)));
        }
        samples.push(None);
        assert_eq!(
            samples.row("x", "t"),
            "| x | 101 | 50.00 ms | 99.00 ms | 100.00 ms | 1 | t |"
        );
        // Ten samples: the 99th percentile is the largest (rank ⌈9.9⌉ = 10).
        let mut ten = Samples::default();
        for ms in 1..=10 {
            ten.push(Some(Duration::from_millis(ms)));
        }
        assert_eq!(
            ten.row("x", "t"),
            "| x | 10 | 5.00 ms | 10.00 ms | 10.00 ms | 0 | t |"
        );
        assert_eq!(
            Samples::default().row("x", "t"),
            "| x | 0 | - | - | - | 0 | t |"
        );
    }
}
