//! The account flows by e-mail from the outside: the `tessera` binary, on SQLite and on
//! PostgreSQL, sending through a real SMTP server (`tessera-smtp-sink`) over TCP. Password
//! reset by link and by typed code, a link scanner that consumes nothing, no enumeration
//! (status, body and timing), e-mail verification and change, the outbox surviving a killed
//! server, mail refused for a while or for good, a full outbox, the e-mail throttles,
//! `require_verified_email`, sign-in by code, two instances sharing one outbox, and
//! `check --deploy` refusing a development mail backend.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use tessera_smtp_sink::{Received, SmtpSink};
use tessera_store::engine_tests;
use tessera_store::testing::TestDatabase;
use tessera_store::{Engine, NewUser, PasswordHasher, Store, User};

use crate::helpers::{PASSWORD, SIGNING_KEY, Server, run, stderr, stdout, tessera};

const NEW_PASSWORD: &str = "a brand new passphrase";
/// How long a test waits for a mail before failing.
const MAIL_TIMEOUT: Duration = Duration::from_secs(30);
/// The e-mail throttles out of the way, for the tests that are not about them.
const HIGH_EMAIL_RATES: &str =
    "{email_request = \"1000/min\", email_recipient = \"1000/min\", email_confirm = \"1000/min\"}";

const RESET_CONFIRM: &str = "/api/auth/password/reset/confirm/";
const VERIFY: &str = "/api/auth/verify-email/";
const RESEND: &str = "/api/auth/verify-email/resend/";
const CHANGE_CONFIRM: &str = "/api/auth/email/change/confirm/";
const CODE_LOGIN: &str = "/api/auth/code/login/";

const RESET_SENT: &str = "Password reset e-mail has been sent.";
const RESET_DONE: &str = "Password has been reset with the new password.";

/// A free port on the loopback interface (bound, then released), so the server's
/// `public_url` can name the address it is about to listen on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mail server that is down: it greets, then drops every connection (a port of this test's
/// own, so no other test's server can answer on it).
async fn down_mail_server() -> SmtpSink {
    let sink = SmtpSink::start().await.unwrap();
    sink.close_next(1_000_000);
    sink
}

/// A `tessera serve` process on a test database, sending mail over SMTP, and a client for it.
struct Site {
    server: Server,
    /// `http://127.0.0.1:PORT`; the server's `public_url` is `https://127.0.0.1:PORT`
    /// (production wants https links), which [`Site::call`] reaches here.
    base: String,
    client: reqwest::Client,
    store: Store,
    dir: TempDir,
}

impl Site {
    /// Starts `tessera serve` on `db` with the smtp backend pointed at `smtp_port`, the
    /// e-mail throttles high, and `env` on top (an empty value removes a variable).
    async fn start(db: &TestDatabase, smtp_port: u16, env: &[(&str, &str)]) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let server = spawn_server(dir.path(), db, smtp_port, env).await;
        let store = Store::connect(db.url()).await.unwrap();
        Site {
            base: server.base.clone(),
            server,
            client: reqwest::Client::new(),
            store,
            dir,
        }
    }

    /// Kills the server with SIGKILL (no shutdown at all) and starts it again in the same
    /// directory on the same database, sending to `smtp_port`.
    async fn kill_and_restart(&mut self, db: &TestDatabase, smtp_port: u16) {
        self.server.child.kill().unwrap();
        self.server.child.wait().unwrap();
        self.server = spawn_server(self.dir.path(), db, smtp_port, &[]).await;
        self.base = self.server.base.clone();
    }

    /// A user made in the store (no mail sent), with [`PASSWORD`].
    async fn user(&self, email: &str) -> User {
        self.store
            .create_user(&NewUser {
                email: email.into(),
                first_name: "Ada".into(),
                password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
                is_active: true,
                date_joined: tessera_core::Timestamp::from_micros(1_795_445_447_123_456),
                ..NewUser::default()
            })
            .await
            .unwrap()
    }

    async fn call(
        &self,
        method: &str,
        url: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = if url.starts_with("http") {
            // A link of a mail names the https public URL; this server speaks plain HTTP.
            url.replacen("https://", "http://", 1)
        } else {
            format!("{}{url}", self.base)
        };
        let mut request = self.client.request(method.parse().unwrap(), url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, None, Some(body)).await
    }

    async fn profile(&self, access: &str) -> Value {
        let (status, body) = self
            .call("GET", "/api/auth/profile/", Some(access), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Logs in; returns `(status, body)` of `POST /api/auth/login/`.
    async fn try_login(&self, email: &str, password: &str) -> (u16, Value) {
        self.post(
            "/api/auth/login/",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in; returns `(refresh, access)`.
    async fn login(&self, email: &str, password: &str) -> (String, String) {
        let (status, body) = self.try_login(email, password).await;
        assert_eq!(status, 200, "{email}: {body}");
        (field(&body, "refresh"), field(&body, "access"))
    }

    async fn request_reset(&self, email: &str) -> (u16, Value) {
        self.post("/api/auth/password/reset/", json!({"email": email}))
            .await
    }

    async fn confirm_reset(&self, uid: &str, token: &str, password: &str) -> (u16, Value) {
        self.post(
            RESET_CONFIRM,
            json!({"uid": uid, "token": token, "new_password1": password, "new_password2": password}),
        )
        .await
    }
}

/// Starts `tessera serve` in `dir` on `db`, listening on a port chosen here that is also its
/// `public_url`. Another process may take that port between its choice and the server's
/// bind: then the server exits, and another port is tried.
async fn spawn_server(
    dir: &std::path::Path,
    db: &TestDatabase,
    smtp_port: u16,
    env: &[(&str, &str)],
) -> Server {
    let mut failures = Vec::new();
    for _ in 0..5 {
        let port = free_port();
        let mut vars: Vec<(String, String)> = vec![
            ("TESSERA_BIND".into(), format!("127.0.0.1:{port}")),
            (
                "TESSERA_PUBLIC_URL".into(),
                format!("https://127.0.0.1:{port}"),
            ),
            ("TESSERA_DATABASE_URL".into(), db.url().to_owned()),
            ("TESSERA_EMAIL_BACKEND".into(), "smtp".into()),
            (
                "TESSERA_SMTP_URL".into(),
                format!("smtp://127.0.0.1:{smtp_port}"),
            ),
            ("TESSERA_THROTTLE_RATES".into(), HIGH_EMAIL_RATES.into()),
        ];
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let dir = dir.to_owned();
        let started = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            try_spawn(Server::command(&dir, &env))
        })
        .await
        .unwrap();
        match started {
            Ok(server) => return server,
            Err(logs) => failures.push(logs),
        }
    }
    panic!("tessera did not start: {failures:#?}");
}

/// Spawns `command` and waits (at most 60 s) for the line that says where it listens: the
/// server, or the log lines of a server that exited first.
fn try_spawn(mut command: std::process::Command) -> Result<Server, Vec<String>> {
    use std::io::BufRead as _;
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, logs) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match logs.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains("tessera is serving") => {
                let event: Value = serde_json::from_str(&line).unwrap();
                let base = format!("http://{}", event["addr"].as_str().unwrap());
                return Ok(Server {
                    child,
                    base,
                    logs,
                    serving_line: line,
                });
            }
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(seen);
            }
        }
    }
}

