//! One SMTP conversation (RFC 5321), from the greeting to QUIT.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader,
};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::mime::Received;
use crate::{Shared, lock};

/// The longest line, CRLF included (RFC 5321 §4.5.3.1.6: text lines of 1000 octets).
const MAX_LINE: usize = 1000;
/// Recipients per message (RFC 5321 §4.5.3.1.8 asks for at least 100).
const MAX_RECIPIENTS: usize = 100;
/// A client silent this long is dropped.
const IDLE: Duration = Duration::from_secs(120);
/// The name in the greeting and the EHLO answer.
const NAME: &str = "tessera-smtp-sink";

/// Why a conversation ends early.
enum End {
    /// The client left, was too slow, or the socket failed.
    Gone,
    /// A line longer than [`MAX_LINE`] (already answered).
    TooLong,
}

/// The line reader and the writer of one connection.
struct Conn<R> {
    reader: BufReader<R>,
    writer: OwnedWriteHalf,
}

impl<R: AsyncRead + Unpin> Conn<R> {
    async fn reply(&mut self, text: &str) -> Result<(), End> {
        let mut out = String::with_capacity(text.len() + 2);
        out.push_str(text);
        out.push_str("\r\n");
        self.writer
            .write_all(out.as_bytes())
            .await
            .map_err(|_| End::Gone)
    }

    /// One line with its CRLF (or LF); `End::TooLong` after answering 500.
    async fn line(&mut self) -> Result<Vec<u8>, End> {
        let mut line = Vec::new();
        let mut limited = (&mut self.reader).take(MAX_LINE as u64);
        let read = limited.read_until(b'\n', &mut line);
        let result = tokio::time::timeout(IDLE, read).await;
        match result {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => Err(End::Gone),
            Ok(Ok(_)) if line.ends_with(b"\n") => Ok(line),
            Ok(Ok(_)) if line.len() >= MAX_LINE => {
                self.reply("500 5.5.2 Line too long").await?;
                Err(End::TooLong)
            }
            // The client closed in the middle of a line.
            Ok(Ok(_)) => Err(End::Gone),
        }
    }
}

/// The envelope being built.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

/// Serves one connection until QUIT, an error, or the sink stops.
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, writer) = stream.into_split();
    let mut conn = Conn {
        reader: BufReader::new(read),
        writer,
    };
    if conn
        .reply(&format!("220 {NAME} ESMTP ready"))
        .await
        .is_err()
    {
        return;
    }
    let close = shared
        .close_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if close {
        return;
    }
    let _ = converse(&mut conn, &shared).await;
    let _ = conn.writer.shutdown().await;
}

