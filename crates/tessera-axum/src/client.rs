//! The [`Client`] extractor: who is on the other end of a request — user agent and address,
//! recorded with sessions and used to key throttles.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use tessera_auth::ClientInfo;

use crate::state::Tessera;

/// The request's client, for the service's use cases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client(pub ClientInfo);

/// Whether the missing client address has been reported already (once per process).
static NO_ADDRESS_REPORTED: AtomicBool = AtomicBool::new(false);

/// Reads the client from a request. The address is the socket's, unless `num_proxies`
/// proxies stand in front: then it is DRF's pick from `X-Forwarded-For` (the address that
/// many hops from the right, counted over all its lines), which only those proxies can have
/// written.
///
/// Without the socket's address — the application was served without
/// `into_make_service_with_connect_info::<SocketAddr>()` — every client would share one
/// throttle bucket; that is logged at error level, once.
pub fn client_info(tessera: &Tessera, parts: &Parts) -> ClientInfo {
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let socket = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    if socket.is_none() && !NO_ADDRESS_REPORTED.swap(true, Ordering::Relaxed) {
        tracing::error!(
            "client addresses are unavailable: serve the application with \
             `into_make_service_with_connect_info::<SocketAddr>()`, or every client shares \
             one throttle bucket and audit events have no address"
        );
    }
    let ip = match tessera.auth().throttling().num_proxies {
        Some(proxies) if proxies > 0 => forwarded_for(&parts.headers, proxies).or(socket),
        _ => socket,
    };
    ClientInfo::new(user_agent.as_deref(), ip)
}

/// DRF's `get_ident`: the `num_proxies`-th address from the right of `X-Forwarded-For`
/// (the leftmost when there are fewer), or `None` when that is not an IP address.
///
/// Every `X-Forwarded-For` line counts, joined in order with commas as WSGI joins repeated
/// headers for Django: a proxy that adds a line of its own after the client's (HAProxy's
/// `option forwardfor`) is read like one that appends to the client's line. Reading only the
/// first line would let a client name its own address. Bytes that are not text in a line
/// (only the client can have sent them) are replaced, not allowed to drop the proxy's lines.
fn forwarded_for(headers: &HeaderMap, num_proxies: usize) -> Option<String> {
    let lines: Vec<_> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|line| String::from_utf8_lossy(line.as_bytes()))
        .collect();
    if lines.is_empty() {
        return None;
    }
    let joined = lines.join(",");
    let addresses: Vec<&str> = joined
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let pick = addresses.get(addresses.len().saturating_sub(num_proxies.max(1)))?;
    pick.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

impl<S> FromRequestParts<S> for Client
where
    Tessera: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_info(&Tessera::from_ref(state), parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_for_takes_the_address_written_by_the_nearest_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.0.0.2"),
        );
        // One proxy: it appended the client it saw last.
        assert_eq!(forwarded_for(&headers, 1).as_deref(), Some("10.0.0.2"));
        assert_eq!(forwarded_for(&headers, 2).as_deref(), Some("203.0.113.7"));
        // More proxies than addresses: the leftmost.
        assert_eq!(forwarded_for(&headers, 9).as_deref(), Some("6.6.6.6"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(forwarded_for(&headers, 1), None);
    }

    #[test]
    fn forwarded_for_joins_every_header_line_in_order() {
        // A proxy that adds its own line after the client's (HAProxy's `option forwardfor`):
        // the lines read as one comma-separated list, as WSGI joins them.
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        assert_eq!(forwarded_for(&headers, 1).as_deref(), Some("10.0.0.2"));
        assert_eq!(forwarded_for(&headers, 2).as_deref(), Some("6.6.6.6"));

        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 6.6.6.6"),
        );
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.2"),
        );
        assert_eq!(forwarded_for(&headers, 1).as_deref(), Some("10.0.0.2"));
        assert_eq!(forwarded_for(&headers, 2).as_deref(), Some("203.0.113.7"));
        assert_eq!(forwarded_for(&headers, 3).as_deref(), Some("6.6.6.6"));
        assert_eq!(forwarded_for(&headers, 9).as_deref(), Some("1.1.1.1"));
    }

    #[test]
    fn an_unreadable_client_line_does_not_hide_the_proxy_line() {
        let mut headers = HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"6.6.6.6\xff").expect("opaque bytes are a valid value"),
        );
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        assert_eq!(forwarded_for(&headers, 1).as_deref(), Some("10.0.0.2"));
        // An empty line adds no address.
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        headers.append("x-forwarded-for", HeaderValue::from_static(""));
        assert_eq!(forwarded_for(&headers, 1).as_deref(), Some("10.0.0.2"));
        assert_eq!(forwarded_for(&HeaderMap::new(), 1), None);
    }
}
