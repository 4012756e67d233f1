//! `Set-Cookie` headers, parsed for assertions ([`SetCookie`]), and the cookies a
//! [`TestClient`](super::TestClient) keeps between requests, as a browser does.

/// One `Set-Cookie` header, parsed: name, value, and the attributes in the order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value (empty when the header deletes it).
    pub value: String,
    /// The attributes as sent, with their values (`None` for flags such as `HttpOnly`).
    pub attributes: Vec<(String, Option<String>)>,
    /// The header as sent.
    pub raw: String,
}

impl SetCookie {
    /// Parses one `Set-Cookie` header value.
    ///
    /// # Panics
    /// When the header does not start with `name=value`.
    #[track_caller]
    pub fn parse(line: &str) -> Self {
        Self::try_parse(line).unwrap_or_else(|| panic!("Set-Cookie without name=value: {line:?}"))
    }

    /// [`parse`](Self::parse), or `None` for a header without `name=value`.
    pub fn try_parse(line: &str) -> Option<Self> {
        let mut parts = line.split(';').map(str::trim);
        let (name, value) = parts.next()?.split_once('=')?;
        let attributes = parts
            .filter(|part| !part.is_empty())
            .map(|part| match part.split_once('=') {
                Some((key, value)) => (key.trim().to_owned(), Some(value.trim().to_owned())),
                None => (part.to_owned(), None),
            })
            .collect();
        Some(Self {
            name: name.trim().to_owned(),
            value: value.trim().to_owned(),
            attributes,
            raw: line.to_owned(),
        })
    }

    /// The attribute `name` (case-insensitive): `None` when absent, `Some(None)` for a flag.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_deref())
    }

    /// The value of attribute `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attribute(name).flatten()
    }

    /// `Max-Age`, as a number.
    ///
    /// # Panics
    /// When `Max-Age` is there but not a number.
    #[track_caller]
    pub fn max_age(&self) -> Option<i64> {
        self.get("Max-Age").map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("Max-Age is not a number: {}", self.raw))
        })
    }

    /// Whether the header deletes the cookie: an empty value and `Max-Age=0`.
    pub fn is_cleared(&self) -> bool {
        self.value.is_empty() && self.max_age() == Some(0)
    }

    /// Whether a browser drops the cookie on this header: `Max-Age` zero or less, or (without
    /// `Max-Age`) an `Expires` in the past.
    fn expires_now(&self) -> bool {
        match self.get("Max-Age") {
            Some(max_age) => max_age.parse::<i64>().is_ok_and(|age| age <= 0),
            None => self.get("Expires").is_some_and(|_| {
                cookie::Cookie::parse(self.raw.as_str())
                    .ok()
                    .and_then(|c| c.expires_datetime())
                    .is_some_and(|at| at <= cookie::time::OffsetDateTime::now_utc())
            }),
        }
    }
}

/// One cookie a client holds.
#[derive(Debug, Clone)]
struct Stored {
    name: String,
    value: String,
    path: String,
}

/// The cookies a client holds: set by `Set-Cookie` (keyed by name and path, as browsers
/// do), dropped by `Max-Age=0` or a past `Expires`, and sent back to the paths they were set
/// for. `Domain` and `Secure` are not checked: every request goes to the one application.
#[derive(Debug, Clone, Default)]
pub(crate) struct CookieJar {
    cookies: Vec<Stored>,
}

