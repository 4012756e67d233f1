//! A small SMTP server for tests: it speaks real SMTP over TCP on `127.0.0.1`, keeps every
//! message it accepts, and can be told to fail. Tests send through their real mail
//! transport and read back what arrived; nothing is mocked.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use tessera_smtp_sink::SmtpSink;
//!
//! let sink = SmtpSink::builder().credentials("user", "pass").start().await?;
//! // … point the mailer at `smtp://user:pass@127.0.0.1:{sink.port()}` and send …
//! let mail = sink
//!     .wait_for(|m| m.to.iter().any(|to| to == "ann@example.com"), Duration::from_secs(5))
//!     .await
//!     .expect("a mail to ann");
//! assert!(mail.text_body().unwrap_or_default().contains("code"));
//! # Ok(()) }
//! ```
//!
//! What it speaks (RFC 5321): `EHLO`/`HELO` (EHLO lists `SIZE`, `8BITMIME`, `PIPELINING`,
//! `SMTPUTF8`, and `AUTH PLAIN LOGIN` when credentials are set, which it then requires
//! before `MAIL`), `MAIL FROM`, `RCPT TO`, `DATA`, `RSET`, `NOOP`, `QUIT`, `AUTH`; anything
//! else is `502`. No STARTTLS. Lines are at most 1000 bytes, messages at most
//! [`SmtpSinkBuilder::max_message_bytes`].
//!
//! Faults: [`SmtpSink::fail_next`] answers the next DATA commands with a code (`451`
//! transient, `550` permanent …); [`SmtpSink::close_next`] drops the next connections right
//! after the greeting.
//!
//! The binary `tessera-smtp-sink --dir DIR [--port N]` serves until interrupted, writes each
//! message as `DIR/<n>.eml`, and prints one line, `listening on 127.0.0.1:PORT`, when ready.

mod mime;
mod session;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

pub use mime::Received;

/// The largest message accepted unless [`SmtpSinkBuilder::max_message_bytes`] says
/// otherwise: 10 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    credentials: Option<(String, String)>,
    dir: Option<PathBuf>,
    max_message_bytes: usize,
    messages: Mutex<Vec<Received>>,
    /// Woken (all waiters) after each accepted message.
    arrived: Notify,
    /// Codes for the next DATA commands, one each.
    fail_next: Mutex<VecDeque<u16>>,
    /// Connections still to drop after the greeting.
    close_next: AtomicUsize,
    /// Connections accepted so far.
    connections: AtomicUsize,
}

/// Locks `mutex`, also when a connection task panicked while holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Options of an [`SmtpSink`]; [`SmtpSinkBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct SmtpSinkBuilder {
    credentials: Option<(String, String)>,
    dir: Option<PathBuf>,
    max_message_bytes: usize,
    port: u16,
}

impl SmtpSinkBuilder {
    /// Offers `AUTH PLAIN` and `AUTH LOGIN` and requires a login with these before `MAIL`.
    /// Without it, AUTH is not offered and `MAIL` needs none.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Also writes each accepted message, as received, to `dir/<n>.eml` (`n` from 1). The
    /// directory must exist.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The largest message (DATA, after dot-unstuffing) accepted; a larger one is answered
    /// `552`. Defaults to [`DEFAULT_MAX_MESSAGE_BYTES`].
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// The port to listen on; `0` (the default) lets the system choose a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds `127.0.0.1` and serves in the background until [`SmtpSink::stop`] or drop.
    pub async fn start(self) -> io::Result<SmtpSink> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            credentials: self.credentials,
            dir: self.dir,
            max_message_bytes: self.max_message_bytes,
            messages: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            fail_next: Mutex::new(VecDeque::new()),
            close_next: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(SmtpSink {
            addr,
            shared,
            accept,
        })
    }
}

/// Accepts connections and serves each on its own task; the tasks end with this one.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(session::serve(stream, Arc::clone(&shared)));
                }
                // Out of file descriptors and the like: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A running SMTP server on `127.0.0.1`. Stops on [`stop`](Self::stop) or when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl SmtpSink {
    /// A sink with the default options on a free port.
    pub async fn start() -> io::Result<SmtpSink> {
        Self::builder().start().await
    }

    /// Options: credentials, a directory, a size limit, a port.
    pub fn builder() -> SmtpSinkBuilder {
        SmtpSinkBuilder {
            credentials: None,
            dir: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            port: 0,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        lock(&self.shared.messages).clone()
    }

    /// How many connections were accepted so far (dropped ones included).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The first message, already received or arriving within `timeout`, for which
    /// `matches` holds; `None` when none came in time. Waits on a notification, not by
    /// polling.
    pub async fn wait_for(
        &self,
        mut matches: impl FnMut(&Received) -> bool,
        timeout: Duration,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so a message stored in between still wakes us.
            arrived.as_mut().enable();
            if let Some(found) = lock(&self.shared.messages).iter().find(|m| matches(m)) {
                return Some(found.clone());
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// Answers the next `n` DATA commands (after the message was read) with `code` — a 4xx
    /// is a transient failure, a 5xx a permanent one — and keeps nothing from them.
    pub fn fail_next(&self, n: usize, code: u16) {
        lock(&self.shared.fail_next).extend(std::iter::repeat_n(code, n));
    }

    /// Drops the next `n` connections right after the greeting.
    pub fn close_next(&self, n: usize) {
        self.shared.close_next.fetch_add(n, Ordering::SeqCst);
    }

    /// Stops listening and ends every open connection.
    pub fn stop(&self) {
        self.accept.abort();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
