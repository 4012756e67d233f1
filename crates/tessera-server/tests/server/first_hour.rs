//! What a first run tells its user: the start-up line, a port in use, the files of the data
//! directory, and commands run where there is no database.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use serde_json::Value;

use crate::helpers::{PASSWORD, Server, run, stderr, stdout, tessera, wait_for_log};

/// Spawns `command` with its log lines (stderr) sent to the receiver as they come.
fn spawn_with_logs(mut command: Command) -> (Child, mpsc::Receiver<String>) {
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, logs) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, logs)
}

/// Creates a superuser and returns what the command wrote on standard error.
fn create_superuser(dir: &std::path::Path) -> String {
    let mut create = tessera(dir);
    create
        .args([
            "createsuperuser",
            "--email",
            "admin@example.com",
            "--no-input",
        ])
        .env("TESSERA_SUPERUSER_PASSWORD", PASSWORD);
    let output = run(create, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Superuser created successfully.\n");
    stderr(&output)
}

/// Asks the server for `/healthz` over a plain socket (which also means it is serving and
/// handles its stop signal) and checks the answer is 200.
fn assert_healthy(server: &Server) {
    use std::io::{Read as _, Write as _};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_production_start_up_line_names_the_url_database_migrations_key_and_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let line = server.serving_line.clone();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["url"], format!("{}/", server.base), "{line}");
    let database = event["database"].as_str().unwrap();
    assert!(
        database.starts_with("sqlite://") && database.ends_with("data/tessera.db"),
        "{line}"
    );
    assert!(
        event["migrations"].as_str().unwrap().ends_with(" applied"),
        "{line}"
    );
    assert_eq!(
        event["signing_key"], "configured key (signing_key)",
        "{line}"
    );
    assert_eq!(event["next_step"], "tessera createsuperuser", "{line}");

    // The database and its WAL files are the owner's alone, like the directory.
    #[cfg(unix)]
    {
        let data = dir.path().join("data");
        assert_eq!(mode(&data), 0o700);
        for file in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }
    assert_healthy(&server);
    let (status, _) = server.terminate();
    assert!(status.success());

    // Once there is a user and the schema is current, the line says so.
    create_superuser(dir.path());
    let mut server = Server::start(dir.path());
    let line = server.serving_line.clone();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["migrations"], "up to date", "{line}");
    assert!(event.get("next_step").is_none(), "{line}");
    assert_healthy(&server);
    server.terminate();
}

#[test]
fn the_debug_start_up_line_is_readable_and_names_the_generated_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    command
        .arg("serve")
        .env("TESSERA_BIND", "0")
        .env("TESSERA_DEBUG", "true");
    let (mut child, logs) = spawn_with_logs(command);
    let line = wait_for_log(&logs, "tessera is serving");
    // A stop signal sent as soon as the line is read is handled: a graceful exit.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success(), "{line}");
    assert!(
        line.contains("tessera is serving at http://127.0.0.1:"),
        "{line}"
    );
    assert!(
        !line.contains("127.0.0.1:0/"),
        "the bound port, not 0: {line}"
    );
    assert!(line.contains("data/tessera.db"), "{line}");
    assert!(line.contains("applied"), "{line}");
    assert!(
        line.contains("generated, stored in") && line.contains("signing_key"),
        "{line}"
    );
    assert!(line.contains("run `tessera createsuperuser`"), "{line}");
    assert!(!line.starts_with('{'), "human-readable, not JSON: {line}");
}

#[test]
fn a_port_in_use_fails_start_up_naming_the_setting_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut serve = tessera(dir.path());
    serve
        .arg("serve")
        .env("TESSERA_DEBUG", "true")
        .env("TESSERA_BIND", &addr);
    let output = run(serve, None);
    assert!(!output.status.success());
    let expected = format!(
        "Error: {addr} is in use (another tessera?); set `bind` (TESSERA_BIND) to another port"
    );
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
    drop(taken);
}

#[test]
fn commands_name_a_missing_database_rather_than_create_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data/tessera.db");
    for args in [
        &["user", "list"][..],
        &["user", "show", "admin@example.com"],
        &["flushexpiredtokens"],
    ] {
        let mut command = tessera(dir.path());
        command.args(args);
        let output = run(command, None);
        assert!(!output.status.success(), "{args:?}");
        assert_eq!(
            stderr(&output).trim(),
            format!(
                "Error: no database at {} (set data_dir or database_url, or run `tessera migrate`)",
                file.display()
            ),
            "{args:?}"
        );
        assert!(!file.exists(), "{args:?} created the database");
    }

    // The commands that fill a database create it, and say so.
    let created = create_superuser(dir.path());
    assert!(
        created.starts_with(&format!("Created database {}\n", file.display())),
        "{created}"
    );
    assert!(file.exists());
    let mut migrate = tessera(dir.path());
    migrate.arg("migrate");
    let output = run(migrate, None);
    assert_eq!(
        stdout(&output),
        "Migrations applied.\n",
        "{}",
        stderr(&output)
    );
    let mut list = tessera(dir.path());
    list.args(["user", "list"]);
    let output = run(list, None);
    assert!(
        output.status.success() && stdout(&output).contains("1 user(s)"),
        "{}",
        stderr(&output)
    );
}
