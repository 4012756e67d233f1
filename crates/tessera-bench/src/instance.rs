//! `tessera serve` processes of the bench's own, and the HTTP calls the revocation and
//! memory measurements make to them.
//!
//! Every instance runs the real `tessera` binary with the environment of `scripts/bench`'s
//! load server — production logging, e-mail off, the login throttles and lockout off — on a
//! database the caller names, and a random port read back from its start-up log line.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long an instance may take to say it is serving (migrations and the dummy password
/// hash included; a debug build is slow).
const START_DEADLINE: Duration = Duration::from_secs(120);

/// The `tessera` binary, the key every process of one measurement shares, and a directory
/// for the processes' data and logs.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Path of the `tessera` binary.
    pub tessera: PathBuf,
    /// `TESSERA_SIGNING_KEY` of every instance (and of the tokens the bench issues).
    pub key: String,
    /// Where logs and data directories go.
    pub dir: PathBuf,
}

impl Setup {
    /// A `tessera` command with the servers' environment on `database_url` and nothing
    /// inherited but `PATH` and `HOME`; `name` names its data directory.
    pub fn command(&self, name: &str, database_url: &str) -> Command {
        let mut command = Command::new(&self.tessera);
        command.env_clear();
        for inherited in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(inherited) {
                command.env(inherited, value);
            }
        }
        command
            .current_dir(&self.dir)
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_DATA_DIR", self.dir.join(format!("{name}.data")))
            .env("TESSERA_DATABASE_URL", database_url)
            .env("TESSERA_DEBUG", "false")
            .env("TESSERA_ALLOWED_HOSTS", "127.0.0.1,localhost")
            .env("TESSERA_SIGNING_KEY", &self.key)
            .env("TESSERA_EMAIL_BACKEND", "off")
            .env(
                "TESSERA_THROTTLE_RATES",
                r#"{login="", register="", password_change="", email_request="", email_recipient=""}"#,
            )
            .env("TESSERA_LOGIN_FAILURE_LIMIT", "0")
            .env("TESSERA_LOG", "info,tower_http=warn");
        command
    }
}

/// A running `tessera serve`; killed when dropped.
#[derive(Debug)]
pub struct Instance {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Instance {
    /// Starts `tessera serve` on `database_url` (already migrated: several instances may
    /// start at once) and waits until it serves. Its output goes to `<dir>/<name>.log`.
    ///
    /// # Errors
    /// When it cannot be started, exits, or does not serve within two minutes (the log is
    /// in the error).
    pub fn start(setup: &Setup, name: &str, database_url: &str) -> anyhow::Result<Instance> {
        let log = setup.dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = setup
            .command(name, database_url)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", setup.tessera.display()))?;
        let mut instance = Instance {
            child,
            base: String::new(),
            log,
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(addr) = serving_addr(&std::fs::read_to_string(&instance.log)?) {
                instance.base = format!("http://{addr}");
                return Ok(instance);
            }
            if let Some(status) = instance.child.try_wait()? {
                bail!("{name} exited ({status}):\n{}", instance.log_text());
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} did not serve within {START_DEADLINE:?}:\n{}",
                    instance.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://address` of the instance.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The instance's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A memory field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
    ///
    /// # Errors
    /// When the file cannot be read or has no such field.
    pub fn memory_kib(&self, field: &str) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status
            .lines()
            .find_map(|line| {
                let value = line.strip_prefix(field)?.strip_prefix(':')?;
                value.trim().trim_end_matches("kB").trim().parse().ok()
            })
            .with_context(|| format!("no {field} in {path}"))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in the `tessera is serving` log line (`"addr":"127.0.0.1:port"`).
fn serving_addr(log: &str) -> Option<&str> {
    let line = log
        .lines()
        .find(|line| line.contains("tessera is serving"))?;
    let rest = &line[line.find("\"addr\":\"")? + 8..];
    Some(&rest[..rest.find('"')?])
}

/// An HTTP/1.1 client keeping its connections, with no proxy.
///
/// # Errors
/// When the client cannot be built.
pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// The status of `GET {base}/api/auth/profile/` with `access` as bearer token: the
/// store-backed authenticated route (`AuthUser`), 200 or 401.
///
/// # Errors
/// When the request fails.
pub async fn profile_status(
    client: &reqwest::Client,
    base: &str,
    access: &str,
) -> anyhow::Result<u16> {
    let response = client
        .get(format!("{base}/api/auth/profile/"))
        .bearer_auth(access)
        .send()
        .await?;
    let status = response.status().as_u16();
    // Read the body so that the connection goes back to the pool.
    response.bytes().await?;
    Ok(status)
}

/// Polls the profile route with `access` back to back, no sleeping, until it answers
/// `want`; `Some(elapsed since start)` then, `None` past `deadline`.
///
/// # Errors
/// When a request fails or answers neither 200 nor 401.
pub async fn poll_until(
    client: &reqwest::Client,
    base: &str,
    access: &str,
    want: u16,
    start: Instant,
    deadline: Duration,
) -> anyhow::Result<Option<Duration>> {
    loop {
        let status = profile_status(client, base, access).await?;
        let elapsed = start.elapsed();
        if status == want {
            return Ok(Some(elapsed));
        }
        if status != 200 && status != 401 {
            bail!("GET {base}/api/auth/profile/ answered {status}");
        }
        if elapsed > deadline {
            return Ok(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::serving_addr;

    #[test]
    fn the_address_is_read_from_the_serving_line() {
        let log = "{\"msg\":\"migrated\"}\n{\"fields\":{\"message\":\"tessera is serving at \
                   http://127.0.0.1:4000/\",\"addr\":\"127.0.0.1:4000\"}}\n";
        assert_eq!(serving_addr(log), Some("127.0.0.1:4000"));
        assert_eq!(serving_addr("{\"addr\":\"127.0.0.1:1\"}"), None);
    }
}
