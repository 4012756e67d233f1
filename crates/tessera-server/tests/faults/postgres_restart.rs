//! PostgreSQL restarted under load: a private cluster (never the shared one other tests
//! use) is stopped and started again while a client refreshes and reads. During the outage
//! every request gets 503 with `Retry-After` in DRF's shape, `/healthz` stays 200 (liveness)
//! and `/readyz` says the store does not answer; after it, the same server process serves
//! again by itself.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use tessera_core::Timestamp;
use tessera_store::testing::postgres_required;
use tessera_store::{NewUser, PasswordHasher, Store};

use crate::helpers::{PASSWORD, Server};
use crate::support::{Api, Reply, eventually};

const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";

/// A PostgreSQL cluster of this test's own, in a temporary directory, on a random port,
/// with trust authentication; stopped (immediately) when dropped, whatever happened.
struct Cluster {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// Run the binaries as the `postgres` user (they refuse to run as root).
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts the cluster; `None` (after a loud `SKIPPED` line) when no
    /// PostgreSQL binaries are installed and `TESSERA_REQUIRE_POSTGRES` is not `1`.
    fn start(test: &str) -> Option<Cluster> {
        let Some(bin) = newest_postgres_bin() else {
            assert!(
                !postgres_required(),
                "PostgreSQL is required but no /usr/lib/postgresql/*/bin/initdb is installed"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: no PostgreSQL binaries under /usr/lib/postgresql; `{test}` did not run. \
                 scripts/postgres installs them."
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = text(&command_output("id", &["-u"])) == "0";
        if as_postgres {
            let id = |flag| {
                text(&command_output("id", &[flag, "postgres"]))
                    .parse()
                    .unwrap()
            };
            std::os::unix::fs::chown(dir.path(), Some(id("-u")), Some(id("-g"))).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        let data = self.data();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
    }

    /// A fast shutdown: connections are cut, open transactions rolled back.
    fn stop(&self) {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"],
        );
    }

    /// Runs one of the cluster's binaries; panics with its output (and the server log) when
    /// it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program, args).output().unwrap();
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("postgres.log"));
            panic!(
                "{program} {args:?}: {}{}\n{log:?}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(self.dir.path());
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The `bin` directory of the newest PostgreSQL installed the Debian way.
fn newest_postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn command_output(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?}");
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Where the database was when a request was sent and when its answer came.
const UP: u8 = 0;
const STOPPING: u8 = 1;
const DOWN: u8 = 2;
const STARTING: u8 = 3;
const RESTARTED: u8 = 4;

/// One answer of the load, with the phases it was sent and answered in.
struct Sample {
    route: &'static str,
    sent: u8,
    answered: u8,
    reply: Reply,
}

/// Refreshes (rotating) and reads the profile, one after the other, until `stop`.
async fn load(
    api: Api,
    mut refresh: String,
    access: String,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let sent = phase.load(Ordering::SeqCst);
        let reply = api.must_refresh(&refresh).await;
        if reply.status == 200 {
            refresh = reply.text("refresh");
        }
        let answered = phase.load(Ordering::SeqCst);
        samples.lock().unwrap().push(Sample {
            route: "refresh",
            sent,
            answered,
            reply,
        });
        let sent = phase.load(Ordering::SeqCst);
        let reply = api
            .must("GET", "/api/auth/profile/", Some(&access), None)
            .await;
        let answered = phase.load(Ordering::SeqCst);
        samples.lock().unwrap().push(Sample {
            route: "profile",
            sent,
            answered,
            reply,
        });
    }
}

/// The answer to a request the database could not serve.
fn assert_unavailable(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 503, "{what}: {}", reply.body);
    assert_eq!(reply.retry_after(), Some("1"), "{what}: no Retry-After");
    assert_eq!(reply.body, json!({"detail": UNAVAILABLE}), "{what}");
}

/// How many samples of `route` were sent and answered in `phase`.
fn count(samples: &Mutex<Vec<Sample>>, route: &str, phase: u8) -> usize {
    samples
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.route == route && s.sent == phase && s.answered == phase)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_postgresql_costs_503s_with_retry_after_and_the_server_recovers_by_itself() {
    // Arrange: a server on a private cluster, an account, and a client busy with it.
    let Some(cluster) = Cluster::start(module_path!()) else {
        return;
    };
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TESSERA_DATABASE_URL", url.as_str()),
        ("TESSERA_DATABASE_CONNECT_TIMEOUT", "1"),
        ("TESSERA_THROTTLE_RATES", "{login = \"\"}"),
    ];
    let server = Server::start_with(dir.path(), &env);
    let api = Api::new(&server.base);
    let store = Store::connect(&url).await.unwrap();
    store
        .create_user(&NewUser {
            email: "load@example.com".into(),
            password_hash: PasswordHasher::hash_blocking(PASSWORD).unwrap(),
            is_active: true,
            date_joined: Timestamp::from_micros(1_795_445_447_123_456),
            ..NewUser::default()
        })
        .await
        .unwrap();
    store.close().await;
    let credentials = json!({"email": "load@example.com", "password": PASSWORD});
    let tokens = api
        .must("POST", "/api/token/", None, Some(credentials.clone()))
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let phase = Arc::new(AtomicU8::new(UP));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let client = tokio::spawn(load(
        api.clone(),
        tokens.text("refresh"),
        tokens.text("access"),
        Arc::clone(&phase),
        Arc::clone(&stop),
        Arc::clone(&samples),
    ));
    let limit = Duration::from_secs(30);
    eventually("the load is served", limit, || {
        let samples = Arc::clone(&samples);
        async move { (count(&samples, "profile", UP) >= 3).then_some(()) }
    })
    .await;

