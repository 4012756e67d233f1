//! The second factors' rules that `tessera serve` and `tessera check` share: a TOTP secret
//! stored unencrypted is accepted in debug mode (a warning from `check`) and refused for
//! production (an error from `check --deploy`), by the same service method.

use tessera_server::config::Config;
use tessera_server::startup::Application;
use tessera_store::{NewUser, PasswordHasher};

use crate::helpers::{PASSWORD, SIGNING_KEY, run, stderr, stdout, tessera};

const PLAIN: &str = "TOTP secret(s) unencrypted";

#[tokio::test]
async fn an_unencrypted_totp_secret_is_a_warning_in_debug_and_an_error_for_production() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.jwt.signing_key = Some(SIGNING_KEY.into());
    let app = Application::build(config.clone())
        .await
        .expect("the application builds");
    let store = app.tessera().auth().store().clone();
    let check = |deploy: bool| {
        let mut check = tessera(dir.path());
        check.arg("check").env("TESSERA_SIGNING_KEY", SIGNING_KEY);
        if deploy {
            check.arg("--deploy");
        }
        run(check, None)
    };
    assert!(!stdout(&check(false)).contains(PLAIN), "nothing stored yet");

    let ada = store
        .create_user(&NewUser {
            email: "ada@example.com".into(),
            password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
            is_active: true,
            ..NewUser::default()
        })
        .await
        .unwrap();
    let now = app.tessera().auth().now();
    assert!(
        store
            .put_pending_totp(ada.id, "plain:JBSWY3DPEHPK3PXP", now)
            .await
            .unwrap()
    );
    assert_eq!(app.tessera().auth().plain_totp_secrets().await.unwrap(), 1);
    drop(app);

    // Debug mode starts with it, and `check` warns.
    let dev = check(false);
    assert!(dev.status.success(), "{}", stderr(&dev));
    let report = stdout(&dev);
    assert!(
        report.contains(&format!(
            "warning: `key_encryption_key` the store keeps 1 {PLAIN}"
        )),
        "{report}"
    );
    Application::build(config)
        .await
        .expect("debug mode starts with an unencrypted secret");
    // For production, it is an error that fails the check.
    let production = check(true);
    assert!(!production.status.success());
    let report = stdout(&production);
    assert!(
        report.contains(&format!(
            "error: `key_encryption_key` the store keeps 1 {PLAIN}"
        )),
        "{report}"
    );
}
