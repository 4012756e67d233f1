//! Stored signing keys: an algorithm of the other family is refused (admin API and command
//! line), and keys stored unencrypted are reported by `check --deploy` and sealed when the
//! server starts — on SQLite and on PostgreSQL.

use std::process::Output;

use serde_json::json;
use tessera_auth::keys::KeyManager;
use tessera_core::{Algorithm, Clock, KeyOrigin, Settings};
use tessera_server::config::Config;
use tessera_store::engine_tests;
use tessera_store::testing::TestDatabase;

use crate::helpers::{TestApp, run, stderr, stdout, tessera};

const KEK: &str = "a-key-encryption-key-of-32-bytes-or-more";

/// The test configuration with EdDSA keys kept in the store, sealed with [`KEK`].
fn store_keyed(config: &mut Config) {
    config.jwt.signing_key = None;
    config.jwt.key_source = KeyOrigin::Store;
    config.jwt.algorithm = Algorithm::EdDSA;
    config.jwt.key_encryption_key = Some(KEK.into());
}

/// The binary with keys kept in the store on `database`, EdDSA, sealed with [`KEK`].
fn tessera_on(dir: &std::path::Path, database: &str, args: &[&str]) -> Output {
    let mut command = tessera(dir);
    command
        .args(args)
        .env("TESSERA_DATABASE_URL", database)
        .env("TESSERA_KEY_SOURCE", "store")
        .env("TESSERA_ALGORITHM", "EdDSA")
        .env("TESSERA_KEY_ENCRYPTION_KEY", KEK)
        .env("TESSERA_METRICS_TOKEN", "scrape-me-9f2c1e7a");
    run(command, None)
}

fn text(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

#[tokio::test]
async fn staff_cannot_generate_or_rotate_in_a_key_of_the_other_family() {
    let app = TestApp::build_with(store_keyed).await;
    app.create_staff("staff@example.com").await;
    let token = app.access_token("staff@example.com").await;

    for path in ["/api/admin/keys/", "/api/admin/keys/rotate/"] {
        let (status, body, _) = app
            .send(
                "POST",
                path,
                Some(&token),
                Some(json!({"algorithm": "HS256"})),
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            body,
            json!({"algorithm": ["\"HS256\" is not a valid choice: this deployment signs with EdDSA; pick an asymmetric algorithm"]}),
            "{path}"
        );
    }
    let (status, body, _) = app.get("/api/admin/keys/", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body.as_array().unwrap().len(),
        1,
        "nothing was added: {body}"
    );
    // Another asymmetric algorithm is fine.
    let (status, body, _) = app
        .send(
            "POST",
            "/api/admin/keys/",
            Some(&token),
            Some(json!({"algorithm": "ES256"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[test]
fn the_command_line_refuses_a_key_of_the_other_family_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("t.db").display());
    let migrate = tessera_on(dir.path(), &database, &["migrate"]);
    assert!(migrate.status.success(), "{}", text(&migrate));
    for args in [
        ["keys", "generate", "--algorithm", "HS512"],
        ["keys", "rotate", "--algorithm", "HS256"],
    ] {
        let output = tessera_on(dir.path(), &database, &args);
        assert!(!output.status.success(), "{args:?}: {}", text(&output));
        let error = stderr(&output);
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(
            error.contains("is not a valid choice: this deployment signs with EdDSA"),
            "{error}"
        );
    }
    let list = tessera_on(dir.path(), &database, &["keys", "list"]);
    assert!(text(&list).contains("0 key(s)"), "{}", text(&list));
}

engine_tests! {
    async fn a_key_stored_unencrypted_is_reported_then_sealed_when_the_server_starts(db: &TestDatabase) {
        // A key made while no key-encryption key was configured (a debug start).
        let store = db.store().await;
        let plain_settings = Settings {
            key_source: KeyOrigin::Store,
            algorithm: Algorithm::EdDSA,
            ..Settings::default()
        };
        let first = KeyManager::new(store.clone(), &plain_settings)
            .unwrap()
            .ensure_first_key(Clock::system().now())
            .await
            .unwrap()
            .unwrap();
        assert!(!first.encrypted);
        let dir = tempfile::tempdir().unwrap();

        let check = tessera_on(dir.path(), db.url(), &["check", "--deploy"]);
        assert!(!check.status.success(), "{}", text(&check));
        assert!(
            text(&check).contains("keeps 1 private key(s) unencrypted") && text(&check).contains(&first.kid),
            "{}",
            text(&check)
        );
        let list = text(&tessera_on(dir.path(), db.url(), &["keys", "list"]));
        let row = list.lines().find(|l| l.starts_with(&first.kid)).unwrap();
        assert!(row.ends_with(" no"), "{list}");

        // The server starts, seals it, and audits that.
        let url = db.url().to_owned();
        let app = TestApp::build_with(move |config| {
            store_keyed(config);
            config.database_url = Some(url);
        })
        .await;
        let stored = store.signing_keys().await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(tessera_core::is_sealed(&stored[0].private_key));
        let (count, events) = app
            .tessera
            .auth()
            .audit_log()
            .events(
                &tessera_store::AuditFilter {
                    event: Some("key.sealed".into()),
                    ..Default::default()
                },
                10,
                0,
            )
            .await
            .unwrap();
        assert_eq!(count, 1);
        let detail: serde_json::Value =
            serde_json::from_str(events[0].detail.as_deref().unwrap()).unwrap();
        assert_eq!(detail["kid"], first.kid.as_str());
        assert_eq!(detail["reason"], "stored_unencrypted");
        let (status, jwks, _) = app.get("/.well-known/jwks.json", None).await;
        assert_eq!(status, 200);
        assert_eq!(jwks["keys"][0]["kid"], first.kid.as_str());

        let list = text(&tessera_on(dir.path(), db.url(), &["keys", "list"]));
        let row = list.lines().find(|l| l.starts_with(&first.kid)).unwrap();
        assert!(row.ends_with(" yes"), "{list}");
        let check = tessera_on(dir.path(), db.url(), &["check", "--deploy"]);
        assert!(!text(&check).contains("unencrypted"), "{}", text(&check));

        // A key written unencrypted behind the running server's back is refused.
        let rogue = tessera_store::StoredKey {
            kid: "rogue-1".into(),
            algorithm: "EdDSA".into(),
            private_key: format!("plain:{}", tessera_core::generate_private_key(Algorithm::EdDSA).unwrap().expose()),
            created_at: Clock::system().now(),
            activates_at: None,
            retired_at: None,
        };
        store.insert_signing_key(&rogue).await.unwrap();
        let err = app.tessera.auth().reload_keys().await.unwrap_err();
        assert!(err.to_string().contains("stored unencrypted"), "{err}");
        store.close().await;
    }
}