    // Act 1: a fast shutdown of the cluster, under load.
    phase.store(STOPPING, Ordering::SeqCst);
    tokio::task::block_in_place(|| cluster.stop());
    phase.store(DOWN, Ordering::SeqCst);

    // Assert: while it is down, the database's requests get 503 with Retry-After…
    eventually("503s during the outage", limit, || {
        let samples = Arc::clone(&samples);
        async move {
            (count(&samples, "refresh", DOWN) >= 2 && count(&samples, "profile", DOWN) >= 2)
                .then_some(())
        }
    })
    .await;
    let login = api
        .must("POST", "/api/token/", None, Some(credentials.clone()))
        .await;
    assert_unavailable(&login, "a login during the outage");
    // …liveness holds, readiness does not.
    let health = api.must("GET", "/healthz", None, None).await;
    assert_eq!(
        (health.status, &health.body),
        (200, &json!({"status": "ok"}))
    );
    let ready = api.must("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.retry_after(), Some("5"));
    assert_eq!(ready.body["store"], "unreachable", "{}", ready.body);

    // Act 2: the cluster comes back; the server process is left alone.
    phase.store(STARTING, Ordering::SeqCst);
    tokio::task::block_in_place(|| cluster.start_again());
    phase.store(RESTARTED, Ordering::SeqCst);
    let restarted = std::time::Instant::now();

    // Assert: it serves again by itself.
    eventually("recovery after the restart", limit, || {
        let samples = Arc::clone(&samples);
        async move {
            (count(&samples, "refresh", RESTARTED) >= 3
                && count(&samples, "profile", RESTARTED) >= 3)
                .then_some(())
        }
    })
    .await;
    eprintln!(
        "served again {:?} after PostgreSQL accepted connections; {} answers while it was down",
        restarted.elapsed(),
        count(&samples, "refresh", DOWN) + count(&samples, "profile", DOWN),
    );
    let ready = api.must("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let login = api
        .must("POST", "/api/token/", None, Some(credentials))
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    stop.store(true, Ordering::SeqCst);
    client.await.unwrap();

    // Every answer of the load was a success or a 503 in DRF's shape, never a 500; all of
    // those sent and answered while the database was down were 503s; after the restart,
    // once a request of a route succeeded, every later one did.
    let samples = samples.lock().unwrap();
    let mut recovered = std::collections::HashSet::new();
    for sample in samples.iter() {
        let what = format!(
            "{} sent {} answered {}",
            sample.route, sample.sent, sample.answered
        );
        match sample.reply.status {
            200 => {
                assert!(
                    sample.sent != DOWN || sample.answered != DOWN,
                    "{what}: 200 with no database"
                );
                if sample.sent == RESTARTED {
                    recovered.insert(sample.route);
                }
            }
            _ => {
                assert_unavailable(&sample.reply, &what);
                assert!(
                    !recovered.contains(sample.route),
                    "{what}: a 503 after the server had recovered"
                );
            }
        }
        if (sample.sent, sample.answered) == (UP, UP) {
            assert_eq!(sample.reply.status, 200, "{what}");
        }
    }
    drop(server);
    drop(cluster);
}
