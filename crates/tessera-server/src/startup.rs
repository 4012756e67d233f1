//! Building the application from a configuration, and serving it until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tessera_axum::routes::RoutePaths;
use tessera_axum::{MAX_BODY_BYTES, Tessera};
use tessera_store::Store;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::observability::MetricsAccess;
use crate::serve::{BodyTimeout, ConnectionLimits};

/// A built server: store open and migrated, socket bound, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    tessera: Tessera,
    routes: Router<Tessera>,
    serving: Serving,
    report: StartupReport,
}

/// What start-up found, logged with the line that says where the server listens.
#[derive(Debug, Clone)]
struct StartupReport {
    /// The database in use, without its password.
    database: String,
    /// `"3 applied"` or `"up to date"`.
    migrations: String,
    /// Where the signing key comes from.
    signing_key: String,
    /// The command to run next: `tessera createsuperuser` while the database has no user.
    next_step: Option<&'static str>,
}

/// How the HTTP application and its connections are served, from the configuration.
#[derive(Debug, Clone)]
pub struct Serving {
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
    /// The deadline for reading a request's body (`request_body_timeout`).
    pub request_body_timeout: Duration,
    /// The header-read timeout and the connection cap.
    pub limits: ConnectionLimits,
    /// Time in-flight requests get after the shutdown signal (`shutdown_grace`).
    pub shutdown_grace: Duration,
    /// Where the API routes are (`[routes]`).
    pub paths: RoutePaths,
}

impl Serving {
    /// The serving settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            metrics: MetricsAccess::from_config(config.metrics_token.clone(), config.debug),
            request_body_timeout: config.request_body_timeout,
            limits: ConnectionLimits {
                header_read_timeout: config.header_read_timeout,
                max_connections: config.max_connections,
            },
            shutdown_grace: config.shutdown_grace,
            paths: config.routes.clone(),
        }
    }
}

