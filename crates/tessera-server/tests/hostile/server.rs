//! The `tessera` binary on a database, and a raw HTTP/1.1 client: requests are bytes, so
//! that nothing between the suite and the server tidies them up.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

pub const SIGNING_KEY: &str = "hostile-suite-signing-key-that-is-long-enough-for-hs256";

/// A `tessera serve` process and its address; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
    pub logs: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `tessera serve` in production mode on a random port, on `database_url`.
    pub fn start(dir: &Path, database_url: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TESSERA_DATA_DIR", dir.join("data"))
            .env("TESSERA_BIND", "127.0.0.1:0")
            .env("TESSERA_DEBUG", "false")
            .env("TESSERA_ALLOWED_HOSTS", "127.0.0.1,localhost")
            .env("TESSERA_SIGNING_KEY", SIGNING_KEY)
            // Production refuses development mail settings; this server sends none.
            .env("TESSERA_EMAIL_BACKEND", "off")
            .env("TESSERA_DATABASE_URL", database_url)
            // Login failures in the database on both engines, and a login rate that lets
            // random bodies reach the credential checks.
            .env("TESSERA_THROTTLE_STORAGE", "database")
            .env("TESSERA_THROTTLE_RATES", "{login=\"600/min\"}")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
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
        let line = loop {
            match logs.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains("tessera is serving") => break line,
                Ok(_) => continue,
                Err(e) => panic!("the server did not start: {e}"),
            }
        };
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        let addr = event["addr"].as_str().unwrap().to_owned();
        Self { child, addr, logs }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What came back for a request.
#[derive(Debug)]
pub enum Outcome {
    Reply(Reply),
    /// The server closed the connection without a response.
    Closed,
    /// Nothing within the deadline.
    Timeout,
}

/// Sends `request` (complete bytes, `Connection: close`) and reads the response to the end.
pub async fn send(addr: &str, request: &[u8], deadline: Duration) -> Outcome {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut bytes = Vec::new();
        // A server may answer (413, 400) and close before reading everything.
        let _ = stream.read_to_end(&mut bytes).await;
        Ok::<_, std::io::Error>(bytes)
    };
    match tokio::time::timeout(deadline, exchange).await {
        Err(_) => Outcome::Timeout,
        Ok(Err(_)) => Outcome::Closed,
        Ok(Ok(bytes)) => parse(&bytes).map_or(Outcome::Closed, Outcome::Reply),
    }
}

fn parse(mut bytes: &[u8]) -> Option<Reply> {
    // Interim answers (`100 Continue`) come first; the final one follows.
    while bytes.starts_with(b"HTTP/1.1 1") {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        bytes = &bytes[end + 4..];
    }
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let raw = &bytes[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|&s| s > 0) else {
            break;
        };
        let start = line_end + 2;
        let stop = (start + size).min(raw.len());
        out.extend_from_slice(&raw[start..stop]);
        raw = &raw[(stop + 2).min(raw.len())..];
    }
    out
}
