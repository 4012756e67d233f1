//! [`TestClient`], DRF's `APIClient` for an axum application: requests go to the router in
//! process, through `tower`'s `oneshot`, never over a socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, Request, Uri};
use http_body_util::BodyExt as _;
use serde::Serialize;
use tessera_core::TokenKind;
use tessera_store::User;

use super::TEST_HOST;
use super::cookies::CookieJar;
use super::response::TestResponse;
use crate::{ClientInfo, Tessera};

/// A client for an application under test, like DRF's `APIClient`.
///
/// It sends each request to the finished router (what [`install`](crate::install) returns)
/// in process, with `tower::ServiceExt::oneshot`: no port, no HTTP client. Each request
/// carries
///
/// - `Host: testserver` (see [`host`](Self::host)) and the client's address as
///   `ConnectInfo<SocketAddr>` — 127.0.0.1 unless [`address`](Self::address) says
///   otherwise — so that throttles and the audit log see a client;
/// - the cookies the application set on earlier responses, as a browser keeps them
///   (`Set-Cookie` sets, `Max-Age=0` deletes; each cookie goes back to its `Path`);
/// - the credentials of [`credentials`](Self::credentials) or
///   [`force_authenticate`](Self::force_authenticate), when given.
///
/// Headers a request sets itself take precedence over all of these. Clones share cookies
/// and credentials; [`TestApp::client`](super::TestApp::client) makes an independent one.
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use tessera_axum::testing::TestClient;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new()
///     .route("/hello/", get(|| async { "hello" }))
///     .route(
///         "/visit/",
///         get(|| async { ([("set-cookie", "visited=yes; Path=/")], "welcome") }),
///     )
///     .route(
///         "/echo/",
///         get(|headers: axum::http::HeaderMap| async move {
///             format!("{:?} {:?}", headers.get("cookie"), headers.get("authorization"))
///         }),
///     );
/// let client = TestClient::new(app);
///
/// let response = client.get("/hello/").send().await;
/// response.assert_status(200);
/// assert_eq!(response.text(), "hello");
///
/// // Cookies are kept between requests, and credentials go with every request.
/// client.get("/visit/").send().await.assert_status(200);
/// client.credentials(Some("Bearer abc"));
/// let echo = client.get("/echo/").send().await;
/// assert_eq!(echo.text(), r#"Some("visited=yes") Some("Bearer abc")"#);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TestClient {
    router: Router,
    tessera: Option<Tessera>,
    address: SocketAddr,
    host: String,
    state: Arc<Mutex<ClientState>>,
}

/// What a client remembers between requests.
#[derive(Debug, Default)]
struct ClientState {
    cookies: CookieJar,
    authorization: Authorization,
}

/// The credentials every request carries.
#[derive(Debug, Default)]
enum Authorization {
    #[default]
    None,
    /// A header value, as given to [`TestClient::credentials`].
    Credentials(HeaderValue),
    /// A session opened by [`TestClient::force_authenticate`].
    Forced { refresh: String, access: String },
}

impl TestClient {
    /// A client for `router`, the finished application. Without the application's
    /// [`Tessera`] (see [`with_tessera`](Self::with_tessera)), it cannot
    /// [`force_authenticate`](Self::force_authenticate).
    pub fn new(router: Router) -> Self {
        Self {
            router,
            tessera: None,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            host: TEST_HOST.to_owned(),
            state: Arc::default(),
        }
    }

    /// The client knows the application's state: it can
    /// [`force_authenticate`](Self::force_authenticate), sends credentials in the header the
    /// settings name, and [`TestResponse::assert`] checks each 401 for the exact
    /// `WWW-Authenticate` challenge simplejwt's settings call for.
    #[must_use]
    pub fn with_tessera(mut self, tessera: Tessera) -> Self {
        self.tessera = Some(tessera);
        self
    }

    /// Requests come from `ip` (the address throttles and the audit log see). On a real
    /// network this is another client; here any address will do.
    #[must_use]
    pub fn address(mut self, ip: impl Into<IpAddr>) -> Self {
        self.address = SocketAddr::new(ip.into(), self.address.port());
        self
    }

    /// Requests name `host` in their `Host` header (`testserver` by default).
    #[must_use]
    pub fn host(mut self, host: &str) -> Self {
        host.clone_into(&mut self.host);
        self
    }

    /// The origin requests go to: `http://testserver` by default. DRF builds absolute links
    /// (pagination) from it, and CSRF compares `Origin` with it.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// The address requests come from.
    pub fn client_address(&self) -> SocketAddr {
        self.address
    }