impl Application {
    /// Validates the configuration, opens and migrates the store and binds the socket.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Router::new()).await
    }

    /// [`Application::build`] with an application's own routes served beside Tessera's
    /// (they can use every extractor of `tessera_axum`).
    pub async fn build_with(mut config: Config, routes: Router<Tessera>) -> anyhow::Result<Self> {
        let mut signing_key = signing_key_source(&config);
        if config.ensure_signing_key()? {
            signing_key = format!(
                "generated, stored in {}",
                config.signing_key_file().display()
            );
            tracing::warn!(
                file = %config.signing_key_file().display(),
                "using a generated signing key kept in the data directory; set TESSERA_SIGNING_KEY \
                 to a random secret (e.g. `openssl rand -base64 64`) and TESSERA_DEBUG=false in production"
            );
        }
        if config.ensure_api_key_secret()? {
            tracing::warn!(
                file = %config.api_key_secret_file().display(),
                "using a generated API key secret kept in the data directory; set \
                 TESSERA_API_KEY_SECRET (or TESSERA_KEY_ENCRYPTION_KEY) in production"
            );
        }
        config.check_production()?;
        let store = open_store(&config).await?;
        let pending = store
            .pending_migrations()
            .await
            .context("reading the applied migrations")?;
        store.migrate().await.context("applying migrations")?;
        let migrations = match pending.len() {
            0 => "up to date".to_owned(),
            n => format!("{n} applied"),
        };
        // Only a database known to hold no user suggests creating one.
        let next_step = match store.search_users(None, 1, 0).await {
            Ok((0, _)) => Some("tessera createsuperuser"),
            _ => None,
        };
        let report = StartupReport {
            database: config.database_description(),
            migrations,
            signing_key,
            next_step,
        };
        let tessera = Tessera::builder(config.jwt.clone(), store)
            .accounts(config.accounts.clone())
            .browser(config.browser_settings())
            .throttling(config.throttling.clone())
            .audit(config.audit.clone())
            .mail(config.mail.clone())
            .email_flows(config.email_flows.clone())
            .api_keys(config.api_keys.clone())
            .mfa(config.mfa_settings())
            .passkeys(config.passkeys.clone())
            .social(config.social.clone())
            .revocation(config.revocation.clone())
            .public_url(config.public_url())
            .build()
            .await?;
        seal_totp_secrets(&config, tessera.auth()).await?;
        refuse_stranded_passkeys(tessera.auth()).await?;
        let addr = config.bind_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|error| bind_error(addr, error))?;
        Ok(Self {
            listener,
            tessera,
            routes,
            serving: Serving::from_config(&config),
            report,
        })
    }

    /// The bound address (port 0 in the configuration becomes a real port here).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The port served on.
    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// The shared state (tests use it to reach the store).
    pub fn tessera(&self) -> &Tessera {
        &self.tessera
    }

    /// The whole HTTP application this server serves — [`router`] over its state, the
    /// application's own routes and its serving settings — without a socket: what
    /// [`run_until`](Self::run_until) serves, for requests sent in process (tests drive it
    /// with `tessera_axum::testing::TestClient`).
    pub fn router(&self) -> Router {
        router(self.tessera.clone(), self.routes.clone(), &self.serving)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish. The signals are
    /// caught from before the line that says the server is serving, so a signal sent as soon
    /// as that line is read still stops it gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = shutdown_signal().context("installing the signal handlers")?;
        self.run_until(shutdown).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let url = url_to_open(addr);
        let StartupReport {
            database,
            migrations,
            signing_key,
            next_step,
        } = &self.report;
        let hint = next_step.map_or_else(String::new, |next| {
            format!("; the database has no user yet: run `{next}`")
        });
        tracing::info!(
            %addr,
            %url,
            %database,
            %migrations,
            %signing_key,
            next_step = *next_step,
            "tessera is serving at {url} (database: {database}; migrations: {migrations}; \
             signing key: {signing_key}){hint}"
        );
        let app = self.router();
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let grace = self.serving.shutdown_grace;
        let serve = crate::serve::serve(self.listener, app, self.serving.limits, async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stopping_tx.send(());
        });
        // After the signal, in-flight requests get `grace` to finish.
        let deadline = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = serve => {},
            () = deadline => tracing::warn!("shutdown grace period over; closing remaining connections"),
        }
        // Audit events still queued are written before the store closes.
        if tokio::time::timeout(AUDIT_FLUSH_LIMIT, self.tessera.auth().audit_log().flush())
            .await
            .is_err()
        {
            tracing::error!("audit events still queued at shutdown could not be written in time");
        }
        self.tessera.auth().store().close().await;
        tracing::info!("tessera stopped");
        Ok(())
    }
}

/// Seals the TOTP secrets stored unencrypted when a `key_encryption_key` is set; outside
/// debug mode, refuses to start while any stays unencrypted (no key-encryption key), as
/// `tessera check` reports it.
async fn seal_totp_secrets(config: &Config, auth: &tessera_auth::Auth) -> anyhow::Result<()> {
    let sealed = auth
        .seal_plain_totp_secrets()
        .await
        .context("sealing the TOTP secrets")?;
    if sealed > 0 {
        tracing::warn!(
            sealed,
            "TOTP secrets were stored unencrypted; sealed them with the key_encryption_key"
        );
    }
    let plain = auth
        .plain_totp_secrets()
        .await
        .context("reading the TOTP secrets")?;
    if plain > 0 && !config.debug {
        anyhow::bail!(
            "{plain} TOTP secret(s) are stored unencrypted; set TESSERA_KEY_ENCRYPTION_KEY (a \
             random secret of 32 bytes or more) and start again to seal them"
        );
    }
    Ok(())
}

/// Refuses to start while passkeys are unavailable (the relying party derived from
/// `public_url` cannot be served) and the store holds passkeys: their users would be asked
/// for a passkey they could not use, and those with no other way in locked out. `tessera
/// check` reports it too.
async fn refuse_stranded_passkeys(auth: &tessera_auth::Auth) -> anyhow::Result<()> {
    if let Some((why, held)) = auth
        .stranded_passkeys()
        .await
        .context("counting the passkeys")?
    {
        anyhow::bail!(stranded_passkeys_message(&why, held));
    }
    Ok(())
}