async fn converse<R: AsyncRead + Unpin>(conn: &mut Conn<R>, shared: &Shared) -> Result<(), End> {
    let mut greeted = false;
    let mut user: Option<String> = None;
    let mut tx = Transaction::default();
    loop {
        let raw = conn.line().await?;
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => {
                conn.reply("501 5.5.4 Syntax: EHLO domain").await?;
            }
            "EHLO" => {
                greeted = true;
                tx = Transaction::default();
                let mut lines = vec![
                    NAME.to_owned(),
                    format!("SIZE {}", shared.max_message_bytes),
                    "8BITMIME".to_owned(),
                    "PIPELINING".to_owned(),
                    "SMTPUTF8".to_owned(),
                ];
                if shared.credentials.is_some() {
                    lines.push("AUTH PLAIN LOGIN".to_owned());
                }
                let last = lines.len() - 1;
                let reply: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                    .collect();
                conn.reply(&reply.join("\r\n")).await?;
            }
            "HELO" => {
                greeted = true;
                tx = Transaction::default();
                conn.reply(&format!("250 {NAME}")).await?;
            }
            "AUTH" if shared.credentials.is_none() => {
                conn.reply("502 5.5.1 AUTH not offered").await?;
            }
            "AUTH" if !greeted => conn.reply("503 5.5.1 Send EHLO first").await?,
            "AUTH" if user.is_some() => conn.reply("503 5.5.1 Already authenticated").await?,
            "AUTH" => {
                if let Some(name) = authenticate(conn, shared, arg).await? {
                    user = Some(name);
                }
            }
            "MAIL" if !greeted => conn.reply("503 5.5.1 Send HELO/EHLO first").await?,
            "MAIL" if shared.credentials.is_some() && user.is_none() => {
                conn.reply("530 5.7.0 Authentication required").await?;
            }
            "MAIL" if tx.from.is_some() => conn.reply("503 5.5.1 Nested MAIL command").await?,
            "MAIL" => match path(arg, "FROM:") {
                Some((address, params)) => {
                    let size = params
                        .split_whitespace()
                        .find_map(|p| p.strip_prefix("SIZE=").or_else(|| p.strip_prefix("size=")))
                        .and_then(|n| n.parse::<usize>().ok());
                    if size.is_some_and(|n| n > shared.max_message_bytes) {
                        conn.reply("552 5.3.4 Message size exceeds fixed limit")
                            .await?;
                    } else {
                        tx.from = Some(address);
                        conn.reply("250 2.1.0 OK").await?;
                    }
                }
                None => conn.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await?,
            },
            "RCPT" if tx.from.is_none() => conn.reply("503 5.5.1 Need MAIL first").await?,
            "RCPT" => match path(arg, "TO:") {
                Some(_) if tx.to.len() >= MAX_RECIPIENTS => {
                    conn.reply("452 4.5.3 Too many recipients").await?;
                }
                Some((address, _)) if !address.is_empty() => {
                    tx.to.push(address);
                    conn.reply("250 2.1.5 OK").await?;
                }
                _ => conn.reply("501 5.5.4 Syntax: RCPT TO:<address>").await?,
            },
            "DATA" if tx.to.is_empty() => conn.reply("503 5.5.1 Need RCPT first").await?,
            "DATA" => {
                conn.reply("354 End data with <CR><LF>.<CR><LF>").await?;
                let data = read_data(conn, shared.max_message_bytes).await?;
                let envelope = std::mem::take(&mut tx);
                let injected = lock(&shared.fail_next).pop_front();
                match (data, injected) {
                    (None, _) => conn.reply("552 5.3.4 Message too big").await?,
                    (Some(_), Some(code)) => {
                        conn.reply(&format!("{code} Failure injected by the test"))
                            .await?;
                    }
                    (Some(data), None) => {
                        let n = store(shared, envelope, user.clone(), data);
                        conn.reply(&format!("250 2.0.0 OK queued as {n}")).await?;
                    }
                }
            }
            "RSET" => {
                tx = Transaction::default();
                conn.reply("250 2.0.0 OK").await?;
            }
            "NOOP" => conn.reply("250 2.0.0 OK").await?,
            "QUIT" => {
                conn.reply("221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => conn.reply("502 5.5.2 Command not implemented").await?,
        }
    }
}

/// `FROM:<a@b> PARAMS` → (`a@b`, `PARAMS`); the keyword is case-insensitive.
fn path(arg: &str, keyword: &str) -> Option<(String, String)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (address, params) = rest.split_once('>')?;
    Some((address.to_owned(), params.trim().to_owned()))
}

/// The DATA lines up to the lone dot, dot-unstuffed; `None` when over `max` bytes (the
/// rest is read and dropped).
async fn read_data<R: AsyncRead + Unpin>(
    conn: &mut Conn<R>,
    max: usize,
) -> Result<Option<String>, End> {
    let mut data: Vec<u8> = Vec::new();
    let mut too_big = false;
    loop {
        let line = conn.line().await?;
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + line.len() > max {
            too_big = true;
            data = Vec::new();
        }
        if !too_big {
            data.extend_from_slice(line);
        }
    }
    Ok((!too_big).then(|| String::from_utf8_lossy(&data).into_owned()))
}