fn field(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_owned()
}

/// The raw text of every message the sink holds: what was there before an action.
fn seen(sink: &SmtpSink) -> HashSet<String> {
    sink.messages().into_iter().map(|m| m.data).collect()
}

/// The first message to `to` that was not in `before` and whose text body contains
/// `needle`; fails after [`MAIL_TIMEOUT`].
async fn mail(sink: &SmtpSink, before: &HashSet<String>, to: &str, needle: &str) -> Received {
    let found = sink
        .wait_for(
            |m: &Received| {
                m.to.iter().any(|r| r.eq_ignore_ascii_case(to))
                    && !before.contains(&m.data)
                    && text(m).contains(needle)
            },
            MAIL_TIMEOUT,
        )
        .await;
    found.unwrap_or_else(|| {
        let held: Vec<(Vec<String>, Option<String>)> = sink
            .messages()
            .into_iter()
            .map(|m| (m.to.clone(), m.subject()))
            .collect();
        panic!(
            "no mail to {to} containing {needle:?} within {MAIL_TIMEOUT:?}; the sink holds {held:?}"
        )
    })
}

/// The text part of a message (empty without one).
fn text(message: &Received) -> String {
    message.text_body().unwrap_or_default()
}

/// How many messages the sink holds for `to`.
fn count_to(sink: &SmtpSink, to: &str) -> usize {
    sink.messages()
        .iter()
        .filter(|m| m.to.iter().any(|r| r.eq_ignore_ascii_case(to)))
        .count()
}

/// Every URL in a message, text and HTML parts, as a link scanner finds them.
fn urls(message: &Received) -> Vec<String> {
    let mut found = Vec::new();
    for body in [text(message), message.html_body().unwrap_or_default()] {
        for start in body.match_indices("http").map(|(i, _)| i) {
            let rest = &body[start..];
            if !(rest.starts_with("http://") || rest.starts_with("https://")) {
                continue;
            }
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
                .unwrap_or(rest.len());
            let url = rest[..end].replace("&amp;", "&");
            if !found.contains(&url) {
                found.push(url);
            }
        }
    }
    found
}

/// The one URL of `message` whose path contains `part` (such as `/account/reset/`).
#[track_caller]
fn link(message: &Received, part: &str) -> String {
    let links: Vec<String> = urls(message)
        .into_iter()
        .filter(|u| u.contains(part))
        .collect();
    assert!(!links.is_empty(), "no {part} link in {:?}", text(message));
    assert!(links.iter().all(|l| *l == links[0]), "one link: {links:?}");
    links[0].clone()
}

