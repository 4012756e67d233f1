//! `GET /ws/echo/`: a WebSocket that greets its user by e-mail and echoes every message.
//!
//! [`WsUser`] authenticates the handshake before the upgrade: an `Authorization` header,
//! the access cookie from a trusted origin, or a single-use ticket from
//! `POST /api/auth/ws-ticket/` (`/ws/echo/?ticket=…`).

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use tessera_axum::WsUser;

use crate::AppState;

/// The longest message echoed, in bytes; larger frames end the socket.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The echo route, at the site's root.
pub fn routes() -> Router<AppState> {
    Router::new().route("/ws/echo/", get(echo))
}

/// Upgrades an authenticated handshake to the echo socket.
async fn echo(ws: WebSocketUpgrade, user: WsUser) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(socket, user.user.email))
}

/// Greets, then echoes text and binary messages until the client closes.
async fn serve(mut socket: WebSocket, email: String) {
    if socket
        .send(Message::Text(format!("hello {email}").into()))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            // axum answers pings itself.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
