//! The hostile requests: every route the server serves, and what can be wrong with a request
//! to it, as proptest strategies rendered to raw HTTP/1.1 bytes.

use proptest::prelude::*;
use serde_json::{Value, json};

/// A route the server serves: its path (`{id}` and `{kid}` are filled in), its methods, the
/// body fields it reads, and what a refusal may legitimately change.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub fields: &'static [&'static str],
    pub kind: RouteKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Plain,
    /// A failed login counts against the name (login failures, lockout) by design.
    Login,
    /// A refused refresh of a rotated-away token revokes its family (reuse detection).
    Refresh,
    /// A wrong current password may count as a failed login.
    PasswordChange,
}

const fn route(
    path: &'static str,
    methods: &'static [&'static str],
    fields: &'static [&'static str],
) -> Route {
    Route {
        path,
        methods,
        fields,
        kind: RouteKind::Plain,
    }
}

const fn with(mut route: Route, kind: RouteKind) -> Route {
    route.kind = kind;
    route
}

const CREDENTIALS: &[&str] = &["email", "password", "username"];
const PROFILE: &[&str] = &["email", "first_name", "last_name", "username"];

/// Every route of `tessera serve`.
pub const ROUTES: &[Route] = &[
    route("/", &["GET"], &[]),
    route("/healthz", &["GET"], &[]),
    route("/readyz", &["GET"], &[]),
    route("/metrics", &["GET"], &[]),
    route("/account", &["GET"], &[]),
    route("/account/", &["GET"], &[]),
    route("/account/app.js", &["GET"], &[]),
    route("/account/app.css", &["GET"], &[]),
    route("/.well-known/jwks.json", &["GET"], &[]),
    with(
        route("/api/token/", &["POST"], CREDENTIALS),
        RouteKind::Login,
    ),
    with(
        route("/api/token/refresh/", &["POST"], &["refresh"]),
        RouteKind::Refresh,
    ),
    route("/api/token/verify/", &["POST"], &["token"]),
    route("/api/token/blacklist/", &["POST"], &["refresh"]),
    with(
        route("/api/token/sliding/", &["POST"], CREDENTIALS),
        RouteKind::Login,
    ),
    with(
        route("/api/token/sliding/refresh/", &["POST"], &["token"]),
        RouteKind::Refresh,
    ),
    route(
        "/api/auth/register/",
        &["POST"],
        &[
            "email",
            "password",
            "password_confirm",
            "first_name",
            "last_name",
            "username",
        ],
    ),
    with(
        route("/api/auth/login/", &["POST"], CREDENTIALS),
        RouteKind::Login,
    ),
    route("/api/auth/logout/", &["POST"], &["refresh"]),
    route("/api/auth/logout/all/", &["POST"], &[]),
    route("/api/auth/ws-ticket/", &["POST"], &[]),
    with(
        route("/api/auth/token/refresh/", &["POST"], &["refresh"]),
        RouteKind::Refresh,
    ),
    route("/api/auth/token/verify/", &["POST"], &["token"]),
    route("/api/auth/profile/", &["GET", "PUT", "PATCH"], PROFILE),
    with(
        route(
            "/api/auth/password/change/",
            &["POST"],
            &["old_password", "new_password", "new_password_confirm"],
        ),
        RouteKind::PasswordChange,
    ),
    route("/api/auth/sessions/", &["GET"], &[]),
    route("/api/auth/sessions/{id}/", &["DELETE"], &[]),
    route(
        "/api/auth/cookie/register/",
        &["POST"],
        &["email", "password", "password_confirm"],
    ),
    with(
        route("/api/auth/cookie/login/", &["POST"], CREDENTIALS),
        RouteKind::Login,
    ),
    with(
        route("/api/auth/cookie/refresh/", &["POST"], &[]),
        RouteKind::Refresh,
    ),
    route("/api/auth/cookie/logout/", &["POST"], &[]),
    route("/api/admin/users/", &["GET"], &[]),
    route(
        "/api/admin/users/{id}/",
        &["GET", "PATCH", "DELETE"],
        &[
            "email",
            "is_active",
            "is_staff",
            "is_superuser",
            "first_name",
            "groups",
            "user_permissions",
        ],
    ),
    route("/api/admin/users/{id}/revoke_sessions/", &["POST"], &[]),
    route("/api/admin/users/{id}/unlock/", &["POST"], &[]),
    route(
        "/api/admin/groups/",
        &["GET", "POST"],
        &["name", "permissions"],
    ),
    route(
        "/api/admin/groups/{id}/",
        &["GET", "PUT", "PATCH", "DELETE"],
        &["name", "permissions"],
    ),
    route("/api/admin/audit/", &["GET"], &[]),
    route("/api/admin/keys/", &["GET", "POST"], &["algorithm"]),
    route("/api/admin/keys/rotate/", &["POST"], &["algorithm"]),
    route("/api/admin/keys/{kid}/retire/", &["POST"], &[]),
];