/// Runs one AUTH exchange; the user's name when it succeeded (already answered).
async fn authenticate<R: AsyncRead + Unpin>(
    conn: &mut Conn<R>,
    shared: &Shared,
    arg: &str,
) -> Result<Option<String>, End> {
    let Some((expected_user, expected_password)) = &shared.credentials else {
        return Ok(None);
    };
    let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
    let initial = initial.trim();
    let credentials = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => {
            let response = if initial.is_empty() {
                conn.reply("334 ").await?;
                match answer(conn).await? {
                    Some(response) => response,
                    None => return cancelled(conn).await,
                }
            } else {
                initial.to_owned()
            };
            decode(&response).and_then(|plain| {
                let mut parts = plain.splitn(3, |&b| b == 0);
                let _authzid = parts.next()?;
                let user = parts.next()?;
                let password = parts.next()?;
                Some((
                    String::from_utf8(user.to_vec()).ok()?,
                    String::from_utf8(password.to_vec()).ok()?,
                ))
            })
        }
        "LOGIN" => {
            let user = if initial.is_empty() {
                conn.reply(&format!("334 {}", BASE64.encode("Username:")))
                    .await?;
                match answer(conn).await? {
                    Some(user) => user,
                    None => return cancelled(conn).await,
                }
            } else {
                initial.to_owned()
            };
            conn.reply(&format!("334 {}", BASE64.encode("Password:")))
                .await?;
            let Some(password) = answer(conn).await? else {
                return cancelled(conn).await;
            };
            decode(&user)
                .and_then(|u| String::from_utf8(u).ok())
                .zip(decode(&password).and_then(|p| String::from_utf8(p).ok()))
        }
        _ => {
            conn.reply("504 5.5.4 Unrecognized authentication type")
                .await?;
            return Ok(None);
        }
    };
    match credentials {
        Some((user, password)) if &user == expected_user && &password == expected_password => {
            conn.reply("235 2.7.0 Authentication successful").await?;
            Ok(Some(user))
        }
        Some(_) => {
            conn.reply("535 5.7.8 Authentication credentials invalid")
                .await?;
            Ok(None)
        }
        None => {
            conn.reply("501 5.5.2 Cannot decode the response").await?;
            Ok(None)
        }
    }
}

/// The client's answer to a 334 challenge; `None` when it cancelled with `*`.
async fn answer<R: AsyncRead + Unpin>(conn: &mut Conn<R>) -> Result<Option<String>, End> {
    let raw = conn.line().await?;
    let text = String::from_utf8_lossy(&raw);
    let text = text.trim_end_matches(['\r', '\n']).trim();
    Ok((text != "*").then(|| text.to_owned()))
}

async fn cancelled<R: AsyncRead + Unpin>(conn: &mut Conn<R>) -> Result<Option<String>, End> {
    conn.reply("501 5.7.0 Authentication cancelled").await?;
    Ok(None)
}

fn decode(text: &str) -> Option<Vec<u8>> {
    if text == "=" {
        return Some(Vec::new());
    }
    BASE64.decode(text).ok()
}

/// Keeps an accepted message (and writes it to the directory); its number, from 1.
fn store(shared: &Shared, envelope: Transaction, user: Option<String>, data: String) -> usize {
    let received = Received {
        from: envelope.from.unwrap_or_default(),
        to: envelope.to,
        data,
        user,
    };
    let n = {
        let mut messages = lock(&shared.messages);
        let n = messages.len() + 1;
        if let Some(dir) = &shared.dir {
            // Written before the message is visible, so a test that saw it finds the file,
            // and renamed into place, so one that reads the directory never sees half of
            // it; a test that asked for files sees a failure here as a missing file.
            let partial = dir.join(format!(".{n}.eml.partial"));
            let _ = std::fs::write(&partial, received.data.as_bytes())
                .and_then(|()| std::fs::rename(&partial, dir.join(format!("{n}.eml"))));
        }
        messages.push(received);
        n
    };
    shared.arrived.notify_waiters();
    n
}