/// The path segments of `url` after `part`: `/account/reset/MQ/tok/` after
/// `/account/reset/` is `["MQ", "tok"]`.
fn segments_after(url: &str, part: &str) -> Vec<String> {
    let (_, tail) = url
        .split_once(part)
        .unwrap_or_else(|| panic!("{part} in {url}"));
    tail.split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `(uid, token)` from a reset mail's link.
#[track_caller]
fn reset_link_parts(message: &Received) -> (String, String) {
    let parts = segments_after(&link(message, "/account/reset/"), "/account/reset/");
    assert_eq!(parts.len(), 2, "{parts:?}");
    (parts[0].clone(), parts[1].clone())
}

/// The key of a verification or change mail's link.
#[track_caller]
fn link_key(message: &Received, part: &str) -> String {
    let parts = segments_after(&link(message, part), part);
    assert_eq!(parts.len(), 1, "{parts:?}");
    parts[0].clone()
}

/// The typed code of a mail: the one run of exactly 8 digits standing alone as a word (not
/// inside a link, a token or a longer number).
#[track_caller]
fn code(message: &Received) -> String {
    let text = text(message);
    let word_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | ':' | '%');
    let codes: HashSet<&str> = text
        .split(|c: char| !word_char(c))
        .filter(|w| w.len() == 8 && w.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(codes.len(), 1, "one 8-digit code in {text:?}");
    codes.into_iter().next().unwrap().to_owned()
}

/// Django's `urlsafe_base64_encode(force_bytes(pk))`.
fn uid_of(user: &User) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(user.id.to_string())
}