/// The credentials the suite holds (fresh from a login).
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub user_access: String,
    pub user_refresh: String,
    pub staff_access: String,
    pub victim_id: i64,
}

/// Who a request claims to be.
#[derive(Debug, Clone, Copy)]
pub enum Auth {
    None,
    User,
    Staff,
    JunkBearer,
    RefreshAsBearer,
    CookieUser,
    OtherScheme,
    TwoHeaders,
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        3 => Just(Auth::None),
        3 => Just(Auth::User),
        3 => Just(Auth::Staff),
        1 => Just(Auth::JunkBearer),
        1 => Just(Auth::RefreshAsBearer),
        1 => Just(Auth::CookieUser),
        1 => Just(Auth::OtherScheme),
        1 => Just(Auth::TwoHeaders),
    ]
}

/// A hostile value for a field.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(json!("ada@example.com")),
        2 => Just(json!("correct horse battery staple")),
        1 => Just(json!("a\u{0}b")),
        1 => Just(json!("\u{0}")),
        1 => (250usize..3_100).prop_map(|n| json!(format!("{}@example.com", "a".repeat(n)))),
        1 => (1usize..60_000).prop_map(|n| json!("x".repeat(n))),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => Just(json!(1e308)),
        1 => Just(json!(12345678901234567890u64)),
        1 => any::<bool>().prop_map(|b| json!(b)),
        1 => Just(Value::Null),
        1 => Just(json!(["a", "b"])),
        1 => Just(json!({"$ne": ""})),
        1 => Just(json!("admin@example.com\u{200b}")),
        1 => Just(json!("ADMIN@ﬀ.com")),
        1 => Just(json!("   ")),
        1 => Just(json!("'; DROP TABLE users; --")),
        1 => Just(json!("\u{d7ff}\u{fffd}\u{10ffff}")),
        1 => "[ -~]{0,40}".prop_map(Value::from),
        1 => any::<String>().prop_map(Value::from),
    ]
}

/// The values the systematic pass puts into every field of every route.
pub fn fixed_values() -> Vec<Value> {
    vec![
        json!("a\u{0}b@example.com"),
        json!(format!("{}@example.com", "a".repeat(3_000))),
        json!("x".repeat(60_000)),
        json!(12345),
        Value::Null,
        json!(["ada@example.com"]),
        json!({"email": "ada@example.com"}),
        json!("admin@example.com\u{200b}"),
    ]
}

/// A JSON body giving every field of `route` the value `value`.
pub fn fixed_body(route: &Route, value: &Value) -> Body {
    let object: serde_json::Map<String, Value> = route
        .fields
        .iter()
        .map(|f| ((*f).to_owned(), value.clone()))
        .collect();
    Body {
        content_type: Some(b"application/json".to_vec()),
        bytes: serde_json::to_vec(&object).unwrap(),
        chunked: false,
    }
}

/// A body: content type (if any) and bytes.
#[derive(Debug, Clone)]
pub struct Body {
    pub content_type: Option<Vec<u8>>,
    pub bytes: Vec<u8>,
    /// Send with `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub chunked: bool,
}

fn json_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        6 => Just(Some(b"application/json".to_vec())),
        1 => Just(Some(b"application/json; charset=latin-1".to_vec())),
        1 => Just(Some(b"Application/JSON".to_vec())),
        1 => Just(Some(b"text/plain".to_vec())),
        1 => Just(Some(b"application/xml".to_vec())),
        1 => Just(Some(b"application/json\xff".to_vec())),
        1 => Just(None),
    ]
}

