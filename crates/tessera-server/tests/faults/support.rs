//! What the fault tests share beyond the server helpers: a client of a running server with
//! a deadline on every request, polling with a deadline, and checks on the database.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;
use tessera_store::Engine;

/// The key-encryption key of servers that keep their keys in the store.
pub const KEK: &str = "a-key-encryption-key-of-32-bytes-or-more";

/// How long any one request may take: longer counts as a hung server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status, body (JSON, a string when it is not JSON, `null` when empty) and
/// headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    /// A string field of the body; panics naming the body when it is missing.
    pub fn text(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {} {}", self.status, self.body))
            .to_owned()
    }

    /// The `Retry-After` header, if any.
    pub fn retry_after(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
    }
}

/// A client of one server; a transport failure (the process gone, the request cut) is the
/// `Err`.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        Self {
            client,
            base: base.to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            body,
            headers,
        })
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Reply, reqwest::Error> {
        self.send("POST", path, None, Some(body)).await
    }

    /// Like [`Api::send`], for a server that must be up: a transport failure panics.
    pub async fn must(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send(method, path, bearer, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"))
    }

    /// `POST /api/token/refresh/` with `refresh`, on a server that must be up.
    pub async fn must_refresh(&self, refresh: &str) -> Reply {
        self.must(
            "POST",
            "/api/token/refresh/",
            None,
            Some(serde_json::json!({ "refresh": refresh })),
        )
        .await
    }
}

/// Calls `probe` until it returns `Some`, every 50 ms, for at most `limit`; panics naming
/// `what` after that.
pub async fn eventually<T, F>(what: &str, limit: Duration, mut probe: impl FnMut() -> F) -> T
where
    F: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One `i64` a query returns, on a database of either engine, outside the store.
pub async fn scalar(url: &str, sql: &'static str) -> i64 {
    use sqlx::Connection as _;
    match Engine::from_url(url).unwrap() {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            let value = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            conn.close().await.unwrap();
            value
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let value = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            conn.close().await.unwrap();
            value
        }
    }
}

/// `PRAGMA integrity_check` of a SQLite file: `"ok"` when it is sound.
pub async fn integrity_check(path: &std::path::Path) -> String {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    rows.join("\n")
}

/// Rows that point at nothing: sessions without their user, which a half-written
/// registration or deletion would leave.
pub const ORPHAN_SESSIONS: &str = "SELECT COUNT(*) FROM sessions s \
     LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL";
