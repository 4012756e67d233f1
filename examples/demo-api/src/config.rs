//! The demo's configuration, from environment variables.

use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;

/// Where the demo listens and keeps its data, and the key that signs its tokens.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// `DEMO_BIND`: the address served. Defaults to `127.0.0.1:8081`.
    pub bind: String,
    /// `DEMO_DATA_DIR`: the directory holding Tessera's database and the application's own.
    /// Defaults to `./demo-data`.
    pub data_dir: PathBuf,
    /// `DEMO_SIGNING_KEY`: the HMAC secret that signs tokens. Without it a random one is made
    /// at start, and tokens do not survive a restart.
    pub signing_key: String,
}

impl DemoConfig {
    /// Reads the environment.
    ///
    /// # Errors
    /// When the random generator fails.
    pub fn from_env() -> anyhow::Result<Self> {
        let signing_key = match std::env::var("DEMO_SIGNING_KEY") {
            Ok(key) if !key.trim().is_empty() => key,
            _ => {
                tracing::warn!(
                    "DEMO_SIGNING_KEY is not set: signing with a random key; tokens end with the process"
                );
                let bytes: [u8; 48] = rand::random();
                base64::engine::general_purpose::STANDARD.encode(bytes)
            }
        };
        Ok(Self {
            bind: std::env::var("DEMO_BIND").unwrap_or_else(|_| "127.0.0.1:8081".into()),
            data_dir: std::env::var("DEMO_DATA_DIR")
                .map_or_else(|_| PathBuf::from("./demo-data"), PathBuf::from),
            signing_key,
        })
    }

    /// Tessera's database: `sqlite://<data_dir>/tessera.db`.
    pub fn tessera_url(&self) -> String {
        format!("sqlite://{}", self.data_dir.join("tessera.db").display())
    }

    /// The application's own database (notes, articles): `sqlite://<data_dir>/app.db`.
    pub fn app_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join("app.db").display()
        )
    }

    /// Creates the data directory.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn prepare(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))
    }
}
