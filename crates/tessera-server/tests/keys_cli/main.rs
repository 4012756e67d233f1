//! `tessera keys …` and `tessera check` on key settings, through the real binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const KEK: &str = "a-key-encryption-key-of-32-bytes-or-more";

/// The binary with a clean environment, working in `dir`, keys kept in the store.
fn tessera(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_DATA_DIR", dir.join("data"))
        .env("TESSERA_KEY_SOURCE", "store")
        .env("TESSERA_KEY_ENCRYPTION_KEY", KEK)
        .env("TESSERA_ALGORITHM", "ES256")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn keys_are_generated_rotated_listed_and_retired_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = tessera(dir.path(), &["keys", "list"]);
    assert!(!list.status.success(), "{}", text(&list));
    assert!(text(&list).contains("no database at"), "{}", text(&list));
    let migrate = tessera(dir.path(), &["migrate"]);
    assert!(migrate.status.success(), "{}", text(&migrate));
    let list = tessera(dir.path(), &["keys", "list"]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(text(&list).contains("0 key(s)"), "{}", text(&list));

    let generated = tessera(dir.path(), &["keys", "generate", "--algorithm", "EdDSA"]);
    assert!(generated.status.success(), "{}", text(&generated));
    assert!(
        text(&generated).contains("(EdDSA) generated and published"),
        "{}",
        text(&generated)
    );

    // No key signs yet, so the rotation takes effect at once, with the configured ES256.
    let rotated = tessera(dir.path(), &["keys", "rotate"]);
    assert!(rotated.status.success(), "{}", text(&rotated));
    let kid = text(&rotated).split_whitespace().nth(1).unwrap().to_owned();
    assert!(
        text(&rotated).contains("(ES256) signs from"),
        "{}",
        text(&rotated)
    );

    let list = text(&tessera(dir.path(), &["keys", "list"]));
    let active = list.lines().find(|l| l.starts_with(&kid)).unwrap();
    assert!(
        active.contains(" active ") && active.ends_with("yes"),
        "{list}"
    );
    assert!(
        list.contains(" published ") && list.contains("2 key(s)"),
        "{list}"
    );

    let retire = tessera(dir.path(), &["keys", "retire", &kid]);
    assert!(!retire.status.success());
    assert!(
        text(&retire).contains("only key signing now"),
        "{}",
        text(&retire)
    );
    let bad = tessera(dir.path(), &["keys", "generate", "--algorithm", "ES512"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("\"ES512\" is not a supported algorithm"),
        "{}",
        text(&bad)
    );

    // The private parts are sealed in the database.
    let database = std::fs::read(dir.path().join("data/tessera.db")).unwrap();
    let haystack = String::from_utf8_lossy(&database);
    assert!(haystack.contains("aes256gcm:") && !haystack.contains("BEGIN PRIVATE KEY"));

    // Another key-encryption key cannot open them: the server refuses to start.
    let wrong = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(dir.path())
        .env_clear()
        .env("TESSERA_DATA_DIR", dir.path().join("data"))
        .env("TESSERA_KEY_SOURCE", "store")
        .env(
            "TESSERA_KEY_ENCRYPTION_KEY",
            "another-key-encryption-key-of-32-bytes",
        )
        .env("TESSERA_ALGORITHM", "ES256")
        .env("TESSERA_BIND", "127.0.0.1:0")
        .arg("serve")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("key_encryption_key"),
        "{}",
        text(&wrong)
    );
}

#[test]
fn check_flags_store_kept_keys_without_encryption_and_settings_keys_cannot_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(dir.path())
        .env_clear()
        .env("TESSERA_KEY_SOURCE", "store")
        .env("TESSERA_DEBUG", "false")
        .args(["check"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains(
            "error: `key_encryption_key` private keys kept in the store are not encrypted"
        ),
        "{}",
        text(&output)
    );

    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(dir.path())
        .env_clear()
        .env("TESSERA_DATA_DIR", dir.path().join("data"))
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("TESSERA_KEY_SOURCE=store"),
        "{}",
        text(&output)
    );

    // With keys in the settings, `keys list` names the configured key.
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(dir.path())
        .env_clear()
        .env("TESSERA_DATA_DIR", dir.path().join("data"))
        .env("TESSERA_ALGORITHM", "EdDSA")
        .args(["keys", "list"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("algorithm: EdDSA  published in the JWKS: yes"),
        "{}",
        text(&output)
    );
    assert!(dir.path().join("data/signing_key.EdDSA.pem").exists());
}

#[tokio::test]
async fn key_commands_are_audited_as_taken_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let generated = tessera(dir.path(), &["keys", "generate", "--algorithm", "EdDSA"]);
    assert!(generated.status.success(), "{}", text(&generated));
    let kid = text(&generated)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let rotated = tessera(dir.path(), &["keys", "rotate"]);
    assert!(rotated.status.success(), "{}", text(&rotated));

    let url = format!("sqlite://{}", dir.path().join("data/tessera.db").display());
    let store = tessera_store::Store::connect(&url).await.unwrap();
    let (_, events) = store
        .list_audit_events(&tessera_store::AuditFilter::default(), 10, 0)
        .await
        .unwrap();
    store.close().await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["key.rotated", "key.generated"]);
    let generated = events[1].detail_json().unwrap();
    assert_eq!(
        (
            &generated["kid"],
            &generated["algorithm"],
            &generated["via"]
        ),
        (
            &serde_json::json!(kid),
            &serde_json::json!("EdDSA"),
            &serde_json::json!("cli")
        )
    );
    assert!(
        events
            .iter()
            .all(|e| e.actor_id.is_none() && e.ip.is_none())
    );
}
