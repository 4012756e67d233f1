//! The server's resident memory with many live sessions, many distinct users
//! authenticating, and a steady rate of revocations from another process.
//!
//! One `tessera serve` on a SQLite file. The bench writes the users and most sessions
//! straight into the database (one `INSERT … SELECT` each, no password hashing), issues
//! one session per user through the library (its access token is what the user's
//! requests carry), and reads `VmRSS` from `/proc/<pid>/status`:
//!
//! 1. after start-up, on the empty database;
//! 2. with every session in place, after a warm-up of authenticated GETs by one user (the
//!    request machinery's own buffers);
//! 3. after one authenticated GET by every user (what the server keeps per user it has
//!    served);
//! 4. after revoking sessions at an even pace from the bench's own process (through the
//!    store, as any other writer would), while authenticated GETs over all users run.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tessera_core::Claims;
use tessera_store::{RevokeReason, Store};

use crate::instance::{Instance, Setup, client, profile_status};

/// How many requests are in flight at once during the GET phases.
const CONCURRENCY: usize = 4;

/// What to create and how fast to revoke.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Users, each with one session issued through the library.
    pub users: usize,
    /// Live sessions in all (at least `users`; the rest are written with SQL).
    pub sessions: usize,
    /// Sessions revoked in the last phase (at most `sessions - users`).
    pub revocations: usize,
    /// Over how long the revocations are spread.
    pub seconds: u64,
}

/// Runs the phases and prints a Markdown table of the server's memory.
///
/// # Errors
/// When the plan does not fit, or the server, the database or a request fails.
pub async fn memory(setup: &Setup, plan: Plan) -> anyhow::Result<()> {
    if plan.users == 0 || plan.sessions < plan.users + plan.revocations {
        bail!("the plan needs users ≥ 1 and sessions ≥ users + revocations: {plan:?}");
    }
    let url = format!("sqlite://{}", setup.dir.join("memory.db").display());
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let server = Instance::start(setup, "memory", &url)?;
    let fresh = server.memory_kib("VmRSS")?;

    let pool = SqlitePool::connect_with(
        SqliteConnectOptions::from_str(&url)?.busy_timeout(Duration::from_secs(30)),
    )
    .await?;
    let now = crate::now();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $1) \
         INSERT INTO users (email, password_hash, is_active, date_joined) \
         SELECT 'memory' || i || '@example.com', '!', 1, $2 FROM n",
    )
    .bind(plan.users as i64)
    .bind(now)
    .execute(&pool)
    .await
    .context("creating the users")?;
    let first: i64 = sqlx::query_scalar("SELECT min(id) FROM users")
        .fetch_one(&pool)
        .await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $1) \
         INSERT INTO sessions (id, user_id, kind, current_jti, current_iat, expires_at, \
         created_at, last_used_at) \
         SELECT 'memory' || i, $2 + i % $3, 'refresh', lower(hex(randomblob(16))), $4, $5, $6, $6 \
         FROM n",
    )
    .bind((plan.sessions - plan.users) as i64)
    .bind(first)
    .bind(plan.users as i64)
    .bind(now.as_secs())
    .bind(now.add_secs(7 * 24 * 3600).as_secs())
    .bind(now)
    .execute(&pool)
    .await
    .context("creating the sessions")?;
    let tokens = Arc::new(issue_access_tokens(setup, &store).await?);
    eprintln!(
        "memory: {} users, {} sessions created",
        plan.users, plan.sessions
    );

    let http = client()?;
    let one = Arc::new(vec![tokens[0].clone()]);
    let warm_gets = plan.users.max(1000);
    check(
        run_gets(&http, server.base(), &one, Some(warm_gets), None).await,
        "warm-up",
    )?;
    let warm = server.memory_kib("VmRSS")?;
    check(
        run_gets(&http, server.base(), &tokens, Some(tokens.len()), None).await,
        "users",
    )?;
    let served = server.memory_kib("VmRSS")?;

    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sessions WHERE id LIKE 'memory%' ORDER BY rowid LIMIT $1",
    )
    .bind(plan.revocations as i64)
    .fetch_all(&pool)
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (http, base, tokens, stop) = (
            http.clone(),
            server.base().to_owned(),
            tokens.clone(),
            stop.clone(),
        );
        tokio::spawn(async move { run_gets(&http, &base, &tokens, None, Some(stop)).await })
    };
    let start = tokio::time::Instant::now();
    let pace = Duration::from_secs(plan.seconds).as_secs_f64() / ids.len().max(1) as f64;
    for (i, id) in ids.iter().enumerate() {
        tokio::time::sleep_until(start + Duration::from_secs_f64(pace * i as f64)).await;
        store
            .revoke_session(id, RevokeReason::Logout, crate::now())
            .await?;
    }
    let spent = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ok, other) = load.await??;
    let revoked = server.memory_kib("VmRSS")?;
    let peak = server.memory_kib("VmHWM")?;
    drop(server);
    pool.close().await;
    store.close().await;

    let mb = |kib: u64| format!("{:.1} MB", kib as f64 / 1024.0);
    let per = |after: u64, before: u64, n: usize| {
        let bytes = (after as f64 - before as f64) * 1024.0 / n.max(1) as f64;
        format!("{bytes:+.0} B each")
    };
    println!("| server state (SQLite, one instance) | VmRSS | change per entry |");
    println!("|---|---:|---:|");
    println!("| fresh start, empty database | {} | |", mb(fresh));
    println!(
        "| {} live sessions of {} users, after {warm_gets} GETs by one user | {} | |",
        plan.sessions,
        plan.users,
        mb(warm)
    );
    println!(
        "| after one GET by each of the {} users | {} | {} (per user) |",
        plan.users,
        mb(served),
        per(served, warm, plan.users)
    );
    println!(
        "| after {} revocations over {:.0} s, GETs over all users running ({ok} answered 200, {other} not) | {} | {} (per revocation) |",
        ids.len(),
        spent.as_secs_f64(),
        mb(revoked),
        per(revoked, served, ids.len())
    );
    println!();
    println!("Peak (VmHWM): {}.", mb(peak));
    if other > 0 {
        bail!("{other} authenticated GETs were refused during the revocations");
    }
    Ok(())
}