/// Why passkeys the store holds cannot be used
/// ([`Auth::stranded_passkeys`](tessera_auth::Auth::stranded_passkeys)), and what to do.
pub(crate) fn stranded_passkeys_message(why: &str, held: u64) -> String {
    format!(
        "passkeys are unavailable ({why}) but the store holds {held} passkey(s) their users \
         need; set TESSERA_PUBLIC_URL (or webauthn_rp_id) to the domain they were registered \
         for"
    )
}

/// Where the signing key comes from, as the start-up line says it (before a generated one
/// is made).
fn signing_key_source(config: &Config) -> String {
    if config.jwt.key_source == tessera_core::KeyOrigin::Store {
        "stored keys (key_source = store)".to_owned()
    } else if let Some(file) = &config.jwt.signing_key_file {
        format!("key file {}", file.display())
    } else if config.jwt.signing_key.is_some() {
        "configured key (signing_key)".to_owned()
    } else {
        "generated".to_owned()
    }
}

/// The address to open in a browser: the bound one, with the loopback address for a
/// server bound to every interface.
fn url_to_open(addr: SocketAddr) -> String {
    let mut addr = addr;
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            addr.set_ip(std::net::Ipv6Addr::LOCALHOST.into());
        }
        _ => {}
    }
    format!("http://{addr}/")
}

/// A failure to bind `addr`, naming the setting that changes it.
fn bind_error(addr: SocketAddr, error: std::io::Error) -> anyhow::Error {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "{addr} is in use (another tessera?); set `bind` (TESSERA_BIND) to another port"
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{addr} may not be bound by this user (ports below 1024 need privileges); \
             set `bind` (TESSERA_BIND) to another port"
        ),
        std::io::ErrorKind::AddrNotAvailable => anyhow::anyhow!(
            "{addr} is not an address of this machine; set `bind` (TESSERA_BIND) to one"
        ),
        _ => anyhow::Error::from(error).context(format!("binding {addr} (setting `bind`)")),
    }
}

/// How long a graceful shutdown waits for the audit queue to be written.
const AUDIT_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Opens the configured store, creating the data directory (0700) for the default SQLite
/// file. A SQLite file that does not exist yet is created empty with mode 0600 first, so the
/// database and its `-wal` and `-shm` files are readable by their owner only.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        crate::config::create_private_dir(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
    }
    let url = config.database_url();
    if let Some(file) = config.sqlite_file()
        && !url.contains("mode=ro")
    {
        match crate::config::create_private_file(&file) {
            Ok(true) => tracing::debug!(file = %file.display(), "created the database"),
            Ok(false) => {}
            // A missing directory of a configured URL: SQLite's own error says it.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(anyhow::Error::from(error)
                    .context(format!("creating the database {}", file.display())));
            }
        }
    }
    let store = Store::connect_with(&url, &config.store_options())
        .await
        .with_context(|| format!("opening the database {}", crate::config::redact_url(&url)))?;
    tracing::debug!(engine = %store.engine(), "database opened");
    Ok(store)
}

/// The whole HTTP application: index, health, token routes, DRF conventions and the
/// production layers (request ids, redacted tracing, panics as DRF 500s, the body deadline).
pub fn router(tessera: Tessera, routes: Router<Tessera>, serving: &Serving) -> Router {
    crate::observability::prometheus();
    let sensitive: Vec<HeaderName> = vec![
        header::AUTHORIZATION,
        header::COOKIE,
        tessera.auth_header().clone(),
    ];
    let request_id = HeaderName::from_static("x-request-id");
    let auth = tessera.auth();
    let links = index_links(
        &serving.paths,
        auth.mail_enabled(),
        auth.mail_enabled() && auth.email_flow_settings().login_by_code,
    );
    // The OpenAPI document of what this server routes, its login field as configured.
    let mut document = tessera_axum::openapi::openapi_with(
        &serving.paths,
        <crate::observability::HealthDoc as utoipa::OpenApi>::openapi(),
    );
    tessera_axum::openapi::username_field(
        &mut document,
        tessera.settings().username_field.as_str(),
    );
    let app = Router::new()
        .route("/", get(move || std::future::ready(Json(links.clone()))))
        .merge(tessera_axum::routes::api_routes_at(&serving.paths))
        .merge(crate::account_page::account_page(&serving.paths))
        .merge(crate::admin_page::admin_page(&serving.paths))
        .merge(crate::observability::routes(serving.metrics.clone()))
        .merge(tessera_axum::routes::jwks_routes())
        .merge(tessera_axum::openapi::schema_routes(
            &serving.paths,
            document,
        ))
        .merge(routes);
    // One `ServiceBuilder` stack, outermost first (`Router::layer` would box each layer anew
    // and clone every box below it on each request).
    let stack = tower::ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
        // A client's request id is kept only when it is a plain token; else one is made.
        .map_request(|mut request: Request| {
            drop_unsafe_request_id(request.headers_mut());
            request
        })
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    // Method and path come from the client: a closed label and a capped text
                    // (which stops before the token of a mail's link).
                    let method = tessera_axum::method_label(request.method());
                    let path = tessera_axum::loggable_path(request.uri().path());
                    tracing::info_span!("request", method, path = %path, request_id = %id)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(CatchPanicLayer::custom(|_panic| {
            tracing::error!("a request handler panicked");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"detail": "A server error occurred."})),
            )
                .into_response()
        }))
        // Browser hardening on every response; the account page sets its own policy.
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        // The account page's links carry a token in their path: those pages send no referrer.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            BodyTimeout(serving.request_body_timeout),
            crate::serve::body_deadline,
        ))
        .service(tessera_axum::install(app, tessera));
    Router::new().fallback_service(stack)
}