    /// Every later request carries this `Authorization` value (in the header the settings
    /// name, when the client knows the application) unless it sets one itself — DRF's
    /// `client.credentials(HTTP_AUTHORIZATION=…)`. `None` takes credentials away. Replaces
    /// a [`force_authenticate`](Self::force_authenticate).
    ///
    /// # Panics
    /// When the value cannot be a header value.
    #[track_caller]
    pub fn credentials(&self, authorization: Option<&str>) {
        let authorization = match authorization {
            Some(value) => Authorization::Credentials(
                HeaderValue::from_str(value)
                    .unwrap_or_else(|e| panic!("credentials {value:?}: {e}")),
            ),
            None => Authorization::None,
        };
        self.state().authorization = authorization;
    }

    /// Every later request is authenticated as `user`, without a login request — DRF's
    /// `client.force_authenticate(user)`.
    ///
    /// There is no back door: the service opens a real session for the user
    /// ([`Auth::issue_pair`](crate::Auth::issue_pair), audited as a login), and each request
    /// carries an access token of that session, signed by the application's keys. When the
    /// clock has passed its expiry a fresh one of the same session is minted, so the client
    /// stays authenticated as long as the session lives. Everything authentication checks
    /// still applies: a deactivated or deleted user, a revoked session or a password
    /// changed since is refused as it would be in production. Replaces
    /// [`credentials`](Self::credentials); [`logout`](Self::logout) ends it.
    ///
    /// # Panics
    /// When the client does not know the application (see
    /// [`with_tessera`](Self::with_tessera)), or the service cannot issue tokens (no
    /// signing key, say).
    pub async fn force_authenticate(&self, user: &User) {
        let tessera = self.tessera.as_ref().expect(
            "force_authenticate needs the application's state: use TestApp::client, or \
             TestClient::with_tessera",
        );
        let client = ClientInfo::new(None, Some(self.address.ip().to_string()));
        let pair = tessera
            .auth()
            .issue_pair(user, &client, &tessera_core::Claims::new())
            .await
            .unwrap_or_else(|e| panic!("issuing tokens for {}: {e}", user.email));
        self.state().authorization = Authorization::Forced {
            refresh: pair.refresh,
            access: pair.access,
        };
    }

    /// Forgets credentials, forced authentication and cookies — DRF's `client.logout()`.
    /// (A session opened by [`force_authenticate`](Self::force_authenticate) is left to
    /// expire.)
    pub fn logout(&self) {
        let mut state = self.state();
        state.authorization = Authorization::None;
        state.cookies.clear();
    }

    /// The value of the cookie `name` the client holds (for `/` when several paths have
    /// one).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.state().cookies.get(name).map(str::to_owned)
    }

    /// Holds the cookie `name` (for every path), as if the application had set it.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.state().cookies.set(name, value);
    }

    /// Forgets every cookie.
    pub fn clear_cookies(&self) {
        self.state().cookies.clear();
    }

    /// A request with `method` to `path` (`/api/token/`, query included) or to an absolute
    /// URL (whose host then goes in `Host`).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: None,
            content_type: None,
        }
    }

    /// A `GET` request.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A `POST` request.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A `PUT` request.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// A `PATCH` request.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// A `DELETE` request.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// An `OPTIONS` request.
    pub fn options(&self, path: &str) -> RequestBuilder {
        self.request(Method::OPTIONS, path)
    }

    /// A `HEAD` request.
    pub fn head(&self, path: &str) -> RequestBuilder {
        self.request(Method::HEAD, path)
    }

    fn state(&self) -> MutexGuard<'_, ClientState> {
        // A test that panicked while holding the lock left nothing half-written.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The header credentials go in, and the value for this request (minting a fresh access
    /// token for a forced authentication whose last one has expired).
    fn authorization(&self) -> Option<(HeaderName, HeaderValue)> {
        let name = self
            .tessera
            .as_ref()
            .map_or(header::AUTHORIZATION, |t| t.auth_header().clone());
        let mut state = self.state();
        let value = match &mut state.authorization {
            Authorization::None => return None,
            Authorization::Credentials(value) => value.clone(),
            Authorization::Forced { refresh, access } => {
                let tessera = self.tessera.as_ref()?;
                let fresh = fresh_access(tessera, refresh, access);
                let scheme = tessera
                    .settings()
                    .auth_header_types
                    .first()
                    .map_or("Bearer", String::as_str);
                HeaderValue::from_str(&format!("{scheme} {fresh}")).ok()?
            }
        };
        Some((name, value))
    }
}

/// `access` if it is still good now, else a new access token of `refresh`'s session (kept
/// in `access`); an expired session keeps the expired token, which the application refuses.
fn fresh_access<'a>(tessera: &Tessera, refresh: &str, access: &'a mut String) -> &'a str {
    let auth = tessera.auth();
    let backend = auth.backend();
    let now = auth.now();
    if backend.decode(&TokenKind::access(), access, now).is_err()
        && let Ok(session) = backend.decode(&TokenKind::refresh(), refresh, now)
        && let Ok(minted) = backend.encode(&session.access_token(backend, now))
    {
        *access = minted;
    }
    access
}

