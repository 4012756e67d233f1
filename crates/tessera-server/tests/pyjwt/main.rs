//! PyJWT verifies Tessera's tokens using only the JWKS URL — RS256 from a PEM file, EdDSA
//! from the store, across a key rotation.
//!
//! The test makes a virtualenv under the target directory and installs `pyjwt` and
//! `cryptography` from PyPI into it once. It needs `python3` with the `venv` module (Debian:
//! `apt-get install -y python3 python3-venv`); without them it fails, saying so. Set
//! `TESSERA_PYTHON` to use another interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_core::{Algorithm, KeyOrigin};
use tessera_server::config::Config;
use tessera_server::startup::Application;
use tessera_store::{NewUser, PasswordHasher};

const PASSWORD: &str = "correct horse battery staple";
static VENV: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The venv's python, with PyJWT and cryptography installed (once per target directory).
fn python() -> PathBuf {
    let mut venv = VENV.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(python) = venv.as_ref() {
        return python.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyjwt-venv");
    let python = dir.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args(["-c", "import jwt, cryptography"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let interpreter = std::env::var("TESSERA_PYTHON").unwrap_or_else(|_| "python3".into());
        let created = Command::new(&interpreter)
            .args(["-m", "venv", "--clear"])
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "the PyJWT interoperability test needs `{interpreter}` ({e}); install it \
                     (Debian: apt-get install -y python3 python3-venv) or set TESSERA_PYTHON"
                )
            });
        assert!(
            created.status.success(),
            "`{interpreter} -m venv` failed (Debian: apt-get install -y python3-venv): {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "pyjwt>=2.8",
                "cryptography",
            ])
            .output()
            .expect("pip runs");
        assert!(
            installed.status.success(),
            "pip install pyjwt cryptography failed: {}",
            String::from_utf8_lossy(&installed.stderr)
        );
    }
    *venv = Some(python.clone());
    python
}

/// Runs the verifier script on `tokens`; returns its JSON lines.
async fn pyjwt_verify(jwks_url: &str, algorithm: Algorithm, tokens: &[String]) -> Vec<Value> {
    let (url, alg, tokens) = (jwks_url.to_owned(), algorithm.name(), tokens.to_vec());
    let output = tokio::task::spawn_blocking(move || {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyjwt/verify_with_jwks.py");
        Command::new(python())
            .arg(script)
            .arg(url)
            .arg(alg)
            .args(tokens)
            .output()
            .expect("the verifier script runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "PyJWT refused a Tessera token:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

struct Server {
    base: String,
    app: tessera_axum::Tessera,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start(configure: impl FnOnce(&mut Config, &Path)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    // The tests log in again and again (polling for a rotated key): no login throttle.
    config.throttling.throttle_rates.clear();
    configure(&mut config, dir.path());
    let application = Application::build(config).await.expect("the server builds");
    let base = format!("http://{}", application.local_addr());
    let app = application.tessera().clone();
    tokio::spawn(application.run_until(std::future::pending()));
    app.auth()
        .store()
        .create_user(&NewUser {
            email: "ada@example.com".into(),
            password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
            is_active: true,
            date_joined: tessera_core::Timestamp::from_secs(1_750_000_000),
            ..NewUser::default()
        })
        .await
        .unwrap();
    Server {
        base,
        app,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Server {
    async fn pair(&self) -> (String, String) {
        let body: Value = self
            .client
            .post(format!("{}/api/token/", self.base))
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["refresh"]
                .as_str()
                .expect("a refresh token")
                .to_owned(),
            body["access"].as_str().expect("an access token").to_owned(),
        )
    }

    fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_verifies_rs256_tokens_from_a_pem_file_through_the_jwks() {
    let server = start(|config, _| {
        config.jwt.algorithm = Algorithm::RS256;
        config.jwt.signing_key_file =
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyjwt/rsa2048.pem"));
    })
    .await;
    let (refresh, access) = server.pair().await;
    let lines = pyjwt_verify(&server.jwks_url(), Algorithm::RS256, &[access, refresh]).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["alg"], "RS256");
    assert_eq!(
        (
            lines[0]["user_id"].as_str(),
            lines[0]["token_type"].as_str()
        ),
        (Some("1"), Some("access"))
    );
    assert_eq!(lines[1]["token_type"], "refresh");
    assert_eq!(lines[2]["tampered"], "rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_verifies_eddsa_tokens_from_the_store_across_a_rotation() {
    let server = start(|config, _| {
        config.jwt.algorithm = Algorithm::EdDSA;
        config.jwt.key_source = KeyOrigin::Store;
        config.jwt.key_encryption_key = Some("a-key-encryption-key-of-32-bytes-or-more".into());
        config.jwt.key_refresh_interval = Duration::from_secs(1);
        config.jwt.jwks_cache_ttl = Duration::from_secs(1);
        config.jwt.key_publish_lead = Duration::from_secs(2);
    })
    .await;
    let (_, before) = server.pair().await;
    let manager = server.app.auth().key_manager().unwrap();
    let rotated = manager.rotate(None, server.app.auth().now()).await.unwrap();
    // Poll until the refresher makes the new key sign (2 s lead).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let after = loop {
        let (_, access) = server.pair().await;
        if access.starts_with(&header_prefix(&rotated.kid)) {
            break access;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let lines = pyjwt_verify(&server.jwks_url(), Algorithm::EdDSA, &[before, after]).await;
    assert_eq!(lines[0]["alg"], "EdDSA");
    assert_ne!(lines[0]["kid"], lines[1]["kid"], "{lines:?}");
    assert_eq!(lines[1]["kid"], rotated.kid.as_str());
    assert_eq!(lines[2]["tampered"], "rejected");
}

/// The base64url text every token signed by `kid` with EdDSA starts with.
fn header_prefix(kid: &str) -> String {
    use base64::Engine as _;
    let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}","typ":"JWT"}}"#);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header)
}