/// The longest `X-Request-Id` a client may choose.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Removes the `X-Request-Id` a client sent unless it is one value of 1 to 64 characters
/// from `A-Z a-z 0-9 . _ -`: an id is echoed and logged, so it must not carry spaces, `=`
/// or control characters that forge log fields.
fn drop_unsafe_request_id(headers: &mut HeaderMap) {
    let mut ids = headers.get_all("x-request-id").iter();
    let safe = match (ids.next(), ids.next()) {
        (Some(id), None) => is_safe_request_id(id.as_bytes()),
        (None, _) => return,
        (Some(_), Some(_)) => false,
    };
    if !safe {
        headers.remove("x-request-id");
    }
}

/// `^[A-Za-z0-9._-]{1,64}$`
fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// The index's body: the server's name and version, and where each route is (the e-mail
/// flows' only when mail is on, the login by code's only when `login_by_code` is on too).
fn index_links(paths: &RoutePaths, mail: bool, login_by_code: bool) -> serde_json::Value {
    let mut links = serde_json::Map::new();
    let token_names = [
        "token_obtain_pair",
        "token_refresh",
        "token_verify",
        "token_blacklist",
        "token_obtain_sliding",
        "token_refresh_sliding",
    ];
    for (name, (_, path)) in token_names.into_iter().zip(paths.token_paths()) {
        if let Some(path) = path {
            links.insert(name.into(), json!(path));
        }
    }
    let api = [
        ("register", "auth/register/"),
        ("login", "auth/login/"),
        ("logout", "auth/logout/"),
        ("logout_all", "auth/logout/all/"),
        ("profile", "auth/profile/"),
        ("password_change", "auth/password/change/"),
        ("sessions", "auth/sessions/"),
        ("admin_users", "admin/users/"),
        ("cookie_login", "auth/cookie/login/"),
        ("ws_ticket", "auth/ws-ticket/"),
    ];
    let by_mail = [
        ("password_reset", "auth/password/reset/"),
        ("password_reset_confirm", "auth/password/reset/confirm/"),
        ("verify_email", "auth/verify-email/"),
        ("verify_email_resend", "auth/verify-email/resend/"),
        ("email_change", "auth/email/change/"),
        ("email_change_confirm", "auth/email/change/confirm/"),
    ];
    let by_code = [
        ("code_request", "auth/code/request/"),
        ("code_login", "auth/code/login/"),
    ];
    let by_mail = if mail { &by_mail[..] } else { &[] };
    let by_code = if login_by_code { &by_code[..] } else { &[] };
    for (name, relative) in api.iter().chain(by_mail).chain(by_code) {
        links.insert((*name).into(), json!(paths.api_path(relative)));
    }
    links.insert("account_page".into(), json!("/account/"));
    links.insert("admin_page".into(), json!("/admin/"));
    links.insert("admin_keys".into(), json!(paths.api_path("admin/keys/")));
    links.insert("admin_audit".into(), json!(paths.api_path("admin/audit/")));
    links.insert("schema".into(), json!(paths.api_path("schema/")));
    links.insert("docs".into(), json!(paths.api_path("docs/")));
    for (name, path) in [
        ("jwks", "/.well-known/jwks.json"),
        ("health", "/healthz"),
        ("ready", "/readyz"),
        ("metrics", "/metrics"),
    ] {
        links.insert(name.into(), json!(path));
    }
    json!({
        "name": "Tessera",
        "version": env!("CARGO_PKG_VERSION"),
        "links": links,
    })
}

