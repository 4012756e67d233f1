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

use std::io::Write as _;

use anyhow::{Context as _, bail};
use tessera_auth::{Auth, ClientInfo};
use tessera_core::{Claims, Settings};
use tessera_store::Store;

const USAGE: &str = "usage: tessera-bench serve | tessera-bench mint <database-url> <email> <count> \
     | tessera-bench bare <address>";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_, command, url, email, count] if command == "mint" => mint(url, email, count).await,
        [_, command, address] if command == "bare" => bare(address).await,
        [_, command] if command == "serve" => serve().await,
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
    let count: usize = count.parse().context("count")?;
    let key = std::env::var("TESSERA_SIGNING_KEY")
        .context("TESSERA_SIGNING_KEY must hold the server's key")?;
    // The server's defaults for refresh tokens (7 days, rotation on).
    let settings = Settings {
        signing_key: Some(key.into()),
        refresh_token_lifetime: std::time::Duration::from_secs(7 * 24 * 3600),
        rotate_refresh_tokens: true,
        blacklist_after_rotation: true,
        ..Settings::default()
    };
    let store = Store::connect(url).await?;
    let user = store
        .user_by_email(email)
        .await?
        .with_context(|| format!("no user {email}"))?;
    let auth = Auth::builder(settings, store).build().await?;
    let client = ClientInfo::new(Some("tessera-bench"), Some("127.0.0.1".into()));
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
