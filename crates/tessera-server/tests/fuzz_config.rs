//! Fuzz target: configuration loading. Random `tessera.toml` text — arbitrary text, and
//! files of real and misspelt settings with values of every TOML type — and random
//! `TESSERA_*` variables go through `Config::load_from`; a few of them through
//! `tessera check` as well. Loading never panics; a refusal is one message that says where
//! the bad value came from and never repeats a secret; the binary prints it as one line
//! and exits 1.
//!
//! Cases per property: a small default, or `PROPTEST_CASES` (`scripts/fuzz` runs a
//! million). The binary property starts a process per case: its count is
//! `TESSERA_FUZZ_BINARY_CASES` (default 24).

use std::path::Path;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tessera_server::config::Config;

#[path = "../../tessera-core/tests/support/fuzz.rs"]
mod support;

use support::{cases, fuzz, fuzz_cases};

/// Put into every secret value; no error may repeat it.
const MARKER: &str = "Zq7SECRETmarker";

/// Settings whose values are secrets.
const SECRETS: [&str; 5] = [
    "signing_key",
    "key_encryption_key",
    "api_key_secret",
    "metrics_token",
    "database_url",
];

/// Every setting's name.
fn setting_names() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => panic!("the configuration serializes to a table"),
    }
}

/// A setting name: usually a real one, sometimes misspelt or odd.
fn name(names: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(names.clone()),
        2 => prop::sample::select(SECRETS.to_vec()).prop_map(str::to_owned),
        1 => (prop::sample::select(names), any::<prop::sample::Index>())
            .prop_map(|(n, i)| { let mut n = n; if !n.is_empty() { n.remove(i.index(n.len())); } n }),
        1 => "[a-zA-Z_.\"-]{1,20}",
    ]
}