fn body(fields: &'static [&'static str]) -> impl Strategy<Value = Body> {
    let fields: Vec<&'static str> = if fields.is_empty() {
        vec!["x"]
    } else {
        fields.to_vec()
    };
    let object = prop::collection::btree_map(prop::sample::select(fields), field_value(), 0..5)
        .prop_map(|m| {
            serde_json::to_vec(&Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ))
            .unwrap()
        })
        .boxed();
    let bytes = prop_oneof![
        6 => object.clone(),
        // Truncated.
        1 => (object.clone(), any::<prop::sample::Index>()).prop_map(|(b, i)| b[..i.index(b.len() + 1)].to_vec()),
        // Nested.
        1 => (1usize..50_000).prop_map(|n| "[".repeat(n).into_bytes()),
        1 => (1usize..300).prop_map(|n| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes()),
        // Over the body limit.
        1 => (65_000usize..140_000).prop_map(|n| format!("{{\"email\":\"{}\"}}", "a".repeat(n)).into_bytes()),
        // Not JSON, invalid UTF-8, NUL, BOM, UTF-16.
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => prop::sample::select(vec![
            &b"\xff\xfe{\x00}\x00"[..], b"\xef\xbb\xbf{}", b"{\"email\":\"\xc0\xaf\"}", b"\x00",
            b"{\"a\":\"\\ud800\"}", b"[]", b"\"x\"", b"1e999999", b"null", b"{\"a\":1,\"a\":2}",
        ]).prop_map(<[u8]>::to_vec),
    ];
    let json_body = (json_type(), bytes, prop::bool::weighted(0.1)).prop_map(
        |(content_type, bytes, chunked)| Body {
            content_type,
            bytes,
            chunked,
        },
    );
    let form = (
        prop::collection::vec(("[a-z_]{1,12}", "[ -~%]{0,30}"), 0..5),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(pairs, chunked)| Body {
            content_type: Some(b"application/x-www-form-urlencoded".to_vec()),
            bytes: pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes(),
            chunked,
        });
    let multipart = (
        prop::sample::select(vec!["B0undary", "", "\"q b\"", "x".repeat(100).leak()]),
        prop::collection::vec(("[a-z_]{0,10}", prop::collection::vec(any::<u8>(), 0..50), any::<bool>()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(boundary, parts, close)| {
            let mut bytes = Vec::new();
            for (name, content, file) in parts {
                let file = if file { "; filename=\"f.bin\"" } else { "" };
                bytes.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n").as_bytes());
                bytes.extend_from_slice(&content);
                bytes.extend_from_slice(b"\r\n");
            }
            if close {
                bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            }
            Body {
                content_type: Some(format!("multipart/form-data; boundary={boundary}").into_bytes()),
                bytes,
                chunked: false,
            }
        });
    prop_oneof![
        1 => Just(Body { content_type: None, bytes: Vec::new(), chunked: false }),
        8 => json_body,
        2 => form,
        2 => multipart,
    ]
}

fn method(route: &Route) -> impl Strategy<Value = String> {
    prop_oneof![
        10 => prop::sample::select(route.methods.to_vec()).prop_map(str::to_owned),
        2 => prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["TRACE", "PROPFIND", "get", "Post", "CONNECT", "BREW"]).prop_map(str::to_owned),
        1 => "[A-Z]{1,40}",
    ]
}

/// What fills `{id}` and `{kid}`, and what may follow the path.
fn path_tail() -> impl Strategy<Value = (String, String)> {
    let id = prop_oneof![
        3 => Just("victim".to_owned()),
        1 => prop::sample::select(vec!["0", "-1", "99999999999999999999", "1.5", "%00", "..%2f..%2f", "%E2%80%8B", "abc"]).prop_map(str::to_owned),
        1 => (100usize..3_000).prop_map(|n| "9".repeat(n)),
    ];
    let query = prop_oneof![
        4 => Just(String::new()),
        1 => prop::sample::select(vec![
            "?page=-1", "?page=0&page_size=1e9", "?page_size=999999999999", "?search=%00", "?search=%27%22",
            "?event=%ff&user_id=x&since=yesterday", "?ordering=-password_hash", "?a=1&a=2", "?%zz",
        ]).prop_map(str::to_owned),
    ];
    (id, query)
}

/// Extra headers: odd, duplicated, oversized.
fn extra_headers() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let header = prop_oneof![
        8 => prop::sample::select(vec![
            &b"X-Forwarded-For: 1.2.3.4"[..], b"X-Forwarded-For: not an ip, ::1", b"Forwarded: for=\"[::1]\"",
            b"X-Real-IP: 127.0.0.1", b"X-Request-Id: abc path=/x status=200", b"X-Request-Id: \xff\xfe",
            b"Origin: https://evil.example", b"Origin: null", b"Sec-Fetch-Site: cross-site",
            b"Cookie: access_token=; csrftoken=\"\"; ;;=", b"Cookie: \xff=\xfe", b"X-CSRFToken: x",
            b"Accept: */*; q=nan", b"Accept-Encoding: gzip;q=2", b"Content-Encoding: gzip",
            b"Content-Type: application/json", b"Content-Type: text/plain", b"User-Agent: \x80\x81",
            b"Host: evil.example", b"Expect: 100-continue", b"Authorization: Bearer",
            b"Authorization: Basic YTpi", b"Range: bytes=0-1", b"If-None-Match: *",
        ]).prop_map(<[u8]>::to_vec),
        1 => (1usize..20_000).prop_map(|n| format!("X-Big: {}", "a".repeat(n)).into_bytes()),
        2 => "X-[A-Za-z]{1,10}: [ -~]{0,40}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(header, 0..4)
}

