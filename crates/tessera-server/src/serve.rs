//! Serving connections: HTTP/1.1 over hyper with the limits `axum::serve` does not set.
//!
//! - **Header-read timeout** (`header_read_timeout`): a client that has not sent a whole
//!   request line and headers in time is disconnected. Hyper starts this clock whenever it
//!   waits for a request, so it also closes an idle keep-alive connection.
//! - **Body deadline** (`request_body_timeout`): reading a request's body — from the moment
//!   the application starts handling the request — must end in time, or the request gets 408
//!   and the connection is closed ([`body_deadline`]).
//! - **Connection cap** (`max_connections`): at most that many connections are served. Beyond
//!   them, [`RESERVE`] more are accepted and answer only `/healthz` and `/readyz` (anything
//!   else gets 503), one request each, with a header-read timeout of at most
//!   [`RESERVE_HEADER_TIMEOUT`]; so a health check still gets through while slow clients
//!   hold every regular slot. Further connections are closed as soon as they are accepted:
//!   the process never runs out of file descriptors, and the kernel's backlog never fills.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::any_service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// Connections accepted beyond `max_connections` to answer health checks.
pub const RESERVE: usize = 32;

/// The longest a reserve connection may take to send its request.
pub const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the accept loop pauses after the operating system refused a connection (out of
/// file descriptors, say), rather than spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The limits connections are served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a request line and headers; also how long a keep-alive connection idles.
    pub header_read_timeout: Duration,
    /// Connections served at once (besides the [`RESERVE`]).
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets every open connection
/// finish its request in flight and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let regular = Arc::new(Semaphore::new(limits.max_connections));
    let reserve = Arc::new(Semaphore::new(RESERVE));
    let health_only = health_only(app.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut refused_logged = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (permit, service, keep_alive, header_timeout) =
            if let Ok(permit) = Arc::clone(&regular).try_acquire_owned() {
                refused_logged = false;
                (permit, app.clone(), true, limits.header_read_timeout)
            } else if let Ok(permit) = Arc::clone(&reserve).try_acquire_owned() {
                let timeout = limits.header_read_timeout.min(RESERVE_HEADER_TIMEOUT);
                (permit, health_only.clone(), false, timeout)
            } else {
                ::metrics::counter!("tessera_http_connections_refused_total").increment(1);
                if !refused_logged {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections are closed at once"
                    );
                    refused_logged = true;
                }
                drop(stream);
                continue;
            };
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let open = ::metrics::gauge!("tessera_http_connections_open");
            open.increment(1.0);
            serve_connection(stream, remote, service, keep_alive, header_timeout, stop).await;
            open.decrement(1.0);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Every connection holds a receiver: all have closed when none is left.
    stop_tx.closed().await;
}

/// Serves one connection until it closes, or until the shutdown signal and the end of its
/// request in flight.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    keep_alive: bool,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let service = app.map_request(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(keep_alive);
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let stopping = async {
        if !*stop.borrow_and_update() {
            let _ = stop.changed().await;
        }
    };
    tokio::select! {
        result = connection.as_mut() => log_end(result),
        () = stopping => {
            connection.as_mut().graceful_shutdown();
            log_end(connection.await);
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        // Timeouts and clients that hang up are routine; nothing to alarm anyone with.
        tracing::debug!(%error, "connection closed");
    }
}

/// What a reserve connection serves: the application's `/healthz` and `/readyz`, and 503
/// for the rest.
fn health_only(app: Router) -> Router {
    Router::new()
        .route("/healthz", any_service(app.clone()))
        .route("/readyz", any_service(app))
        .fallback(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                axum::Json(json!({"detail": "Service temporarily unavailable, try again later."})),
            )
        })
}

/// The body-reading deadline of [`body_deadline`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Middleware: the request's body must be read within the deadline, counted from now.
/// When it is not, the read fails, and whatever the handler made of that failure is
/// replaced by 408 `{"detail": "…"}` with `Connection: close`.
pub async fn body_deadline(
    State(BodyTimeout(timeout)): State<BodyTimeout>,
    request: Request,
    next: Next,
) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(Deadline {
            body,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            expired: Arc::clone(&expired),
        })
    });
    let response = next.run(request).await;
    if expired.load(Ordering::Acquire) {
        let mut response = (
            StatusCode::REQUEST_TIMEOUT,
            axum::Json(json!({"detail": "The request body was not received in time."})),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    response
}

/// A body that fails once its deadline has passed.
struct Deadline {
    body: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

/// The error of a body read past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
struct BodyTimedOut;

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.expired.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