impl CookieJar {
    /// Takes in the `Set-Cookie` headers of a response to a request for `request_path`.
    pub(crate) fn store<'a>(
        &mut self,
        request_path: &str,
        headers: impl IntoIterator<Item = &'a axum::http::HeaderValue>,
    ) {
        for header in headers {
            let Some(set) = header.to_str().ok().and_then(SetCookie::try_parse) else {
                continue;
            };
            let path = set
                .get("Path")
                .filter(|path| path.starts_with('/'))
                .map_or_else(|| default_path(request_path), str::to_owned);
            self.cookies
                .retain(|c| !(c.name == set.name && c.path == path));
            if !set.expires_now() {
                self.cookies.push(Stored {
                    name: set.name,
                    value: set.value,
                    path,
                });
            }
        }
    }

    /// Sets a cookie for every path (`Path=/`), as if the application had.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        self.cookies.retain(|c| !(c.name == name && c.path == "/"));
        self.cookies.push(Stored {
            name: name.to_owned(),
            value: value.to_owned(),
            path: "/".to_owned(),
        });
    }

    /// The value of cookie `name` sent to `/` (or, failing that, to any path).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let mut named: Vec<&Stored> = self.cookies.iter().filter(|c| c.name == name).collect();
        named.sort_by_key(|c| c.path.len());
        named.first().map(|c| c.value.as_str())
    }

    /// Forgets every cookie.
    pub(crate) fn clear(&mut self) {
        self.cookies.clear();
    }

    /// The `Cookie` header for a request to `path`: longer paths first, then oldest first;
    /// `None` when no cookie applies.
    pub(crate) fn header_for(&self, path: &str) -> Option<String> {
        let mut sent: Vec<&Stored> = self
            .cookies
            .iter()
            .filter(|c| path_matches(path, &c.path))
            .collect();
        sent.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        (!sent.is_empty()).then(|| {
            sent.iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(last) => request_path[..last].to_owned(),
    }
}

/// RFC 6265 §5.1.4: whether a cookie of `cookie_path` goes with a request for `path`.
fn path_matches(path: &str, cookie_path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn jar(request_path: &str, headers: &[&'static str]) -> CookieJar {
        let mut jar = CookieJar::default();
        let values: Vec<HeaderValue> = headers
            .iter()
            .map(|h| HeaderValue::from_static(h))
            .collect();
        jar.store(request_path, &values);
        jar
    }

    #[test]
    fn cookies_go_back_to_the_paths_they_were_set_for() {
        let jar = jar(
            "/api/auth/cookie/login/",
            &[
                "access=a; Path=/; HttpOnly",
                "refresh=r; Path=/api/auth/cookie/",
                "here=h",
            ],
        );
        assert_eq!(jar.header_for("/api/me/").as_deref(), Some("access=a"));
        assert_eq!(
            jar.header_for("/api/auth/cookie/refresh/").as_deref(),
            Some("refresh=r; access=a")
        );
        // Without `Path`, a cookie goes back to the directory of the request that set it.
        assert_eq!(
            jar.header_for("/api/auth/cookie/login/").as_deref(),
            Some("here=h; refresh=r; access=a")
        );
        assert_eq!(
            jar.header_for("/api/auth/cookies/").as_deref(),
            Some("access=a")
        );
        assert_eq!(jar.get("refresh"), Some("r"));
    }

    #[test]
    fn max_age_0_or_a_past_expiry_deletes_and_a_new_value_replaces() {
        let mut jar = jar("/", &["a=1; Path=/", "b=2; Path=/", "c=3; Path=/"]);
        let changes = [
            HeaderValue::from_static("a=; Max-Age=0; Path=/"),
            HeaderValue::from_static("b=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"),
            HeaderValue::from_static("c=4; Max-Age=60; Path=/"),
        ];
        jar.store("/", &changes);
        assert_eq!(jar.header_for("/").as_deref(), Some("c=4"));
        jar.clear();
        assert_eq!(jar.header_for("/"), None);
    }

    #[test]
    fn attributes_are_read_in_order_and_case_insensitively() {
        let cookie =
            SetCookie::parse("csrftoken=; expires=Thu, 01 Jan 1970; Max-Age=0; Path=/; Secure");
        assert!(cookie.is_cleared());
        assert_eq!(cookie.attribute("secure"), Some(None));
        assert_eq!(cookie.get("path"), Some("/"));
        assert_eq!(cookie.attributes[0].0, "expires");
    }
}