/// One session per user, issued through the library; their access tokens, in user order.
async fn issue_access_tokens(setup: &Setup, store: &Store) -> anyhow::Result<Vec<String>> {
    let users = store.list_users().await?;
    let auth = crate::issuer(&setup.key, store.clone()).await?;
    let users = Arc::new(users);
    let mut tasks = Vec::new();
    let lanes = 8;
    for lane in 0..lanes {
        let (auth, users) = (auth.clone(), users.clone());
        tasks.push(tokio::spawn(async move {
            let mut issued = Vec::new();
            for (i, user) in users.iter().enumerate().skip(lane).step_by(lanes) {
                let pair = auth
                    .issue_pair(user, &crate::bench_client(), &Claims::new())
                    .await?;
                issued.push((i, pair.access));
            }
            anyhow::Ok(issued)
        }));
    }
    let mut tokens = vec![String::new(); users.len()];
    for task in tasks {
        for (i, access) in task.await?? {
            tokens[i] = access;
        }
    }
    auth.audit_log().flush().await;
    Ok(tokens)
}

/// Authenticated GETs with `tokens` in turn, [`CONCURRENCY`] at a time: `total` of them,
/// or until `stop`. Returns how many answered 200 and how many did not.
async fn run_gets(
    http: &reqwest::Client,
    base: &str,
    tokens: &Arc<Vec<String>>,
    total: Option<usize>,
    stop: Option<Arc<AtomicBool>>,
) -> anyhow::Result<(u64, u64)> {
    let (ok, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for lane in 0..CONCURRENCY {
        let (http, base, tokens) = (http.clone(), base.to_owned(), tokens.clone());
        let (ok, other, stop) = (ok.clone(), other.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = lane;
            while total.is_none_or(|total| i < total)
                && !stop
                    .as_ref()
                    .is_some_and(|stop| stop.load(Ordering::Relaxed))
            {
                let status = profile_status(&http, &base, &tokens[i % tokens.len()]).await?;
                let counter = if status == 200 { &ok } else { &other };
                counter.fetch_add(1, Ordering::Relaxed);
                i += CONCURRENCY;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((ok.load(Ordering::Relaxed), other.load(Ordering::Relaxed)))
}

/// Fails when a GET phase had a request refused.
fn check(result: anyhow::Result<(u64, u64)>, phase: &str) -> anyhow::Result<()> {
    let (_, other) = result?;
    if other > 0 {
        bail!("{other} authenticated GETs were refused in the {phase} phase");
    }
    Ok(())
}