fn push(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
}

/// One hostile request.
#[derive(Debug, Clone)]
pub struct Case {
    pub route: usize,
    pub method: String,
    pub tail: (String, String),
    pub auth: Auth,
    pub body: Body,
    pub headers: Vec<Vec<u8>>,
    pub version: &'static str,
}

/// A hostile request to any route.
pub fn case() -> impl Strategy<Value = Case> {
    (0..ROUTES.len()).prop_flat_map(case_for)
}

/// A hostile request to `ROUTES[route]`.
pub fn case_for(route: usize) -> impl Strategy<Value = Case> {
    {
        let r = &ROUTES[route];
        (
            Just(route),
            method(r),
            path_tail(),
            auth(),
            body(r.fields),
            extra_headers(),
            prop_oneof![12 => Just("HTTP/1.1"), 1 => Just("HTTP/1.0"), 1 => Just("HTTP/9.9")],
        )
            .prop_map(|(route, method, tail, auth, body, headers, version)| Case {
                route,
                method,
                tail,
                auth,
                body,
                headers,
                version,
            })
    }
}

impl Case {
    pub fn route(&self) -> &'static Route {
        &ROUTES[self.route]
    }

    /// Whether the body carries the suite's genuine refresh token.
    pub fn carries_refresh(&self, tokens: &Tokens) -> bool {
        let needle = tokens.user_refresh.as_bytes();
        !needle.is_empty() && self.body.bytes.windows(needle.len()).any(|w| w == needle)
            || matches!(self.auth, Auth::CookieUser)
    }

    /// The request as bytes.
    pub fn render(&self, tokens: &Tokens) -> Vec<u8> {
        let route = self.route();
        let id = match self.tail.0.as_str() {
            "victim" => tokens.victim_id.to_string(),
            other => other.to_owned(),
        };
        let path = route.path.replace("{id}", &id).replace("{kid}", &id) + &self.tail.1;
        let mut out = format!(
            "{} {path} {}\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
            self.method, self.version
        )
        .into_bytes();
        match self.auth {
            Auth::None => {}
            Auth::User => push(
                &mut out,
                format!("Authorization: Bearer {}", tokens.user_access).as_bytes(),
            ),
            Auth::Staff => push(
                &mut out,
                format!("Authorization: Bearer {}", tokens.staff_access).as_bytes(),
            ),
            Auth::JunkBearer => push(
                &mut out,
                b"Authorization: Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ.",
            ),
            Auth::RefreshAsBearer => push(
                &mut out,
                format!("Authorization: Bearer {}", tokens.user_refresh).as_bytes(),
            ),
            Auth::CookieUser => push(
                &mut out,
                format!(
                    "Cookie: access_token={}; refresh_token={}",
                    tokens.user_access, tokens.user_refresh
                )
                .as_bytes(),
            ),
            Auth::OtherScheme => push(
                &mut out,
                format!("Authorization: Token {}", tokens.user_access).as_bytes(),
            ),
            Auth::TwoHeaders => {
                push(
                    &mut out,
                    format!("Authorization: Bearer {}", tokens.user_access).as_bytes(),
                );
                push(
                    &mut out,
                    format!("Authorization: Bearer {}", tokens.staff_access).as_bytes(),
                );
            }
        }
        for header in &self.headers {
            push(&mut out, header);
        }
        if let Some(content_type) = &self.body.content_type {
            let mut header = b"Content-Type: ".to_vec();
            header.extend_from_slice(content_type);
            push(&mut out, &header);
        }
        if self.body.chunked {
            push(&mut out, b"Transfer-Encoding: chunked");
            out.extend_from_slice(b"\r\n");
            for chunk in self.body.bytes.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            push(
                &mut out,
                format!("Content-Length: {}", self.body.bytes.len()).as_bytes(),
            );
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&self.body.bytes);
        }
        out
    }
}
