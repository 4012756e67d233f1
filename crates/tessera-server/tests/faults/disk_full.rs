//! A full disk under SQLite: the server runs with a file-size limit (`ulimit -f`, with
//! SIGXFSZ ignored so that a write past it fails with `EFBIG` instead of killing the
//! process). Registrations go on until the database cannot grow; then writes fail with a
//! 5xx in DRF's shape and a log line that names the cause, reads keep working, and nothing
//! hangs or crashes. With the limit lifted, the file is sound and holds every acknowledged
//! registration.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_core::Timestamp;
use tessera_store::{NewUser, PasswordHasher, Store};

use crate::helpers::{PASSWORD, Server};
use crate::support::{Api, integrity_check};

/// How far the database files may grow past the size they have when the limited server
/// starts: room for a few dozen registrations.
const HEADROOM: u64 = 512 * 1024;
/// Far more registrations than [`HEADROOM`] can hold: when this many are acknowledged,
/// some were not written.
const MOST_REGISTRATIONS: usize = 150;

const ENV: [(&str, &str); 1] = [("TESSERA_THROTTLE_RATES", "{login = \"\", register = \"\"}")];

/// `command` run by `sh` with SIGXFSZ ignored and files limited to `bytes` (`ulimit -f`
/// counts 512-byte blocks).
fn with_file_size_limit(command: &Command, bytes: u64) -> Command {
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"",
            bytes.div_ceil(512)
        ))
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear();
    if let Some(dir) = command.get_current_dir() {
        limited.current_dir(dir);
    }
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => limited.env(name, value),
            None => limited.env_remove(name),
        };
    }
    limited
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn registration(email: &str) -> serde_json::Value {
    json!({
        "email": email, "first_name": "Disk", "last_name": "Full",
        "password": PASSWORD, "password_confirm": PASSWORD,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_fails_writes_clearly_keeps_reads_and_loses_no_acknowledged_write() {
    // Arrange: a migrated database with one account logged in, then a server that may not
    // grow any file more than HEADROOM past the database's size.
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("data").join("tessera.db");
    let mut server = Server::start_with(dir.path(), &ENV);
    let url = format!("sqlite://{}", db_path.display());
    let store = Store::connect(&url).await.unwrap();
    store
        .create_user(&NewUser {
            email: "reader@example.com".into(),
            password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
            is_active: true,
            date_joined: Timestamp::from_micros(1_795_445_447_123_456),
            ..NewUser::default()
        })
        .await
        .unwrap();
    store.close().await;
    let api = Api::new(&server.base);
    let credentials = json!({"email": "reader@example.com", "password": PASSWORD});
    let tokens = api
        .must("POST", "/api/token/", None, Some(credentials))
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.text("access");
    server.terminate();
    let limit = file_size(&db_path) + HEADROOM;
    let mut server = Server::spawn(with_file_size_limit(
        &Server::command(dir.path(), &ENV),
        limit,
    ));
    let api = Api::new(&server.base);

    // Act: register until a write fails (or so many succeed that some cannot be on disk).
    let mut acknowledged = Vec::new();
    let refused = loop {
        if acknowledged.len() == MOST_REGISTRATIONS {
            break None;
        }
        let email = format!("full{}@example.com", acknowledged.len());
        let started = Instant::now();
        let reply = api
            .must(
                "POST",
                "/api/auth/register/",
                None,
                Some(registration(&email)),
            )
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a registration hung"
        );
        match reply.status {
            201 => acknowledged.push(email),
            _ => break Some(reply),
        }
    };

    if let Some(refused) = &refused {
        // Assert: a 5xx in DRF's shape, said in the log…
        assert!(refused.status >= 500, "{} {}", refused.status, refused.body);
        assert!(refused.body["detail"].is_string(), "{}", refused.body);
        let logs: Vec<String> = server.logs.try_iter().collect();
        let said = logs
            .iter()
            .find(|l| l.contains("request failed") && l.contains("disk"))
            .unwrap_or_else(|| {
                panic!("no log line says a request failed on the full disk: {logs:#?}")
            });
        eprintln!(
            "{} registrations acknowledged, then {} {}; logged: {said}",
            acknowledged.len(),
            refused.status,
            refused.body
        );
        // …again for the next writes, promptly, with the process alive…
        for attempt in 0..3 {
            let started = Instant::now();
            let email = format!("late{attempt}@example.com");
            let reply = api
                .must(
                    "POST",
                    "/api/auth/register/",
                    None,
                    Some(registration(&email)),
                )
                .await;
            assert!(reply.status >= 500, "{} {}", reply.status, reply.body);
            assert!(started.elapsed() < Duration::from_secs(10), "a write hung");
        }
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the server died"
        );
        // …while reads keep working.
        let profile = api
            .must("GET", "/api/auth/profile/", Some(&access), None)
            .await;
        assert_eq!(
            (profile.status, &profile.body["email"]),
            (200, &json!("reader@example.com"))
        );
        let verify = api
            .must(
                "POST",
                "/api/token/verify/",
                None,
                Some(json!({"token": access})),
            )
            .await;
        assert_eq!((verify.status, &verify.body), (200, &json!({})));
        let health = api.must("GET", "/healthz", None, None).await;
        assert_eq!(health.status, 200);
        let ready = api.must("GET", "/readyz", None, None).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
    }

    // With the limit lifted: the file is sound and every acknowledged registration is in
    // it; new ones succeed.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(integrity_check(&db_path).await, "ok");
    let server = Server::start_with(dir.path(), &ENV);
    let api = Api::new(&server.base);
    assert_eq!(integrity_check(&db_path).await, "ok");
    let store = Store::connect(&url).await.unwrap();
    for email in &acknowledged {
        assert!(
            store.user_by_email(email).await.unwrap().is_some(),
            "{email} was acknowledged and lost"
        );
    }
    store.close().await;
    for email in acknowledged
        .iter()
        .step_by(acknowledged.len().div_ceil(5).max(1))
    {
        let credentials = json!({"email": email, "password": PASSWORD});
        let reply = api
            .must("POST", "/api/token/", None, Some(credentials))
            .await;
        assert_eq!(reply.status, 200, "{email}: {}", reply.body);
    }
    let reply = api
        .must(
            "POST",
            "/api/auth/register/",
            None,
            Some(registration("after@example.com")),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(
        refused.is_some(),
        "{MOST_REGISTRATIONS} registrations acknowledged, more than the limit can hold"
    );
}
