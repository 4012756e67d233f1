//! The application for a test, driven in process, or the binary, started as a process and
//! talked to over HTTP.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use tempfile::TempDir;
use tessera_axum::testing::{TestClient, TestResponse};
use tessera_server::config::Config;
use tessera_server::startup::Application;
use tessera_store::{NewUser, PasswordHasher, User};

pub const SIGNING_KEY: &str = "integration-test-signing-key-that-is-long-enough-for-hs256";
pub const PASSWORD: &str = "correct horse battery staple";

/// The server's application, built from a configuration as `tessera serve` builds it
/// ([`Application::build`]: store opened and migrated, upkeep started), and driven in
/// process: requests go to its real router ([`Application::router`], every production
/// layer included) through [`TestClient`], never over a socket.
///
/// Each request is made by a client of its own (see [`client`](Self::client)): no cookies
/// kept, no credentials but those it names. Requests come from 127.0.0.1 and name
/// `Host: testserver`.
pub struct TestApp {
    pub tessera: tessera_axum::Tessera,
    router: axum::Router,
    /// Kept alive for its background upkeep, as a running server keeps it (its bound socket
    /// is never served).
    _application: Application,
    _dir: TempDir,
}

impl TestApp {
    pub async fn build() -> Self {
        Self::build_with(|_| {}).await
    }

    /// Builds with a configuration adjusted by `configure`.
    pub async fn build_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            bind: "127.0.0.1:0".into(),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        config.jwt.signing_key = Some(SIGNING_KEY.into());
        // As Django's test runner does, the test client's host is served, beside the
        // loopback names.
        config.browser.allowed_hosts = ["testserver", ".localhost", "127.0.0.1", "[::1]"]
            .map(String::from)
            .to_vec();
        configure(&mut config);
        let application = Application::build(config)
            .await
            .expect("the application builds");
        Self {
            tessera: application.tessera().clone(),
            router: application.router(),
            _application: application,
            _dir: dir,
        }
    }

    /// A new client of the application: no cookies, no credentials.
    pub fn client(&self) -> TestClient {
        TestClient::new(self.router.clone()).with_tessera(self.tessera.clone())
    }

    /// Runs one statement on the app's SQLite database, outside the store.
    pub async fn execute_sql(&self, sql: &'static str) {
        use sqlx::Connection as _;
        let path = self._dir.path().join("data").join("tessera.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }

    pub async fn create_staff(&self, email: &str) -> User {
        let user = self.create_user(email).await;
        let flags = tessera_store::UserFlags {
            is_staff: Some(true),
            ..Default::default()
        };
        self.tessera
            .auth()
            .store()
            .set_user_flags(user.id, &flags)
            .await
            .unwrap();
        self.tessera
            .auth()
            .store()
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Logs in through the API and returns the access token.
    pub async fn access_token(&self, email: &str) -> String {
        let (status, body, _) = self
            .post(
                "/api/auth/login/",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access"].as_str().unwrap().to_owned()
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, HeaderMap) {
        let mut request = self.client().request(method.parse().unwrap(), path);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        split(&request.send().await)
    }

    pub async fn create_user(&self, email: &str) -> User {
        self.tessera
            .auth()
            .store()
            .create_user(&NewUser {
                email: email.into(),
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
                is_active: true,
                date_joined: tessera_core::Timestamp::from_micros(1_795_445_447_123_456),
                ..NewUser::default()
            })
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value, HeaderMap) {
        self.send("GET", path, bearer, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value, HeaderMap) {
        self.send("POST", path, None, Some(body)).await
    }
}

/// A response as `(status, body, headers)`: the body as JSON, as text when it is not JSON,
/// `null` when empty.
fn split(response: &TestResponse) -> (u16, Value, HeaderMap) {
    let text = response.text();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    };
    (response.status().as_u16(), body, response.headers().clone())
}

/// The `tessera` binary with a clean environment, working in `dir`.
pub fn tessera(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_DATA_DIR", dir.join("data"))
        .stdin(Stdio::null());
    command
}

/// Runs the binary to completion, feeding `stdin`.
pub fn run(mut command: Command, stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A `tessera serve` process, its address, and its log lines as they come.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub logs: mpsc::Receiver<String>,
    /// The log line that says where it listens.
    pub serving_line: String,
}

impl Server {
    /// Starts `tessera serve` on a random port in production mode (JSON logs) and waits
    /// for the line that says where it listens.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// [`Server::start`] with more environment variables; they win over the defaults, and
    /// an empty value removes the variable.
    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn(Self::command(dir, env))
    }

    /// The `tessera serve` command [`Server::start_with`] runs.
    pub fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
        let mut command = tessera(dir);
        command
            .arg("serve")
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_DEBUG", "false")
            .env("TESSERA_ALLOWED_HOSTS", "127.0.0.1,localhost")
            .env("TESSERA_SIGNING_KEY", SIGNING_KEY)
            // Production refuses mail settings unfit for it; a test that sends mail
            // configures SMTP and an https public URL.
            .env("TESSERA_EMAIL_BACKEND", "off");
        for (name, value) in env {
            match value {
                &"" => command.env_remove(name),
                value => command.env(name, value),
            };
        }
        command
    }

    /// Spawns `command` (a [`Server::command`], perhaps wrapped) and waits for the line
    /// that says where it listens.
    pub fn spawn(mut command: Command) -> Self {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = wait_for_log(&logs, "tessera is serving");
        let event: Value = serde_json::from_str(&line).unwrap();
        let base = format!("http://{}", event["addr"].as_str().unwrap());
        Self {
            child,
            base,
            logs,
            serving_line: line,
        }
    }

    /// Sends SIGTERM, waits for the process to end, and returns its exit status and every
    /// log line written after it started serving.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        (status, self.logs.iter().collect())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The first log line containing `needle`; fails after 60 s without it.
pub fn wait_for_log(logs: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match logs.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => continue,
            Err(e) => panic!("no log line containing {needle:?}: {e}"),
        }
    }
}

/// Runs `count` requests at once: each future `request(i)` is spawned on its own task and
/// released by one barrier, so they reach the server together. Returns their outputs in
/// order.
pub async fn all_at_once<T, F>(count: usize, request: impl Fn(usize) -> F) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let (start, request) = (std::sync::Arc::clone(&start), request(i));
            tokio::spawn(async move {
                start.wait().await;
                request.await
            })
        })
        .collect();
    let mut outputs = Vec::with_capacity(count);
    for task in tasks {
        outputs.push(task.await.expect("a racing request"));
    }
    outputs
}

/// The distinct refresh tokens that racing refreshes got; every reply that got none must
/// be 401 `Token is blacklisted`.
pub fn successors(replies: &[(u16, Value)]) -> std::collections::HashSet<String> {
    let mut successors = std::collections::HashSet::new();
    for (status, body) in replies {
        match status {
            200 => {
                successors.insert(
                    body["refresh"]
                        .as_str()
                        .expect("a refresh token")
                        .to_owned(),
                );
            }
            401 => assert_eq!(body["detail"], "Token is blacklisted", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    successors
}

/// One decoded part of a JWT: 0 the header, 1 the claims.
pub fn jwt_part(token: &str, part: usize) -> Value {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(part).expect("a JWT"))
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}
