//! `/ws/echo/` over a real socket: demo-api served on a random port, a real WebSocket
//! client (tokio-tungstenite), and each way a handshake authenticates or is refused.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error, Message};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "SecurePass123!";

/// demo-api serving on `127.0.0.1:<random port>`, with one registered user.
struct Served {
    addr: SocketAddr,
    tessera: tessera_axum::Tessera,
    access: String,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = demo_api::DemoConfig {
            bind: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            signing_key: "demo-api-test-signing-key-of-more-than-32-bytes".into(),
        };
        let state = demo_api::state(&config).await.unwrap();
        let tessera = state.tessera.clone();
        let app = demo_api::app(state);
        // Bound before serving: connections wait in the backlog until it accepts them.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let mut served = Self {
            addr,
            tessera,
            access: String::new(),
            _dir: dir,
        };
        let (status, body) = served
            .post(
                "/api/auth/register/",
                None,
                json!({"email": EMAIL, "first_name": "Ada", "last_name": "Lovelace",
                       "password": PASSWORD, "password_confirm": PASSWORD}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        served.access = body["tokens"]["access"].as_str().unwrap().to_owned();
        served
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("http://{}{path}", self.addr))
            .json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A fresh ticket for the user, through the route.
    async fn ticket(&self) -> String {
        let (status, body) = self
            .post("/api/auth/ws-ticket/", Some(&self.access), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expires_in"], 30);
        body["ticket"].as_str().unwrap().to_owned()
    }

    fn url(&self, query: &str) -> String {
        format!("ws://{}/ws/echo/{query}", self.addr)
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the socket with these extra headers; `Err` is the refusal's status and DRF body.
async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Socket, (u16, Value)> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(Error::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .map_or(Value::Null, |b| serde_json::from_slice(b).unwrap());
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// The next text message.
async fn next_text(socket: &mut Socket) -> String {
    loop {
        match socket.next().await.expect("a message").expect("no error") {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// The greeting, then one message echoed.
async fn assert_echoes(mut socket: Socket) {
    assert_eq!(next_text(&mut socket).await, format!("hello {EMAIL}"));
    socket.send(Message::text("ping ✓")).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "ping ✓");
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn a_ticket_opens_one_socket_and_only_one() {
    let served = Served::start().await;
    let ticket = served.ticket().await;
    assert_eq!(ticket.len(), 64);

    let socket = connect(&served.url(&format!("?ticket={ticket}")), &[])
        .await
        .unwrap();
    assert_echoes(socket).await;

    let (status, body) = connect(&served.url(&format!("?ticket={ticket}")), &[])
        .await
        .expect_err("a used ticket is refused");
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"detail": "Invalid or expired ticket.", "code": "ticket_not_valid"})
    );
    // Malformed and unknown tickets alike.
    for query in [
        "?ticket=",
        "?ticket=abc",
        &format!("?ticket={}", "0".repeat(64)),
    ] {
        assert_eq!(connect(&served.url(query), &[]).await.err().unwrap().0, 401);
    }
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let served = Served::start().await;
    let auth = served.tessera.auth();
    let user = auth.store().user_by_email(EMAIL).await.unwrap().unwrap();
    let expired = auth
        .issue_ws_ticket_valid_for(&user, None, Duration::ZERO)
        .await
        .unwrap();
    let (status, _) = connect(&served.url(&format!("?ticket={}", expired.ticket)), &[])
        .await
        .expect_err("an expired ticket is refused");
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_bearer_header_opens_a_socket() {
    let served = Served::start().await;
    let bearer = format!("Bearer {}", served.access);
    let socket = connect(&served.url(""), &[("authorization", &bearer)])
        .await
        .unwrap();
    assert_echoes(socket).await;
    // A bad token is refused, not passed over for a ticket.
    let ticket = served.ticket().await;
    let refused = connect(
        &served.url(&format!("?ticket={ticket}")),
        &[("authorization", "Bearer nonsense")],
    )
    .await
    .err()
    .unwrap();
    assert_eq!(refused.0, 401);
}

#[tokio::test]
async fn the_cookie_opens_a_socket_only_from_a_trusted_origin() {
    let served = Served::start().await;
    let cookie = format!("access_token={}", served.access);
    let own = format!("http://{}", served.addr);
    let socket = connect(&served.url(""), &[("cookie", &cookie), ("origin", &own)])
        .await
        .unwrap();
    assert_echoes(socket).await;

    for origin in [Some("http://evil.example"), None] {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend(origin.map(|o| ("origin", o)));
        let (status, body) = connect(&served.url(""), &headers).await.err().unwrap();
        assert_eq!(status, 403, "{origin:?}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("CSRF Failed: "),
            "{body}"
        );
    }
    // A foreign page's handshake carries the cookie too: its ticket still opens the socket.
    let ticket = served.ticket().await;
    let socket = connect(
        &served.url(&format!("?ticket={ticket}")),
        &[("cookie", &cookie), ("origin", "http://evil.example")],
    )
    .await
    .unwrap();
    assert_echoes(socket).await;
}

#[tokio::test]
async fn a_handshake_without_credentials_is_refused_with_401() {
    let served = Served::start().await;
    let (status, body) = connect(&served.url(""), &[]).await.err().unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    // The ticket route itself requires a user.
    let (status, _) = served.post("/api/auth/ws-ticket/", None, json!({})).await;
    assert_eq!(status, 401);
}
