//! Helpers of the load harness (`scripts/bench`); no part of a deployment.
//!
//! * `TESSERA_SIGNING_KEY=… tessera-bench mint <database-url> <email> <count>` opens the
//!   server's database and issues refresh tokens for one user, exactly as a login would (one
//!   session each), so that a load test can spend a fresh token on every refresh request.
//!   The tokens go to standard output, one per line.
//! * `tessera-bench serve` runs the `tessera` server exactly as configured (`TESSERA_*`), with
//!   one more route, `GET /api/claims/`, authenticated from the token alone (`TokenUser`),
//!   so that the stateless path is measured on the same server as the others.
//! * `tessera-bench bare <address>` serves `GET /healthz` from a bare axum router — no
//!   middleware, no state — the ceiling any route of the real server is measured against.
//! * `TESSERA_SIGNING_KEY=… tessera-bench propagation <tessera> <count>` — two `tessera
//!   serve` instances (the binary at `<tessera>`) on a fresh PostgreSQL database
//!   (`BENCH_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`; created
//!   and dropped): the time from a logout on one to a refusal on the other
//!   ([`revocation::propagation`]).
//! * `TESSERA_SIGNING_KEY=… tessera-bench deactivation <tessera> <count>` — one instance on
//!   SQLite and `tessera user deactivate` next to it ([`revocation::deactivation`]).
//! * `TESSERA_SIGNING_KEY=… tessera-bench memory <tessera> <users> <sessions> <revocations>
//!   <seconds>` — the server's resident memory with many sessions, users and revocations
//!   ([`memory::memory`]).
//!
//! The last three print Markdown rows on standard output, progress on standard error.

mod instance;
mod memory;
mod revocation;

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use tessera_auth::{Auth, ClientInfo};
use tessera_core::{Claims, Settings, Timestamp};
use tessera_store::Store;

const USAGE: &str = "usage: tessera-bench serve | tessera-bench mint <database-url> <email> <count> \
     | tessera-bench bare <address> | tessera-bench propagation <tessera> <count> \
     | tessera-bench deactivation <tessera> <count> \
     | tessera-bench memory <tessera> <users> <sessions> <revocations> <seconds>";

/// The allocator `tessera` runs with, so that `serve` measures what it serves.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, command, url, email, count] if command == "mint" => mint(url, email, count).await,
        [_, command, address] if command == "bare" => bare(address).await,
        [_, command] if command == "serve" => serve().await,
        [_, command, tessera, count] if command == "propagation" => {
            let count = number(count, "count")?;
            in_setup(tessera, async |setup| {
                revocation::propagation(setup, count).await
            })
            .await
        }
        [_, command, tessera, count] if command == "deactivation" => {
            let count = number(count, "count")?;
            in_setup(tessera, async |setup| {
                revocation::deactivation(setup, count).await
            })
            .await
        }
        [_, command, tessera, users, sessions, revocations, seconds] if command == "memory" => {
            let plan = memory::Plan {
                users: number(users, "users")?,
                sessions: number(sessions, "sessions")?,
                revocations: number(revocations, "revocations")?,
                seconds: number(seconds, "seconds")? as u64,
            };
            in_setup(tessera, async |setup| memory::memory(setup, plan).await).await
        }
        _ => bail!(USAGE),
    }
}

/// The server, as `tessera serve` runs it, plus the stateless route.
async fn serve() -> anyhow::Result<()> {
    let config = tessera_server::config::Config::load(None)?;
    tessera_server::telemetry::init(config.debug);
    let claims = axum::Router::new().route("/api/claims/", axum::routing::get(stateless));
    tessera_server::startup::Application::build_with(config, claims)
        .await?
        .run_until_stopped()
        .await
}

/// The token's user and type, with no store lookup.
async fn stateless(user: tessera_axum::TokenUser) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"user_id": user.id, "token_type": user.token.get("token_type")}))
}

/// Serves a bare axum route until killed; prints the address it listens on.
async fn bare(address: &str) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
    );
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    println!("{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Prints `count` fresh refresh tokens of `email`.
async fn mint(url: &str, email: &str, count: &str) -> anyhow::Result<()> {
    let count = number(count, "count")?;
    let store = Store::connect(url).await?;
    let user = store
        .user_by_email(email)
        .await?
        .with_context(|| format!("no user {email}"))?;
    let auth = issuer(&signing_key()?, store).await?;
    let client = bench_client();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let pair = auth.issue_pair(&user, &client, &Claims::new()).await?;
        writeln!(out, "{}", pair.refresh)?;
    }
    out.flush()?;
    // Each session's `login.succeeded` event is queued; write them before exiting.
    auth.audit_log().flush().await;
    Ok(())
}

/// The service that issues the bench's sessions, as a login would: the server's key and
/// its defaults for refresh tokens (7 days, rotation on).
async fn issuer(key: &str, store: Store) -> anyhow::Result<Auth> {
    let settings = Settings {
        signing_key: Some(key.to_owned().into()),
        refresh_token_lifetime: std::time::Duration::from_secs(7 * 24 * 3600),
        rotate_refresh_tokens: true,
        blacklist_after_rotation: true,
        ..Settings::default()
    };
    Ok(Auth::builder(settings, store).build().await?)
}

/// The client the bench's sessions are recorded as coming from.
fn bench_client() -> ClientInfo {
    ClientInfo::new(Some("tessera-bench"), Some("127.0.0.1".into()))
}

/// `TESSERA_SIGNING_KEY`, which the bench's servers and tokens share.
fn signing_key() -> anyhow::Result<String> {
    std::env::var("TESSERA_SIGNING_KEY").context("TESSERA_SIGNING_KEY must hold the server's key")
}

/// Runs `measure` with the `tessera` binary at `tessera`, the shared key, and a fresh
/// temporary directory for the servers' data and logs: removed afterwards, or kept (and
/// named on standard error) when the measurement failed.
async fn in_setup(
    tessera: &str,
    measure: impl AsyncFnOnce(&instance::Setup) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tessera = PathBuf::from(tessera);
    if !tessera.is_file() {
        bail!("no tessera binary at {}", tessera.display());
    }
    let dir = std::env::temp_dir().join(format!(
        "tessera-bench-{}-{}",
        std::process::id(),
        now().as_micros()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let setup = instance::Setup {
        tessera: std::path::absolute(tessera)?,
        key: signing_key()?,
        dir,
    };
    let result = measure(&setup).await;
    if result.is_ok() {
        std::fs::remove_dir_all(&setup.dir)
            .with_context(|| format!("removing {}", setup.dir.display()))?;
    } else {
        eprintln!("the servers' logs are kept in {}", setup.dir.display());
    }
    result
}

/// A count argument.
fn number(text: &str, what: &str) -> anyhow::Result<usize> {
    text.parse()
        .with_context(|| format!("{what}: not a count: {text}"))
}

/// The current time.
fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}