/// A request being put together; [`send`](Self::send) sends it. Made by
/// [`TestClient::request`] and its siblings.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: TestClient,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Option<Bytes>,
    content_type: Option<HeaderValue>,
}

impl RequestBuilder {
    /// Adds a header (another value when the request has the header already). It takes
    /// precedence over what the client would send under that name.
    ///
    /// # Panics
    /// When the name or the value is not valid in a header.
    #[track_caller]
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: std::fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: std::fmt::Display,
    {
        let name = name
            .try_into()
            .unwrap_or_else(|e| panic!("invalid header name: {e}"));
        let value = value
            .try_into()
            .unwrap_or_else(|e| panic!("invalid value for header {name}: {e}"));
        self.headers.append(name, value);
        self
    }

    /// `Authorization: Bearer <token>` for this request.
    #[track_caller]
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    /// A JSON body, with `Content-Type: application/json` unless the request sets one.
    ///
    /// # Panics
    /// When `body` cannot be serialized.
    #[track_caller]
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_else(|e| panic!("a JSON body: {e}"));
        self.body = Some(bytes.into());
        self.content_type = Some(HeaderValue::from_static("application/json"));
        self
    }

    /// A form body (`a=1&b=2`), with `Content-Type: application/x-www-form-urlencoded`
    /// unless the request sets one.
    ///
    /// # Panics
    /// When `form` cannot be URL-encoded.
    #[track_caller]
    pub fn form<T: Serialize + ?Sized>(mut self, form: &T) -> Self {
        let text = serde_urlencoded::to_string(form).unwrap_or_else(|e| panic!("a form: {e}"));
        self.body = Some(text.into());
        self.content_type = Some(HeaderValue::from_static(
            "application/x-www-form-urlencoded",
        ));
        self
    }

    /// A raw body, sent as is (with the `Content-Type` the request sets, if any).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self.content_type = None;
        self
    }

    /// Sends the request to the application and reads the whole response; keeps the
    /// cookies it sets.
    ///
    /// # Panics
    /// When the path is not a valid URI, or the response body cannot be read.
    #[track_caller]
    pub fn send(self) -> impl Future<Output = TestResponse> + Send {
        let request = self.into_request();
        async move {
            let (client, request) = request;
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let response = match tower::ServiceExt::oneshot(client.router.clone(), request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            client
                .state()
                .cookies
                .store(&path, parts.headers.get_all(header::SET_COOKIE));
            let body = if method == Method::HEAD {
                // A client reads no body after a HEAD, whatever the application wrote.
                Bytes::new()
            } else {
                body.collect()
                    .await
                    .expect("reading the response body")
                    .to_bytes()
            };
            let challenge = client.tessera.as_ref().map(|tessera| {
                // simplejwt's `authenticate_header`, from the settings rather than from
                // what the crate computed, so that the assertions check it.
                let scheme = tessera.settings().auth_header_types.first();
                format!("{} realm=\"api\"", scheme.map_or("Bearer", String::as_str))
            });
            TestResponse::new(parts.status, parts.headers, body, challenge)
        }
    }

    /// The request as the application will see it.
    #[track_caller]
    fn into_request(self) -> (TestClient, Request<Body>) {
        let Self {
            client,
            method,
            path,
            mut headers,
            body,
            content_type,
        } = self;
        let uri: Uri = path
            .parse()
            .unwrap_or_else(|e| panic!("invalid request path {path:?}: {e}"));
        let host = uri
            .authority()
            .map_or_else(|| client.host.clone(), ToString::to_string);
        let target: Uri = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .expect("a path is a URI");
        if !headers.contains_key(header::HOST) {
            let host = HeaderValue::from_str(&host)
                .unwrap_or_else(|e| panic!("invalid host {host:?}: {e}"));
            headers.insert(header::HOST, host);
        }
        if let Some((name, value)) = client.authorization()
            && !headers.contains_key(&name)
        {
            headers.insert(name, value);
        }
        if !headers.contains_key(header::COOKIE)
            && let Some(cookies) = client.state().cookies.header_for(target.path())
        {
            let cookies = HeaderValue::from_str(&cookies).expect("cookies the application set");
            headers.insert(header::COOKIE, cookies);
        }
        if let Some(content_type) = content_type
            && !headers.contains_key(header::CONTENT_TYPE)
        {
            headers.insert(header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = &body
            && !headers.contains_key(header::CONTENT_LENGTH)
        {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        let mut request = Request::new(body.map_or_else(Body::empty, Body::from));
        *request.method_mut() = method;
        *request.uri_mut() = target;
        *request.headers_mut() = headers;
        request.extensions_mut().insert(ConnectInfo(client.address));
        (client, request)
    }
}
