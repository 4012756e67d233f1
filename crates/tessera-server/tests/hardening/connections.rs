//! Slow and idle clients against the real `tessera serve` process, over raw sockets: a
//! request line that never ends, a body that stops, keep-alive connections left idle, and
//! the connection cap with `/healthz` still answering.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::helpers::Server;

/// The `host:port` a server listens on.
fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// A connection to `server` that has sent `bytes`, reading with a timeout of `patience`.
fn connect(server: &Server, bytes: &[u8], patience: Duration) -> TcpStream {
    let mut stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    stream.write_all(bytes).unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent and how long that
/// took. Panics when the connection is still open after the read timeout.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "the server kept the connection open for {:?}; it sent {:?}",
                    start.elapsed(),
                    String::from_utf8_lossy(&received)
                )
            }
            Err(e) => panic!("{e}"),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        start.elapsed(),
    )
}

/// One whole response read from a keep-alive connection (headers and a `Content-Length`
/// body).
fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "closed before a whole response: {received:?}");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[test]
fn a_request_line_that_never_ends_is_cut_off_after_the_default_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // The defaults: `header_read_timeout` is 10 seconds.
    let server = Server::start(dir.path());
    let mut stream = connect(&server, b"GET /healthz HT", Duration::from_secs(20));

    let (received, after) = read_until_closed(&mut stream);

    assert!(
        after >= Duration::from_secs(8) && after < Duration::from_secs(20),
        "closed after {after:?}"
    );
    assert!(!received.contains("200 OK"), "{received}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[("TESSERA_HEADER_READ_TIMEOUT", "1s")]);
    let mut stream = connect(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    );
    let response = read_response(&mut stream);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Kept alive, then idle: the next request never comes.
    let (received, after) = read_until_closed(&mut stream);

    assert!(received.is_empty(), "{received}");
    assert!(after < Duration::from_secs(10), "closed after {after:?}");
}

#[test]
fn a_body_that_stops_midway_gets_408_and_the_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[("TESSERA_REQUEST_BODY_TIMEOUT", "1s")]);
    let request = "POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                   Content-Length: 100\r\n\r\n{\"email\": \"a@";
    let mut stream = connect(&server, request.as_bytes(), Duration::from_secs(15));

    let (received, after) = read_until_closed(&mut stream);

    assert!(
        received.starts_with("HTTP/1.1 408"),
        "after {after:?}: {received}"
    );
    assert!(
        received.contains(r#"{"detail":"The request body was not received in time."}"#),
        "{received}"
    );
    assert!(after < Duration::from_secs(15), "closed after {after:?}");
}

#[test]
fn with_every_connection_held_by_slow_clients_healthz_still_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            ("TESSERA_MAX_CONNECTIONS", "4"),
            ("TESSERA_HEADER_READ_TIMEOUT", "60s"),
        ],
    );
    // Four half-sent requests hold every regular connection. The server accepts in order,
    // so they are accepted before the connections opened after them.
    let _slow: Vec<TcpStream> = (0..4)
        .map(|_| connect(&server, b"GET /api/token/ HTT", Duration::from_secs(30)))
        .collect();

    // A reserve connection answers the health check, once.
    let mut health = connect(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(30),
    );
    let (received, _) = read_until_closed(&mut health);
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(received.ends_with(r#"{"status":"ok"}"#), "{received}");

    // Anything else on a reserve connection is turned away.
    let mut other = connect(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(30),
    );
    let (received, _) = read_until_closed(&mut other);
    assert!(received.starts_with("HTTP/1.1 503"), "{received}");
    assert!(received.contains("retry-after: 1"), "{received}");
}