/// One scalar from the database, behind the server's back.
async fn scalar(db: &TestDatabase, sql: &'static str) -> i64 {
    use sqlx::Connection as _;
    match db.engine() {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

/// One statement on the database, behind the server's back.
async fn execute(db: &TestDatabase, sql: &'static str) {
    use sqlx::Connection as _;
    match db.engine() {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    };
}

/// Polls `sql` until it yields `want`, for at most [`MAIL_TIMEOUT`]; returns the last value.
async fn poll_scalar(db: &TestDatabase, sql: &'static str, want: impl Fn(i64) -> bool) -> i64 {
    let deadline = Instant::now() + MAIL_TIMEOUT;
    loop {
        let value = scalar(db, sql).await;
        if want(value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The medians, in microseconds, of the times `samples` reset requests for `known` and as
/// many for `unknown` take, alternating which goes first.
async fn reset_medians(site: &Site, known: &str, unknown: &str, samples: usize) -> (u128, u128) {
    let timed = |email: &str| {
        let email = email.to_owned();
        async move {
            let start = Instant::now();
            let (status, body) = site.request_reset(&email).await;
            assert_eq!(status, 200, "{body}");
            start.elapsed().as_micros()
        }
    };
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for i in 0..samples {
        // Neither always follows the other (nor the sending of the other's mail).
        if i % 2 == 0 {
            known_times.push(timed(known).await);
            unknown_times.push(timed(unknown).await);
        } else {
            unknown_times.push(timed(unknown).await);
            known_times.push(timed(known).await);
        }
    }
    (median(known_times), median(unknown_times))
}

/// The median of `samples`, in microseconds.
fn median(mut samples: Vec<u128>) -> u128 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

engine_tests! {
    async fn a_password_reset_by_link_works_once_and_ends_the_old_credentials(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        let user = site.user("reset@example.com").await;
        let (old_refresh, old_access) = site.login("reset@example.com", PASSWORD).await;

        let before = seen(&sink);
        let (status, body) = site.request_reset("reset@example.com").await;
        assert_eq!((status, body), (200, json!({"detail": RESET_SENT})));
        let message = mail(&sink, &before, "reset@example.com", "/account/reset/").await;
        let (uid, token) = reset_link_parts(&message);
        assert_eq!(uid, uid_of(&user), "Django's uid: base64url of the id's text");
        assert_eq!(token.len(), 43, "32 random bytes, base64url: {token}");
        let public_url = site.base.replacen("http://", "https://", 1);
        assert!(text(&message).contains(&public_url), "the link is on the public URL");

        // Opening the link serves the page and consumes nothing (twice, as a browser may);
        // the page leaks the token to no other site and is kept by no cache.
        for _ in 0..2 {
            let url = link(&message, "/account/reset/").replacen("https://", "http://", 1);
            let page = site.client.get(url).send().await.unwrap();
            assert_eq!(page.status(), 200);
            assert_eq!(page.headers()["referrer-policy"], "no-referrer");
            assert!(page.headers()["cache-control"].to_str().unwrap().contains("no-store"));
        }

        let (status, body) = site.confirm_reset(&uid, &token, NEW_PASSWORD).await;
        assert_eq!((status, body), (200, json!({"detail": RESET_DONE})));

        // The new password signs in, the old one and the old session are gone.
        site.login("reset@example.com", NEW_PASSWORD).await;
        assert_eq!(site.try_login("reset@example.com", PASSWORD).await.0, 401);
        let (status, _) = site.post("/api/token/refresh/", json!({"refresh": old_refresh})).await;
        assert_eq!(status, 401, "the old refresh token");
        let (status, _) = site.call("GET", "/api/auth/profile/", Some(&old_access), None).await;
        assert_eq!(status, 401, "the old access token");

        // The token is single use.
        let (status, body) = site.confirm_reset(&uid, &token, "yet another passphrase").await;
        assert_eq!((status, body), (400, json!({"token": ["Invalid value"]})));
        // A uid that names nobody.
        let (status, body) = site.confirm_reset("OTk5OTk5", &token, "yet another passphrase").await;
        assert_eq!((status, body), (400, json!({"uid": ["Invalid value"]})));
        // The mail proved the address.
        let (_, access) = site.login("reset@example.com", NEW_PASSWORD).await;
        assert_eq!(site.profile(&access).await["email_verified"], json!(true));

        // The typed code instead of the link: {email, code, new_password1, new_password2}.
        let before = seen(&sink);
        assert_eq!(site.request_reset("reset@example.com").await.0, 200);
        let message = mail(&sink, &before, "reset@example.com", "/account/reset/").await;
        let typed = code(&message);
        let wrong = if typed == "12345678" { "87654321" } else { "12345678" };
        let by_code = |code: &str, password: &str| {
            json!({"email": "reset@example.com", "code": code, "new_password1": password, "new_password2": password})
        };
        let (status, body) = site.post(RESET_CONFIRM, by_code(wrong, PASSWORD)).await;
        assert_eq!((status, body), (400, json!({"token": ["Invalid value"]})));
        let mismatch = json!({
            "email": "reset@example.com", "code": typed,
            "new_password1": PASSWORD, "new_password2": "something else entirely"
        });
        let (status, body) = site.post(RESET_CONFIRM, mismatch).await;
        assert_eq!((status, body), (400, json!({"new_password2": ["The two password fields didn’t match."]})));
        let (status, body) = site.post(RESET_CONFIRM, by_code(&typed, PASSWORD)).await;
        assert_eq!((status, body), (200, json!({"detail": RESET_DONE})));
        site.login("reset@example.com", PASSWORD).await;
        let (status, body) = site.post(RESET_CONFIRM, by_code(&typed, NEW_PASSWORD)).await;
        assert_eq!((status, body), (400, json!({"token": ["Invalid value"]})), "the code is single use");
        // The link of the same mail died with the reset by code.
        let (uid, token) = reset_link_parts(&message);
        let (status, body) = site.confirm_reset(&uid, &token, NEW_PASSWORD).await;
        assert_eq!((status, body), (400, json!({"token": ["Invalid value"]})));
    }

    async fn a_link_scanner_that_opens_every_url_consumes_nothing(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        site.user("scanned@example.com").await;

        let before = seen(&sink);
        assert_eq!(site.request_reset("scanned@example.com").await.0, 200);
        let message = mail(&sink, &before, "scanned@example.com", "/account/reset/").await;
        let all = urls(&message);
        assert!(!all.is_empty());
        // The scanner: GET (and HEAD) every URL of both parts, twice, before the user reads it.
        for url in all.iter().chain(all.iter()) {
            for method in ["GET", "HEAD"] {
                let (status, _) = site.call(method, url, None, None).await;
                assert!(status < 500, "{method} {url}: {status}");
            }
        }
        let (uid, token) = reset_link_parts(&message);
        let (status, body) = site.confirm_reset(&uid, &token, NEW_PASSWORD).await;
        assert_eq!((status, body), (200, json!({"detail": RESET_DONE})));
        site.login("scanned@example.com", NEW_PASSWORD).await;
    }

    async fn a_reset_request_tells_nothing_about_the_address(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        site.user("known@example.com").await;

        let (known_status, known_body) = site.request_reset("known@example.com").await;
        let (unknown_status, unknown_body) = site.request_reset("unknown@example.com").await;
        assert_eq!((known_status, &known_body), (unknown_status, &unknown_body));
        assert_eq!((known_status, known_body), (200, json!({"detail": RESET_SENT})));

        // Timing: medians of 30 alternating requests each (after a warm-up) within 5 %, or
        // 2 ms on loopback, whichever is larger. A machine busy with other tests can push one
        // round apart; a difference the server makes shows in every round.
        for _ in 0..5 {
            site.request_reset("known@example.com").await;
            site.request_reset("nobody@example.com").await;
        }
        let mut rounds = Vec::new();
        for _ in 0..3 {
            let (known, unknown) = reset_medians(&site, "known@example.com", "nobody@example.com", 30).await;
            let allowed = (known.max(unknown) / 20).max(2_000);
            rounds.push((known, unknown, allowed));
            if known.abs_diff(unknown) <= allowed {
                break;
            }
        }
        let (known, unknown, allowed) = rounds[rounds.len() - 1];
        assert!(
            known.abs_diff(unknown) <= allowed,
            "medians (known µs, unknown µs, allowed difference µs) of each round: {rounds:?}"
        );
        // Only the known address got mail.
        assert_eq!(count_to(&sink, "unknown@example.com") + count_to(&sink, "nobody@example.com"), 0);
        mail(&sink, &HashSet::new(), "known@example.com", "/account/reset/").await;
    }

    async fn registration_sends_a_verification_mail_whose_key_verifies_once(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[("TESSERA_REQUIRE_VERIFIED_EMAIL", "optional")]).await;

        let before = seen(&sink);
        let (status, body) = site
            .post(
                "/api/auth/register/",
                json!({
                    "email": "newcomer@example.com",
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "password": PASSWORD,
                    "password_confirm": PASSWORD
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["user"]["email_verified"], json!(false), "{body}");
        let access = field(&body["tokens"], "access");
        assert_eq!(site.profile(&access).await["email_verified"], json!(false));

        let message = mail(&sink, &before, "newcomer@example.com", "/account/verify-email/").await;
        let url = link(&message, "/account/verify-email/");
        let key = link_key(&message, "/account/verify-email/");
        let (status, _) = site.call("GET", &url, None, None).await;
        assert_eq!(status, 200, "the page, consuming nothing");
        assert_eq!(site.profile(&access).await["email_verified"], json!(false));

        let (status, body) = site.post(VERIFY, json!({"key": key})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        assert_eq!(site.profile(&access).await["email_verified"], json!(true));

        let (status, body) = site.post(VERIFY, json!({"key": key})).await;
        assert_eq!((status, body), (404, json!({"detail": "Not found."})), "a used key");
        let (status, _) = site.post(VERIFY, json!({"key": "x".repeat(43)})).await;
        assert_eq!(status, 404, "an unknown key");
    }

    async fn an_address_is_verified_with_the_typed_code_too(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[("TESSERA_REQUIRE_VERIFIED_EMAIL", "optional")]).await;
        site.user("typist@example.com").await;
        let (_, access) = site.login("typist@example.com", PASSWORD).await;

        let before = seen(&sink);
        let (status, body) = site.post(RESEND, json!({"email": "typist@example.com"})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        // An unknown address answers the same, and gets nothing.
        let (status, body) = site.post(RESEND, json!({"email": "ghost@example.com"})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        let message = mail(&sink, &before, "typist@example.com", "/account/verify-email/").await;
        let typed = code(&message);
        let wrong = if typed == "12345678" { "87654321" } else { "12345678" };

        let (status, _) = site.post(VERIFY, json!({"email": "typist@example.com", "code": wrong})).await;
        assert_eq!(status, 404);
        let (status, _) = site.post(VERIFY, json!({"email": "ghost@example.com", "code": typed})).await;
        assert_eq!(status, 404, "the code is the address's");
        assert_eq!(site.profile(&access).await["email_verified"], json!(false));
        let (status, body) = site.post(VERIFY, json!({"email": "typist@example.com", "code": typed})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        assert_eq!(site.profile(&access).await["email_verified"], json!(true));
        let (status, _) = site.post(VERIFY, json!({"key": link_key(&message, "/account/verify-email/")})).await;
        assert_eq!(status, 404, "the link of the same mail is used up with its code");
        assert_eq!(count_to(&sink, "ghost@example.com"), 0);
    }

    async fn an_email_change_is_confirmed_with_the_typed_code_too(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        site.user("before@example.com").await;
        let (_, access) = site.login("before@example.com", PASSWORD).await;

        let before = seen(&sink);
        let request = json!({"new_email": "after@example.com", "password": PASSWORD});
        let (status, _) = site.call("POST", "/api/auth/email/change/", Some(&access), Some(request)).await;
        assert_eq!(status, 200);
        let confirm = mail(&sink, &before, "after@example.com", "/account/email-change/").await;
        let typed = code(&confirm);
        let (status, _) = site.post(CHANGE_CONFIRM, json!({"email": "before@example.com", "code": typed})).await;
        assert_eq!(status, 404, "the code goes with the new address");
        let (status, body) = site.post(CHANGE_CONFIRM, json!({"email": "after@example.com", "code": typed})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        site.login("after@example.com", PASSWORD).await;
        assert_eq!(site.try_login("before@example.com", PASSWORD).await.0, 401);
    }

    async fn login_by_code_signs_in_with_the_mailed_code_once(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[("TESSERA_LOGIN_BY_CODE", "true")]).await;
        site.user("coder@example.com").await;

        let before = seen(&sink);
        let (status, body) = site.post("/api/auth/code/request/", json!({"email": "coder@example.com"})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        let (status, body) = site.post("/api/auth/code/request/", json!({"email": "nobody@example.com"})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})), "the same for an unknown address");
        let message = mail(&sink, &before, "coder@example.com", "").await;
        assert!(!text(&message).contains("/account/"), "a code, no link");
        let typed = code(&message);
        let wrong = if typed == "12345678" { "87654321" } else { "12345678" };

        let refused = json!({"detail": "No active account found with the given credentials"});
        let (status, body) = site.post(CODE_LOGIN, json!({"email": "coder@example.com", "code": wrong})).await;
        assert_eq!((status, body), (401, refused.clone()));
        let (status, body) = site.post(CODE_LOGIN, json!({"email": "coder@example.com", "code": typed})).await;
        assert_eq!(status, 200, "{body}");
        let access = field(&body, "access");
        field(&body, "refresh");
        assert_eq!(site.profile(&access).await["email"], json!("coder@example.com"));
        let (status, body) = site.post(CODE_LOGIN, json!({"email": "coder@example.com", "code": typed})).await;
        assert_eq!((status, body), (401, refused), "the code is single use");
        assert_eq!(count_to(&sink, "nobody@example.com"), 0);
    }

    async fn code_routes_are_absent_unless_login_by_code_is_on(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        for path in ["/api/auth/code/request/", "/api/auth/code/login/"] {
            let (status, _) = site.post(path, json!({"email": "x@example.com", "code": "12345678"})).await;
            assert_eq!(status, 404, "{path}");
        }
    }

    async fn an_email_change_notifies_the_old_address_and_applies_after_confirmation(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        site.user("old.address@example.com").await;
        let (_, access) = site.login("old.address@example.com", PASSWORD).await;

        let change = |password: &str| json!({"new_email": "new.address@example.com", "password": password});
        let (status, _) = site
            .call("POST", "/api/auth/email/change/", Some(&access), Some(change("not the password")))
            .await;
        assert!(matches!(status, 400 | 401 | 403), "a wrong password: {status}");

        let before = seen(&sink);
        let (status, body) = site
            .call("POST", "/api/auth/email/change/", Some(&access), Some(change(PASSWORD)))
            .await;
        assert_eq!((status, body), (200, json!({"detail": "Confirmation e-mail sent."})));
        let confirm = mail(&sink, &before, "new.address@example.com", "/account/email-change/").await;
        let notice = mail(&sink, &before, "old.address@example.com", "").await;
        assert!(
            !text(&notice).contains("new.address@example.com"),
            "the notice masks the new address: {}",
            text(&notice)
        );
        assert!(
            !text(&notice).contains("/account/email-change/"),
            "the notice carries no confirmation link"
        );

        // Nothing changes before the confirmation; opening the link changes nothing either.
        assert_eq!(site.profile(&access).await["email"], json!("old.address@example.com"));
        let (status, _) = site.call("GET", &link(&confirm, "/account/email-change/"), None, None).await;
        assert_eq!(status, 200);
        assert_eq!(site.try_login("new.address@example.com", PASSWORD).await.0, 401);
        site.login("old.address@example.com", PASSWORD).await;

        let key = link_key(&confirm, "/account/email-change/");
        let (status, body) = site.post(CHANGE_CONFIRM, json!({"key": key})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        let (_, access) = site.login("new.address@example.com", PASSWORD).await;
        let profile = site.profile(&access).await;
        assert_eq!(
            (&profile["email"], &profile["email_verified"]),
            (&json!("new.address@example.com"), &json!(true))
        );
        assert_eq!(site.try_login("old.address@example.com", PASSWORD).await.0, 401);
        let (status, _) = site.post(CHANGE_CONFIRM, json!({"key": key})).await;
        assert_eq!(status, 404, "a used key");
    }

    async fn the_outbox_survives_a_killed_server(db: &TestDatabase) {
        // First the mail server is down.
        let down = down_mail_server().await;
        let mut site = Site::start(db, down.port(), &[]).await;
        site.user("durable@example.com").await;
        assert_eq!(site.request_reset("durable@example.com").await.0, 200);

        // The sender tries, fails, and keeps the row for later; no token outlives the try.
        let attempts = poll_scalar(
            db,
            "SELECT CAST(COALESCE(MAX(attempts), 0) AS BIGINT) FROM mail_outbox",
            |n| n >= 1,
        )
        .await;
        assert!(attempts >= 1, "the sender never tried");
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM account_tokens").await, 0);

        // SIGKILL: no shutdown, nothing flushed. The request is still there.
        let sink = SmtpSink::start().await.unwrap();
        site.kill_and_restart(db, sink.port()).await;
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM mail_outbox").await, 1);
        // Instead of waiting out the backoff (30 s after a first failure): due now.
        execute(db, "UPDATE mail_outbox SET next_attempt_at = 0, lease_until = NULL").await;

        let message = mail(&sink, &HashSet::new(), "durable@example.com", "/account/reset/").await;
        let (uid, token) = reset_link_parts(&message);
        let (status, body) = site.confirm_reset(&uid, &token, NEW_PASSWORD).await;
        assert_eq!((status, body), (200, json!({"detail": RESET_DONE})));
        site.login("durable@example.com", NEW_PASSWORD).await;
        let left = poll_scalar(db, "SELECT COUNT(*) FROM mail_outbox", |n| n == 0).await;
        assert_eq!(left, 0, "the sent row is gone");
        assert_eq!(count_to(&sink, "durable@example.com"), 1, "sent once");
    }

    async fn a_refused_mail_is_retried_after_a_transient_failure_and_abandoned_after_a_permanent_one(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        site.user("bounce@example.com").await;
        site.user("later@example.com").await;

        // 550: given up at once, audited, nothing left behind.
        sink.fail_next(1, 550);
        assert_eq!(site.request_reset("bounce@example.com").await.0, 200);
        let abandoned = poll_scalar(
            db,
            "SELECT COUNT(*) FROM audit_events WHERE event = 'mail.abandoned'",
            |n| n == 1,
        )
        .await;
        assert_eq!(abandoned, 1);
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM mail_outbox").await, 0);
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM account_tokens").await, 0, "the minted token went with it");

        // 451: kept for later with its reason, its token deleted, audited.
        sink.fail_next(1, 451);
        assert_eq!(site.request_reset("later@example.com").await.0, 200);
        let failed = poll_scalar(
            db,
            "SELECT COUNT(*) FROM audit_events WHERE event = 'mail.failed'",
            |n| n == 1,
        )
        .await;
        assert_eq!(failed, 1);
        assert_eq!(
            scalar(db, "SELECT COUNT(*) FROM mail_outbox WHERE attempts = 1 AND last_error IS NOT NULL").await,
            1
        );
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM account_tokens").await, 0);
        assert!(sink.messages().is_empty(), "a refused message is not kept");
        // Instead of waiting out the backoff: due now. The sender's next round sends it.
        execute(db, "UPDATE mail_outbox SET next_attempt_at = 0").await;
        let message = mail(&sink, &HashSet::new(), "later@example.com", "/account/reset/").await;
        let (uid, token) = reset_link_parts(&message);
        assert_eq!(site.confirm_reset(&uid, &token, NEW_PASSWORD).await.0, 200);
        assert_eq!(count_to(&sink, "bounce@example.com"), 0);
    }

    async fn only_the_newest_reset_mail_works(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[]).await;
        site.user("twice@example.com").await;

        let before = seen(&sink);
        assert_eq!(site.request_reset("twice@example.com").await.0, 200);
        let first = mail(&sink, &before, "twice@example.com", "/account/reset/").await;
        let before = seen(&sink);
        assert_eq!(site.request_reset("twice@example.com").await.0, 200);
        let second = mail(&sink, &before, "twice@example.com", "/account/reset/").await;

        let (uid, token) = reset_link_parts(&first);
        let (status, body) = site.confirm_reset(&uid, &token, NEW_PASSWORD).await;
        assert_eq!((status, body), (400, json!({"token": ["Invalid value"]})));
        let (uid, token) = reset_link_parts(&second);
        assert_eq!(site.confirm_reset(&uid, &token, NEW_PASSWORD).await.0, 200);
    }

    async fn a_full_outbox_refuses_known_and_unknown_addresses_alike(db: &TestDatabase) {
        // The mail server is down: queued mails stay, waiting for their next attempt.
        let down = down_mail_server().await;
        let site = Site::start(db, down.port(), &[("TESSERA_EMAIL_OUTBOX_LIMIT", "2")]).await;
        for email in ["full1@example.com", "full2@example.com", "full3@example.com"] {
            site.user(email).await;
        }
        assert_eq!(site.request_reset("full1@example.com").await.0, 200);
        assert_eq!(site.request_reset("full2@example.com").await.0, 200);
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM mail_outbox").await, 2);

        let known = site.request_reset("full3@example.com").await;
        let unknown = site.request_reset("stranger@example.com").await;
        assert_eq!(known.0, 503, "{known:?}");
        assert_eq!(known, unknown);
        assert_eq!(scalar(db, "SELECT COUNT(*) FROM mail_outbox").await, 2);
    }

    async fn the_client_throttle_answers_429_past_its_rate(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let rates = "{email_request = \"3/hour\", email_recipient = \"1000/min\"}";
        let site = Site::start(db, sink.port(), &[("TESSERA_THROTTLE_RATES", rates)]).await;

        for i in 0..3 {
            let (status, body) = site.request_reset(&format!("someone{i}@example.com")).await;
            assert_eq!(status, 200, "request {i}: {body}");
        }
        let (status, body) = site.request_reset("someone3@example.com").await;
        assert_eq!(status, 429, "{body}");
    }

    async fn the_recipient_throttle_answers_as_usual_but_sends_nothing_more(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let rates = "{email_request = \"1000/min\", email_recipient = \"2/hour\"}";
        let site = Site::start(db, sink.port(), &[("TESSERA_THROTTLE_RATES", rates)]).await;
        site.user("popular@example.com").await;
        site.user("marker@example.com").await;

        let mut answers = Vec::new();
        for _ in 0..4 {
            answers.push(site.request_reset("popular@example.com").await);
        }
        assert!(answers.iter().all(|a| *a == (200, json!({"detail": RESET_SENT}))), "{answers:?}");
        // A later mail to someone else has gone out: whatever the throttled requests queued
        // would have been sent before it.
        assert_eq!(site.request_reset("marker@example.com").await.0, 200);
        mail(&sink, &HashSet::new(), "marker@example.com", "/account/reset/").await;
        let left = poll_scalar(db, "SELECT COUNT(*) FROM mail_outbox", |n| n == 0).await;
        assert_eq!(left, 0);
        assert_eq!(count_to(&sink, "popular@example.com"), 2, "two mails, then nothing");
    }

    async fn require_verified_email_login_refuses_an_unverified_address(db: &TestDatabase) {
        let sink = SmtpSink::start().await.unwrap();
        let site = Site::start(db, sink.port(), &[("TESSERA_REQUIRE_VERIFIED_EMAIL", "login")]).await;
        site.user("unverified@example.com").await;

        let (status, body) = site.try_login("unverified@example.com", PASSWORD).await;
        assert_eq!(
            (status, body),
            (401, json!({"detail": "E-mail address is not verified.", "code": "email_not_verified"}))
        );

        let before = seen(&sink);
        let (status, body) = site.post(RESEND, json!({"email": "unverified@example.com"})).await;
        assert_eq!((status, body), (200, json!({"detail": "ok"})));
        let message = mail(&sink, &before, "unverified@example.com", "/account/verify-email/").await;
        let key = link_key(&message, "/account/verify-email/");
        let (status, _) = site.post(VERIFY, json!({"key": key})).await;
        assert_eq!(status, 200);
        site.login("unverified@example.com", PASSWORD).await;
    }
}

/// A production `.env` that `check --deploy` finds fit, but for the mail settings, which
/// `mail` supplies.
fn write_production_dotenv(dir: &std::path::Path, mail: &str) {
    let text = format!(
        "TESSERA_DEBUG=False\n\
         TESSERA_SIGNING_KEY={SIGNING_KEY}\n\
         TESSERA_ALLOWED_HOSTS=api.example.com\n\
         TESSERA_SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https\n\
         TESSERA_SECURE_SSL_REDIRECT=True\n\
         TESSERA_SECURE_HSTS_SECONDS=31536000\n\
         TESSERA_SECURE_HSTS_INCLUDE_SUBDOMAINS=True\n\
         TESSERA_SECURE_HSTS_PRELOAD=True\n\
         TESSERA_SESSION_COOKIE_SECURE=True\n\
         TESSERA_CSRF_COOKIE_SECURE=True\n\
         TESSERA_METRICS_TOKEN=scrape-me-9f2c1e7a\n\
         {mail}"
    );
    std::fs::write(dir.join(".env"), text).unwrap();
}

/// `tessera check --deploy` in `dir`: `(success, stdout and stderr)`.
fn check_deploy(dir: &std::path::Path) -> (bool, String) {
    let mut check = tessera(dir);
    check.args(["check", "--deploy"]);
    let output = run(check, None);
    (
        output.status.success(),
        format!("{}{}", stdout(&output), stderr(&output)),
    )
}

#[test]
fn check_deploy_refuses_a_development_mail_backend_in_production() {
    let dir = tempfile::tempdir().unwrap();

    // The default backend writes mail to the log: not for production.
    write_production_dotenv(dir.path(), "TESSERA_PUBLIC_URL=https://api.example.com\n");
    let (ok, text) = check_deploy(dir.path());
    assert!(!ok, "{text}");
    assert!(text.contains("email_backend"), "{text}");

    // The file backend neither.
    let mail_dir = dir.path().join("mail");
    write_production_dotenv(
        dir.path(),
        &format!(
            "TESSERA_PUBLIC_URL=https://api.example.com\nTESSERA_EMAIL_BACKEND=file\nTESSERA_EMAIL_FILE_PATH={}\n",
            mail_dir.display()
        ),
    );
    let (ok, text) = check_deploy(dir.path());
    assert!(!ok && text.contains("email_backend"), "{text}");

    // Plain SMTP to another host sends passwords and links in the clear.
    write_production_dotenv(
        dir.path(),
        "TESSERA_PUBLIC_URL=https://api.example.com\nTESSERA_EMAIL_BACKEND=smtp\n\
         TESSERA_SMTP_URL=smtp://mailer:secret-password@smtp.example.com:25\n",
    );
    let (ok, text) = check_deploy(dir.path());
    assert!(!ok && text.contains("smtp_url"), "{text}");
    assert!(
        !text.contains("secret-password"),
        "the password is never shown: {text}"
    );

    // Links in mail on plain HTTP.
    write_production_dotenv(
        dir.path(),
        "TESSERA_PUBLIC_URL=http://api.example.com\nTESSERA_EMAIL_BACKEND=smtp\n\
         TESSERA_SMTP_URL=smtps://mailer:secret-password@smtp.example.com:465\n",
    );
    let (ok, text) = check_deploy(dir.path());
    assert!(!ok && text.contains("public_url"), "{text}");

    // SMTP over TLS and an https public URL: fit.
    write_production_dotenv(
        dir.path(),
        "TESSERA_PUBLIC_URL=https://api.example.com\nTESSERA_EMAIL_BACKEND=smtp\n\
         TESSERA_SMTP_URL=smtps://mailer:secret-password@smtp.example.com:465\n",
    );
    let (ok, text) = check_deploy(dir.path());
    assert!(ok, "{text}");
    assert!(
        !text.contains("email_backend")
            && !text.contains("smtp_url")
            && !text.contains("public_url"),
        "{text}"
    );
}

/// Two `tessera` processes on one PostgreSQL database, one mail server: each queued mail is
/// sent once, whichever instance queued it and however both senders race for it; and a reset
/// token presented to both instances at once works once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_each_mail_once_and_take_a_token_once() {
    let Some(db) = TestDatabase::postgres("email_flows::two_instances").await else {
        return;
    };
    let sink = SmtpSink::start().await.unwrap();
    let a = Site::start(&db, sink.port(), &[]).await;
    let b = Site::start(&db, sink.port(), &[]).await;
    let users: Vec<String> = (0..12).map(|i| format!("twin{i}@example.com")).collect();
    for email in &users {
        a.user(email).await;
    }

    for (i, email) in users.iter().enumerate() {
        let site = if i % 2 == 0 { &a } else { &b };
        assert_eq!(site.request_reset(email).await.0, 200);
    }
    let mut messages = Vec::new();
    for email in &users {
        messages.push(mail(&sink, &HashSet::new(), email, "/account/reset/").await);
    }
    let left = poll_scalar(&db, "SELECT COUNT(*) FROM mail_outbox", |n| n == 0).await;
    assert_eq!(left, 0);
    assert_eq!(
        sink.messages().len(),
        users.len(),
        "one mail each, none twice"
    );

    let (uid, token) = reset_link_parts(&messages[0]);
    let bases = [a.base.clone(), b.base.clone()];
    let client = reqwest::Client::new();
    let replies = crate::helpers::all_at_once(10, |i| {
        let url = format!("{}/api/auth/password/reset/confirm/", bases[i % 2]);
        let body = json!({"uid": uid, "token": token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD});
        let client = client.clone();
        async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    })
    .await;
    let winners = replies.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(winners, 1, "{replies:?}");
    for (status, body) in &replies {
        assert!(
            *status == 200 || (*status == 400 && *body == json!({"token": ["Invalid value"]})),
            "{status} {body}"
        );
    }
    b.login(&users[0], NEW_PASSWORD).await;
}
