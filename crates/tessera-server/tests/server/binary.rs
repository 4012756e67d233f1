//! The `tessera` binary: its subcommands, and serving as a process.

use serde_json::json;

use crate::helpers::{PASSWORD, SIGNING_KEY, Server, run, stderr, stdout, tessera};

fn create_superuser(dir: &std::path::Path, email: &str) {
    let mut command = tessera(dir);
    command
        .args(["createsuperuser", "--email", email, "--no-input"])
        .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
    let output = run(command, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Superuser created successfully."));
}

#[test]
fn createsuperuser_and_user_commands_manage_accounts() {
    let dir = tempfile::tempdir().unwrap();
    create_superuser(dir.path(), "root@example.com");

    // The same e-mail again, whatever the domain's case.
    let mut again = tessera(dir.path());
    again.args([
        "createsuperuser",
        "--email",
        "root@EXAMPLE.com",
        "--no-input",
    ]);
    let output = run(again, None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("That email is already taken."),
        "{}",
        stderr(&output)
    );

    let mut list = tessera(dir.path());
    list.args(["user", "list"]);
    let output = run(list, None);
    assert!(
        stdout(&output).contains("root@example.com"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("1 user(s)"));

    // Root is the last active superuser: the command line cannot remove them either.
    for args in [
        vec!["user", "unset-staff", "root@example.com"],
        vec!["user", "deactivate", "root@example.com"],
        vec!["user", "delete", "root@example.com", "--yes"],
    ] {
        let mut command = tessera(dir.path());
        command.args(&args);
        let output = run(command, None);
        assert!(
            !output.status.success()
                && stderr(&output).contains(
                    "The last active superuser cannot be demoted, deactivated or deleted."
                ),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let mut second = tessera(dir.path());
    second
        .args([
            "createsuperuser",
            "--email",
            "second@example.com",
            "--no-input",
        ])
        .env("TESSERA_SUPERUSER_PASSWORD", "another long passphrase 1906");
    let output = run(second, None);
    assert!(output.status.success(), "{}", stderr(&output));

    for (args, expected) in [
        (
            vec!["user", "unset-staff", "root@example.com"],
            "is no longer staff",
        ),
        (
            vec!["user", "deactivate", "root@example.com"],
            "is inactive",
        ),
        (vec!["user", "activate", "root@example.com"], "is active"),
        (
            vec!["user", "set-staff", "root@example.com"],
            "is now staff",
        ),
    ] {
        let mut command = tessera(dir.path());
        command.args(&args);
        let output = run(command, None);
        assert!(
            output.status.success() && stdout(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let mut show = tessera(dir.path());
    show.args(["user", "show", "root@example.com"]);
    let shown = stdout(&run(show, None));
    assert!(
        shown.contains("staff:         yes") && shown.contains("active:        yes"),
        "{shown}"
    );

    // set-password reads standard input when it is not a terminal; short passwords are refused.
    let mut short = tessera(dir.path());
    short.args(["user", "set-password", "root@example.com"]);
    assert!(!run(short, Some("short\n")).status.success());
    let mut set = tessera(dir.path());
    set.args(["user", "set-password", "root@example.com"]);
    let output = run(set, Some("a brand new passphrase\n"));
    assert!(output.status.success(), "{}", stderr(&output));

    // Deleting needs --yes without a terminal.
    let mut delete = tessera(dir.path());
    delete.args(["user", "delete", "root@example.com"]);
    assert!(!run(delete, None).status.success());
    let mut delete = tessera(dir.path());
    delete.args(["user", "delete", "root@example.com", "--yes"]);
    assert!(run(delete, None).status.success());
    let mut show = tessera(dir.path());
    show.args(["user", "show", "root@example.com"]);
    let output = run(show, None);
    assert!(!output.status.success() && stderr(&output).contains("no user with email"));
}

#[test]
fn createsuperuser_without_a_password_makes_an_unusable_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    command.args([
        "createsuperuser",
        "--email",
        "nopass@example.com",
        "--no-input",
    ]);
    let output = run(command, None);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut show = tessera(dir.path());
    show.args(["user", "show", "nopass@example.com"]);
    assert!(stdout(&run(show, None)).contains("password:      unusable"));
}

#[test]
fn createsuperuser_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    command.args(["createsuperuser", "--email", "not-an-email", "--no-input"]);
    assert!(!run(command, None).status.success());
    let mut command = tessera(dir.path());
    command.args(["createsuperuser", "--no-input"]);
    assert!(stderr(&run(command, None)).contains("--email is required"));
    let mut command = tessera(dir.path());
    command
        .args(["createsuperuser", "--email", "a@example.com", "--no-input"])
        .env("TESSERA_SUPERUSER_PASSWORD", "short");
    assert!(stderr(&run(command, None)).contains("too short"));
}

/// The one line a failed command printed on standard error, after checking that it failed
/// and printed nothing more: no backtrace, no second `Error:`.
fn one_line_error(output: &std::process::Output) -> String {
    let text = stderr(output);
    assert!(!output.status.success(), "the command succeeded: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() == 1 && !lines[0].trim().is_empty(),
        "one line expected: {text:?}"
    );
    assert!(!text.contains("Stack backtrace"), "{text}");
    assert!(!text.contains("Error: Error:"), "{text}");
    lines[0].to_owned()
}

#[test]
fn a_failed_command_prints_one_line_even_with_rust_backtrace_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut migrate = tessera(dir.path());
    migrate.arg("migrate");
    assert!(run(migrate, None).status.success());
    let mut show = tessera(dir.path());
    show.args(["user", "show", "nobody@example.com"])
        .env("RUST_BACKTRACE", "1");
    let line = one_line_error(&run(show, None));
    let database = format!("sqlite://{}", dir.path().join("data/tessera.db").display());
    assert_eq!(
        line,
        format!("Error: no user with email nobody@example.com in {database}")
    );

    create_superuser(dir.path(), "taken@example.com");
    let mut again = tessera(dir.path());
    again
        .args([
            "createsuperuser",
            "--email",
            "taken@example.com",
            "--no-input",
        ])
        .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD)
        .env("RUST_BACKTRACE", "1");
    let line = one_line_error(&run(again, None));
    assert_eq!(line, "Error: That email is already taken.");
}

#[test]
fn migrate_and_flushexpiredtokens_run_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut migrate = tessera(dir.path());
    migrate.arg("migrate");
    let output = run(migrate, None);
    assert!(
        output.status.success() && stdout(&output).contains("Migrations applied."),
        "{}",
        stderr(&output)
    );
    assert!(dir.path().join("data/tessera.db").exists());
    let mut flush = tessera(dir.path());
    flush.arg("flushexpiredtokens");
    let output = run(flush, None);
    assert!(
        stdout(&output).contains("Deleted 0 expired session(s) and 0 stale throttle row(s)."),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_names_what_is_unsafe_for_production() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = tessera(dir.path());
    dev.arg("check");
    let output = run(dev, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("`debug`") && stdout(&output).contains("`signing_key`"));

    let mut deploy = tessera(dir.path());
    deploy.args(["check", "--deploy"]);
    assert!(!run(deploy, None).status.success());

    let mut production = tessera(dir.path());
    production
        .arg("check")
        .env("TESSERA_DEBUG", "false")
        .env("TESSERA_ALLOWED_HOSTS", "api.example.com")
        .env("TESSERA_SIGNING_KEY", SIGNING_KEY)
        .env("TESSERA_PUBLIC_URL", "https://api.example.com")
        .env("TESSERA_EMAIL_BACKEND", "smtp")
        .env("TESSERA_SMTP_URL", "smtps://smtp.example.com");
    let output = run(production, None);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("fit for production"));

    let mut invalid = tessera(dir.path());
    invalid
        .arg("check")
        .env("TESSERA_ACCESS_TOKEN_LIFETIME", "soon");
    let output = run(invalid, None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("access_token_lifetime"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn production_mode_refuses_to_start_without_a_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = tessera(dir.path());
    serve
        .arg("serve")
        .env("TESSERA_DEBUG", "false")
        .env("TESSERA_BIND", "127.0.0.1:0");
    let output = run(serve, None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("TESSERA_SIGNING_KEY"),
        "{}",
        stderr(&output)
    );
    let mut weak = tessera(dir.path());
    weak.arg("serve")
        .env("TESSERA_DEBUG", "false")
        .env("TESSERA_BIND", "127.0.0.1:0")
        .env("TESSERA_SIGNING_KEY", "short");
    let output = run(weak, None);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("signing_key"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn commands_run_with_the_signing_key_of_a_production_configuration() {
    // The commands sign nothing, but the key the server signs with is configured for them
    // too (one `.env` for both); it must not stop them.
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[
            "createsuperuser",
            "--email",
            "ops@example.com",
            "--no-input",
        ][..],
        &["user", "list"],
    ] {
        let mut command = tessera(dir.path());
        command
            .args(args)
            .env("TESSERA_DEBUG", "false")
            .env("TESSERA_ALLOWED_HOSTS", "api.example.com")
            .env("TESSERA_SIGNING_KEY", SIGNING_KEY);
        let output = run(command, None);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    }
}

#[tokio::test]
async fn the_server_serves_while_the_cli_writes_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // The CLI writes to the database the running server uses.
    create_superuser(dir.path(), "live@example.com");
    let response = client
        .post(format!("{}/api/token/", server.base))
        .json(&json!({"email": "live@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    let raw_refresh = tokens["refresh"].as_str().unwrap().to_owned();

    let (status, logs) = server.terminate();
    assert!(status.success(), "{status:?}");
    let stopped = logs
        .iter()
        .find(|l| l.contains("tessera stopped"))
        .expect("a clean stop is logged");
    assert!(
        stopped.starts_with('{'),
        "production logs are JSON: {stopped}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("/api/token/") && l.contains("200")),
        "requests are logged"
    );
    // Nothing secret reached the logs.
    assert!(
        !logs
            .iter()
            .any(|l| l.contains(&raw_refresh) || l.contains(PASSWORD) || l.contains(SIGNING_KEY))
    );
}

/// "No lost writes on a process crash": every rotation the server acknowledged is in the
/// database after the process is killed (SIGKILL, no shutdown at all) and started again.
#[tokio::test]
async fn every_acknowledged_rotation_survives_a_killed_server() {
    let dir = tempfile::tempdir().unwrap();
    create_superuser(dir.path(), "crash@example.com");
    let env = [("TESSERA_REFRESH_REUSE_GRACE", "0")];
    let mut server = Server::start_with(dir.path(), &env);
    let client = reqwest::Client::new();
    let post = |base: &str, path: &str, body: serde_json::Value| {
        client.post(format!("{base}{path}")).json(&body).send()
    };
    let login = post(
        &server.base,
        "/api/token/",
        json!({"email": "crash@example.com", "password": PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(login.status(), 200);
    let body: serde_json::Value = login.json().await.unwrap();
    let mut tokens = vec![body["refresh"].as_str().unwrap().to_owned()];
    for _ in 0..40 {
        let current = tokens.last().unwrap().clone();
        let response = post(
            &server.base,
            "/api/token/refresh/",
            json!({"refresh": current}),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        tokens.push(body["refresh"].as_str().unwrap().to_owned());
    }

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let restarted = Server::start_with(dir.path(), &env);

    // The last acknowledged rotation is the session's current token…
    let last = tokens.last().unwrap();
    let response = post(
        &restarted.base,
        "/api/token/verify/",
        json!({"token": last}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let response = post(
        &restarted.base,
        "/api/token/refresh/",
        json!({"refresh": last}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200, "the last rotation was lost");
    // …and the one before it had been rotated away.
    let before = &tokens[tokens.len() - 2];
    let response = post(
        &restarted.base,
        "/api/token/refresh/",
        json!({"refresh": before}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 401);
}

/// `tessera` in username mode (`username_field = "username"`), working in `dir`.
fn tessera_by_username(dir: &std::path::Path) -> std::process::Command {
    let mut command = tessera(dir);
    command.env("TESSERA_USERNAME_FIELD", "username");
    command
}

#[tokio::test]
async fn createsuperuser_takes_a_username_that_then_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    // No address needed; the name is stored NFKC-normalised, as Django stores it.
    let mut command = tessera_by_username(dir.path());
    command
        .args(["createsuperuser", "--username", "ｒｏｏｔ", "--no-input"])
        .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
    let output = run(command, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Superuser created successfully."));

    for (args, expected) in [
        (
            vec!["--username", "root"],
            "That username is already taken.",
        ),
        (
            vec!["--username", "bad name"],
            "Enter a valid username. This value may contain only letters, numbers, and \
             @/./+/-/_ characters.",
        ),
        (vec![], "--username is required with --no-input"),
        (
            vec!["--username", "second", "--email", "not-an-email"],
            "Enter a valid email address.",
        ),
    ] {
        let mut command = tessera_by_username(dir.path());
        command
            .arg("createsuperuser")
            .args(&args)
            .arg("--no-input")
            .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
        let output = run(command, None);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }

    // The address may be left out only where the service says so: not once
    // `registration_email_required` is on.
    let mut required = tessera_by_username(dir.path());
    required
        .args(["createsuperuser", "--username", "third", "--no-input"])
        .env("TESSERA_REGISTRATION_EMAIL_REQUIRED", "true")
        .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
    let output = run(required, None);
    assert!(
        !output.status.success() && stderr(&output).contains("--email is required with --no-input"),
        "{}",
        stderr(&output)
    );

    // Interactively: the username, then an address that may be left blank, then the password.
    let mut asked = tessera_by_username(dir.path());
    asked.arg("createsuperuser");
    let output = run(asked, Some(&format!("ada\n\n{PASSWORD}\n")));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("Username: Email address (blank for none): "),
        "{}",
        stdout(&output)
    );

    // The user commands take and print the username.
    let mut list = tessera_by_username(dir.path());
    list.args(["user", "list"]);
    let listed = stdout(&run(list, None));
    assert!(
        listed.contains("username") && listed.contains("root") && listed.contains("2 user(s)"),
        "{listed}"
    );
    let mut show = tessera_by_username(dir.path());
    show.args(["user", "show", "root"]);
    let shown = stdout(&run(show, None));
    assert!(
        shown.contains("username:      root") && shown.contains("superuser:     yes"),
        "{shown}"
    );
    let mut missing = tessera_by_username(dir.path());
    missing.args(["user", "show", "nobody"]);
    let output = run(missing, None);
    assert!(!output.status.success() && stderr(&output).contains("no user with username nobody"));

    // The server logs the superuser in by username on the JSON and the cookie logins.
    let server = Server::start_with(dir.path(), &[("TESSERA_USERNAME_FIELD", "username")]);
    let client = reqwest::Client::new();
    for path in ["/api/token/", "/api/auth/login/", "/api/auth/cookie/login/"] {
        let response = client
            .post(format!("{}{path}", server.base))
            .json(&json!({"username": "root", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let by_email = client
        .post(format!("{}/api/token/", server.base))
        .json(&json!({"email": "root", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_email.status(), 400);
}

#[test]
fn user_set_changes_names_flags_and_read_only_custom_fields() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tessera.toml"),
        "[[user_fields]]\nname = \"is_premium\"\ntype = \"boolean\"\nread_only = true\ndefault = false\n",
    )
    .unwrap();
    create_superuser(dir.path(), "root@example.com");
    let set = |args: &[&str]| {
        let mut command = tessera(dir.path());
        command.args(["user", "set", "root@example.com"]).args(args);
        run(command, None)
    };

    let output = set(&["is_premium=yes", "first_name=Ada"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("root@example.com: set is_premium, first_name."),
        "{}",
        stdout(&output)
    );
    let mut show = tessera(dir.path());
    show.args(["user", "show", "root@example.com"]);
    assert!(stdout(&run(show, None)).contains("name:          Ada "));

    // A bad value gets the field's own message; an unknown field or a bare word is refused;
    // the last active superuser cannot be deactivated this way either.
    for (args, message) in [
        (vec!["is_premium=certainly"], "Must be a valid boolean."),
        (vec!["plan=gold"], "unknown field \"plan\""),
        (vec!["is_premium"], "is not FIELD=VALUE"),
        (vec!["is_active=false"], "last active superuser"),
    ] {
        let output = set(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// A running server on its SQLite file, and `tessera user …` run next to it on the same
/// file: what the command line ends, the server refuses within two seconds (it reads the
/// change log the command's writes fed: memory may be an hour behind it and still decide, so
/// no fallback to the database can hide a feed that does not deliver).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_what_the_cli_ended_on_its_sqlite_file() {
    const WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    // Superusers, so that the command line may act on each while root remains.
    for email in [
        "root@example.com",
        "ada@example.com",
        "bob@example.com",
        "cy@example.com",
    ] {
        create_superuser(dir.path(), email);
    }
    let server = Server::start_with(dir.path(), &[("TESSERA_REVOCATION_MAX_STALENESS", "3600")]);
    let client = reqwest::Client::new();
    let profile = |access: String| {
        client
            .get(format!("{}/api/auth/profile/", server.base))
            .bearer_auth(access)
            .send()
    };
    let mut tokens = Vec::new();
    for email in ["ada@example.com", "bob@example.com", "cy@example.com"] {
        let response = client
            .post(format!("{}/api/token/", server.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        let access = body["access"].as_str().unwrap().to_owned();
        assert_eq!(profile(access.clone()).await.unwrap().status(), 200);
        tokens.push(access);
    }

    let commands: [(&[&str], Option<&str>, &str); 3] = [
        (
            &["user", "deactivate", "ada@example.com"],
            None,
            "user_inactive",
        ),
        (
            &["user", "set-password", "bob@example.com"],
            Some("a brand new passphrase\n"),
            "password_changed",
        ),
        (
            &["user", "delete", "cy@example.com", "--yes"],
            None,
            "user_not_found",
        ),
    ];
    for ((args, stdin, code), access) in commands.into_iter().zip(tokens) {
        let mut command = tessera(dir.path());
        command.args(args);
        let output = run(command, stdin);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let ended = std::time::Instant::now();
        let body = loop {
            let response = profile(access.clone()).await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            if status == 401 {
                break body;
            }
            assert_eq!(status, 200, "{body}");
            assert!(
                ended.elapsed() < WITHIN,
                "{args:?}: the server still accepts the token {WITHIN:?} later"
            );
        };
        assert_eq!(body["code"], code, "{args:?}: {body}");
    }
}
