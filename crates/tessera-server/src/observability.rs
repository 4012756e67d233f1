//! Operators' endpoints: liveness, readiness, and Prometheus metrics.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use subtle::ConstantTimeEq as _;
use tessera_axum::Tessera;
use tessera_core::Secret;

/// Latency buckets, in seconds, from a fast token check to a slow login.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide Prometheus recorder, installed once (several applications in one test
/// process share it).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("tessera_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("the bucket list is not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        let upkeep = handle.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
        handle
    })
}

/// Who may read `/metrics`.
#[derive(Debug, Clone)]
pub enum MetricsAccess {
    /// Requests with `Authorization: Bearer <token>` (`metrics_token`).
    Token(Secret),
    /// Debug mode without a token: clients on this machine that came through no proxy.
    Local,
    /// Production without a token: nobody.
    Nobody,
}

impl MetricsAccess {
    /// The access a configuration grants: its token, else local clients in debug mode
    /// only.
    pub fn from_config(token: Option<Secret>, debug: bool) -> Self {
        match token {
            Some(token) => Self::Token(token),
            None if debug => Self::Local,
            None => Self::Nobody,
        }
    }
}

/// Headers by which a proxy says whom it forwards for: a request carrying any of them did
/// not come straight from a local client.
const PROXY_HEADERS: &[&str] = &["x-forwarded-for", "forwarded", "x-real-ip"];

/// `/healthz`, `/readyz` and `/metrics`.
pub fn routes(metrics_access: MetricsAccess) -> Router<Tessera> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(move |State(tessera): State<Tessera>, parts: Parts| {
                let access = metrics_access.clone();
                async move { metrics(&tessera, &parts, &access) }
            }),
        )
}

/// Ready when the store answers and holds every migration this build knows.
async fn readyz(State(tessera): State<Tessera>) -> Response {
    let (store, migrations, detail) = match tessera.auth().store().pending_migrations().await {
        Ok(pending) if pending.is_empty() => {
            return Json(json!({"status": "ok", "store": "ok", "migrations": "applied"}))
                .into_response();
        }
        Ok(pending) => {
            tracing::error!(?pending, "readiness: database migrations are missing");
            (
                "ok",
                "pending",
                "The database lacks migrations; run `tessera migrate`.",
            )
        }
        Err(error) => {
            tracing::error!(%error, "readiness: the store does not answer");
            ("unreachable", "unknown", "The store does not answer.")
        }
    };
    let body = json!({"status": "unavailable", "store": store, "migrations": migrations, "detail": detail});
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        Json(body),
    )
        .into_response()
}

/// Prometheus text, to whom [`MetricsAccess`] allows: with `metrics_token` set, only
/// `Authorization: Bearer <token>`; without it, in debug mode only, clients on this machine
/// whose request names no forwarded client (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`).
fn metrics(tessera: &Tessera, parts: &Parts, access: &MetricsAccess) -> Response {
    let headers = &parts.headers;
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>();
    let allowed = match access {
        MetricsAccess::Token(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()))),
        MetricsAccess::Local => {
            peer.is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback())
                && !PROXY_HEADERS.iter().any(|name| headers.contains_key(*name))
        }
        MetricsAccess::Nobody => false,
    };
    if !allowed {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"detail": "You do not have permission to perform this action."})),
        )
            .into_response();
    }
    let pool = tessera.auth().store().pool_usage();
    ::metrics::gauge!("tessera_store_connections", "state" => "in_use")
        .set(f64::from(pool.in_use()));
    ::metrics::gauge!("tessera_store_connections", "state" => "idle").set(f64::from(pool.idle));
    ::metrics::gauge!("tessera_store_connections_max").set(f64::from(pool.max));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus().render(),
    )
        .into_response()
}

/// The operators' endpoints in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz_doc, readyz_doc, metrics_doc))]
pub struct HealthDoc;

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object))
)]
#[allow(dead_code)]
fn healthz_doc() {}

/// Readiness: the store answers and holds every migration this build knows.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Object),
        (status = 503, description = "Not ready: the store or its migrations", body = Object),
    )
)]
#[allow(dead_code)]
fn readyz_doc() {}

/// Prometheus metrics, for local clients or with `metrics_token`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus' text format", body = String, content_type = "text/plain"),
        (status = 401, description = "A token is needed", body = tessera_axum::openapi::Detail),
        (status = 403, description = "Not allowed", body = tessera_axum::openapi::Detail),
        (status = 404, description = "Metrics are off", body = tessera_axum::openapi::Detail),
    )
)]
#[allow(dead_code)]
fn metrics_doc() {}
