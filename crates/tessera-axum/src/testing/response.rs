//! [`TestResponse`]: a response read to the end, with assertions that know DRF's
//! conventions.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::cookies::SetCookie;

/// A response a [`TestClient`](super::TestClient) received, body included.
///
/// The assertions fail with the status, the body and the headers in their message.
#[derive(Debug, Clone)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    text: String,
    /// The `WWW-Authenticate` value simplejwt's rule gives the application's 401s, when the
    /// client knows the application.
    challenge: Option<String>,
}

impl TestResponse {
    pub(crate) fn new(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        challenge: Option<String>,
    ) -> Self {
        let text = String::from_utf8_lossy(&body).into_owned();
        Self {
            status,
            headers,
            body,
            text,
            challenge,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Every header.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header, as text (`None` when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The body's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as JSON; object keys keep the order they have in the text.
    ///
    /// # Panics
    /// When the body is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// A string field of a JSON object body (`response.data["access"]` in DRF's tests).
    ///
    /// # Panics
    /// When the body has no such string field.
    #[track_caller]
    pub fn field(&self, name: &str) -> String {
        match self.json().get(name) {
            Some(Value::String(s)) => s.clone(),
            other => panic!(
                "no string field {name:?} (found {other:?}) in {}",
                self.text
            ),
        }
    }

    /// The top-level keys of a JSON object body, in order.
    ///
    /// # Panics
    /// When the body is not a JSON object.
    #[track_caller]
    pub fn keys(&self) -> Vec<String> {
        self.json()
            .as_object()
            .unwrap_or_else(|| panic!("body is not a JSON object: {}", self.text))
            .keys()
            .cloned()
            .collect()
    }

    /// Checks the status.
    ///
    /// # Panics
    /// When the status is another.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}\nheaders: {:?}",
            self.text,
            self.headers
        );
    }

    /// Checks that the body is JSON (`Content-Type: application/json`, as DRF's
    /// `JSONRenderer` answers) equal to `expected`. Key order does not matter here; compare
    /// [`text`](Self::text) for that.
    ///
    /// # Panics
    /// When it is not.
    #[track_caller]
    pub fn assert_json(&self, expected: &Value) {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "status {}, body {}",
            self.status,
            self.text
        );
        assert_eq!(&self.json(), expected, "status {}", self.status);
    }

    /// Checks the status and the exact body text, and DRF's conventions for them: a body is
    /// `application/json`, and a 401 carries `WWW-Authenticate` — simplejwt's challenge,
    /// `<first of auth_header_types> realm="api"` (`Bearer realm="api"`), when the client
    /// knows the application.
    ///
    /// # Panics
    /// When any of that does not hold.
    #[track_caller]
    pub fn assert(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status.as_u16(), self.text.as_str()),
            (status, body),
            "headers: {:?}",
            self.headers
        );
        if !body.is_empty() {
            assert_eq!(
                self.header("content-type"),
                Some("application/json"),
                "{body}"
            );
        }
        if status == 401 {
            let challenge = self.header("www-authenticate");
            match &self.challenge {
                Some(expected) => assert_eq!(
                    challenge,
                    Some(expected.as_str()),
                    "401 without WWW-Authenticate"
                ),
                None => assert!(challenge.is_some(), "401 without WWW-Authenticate"),
            }
        }
    }

    /// Checks a 200 and returns the JSON body.
    ///
    /// # Panics
    /// When the status is another, or the body is not JSON.
    #[track_caller]
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        self.json()
    }

    /// Checks DRF's 429 for a request throttled for `wait` seconds: the exact body
    /// (`Request was throttled. Expected available in <wait> seconds.`) and `Retry-After`.
    ///
    /// # Panics
    /// When it is another answer.
    #[track_caller]
    pub fn assert_throttled(&self, wait: u64) {
        // DRF's `Throttled` text, written out here rather than taken from the crate.
        let unit = if wait == 1 { "second" } else { "seconds" };
        let detail = format!("Request was throttled. Expected available in {wait} {unit}.");
        self.assert(429, &serde_json::json!({ "detail": detail }).to_string());
        assert_eq!(
            self.header("retry-after"),
            Some(wait.to_string().as_str()),
            "Retry-After"
        );
    }

    /// Every `Set-Cookie` header, parsed, in order.
    ///
    /// # Panics
    /// When one is not text or has no `name=value`.
    #[track_caller]
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| SetCookie::parse(v.to_str().expect("Set-Cookie is text")))
            .collect()
    }

    /// The one `Set-Cookie` header for cookie `name`.
    ///
    /// # Panics
    /// When there is none, or several.
    #[track_caller]
    pub fn cookie(&self, name: &str) -> SetCookie {
        let mut found: Vec<SetCookie> = self
            .set_cookies()
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one Set-Cookie for {name:?}, got {:?}",
            self.headers.get_all(header::SET_COOKIE)
        );
        found.remove(0)
    }

    /// The names of the cookies set, in order.
    pub fn cookie_names(&self) -> Vec<String> {
        self.set_cookies().into_iter().map(|c| c.name).collect()
    }
}