/// A future that completes on SIGINT or SIGTERM (Ctrl-C elsewhere), its handlers installed
/// now rather than when it is first polled.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_to_open_is_the_bound_address_with_loopback_for_every_interface() {
        for (bound, url) in [
            ("127.0.0.1:8000", "http://127.0.0.1:8000/"),
            ("0.0.0.0:8001", "http://127.0.0.1:8001/"),
            ("[::]:8002", "http://[::1]:8002/"),
            ("[::1]:8003", "http://[::1]:8003/"),
            ("192.0.2.7:80", "http://192.0.2.7:80/"),
        ] {
            assert_eq!(url_to_open(bound.parse().unwrap()), url, "{bound}");
        }
    }

    #[test]
    fn the_index_lists_the_mail_routes_and_the_code_routes_only_when_on() {
        let paths = RoutePaths {
            prefix: "/api/v1".into(),
            ..RoutePaths::default()
        };
        let off = index_links(&paths, true, false);
        assert_eq!(
            off["links"]["password_reset"],
            "/api/v1/auth/password/reset/"
        );
        assert_eq!(
            off["links"]["email_change_confirm"],
            "/api/v1/auth/email/change/confirm/"
        );
        assert!(off["links"].get("code_login").is_none(), "{off}");
        let on = index_links(&paths, true, true);
        assert_eq!(on["links"]["code_request"], "/api/v1/auth/code/request/");
        assert_eq!(on["links"]["code_login"], "/api/v1/auth/code/login/");
        let no_mail = index_links(&paths, false, false);
        for name in [
            "password_reset",
            "verify_email",
            "email_change",
            "code_login",
        ] {
            assert!(no_mail["links"].get(name).is_none(), "{no_mail}");
        }
        assert_eq!(no_mail["links"]["login"], "/api/v1/auth/login/");
    }

    #[test]
    fn a_bind_failure_names_the_setting_to_change() {
        let addr: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let in_use = bind_error(addr, std::io::ErrorKind::AddrInUse.into()).to_string();
        assert_eq!(
            in_use,
            "127.0.0.1:8000 is in use (another tessera?); set `bind` (TESSERA_BIND) to another port"
        );
        for kind in [
            std::io::ErrorKind::PermissionDenied,
            std::io::ErrorKind::AddrNotAvailable,
            std::io::ErrorKind::Other,
        ] {
            let message = format!("{:#}", bind_error(addr, kind.into()));
            assert!(
                message.contains("127.0.0.1:8000") && message.contains("`bind`"),
                "{message}"
            );
        }
    }

    #[test]
    fn only_plain_request_ids_of_64_characters_at_most_are_kept() {
        for kept in [
            "abc",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "a.b_c-D",
            &"x".repeat(64),
        ] {
            assert!(is_safe_request_id(kept.as_bytes()), "{kept}");
        }
        for dropped in [
            "",
            "abc path=/api/admin/users/ status=200",
            "a=b",
            "tab\there",
            "ünïcode",
            &"x".repeat(65),
        ] {
            assert!(!is_safe_request_id(dropped.as_bytes()), "{dropped}");
        }
        let mut headers = HeaderMap::new();
        headers.append("x-request-id", HeaderValue::from_static("ok-1"));
        drop_unsafe_request_id(&mut headers);
        assert_eq!(headers["x-request-id"], "ok-1");
        headers.append("x-request-id", HeaderValue::from_static("ok-2"));
        drop_unsafe_request_id(&mut headers);
        assert!(
            headers.get("x-request-id").is_none(),
            "two ids: neither is trusted"
        );
    }
}
