//! Who is on the other end of a request: user agent and address, recorded with sessions.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

/// The longest user-agent text kept.
const MAX_USER_AGENT: usize = 512;

/// The client's user agent and IP address, as far as the server can tell.
///
/// The address comes from the socket (`ConnectInfo`); proxies' forwarding headers are not
/// trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The `User-Agent` header, cut to 512 characters.
    pub user_agent: Option<String>,
    /// The peer's IP address.
    pub ip: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts.headers.get(header::USER_AGENT).map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(MAX_USER_AGENT)
                .collect()
        });
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Self { user_agent, ip })
    }
}
