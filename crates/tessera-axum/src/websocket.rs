//! [`WsUser`]: the authenticated user of a WebSocket handshake.
//!
//! Browsers cannot set an `Authorization` header on a WebSocket, and a token in the URL
//! ends up in access logs, proxies and browser history. So a handshake authenticates, in
//! this order, with:
//!
//! 1. an `Authorization` header of an accepted scheme (non-browser clients), exactly as
//!    [`AuthUser`](crate::AuthUser) reads it;
//! 2. the access-token cookie — only when the handshake's `Origin` is the server's own
//!    origin, a `csrf_trusted_origins` or a `cors_allowed_origins` entry (against
//!    cross-site WebSocket hijacking), else 403; a cookie refused for its origin or its
//!    token gives way to a ticket that comes along;
//! 3. a `ticket` query parameter (`/ws/echo/?ticket=…`): a single-use ticket from
//!    `POST /api/auth/ws-ticket/`, valid 30 seconds, redeemed once on any server sharing the
//!    database.
//!
//! Every refusal is answered before the upgrade, in DRF's shape: 401 (with
//! `WWW-Authenticate`) without credentials or with bad ones, 403 for a foreign origin.
//! Sending the ticket as the socket's first message instead is not supported: the socket
//! would be open, unauthenticated, until it arrives.
//!
//! A WebSocket route must not sit behind [`Tessera::require_authentication`](crate::Tessera::require_authentication), which knows
//! neither tickets nor the origin rule; [`WsUser`] is the route's authentication.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use tessera_core::Token;
use tessera_store::User;

use crate::auth::{AuthRejection, authenticate_token, user_for_token};
use crate::cookies::read_cookie;
use crate::csrf::{check_websocket_origin, header_takes_precedence};
use crate::error::ApiError;
use crate::state::Tessera;

/// The query parameter a ticket comes in.
pub const WS_TICKET_PARAM: &str = "ticket";

/// The longest query string read for a ticket; longer ones are refused unread.
const MAX_QUERY_BYTES: usize = 4096;

/// How a WebSocket handshake was authenticated.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WsCredential {
    /// An `Authorization` header; the validated token.
    Header(Token),
    /// The access-token cookie, from a trusted origin; the validated token.
    Cookie(Token),
    /// A single-use ticket (`?ticket=…`).
    Ticket,
}

/// The authenticated user of a WebSocket handshake (see the [module](self) for the rules):
/// extract it next to axum's `WebSocketUpgrade`, and it refuses the handshake before the
/// upgrade.
///
/// ```
/// use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
/// use axum::response::Response;
/// use tessera_axum::WsUser;
///
/// async fn echo(ws: WebSocketUpgrade, user: WsUser) -> Response {
///     ws.on_upgrade(move |mut socket: WebSocket| async move {
///         let hello = format!("hello {}", user.user.email);
///         let _ = socket.send(Message::Text(hello.into())).await;
///         while let Some(Ok(Message::Text(text))) = socket.recv().await {
///             if socket.send(Message::Text(text)).await.is_err() {
///                 break;
///             }
///         }
///     })
/// }
/// ```
#[derive(Debug, Clone)]
pub struct WsUser {
    /// The user, as stored.
    pub user: User,
    /// What authenticated the handshake.
    pub credential: WsCredential,
}

impl WsUser {
    async fn authenticate(tessera: &Tessera, parts: &Parts) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        if header_takes_precedence(tessera, headers) {
            return Self::by_token(tessera, parts, WsCredential::Header).await;
        }
        let ticket = ticket(parts)?;
        let cookie = read_cookie(headers, &tessera.browser().auth_cookie_access_name).is_some();
        if cookie {
            match check_websocket_origin(tessera, headers) {
                Ok(()) => match Self::by_token(tessera, parts, WsCredential::Cookie).await {
                    Ok(user) => return Ok(user),
                    Err(error) if ticket.is_none() => return Err(error),
                    // An expired cookie, say: the ticket that comes along may stand.
                    Err(_) => {}
                },
                // A foreign page's handshake carries the cookie too; its ticket may stand.
                Err(reason) if ticket.is_none() => {
                    tracing::warn!(
                        reason = %crate::observe::loggable(&reason),
                        "refused a cookie-authenticated WebSocket handshake"
                    );
                    return Err(ApiError::Forbidden(format!("CSRF Failed: {reason}")));
                }
                Err(_) => {}
            }
        }
        match ticket {
            Some(raw) => Ok(Self {
                user: tessera.auth().redeem_ws_ticket(&raw).await?,
                credential: WsCredential::Ticket,
            }),
            None => Err(ApiError::NotAuthenticated),
        }
    }

    /// The user of the request's token (header or cookie, as [`crate::raw_token`] reads it).
    async fn by_token(
        tessera: &Tessera,
        parts: &Parts,
        credential: fn(Token) -> WsCredential,
    ) -> Result<Self, ApiError> {
        let Some(token) = authenticate_token(tessera, parts)? else {
            return Err(ApiError::NotAuthenticated);
        };
        let user = user_for_token(tessera, &token).await?;
        Ok(Self {
            user,
            credential: credential(token),
        })
    }
}

/// The `ticket` query parameter, if any (the first, when repeated). A query too long or
/// not form-encoded is refused as a bad ticket.
fn ticket(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(query) = parts.uri.query() else {
        return Ok(None);
    };
    let bad = || ApiError::from(tessera_auth::AuthError::InvalidTicket);
    if query.len() > MAX_QUERY_BYTES {
        return Err(bad());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| bad())?;
    Ok(pairs
        .into_iter()
        .find(|(name, _)| name == WS_TICKET_PARAM)
        .map(|(_, value)| value))
}

impl<S> FromRequestParts<S> for WsUser
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tessera = Tessera::from_ref(state);
        Self::authenticate(&tessera, parts)
            .await
            .map_err(|error| AuthRejection::new(&tessera, error))
    }
}
