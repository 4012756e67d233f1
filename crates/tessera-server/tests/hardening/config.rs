//! Configuration errors from the binary: no secret echoed, weak keys and unsafe URLs
//! refused for production.

use crate::helpers::{run, stderr, stdout, tessera};

/// `tessera check --deploy` in production mode with these variables: (success, output).
fn check_deploy(env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    command
        .args(["check", "--deploy"])
        .env("TESSERA_DEBUG", "false")
        .env("TESSERA_ALLOWED_HOSTS", "api.example.com")
        .env("TESSERA_METRICS_TOKEN", "scrape-me-9f2c1e7a");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = run(command, None);
    (
        output.status.success(),
        format!("{}{}", stdout(&output), stderr(&output)),
    )
}

#[test]
fn a_mistyped_database_url_is_reported_without_its_password() {
    let (ok, output) = check_deploy(&[
        (
            "TESSERA_DATABASE_URL",
            "postgresql+psycopg://app:Sup3rS3cretDBpass@db:5432/x",
        ),
        (
            "TESSERA_SIGNING_KEY",
            "integration-test-signing-key-that-is-long-enough-for-hs256",
        ),
    ]);
    assert!(!ok);
    assert!(output.contains("database_url"), "{output}");
    assert!(!output.contains("Sup3rS3cret"), "{output}");
}

#[test]
fn a_signing_key_of_fewer_than_five_different_characters_is_unfit_for_production() {
    let (ok, output) = check_deploy(&[("TESSERA_SIGNING_KEY", &"a".repeat(40))]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("`signing_key` has fewer than 5 different characters"),
        "{output}"
    );
}

#[test]
fn a_plain_http_jwk_url_on_a_lookalike_host_is_unfit_for_production() {
    for url in [
        "http://localhost.attacker.example/jwks.json",
        "http://127.attacker.example/jwks.json",
        "http://127.0.0.1.nip.io/jwks.json",
    ] {
        let (ok, output) = check_deploy(&[
            ("TESSERA_ALGORITHM", "EdDSA"),
            ("TESSERA_KEY_SOURCE", "store"),
            (
                "TESSERA_KEY_ENCRYPTION_KEY",
                "a-key-encryption-key-of-32-bytes-or-more",
            ),
            ("TESSERA_JWK_URL", url),
        ]);
        assert!(!ok, "{url}: {output}");
        assert!(output.contains("error: `jwk_url`"), "{url}: {output}");
    }
}
