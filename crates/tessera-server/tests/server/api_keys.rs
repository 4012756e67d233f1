//! API keys through the server: service accounts and keys made with the command line, used
//! against a running `tessera serve` (another process: another instance over the same
//! database), revoked from the command line and refused at once; and the account page's
//! API keys section.

use serde_json::{Value, json};

use crate::helpers::{SIGNING_KEY, Server, TestApp, run, stderr, stdout, tessera};

/// The HMAC key of API keys, the same for the commands and the server.
const API_KEY_SECRET: &str = "an-api-key-secret-of-at-least-32-bytes";

/// `tessera` with the production settings of [`Server::start_with`] and the API key secret.
fn command(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = tessera(dir);
    command
        .args(args)
        .env("TESSERA_SIGNING_KEY", SIGNING_KEY)
        .env("TESSERA_API_KEY_SECRET", API_KEY_SECRET);
    run(command, None)
}

#[tokio::test]
async fn a_service_account_trades_its_cli_made_key_for_tokens_until_the_cli_revokes_it() {
    let dir = tempfile::tempdir().unwrap();
    let created = command(dir.path(), &["user", "create-service", "billing"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let again = command(dir.path(), &["user", "create-service", "billing"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    let output = command(
        dir.path(),
        &[
            "api-key",
            "create",
            "billing",
            "--name",
            "nightly",
            "--scopes",
            "invoices:read,invoices:write",
            "--expires",
            "30d",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let key = stdout(&output).trim().to_owned();
    assert_eq!(key.len(), 41, "{key}");
    let prefix = &key[..8];
    let list = command(dir.path(), &["api-key", "list", "billing"]);
    let listed = stdout(&list);
    assert!(
        listed.contains(prefix) && listed.contains("nightly") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&key[9..]), "{listed}");

    let server = Server::start_with(dir.path(), &[("TESSERA_API_KEY_SECRET", API_KEY_SECRET)]);
    let client = reqwest::Client::new();
    let token = |body: Value| {
        client
            .post(format!("{}/api/token/client/", server.base))
            .json(&body)
            .send()
    };
    let reply = token(json!({"grant_type": "client_credentials", "client_secret": key}))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let access = reply.json::<Value>().await.unwrap()["access"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = client
        .post(format!("{}/api/token/verify/", server.base))
        .json(&json!({"token": access}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    let revoked = command(dir.path(), &["api-key", "revoke", prefix]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let refused = token(json!({"client_secret": key})).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid API key.", "code": "api_key_not_valid"})
    );
    let unknown = command(dir.path(), &["api-key", "revoke", "unknown0"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("no API key with prefix unknown0"),
        "{}",
        stderr(&unknown)
    );
}

#[tokio::test]
async fn the_account_page_has_an_api_keys_section() {
    let app = TestApp::build().await;
    let page = app.client().get("/account/").send().await;
    for id in ["api-keys", "api-key-name", "api-key-create", "api-key-new"] {
        assert!(page.text().contains(&format!(r#"id="{id}""#)), "{id}");
    }
    let script = app.client().get("/account/app.js").send().await;
    let script = script.text();
    assert!(
        script.contains("api-keys/?page="),
        "the list is read page by page"
    );
    // Signing out (every way ends in `showSignedOut`) clears the key shown once.
    let start = script
        .find("function showSignedOut(")
        .expect("showSignedOut");
    let body = &script[start..];
    let body = &body[..body.find("\n}\n").expect("its end")];
    assert!(
        body.contains(r##"$("#api-key-new").textContent = "";"##)
            && body.contains(r##"$("#api-key-new-box").hidden = true;"##),
        "{body}"
    );
}
