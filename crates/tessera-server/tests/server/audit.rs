//! The audit log in the server: served to staff, pruned in the background by
//! `audit_retention`, written before a graceful shutdown ends, and recorded by the command
//! line's own actions.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_store::{AuditFilter, AuditOutcome, NewAuditEvent, Store};

use crate::helpers::{PASSWORD, Server, TestApp, run, stderr, stdout, tessera};

const DAY: Duration = Duration::from_secs(86_400);

/// The store of a server working in `dir`.
async fn store_in(dir: &Path) -> Store {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let url = format!("sqlite://{}", dir.join("data").join("tessera.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Every stored event, newest first.
async fn events(store: &Store) -> Vec<tessera_store::AuditEvent> {
    store
        .list_audit_events(&AuditFilter::default(), 1000, 0)
        .await
        .unwrap()
        .1
}

fn now() -> tessera_core::Timestamp {
    tessera_core::Clock::system().now()
}

#[tokio::test]
async fn staff_read_the_audit_log_through_the_server() {
    let app = TestApp::build().await;
    let staff = app.create_staff("admin@example.com").await;
    let admin = app.access_token("admin@example.com").await;

    let (status, body, _) = app
        .get(
            &format!("/api/admin/audit/?user={}", staff.id),
            Some(&admin),
        )
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    assert_eq!(body["results"][0]["event"], "login.succeeded");
    assert_eq!(body["results"][0]["ip"], "127.0.0.1");
    let (_, index, _) = app.get("/", None).await;
    assert_eq!(index["links"]["admin_audit"], "/api/admin/audit/");
    let (status, _, _) = app.get("/api/admin/audit/", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_server_prunes_past_the_retention_and_writes_every_event_before_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let old = NewAuditEvent::new(now() - 40 * DAY, "app.old", AuditOutcome::Success);
    let recent = NewAuditEvent::new(now() - DAY, "app.recent", AuditOutcome::Success);
    store.insert_audit_events(&[old, recent]).await.unwrap();
    let mut superuser = tessera(dir.path());
    superuser
        .args([
            "createsuperuser",
            "--email",
            "root@example.com",
            "--no-input",
        ])
        .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
    assert!(run(superuser, None).status.success());

    let mut server = Server::start_with(dir.path(), &[("TESSERA_AUDIT_RETENTION", "30d")]);
    // The first prune runs as the server starts.
    let mut waited = Duration::ZERO;
    while events(&store).await.iter().any(|e| e.event == "app.old") {
        assert!(
            waited < Duration::from_secs(30),
            "the old event was not pruned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let login = reqwest::Client::new()
        .post(format!("{}/api/token/", server.base))
        .header("user-agent", "shutdown-test")
        .json(&json!({"email": "root@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let (status, logs) = server.terminate();

    assert!(status.success(), "{logs:?}");
    let names: Vec<String> = events(&store).await.into_iter().map(|e| e.event).collect();
    assert_eq!(
        names,
        ["login.succeeded", "admin.user_created", "app.recent"],
        "written before the process ended"
    );
    let line: Value = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["target"] == "tessera::audit")
        .expect("a JSON audit log line");
    assert_eq!(line["event"], "login.succeeded");
    assert_eq!(line["outcome"], "success");
    assert_eq!(line["user_agent"], "shutdown-test");
    assert!(line["session"].as_str().is_some_and(|s| s.len() == 32));
    store.close().await;
}

#[tokio::test]
async fn the_command_line_records_its_actions_and_prunes_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut command = tessera(dir.path());
        command
            .args(args)
            .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
        run(command, None)
    };
    assert!(
        command(&[
            "createsuperuser",
            "--email",
            "root@example.com",
            "--no-input"
        ])
        .status
        .success()
    );
    // (`unset-staff` would be refused: root is the last active superuser.)
    let set_staff = command(&["user", "set-staff", "root@example.com"]);
    assert!(set_staff.status.success(), "{}", stderr(&set_staff));
    assert!(
        stderr(&set_staff).contains("admin.user_updated"),
        "the log line: {}",
        stderr(&set_staff)
    );

    let pruned = command(&["pruneaudit"]);
    assert!(pruned.status.success(), "{}", stderr(&pruned));
    assert_eq!(
        stdout(&pruned).trim(),
        "Deleted 0 audit event(s) older than 90 day(s)."
    );
    let mut forever = tessera(dir.path());
    forever
        .arg("pruneaudit")
        .env("TESSERA_AUDIT_RETENTION", "0");
    let forever = run(forever, None);
    assert!(
        stdout(&forever).contains("kept forever"),
        "{}",
        stdout(&forever)
    );
    let mut hourly = tessera(dir.path());
    hourly
        .arg("pruneaudit")
        .env("TESSERA_AUDIT_RETENTION", "1h");
    let hourly = run(hourly, None);
    assert!(!hourly.status.success());
    assert!(
        stderr(&hourly).contains("audit_retention"),
        "{}",
        stderr(&hourly)
    );

    let store = store_in(dir.path()).await;
    let stored = events(&store).await;
    let summary: Vec<(&str, Option<Value>)> = stored
        .iter()
        .map(|e| (e.event.as_str(), e.detail_json()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "admin.user_updated",
                Some(json!({"is_staff": true, "via": "cli"}))
            ),
            (
                "admin.user_created",
                Some(json!({"is_staff": true, "is_superuser": true, "via": "cli"}))
            ),
        ]
    );
    for event in &stored {
        assert_eq!(event.user_id, Some(1));
        assert_eq!(event.username.as_deref(), Some("root@example.com"));
        assert_eq!(
            (event.ip.as_deref(), event.user_agent.as_deref()),
            (None, None)
        );
        assert_eq!(event.actor_id, None);
    }
    store.close().await;
}

#[tokio::test]
async fn user_reset_mfa_removes_the_second_factors_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut command = tessera(dir.path());
        command
            .args(args)
            .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
        run(command, None)
    };
    let created = command(&[
        "createsuperuser",
        "--email",
        "root@example.com",
        "--no-input",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    // A confirmed TOTP device with recovery codes, as the set-up routes leave it (the
    // command never reads the sealed secret).
    let store = store_in(dir.path()).await;
    let root = store
        .user_by_email("root@example.com")
        .await
        .unwrap()
        .expect("root");
    assert!(
        store
            .put_pending_totp(root.id, "sealed-secret", now())
            .await
            .unwrap()
    );
    let codes = ["hash-1".to_owned(), "hash-2".to_owned()];
    assert!(store.confirm_totp(root.id, 1, now(), &codes).await.unwrap());
    assert!(store.totp_device(root.id).await.unwrap().is_some());

    let reset = command(&["user", "reset-mfa", "root@example.com"]);
    assert!(reset.status.success(), "{}", stderr(&reset));
    assert_eq!(
        stdout(&reset).trim(),
        "root@example.com: two-factor authentication removed."
    );
    assert!(store.totp_device(root.id).await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(root.id).await.unwrap(), 0);

    // Again: nothing left, said so.
    let again = command(&["user", "reset-mfa", "root@example.com"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("had no two-factor authentication"),
        "{}",
        stdout(&again)
    );
    let unknown = command(&["user", "reset-mfa", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no user with email"),
        "{}",
        stderr(&unknown)
    );

    let resets: Vec<Option<Value>> = events(&store)
        .await
        .into_iter()
        .filter(|e| e.event == "admin.mfa_reset")
        .map(|e| e.detail_json())
        .collect();
    assert_eq!(
        resets,
        [
            Some(json!({"totp": false, "passkeys": 0, "via": "cli"})),
            Some(json!({"totp": true, "passkeys": 0, "via": "cli"})),
        ]
    );
    store.close().await;
}
