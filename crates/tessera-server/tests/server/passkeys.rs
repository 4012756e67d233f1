//! Passkeys that would be stranded: a server whose relying party, derived from
//! `public_url`, cannot be served while the store holds passkeys refuses to start, and
//! `tessera check` says why.

use tessera_server::config::Config;
use tessera_server::startup::Application;
use tessera_store::{NewPasskey, NewUser, PasskeyInsert, PasswordHasher};

use crate::helpers::{PASSWORD, SIGNING_KEY, run, stdout, tessera};

/// A configuration on `dir`'s data directory, at `public_url`.
fn config_at(dir: &std::path::Path, public_url: &str) -> Config {
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        public_url: Some(public_url.into()),
        ..Config::default()
    };
    config.jwt.signing_key = Some(SIGNING_KEY.into());
    config
}

#[tokio::test]
async fn passkeys_unavailable_with_passkeys_stored_stop_the_server_and_fail_the_check() {
    let dir = tempfile::tempdir().unwrap();
    // Unavailable with no passkey stored: the server starts (passkeys are merely off).
    let bare = Application::build(config_at(dir.path(), "http://testserver"))
        .await
        .expect("no passkey is stranded");
    assert!(bare.tessera().auth().passkeys_unavailable().is_some());
    drop(bare);
    let check = |public_url: &str| {
        let mut check = tessera(dir.path());
        check
            .args(["check"])
            .env("TESSERA_SIGNING_KEY", SIGNING_KEY)
            .env("TESSERA_PUBLIC_URL", public_url);
        stdout(&run(check, None))
    };
    assert!(
        !check("http://testserver").contains("passkey(s) their users need"),
        "no passkey yet"
    );

    // A passkey registered while the relying party was `localhost`.
    let app = Application::build(config_at(dir.path(), "http://localhost:8000"))
        .await
        .expect("the application builds");
    let store = app.tessera().auth().store().clone();
    let ada = store
        .create_user(&NewUser {
            email: "ada@example.com".into(),
            password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
            is_active: true,
            ..NewUser::default()
        })
        .await
        .unwrap();
    let stored = store
        .insert_passkey(
            &NewPasskey {
                user_id: ada.id,
                credential_id: "credential",
                user_handle: "00000000-0000-4000-8000-000000000000",
                passkey: "{}",
                name: "Phone",
                created_at: app.tessera().auth().now(),
            },
            20,
        )
        .await
        .unwrap();
    assert!(matches!(stored, PasskeyInsert::Stored(_)), "{stored:?}");
    drop(app);

    let Err(error) = Application::build(config_at(dir.path(), "http://testserver")).await else {
        panic!("stranded passkeys stop the server");
    };
    let error = format!("{error:#}");
    assert!(
        error.contains("passkeys are unavailable")
            && error.contains("the store holds 1 passkey(s)")
            && error.contains("webauthn_rp_id"),
        "{error}"
    );
    let report = check("http://testserver");
    assert!(
        report.contains("the store holds 1 passkey(s) their users need"),
        "{report}"
    );
    // Served again where they were registered, nothing is stranded.
    assert!(
        !check("http://localhost:8000").contains("passkey(s) their users need"),
        "available"
    );
    Application::build(config_at(dir.path(), "http://localhost:8000"))
        .await
        .expect("passkeys are available");
}
