//! `tessera-bench mint`: opens the server's database and issues refresh tokens for one user,
//! exactly as a login would (one session each), so that a load test can spend a fresh token
//! on every refresh request. `scripts/bench` runs it; it is no part of a deployment.
//!
//! Usage: `TESSERA_SIGNING_KEY=… tessera-bench mint <database-url> <email> <count>`; the
//! tokens go to standard output, one per line.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use tessera_axum::{ClientInfo, Tessera};
use tessera_core::{Claims, Settings};
use tessera_store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, command, url, email, count] = args.as_slice() else {
        bail!("usage: tessera-bench mint <database-url> <email> <count>");
    };
    if command != "mint" {
        bail!("unknown command {command:?}; the only one is `mint`");
    }
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
    let tessera = Tessera::new(settings, store)?;
    let client = ClientInfo {
        user_agent: Some("tessera-bench".into()),
        ip: Some("127.0.0.1".into()),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let pair = tessera
            .issue_pair(&user, &client, &Claims::new())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        writeln!(out, "{}", pair.refresh)?;
    }
    out.flush()?;
    Ok(())
}