/// A value as TOML text: every TOML type, durations, huge and odd numbers, lists.
fn toml_value() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        "[ -~]{0,20}",
        prop::sample::select(vec![
            "5m",
            "0",
            "-1",
            "1e99s",
            "18446744073709551616",
            "10 years",
            "1h30m",
            "HS256",
            "EdDSA",
            "none",
            "sqlite://x.db",
            "postgres://u@h/d",
            "mysql://x",
            "127.0.0.1:0",
            "[::1]:99999",
            "5/min",
            "1/s",
            "0/day",
            "x/y",
            "lax",
            "true",
            "",
            "\u{0}",
        ])
        .prop_map(str::to_owned),
    ];
    let scalar = prop_oneof![
        4 => text.prop_map(|t| toml::Value::String(t).to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("18446744073709551616".to_owned()),
        1 => any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
        1 => Just("nan".to_owned()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => Just("1979-05-27T07:32:00Z".to_owned()),
        1 => Just("{ a = 1 }".to_owned()),
    ];
    prop_oneof![
        6 => scalar.clone(),
        2 => prop::collection::vec(scalar, 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => "[ -~]{0,12}",
    ]
}

/// A secret value with the marker in it; `seed` picks a valid or a mistyped database URL.
fn secret_value(name: &str, seed: usize) -> String {
    if name == "database_url" {
        let scheme = ["postgres", "postgresql+psycopg", "sqlite", "mysql"][seed % 4];
        format!("{scheme}://app:{MARKER}@db.invalid:5432/x")
    } else {
        format!("{MARKER}-0123456789abcdef0123456789abcdef")
    }
}

#[derive(Debug, Clone)]
enum File {
    Text(String),
    Settings(Vec<(String, String)>, Option<String>),
}

fn file(names: Vec<String>) -> impl Strategy<Value = Option<File>> {
    prop::option::weighted(
        0.9,
        prop_oneof![
            1 => any::<String>().prop_map(File::Text),
            1 => "([a-z_]{1,12} ?= ?[ -~]{0,12}\n){0,4}".prop_map(File::Text),
            6 => (
                prop::collection::vec((name(names), toml_value()), 0..6),
                prop::option::of(prop::sample::select(vec!["[jwt]", "[[x]]", "[", "a.b = 1", "# comment"])
                    .prop_map(str::to_owned)),
            )
                .prop_map(|(pairs, tail)| File::Settings(pairs, tail)),
        ],
    )
}

fn render(file: &File) -> String {
    match file {
        File::Text(text) => text.clone(),
        File::Settings(pairs, tail) => {
            let mut out = String::new();
            for (name, value) in pairs {
                let value = if SECRETS.contains(&name.as_str()) {
                    toml::Value::String(secret_value(name, value.len())).to_string()
                } else {
                    value.clone()
                };
                out.push_str(&format!("{name} = {value}\n"));
            }
            if let Some(tail) = tail {
                out.push_str(tail);
                out.push('\n');
            }
            out
        }
    }
}

/// `TESSERA_*` variables with random values (secrets carry the marker).
fn vars(names: Vec<String>) -> impl Strategy<Value = Vec<(String, String)>> {
    let value = prop_oneof![
        "[ -~]{0,24}",
        any::<String>(),
        prop::sample::select(vec![
            "true", "false", "[a,b]", "[", "1e3", "-5", "5m", "[\"x\"]"
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec((name(names), value), 0..4).prop_map(|vars| {
        vars.into_iter()
            .map(|(name, value)| {
                let value = if SECRETS.contains(&name.as_str()) {
                    secret_value(&name, value.len())
                } else {
                    value.replace('\0', "")
                };
                (format!("TESSERA_{}", name.to_ascii_uppercase()), value)
            })
            .collect()
    })
}

/// Fails unless `message` is a usable refusal: not empty, naming where the bad value came
/// from, and never repeating a secret.
fn check_message(message: &str, path: &Path) -> Result<(), TestCaseError> {
    prop_assert!(!message.trim().is_empty(), "an empty error");
    prop_assert!(
        !message.contains(MARKER),
        "the error repeats a secret: {}",
        message
    );
    let names_source = message.contains(&path.display().to_string())
        || message.contains("environment variable")
        || message.contains("TESSERA_")
        || message.contains('`');
    prop_assert!(
        names_source,
        "the error names no setting or source: {}",
        message
    );
    Ok(())
}

#[test]
fn configuration_text_and_variables_load_or_are_refused_clearly() {
    let names = setting_names();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.toml");
    let strategy = (file(names.clone()), vars(names));
    fuzz("config_load", 300, strategy, |(file, vars)| {
        let given = match &file {
            Some(file) => {
                std::fs::write(&path, render(file)).unwrap();
                Some(path.as_path())
            }
            None => {
                let _ = std::fs::remove_file(&path);
                None
            }
        };
        // A file given but not written is "does not exist": also a clear refusal.
        let given = given.or(Some(path.as_path()));
        match Config::load_from(given, &vars) {
            Ok(config) => {
                // What loads is valid, and its deployment findings can be listed.
                prop_assert!(config.validate().is_ok());
                let _ = config.findings();
                let _ = config.check_production();
            }
            Err(error) => check_message(&error.to_string(), &path)?,
        }
        Ok(())
    });
}

#[test]
fn the_binary_prints_a_bad_configuration_as_one_line() {
    let names = setting_names();
    let dir = tempfile::tempdir().unwrap();
    let strategy = (file(names.clone()), vars(names));
    fuzz_cases(
        "config_binary",
        cases("TESSERA_FUZZ_BINARY_CASES", 24),
        strategy,
        |(file, vars)| {
            let path = dir.path().join("tessera.toml");
            match &file {
                Some(file) => std::fs::write(&path, render(file)).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
            let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
            command
                .arg("check")
                .current_dir(dir.path())
                .env_clear()
                .env("TESSERA_DATA_DIR", dir.path().join("data"))
                .stdin(Stdio::null());
            for (name, value) in &vars {
                command.env(name, value);
            }
            let output = command.output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            prop_assert!(!stderr.contains("panicked"), "a panic: {}", stderr);
            match output.status.code() {
                Some(0) => {}
                Some(1) => {
                    let lines: Vec<&str> = stderr
                        .lines()
                        .filter(|l| l.starts_with("Error: "))
                        .collect();
                    prop_assert_eq!(lines.len(), 1, "not one error line: {}", stderr);
                    prop_assert!(
                        !stderr.contains(MARKER),
                        "the error repeats a secret: {}",
                        stderr
                    );
                }
                other => return Err(TestCaseError::fail(format!("exit {other:?}: {stderr}"))),
            }
            Ok(())
        },
    );
}

/// Found by `configuration_text_and_variables_load_or_are_refused_clearly`: a TOML syntax
/// error quoted the offending line of the file, so a secret on that line reached standard
/// error and the logs. Here, a `key_encryption_key` set twice, among others.
#[test]
fn a_toml_syntax_error_does_not_repeat_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.toml");
    for text in [
        format!("key_encryption_key = \"{MARKER}\"\nkey_encryption_key = \"{MARKER}\"\n"),
        format!("signing_key = \"{MARKER}\n"),
        format!("metrics_token = {MARKER}\n"),
    ] {
        std::fs::write(&path, &text).unwrap();
        let error = Config::load_from(Some(&path), &[]).unwrap_err().to_string();
        assert!(!error.contains(MARKER), "{text:?} gives: {error}");
    }
}

/// Found by `configuration_text_and_variables_load_or_are_refused_clearly` (a million-case
/// run): a quoted value with a backslash after non-ASCII text, in the variable of a setting
/// that is not text, panics inside figment's unescaping (`escape.rs`: "byte index is not a
/// char boundary"); `tessera` dies with exit code 101 instead of naming the setting.
#[test]
fn a_backslash_after_non_ascii_text_in_a_variable_does_not_panic() {
    for value in [
        "\"é\\n\"",
        "\"\u{11357}\u{1138b}#a \\\u{10a38}\"",
        "[\"é\\t\"]",
    ] {
        let vars = [("TESSERA_LEEWAY".to_owned(), value.to_owned())];
        let loaded = std::panic::catch_unwind(|| Config::load_from(None, &vars).map(|_| ()));
        let error = loaded
            .unwrap_or_else(|_| panic!("TESSERA_LEEWAY={value} panics"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("leeway"), "{value}: {error}");
    }
}
